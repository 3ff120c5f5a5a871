/**
 * A fixed-size latency histogram: what a viewer's child measures between the
 * publisher's child receiving a message and itself sending it (the
 * server-added latency), reported as percentiles. Pure and allocation-free
 * per sample: 0.1 ms buckets up to 100 ms, 1 ms buckets from there up to
 * 2 s, and one bucket for anything later.
 *
 * @module
 */

/** Fine buckets: 0.1 ms wide, from 0 to 100 ms. */
const FINE_US = 100;
const FINE_BUCKETS = 1000;
const FINE_END_US = FINE_US * FINE_BUCKETS;
/** Coarse buckets: 1 ms wide, from 100 ms to 2 s. */
const COARSE_US = 1000;
const COARSE_BUCKETS = 1900;
const COARSE_END_US = FINE_END_US + COARSE_US * COARSE_BUCKETS;
/** The last bucket: 2 s or later. */
const OVERFLOW = FINE_BUCKETS + COARSE_BUCKETS;

/** Thresholds of {@link LatencySummary.atLeast}, in ms. */
export const LATENCY_THRESHOLDS_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000] as const;

/** Percentiles of a histogram, in milliseconds. */
export interface LatencySummary {
  samples: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /**
   * How many samples took at least each threshold (keys: ms), so that
   * summaries of many viewers add up to exact shares: "p99 ≤ 10 ms over
   * every message to every viewer" holds when at most 1 % took 10 ms or more.
   */
  atLeast: Record<string, number>;
}

/** The bucket of a latency of `us` (not negative). */
function bucketOf(us: number): number {
  if (us < FINE_END_US) return Math.floor(us / FINE_US);
  if (us < COARSE_END_US) return FINE_BUCKETS + Math.floor((us - FINE_END_US) / COARSE_US);
  return OVERFLOW;
}

/** Where `bucket` ends (exclusive), in µs; the overflow bucket has no end. */
function upperEdgeUs(bucket: number): number {
  return bucket < FINE_BUCKETS
    ? (bucket + 1) * FINE_US
    : FINE_END_US + (bucket - FINE_BUCKETS + 1) * COARSE_US;
}

/** The first bucket whose samples are all `us` or more (exact when `us` is on a bucket edge). */
function firstBucketFrom(us: number): number {
  if (us <= FINE_END_US) return Math.ceil(us / FINE_US);
  if (us <= COARSE_END_US) return FINE_BUCKETS + Math.ceil((us - FINE_END_US) / COARSE_US);
  return OVERFLOW;
}

export class LatencyHistogram {
  #counts = new Uint32Array(OVERFLOW + 1);
  #samples = 0;
  #maxUs = 0;

  /** Adds one sample; negative ones (clock noise) count as 0. */
  record(latencyUs: number): void {
    const us = latencyUs > 0 ? latencyUs : 0;
    this.#counts[bucketOf(us)]!++;
    this.#samples++;
    if (us > this.#maxUs) this.#maxUs = us;
  }

  get samples(): number {
    return this.#samples;
  }

  /**
   * The latency below which `fraction` of the samples fall, in ms: the upper
   * edge of its bucket (0.1 ms wide below 100 ms, 1 ms wide up to 2 s), so
   * it never understates; the largest sample when that is smaller, or when
   * the rank falls beyond 2 s. 0 without samples.
   */
  percentileMs(fraction: number): number {
    if (this.#samples === 0) return 0;
    const rank = Math.max(1, Math.ceil(fraction * this.#samples));
    let seen = 0;
    for (let bucket = 0; bucket <= OVERFLOW; bucket++) {
      seen += this.#counts[bucket]!;
      if (seen >= rank) {
        return bucket === OVERFLOW
          ? this.#maxUs / 1000
          : Math.min(upperEdgeUs(bucket), this.#maxUs) / 1000;
      }
    }
    return this.#maxUs / 1000;
  }

  /**
   * Samples of `ms` or more: exact for thresholds on a bucket edge (every
   * 0.1 ms up to 100 ms, every ms up to 2 s); beyond 2 s, every sample of
   * 2 s or more.
   */
  countAtLeast(ms: number): number {
    let count = 0;
    for (let bucket = firstBucketFrom(ms * 1000); bucket <= OVERFLOW; bucket++) {
      count += this.#counts[bucket]!;
    }
    return count;
  }

  summary(): LatencySummary {
    return {
      samples: this.#samples,
      p50Ms: this.percentileMs(0.5),
      p99Ms: this.percentileMs(0.99),
      maxMs: this.#maxUs / 1000,
      atLeast: Object.fromEntries(
        LATENCY_THRESHOLDS_MS.map((ms) => [String(ms), this.countAtLeast(ms)]),
      ),
    };
  }
}
