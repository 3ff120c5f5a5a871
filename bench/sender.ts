/**
 * A paced SRT sender: one live-mode caller that sends 1316-byte messages
 * (seven TS packets) at a steady rate with `srt_sendmsg2`, in batches of
 * whatever is due every 1-2 ms timer tick, for a fixed time.
 *
 *     deno run -A bench/sender.ts --port P --mbps 100 --seconds 10 --stream-id publish:bench/cpu
 *
 * libsrt is told the input rate (SRTO_MAXBW 0 = INPUTBW plus OHEADBW 25 %),
 * so it paces the batches out at up to 1.25 times the rate and never
 * throttles below it. Prints JSON lines on stdout: `connected`, then `done`
 * with what was sent and the achieved rate.
 *
 * With `--count N` it is N such callers in one process, with stream ids
 * `ID-0` to `ID-(N-1)`, each sent the same messages at the same rate (the
 * idle bench's 100 publishers at 5 Mbit/s); the `done` line sums them.
 *
 * By default every message is 1316 bytes of 0x47. With `--file PATH` (an
 * MPEG-TS file) it loops the file's 1316-byte chunks instead, and writes a
 * {@link SendStamp} into the payload of every null packet (PID 0x1FFF) it
 * sends, which players ignore, so that a receiver can tell how old a message
 * is and whether any went missing (bench/viewers.ts).
 *
 * With `--pts-log` as well, the file is looped on one continuous timeline
 * (each loop's PTS, DTS and PCR shifted by the file's duration, so a
 * remuxer such as ffmpeg sees no discontinuity), and it prints a
 * `{"type":"pts","frames":[[pts, sentAtMs], ...]}` line about every 250 ms
 * with the PTS of each video PES it sent and when (bench/http.ts: HLS drops
 * null packets, hence the stamps, but keeps the PTS).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { libsrt, SRT_EPOLL_ERR, SRT_EPOLL_OUT, SrtOption, SrtState } from "../ffi/libsrt.ts";
import { pointerTo } from "../ffi/pointer.ts";
import { defaultMessageControl, readTraceStats, SRT_TRACEBSTATS_SIZE } from "../ffi/structs.ts";
import {
  closeSocket,
  connectAsync,
  createCaller,
  EpollSet,
  setInt,
  setInt64,
  socketState,
  startSrt,
} from "./srt.ts";
import { isVideoStreamId, loopDuration, pesStartAt, shiftTimestamps } from "./ts_time.ts";

export const PAYLOAD_BYTES = 1316;
/** With `--count`, how far apart the callers start. */
const CONNECT_SPACING_MS = 100;
const TS_PACKET_BYTES = 188;
const NULL_PID = 0x1fff;
/** Marks a null packet's payload as a {@link SendStamp}: "AtollBen". */
const STAMP_MAGIC = 0x41746f6c6c42656en;

/**
 * What the sender writes after the 4-byte header of each null packet:
 * magic (u64), the send time (f64, ms on the clock of
 * `performance.timeOrigin + performance.now()`, which every process of the
 * machine shares, as Atoll's own latency figures assume), and the message's
 * number since the sender started (u32). Big-endian.
 */
export interface SendStamp {
  sentAtMs: number;
  sequence: number;
}

/** The stamp in the TS packet at `offset` of `message`, if it is a stamped null packet. */
export function readStamp(message: Uint8Array, offset: number): SendStamp | undefined {
  if (message[offset] !== 0x47) return undefined;
  if ((((message[offset + 1]! & 0x1f) << 8) | message[offset + 2]!) !== NULL_PID) return undefined;
  const view = new DataView(message.buffer, message.byteOffset + offset + 4, 20);
  if (view.getBigUint64(0) !== STAMP_MAGIC) return undefined;
  return { sentAtMs: view.getFloat64(8), sequence: view.getUint32(16) };
}

function writeStamp(message: Uint8Array, offset: number, stamp: SendStamp): void {
  const view = new DataView(message.buffer, message.byteOffset + offset + 4, 20);
  view.setBigUint64(0, STAMP_MAGIC);
  view.setFloat64(8, stamp.sentAtMs);
  view.setUint32(16, stamp.sequence);
}

/** Milliseconds on the clock {@link SendStamp} uses. */
export function sharedClockMs(): number {
  return performance.timeOrigin + performance.now();
}

/** A TS file as whole 1316-byte messages, each with the offsets of its null packets. */
interface LoopedFile {
  messages: Uint8Array[];
  nullOffsets: number[][];
  /** The whole file's bytes. */
  bytes: Uint8Array;
}

async function loadTsFile(path: string): Promise<LoopedFile> {
  const bytes = await Deno.readFile(path);
  const messages: Uint8Array[] = [];
  const nullOffsets: number[][] = [];
  for (let start = 0; start + PAYLOAD_BYTES <= bytes.byteLength; start += PAYLOAD_BYTES) {
    const message = bytes.slice(start, start + PAYLOAD_BYTES);
    const offsets: number[] = [];
    for (let offset = 0; offset < PAYLOAD_BYTES; offset += TS_PACKET_BYTES) {
      if (message[offset] !== 0x47) {
        throw new TypeError(`Cannot send "${path}": no TS sync byte at ${start + offset}`);
      }
      const pid = ((message[offset + 1]! & 0x1f) << 8) | message[offset + 2]!;
      if (pid === NULL_PID) offsets.push(offset);
    }
    messages.push(message);
    nullOffsets.push(offsets);
  }
  if (messages.length === 0) throw new TypeError(`Cannot send "${path}": shorter than a message`);
  return { messages, nullOffsets, bytes };
}
const OVERHEAD_PERCENT = 25;
/** Largest batch, so a stalled timer does not turn into one huge burst. */
const MAX_BATCH_MS = 20;

function print(message: Record<string, unknown>): void {
  console.log(JSON.stringify(message));
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      port: { type: "string" },
      mbps: { type: "string", default: "10" },
      seconds: { type: "string", default: "10" },
      "stream-id": { type: "string", default: "publish:bench/sender" },
      file: { type: "string" },
      "pts-log": { type: "boolean", default: false },
      count: { type: "string", default: "1" },
    },
    strict: true,
  });
  const port = Number(values.port);
  const mbps = Number(values.mbps);
  const seconds = Number(values.seconds);
  const count = Number(values.count);
  if (
    !(port > 0 && mbps > 0 && seconds > 0 && seconds <= 600 && Number.isInteger(count) &&
      count >= 1 && count <= 1000)
  ) {
    throw new RangeError(
      "Usage: sender.ts --port P --mbps M --seconds S (S ≤ 600) [--file TS] [--stream-id ID] [--count N ≤ 1000]",
    );
  }
  const file = values.file === undefined ? undefined : await loadTsFile(values.file);
  const ptsLog = values["pts-log"] && file !== undefined;
  const loopTicks = ptsLog ? loopDuration(file.bytes) : 0;
  let frames: [number, number][] = [];
  let framesPrintedAt = performance.now();
  let stopping = false;
  Deno.addSignalListener("SIGTERM", () => stopping = true);

  startSrt();
  const srt = libsrt();
  const bytesPerSecond = (mbps * 1e6) / 8;
  const sockets = Array.from({ length: count }, (_, n) => {
    const streamId = count === 1 ? values["stream-id"] : `${values["stream-id"]}-${n}`;
    const socket = createCaller(streamId, { blocking: false, connectTimeoutMs: 10_000 });
    setInt64(socket, SrtOption.MAXBW, 0n);
    setInt64(socket, SrtOption.INPUTBW, BigInt(Math.round(bytesPerSecond)));
    setInt(socket, SrtOption.OHEADBW, OVERHEAD_PERCENT);
    return socket;
  });
  const socket = sockets[0]!;

  const epoll = new EpollSet(count + 4);
  for (const each of sockets) epoll.add(each, SRT_EPOLL_OUT | SRT_EPOLL_ERR);
  const connectStarted = performance.now();
  // Many callers start a tenth of a second apart, slower than Atoll starts
  // children: a caller it shed (1402) is not tried again here.
  for (const [n, each] of sockets.entries()) {
    if (n > 0) await new Promise((resolve) => setTimeout(resolve, CONNECT_SPACING_MS));
    connectAsync(each, port);
  }
  const connecting = () => sockets.some((each) => socketState(each) < SrtState.CONNECTED);
  const connectDeadlineMs = 12_000 + count * CONNECT_SPACING_MS;
  while (connecting() && performance.now() - connectStarted < connectDeadlineMs) {
    await epoll.wait(100);
  }
  epoll.release();
  const notConnected = sockets.filter((each) => socketState(each) !== SrtState.CONNECTED);
  if (notConnected.length > 0) {
    print({
      type: "failed",
      state: socketState(notConnected[0]!),
      notConnected: notConnected.length,
    });
    for (const each of sockets) closeSocket(each);
    return 1;
  }
  print({ type: "connected", connectMs: performance.now() - connectStarted });

  const filler = new Uint8Array(PAYLOAD_BYTES).fill(0x47);
  let stamped = 0;
  /** The message numbered `sequence` (from 0): filler, or the file's next chunk, stamped. */
  const nextMessage = (sequence: number): Uint8Array => {
    if (file === undefined) return filler;
    const index = sequence % file.messages.length;
    let message = file.messages[index]!;
    const offsets = file.nullOffsets[index]!;
    if (ptsLog) {
      message = message.slice();
      shiftTimestamps(message, Math.floor(sequence / file.messages.length) * loopTicks);
      for (let offset = 0; offset < PAYLOAD_BYTES; offset += TS_PACKET_BYTES) {
        const pes = pesStartAt(message, offset);
        if (pes?.pts !== undefined && isVideoStreamId(pes.streamId)) {
          frames.push([pes.pts, Math.round(sharedClockMs() * 1000) / 1000]);
        }
      }
    }
    if (offsets.length > 0) stamped++;
    for (const offset of offsets) {
      writeStamp(message, offset, { sentAtMs: sharedClockMs(), sequence });
    }
    return message;
  };
  // libsrt writes the source time it used back into SRT_MSGCTRL.srctime: left
  // there, every later message would carry the first one's time, look older
  // than the latency, and be dropped by the sender (pktSndDropTotal).
  const control = defaultMessageControl();
  const controlPointer = pointerTo(control);
  const controlView = new DataView(control.buffer);
  const packetsPerMs = bytesPerSecond / PAYLOAD_BYTES / 1000;
  let sent = 0;
  let failed = 0;
  let ticks = 0;
  let largestBatch = 0;
  const started = performance.now();
  for (;;) {
    const elapsed = performance.now() - started;
    if (stopping || elapsed >= seconds * 1000) break;
    const due = Math.min(
      Math.floor(elapsed * packetsPerMs) - sent - failed,
      Math.ceil(packetsPerMs * MAX_BATCH_MS),
    );
    for (let i = 0; i < due; i++) {
      const message = nextMessage(sent + failed);
      const messagePointer = pointerTo(message);
      let ok = true;
      for (const each of sockets) {
        controlView.setBigInt64(16, 0n, true); // srctime: 0 = now
        if (srt.srt_sendmsg2(each, messagePointer, message.byteLength, controlPointer) <= 0) {
          ok = false;
        }
      }
      if (ok) sent++;
      else failed++;
    }
    ticks++;
    if (frames.length > 0 && performance.now() - framesPrintedAt >= 250) {
      print({ type: "pts", frames });
      frames = [];
      framesPrintedAt = performance.now();
    }
    largestBatch = Math.max(largestBatch, due);
    if (sockets.some((each) => socketState(each) !== SrtState.CONNECTED)) break;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const sendingSeconds = (performance.now() - started) / 1000;

  // Let libsrt deliver what it still holds before closing.
  const statsBuffer = new Uint8Array(SRT_TRACEBSTATS_SIZE);
  const readStats = () => {
    srt.srt_bstats(socket, pointerTo(statsBuffer), 0);
    return readTraceStats(statsBuffer);
  };
  const drainUntil = performance.now() + 2000;
  while (readStats().pktSndBuf > 0 && performance.now() < drainUntil) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const stats = readStats();
  const state = socketState(socket);
  for (const each of sockets) closeSocket(each);
  srt.srt_cleanup();
  print({
    type: "done",
    packets: sent,
    failedSends: failed,
    seconds: sendingSeconds,
    // Per caller: each was sent every message that counts as sent.
    achievedMbps: (sent * PAYLOAD_BYTES * 8) / sendingSeconds / 1e6,
    callers: count,
    ticks,
    meanBatch: sent / Math.max(ticks, 1),
    largestBatch,
    ...(file === undefined ? {} : { fileMessages: file.messages.length, stamped }),
    state,
    libsrt: {
      pktSentTotal: stats.pktSentTotal,
      pktRetransTotal: stats.pktRetransTotal,
      pktSndLossTotal: stats.pktSndLossTotal,
      pktSndDropTotal: stats.pktSndDropTotal,
      pktSndBufLeft: stats.pktSndBuf,
    },
  });
  return 0;
}

if (import.meta.main) Deno.exit(await main());
