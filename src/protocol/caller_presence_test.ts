import assert from "node:assert/strict";
import {
  CALLER_SILENCE_MS,
  findUdpQueue,
  judgeCaller,
  type QueueSample,
  trimSamples,
} from "./caller_presence.ts";

/** Samples from `[atMs, queuedBytes, drops]` triples. */
function samples(...rows: [number, number | null, number | null][]): QueueSample[] {
  return rows.map(([atMs, queuedBytes, drops]) => ({ atMs, queuedBytes, drops }));
}

const CASES: { name: string; samples: QueueSample[]; gone: boolean; silentMs: number }[] = [
  { name: "no samples", samples: [], gone: false, silentMs: 0 },
  { name: "one sample", samples: samples([0, 0, 0]), gone: false, silentMs: 0 },
  {
    name: "a short wait without a retransmission",
    samples: samples([0, 0, 0], [100, 0, 0], [200, 0, 0], [300, 0, 0]),
    gone: false,
    silentMs: 300,
  },
  {
    name: "a caller retransmitting every 250 ms",
    samples: samples([0, 0, 0], [250, 768, 0], [500, 1536, 0], [750, 2304, 0], [1000, 3072, 0]),
    gone: false,
    silentMs: 0,
  },
  {
    name: "one conclusion lost in a steady caller",
    samples: samples([0, 0, 0], [250, 768, 0], [500, 768, 0], [750, 768, 0], [900, 1536, 0]),
    gone: false,
    silentMs: 0,
  },
  {
    name: "exactly the silence limit",
    samples: samples([0, 0, 0], [250, 768, 0], [950, 768, 0]),
    gone: false,
    silentMs: 700,
  },
  {
    name: "a caller that gave up after 3 s",
    samples: samples([0, 0, 0], [1500, 4608, 0], [3000, 9216, 0], [3500, 9216, 0], [3800, 9216, 0]),
    gone: true,
    silentMs: 800,
  },
  {
    name: "a caller that never retransmitted",
    samples: samples([0, 0, 0], [400, 0, 0], [800, 0, 0]),
    gone: true,
    silentMs: 800,
  },
  {
    name: "a full queue still dropping the caller's conclusions",
    samples: samples([0, 212_992, 3], [400, 212_992, 4], [800, 212_992, 5], [1200, 212_992, 6]),
    gone: false,
    silentMs: 0,
  },
  {
    name: "a full queue that stopped dropping",
    samples: samples([0, 212_992, 3], [400, 212_992, 4], [800, 212_992, 4], [1200, 212_992, 4]),
    gone: true,
    silentMs: 800,
  },
  {
    name: "a queue that could not be read",
    samples: samples([0, null, null], [400, null, null], [800, null, null], [1200, null, null]),
    gone: false,
    silentMs: 0,
  },
];

for (const { name, samples, gone, silentMs } of CASES) {
  Deno.test(`judgeCaller(): ${name}`, () => {
    assert.deepEqual(judgeCaller(samples), { gone, silentMs });
    assert.deepEqual(judgeCaller(trimSamples(samples)), { gone, silentMs });
  });
}

Deno.test("judgeCaller() takes another silence limit", () => {
  const quiet = samples([0, 0, 0], [500, 0, 0]);
  assert.equal(CALLER_SILENCE_MS, 700);
  assert.deepEqual(judgeCaller(quiet, 400), { gone: true, silentMs: 500 });
});

Deno.test("trimSamples() keeps the samples from the last change on", () => {
  const kept = trimSamples(samples([0, 0, 0], [250, 768, 0], [500, 768, 0], [750, 768, 0]));
  assert.deepEqual(kept, samples([250, 768, 0], [500, 768, 0], [750, 768, 0]));
});

// Lines as Linux 6.x prints them (`/proc/self/net/udp`, `udp6`).
const UDP =
  `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops            
  104: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 5512731 2 0000000000000000 0     
  107: 0100007F:1F90 0100007F:9C02 01 00000000:00002400 00:00000000 00000000  1000        0 5512999 2 0000000000000000 7     
`;
const UDP6 =
  `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  390: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:E2B6 01 00000000:00000300 00:00000000 00000000  1000        0 5513100 2 0000000000000000 0
`;

Deno.test("findUdpQueue() reads rx_queue and drops of the socket with the inode", () => {
  assert.deepEqual(findUdpQueue(UDP, 5512999), { queuedBytes: 0x2400, drops: 7 });
  assert.deepEqual(findUdpQueue(UDP, 5512731), { queuedBytes: 0, drops: 0 });
  assert.deepEqual(findUdpQueue(UDP6, 5513100), { queuedBytes: 0x300, drops: 0 });
});

Deno.test("findUdpQueue() finds nothing for another inode or a garbled line", () => {
  assert.equal(findUdpQueue(UDP, 42), undefined);
  assert.equal(findUdpQueue("", 5512999), undefined);
  assert.equal(findUdpQueue("header\n  1: a b c d e f g h i 5512999\n", 5512999), undefined);
});
