/**
 * libsrt's C structs as fixed-size buffers with their x86_64 layout.
 * `ffi/structs_test.ts` checks sizes and offsets against the installed
 * `srt.h`, so a libsrt build with another layout fails loudly.
 *
 * @module
 */

import type { CLayout } from "./libc.ts";

/**
 * `SRT_MSGCTRL`, 48 bytes: flags i32@0, msgttl i32@4, inorder i32@8,
 * boundary i32@12, srctime i64@16, pktseq i32@24, msgno i32@28,
 * grpdata ptr@32, grpdata_size u64@40.
 */
export const SRT_MSGCTRL = {
  type: "SRT_MSGCTRL",
  size: 48,
  offsets: {
    flags: 0,
    msgttl: 4,
    inorder: 8,
    boundary: 12,
    srctime: 16,
    pktseq: 24,
    msgno: 28,
    grpdata: 32,
    grpdata_size: 40,
  },
} as const satisfies CLayout;

export const SRT_MSGCTRL_SIZE = SRT_MSGCTRL.size;

/** A `SRT_MSGCTRL` holding libsrt's defaults (srt_msgctrl_default). */
export function defaultMessageControl(): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(SRT_MSGCTRL.size);
  const view = new DataView(bytes.buffer);
  view.setInt32(SRT_MSGCTRL.offsets.msgttl, -1, true); // no TTL
  view.setInt32(SRT_MSGCTRL.offsets.pktseq, -1, true); // unknown
  view.setInt32(SRT_MSGCTRL.offsets.msgno, -1, true); // unknown
  return bytes;
}

/** `SRT_EPOLL_EVENT`, 8 bytes: fd i32@0, events i32@4. */
export const SRT_EPOLL_EVENT = {
  type: "SRT_EPOLL_EVENT",
  size: 8,
  offsets: { fd: 0, events: 4 },
} as const satisfies CLayout;

export const SRT_EPOLL_EVENT_SIZE = SRT_EPOLL_EVENT.size;

/** `SRT_TRACEBSTATS` (`struct CBytePerfMon`), 496 bytes. */
export const SRT_TRACEBSTATS_SIZE = 496;

/** How a `SRT_TRACEBSTATS` field is stored: its C type's width and kind. */
export type TraceStatsType = "i32" | "i64" | "u64" | "f64";

/**
 * The `SRT_TRACEBSTATS` fields Atoll reads, with their x86_64 offsets and C
 * types (i32 `int`, i64 `int64_t`, u64 `uint64_t`, f64 `double`). Totals
 * count since the connection began; rates, RTT and bandwidth are libsrt's
 * moving estimates; buffers and windows are the current state.
 *
 * | field               | C type   | offset | meaning                                       |
 * | ------------------- | -------- | -----: | --------------------------------------------- |
 * | msTimeStamp         | int64_t  |      0 | ms since the socket started                   |
 * | pktSentTotal        | int64_t  |      8 | data packets sent, retransmissions included   |
 * | pktRecvTotal        | int64_t  |     16 | data packets received                         |
 * | pktSndLossTotal     | int      |     24 | packets the peer reported lost                |
 * | pktRcvLossTotal     | int      |     28 | packets found missing on receipt              |
 * | pktRetransTotal     | int      |     32 | packets retransmitted                         |
 * | pktRecvACKTotal     | int      |     40 | acknowledgements received                     |
 * | pktRecvNAKTotal     | int      |     48 | loss reports received                         |
 * | pktSndDropTotal     | int      |     64 | packets dropped too late to send              |
 * | pktRcvDropTotal     | int      |     68 | packets dropped too late to play              |
 * | byteSentTotal       | uint64_t |     80 | bytes sent, retransmissions included          |
 * | byteRecvTotal       | uint64_t |     88 | bytes received                                |
 * | mbpsSendRate        | double   |    184 | sending rate, Mbit/s                          |
 * | mbpsRecvRate        | double   |    192 | receiving rate, Mbit/s                        |
 * | pktRcvBelated       | int64_t  |    224 | packets that came after their time, ignored   |
 * | pktFlowWindow       | int      |    312 | peer's free receive buffer, packets (its ACK) |
 * | msRTT               | double   |    328 | smoothed round-trip time, ms                  |
 * | mbpsBandwidth       | double   |    336 | estimated link bandwidth, Mbit/s              |
 * | byteAvailSndBuf     | int      |    344 | free space in the send buffer, bytes          |
 * | byteAvailRcvBuf     | int      |    348 | free space in the receive buffer, bytes       |
 * | pktSndBuf           | int      |    364 | unacknowledged packets in the send buffer     |
 * | msSndBuf            | int      |    372 | timespan of the send buffer, ms               |
 * | pktRcvBuf           | int      |    380 | undelivered packets in the receive buffer     |
 * | msRcvBuf            | int      |    388 | timespan of the receive buffer, ms            |
 * | msRcvTsbPdDelay     | int      |    392 | receiver's TSBPD latency, ms                  |
 */
export const TRACEBSTATS_FIELDS = {
  msTimeStamp: { offset: 0, type: "i64" },
  pktSentTotal: { offset: 8, type: "i64" },
  pktRecvTotal: { offset: 16, type: "i64" },
  pktSndLossTotal: { offset: 24, type: "i32" },
  pktRcvLossTotal: { offset: 28, type: "i32" },
  pktRetransTotal: { offset: 32, type: "i32" },
  pktRecvACKTotal: { offset: 40, type: "i32" },
  pktRecvNAKTotal: { offset: 48, type: "i32" },
  pktSndDropTotal: { offset: 64, type: "i32" },
  pktRcvDropTotal: { offset: 68, type: "i32" },
  byteSentTotal: { offset: 80, type: "u64" },
  byteRecvTotal: { offset: 88, type: "u64" },
  mbpsSendRate: { offset: 184, type: "f64" },
  mbpsRecvRate: { offset: 192, type: "f64" },
  pktRcvBelated: { offset: 224, type: "i64" },
  pktFlowWindow: { offset: 312, type: "i32" },
  msRTT: { offset: 328, type: "f64" },
  mbpsBandwidth: { offset: 336, type: "f64" },
  byteAvailSndBuf: { offset: 344, type: "i32" },
  byteAvailRcvBuf: { offset: 348, type: "i32" },
  pktSndBuf: { offset: 364, type: "i32" },
  msSndBuf: { offset: 372, type: "i32" },
  pktRcvBuf: { offset: 380, type: "i32" },
  msRcvBuf: { offset: 388, type: "i32" },
  msRcvTsbPdDelay: { offset: 392, type: "i32" },
} as const satisfies Record<string, { offset: number; type: TraceStatsType }>;

export type TraceStats = { -readonly [K in keyof typeof TRACEBSTATS_FIELDS]: number };

/** Reads every field of {@link TRACEBSTATS_FIELDS} from a filled `SRT_TRACEBSTATS`. */
export function readTraceStats(bytes: Uint8Array<ArrayBuffer>): TraceStats {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Partial<TraceStats> = {};
  for (const [name, { offset, type }] of Object.entries(TRACEBSTATS_FIELDS)) {
    out[name as keyof TraceStats] = type === "i32"
      ? view.getInt32(offset, true)
      : type === "f64"
      ? view.getFloat64(offset, true)
      : type === "i64"
      ? Number(view.getBigInt64(offset, true))
      : Number(view.getBigUint64(offset, true));
  }
  return out as TraceStats;
}
