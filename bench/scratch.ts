/**
 * Temporary directories for the bench's suites.
 *
 * @module
 */

/**
 * A temporary directory, removed by `removeDir`, or when the process exits
 * (Ctrl-C ends the bench with `Deno.exit()`, past the suites' `finally`).
 */
export async function scratchDir(prefix: string): Promise<{ dir: string; removeDir: () => void }> {
  const dir = await Deno.makeTempDir({ prefix });
  const removeDir = () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // Already gone.
    }
  };
  globalThis.addEventListener("unload", removeDir);
  return { dir, removeDir };
}
