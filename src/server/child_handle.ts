/**
 * The main process's handle on one child: its process, the parent end of its
 * control socket pair, its stdin for commands and its stdout for reports.
 *
 * Only the child's own end of the socket pair is inherited: every other fd of
 * the main process is close-on-exec (Deno's own, and those made in ffi/).
 *
 * @module
 */

import type { OwnedFd } from "../../ffi/owned_fd.ts";
import { sendMessage } from "../../ffi/socket.ts";
import type { ChildCommand } from "./child_command.ts";
import { readLines } from "../ipc/lines.ts";
import { spawnWithControl } from "./paired_process.ts";
import { errno, libc, systemError } from "../../ffi/libc.ts";
import { logger } from "./log.ts";
import {
  type AccessDecision,
  type Assignment,
  type ChildMessage,
  parseChildMessage,
  type RelayAssignment,
  shutdownLine,
} from "../ipc/messages.ts";

/** What a child says, as events; `C` is the child's handle (a fake one in tests). */
export interface ChildEvents<C = ChildHandle> {
  /** A valid report from the child. */
  onMessage(child: C, message: ChildMessage): void;
  /** A line on the child's stdout or stderr that is not a valid report. */
  onOutput(child: C, line: string): void;
  /** The child exited (after its last report was delivered). */
  onExit(child: C, status: Deno.CommandStatus): void;
}

const encoder = new TextEncoder();

let nextSerial = 1;

export class ChildHandle {
  readonly pid: number;
  /** Unique within this main process, for logs before a connection id exists. */
  readonly serial = nextSerial++;
  readonly startedAt = performance.now();
  #process: Deno.ChildProcess;
  readonly #control: OwnedFd;
  #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #exited = false;
  #ready = false;
  /** The nice value of every thread of the child, when it is not the main process's. */
  readonly #nice: number | undefined;
  /** Resolves when the process has exited and its output is drained. */
  readonly done: Promise<Deno.CommandStatus>;

  private constructor(
    process: Deno.ChildProcess,
    control: OwnedFd,
    events: ChildEvents,
    nice: number | undefined,
  ) {
    this.#process = process;
    this.#nice = nice;
    this.pid = process.pid;
    this.#control = control;
    const stdin = process.stdin.getWriter();
    this.#stdin = stdin;
    stdin.closed.catch(() => {}); // a dead child's stdin errors; exit is reported separately
    const output = Promise.all([
      this.#readReports(process.stdout, events),
      this.#readOutput(process.stderr, events),
    ]);
    this.done = (async () => {
      const status = await process.status;
      await output.catch(() => {});
      // The write end of the child's stdin is the main process's fd until
      // closed: without this, every finished connection would leave it open.
      await stdin.abort().catch(() => {});
      this.#exited = true;
      control.close();
      events.onExit(this, status);
      return status;
    })();
  }

  /**
   * Starts a child. `makeCommand` receives the fd number the child's end of
   * the control pair will have in the child.
   */
  static spawn(
    makeCommand: (controlFd: number) => ChildCommand,
    events: ChildEvents,
    options: { nice?: number } = {},
  ): ChildHandle {
    const { process, control } = spawnWithControl(makeCommand, "piped");
    // Its first thread at once: the threads it starts while it loads inherit it.
    if (options.nice !== undefined) setThreadNice(process.pid, options.nice);
    return new ChildHandle(process, control, events, options.nice);
  }

  get exited(): boolean {
    return this.#exited;
  }

  /** Whether the child has said `ready`: libsrt loaded, waiting for its connection. */
  get ready(): boolean {
    return this.#ready;
  }

  /**
   * Hands the child its connection: a caller's assignment with its UDP
   * socket attached, or a relay's, which has none (its child calls out).
   */
  assign(assignment: Assignment | RelayAssignment, udpFd?: number): void {
    if (this.#control.closed) {
      throw new Error(`Child ${this.pid} cannot take a connection`);
    }
    sendMessage(this.#control.fd, encoder.encode(JSON.stringify(assignment)), udpFd);
  }

  /**
   * Answers the child's access request; an accepted one carries the stream
   * buffer's fd. Returns false when the child is gone.
   */
  answer(decision: AccessDecision, bufferFd?: number): boolean {
    if (this.#control.closed) return false;
    try {
      sendMessage(this.#control.fd, encoder.encode(JSON.stringify(decision)), bufferFd);
      return true;
    } catch {
      // The child died meanwhile; its exit is reported separately.
      return false;
    }
  }

  /** Asks the child to close its connection cleanly and exit. */
  requestShutdown(detail?: string): void {
    if (this.#exited) return;
    this.#stdin.write(shutdownLine(detail)).catch(() => {});
  }

  /**
   * Closes the child's stdin without a `shutdown`: to the child, its main
   * process is gone (src/peer/serve.ts). Connected, it waits to be adopted.
   */
  release(): void {
    if (this.#exited) return;
    this.#stdin.close().catch(() => {});
  }

  /** Writes one line to the child's stdin (the self-test reads its settings there). */
  writeLine(line: string): void {
    this.#stdin.write(encoder.encode(`${line}\n`)).catch(() => {});
  }

  kill(signal: Deno.Signal = "SIGKILL"): void {
    if (this.#exited) return;
    try {
      this.#process.kill(signal);
    } catch {
      // Already gone: `done` reports the exit.
    }
  }

  async #readReports(stdout: ReadableStream<Uint8Array>, events: ChildEvents) {
    for await (const line of readLines(stdout)) {
      let message: ChildMessage;
      try {
        message = parseChildMessage(line);
      } catch {
        events.onOutput(this, line);
        continue;
      }
      if (message.type === "ready") {
        this.#ready = true;
        // And every thread it has by now, in case one started before its
        // first thread was lowered (the main process may have waited for a
        // CPU in between): threads started later inherit from these.
        if (this.#nice !== undefined) setThreadsNice(this.pid, this.#nice);
      }
      events.onMessage(this, message);
    }
  }

  async #readOutput(stderr: ReadableStream<Uint8Array>, events: ChildEvents) {
    for await (const line of readLines(stderr)) events.onOutput(this, line);
  }
}

/** `which` for setpriority(2): one process, or rather one thread, by id. */
const PRIO_PROCESS = 0;
/** No such process or thread: it has exited, nothing to lower. */
const ESRCH = 3;

const log = logger("server");
/** Whether a failure to lower a child was logged (once per main process). */
let niceFailureLogged = false;

/**
 * Lowers one thread of a child to `nice` (Linux keeps a nice value per
 * thread; new threads take their creator's). Raising a nice value needs no
 * privilege; a thread already gone (ESRCH) has nothing to lower. Any other
 * failure is logged once.
 */
function setThreadNice(tid: number, nice: number): void {
  if (libc().setpriority(PRIO_PROCESS, tid, nice) === 0) return;
  const code = errno();
  if (code === ESRCH || niceFailureLogged) return;
  niceFailureLogged = true;
  log.warning("Children are not lowered to nice {nice}: {error}", {
    nice,
    error: systemError("setpriority", code).message,
  });
}

/** Lowers every thread of child `pid` to `nice`. */
function setThreadsNice(pid: number, nice: number): void {
  let tasks: Deno.DirEntry[];
  try {
    tasks = [...Deno.readDirSync(`/proc/${pid}/task`)];
  } catch {
    return; // It has exited.
  }
  for (const task of tasks) {
    const tid = Number(task.name);
    if (Number.isInteger(tid) && tid > 0) setThreadNice(tid, nice);
  }
}
