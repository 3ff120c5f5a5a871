/**
 * SRT callers that time their own connection setup: from calling
 * `srt_connect` to the socket being CONNECTED.
 *
 * - `async`: RCVSYN=0, `srt_connect` returns at once and the caller waits on
 *   an SRT epoll for OUT or ERR, as ffmpeg and srt-live-transmit do (libsrt
 *   resends their induction every 250 ms).
 * - `blocking`: RCVSYN=1, `srt_connect` blocks until connected (libsrt
 *   resends only after about 1 s); run on a pool thread so many can wait at
 *   once.
 *
 * @module
 */

import { SRT_EPOLL_ERR, SRT_EPOLL_OUT, SrtState } from "../ffi/libsrt.ts";
import {
  closeSocket,
  connectAsync,
  connectBlocking,
  createCaller,
  EpollSet,
  socketState,
} from "./srt.ts";

export type CallerKind = "async" | "blocking";

/** One caller's outcome. */
export interface CallerResult {
  streamId: string;
  /** Milliseconds from `srt_connect` to CONNECTED; null when it did not connect. */
  connectMs: number | null;
  /** SRT_SOCKSTATUS when the caller stopped waiting. */
  state: number;
}

export interface CallerOptions {
  kind: CallerKind;
  /** Stream ids are `${prefix}${n}`, e.g. `publish:bench/7`. */
  prefix: string;
  /** SRTO_CONNTIMEO of every caller. */
  connectTimeoutMs: number;
}

export interface SequentialOptions extends CallerOptions {
  /** Runs before every connect (e.g. waits for Atoll's pool to be full again); not timed. */
  beforeEach: () => Promise<void>;
  /** Runs after every connect, before the caller closes; not timed. */
  afterEach?: () => Promise<void>;
}

/** Connects `count` callers one after another; each closes as soon as it has connected. */
export async function connectSequential(
  port: number,
  count: number,
  options: SequentialOptions,
): Promise<CallerResult[]> {
  const results: CallerResult[] = [];
  for (let n = 0; n < count; n++) {
    await options.beforeEach();
    const group = await connectGroup(port, [`${options.prefix}${n}`], options);
    try {
      await options.afterEach?.();
    } finally {
      group.close();
    }
    results.push(...group.results);
  }
  return results;
}

/** Callers connected together; they stay open until {@link CallerGroup.close}. */
export interface CallerGroup {
  results: CallerResult[];
  sockets: number[];
  /** From the first `srt_connect` to the last caller connected (or given up). */
  allDoneMs: number;
  close(): void;
}

/** Starts every caller at once and waits for all of them to connect or fail. */
export async function connectSimultaneous(
  port: number,
  count: number,
  options: CallerOptions,
): Promise<CallerGroup> {
  const streamIds = Array.from({ length: count }, (_, n) => `${options.prefix}${n}`);
  return await connectGroup(port, streamIds, options);
}

/** Starts a caller for each stream id at once and waits for all of them to connect or fail. */
export async function connectGroup(
  port: number,
  streamIds: string[],
  options: CallerOptions,
): Promise<CallerGroup> {
  const blocking = options.kind === "blocking";
  const sockets: number[] = [];
  const close = () => {
    for (const socket of sockets) closeSocket(socket);
  };
  try {
    for (const streamId of streamIds) {
      sockets.push(createCaller(streamId, {
        blocking,
        connectTimeoutMs: options.connectTimeoutMs,
      }));
    }
    const started = performance.now();
    const times = blocking
      ? await timeBlocking(port, sockets)
      : await timeAsync(port, sockets, options.connectTimeoutMs);
    const allDoneMs = performance.now() - started;
    const results = sockets.map((socket, i) => ({
      streamId: streamIds[i]!,
      connectMs: times[i] ?? null,
      state: socketState(socket),
    }));
    return { results, sockets, allDoneMs, close };
  } catch (error) {
    close();
    throw error;
  }
}

/** Blocking `srt_connect` for every socket at once, each on its own pool thread. */
function timeBlocking(port: number, sockets: number[]): Promise<(number | null)[]> {
  return Promise.all(sockets.map(async (socket) => {
    const started = performance.now();
    const connected = await connectBlocking(socket, port);
    return connected ? performance.now() - started : null;
  }));
}

/** Non-blocking `srt_connect` for every socket, then one epoll wait loop for all. */
async function timeAsync(
  port: number,
  sockets: number[],
  connectTimeoutMs: number,
): Promise<(number | null)[]> {
  const epoll = new EpollSet(sockets.length + 8);
  try {
    const started = new Map<number, number>();
    const times = new Map<number, number | null>();
    for (const socket of sockets) epoll.add(socket, SRT_EPOLL_OUT | SRT_EPOLL_ERR);
    for (const socket of sockets) {
      started.set(socket, performance.now());
      connectAsync(socket, port);
    }
    // libsrt gives up after CONNTIMEO and reports ERR; the deadline is a backstop.
    const deadline = performance.now() + connectTimeoutMs + 2000;
    while (times.size < sockets.length && performance.now() < deadline) {
      const ready = await epoll.wait(Math.min(100, deadline - performance.now()));
      const now = performance.now();
      for (const { socket } of ready) {
        if (times.has(socket)) continue;
        epoll.remove(socket);
        const connected = socketState(socket) === SrtState.CONNECTED;
        times.set(socket, connected ? now - started.get(socket)! : null);
      }
    }
    return sockets.map((socket) => times.get(socket) ?? null);
  } finally {
    epoll.release();
  }
}

/** How many of `sockets` libsrt still sees as CONNECTED. */
export function countConnected(sockets: number[]): number {
  return sockets.filter((socket) => socketState(socket) === SrtState.CONNECTED).length;
}
