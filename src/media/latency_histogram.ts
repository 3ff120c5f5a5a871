/**
 * A fixed-size latency histogram: what a viewer's child measures between the
 * publisher's child receiving a message and itself sending it (the
 * server-added latency), reported as percentiles. Pure and allocation-free
 * per sample: 0.1 ms buckets up to 100 ms, and one bucket for anything later.
 *
 * @module
 */

const BUCKET_US = 100;
const BUCKETS = 1000;

/** Thresholds of {@link LatencySummary.atLeast}, in ms. */
export const LATENCY_THRESHOLDS_MS = [1, 2, 5, 10, 20, 50, 100] as const;

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

export class LatencyHistogram {
  #counts = new Uint32Array(BUCKETS + 1);
  #samples = 0;
  #maxUs = 0;

  /** Adds one sample; negative ones (clock noise) count as 0. */
  record(latencyUs: number): void {
    const us = latencyUs > 0 ? latencyUs : 0;
    this.#counts[Math.min(BUCKETS, Math.floor(us / BUCKET_US))]!++;
    this.#samples++;
    if (us > this.#maxUs) this.#maxUs = us;
  }

  get samples(): number {
    return this.#samples;
  }

  /**
   * The latency below which `fraction` of the samples fall, in ms: the upper
   * edge of its bucket, so it never understates. 0 without samples.
   */
  percentileMs(fraction: number): number {
    if (this.#samples === 0) return 0;
    const rank = Math.max(1, Math.ceil(fraction * this.#samples));
    let seen = 0;
    for (let bucket = 0; bucket <= BUCKETS; bucket++) {
      seen += this.#counts[bucket]!;
      if (seen >= rank) {
        return bucket === BUCKETS
          ? this.#maxUs / 1000
          : Math.min((bucket + 1) * BUCKET_US, this.#maxUs) / 1000;
      }
    }
    return this.#maxUs / 1000;
  }

  /** Samples of `ms` or more (whole ms thresholds fall on bucket edges). */
  countAtLeast(ms: number): number {
    let count = 0;
    for (
      let bucket = Math.min(BUCKETS, Math.ceil((ms * 1000) / BUCKET_US));
      bucket <= BUCKETS;
      bucket++
    ) {
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
