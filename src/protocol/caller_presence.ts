/**
 * Whether a caller whose handshake Atoll holds is still there.
 *
 * While a caller waits for an access decision, libsrt's receiver thread is
 * blocked in the listen callback and reads nothing, so the caller's
 * retransmitted conclusions pile up in the kernel's receive queue of the
 * child's UDP socket until its connect timeout runs out. A queue that stops
 * growing means the caller gave up (docs/design.md, "Ghost viewers").
 *
 * @module
 */

/**
 * The longest gap between a waiting libsrt caller's conclusions, measured
 * on loopback with libsrt 1.5.1: a non-blocking caller (ffmpeg,
 * srt-live-transmit) sends one every 250 ms; a blocking `srt_connect` waits
 * up to 1 s for an answer before it sends again (1.1 s to the first
 * retransmission, then 1.0 s).
 */
export const CONCLUSION_RETRANSMIT_MAX_MS = 1100;

/**
 * How long the queue may stay unchanged before the caller counts as gone:
 * the longest gap with a margin for a loaded machine.
 */
export const CALLER_SILENCE_MS = 1500;

/**
 * A caller heard from this recently is there; one silent longer, but not
 * yet {@link CALLER_SILENCE_MS}, may be between two conclusions of a
 * blocking caller or gone.
 */
export const CALLER_FRESH_MS = 300;

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
  /** `present`: heard from lately; `gone`: silent too long; `unsure`: in between. */
  state: "present" | "unsure" | "gone";
  /** Milliseconds since the queue was last seen to change (or since watching started). */
  silentMs: number;
}

/** Whether the queue changed from `before` to `sample` (a queue not read counts as changed). */
export function queueChanged(before: QueueSample, sample: QueueSample): boolean {
  return sample.queuedBytes === null || sample.drops === null ||
    sample.queuedBytes !== before.queuedBytes || sample.drops !== before.drops;
}

/**
 * Judges samples taken in time order since the caller's conclusion reached
 * the listen callback (which counts as hearing from it). A queue that could
 * not be read counts as a change: the caller is then never judged gone.
 */
export function judgeCaller(
  samples: readonly QueueSample[],
  limits: { freshMs: number; silenceMs: number } = {
    freshMs: CALLER_FRESH_MS,
    silenceMs: CALLER_SILENCE_MS,
  },
): CallerJudgement {
  const first = samples[0];
  const last = samples.at(-1);
  if (first === undefined || last === undefined) return { state: "present", silentMs: 0 };
  let changedAt = first.atMs;
  for (let i = 1; i < samples.length; i++) {
    if (queueChanged(samples[i - 1]!, samples[i]!)) changedAt = samples[i]!.atMs;
  }
  const silentMs = last.atMs - changedAt;
  const state = silentMs > limits.silenceMs
    ? "gone"
    : silentMs > limits.freshMs
    ? "unsure"
    : "present";
  return { state, silentMs };
}

/**
 * The samples {@link judgeCaller} still needs: those from the last change
 * on. Keeps a long hold's memory bounded.
 */
export function trimSamples(samples: readonly QueueSample[]): QueueSample[] {
  let from = 0;
  for (let i = 1; i < samples.length; i++) {
    if (queueChanged(samples[i - 1]!, samples[i]!)) from = i;
  }
  return samples.slice(from);
}
