import assert from "node:assert/strict";
import { bytesFromHex as hex } from "../ipc/hex.ts";
import { classifyDatagram, type Datagram, DATAGRAM_KINDS, startsConnection } from "./classify.ts";
import {
  IPV4,
  IPV4_PASSPHRASE,
  IPV4_RENDEZVOUS,
  IPV4_WRONG_PASSPHRASE,
  IPV6,
} from "./testdata/captured.ts";
import { SeededRandom } from "../../tests/support/random.ts";

/**
 * A libsrt 1.5.1 caller's first induction to 127.0.0.1, captured
 * (testdata/README.md): version 4, socket id 0x2322e1a4.
 */
const CALLER_INDUCTION = IPV4.callerInduction;

/** A 64-byte handshake with the given w4 (version), w9 (type) and w10 (socket id). */
function handshake(version: string, type: string, socketId = "11223344", extra = ""): Uint8Array {
  return hex(`
    80000000 00000000 00000010 00000000
    ${version} 00004a17 00000001 000005dc
    00002000 ${type} ${socketId} 00000000
    00000000 00000000 00000000 00000000
    ${extra}
  `);
}

const cases: { name: string; bytes: Uint8Array; expected: Datagram }[] = [
  {
    name: "a real caller induction",
    bytes: CALLER_INDUCTION,
    expected: { kind: "induction", version: 4, socketId: 0x2322e1a4, handshakeType: 1 },
  },
  {
    name: "a real caller induction over IPv6",
    bytes: IPV6.callerInduction,
    expected: { kind: "induction", version: 4, socketId: 0x31c42008, handshakeType: 1 },
  },
  {
    name: "a real listener's induction response as an induction with version 5",
    bytes: IPV4.listenerInductionResponse,
    expected: { kind: "induction", version: 5, socketId: 0x2322e1a4, handshakeType: 1 },
  },
  {
    name: "a real rendezvous wave-a-hand",
    bytes: IPV4_RENDEZVOUS.waveAHand,
    expected: { kind: "wave-a-hand", version: 5, socketId: 0x39bd321e, handshakeType: 0 },
  },
  {
    name: "a real caller conclusion (80 bytes)",
    bytes: IPV4.callerConclusion,
    expected: { kind: "conclusion", handshakeType: 0xffffffff },
  },
  {
    name: "a real caller conclusion with key material (140 bytes)",
    bytes: IPV4_PASSPHRASE.callerConclusion,
    expected: { kind: "conclusion", handshakeType: 0xffffffff },
  },
  {
    name: "a real listener conclusion",
    bytes: IPV4.listenerConclusion,
    expected: { kind: "conclusion", handshakeType: 0xffffffff },
  },
  {
    name: "a real listener rejection for a wrong passphrase (1000 + 10)",
    bytes: IPV4_WRONG_PASSPHRASE.listenerConclusion,
    expected: { kind: "rejection", handshakeType: 1010 },
  },
  { name: "a real data packet", bytes: IPV4.data, expected: { kind: "data" } },
  { name: "a real ACK", bytes: IPV4.ack, expected: { kind: "control", controlType: 2 } },
  { name: "a real ACKACK", bytes: IPV4.ackack, expected: { kind: "control", controlType: 6 } },
  {
    name: "a real keepalive",
    bytes: IPV4.keepalive,
    expected: { kind: "control", controlType: 1 },
  },
  {
    name: "an induction with version 5",
    bytes: handshake("00000005", "00000001"),
    expected: { kind: "induction", version: 5, socketId: 0x11223344, handshakeType: 1 },
  },
  {
    name: "an induction with version 3 as handshake-other",
    bytes: handshake("00000003", "00000001"),
    expected: { kind: "handshake-other", handshakeType: 1 },
  },
  {
    name: "an induction with version 0 as handshake-other",
    bytes: handshake("00000000", "00000001"),
    expected: { kind: "handshake-other", handshakeType: 1 },
  },
  {
    name: "a rendezvous wave-a-hand",
    bytes: handshake("00000005", "00000000", "ffffffff"),
    expected: { kind: "wave-a-hand", version: 5, socketId: 0xffffffff, handshakeType: 0 },
  },
  {
    name: "an HSv5 conclusion with extensions",
    bytes: handshake("00000005", "ffffffff", "11223344", "00010003 00010501 000000bf 00780078"),
    expected: { kind: "conclusion", handshakeType: 0xffffffff },
  },
  {
    name: "an agreement",
    bytes: handshake("00000005", "fffffffe"),
    expected: { kind: "agreement", handshakeType: 0xfffffffe },
  },
  {
    name: "a rejection at 1000",
    bytes: handshake("00000005", "000003e8"),
    expected: { kind: "rejection", handshakeType: 1000 },
  },
  {
    name: "a rejection with an access-control code (1000 + 1403)",
    bytes: handshake("00000005", "00000963"),
    expected: { kind: "rejection", handshakeType: 2403 },
  },
  {
    name: "handshake type 999 as handshake-other",
    bytes: handshake("00000005", "000003e7"),
    expected: { kind: "handshake-other", handshakeType: 999 },
  },
  {
    name: "handshake type 2 as handshake-other",
    bytes: handshake("00000004", "00000002"),
    expected: { kind: "handshake-other", handshakeType: 2 },
  },
  {
    name: "handshake type 0xfffffffd as a rejection",
    bytes: handshake("00000005", "fffffffd"),
    expected: { kind: "rejection", handshakeType: 0xfffffffd },
  },
  {
    name: "a keepalive as control type 1",
    bytes: hex("80010000 00000000 00001234 2a3b4c5d"),
    expected: { kind: "control", controlType: 1 },
  },
  {
    name: "an ACK as control type 2",
    bytes: hex("80020000 00000001 00001234 2a3b4c5d 00000010 00000000"),
    expected: { kind: "control", controlType: 2 },
  },
  {
    name: "a shutdown as control type 5",
    bytes: hex("80050000 00000000 00001234 2a3b4c5d"),
    expected: { kind: "control", controlType: 5 },
  },
  {
    name: "a user-defined control type 0x7fff with a subtype",
    bytes: hex("ffff0001 00000000 00000000 00000000"),
    expected: { kind: "control", controlType: 0x7fff },
  },
  {
    name: "a handshake word with a non-zero subtype as control",
    bytes: hex("80000001 00000000 00000000 00000000"),
    expected: { kind: "control", controlType: 0 },
  },
  {
    name: "a data packet",
    bytes: hex("00000001 e0000001 00001234 2a3b4c5d 47401000"),
    expected: { kind: "data" },
  },
  {
    name: "a 16-byte data packet",
    bytes: hex("7fffffff 00000000 00000000 00000000"),
    expected: { kind: "data" },
  },
  { name: "an empty datagram as short", bytes: hex(""), expected: { kind: "short", length: 0 } },
  {
    name: "15 bytes of a handshake header as short",
    bytes: CALLER_INDUCTION.slice(0, 15),
    expected: { kind: "short", length: 15 },
  },
  {
    name: "15 bytes of a data header as short",
    bytes: hex("00000001 00000000 00000000 000000"),
    expected: { kind: "short", length: 15 },
  },
  {
    name: "a 16-byte handshake header as short",
    bytes: CALLER_INDUCTION.slice(0, 16),
    expected: { kind: "short", length: 16 },
  },
  {
    name: "a 63-byte handshake as short",
    bytes: CALLER_INDUCTION.slice(0, 63),
    expected: { kind: "short", length: 63 },
  },
  {
    name: "a 64-byte induction (exact minimum)",
    bytes: CALLER_INDUCTION.slice(0, 64),
    expected: { kind: "induction", version: 4, socketId: 0x2322e1a4, handshakeType: 1 },
  },
];

for (const { name, bytes, expected } of cases) {
  Deno.test(`classifyDatagram() classifies ${name}`, () => {
    assert.deepEqual(classifyDatagram(bytes), expected);
  });
}

Deno.test("classifyDatagram() reads a view at a non-zero offset within its buffer", () => {
  const backing = new Uint8Array(3 + CALLER_INDUCTION.length + 5);
  backing.fill(0xee);
  backing.set(CALLER_INDUCTION, 3);
  const view = backing.subarray(3, 3 + CALLER_INDUCTION.length);
  assert.deepEqual(classifyDatagram(view), {
    kind: "induction",
    version: 4,
    socketId: 0x2322e1a4,
    handshakeType: 1,
  });
});

Deno.test("classifyDatagram() returns only kinds listed in DATAGRAM_KINDS", () => {
  for (const { bytes } of cases) {
    assert.ok(DATAGRAM_KINDS.includes(classifyDatagram(bytes).kind));
  }
});

Deno.test("DATAGRAM_KINDS lists every kind once", () => {
  assert.equal(new Set(DATAGRAM_KINDS).size, DATAGRAM_KINDS.length);
  assert.deepEqual(new Set(DATAGRAM_KINDS), new Set(cases.map((c) => c.expected.kind)));
});

Deno.test("startsConnection() is true for induction and wave-a-hand only", () => {
  const starting = new Set<string>();
  for (const { expected } of cases) {
    if (startsConnection(expected)) starting.add(expected.kind);
  }
  assert.deepEqual([...starting].sort(), ["induction", "wave-a-hand"]);
});

Deno.test("classifyDatagram() never throws on pseudo-random input", () => {
  // Seeded, so the fuzz run is the same every time.
  const seeded = new SeededRandom(0x5eed);
  const random = () => seeded.float();
  const seen = new Set<string>();
  for (let i = 0; i < 5000; i++) {
    const bytes = new Uint8Array(Math.floor(random() * 1501));
    for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(random() * 256);
    // Bias some buffers towards handshakes so the deeper branches are reached too.
    if (bytes.length >= 4 && i % 3 === 0) bytes.set([0x80, 0, 0, 0]);
    if (bytes.length >= 40 && i % 6 === 0) bytes.set([0, 0, 0, Math.floor(random() * 2)], 36);
    if (bytes.length >= 20 && i % 12 === 0) bytes.set([0, 0, 0, 4], 16);
    const datagram = classifyDatagram(bytes);
    assert.ok(DATAGRAM_KINDS.includes(datagram.kind));
    seen.add(datagram.kind);
  }
  for (const kind of ["induction", "handshake-other", "control", "data", "short"]) {
    assert.ok(seen.has(kind), `fuzzing never produced ${kind}`);
  }
});
