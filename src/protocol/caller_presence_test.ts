import assert from "node:assert/strict";
import {
  CALLER_FRESH_MS,
  CALLER_SILENCE_MS,
  CONCLUSION_RETRANSMIT_MAX_MS,
  judgeCaller,
  queueChanged,
  type QueueSample,
  trimSamples,
} from "./caller_presence.ts";

/** Samples from `[atMs, queuedBytes, drops]` triples. */
function samples(...rows: [number, number | null, number | null][]): QueueSample[] {
  return rows.map(([atMs, queuedBytes, drops]) => ({ atMs, queuedBytes, drops }));
}

type State = "present" | "unsure" | "gone";

const CASES: { name: string; samples: QueueSample[]; state: State; silentMs: number }[] = [
  { name: "no samples", samples: [], state: "present", silentMs: 0 },
  { name: "one sample", samples: samples([0, 0, 0]), state: "present", silentMs: 0 },
  {
    name: "a decision at once",
    samples: samples([0, 0, 0], [2, 0, 0]),
    state: "present",
    silentMs: 2,
  },
  {
    name: "a non-blocking caller retransmitting every 250 ms",
    samples: samples([0, 0, 0], [250, 832, 0], [500, 1664, 0], [750, 2496, 0], [1000, 3328, 0]),
    state: "present",
    silentMs: 0,
  },
  {
    name: "a blocking caller between two conclusions (1.1 s, then every 1 s)",
    samples: samples([0, 0, 0], [1100, 832, 0], [1600, 832, 0], [2000, 832, 0]),
    state: "unsure",
    silentMs: 900,
  },
  {
    name: "a blocking caller before its first retransmission",
    samples: samples([0, 0, 0], [500, 0, 0], [1000, 0, 0]),
    state: "unsure",
    silentMs: 1000,
  },
  {
    name: "exactly the silence limit",
    samples: samples([0, 0, 0], [1100, 832, 0], [2600, 832, 0]),
    state: "unsure",
    silentMs: 1500,
  },
  {
    name: "a blocking caller that gave up after 1.5 s",
    samples: samples([0, 0, 0], [1100, 832, 0], [2000, 832, 0], [2700, 832, 0]),
    state: "gone",
    silentMs: 1600,
  },
  {
    name: "a non-blocking caller that gave up after 3 s",
    samples: samples([0, 0, 0], [1500, 4992, 0], [3000, 9984, 0], [4000, 9984, 0], [4600, 9984, 0]),
    state: "gone",
    silentMs: 1600,
  },
  {
    name: "a full queue still dropping the caller's conclusions",
    samples: samples([0, 212_992, 3], [1000, 212_992, 4], [2000, 212_992, 5], [3000, 212_992, 6]),
    state: "present",
    silentMs: 0,
  },
  {
    name: "a full queue that stopped dropping",
    samples: samples([0, 212_992, 3], [1000, 212_992, 4], [2000, 212_992, 4], [3000, 212_992, 4]),
    state: "gone",
    silentMs: 2000,
  },
  {
    name: "a queue that could not be read",
    samples: samples([0, null, null], [1000, null, null], [2000, null, null], [3000, null, null]),
    state: "present",
    silentMs: 0,
  },
];

for (const { name, samples, state, silentMs } of CASES) {
  Deno.test(`judgeCaller(): ${name}`, () => {
    assert.deepEqual(judgeCaller(samples), { state, silentMs });
    assert.deepEqual(judgeCaller(trimSamples(samples)), { state, silentMs });
  });
}

Deno.test("the silence limit outlasts the longest gap between a caller's conclusions", () => {
  assert.ok(CALLER_SILENCE_MS > CONCLUSION_RETRANSMIT_MAX_MS + 250);
  assert.ok(CALLER_FRESH_MS > 250 && CALLER_FRESH_MS < CALLER_SILENCE_MS);
});

Deno.test("judgeCaller() takes other limits", () => {
  const quiet = samples([0, 0, 0], [500, 0, 0]);
  assert.deepEqual(judgeCaller(quiet, { freshMs: 100, silenceMs: 400 }), {
    state: "gone",
    silentMs: 500,
  });
  assert.deepEqual(judgeCaller(quiet, { freshMs: 100, silenceMs: 600 }), {
    state: "unsure",
    silentMs: 500,
  });
});

Deno.test("trimSamples() keeps the samples from the last change on", () => {
  const kept = trimSamples(samples([0, 0, 0], [250, 768, 0], [500, 768, 0], [750, 768, 0]));
  assert.deepEqual(kept, samples([250, 768, 0], [500, 768, 0], [750, 768, 0]));
});

Deno.test("queueChanged() sees more bytes, more drops, or a queue it could not read", () => {
  const [before, grown, dropped, same, unread] = samples(
    [0, 832, 0],
    [100, 1664, 0],
    [100, 832, 1],
    [100, 832, 0],
    [100, null, null],
  );
  assert.equal(queueChanged(before!, grown!), true);
  assert.equal(queueChanged(before!, dropped!), true);
  assert.equal(queueChanged(before!, same!), false);
  assert.equal(queueChanged(before!, unread!), true);
});
