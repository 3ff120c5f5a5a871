/**
 * Whether a caller whose handshake Atoll holds is still there.
 *
 * While a caller waits for an access decision, libsrt's receiver thread is
 * blocked in the listen callback and reads nothing, so the caller's
 * conclusions, retransmitted every 250 ms until its connect timeout, pile up
 * in the kernel's receive queue of the child's UDP socket. A queue that stops
 * growing means the caller gave up (docs/design.md, "Ghost viewers").
 *
 * @module
 */

/** How often a waiting libsrt caller retransmits its conclusion. */
export const CONCLUSION_RETRANSMIT_MS = 250;

/**
 * How long the queue may stay unchanged before the caller counts as gone:
 * a little under three retransmission periods, so one late or lost
 * conclusion does not condemn a caller that is still there.
 */
export const CALLER_SILENCE_MS = 700;

/** One look at the UDP socket's receive queue. */
export interface QueueSample {
  /** Monotonic milliseconds. */
  atMs: number;
  /** Bytes queued (the kernel's `rx_queue`), or null when it could not be read. */
  queuedBytes: number | null;
  /** Datagrams the kernel dropped for this socket, a full queue among them. */
  drops: number | null;
}

/** What {@link judgeCaller} concludes. */
export interface CallerJudgement {
  gone: boolean;
  /** Milliseconds since the queue was last seen to change (or since watching started). */
  silentMs: number;
}

/**
 * Judges samples taken in time order since the caller's conclusion reached
 * the listen callback. The caller is gone only when the queue was read and
 * did not change for longer than `silenceMs`; a watch shorter than that, or
 * a queue that could not be read, leaves the caller present.
 */
export function judgeCaller(
  samples: readonly QueueSample[],
  silenceMs: number = CALLER_SILENCE_MS,
): CallerJudgement {
  const first = samples[0];
  const last = samples.at(-1);
  if (first === undefined || last === undefined) return { gone: false, silentMs: 0 };
  let changedAt = first.atMs;
  for (let i = 1; i < samples.length; i++) {
    const before = samples[i - 1]!;
    const sample = samples[i]!;
    const unread = sample.queuedBytes === null || sample.drops === null;
    if (
      unread || sample.queuedBytes !== before.queuedBytes || sample.drops !== before.drops
    ) changedAt = sample.atMs;
  }
  const silentMs = last.atMs - changedAt;
  return { gone: silentMs > silenceMs, silentMs };
}

/**
 * The samples {@link judgeCaller} still needs: those from the last change
 * on. Keeps a long hold's memory bounded.
 */
export function trimSamples(samples: readonly QueueSample[]): QueueSample[] {
  let from = 0;
  for (let i = 1; i < samples.length; i++) {
    const before = samples[i - 1]!;
    const sample = samples[i]!;
    if (sample.queuedBytes !== before.queuedBytes || sample.drops !== before.drops) from = i;
  }
  return samples.slice(from);
}

/** A UDP socket's queue counters, as `/proc/net/udp` and `udp6` print them. */
export interface UdpQueue {
  queuedBytes: number;
  drops: number;
}

/**
 * Finds the socket with `inode` in the text of `/proc/net/udp` or `udp6`:
 * `rx_queue` is the hex number after the colon in the fifth column, the
 * inode the tenth column, drops the last. Undefined when no line matches.
 */
export function findUdpQueue(table: string, inode: number): UdpQueue | undefined {
  for (const line of table.split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 13 || Number(fields[9]) !== inode) continue;
    const rx = fields[4]!.split(":")[1];
    const queuedBytes = rx === undefined ? NaN : parseInt(rx, 16);
    const drops = Number(fields.at(-1));
    if (!Number.isSafeInteger(queuedBytes) || !Number.isSafeInteger(drops)) return undefined;
    return { queuedBytes, drops };
  }
  return undefined;
}
