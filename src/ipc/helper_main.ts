/**
 * The start and end the media output process and the recorder processes
 * share (src/output/main.ts, src/recorder/main.ts): `--control-fd N` as
 * their only arguments, a session of their own, SIGHUP and SIGINT left to
 * the main process, a failure reported as an error log and exit code 1,
 * and a bounded wait for the last reports to go out.
 *
 * Pure: the system calls are passed in, so tests need no process.
 *
 * @module
 */

/** How long the last reports may take to go out at exit. */
export const EXIT_FLUSH_MS = 2000;

/** What a helper process must be given, as its error says. */
export const EXPECTED_ARGUMENTS = "expected --control-fd N (N >= 3), as the main process starts it";

/** Signals a helper process lets pass: the main process alone answers them. */
export const IGNORED_SIGNALS = ["SIGHUP", "SIGINT"] as const;

/** What {@link runHelperMain} needs of the process it runs. */
export interface HelperMainOptions {
  /** How its messages name it, capitalized: `Output process`. */
  name: string;
  /** Starts a session of its own; may throw (a process group leader, started by hand): not fatal. */
  setsid(): void;
  /** Lets `signal` pass without stopping the process. */
  ignoreSignal(signal: (typeof IGNORED_SIGNALS)[number]): void;
  /** Serves on the control socket; resolves to the exit code. */
  serve(controlFd: number): Promise<number>;
  /** Sends an error log to the main process. */
  logError(message: string): void;
  /** Resolves once the reports queued so far are written. */
  flushed(): Promise<void>;
  /** How long to wait for them at most; {@link EXIT_FLUSH_MS} by default. */
  flushMs?: number;
}

/** Runs a helper process with its own arguments; resolves to its exit code. */
export async function runHelperMain(
  args: readonly string[],
  options: HelperMainOptions,
): Promise<number> {
  const controlFd = args.length === 2 && args[0] === "--control-fd" ? Number(args[1]) : NaN;
  try {
    if (!Number.isInteger(controlFd) || controlFd < 3) {
      const given = args.join(" ");
      throw new TypeError(
        `Invalid ${options.name.toLowerCase()} arguments "${given}": ${EXPECTED_ARGUMENTS}`,
      );
    }
    try {
      options.setsid();
    } catch {
      // Not fatal.
    }
    for (const signal of IGNORED_SIGNALS) options.ignoreSignal(signal);
    return await options.serve(controlFd);
  } catch (error) {
    options.logError(`${options.name} failed: ${error}`);
    return 1;
  } finally {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      options.flushed(),
      new Promise((resolve) => timer = setTimeout(resolve, options.flushMs ?? EXIT_FLUSH_MS)),
    ]);
    clearTimeout(timer);
  }
}
