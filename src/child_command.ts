/**
 * How the main process starts a child of itself. From source the child is
 * `deno run <flags> workers/peer.ts`; a `deno compile`d binary re-executes
 * itself with the internal {@link CHILD_SUBCOMMAND}. Pure: the caller passes
 * `Deno.execPath()`, `Deno.build.standalone` and the worker's URL.
 *
 * @module
 */

/** The internal subcommand that makes the compiled binary act as a child. */
export const CHILD_SUBCOMMAND = "__atoll_peer";

/**
 * Permissions of a child run from source: FFI (libsrt, libc), the library
 * path override, and loopback UDP for the self-test. No config file is read,
 * so the child behaves the same from any working directory.
 */
export const CHILD_RUN_FLAGS = [
  "run",
  "--no-config",
  "--no-lock",
  "--no-prompt",
  "--quiet",
  "--unstable-net",
  "--allow-ffi",
  "--allow-env",
  "--allow-read",
  "--allow-net=127.0.0.1",
] as const;

export interface ChildRuntime {
  /** `Deno.execPath()`: the deno binary, or the compiled Atoll binary. */
  execPath: string;
  /** `Deno.build.standalone`. */
  standalone: boolean;
  /** URL of workers/peer.ts, used when running from source. */
  workerUrl: string | URL;
}

export interface ChildCommand {
  command: string;
  args: string[];
}

/** The command line that starts a child with `childArgs` (e.g. `--control-fd 7`). */
export function buildChildCommand(
  runtime: ChildRuntime,
  childArgs: readonly string[],
): ChildCommand {
  if (runtime.standalone) {
    return { command: runtime.execPath, args: [CHILD_SUBCOMMAND, ...childArgs] };
  }
  const url = new URL(runtime.workerUrl);
  const worker = url.protocol === "file:" ? decodeURIComponent(url.pathname) : url.href;
  return { command: runtime.execPath, args: [...CHILD_RUN_FLAGS, worker, ...childArgs] };
}
