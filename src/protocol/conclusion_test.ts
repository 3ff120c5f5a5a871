import assert from "node:assert/strict";
import { bytesFromHex as hex } from "../ipc/hex.ts";
import { type ConclusionFacts, readConclusion } from "./conclusion.ts";
import { IPV4, IPV4_PASSPHRASE, IPV4_RENDEZVOUS, IPV6 } from "./testdata/captured.ts";
import ipv4StreamId from "./testdata/ipv4_stream_id.json" with { type: "json" };
import ipv4PassphraseStreamId from "./testdata/ipv4_passphrase_stream_id.json" with {
  type: "json",
};
import { SeededRandom } from "../../tests/support/random.ts";

/** The caller's conclusion (datagram 2) of a capture in testdata/. */
function capturedConclusion(capture: { datagrams: { direction: string; hex: string }[] }) {
  const recorded = capture.datagrams[2]!;
  assert.equal(recorded.direction, "caller->listener");
  return hex(recorded.hex);
}

/** An HSv5 conclusion's 64 bytes followed by `extensions` (hex words). */
function conclusion(extensions: string): Uint8Array {
  return hex(`
    80000000 00000000 00000010 00000000
    00000005 00000005 00000001 000005dc
    00002000 ffffffff 11223344 55667788
    0100007f 00000000 00000000 00000000
    ${extensions}
  `);
}

const HSREQ = "00010003 00010501 000000bf 00780000";

const cases: { name: string; bytes: Uint8Array; expected: ConclusionFacts | undefined }[] = [
  {
    name: "a real conclusion's SID after HSREQ, each word reversed",
    bytes: capturedConclusion(ipv4StreamId),
    expected: { streamId: "#!::r=live/cam1,m=publish", keyMaterial: false },
  },
  {
    name: "a real conclusion's SID before KMREQ, padded with zeros",
    bytes: capturedConclusion(ipv4PassphraseStreamId),
    expected: { streamId: "publish:live/cam12", keyMaterial: true },
  },
  {
    name: "a real conclusion without SID",
    bytes: IPV4.callerConclusion,
    expected: { streamId: "", keyMaterial: false },
  },
  {
    name: "a real IPv6 conclusion without SID",
    bytes: IPV6.callerConclusion,
    expected: { streamId: "", keyMaterial: false },
  },
  {
    name: "a real conclusion with key material and no SID",
    bytes: IPV4_PASSPHRASE.callerConclusion,
    expected: { streamId: "", keyMaterial: true },
  },
  {
    name: "a conclusion with no extensions",
    bytes: conclusion(""),
    expected: { streamId: "", keyMaterial: false },
  },
  {
    name: "a SID of whole words, without padding",
    bytes: conclusion(`${HSREQ} 00050002 79616c70 7461633a`),
    expected: { streamId: "play:cat", keyMaterial: false },
  },
  {
    name: "a SID cut at its first zero byte",
    bytes: conclusion(`00050002 0000696c 62626161`),
    expected: { streamId: "li", keyMaterial: false },
  },
  {
    name: "an empty SID block",
    bytes: conclusion(`00050000 ${HSREQ}`),
    expected: { streamId: "", keyMaterial: false },
  },
  { name: "a caller's induction", bytes: IPV4.callerInduction, expected: undefined },
  { name: "a wave-a-hand", bytes: IPV4_RENDEZVOUS.waveAHand, expected: undefined },
  {
    name: "an HSv4 conclusion",
    bytes: (() => {
      const bytes = IPV4.callerConclusion;
      bytes[19] = 4;
      return bytes;
    })(),
    expected: undefined,
  },
  {
    name: "a block longer than the datagram",
    bytes: conclusion("00050003 3a79616c"),
    expected: undefined,
  },
  { name: "a block header cut short", bytes: conclusion(`${HSREQ} 0005`), expected: undefined },
  {
    name: "shorter than a handshake",
    bytes: IPV4.callerConclusion.subarray(0, 63),
    expected: undefined,
  },
];

for (const { name, bytes, expected } of cases) {
  Deno.test(`readConclusion() reads ${name}`, () => {
    assert.deepEqual(readConclusion(bytes), expected);
  });
}

Deno.test("readConclusion() reads a conclusion inside a larger buffer", () => {
  const inner = capturedConclusion(ipv4StreamId);
  const outer = new Uint8Array(inner.byteLength + 16);
  outer.set(inner, 8);
  assert.equal(
    readConclusion(outer.subarray(8, 8 + inner.byteLength))?.streamId,
    "#!::r=live/cam1,m=publish",
  );
});

Deno.test("readConclusion() never throws on pseudo-random extensions", () => {
  // Seeded, so the fuzz run is the same every time.
  const random = new SeededRandom(0x51d);
  const base = capturedConclusion(ipv4StreamId).subarray(0, 64);
  const results = new Set<string>();
  for (let i = 0; i < 5000; i++) {
    const tail = random.bytes(random.uint32() % 600);
    // Small lengths and type 5 often, so that whole blocks are walked too.
    for (let j = 0; j + 4 <= tail.length; j += 4 + 4 * (tail[j + 3]! % 4)) {
      tail[j] = 0;
      tail[j + 1] = random.uint32() % 9;
      tail[j + 2] = 0;
      tail[j + 3] = tail[j + 3]! % 4;
    }
    const bytes = new Uint8Array(64 + tail.length);
    bytes.set(base);
    bytes.set(tail, 64);
    const streamId = readConclusion(bytes)?.streamId;
    assert.ok(streamId === undefined || typeof streamId === "string");
    results.add(streamId === undefined ? "undefined" : streamId === "" ? "empty" : "text");
  }
  assert.deepEqual([...results].sort(), ["empty", "text", "undefined"]);
});
