import assert from "node:assert/strict";
import { LATENCY_THRESHOLDS_MS, LatencyHistogram } from "./latency_histogram.ts";

Deno.test("LatencyHistogram reports bucket upper edges, never below a sample", () => {
  const histogram = new LatencyHistogram();
  // 98 samples at 1.05 ms, one at 4.2 ms, one at 250 ms (in a 1 ms bucket).
  for (let i = 0; i < 98; i++) histogram.record(1050);
  histogram.record(4200);
  histogram.record(250_000);
  // p99 is the 99th sample, 4.2 ms, in the bucket that ends at 4.3 ms.
  assert.deepEqual(histogram.summary(), {
    samples: 100,
    p50Ms: 1.1,
    p99Ms: 4.3,
    maxMs: 250,
    atLeast: {
      "1": 100,
      "2": 2,
      "5": 1,
      "10": 1,
      "20": 1,
      "50": 1,
      "100": 1,
      "200": 1,
      "500": 0,
      "1000": 0,
      "2000": 0,
    },
  });
  assert.equal(histogram.percentileMs(1), 250);
});

Deno.test("LatencyHistogram is all zero without samples, and counts negative samples as 0", () => {
  const histogram = new LatencyHistogram();
  const none = Object.fromEntries(
    ["1", "2", "5", "10", "20", "50", "100", "200", "500", "1000", "2000"].map((ms) => [ms, 0]),
  );
  assert.deepEqual(histogram.summary(), {
    samples: 0,
    p50Ms: 0,
    p99Ms: 0,
    maxMs: 0,
    atLeast: none,
  });
  histogram.record(-30);
  assert.deepEqual(histogram.summary(), {
    samples: 1,
    p50Ms: 0,
    p99Ms: 0,
    maxMs: 0,
    atLeast: none,
  });
});

Deno.test("LatencyHistogram percentiles follow the samples' ranks", () => {
  const histogram = new LatencyHistogram();
  for (let ms = 1; ms <= 10; ms++) histogram.record(ms * 1000 - 50);
  assert.equal(histogram.percentileMs(0.5), 5);
  assert.equal(histogram.percentileMs(0.9), 9);
  assert.equal(histogram.percentileMs(0.99), 9.95);
});

Deno.test("LatencyHistogram.countAtLeast() counts a sample on a threshold as at least it", () => {
  const histogram = new LatencyHistogram();
  for (const us of [9_999, 10_000, 10_001, 99_999, 100_000, 400_000]) histogram.record(us);
  assert.equal(histogram.countAtLeast(10), 5);
  assert.equal(histogram.countAtLeast(100), 2);
  assert.equal(histogram.countAtLeast(0), 6);
});

Deno.test("LatencyHistogram reports a true p99 above 100 ms, to the ms", () => {
  const histogram = new LatencyHistogram();
  // 90 samples at 5 ms, 9 at 150.2 ms, one at 1.5 s: the 99th is 150.2 ms.
  for (let i = 0; i < 90; i++) histogram.record(5_000);
  for (let i = 0; i < 9; i++) histogram.record(150_200);
  histogram.record(1_500_000);
  const summary = histogram.summary();
  // 5 ms opens the bucket [5, 5.1) ms, reported by its upper edge.
  assert.equal(summary.p50Ms, 5.1);
  assert.equal(summary.p99Ms, 151);
  assert.equal(summary.maxMs, 1500);
  assert.equal(histogram.percentileMs(0.95), 151);
  assert.equal(histogram.percentileMs(1), 1500);
  assert.deepEqual(
    [summary.atLeast["100"], summary.atLeast["200"], summary.atLeast["1000"]],
    [10, 1, 1],
  );
  assert.equal(summary.atLeast["2000"], 0);
});

Deno.test("LatencyHistogram buckets meet at 100 ms and 2 s without a gap", () => {
  const histogram = new LatencyHistogram();
  for (const us of [99_999, 100_000, 100_999, 101_000, 1_999_999, 2_000_000, 3_000_000]) {
    histogram.record(us);
  }
  assert.equal(histogram.countAtLeast(100), 6);
  assert.equal(histogram.countAtLeast(101), 4);
  assert.equal(histogram.countAtLeast(1999), 3);
  assert.equal(histogram.countAtLeast(2000), 2);
  // 99.999 ms is in the last 0.1 ms bucket, [99.9, 100); 100 and 100.999 ms share [100, 101).
  assert.equal(histogram.percentileMs(1 / 7), 100);
  assert.equal(histogram.percentileMs(2 / 7), 101);
  assert.equal(histogram.percentileMs(3 / 7), 101);
  assert.equal(histogram.percentileMs(4 / 7), 102);
  assert.equal(histogram.percentileMs(5 / 7), 2000);
  // Beyond 2 s there are no buckets: the largest sample.
  assert.equal(histogram.percentileMs(6 / 7), 3000);
});

Deno.test("LatencyHistogram thresholds are all on bucket edges, in increasing order", () => {
  const histogram = new LatencyHistogram();
  const keys = Object.keys(histogram.summary().atLeast).map(Number);
  assert.deepEqual(keys, [...LATENCY_THRESHOLDS_MS]);
  for (const ms of LATENCY_THRESHOLDS_MS) {
    // A sample just below a threshold is not at least it; one on it is.
    const edge = new LatencyHistogram();
    edge.record(ms * 1000 - 1);
    edge.record(ms * 1000);
    assert.equal(edge.countAtLeast(ms), 1, `${ms} ms`);
  }
});
