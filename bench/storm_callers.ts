/**
 * Part of a storm of callers, in a process of its own: `--count` async
 * libsrt callers with stream ids `${prefix}${first + n}`, each of which, when
 * it fails (refused, or no answer within libsrt's default 3 s), is closed
 * and replaced {@link RETRY_AFTER_MS} later by a new socket with the same
 * stream id, until all are connected or the deadline passes.
 *
 *     deno run -A bench/storm_callers.ts --port P --prefix publish:bench/s- --first 0 --count 100 \
 *       --deadline-ms 60000 [--attempts N]
 *
 * With `--attempts 1` it is a burst: every caller tries once.
 *
 * A storm is split over several of these (bench/storms.ts starts them):
 * every attempt opens a libsrt socket with a UDP socket and threads of its
 * own, and libsrt does that under one process-wide lock, so hundreds of
 * retries a second in one process would slow the retries themselves.
 *
 * Prints `{"type":"ready"}`, then waits for a line `go EPOCH_MS` on stdin
 * (the storm's start, the same for every process), prints
 * `{"type":"progress","connected":N}` every 500 ms and a
 * `{"type":"result",…}` line ({@link StormOutcome}) at the end, and holds
 * the connected callers open until stdin closes.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { libsrt, SRT_EPOLL_ERR, SRT_EPOLL_OUT, SrtState } from "../ffi/libsrt.ts";
import { cpuPercent, sampleCpu } from "../tests/support/procfs.ts";
import { closeSocket, connectAsync, createCaller, EpollSet, socketState, startSrt } from "./srt.ts";

/** libsrt's default SRTO_CONNTIMEO, which every caller keeps. */
export const CALLER_TIMEOUT_MS = 3000;
/** A caller tries again this long after each failure. */
export const RETRY_AFTER_MS = 1000;
/** libsrt's SRT_REJ_TIMEOUT: the caller got no answer before its timeout. */
export const SRT_REJ_TIMEOUT = 16;

/**
 * The callers' own side of a storm: every retry creates, connects and later
 * closes a libsrt socket on the process's JS thread, which must also notice
 * every answer in time. When this side is slow, retries come later than 1 s.
 */
export interface CallerSideFigures {
  /** Time in `srt_create_socket` … `srt_connect`, and in `srt_close`, in all. */
  openMs: number;
  closeMs: number;
  /** The longest stretch the loop ran without waiting (creating and closing sockets). */
  longestStepMs: number;
  /** How much later than planned (1 s after the failure) retries started: p50 and max. */
  retryLateP50Ms: number;
  retryLateMaxMs: number;
  /** The process: CPU (all threads, % of one core), and its JS thread's run-queue wait. */
  cpuPercent: number;
  runQueueWaitMs: number;
}

/** What one process's callers saw. */
export interface StormOutcome {
  callers: number;
  connected: number;
  /** When each caller connected, ms from the storm's start (`go`). */
  connectedAtMs: number[];
  /** Each connected caller's last attempt, from its `srt_connect` to CONNECTED, in ms. */
  connectMs: number[];
  attempts: number;
  maxAttempts: number;
  /** Failed attempts by `srt_getrejectreason` (16: timed out, 1402: overloaded). */
  failures: Record<string, number>;
  /** Callers still CONNECTED when the storm ended. */
  aliveAtEnd: number;
  /** When the last caller connected or gave up (or the deadline), ms from the start. */
  endedAtMs: number;
  callerSide: CallerSideFigures;
}

interface Caller {
  streamId: string;
  socket: number | undefined;
  attemptStartedMs: number;
  attempts: number;
  connectedAtMs: number | null;
  retryAtMs: number | null;
}

/** Nanoseconds the thread `pid` of process `pid` has waited on a run queue. */
export function runQueueWaitNs(pid: number): number {
  try {
    return Number(Deno.readTextFileSync(`/proc/${pid}/task/${pid}/schedstat`).split(" ")[1]);
  } catch {
    return NaN;
  }
}

function nearestRank(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1]!;
}

/**
 * Runs the callers from `startEpochMs` on (times are taken from the wall
 * clock, so that several processes share one start) until all are connected
 * or `deadlineMs` after the start. `onProgress` gets the count connected.
 * Returns the outcome and the connected sockets, which the caller closes.
 */
export async function runStorm(
  port: number,
  streamIds: string[],
  options: {
    startEpochMs: number;
    deadlineMs: number;
    /** Attempts per caller at most (default: no limit but the deadline). */
    maxAttempts?: number;
    onProgress?: (connected: number) => void;
  },
): Promise<{ outcome: StormOutcome; sockets: number[] }> {
  const count = streamIds.length;
  const epoll = new EpollSet(count + 8);
  const callers: Caller[] = streamIds.map((streamId) => ({
    streamId,
    socket: undefined,
    attemptStartedMs: 0,
    attempts: 0,
    connectedAtMs: null,
    retryAtMs: 0,
  }));
  const bySocket = new Map<number, Caller>();
  const reasons: Record<string, number> = {};
  const retryLate: number[] = [];
  // The shared start on this process's monotonic clock, for sub-ms times.
  const start = performance.now() + (options.startEpochMs - Date.now());
  const since = () => performance.now() - start;
  const cpuBefore = sampleCpu(Deno.pid);
  const waitBefore = runQueueWaitNs(Deno.pid);
  let openMs = 0;
  let closeMs = 0;
  let longestStepMs = 0;
  let connected = 0;
  let givenUp = 0;
  const maxAttempts = options.maxAttempts ?? Infinity;
  const connectMs: number[] = [];

  const attempt = (caller: Caller) => {
    const started = performance.now();
    if (caller.attempts > 0) retryLate.push(since() - caller.retryAtMs!);
    const socket = createCaller(caller.streamId, {
      blocking: false,
      connectTimeoutMs: CALLER_TIMEOUT_MS,
    });
    caller.socket = socket;
    caller.retryAtMs = null;
    caller.attempts++;
    bySocket.set(socket, caller);
    epoll.add(socket, SRT_EPOLL_OUT | SRT_EPOLL_ERR);
    caller.attemptStartedMs = since();
    connectAsync(socket, port);
    openMs += performance.now() - started;
  };
  const fail = (caller: Caller, reason: number) => {
    reasons[reason] = (reasons[reason] ?? 0) + 1;
    const socket = caller.socket!;
    epoll.remove(socket);
    bySocket.delete(socket);
    const started = performance.now();
    closeSocket(socket);
    closeMs += performance.now() - started;
    caller.socket = undefined;
    if (caller.attempts < maxAttempts) caller.retryAtMs = since() + RETRY_AFTER_MS;
    else givenUp++;
  };

  const progress = setInterval(() => options.onProgress?.(connected), 500);
  try {
    const wait = -since();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    while (connected + givenUp < count && since() < options.deadlineMs) {
      const stepStarted = performance.now();
      for (const caller of callers) {
        if (caller.retryAtMs !== null && caller.retryAtMs <= since()) attempt(caller);
      }
      let nextRetry = options.deadlineMs;
      for (const caller of callers) nextRetry = Math.min(nextRetry, caller.retryAtMs ?? Infinity);
      longestStepMs = Math.max(longestStepMs, performance.now() - stepStarted);
      const ready = await epoll.wait(Math.max(0, Math.min(50, nextRetry - since())));
      const handleStarted = performance.now();
      for (const { socket } of ready) {
        const caller = bySocket.get(socket);
        if (caller === undefined) continue;
        const state = socketState(socket);
        if (state === SrtState.CONNECTED) {
          caller.connectedAtMs = since();
          connectMs.push(Math.round((caller.connectedAtMs - caller.attemptStartedMs) * 10) / 10);
          epoll.remove(socket);
          bySocket.delete(socket);
          connected++;
        } else if (state > SrtState.CONNECTED) {
          fail(caller, libsrt().srt_getrejectreason(socket));
        }
      }
      // libsrt reports a timeout as ERR; this only catches an attempt it never reported.
      for (const caller of bySocket.values()) {
        if (since() - caller.attemptStartedMs > CALLER_TIMEOUT_MS + 2000) {
          fail(caller, SRT_REJ_TIMEOUT);
        }
      }
      longestStepMs = Math.max(longestStepMs, performance.now() - handleStarted);
    }
  } finally {
    clearInterval(progress);
    // Attempts still under way at the deadline are abandoned.
    for (const caller of bySocket.values()) {
      closeSocket(caller.socket!);
      caller.socket = undefined;
    }
    epoll.release();
  }
  const endedAtMs = since();
  options.onProgress?.(connected);
  const cpuAfter = sampleCpu(Deno.pid);
  const up = callers.filter((c) => c.connectedAtMs !== null);
  return {
    outcome: {
      callers: count,
      connected,
      connectedAtMs: up.map((c) => Math.round(c.connectedAtMs!)),
      connectMs,
      endedAtMs: Math.round(endedAtMs),
      attempts: callers.reduce((sum, c) => sum + c.attempts, 0),
      maxAttempts: Math.max(...callers.map((c) => c.attempts)),
      failures: reasons,
      aliveAtEnd: up.filter((c) => socketState(c.socket!) === SrtState.CONNECTED).length,
      callerSide: {
        openMs: Math.round(openMs),
        closeMs: Math.round(closeMs),
        longestStepMs: Math.round(longestStepMs),
        retryLateP50Ms: nearestRank(retryLate, 50),
        retryLateMaxMs: retryLate.length === 0 ? NaN : Math.max(...retryLate),
        cpuPercent: await cpuPercent(cpuBefore, cpuAfter),
        runQueueWaitMs: Math.round((runQueueWaitNs(Deno.pid) - waitBefore) / 1e6),
      },
    },
    sockets: up.map((c) => c.socket!),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      port: { type: "string" },
      prefix: { type: "string", default: "publish:bench/storm-" },
      first: { type: "string", default: "0" },
      count: { type: "string" },
      "deadline-ms": { type: "string", default: "60000" },
      attempts: { type: "string", default: "0" },
    },
    strict: true,
  });
  const port = Number(values.port);
  const first = Number(values.first);
  const count = Number(values.count);
  const deadlineMs = Number(values["deadline-ms"]);
  const attempts = Number(values.attempts);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`--port must be 1 to 65535, not ${values.port}`);
  }
  if (!Number.isInteger(count) || count < 1 || count > 1000) {
    throw new RangeError(`--count must be 1 to 1000, not ${values.count}`);
  }
  if (!(deadlineMs > 0 && deadlineMs <= 600_000)) {
    throw new RangeError(`--deadline-ms must be 1 to 600000, not ${values["deadline-ms"]}`);
  }
  startSrt();
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).getReader();
  console.log(JSON.stringify({ type: "ready" }));
  let pending = "";
  let go: number | undefined;
  while (go === undefined) {
    const { value, done } = await lines.read();
    if (done) return;
    pending += value;
    const match = /^go (\d+)$/m.exec(pending);
    if (match) go = Number(match[1]);
  }
  const streamIds = Array.from({ length: count }, (_, n) => `${values.prefix}${first + n}`);
  const { outcome, sockets } = await runStorm(port, streamIds, {
    startEpochMs: go,
    deadlineMs,
    ...(attempts > 0 ? { maxAttempts: attempts } : {}),
    onProgress: (connected) => console.log(JSON.stringify({ type: "progress", connected })),
  });
  console.log(JSON.stringify({ type: "result", ...outcome }));
  // Hold the connections until told to stop.
  while (!(await lines.read()).done) { /* nothing to read */ }
  for (const socket of sockets) closeSocket(socket);
  libsrt().srt_cleanup();
}

if (import.meta.main) {
  await main();
  Deno.exit(0);
}
