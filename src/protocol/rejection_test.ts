import assert from "node:assert/strict";
import { bytesFromHex as hex, hexFromBytes as toHex } from "../ipc/hex.ts";
import { classifyDatagram } from "./classify.ts";
import { HandshakeOffset, HeaderOffset } from "./packet.ts";
import { buildRejection } from "./rejection.ts";
import { IPV4, IPV4_WRONG_PASSPHRASE, IPV6 } from "./testdata/captured.ts";

/** libsrt's SRT_REJ_BADSECRET: the code its listener sent in the captured exchange. */
const SRT_REJ_BADSECRET = 10;

/** Hex of `bytes` with w2 (timestamp) and w10 (the listener's own socket id) blanked. */
function comparable(bytes: Uint8Array): string {
  const copy = bytes.slice(0, 64);
  const view = new DataView(copy.buffer);
  view.setUint32(HeaderOffset.TIMESTAMP, 0);
  view.setUint32(HandshakeOffset.SRT_SOCKET_ID, 0);
  return toHex(copy);
}

Deno.test("buildRejection() answers a conclusion as libsrt's listener refused one", () => {
  const conclusion = IPV4_WRONG_PASSPHRASE.callerConclusion;
  const libsrt = IPV4_WRONG_PASSPHRASE.listenerConclusion;
  assert.equal(classifyDatagram(libsrt).kind, "rejection");
  const ours = buildRejection(conclusion, SRT_REJ_BADSECRET);
  assert.equal(ours.length, 64);
  assert.equal(comparable(ours), comparable(libsrt));
});

const vectors: { name: string; request: string; code: number; expected: string }[] = [
  {
    name: "an HSv4 induction with 1402",
    // Header (dest 0), version 4, type/ext 2, ISN, MSS 1500, flow 8192, type 1 (induction),
    // socket id 0x04089a02, cookie 0, peer 127.0.0.1.
    request: "80000000 00000000 0000006c 00000000" +
      "00000004 00000002 5f57f2cc 000005dc 00002000 00000001 04089a02 00000000" +
      "0100007f 00000000 00000000 00000000",
    code: 1402,
    expected: "80000000 00000000 0000006c 04089a02" +
      "00000004 00000002 5f57f2cc 000005dc 00002000 00000962 00000000 00000000" +
      "0100007f 00000000 00000000 00000000",
  },
  {
    name: "an HSv5 conclusion with 1503, extensions cut",
    request: "80000000 00000000 00000621 00000000" +
      "00000005 00000003 5f57f2cc 000005dc 00002000 ffffffff 04089a02 d0bbb1cb" +
      "0100007f 00000000 00000000 00000000 00010003 00010501 000000bf 00780000",
    code: 1503,
    expected: "80000000 00000000 00000621 04089a02" +
      "00000005 00000003 5f57f2cc 000005dc 00002000 000009c7 00000000 d0bbb1cb" +
      "0100007f 00000000 00000000 00000000",
  },
];

for (const { name, request, code, expected } of vectors) {
  Deno.test(`buildRejection() refuses ${name}`, () => {
    const answer = buildRejection(hex(request.replace(/\s+/g, "")), code);
    assert.equal(toHex(answer), expected.replace(/\s+/g, ""));
    const kind = classifyDatagram(answer);
    assert.deepEqual(kind, { kind: "rejection", handshakeType: 1000 + code });
  });
}

Deno.test("buildRejection() answers real inductions over IPv4 and IPv6", () => {
  for (const exchange of [IPV4, IPV6]) {
    const induction = exchange.callerInduction;
    const answer = buildRejection(induction, 1402);
    const view = new DataView(answer.buffer);
    assert.equal(
      view.getUint32(HeaderOffset.DESTINATION_SOCKET_ID),
      new DataView(induction.buffer).getUint32(HandshakeOffset.SRT_SOCKET_ID),
    );
    assert.equal(view.getUint32(HandshakeOffset.HANDSHAKE_TYPE), 2402);
  }
});

Deno.test("buildRejection() refuses what it cannot answer", async (t) => {
  await t.step("a data packet", () => {
    assert.throws(() => buildRejection(IPV4.data, 1402), RangeError);
  });
  await t.step("a rejection", () => {
    assert.throws(() => buildRejection(IPV4_WRONG_PASSPHRASE.listenerConclusion, 1402), RangeError);
  });
  await t.step("a short handshake", () => {
    assert.throws(() => buildRejection(IPV4.callerInduction.subarray(0, 40), 1402), RangeError);
  });
  for (const code of [0, -1, 3000, 1.5]) {
    await t.step(`code ${code}`, () => {
      assert.throws(() => buildRejection(IPV4.callerInduction, code), RangeError);
    });
  }
});
