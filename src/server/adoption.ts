/**
 * A new main process taking over the connected children of one that is
 * gone: it connects to each orphan's socket in the state directory, checks
 * that the process there is one of Atoll's children of this state directory
 * and SRT port, reads its hello (src/ipc/adoption.ts), and opens the stream
 * buffer it uses. The {@link AdoptedChild} is then the main process's handle
 * on it, as a {@link ChildHandle} is on a child it started.
 *
 * @module
 */

import { ECONNREFUSED, ENOENT, O_RDWR, SystemError } from "../../ffi/libc.ts";
import { sharedMemorySize } from "../../ffi/shm.ts";
import { listenerOf, type PeerCredentials } from "../../ffi/socket.ts";
import { openPath } from "../../ffi/file_lock.ts";
import type { OwnedFd } from "../../ffi/owned_fd.ts";
import { type Hello, parseHello, ProtocolMismatch } from "../ipc/adoption.ts";
import { readLines } from "../ipc/lines.ts";
import type { AccessDecision, ChildMessage } from "../ipc/messages.ts";
import { parseChildMessage, shutdownLine } from "../ipc/messages.ts";
import type { ChildEvents } from "./child_handle.ts";
import { isChildCommandLine } from "./child_command.ts";
import { type OrphanSocket, sameFile } from "./state_dir.ts";

/** How long an orphan may take to say hello. */
const HELLO_TIMEOUT_MS = 2000;

/** The main process's handle on a child it adopted. */
export class AdoptedChild {
  readonly pid: number;
  /** An adopted child is connected: it never takes a new connection. */
  readonly ready = true;
  readonly startedAt = performance.now();
  readonly done: Promise<Deno.CommandStatus>;
  #conn: Deno.Conn;
  #exited = false;
  /** Let go of (an upgrade): its end is no exit, and is not reported. */
  #released = false;

  constructor(
    pid: number,
    conn: Deno.Conn,
    lines: AsyncIterator<string>,
    events: ChildEvents<AdoptedChild>,
  ) {
    this.pid = pid;
    this.#conn = conn;
    this.done = this.#read(lines, events);
  }

  get exited(): boolean {
    return this.#exited;
  }

  assign(): void {
    throw new Error(`Adopted child ${this.pid} is connected already`);
  }

  /** An adopted child asks for no decision: it was decided on before. */
  answer(_decision: AccessDecision, _bufferFd?: number): boolean {
    return false;
  }

  requestShutdown(detail?: string): void {
    if (this.#exited) return;
    this.#conn.write(shutdownLine(detail)).catch(() => {});
  }

  /** Hangs up: the child waits for its next adopter. */
  release(): void {
    if (this.#exited) return;
    this.#released = true;
    try {
      this.#conn.close();
    } catch {
      // Closed already.
    }
  }

  kill(signal: Deno.Signal = "SIGKILL"): void {
    if (this.#exited) return;
    try {
      Deno.kill(this.pid, signal);
    } catch {
      // Gone already: its socket says so.
    }
  }

  /**
   * Its reports, until its socket closes: it exited (or another main process
   * took it over). Not its own child, so no exit status is known: it counts
   * as a clean exit when it said why it closed, else as killed.
   */
  async #read(
    lines: AsyncIterator<string>,
    events: ChildEvents<AdoptedChild>,
  ): Promise<Deno.CommandStatus> {
    let closed = false;
    try {
      for (let next = await lines.next(); !next.done; next = await lines.next()) {
        let message: ChildMessage;
        try {
          message = parseChildMessage(next.value);
        } catch {
          events.onOutput(this, next.value);
          continue;
        }
        if (message.type === "closed") closed = true;
        events.onMessage(this, message);
      }
    } catch {
      // A reset socket ends it as an EOF does.
    }
    this.#exited = true;
    try {
      this.#conn.close();
    } catch {
      // Closed already.
    }
    const status: Deno.CommandStatus = closed
      ? { success: true, code: 0, signal: null }
      : { success: false, code: 1, signal: "SIGKILL" };
    if (!this.#released) events.onExit(this, status);
    return status;
  }
}

/** An orphan ready to adopt: what it said, its socket, and its stream buffer. */
export interface Orphan {
  hello: Hello;
  conn: Deno.Conn;
  /** The rest of what it writes: its reports. */
  lines: AsyncIterator<string>;
  /** Its stream buffer's memory file, opened here: the caller's to close. */
  buffer: OwnedFd;
}

/** What the adopter expects of each orphan. */
export interface AdoptionScope {
  stateDir: string;
  /** The SRT port this main process listens on. */
  srtPort: number;
}

/** Why an orphan's socket was not adopted. */
export type Skipped =
  /** Nobody listens there any more: the file is left from a child that exited. */
  | { kind: "stale" }
  /** A child of another Atoll version: it keeps its connection, unadopted. */
  | { kind: "other-version"; detail: string }
  | { kind: "refused"; detail: string };

/**
 * Connects to the orphan at `socket` and checks it (see the module
 * comment). Returns it ready to adopt, or why not.
 */
export async function reachOrphan(
  socket: OrphanSocket,
  scope: AdoptionScope,
): Promise<Orphan | Skipped> {
  const checked = checkListener(socket);
  if (checked !== undefined) return checked;
  let conn: Deno.Conn;
  try {
    conn = await Deno.connect({ transport: "unix", path: socket.path });
  } catch (error) {
    return { kind: "refused", detail: `cannot connect: ${error}` };
  }
  const lines = readLines(conn)[Symbol.asyncIterator]();
  let keep = false;
  try {
    const first = await nextLine(lines, HELLO_TIMEOUT_MS);
    if (first === undefined) {
      return { kind: "refused", detail: `no hello within ${HELLO_TIMEOUT_MS} ms` };
    }
    let hello: Hello;
    try {
      hello = parseHello(first);
    } catch (error) {
      if (error instanceof ProtocolMismatch) {
        return { kind: "other-version", detail: error.message };
      }
      return { kind: "refused", detail: String(error) };
    }
    const mismatch = hello.pid !== socket.pid
      ? `it says it is process ${hello.pid}`
      : !sameFile(hello.stateDir, scope.stateDir)
      ? `it belongs to state directory ${hello.stateDir}`
      : hello.local.port !== scope.srtPort
      ? `it serves SRT port ${hello.local.port}, not ${scope.srtPort}`
      : undefined;
    if (mismatch !== undefined) return { kind: "refused", detail: mismatch };
    let buffer: OwnedFd;
    try {
      buffer = openPath(`/proc/${socket.pid}/fd/${hello.bufferFd}`, O_RDWR);
    } catch (error) {
      return { kind: "refused", detail: `cannot open its stream buffer: ${error}` };
    }
    const size = sharedMemorySize(buffer.fd);
    if (size < hello.bufferBytes) {
      buffer.close();
      return {
        kind: "refused",
        detail: `its stream buffer holds ${size} bytes, not the ${hello.bufferBytes} it says`,
      };
    }
    keep = true;
    return { hello, conn, lines, buffer };
  } finally {
    if (!keep) conn.close();
  }
}

/**
 * Undefined when the process listening at `socket.path` is one of Atoll's
 * children, this user's, and the one the file is named after (the kernel
 * says who listens: `SO_PEERCRED`); else why not. Nobody listening there
 * any more makes the file a dead child's.
 */
function checkListener(socket: OrphanSocket): Skipped | undefined {
  let listener: PeerCredentials;
  try {
    listener = listenerOf(socket.path);
  } catch (error) {
    const code = error instanceof SystemError ? error.errno : undefined;
    if (code === ECONNREFUSED || code === ENOENT) return { kind: "stale" };
    return { kind: "refused", detail: `cannot connect: ${error}` };
  }
  if (listener.pid !== socket.pid) {
    return { kind: "refused", detail: `process ${listener.pid} listens there` };
  }
  if (listener.uid !== Deno.uid()) {
    return { kind: "refused", detail: `it runs as user ${listener.uid}, not ${Deno.uid()}` };
  }
  let cmdline: string;
  try {
    cmdline = Deno.readTextFileSync(`/proc/${socket.pid}/cmdline`);
  } catch {
    return { kind: "refused", detail: `process ${socket.pid} is gone` };
  }
  if (!isChildCommandLine(cmdline)) {
    return { kind: "refused", detail: `process ${socket.pid} is not an Atoll child` };
  }
  return undefined;
}

async function nextLine(
  lines: AsyncIterator<string>,
  timeoutMs: number,
): Promise<string | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), timeoutMs);
  });
  try {
    const next = await Promise.race([lines.next(), timeout]);
    return next === undefined || next.done ? undefined : next.value;
  } finally {
    clearTimeout(timer);
  }
}
