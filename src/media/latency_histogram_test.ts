import assert from "node:assert/strict";
import { LatencyHistogram } from "./latency_histogram.ts";

Deno.test("LatencyHistogram reports bucket upper edges, never below a sample", () => {
  const histogram = new LatencyHistogram();
  // 98 samples at 1.05 ms, one at 4.2 ms, one at 250 ms (beyond the last bucket).
  for (let i = 0; i < 98; i++) histogram.record(1050);
  histogram.record(4200);
  histogram.record(250_000);
  // p99 is the 99th sample, 4.2 ms, in the bucket that ends at 4.3 ms.
  assert.deepEqual(histogram.summary(), {
    samples: 100,
    p50Ms: 1.1,
    p99Ms: 4.3,
    maxMs: 250,
    atLeast: { "1": 100, "2": 2, "5": 1, "10": 1, "20": 1, "50": 1, "100": 1 },
  });
  assert.equal(histogram.percentileMs(1), 250);
});

Deno.test("LatencyHistogram is all zero without samples, and counts negative samples as 0", () => {
  const histogram = new LatencyHistogram();
  const none = { "1": 0, "2": 0, "5": 0, "10": 0, "20": 0, "50": 0, "100": 0 };
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
