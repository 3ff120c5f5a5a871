/**
 * Zero-downtime upgrades: SIGUSR2 to the main process starts a new main
 * process from the same command line, in the same directory (so a binary
 * replaced at its path, or a source tree updated in place, is what runs),
 * and hands every connection over to it. The two meet on a Unix socket in
 * the state directory (src/ipc/adoption.ts):
 *
 * 1. the running main process ({@link offerUpgrade}) listens there and
 *    starts its successor with {@link UPGRADE_ENV} set to its pid;
 * 2. the successor starts as far as it can without the ports (options,
 *    config, libsrt, the fast-handshake self-test) and asks
 *    ({@link joinUpgrade}), saying which adoption protocol it speaks;
 * 3. a successor of another protocol is refused, and the running one goes
 *    on, saying why; otherwise the running one lets go of its ports, its
 *    lock and its children (connected ones wait to be adopted, as after a
 *    crash), answers `go` with their pids, and exits;
 * 4. the successor takes the lock, adopts them, and listens.
 *
 * Callers arriving meanwhile are not answered for a moment: libsrt
 * retransmits, and the successor answers them.
 *
 * @module
 */

import {
  ADOPTION_PROTOCOL,
  parseUpgradeAnswer,
  parseUpgradeRequest,
  UPGRADE_ENV,
  type UpgradeAnswer,
  upgradeSocketPath,
} from "../ipc/adoption.ts";
import { readLines } from "../ipc/lines.ts";
import { StartupError } from "./startup_error.ts";

export { UPGRADE_ENV };

/** How long a successor may take to start and ask. */
export const SUCCESSOR_START_MS = 30_000;
/** How long either side waits for the other's line once connected. */
const LINE_TIMEOUT_MS = 10_000;

const encoder = new TextEncoder();

/** A successor process, as {@link offerUpgrade} watches it. */
export interface Successor {
  readonly pid: number;
  /** Resolves when it exits. */
  readonly status: Promise<Deno.CommandStatus>;
  kill(signal: Deno.Signal): void;
}

/** What {@link offerUpgrade} needs of the running server. */
export interface UpgradeSteps {
  stateDir: string;
  /** Starts the successor (see {@link successorCommand}). */
  spawn(): Successor;
  /** Lets go of the ports, the lock and the children; the pids of the connected ones. */
  handOver(): Promise<number[]>;
  /** How long the successor may take to ask; {@link SUCCESSOR_START_MS} by default. */
  startTimeoutMs?: number;
}

export type UpgradeOutcome =
  | { ok: true; successor: number; children: number[] }
  | { ok: false; reason: string };

/** The running main process's side of an upgrade (see the module comment). */
export async function offerUpgrade(steps: UpgradeSteps): Promise<UpgradeOutcome> {
  const path = upgradeSocketPath(steps.stateDir);
  removeQuietly(path);
  const listener = Deno.listen({ transport: "unix", path });
  let successor: Successor | undefined;
  let conn: Deno.Conn | undefined;
  let asked = false;
  try {
    try {
      successor = steps.spawn();
    } catch (error) {
      return { ok: false, reason: `cannot start the new main process: ${error}` };
    }
    const startMs = steps.startTimeoutMs ?? SUCCESSOR_START_MS;
    const accepting = listener.accept();
    accepting.catch(() => {}); // closing the listener ends an accept still waiting
    const first = await race<Deno.Conn | Deno.CommandStatus>(
      [accepting, successor.status],
      startMs,
    );
    if (first === undefined) {
      return { ok: false, reason: `the new main process did not ask within ${startMs} ms` };
    }
    if (!("readable" in first)) {
      return {
        ok: false,
        reason: `the new main process exited (${describe(first)}) before it could take over`,
      };
    }
    conn = first;
    const lines = readLines(conn)[Symbol.asyncIterator]();
    const line = await race([lines.next().then((next) => next.done ? undefined : next.value)]);
    if (line === undefined) return { ok: false, reason: "the new main process said nothing" };
    const request = parseUpgradeRequest(line);
    asked = true;
    const refusal = request.pid !== successor.pid
      ? `process ${request.pid} asked, not the new main process ${successor.pid}`
      : request.protocol !== ADOPTION_PROTOCOL
      ? `the new main process speaks adoption protocol ${
        JSON.stringify(request.protocol)
      }, this one ${ADOPTION_PROTOCOL}: it could not adopt the connections`
      : undefined;
    if (refusal !== undefined) {
      await send(conn, { type: "refused", reason: refusal });
      return { ok: false, reason: refusal };
    }
    const children = await steps.handOver();
    await send(conn, { type: "go", children });
    return { ok: true, successor: successor.pid, children };
  } catch (error) {
    return { ok: false, reason: String(error) };
  } finally {
    conn?.close();
    listener.close();
    removeQuietly(path);
    // A successor that never asked must not linger (one told no exits by itself).
    if (!asked) successor?.kill("SIGTERM");
  }
}

/**
 * The successor's side: asks the main process `predecessor` to hand over,
 * and returns the pids of the connected children it let go of. Throws
 * {@link StartupError} when refused, or when there is nobody to ask.
 */
export async function joinUpgrade(stateDir: string, predecessor: number): Promise<number[]> {
  const path = upgradeSocketPath(stateDir);
  let conn: Deno.Conn;
  try {
    conn = await Deno.connect({ transport: "unix", path });
  } catch (error) {
    throw new StartupError(
      `Cannot upgrade from process ${predecessor}: nothing listens on ${path} (${error})`,
    );
  }
  try {
    await send(conn, { type: "upgrade", protocol: ADOPTION_PROTOCOL, pid: Deno.pid });
    const lines = readLines(conn)[Symbol.asyncIterator]();
    // Handing over closes the ports and waits for the HTTP requests in flight.
    const line = await race(
      [lines.next().then((next) => next.done ? undefined : next.value)],
      SUCCESSOR_START_MS,
    );
    if (line === undefined) {
      throw new StartupError(`Cannot upgrade from process ${predecessor}: it did not answer`);
    }
    const answer: UpgradeAnswer = parseUpgradeAnswer(line);
    if (answer.type === "refused") {
      throw new StartupError(`Upgrade refused by process ${predecessor}: ${answer.reason}`);
    }
    return answer.children;
  } finally {
    conn.close();
  }
}

/**
 * The command that starts this process's successor: its own command line
 * (`/proc/self/cmdline`), so the program at the path it was started from
 * runs, with the same arguments; undefined when it cannot be read.
 */
export function successorCommand(cmdline: string): { command: string; args: string[] } | undefined {
  const argv = cmdline.split("\0");
  if (argv.at(-1) === "") argv.pop();
  const [command, ...args] = argv;
  return command === undefined || command === "" ? undefined : { command, args };
}

async function send(conn: Deno.Conn, message: object): Promise<void> {
  const bytes = encoder.encode(`${JSON.stringify(message)}\n`);
  for (let offset = 0; offset < bytes.length;) {
    offset += await conn.write(bytes.subarray(offset));
  }
}

/** The first of `promises` to settle, or undefined after `timeoutMs`. */
async function race<T>(
  promises: Promise<T>[],
  timeoutMs = LINE_TIMEOUT_MS,
): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), timeoutMs);
  });
  try {
    return await Promise.race([...promises, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function describe(status: Deno.CommandStatus): string {
  return status.signal !== null ? `killed by ${status.signal}` : `exit code ${status.code}`;
}

function removeQuietly(path: string): void {
  try {
    Deno.removeSync(path);
  } catch {
    // Not there.
  }
}
