/**
 * Files for end-to-end tests: a scratch directory that removes itself, and
 * the size of a file that other processes write.
 *
 * @module
 */

/** A temporary directory, removed with everything in it when disposed (`await using`). */
export interface ScratchDir extends AsyncDisposable {
  readonly path: string;
}

export async function scratchDir(prefix: string): Promise<ScratchDir> {
  const path = await Deno.makeTempDir({ prefix });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}
