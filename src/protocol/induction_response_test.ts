import assert from "node:assert/strict";
import { bytesFromHex as hex, hexFromBytes as toHex } from "../ipc/hex.ts";
import {
  advertisedKeyLength,
  buildInductionResponse,
  type InductionResponseOptions,
  synCookie,
} from "./induction_response.ts";
import {
  type CapturedExchange,
  IPV4,
  IPV4_PASSPHRASE,
  IPV4_PBKEYLEN_32,
  IPV4_WRONG_PASSPHRASE,
  IPV6,
} from "./testdata/captured.ts";
import { HandshakeOffset, HeaderOffset } from "./packet.ts";

// Expected cookies were computed outside this code, with md5sum, taking the
// first 4 bytes of the digest as a little-endian int32, e.g.:
//   printf '127.0.0.1:5000:0' | md5sum
//   047ecde7...  ->  0xe7cd7e04  ->  -405963260
const cookieCases: { host: string; port: number; minutes: number; expected: number }[] = [
  // printf '127.0.0.1:5000:0' | md5sum           -> 047ecde7...
  { host: "127.0.0.1", port: 5000, minutes: 0, expected: -405963260 },
  // printf '127.0.0.1:5000:1' | md5sum           -> c9101a60...
  { host: "127.0.0.1", port: 5000, minutes: 1, expected: 1612320969 },
  // printf '::ffff:127.0.0.1:40000:0' | md5sum   -> bf7709f3...
  { host: "::ffff:127.0.0.1", port: 40000, minutes: 0, expected: -217483329 },
  // printf '::1:9000:0' | md5sum                 -> faba436f...
  { host: "::1", port: 9000, minutes: 0, expected: 1866709754 },
  // printf '192.168.1.20:65535:12345' | md5sum   -> c6755b7d...
  { host: "192.168.1.20", port: 65535, minutes: 12345, expected: 2103145926 },
];

for (const { host, port, minutes, expected } of cookieCases) {
  Deno.test(`synCookie() matches md5sum for "${host}:${port}:${minutes}"`, () => {
    assert.equal(synCookie(host, port, minutes), expected);
  });
}

Deno.test("synCookie() returns a signed 32-bit integer", () => {
  for (const { host, port, minutes } of cookieCases) {
    const cookie = synCookie(host, port, minutes);
    assert.equal(cookie, cookie | 0);
  }
});

/**
 * A libsrt 1.5.1 caller's induction to 127.0.0.1, captured (testdata/README.md):
 *
 *     80000000 00000000 0000006b 00000000
 *     00000004 00000002 169e0441 000005dc
 *     00002000 00000001 2322e1a4 00000000
 *     0100007f 00000000 00000000 00000000
 */
const CALLER_INDUCTION = IPV4.callerInduction;

const responseCases: {
  name: string;
  induction: Uint8Array;
  options: InductionResponseOptions;
  expected: string;
}[] = [
  {
    name: "without encryption",
    induction: CALLER_INDUCTION,
    options: { cookie: -405963260, pbkeylen: 0 },
    expected: `
      80000000 00000000 0000006b 2322e1a4
      00000005 00004a17 169e0441 000005dc
      00002000 00000001 2322e1a4 e7cd7e04
      0100007f 00000000 00000000 00000000`,
  },
  {
    name: "with a 16-byte key",
    induction: CALLER_INDUCTION,
    options: { cookie: 1612320969, pbkeylen: 16 },
    expected: `
      80000000 00000000 0000006b 2322e1a4
      00000005 00024a17 169e0441 000005dc
      00002000 00000001 2322e1a4 601a10c9
      0100007f 00000000 00000000 00000000`,
  },
  {
    name: "with a 24-byte key",
    induction: CALLER_INDUCTION,
    options: { cookie: 0, pbkeylen: 24 },
    expected: `
      80000000 00000000 0000006b 2322e1a4
      00000005 00034a17 169e0441 000005dc
      00002000 00000001 2322e1a4 00000000
      0100007f 00000000 00000000 00000000`,
  },
  {
    name: "with a 32-byte key and cookie -1",
    induction: CALLER_INDUCTION,
    options: { cookie: -1, pbkeylen: 32 },
    expected: `
      80000000 00000000 0000006b 2322e1a4
      00000005 00044a17 169e0441 000005dc
      00002000 00000001 2322e1a4 ffffffff
      0100007f 00000000 00000000 00000000`,
  },
  {
    name: "from a longer datagram, keeping only 64 bytes",
    induction: hex(`
      80000000 00000000 00000001 00000000
      00000005 00000002 00000007 000005dc
      00002000 00000001 ffffffff 00000000
      00000000 00000000 00000000 00000001
      deadbeef`),
    options: { cookie: 0x12345678, pbkeylen: 0 },
    expected: `
      80000000 00000000 00000001 ffffffff
      00000005 00004a17 00000007 000005dc
      00002000 00000001 ffffffff 12345678
      00000000 00000000 00000000 00000001`,
  },
];

for (const { name, induction, options, expected } of responseCases) {
  Deno.test(`buildInductionResponse() answers an induction ${name}`, () => {
    assert.equal(toHex(buildInductionResponse(induction, options)), expected.replace(/\s+/g, ""));
  });
}

/**
 * Real exchanges between libsrt 1.5.1 peers (testdata/README.md), with the
 * key length each listener advertised. A passphrase alone advertises 0: only
 * an explicit `pbkeylen` on the listener puts a key length in w5.
 */
const capturedCases: { name: string; exchange: CapturedExchange; pbkeylen: 0 | 16 | 24 | 32 }[] = [
  { name: "over IPv4", exchange: IPV4, pbkeylen: 0 },
  { name: "over IPv6", exchange: IPV6, pbkeylen: 0 },
  { name: "with a passphrase", exchange: IPV4_PASSPHRASE, pbkeylen: 0 },
  { name: "with a passphrase and pbkeylen 32", exchange: IPV4_PBKEYLEN_32, pbkeylen: 32 },
  { name: "before a wrong passphrase", exchange: IPV4_WRONG_PASSPHRASE, pbkeylen: 0 },
];

/** w2, the one word in which our response legitimately differs from libsrt's. */
const TIMESTAMP = { start: HeaderOffset.TIMESTAMP, end: HeaderOffset.TIMESTAMP + 4 };

function withoutTimestamp(bytes: Uint8Array): string {
  return toHex(bytes.subarray(0, TIMESTAMP.start)) + "--------" +
    toHex(bytes.subarray(TIMESTAMP.end));
}

function word(bytes: Uint8Array, offset: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getInt32(offset);
}

for (const { name, exchange, pbkeylen } of capturedCases) {
  const peer = exchange.listenerSawPeer;

  Deno.test(`synCookie() computes the cookie a real libsrt listener sent ${name}`, () => {
    const cookie = synCookie(peer.hostname, peer.port, 0);
    assert.equal(word(exchange.listenerInductionResponse, HandshakeOffset.SYN_COOKIE), cookie);
    // The caller's conclusion carries it back: libsrt accepted exactly this value.
    assert.equal(word(exchange.callerConclusion, HandshakeOffset.SYN_COOKIE), cookie);
  });

  Deno.test(`buildInductionResponse() answers a real induction ${name} as libsrt did, timestamp aside`, () => {
    const induction = exchange.callerInduction;
    const real = exchange.listenerInductionResponse;
    const ours = buildInductionResponse(induction, {
      cookie: synCookie(peer.hostname, peer.port, 0),
      pbkeylen,
    });
    assert.equal(withoutTimestamp(ours), withoutTimestamp(real));
    // libsrt stamps w2 with its own clock (microseconds since its socket
    // started); we echo the caller's, which the caller does not check.
    assert.equal(
      toHex(ours.subarray(TIMESTAMP.start, TIMESTAMP.end)),
      toHex(induction.subarray(TIMESTAMP.start, TIMESTAMP.end)),
    );
    assert.notEqual(word(real, HeaderOffset.TIMESTAMP), word(induction, HeaderOffset.TIMESTAMP));
  });
}

Deno.test("buildInductionResponse() returns a copy and leaves the induction alone", () => {
  const induction = CALLER_INDUCTION.slice();
  const response = buildInductionResponse(induction, { cookie: 7, pbkeylen: 0 });
  assert.deepEqual(induction, CALLER_INDUCTION);
  assert.notEqual(response.buffer, induction.buffer);
});

Deno.test("buildInductionResponse() reads a view at a non-zero offset within its buffer", () => {
  const backing = new Uint8Array(5 + CALLER_INDUCTION.length);
  backing.set(CALLER_INDUCTION, 5);
  const response = buildInductionResponse(backing.subarray(5), { cookie: -405963260, pbkeylen: 0 });
  assert.equal(toHex(response), responseCases[0]!.expected.replace(/\s+/g, ""));
  assert.equal(response.byteOffset, 0);
  assert.equal(response.buffer.byteLength, 64);
});

const rejectCases: { name: string; datagram: Uint8Array; message: string }[] = [
  {
    name: "a 12-byte datagram",
    datagram: CALLER_INDUCTION.slice(0, 12),
    message: "Cannot build induction response: expected a 64-byte induction, got 12 bytes",
  },
  {
    name: "a 63-byte induction",
    datagram: CALLER_INDUCTION.slice(0, 63),
    message: "Cannot build induction response: expected a 64-byte induction, got 63 bytes",
  },
  {
    name: "a wave-a-hand",
    datagram: (() => {
      const bytes = CALLER_INDUCTION.slice();
      bytes.set([0, 0, 0, 0], 36);
      return bytes;
    })(),
    message:
      "Cannot build induction response: expected an induction or a conclusion, got wave-a-hand",
  },
  {
    name: "64 bytes of data packet",
    datagram: new Uint8Array(64),
    message: "Cannot build induction response: expected an induction or a conclusion, got data",
  },
];

for (const { name, datagram, message } of rejectCases) {
  Deno.test(`buildInductionResponse() rejects ${name}`, () => {
    assert.throws(
      () => buildInductionResponse(datagram, { cookie: 0, pbkeylen: 0 }),
      { name: "RangeError", message },
    );
  });
}

Deno.test("buildInductionResponse() answers a caller's conclusion as it answers its induction, but for the timestamp", () => {
  const options = { cookie: 0x11223344, pbkeylen: 0 } as const;
  const fromConclusion = buildInductionResponse(IPV4.callerConclusion, options);
  const fromInduction = buildInductionResponse(IPV4.callerInduction, options);
  // w2 is the caller's own timestamp, which moved on between its two datagrams.
  fromConclusion.set(fromInduction.subarray(8, 12), 8);
  assert.deepEqual(fromConclusion, fromInduction);
  assert.equal(new DataView(fromConclusion.buffer).getUint32(36), 1, "w9: an induction");
});

Deno.test("advertisedKeyLength() is 0 without a passphrase and libsrt's 16 by default", () => {
  assert.equal(advertisedKeyLength(undefined, 32), 0);
  assert.equal(advertisedKeyLength("passphrase", 0), 16);
  assert.equal(advertisedKeyLength("passphrase", 24), 24);
});
