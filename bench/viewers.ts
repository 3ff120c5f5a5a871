/**
 * Viewers for the streams bench: many live-mode libsrt callers in one
 * process, all playing one stream, each counting what it receives and
 * timing the messages that carry bench/sender.ts's stamps.
 *
 *     deno run -A bench/viewers.ts --port P --count 50 --stream-id play:bench/live
 *
 * Prints JSON lines on stdout: `connected` once every caller has connected
 * or given up, then a `report` on every SIGUSR2 and a last one on SIGTERM,
 * after which it closes its callers and exits. A report holds each viewer's
 * counts since it connected and its end-to-end latencies (sender's send
 * call to this process reading the message) since the previous report.
 * It exits by itself after `--seconds`, so it never outlives the bench.
 * With `--samples`, a report also lists every stamped message since the
 * previous one (its sequence number and latency), so that two paths can be
 * compared message by message (bench/relays.ts).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { libsrt, SRT_EPOLL_ERR, SRT_EPOLL_IN, SRT_EPOLL_OUT, SrtState } from "../ffi/libsrt.ts";
import { pointerTo } from "../ffi/pointer.ts";
import { readTraceStats, SRT_TRACEBSTATS_SIZE } from "../ffi/structs.ts";
import { readStamp, sharedClockMs } from "./sender.ts";
import {
  closeSocket,
  connectAsync,
  createCaller,
  EpollSet,
  messageControlPointer,
  socketState,
  startSrt,
} from "./srt.ts";
import { percentile } from "./summary.ts";

const TS_PACKET_BYTES = 188;
/** Larger than any SRT live message. */
const RECEIVE_BYTES = 1500;

/** One viewer's figures in a `report` line. */
export interface ViewerReport {
  connected: boolean;
  /** Messages and payload bytes received since connecting. */
  messages: number;
  bytes: number;
  /** The newest stamped message's sequence number (-1: none yet) and `messages` when it came. */
  lastSequence: number;
  messagesAtLastSequence: number;
  /** Sender's send call to this process reading the message, since the previous report. */
  latency: { samples: number; p50Ms: number | null; p99Ms: number | null; maxMs: number | null };
  /** With `--samples`: `[sequence, latency ms]` of each stamped message since the previous report. */
  samples?: [number, number][];
  /**
   * libsrt's receive buffer as the report is made: the time span it holds
   * (about the latency, more when the link's time base is late) and the
   * latency agreed with the server.
   */
  receiveBufferMs: number;
  tsbpdDelayMs: number;
}

export interface ViewersReport {
  type: "report";
  number: number;
  viewers: ViewerReport[];
}

export interface ViewersConnected {
  type: "connected";
  count: number;
  connected: number;
  /** Milliseconds from `srt_connect` to CONNECTED, per caller (null: did not connect). */
  connectMs: (number | null)[];
}

interface Viewer {
  socket: number;
  connected: boolean;
  messages: number;
  bytes: number;
  lastSequence: number;
  messagesAtLastSequence: number;
  latencies: number[];
  /** The stamps' sequence numbers, beside `latencies`. */
  sequences: number[];
}

function print(message: ViewersConnected | ViewersReport | Record<string, unknown>): void {
  console.log(JSON.stringify(message));
}

/** Connects every caller at once; their connect times, null for those that failed. */
async function connectAll(
  sockets: number[],
  port: number,
  timeoutMs: number,
): Promise<(number | null)[]> {
  const epoll = new EpollSet(sockets.length + 8);
  try {
    const times = new Map<number, number | null>();
    for (const socket of sockets) epoll.add(socket, SRT_EPOLL_OUT | SRT_EPOLL_ERR);
    const started = performance.now();
    for (const socket of sockets) connectAsync(socket, port);
    const deadline = started + timeoutMs + 2000;
    while (times.size < sockets.length && performance.now() < deadline) {
      for (const { socket } of await epoll.wait(100)) {
        if (times.has(socket)) continue;
        epoll.remove(socket);
        const connected = socketState(socket) === SrtState.CONNECTED;
        times.set(socket, connected ? performance.now() - started : null);
      }
    }
    return sockets.map((socket) => times.get(socket) ?? null);
  } finally {
    epoll.release();
  }
}

function reportOf(viewers: Viewer[], number: number, withSamples: boolean): ViewersReport {
  const statsBuffer = new Uint8Array(SRT_TRACEBSTATS_SIZE);
  const out: ViewerReport[] = viewers.map((viewer) => {
    libsrt().srt_bstats(viewer.socket, pointerTo(statsBuffer), 0);
    const stats = readTraceStats(statsBuffer);
    const latencies = viewer.latencies;
    const sequences = viewer.sequences;
    viewer.latencies = [];
    viewer.sequences = [];
    return {
      connected: viewer.connected && socketState(viewer.socket) === SrtState.CONNECTED,
      messages: viewer.messages,
      bytes: viewer.bytes,
      lastSequence: viewer.lastSequence,
      messagesAtLastSequence: viewer.messagesAtLastSequence,
      latency: latencies.length === 0 ? { samples: 0, p50Ms: null, p99Ms: null, maxMs: null } : {
        samples: latencies.length,
        p50Ms: percentile(latencies, 50),
        p99Ms: percentile(latencies, 99),
        maxMs: Math.max(...latencies),
      },
      ...(withSamples
        ? {
          samples: latencies.map((ms, n): [number, number] => [
            sequences[n]!,
            Math.round(ms * 1000) / 1000,
          ]),
        }
        : {}),
      receiveBufferMs: stats.msRcvBuf,
      tsbpdDelayMs: stats.msRcvTsbPdDelay,
    };
  });
  return { type: "report", number, viewers: out };
}

/** Reads everything libsrt holds for `viewer`. */
function drain(viewer: Viewer, buffer: Uint8Array<ArrayBuffer>): void {
  const srt = libsrt();
  const bufferPointer = pointerTo(buffer);
  for (;;) {
    // -1 is EASYNCRCV (nothing more) or a broken connection, which epoll reports as ERR.
    const length = srt.srt_recvmsg2(
      viewer.socket,
      bufferPointer,
      buffer.byteLength,
      messageControlPointer,
    );
    if (length <= 0) return;
    const arrivedAtMs = sharedClockMs();
    viewer.messages++;
    viewer.bytes += length;
    for (let offset = 0; offset + TS_PACKET_BYTES <= length; offset += TS_PACKET_BYTES) {
      const stamp = readStamp(buffer, offset);
      if (stamp === undefined) continue;
      viewer.lastSequence = stamp.sequence;
      viewer.messagesAtLastSequence = viewer.messages;
      viewer.latencies.push(arrivedAtMs - stamp.sentAtMs);
      viewer.sequences.push(stamp.sequence);
      break;
    }
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      port: { type: "string" },
      count: { type: "string", default: "1" },
      "stream-id": { type: "string", default: "play:bench/live" },
      "connect-timeout-ms": { type: "string", default: "10000" },
      seconds: { type: "string", default: "300" },
      samples: { type: "boolean", default: false },
    },
    strict: true,
  });
  const port = Number(values.port);
  const count = Number(values.count);
  const connectTimeoutMs = Number(values["connect-timeout-ms"]);
  const seconds = Number(values.seconds);
  if (!(port > 0 && count >= 1 && count <= 500 && seconds > 0 && seconds <= 600)) {
    throw new RangeError("Usage: viewers.ts --port P --count N (≤ 500) [--seconds S (≤ 600)]");
  }
  const stopAt = performance.now() + seconds * 1000;
  let stopping = false;
  Deno.addSignalListener("SIGTERM", () => stopping = true);

  startSrt();
  const viewers: Viewer[] = [];
  try {
    for (let n = 0; n < count; n++) {
      const socket = createCaller(values["stream-id"], { blocking: false, connectTimeoutMs });
      viewers.push({
        socket,
        connected: false,
        messages: 0,
        bytes: 0,
        lastSequence: -1,
        messagesAtLastSequence: 0,
        latencies: [],
        sequences: [],
      });
    }
    const times = await connectAll(viewers.map((v) => v.socket), port, connectTimeoutMs);
    viewers.forEach((viewer, n) => viewer.connected = times[n] !== null);
    let reports = 0;
    // Printed from the handler itself: the JS thread is between two reads here.
    // (Not SIGUSR1: that one opens Deno's inspector.)
    Deno.addSignalListener("SIGUSR2", () => print(reportOf(viewers, ++reports, values.samples)));
    print({
      type: "connected",
      count,
      connected: viewers.filter((viewer) => viewer.connected).length,
      connectMs: times,
    });
    const bySocket = new Map(viewers.filter((v) => v.connected).map((v) => [v.socket, v]));
    const epoll = new EpollSet(count + 8);
    for (const socket of bySocket.keys()) epoll.add(socket, SRT_EPOLL_IN | SRT_EPOLL_ERR);
    const buffer = new Uint8Array(RECEIVE_BYTES);
    try {
      while (!stopping && performance.now() < stopAt) {
        for (const { socket, events } of await epoll.wait(100)) {
          const viewer = bySocket.get(socket);
          if (viewer === undefined) continue;
          if ((events & SRT_EPOLL_IN) !== 0) drain(viewer, buffer);
          if ((events & SRT_EPOLL_ERR) !== 0) {
            epoll.remove(socket);
            viewer.connected = false;
          }
        }
      }
    } finally {
      epoll.release();
    }
    print(reportOf(viewers, ++reports, values.samples));
  } finally {
    for (const viewer of viewers) closeSocket(viewer.socket);
    libsrt().srt_cleanup();
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main());
