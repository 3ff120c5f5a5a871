import assert from "node:assert/strict";
import { lazySymbols } from "./lazy_symbols.ts";

const TABLE = {
  getpid: { parameters: [], result: "i32" },
  getppid: { parameters: [], result: "i32" },
  no_such_function_in_libc: { parameters: [], result: "i32", optional: true },
} as const satisfies Deno.ForeignLibraryInterface;

Deno.test("lazySymbols() opens the library for each symbol on its first use only", () => {
  const opened: string[][] = [];
  const symbols = lazySymbols(TABLE, (table) => {
    opened.push(Object.keys(table));
    return Deno.dlopen("libc.so.6", table);
  });
  assert.deepEqual(opened, [], "nothing is bound up front");
  assert.equal(symbols.getpid(), Deno.pid);
  assert.equal(symbols.getpid(), Deno.pid);
  assert.deepEqual(opened, [["getpid"]], "bound once");
  assert.equal(symbols.getppid(), Deno.ppid);
  assert.equal(symbols.no_such_function_in_libc, null, "an optional symbol libc lacks is null");
  assert.deepEqual(opened, [["getpid"], ["getppid"], ["no_such_function_in_libc"]]);
});

Deno.test("lazySymbols() knows exactly the table's names", () => {
  const symbols = lazySymbols(TABLE, (table) => Deno.dlopen("libc.so.6", table));
  assert.deepEqual(Object.keys(symbols).sort(), Object.keys(TABLE).sort());
  assert.equal("getpid" in symbols, true);
  assert.equal("printf" in symbols, false);
  assert.equal((symbols as Record<string, unknown>).printf, undefined);
});

Deno.test("lazySymbols() lets a failed open throw at the symbol's first use", () => {
  const symbols = lazySymbols(TABLE, () => {
    throw new Error("Cannot load it");
  });
  assert.throws(() => symbols.getpid(), /Cannot load it/);
});
