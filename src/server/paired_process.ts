/**
 * A child process the main process commands over a Unix socket pair (with
 * an fd attached when needed) and hears from on stdout, one JSON report a
 * line: spawned with its end of the pair as the only fd it inherits, stdin
 * closed, stdout parsed as reports and stderr read as lines. Used for the
 * media output process and the recorder processes; {@link spawnWithControl}
 * is the spawn they share with the SRT children's `ChildHandle`.
 *
 * @module
 */

import { EAGAIN, SystemError } from "../../ffi/libc.ts";
import type { OwnedFd } from "../../ffi/owned_fd.ts";
import { openSocketPair, sendMessage, setCloseOnExec } from "../../ffi/socket.ts";
import { readLines } from "../ipc/lines.ts";
import { logger } from "./log.ts";
import type { ChildCommand } from "./child_command.ts";

const log = logger("server");

/**
 * What a supervisor needs of a process that takes commands `C`: a
 * {@link PairedProcess}, or a fake one in tests.
 */
export interface SupervisedProcess<C> {
  readonly pid: number;
  /** Resolves once it has exited and its reports are delivered. */
  readonly done: Promise<unknown>;
  /**
   * Sends one command, with `fd` attached; false when it cannot take it
   * because its socket pair is full (it stopped reading). A command to a
   * process that is gone is dropped: its exit is reported.
   */
  send(command: C, fd?: number): boolean;
  kill(signal?: Deno.Signal): void;
}

/** What a process `P` that reports `R` says, as events. */
export interface ProcessEvents<P, R> {
  onReport(process: P, report: R): void;
  /** A line on its stdout or stderr that is not a valid report. */
  onOutput(process: P, line: string): void;
  /** It exited (after its last report was delivered). */
  onExit(process: P, status: Deno.CommandStatus): void;
}

const encoder = new TextEncoder();

export class PairedProcess<C, R> implements SupervisedProcess<C> {
  readonly pid: number;
  readonly done: Promise<Deno.CommandStatus>;
  #process: Deno.ChildProcess;
  #control: OwnedFd;
  #exited = false;

  private constructor(
    process: Deno.ChildProcess,
    control: OwnedFd,
    parse: (line: string) => R,
    events: ProcessEvents<PairedProcess<C, R>, R>,
  ) {
    this.#process = process;
    this.pid = process.pid;
    this.#control = control;
    const output = Promise.all([
      (async () => {
        for await (const line of readLines(process.stdout)) {
          let report: R;
          try {
            report = parse(line);
          } catch {
            handled(() => events.onOutput(this, line));
            continue;
          }
          handled(() => events.onReport(this, report));
        }
      })(),
      (async () => {
        for await (const line of readLines(process.stderr)) {
          handled(() => events.onOutput(this, line));
        }
      })(),
    ]);
    this.done = (async () => {
      const status = await process.status;
      await output.catch(() => {});
      this.#exited = true;
      control.close();
      events.onExit(this, status);
      return status;
    })();
  }

  /**
   * Starts it; `makeCommand` receives the fd number its end of the pair has
   * in it, and `parse` turns a stdout line into a report (throwing when it
   * is not one).
   */
  static spawn<C, R>(
    makeCommand: (controlFd: number) => ChildCommand,
    parse: (line: string) => R,
    events: ProcessEvents<PairedProcess<C, R>, R>,
  ): PairedProcess<C, R> {
    const { process, control } = spawnWithControl(makeCommand, "null");
    return new PairedProcess<C, R>(process, control, parse, events);
  }

  /**
   * Sends one command, with `fd` attached; false when it cannot take it
   * (its socket pair is full: it stopped reading). A command to a process
   * that is gone is dropped: its exit is reported.
   */
  send(command: C, fd?: number): boolean {
    if (this.#exited || this.#control.closed) return true;
    try {
      sendMessage(this.#control.fd, encoder.encode(JSON.stringify(command)), fd);
      return true;
    } catch (error) {
      return !(error instanceof SystemError && error.errno === EAGAIN);
    }
  }

  kill(signal: Deno.Signal = "SIGKILL"): void {
    if (this.#exited) return;
    try {
      this.#process.kill(signal);
    } catch {
      // Already gone: `done` reports the exit.
    }
  }
}

/**
 * Spawns a child with one end of a new socket pair (its control socket, the
 * only fd it inherits) and returns the parent's end; `makeCommand` receives
 * the fd number that end has in the child. Stdout and stderr are piped.
 */
export function spawnWithControl(
  makeCommand: (controlFd: number) => ChildCommand,
  stdin: "null" | "piped",
): { process: Deno.ChildProcess; control: OwnedFd } {
  const [parentEnd, childEnd] = openSocketPair();
  using parent = parentEnd;
  // The child has its own copy once spawned: this one closes either way.
  using child = childEnd;
  const { command, args, env } = makeCommand(child.fd);
  // Spawning is synchronous, so no other spawn can inherit this fd.
  setCloseOnExec(child.fd, false);
  const process = new Deno.Command(command, {
    args,
    env,
    clearEnv: true,
    stdin,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return { process, control: parent.take() };
}

/**
 * Runs a report or output handler; one that throws is logged and the pipe
 * is read on, so the helper never blocks on a full pipe for a handler's bug.
 */
function handled(run: () => void): void {
  try {
    run();
  } catch (error) {
    log.error("A helper process's report could not be handled: {error}", { error });
  }
}
