/**
 * How the main process starts a child of itself. From source the child is
 * `deno run <flags> workers/peer.ts`; a `deno compile`d binary re-executes
 * itself with the internal {@link CHILD_SUBCOMMAND}. Pure: the caller passes
 * `Deno.execPath()`, `Deno.build.standalone`, the worker's URL and the
 * environment.
 *
 * @module
 */

/** The internal subcommand that makes the compiled binary act as a child. */
export const CHILD_SUBCOMMAND = "__atoll_peer";

/**
 * Permissions of a child run from source: FFI (libsrt, libc), the library
 * path override, and loopback UDP for the self-test; {@link buildChildCommand}
 * adds writing in the state directory, for its socket there once orphaned
 * (src/peer/adoption.ts). No config file is read, so the child behaves the
 * same from any working directory.
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

/**
 * What a child's environment adds to the main process's, to keep each
 * connection's process small (measured in BENCHMARKS.md):
 * - a young generation of at most 2 x 1 MB: a receiving child allocates
 *   steadily, and V8 would otherwise grow it to many MB and keep them;
 * - two malloc arenas instead of one per libsrt and Deno thread.
 * A value the main process was started with wins (V8 takes the last flag).
 */
export const CHILD_ENVIRONMENT = {
  DENO_V8_FLAGS: "--max-semi-space-size=1",
  MALLOC_ARENA_MAX: "2",
} as const;

/** Variables a child never gets: secrets it has no use for (it gets the passphrase with its settings). */
export const CHILD_HIDDEN_ENV: readonly string[] = ["ATOLL_API_TOKEN", "ATOLL_PASSPHRASE"];

/**
 * A child's whole environment: the main process's without
 * {@link CHILD_HIDDEN_ENV}, plus {@link CHILD_ENVIRONMENT} (merged with the
 * main process's own `DENO_V8_FLAGS` and `MALLOC_ARENA_MAX`).
 */
export function childEnvironment(
  inherited: Readonly<Record<string, string | undefined>>,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(inherited)) {
    if (value !== undefined && !CHILD_HIDDEN_ENV.includes(name)) env[name] = value;
  }
  const v8Flags = inherited.DENO_V8_FLAGS;
  env.DENO_V8_FLAGS = v8Flags
    ? `${CHILD_ENVIRONMENT.DENO_V8_FLAGS},${v8Flags}`
    : CHILD_ENVIRONMENT.DENO_V8_FLAGS;
  env.MALLOC_ARENA_MAX = inherited.MALLOC_ARENA_MAX ?? CHILD_ENVIRONMENT.MALLOC_ARENA_MAX;
  return env;
}

export interface ChildRuntime {
  /** `Deno.execPath()`: the deno binary, or the compiled Atoll binary. */
  execPath: string;
  /** `Deno.build.standalone`. */
  standalone: boolean;
  /** URL of workers/peer.ts, used when running from source. */
  workerUrl: string | URL;
  /** The main process's environment (`Deno.env.toObject()`). */
  env: Readonly<Record<string, string | undefined>>;
}

export interface ChildCommand {
  command: string;
  args: string[];
  /** The child's whole environment (it inherits nothing else). */
  env: Record<string, string>;
}

/**
 * The command line that starts a child with `childArgs` (e.g. `--control-fd
 * 7`); from source, it may write in `stateDir` and nowhere else.
 */
export function buildChildCommand(
  runtime: ChildRuntime,
  childArgs: readonly string[],
  stateDir?: string,
): ChildCommand {
  const env = childEnvironment(runtime.env);
  if (runtime.standalone) {
    return { command: runtime.execPath, args: [CHILD_SUBCOMMAND, ...childArgs], env };
  }
  const url = new URL(runtime.workerUrl);
  const worker = url.protocol === "file:" ? decodeURIComponent(url.pathname) : url.href;
  const write = stateDir === undefined ? [] : [`--allow-write=${stateDir}`];
  return {
    command: runtime.execPath,
    args: [...CHILD_RUN_FLAGS, ...write, worker, ...childArgs],
    env,
  };
}

/**
 * Whether a process's command line (the NUL-separated text of
 * `/proc/PID/cmdline`) is one of Atoll's children: the compiled binary's
 * {@link CHILD_SUBCOMMAND}, or `deno run … workers/peer.ts`, with
 * `--control-fd`.
 */
export function isChildCommandLine(cmdline: string): boolean {
  const args = cmdline.split("\0").filter((arg) => arg !== "");
  const entry = args.findIndex((arg) =>
    arg === CHILD_SUBCOMMAND || arg.endsWith("/workers/peer.ts")
  );
  return entry >= 0 && args[entry + 1] === "--control-fd";
}

/** The internal subcommand that makes the compiled binary act as the media output process. */
export const OUTPUT_SUBCOMMAND = "__atoll_output";

/**
 * The flags a long-lived helper process (the media output process, a
 * recorder) runs with from source: FFI (libc: stream buffers, its socket
 * pair) and reading (Deno's own files); each adds only the one permission
 * it needs. None reads a config file or a lock file.
 */
export const HELPER_RUN_FLAGS = [
  "run",
  "--no-config",
  "--no-lock",
  "--no-prompt",
  "--quiet",
  "--allow-ffi",
  "--allow-read",
] as const;

/**
 * The command line of a long-lived helper process: the compiled binary
 * re-executing itself as `subcommand`, or `deno run` of `workerUrl` with
 * {@link HELPER_RUN_FLAGS} and `permission`. Its environment is the main
 * process's without {@link CHILD_HIDDEN_ENV}: none of a peer child's
 * memory caps.
 */
function buildHelperCommand(
  runtime: Omit<ChildRuntime, "workerUrl">,
  workerUrl: string | URL,
  helper: { subcommand: string; permission: string; args: readonly string[] },
): ChildCommand {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(runtime.env)) {
    if (value !== undefined && !CHILD_HIDDEN_ENV.includes(name)) env[name] = value;
  }
  if (runtime.standalone) {
    return { command: runtime.execPath, args: [helper.subcommand, ...helper.args], env };
  }
  const url = new URL(workerUrl);
  const worker = url.protocol === "file:" ? decodeURIComponent(url.pathname) : url.href;
  return {
    command: runtime.execPath,
    args: [...HELPER_RUN_FLAGS, helper.permission, worker, ...helper.args],
    env,
  };
}

/**
 * The command line of the media output process (src/output/), which
 * serves HTTP on `listenHost` (the `--media-listen` host) and may listen
 * there alone; `workerUrl` is workers/output.ts.
 */
export function buildOutputCommand(
  runtime: Omit<ChildRuntime, "workerUrl">,
  workerUrl: string | URL,
  options: { listenHost: string; args: readonly string[] },
): ChildCommand {
  const host = options.listenHost.includes(":") ? `[${options.listenHost}]` : options.listenHost;
  return buildHelperCommand(runtime, workerUrl, {
    subcommand: OUTPUT_SUBCOMMAND,
    permission: `--allow-net=${host}`,
    args: options.args,
  });
}

/** The internal subcommand that makes the compiled binary act as a recorder process. */
export const RECORDER_SUBCOMMAND = "__atoll_recorder";

/**
 * The command line of a recorder process (src/recorder/), which may write
 * in `dir` alone (no network); `workerUrl` is workers/recorder.ts.
 */
export function buildRecorderCommand(
  runtime: Omit<ChildRuntime, "workerUrl">,
  workerUrl: string | URL,
  options: { dir: string; args: readonly string[] },
): ChildCommand {
  return buildHelperCommand(runtime, workerUrl, {
    subcommand: RECORDER_SUBCOMMAND,
    permission: `--allow-write=${options.dir}`,
    args: options.args,
  });
}
