/**
 * Symbols of a shared library bound one by one, on first use. `Deno.dlopen`
 * compiles a call trampoline for every symbol it is given (about 0.1 ms
 * each), and a child uses only some of Atoll's libsrt and libc symbols
 * before it is ready, or at all: binding them as they are first called
 * takes that work off every child's start.
 *
 * @module
 */

/**
 * The symbols of `library`'s `table`, each opened with its own `dlopen` of
 * the same file the first time it is read, then kept (and its library
 * handle with it, so the function stays valid). `open` opens the file with
 * the symbols asked for; the first call decides which file that is.
 */
export function lazySymbols<S extends Deno.ForeignLibraryInterface>(
  table: S,
  open: <T extends Deno.ForeignLibraryInterface>(symbols: T) => Deno.DynamicLibrary<T>,
): Deno.DynamicLibrary<S>["symbols"] {
  const bound = new Map<string, unknown>();
  const handles: Deno.DynamicLibrary<Deno.ForeignLibraryInterface>[] = [];
  const bind = (name: string): unknown => {
    const library = open({ [name]: table[name]! });
    handles.push(library);
    const symbol = library.symbols[name];
    bound.set(name, symbol);
    return symbol;
  };
  const symbol = (name: string | symbol): unknown => {
    if (typeof name !== "string" || !Object.hasOwn(table, name)) return undefined;
    return bound.has(name) ? bound.get(name) : bind(name);
  };
  return new Proxy({} as Deno.DynamicLibrary<S>["symbols"], {
    get: (_target, name) => symbol(name),
    has: (_target, name) => typeof name === "string" && Object.hasOwn(table, name),
    ownKeys: () => Object.keys(table),
    getOwnPropertyDescriptor: (_target, name) =>
      typeof name === "string" && Object.hasOwn(table, name)
        ? { configurable: true, enumerable: true, writable: false, value: symbol(name) }
        : undefined,
  });
}
