import assert from "node:assert/strict";
import {
  ADOPTION_PROTOCOL,
  childSocketPath,
  type Hello,
  parseHello,
  parseUpgradeAnswer,
  parseUpgradeRequest,
  pidOfSocketName,
  ProtocolMismatch,
  upgradeSocketPath,
} from "./adoption.ts";
import { emptyLinkStats } from "./messages.ts";

const HELLO: Hello = {
  type: "hello",
  protocol: ADOPTION_PROTOCOL,
  pid: 4242,
  stateDir: "/run/atoll/9000",
  connectionId: "2f4c0f6e-9a51-4b0e-8d7e-0c1f3b5a6d7e",
  peer: { hostname: "192.0.2.7", port: 50123 },
  local: { hostname: "0.0.0.0", port: 9000 },
  streamId: "#!::r=live/cam1,m=publish",
  mode: "publish",
  stream: "live/cam1",
  encrypted: false,
  handshakeMs: 7.5,
  connectedAt: 1_796_000_000_000,
  bufferFd: 9,
  bufferBytes: 8_388_608,
  stats: emptyLinkStats(),
  tracks: [{
    pid: 256,
    kind: "video",
    codec: "h264",
    width: 1280,
    height: 720,
    frameRate: 25,
    sampleRate: null,
    channels: null,
  }],
};

Deno.test("childSocketPath() and pidOfSocketName() name an orphan's socket by its pid", () => {
  assert.equal(childSocketPath("/run/atoll/9000", 4242), "/run/atoll/9000/children/4242.sock");
  const names: [string, number | undefined][] = [
    ["4242.sock", 4242],
    ["1.sock", 1],
    ["0.sock", undefined],
    ["042.sock", undefined],
    ["4242.sock.tmp", undefined],
    ["lock", undefined],
    ["12345678901.sock", undefined],
    ["../4242.sock", undefined],
  ];
  for (const [name, pid] of names) assert.equal(pidOfSocketName(name), pid, name);
});

Deno.test("parseHello() takes a hello as a child writes it, a viewer's too", () => {
  assert.deepEqual(parseHello(JSON.stringify(HELLO)), HELLO);
  const viewer = {
    ...HELLO,
    mode: "play",
    tracks: undefined,
    stats: null,
    viewer: { skips: 2, latency: { samples: 10, p50Ms: 1, p99Ms: 3, maxMs: 4, atLeast: {} } },
  };
  assert.deepEqual(parseHello(JSON.stringify(viewer)), JSON.parse(JSON.stringify(viewer)));
});

Deno.test("parseHello() refuses another protocol version as such, whatever the rest", () => {
  for (const protocol of [ADOPTION_PROTOCOL + 1, 0, "1", undefined]) {
    assert.throws(
      () => parseHello(JSON.stringify({ type: "hello", protocol })),
      (error: unknown) =>
        error instanceof ProtocolMismatch && error.protocol === protocol &&
        /adoption protocol/.test(error.message),
      String(protocol),
    );
  }
});

Deno.test("parseHello() refuses what is not a valid hello", () => {
  const cases: [string, string][] = [
    ["not JSON", "hello"],
    ["an array", "[]"],
    ["another message", JSON.stringify({ type: "stats" })],
    ["no pid", JSON.stringify({ ...HELLO, pid: undefined })],
    ["a negative fd", JSON.stringify({ ...HELLO, bufferFd: -1 })],
    ["an empty buffer", JSON.stringify({ ...HELLO, bufferBytes: 0 })],
    ["a bad mode", JSON.stringify({ ...HELLO, mode: "record" })],
    ["a bad peer", JSON.stringify({ ...HELLO, peer: { hostname: "x", port: 70000 } })],
    ["bad stats", JSON.stringify({ ...HELLO, stats: { bytesReceived: 1 } })],
    ["too many tracks", JSON.stringify({ ...HELLO, tracks: Array(65).fill(HELLO.tracks![0]) })],
  ];
  for (const [name, line] of cases) {
    assert.throws(() => parseHello(line), TypeError, name);
  }
});

Deno.test("parseUpgradeRequest() and parseUpgradeAnswer() take what the two main processes say, and nothing else", () => {
  const request = { type: "upgrade", protocol: ADOPTION_PROTOCOL + 1, pid: 77 };
  assert.deepEqual(
    parseUpgradeRequest(JSON.stringify(request)),
    request,
    "any protocol: the old one judges",
  );
  for (
    const bad of [
      "{}",
      "[]",
      "x",
      JSON.stringify({ type: "upgrade", pid: -1, protocol: 1 }),
      JSON.stringify({ type: "upgrade", pid: 1 }),
    ]
  ) {
    assert.throws(() => parseUpgradeRequest(bad), TypeError, bad);
  }
  const go = { type: "go", children: [12, 13] };
  assert.deepEqual(parseUpgradeAnswer(JSON.stringify(go)), go);
  const refused = { type: "refused", reason: "protocol 2, this one 1" };
  assert.deepEqual(parseUpgradeAnswer(JSON.stringify(refused)), refused);
  for (
    const bad of [
      "{}",
      JSON.stringify({ type: "go", children: [-1] }),
      JSON.stringify({ type: "refused" }),
    ]
  ) {
    assert.throws(() => parseUpgradeAnswer(bad), TypeError, bad);
  }
  assert.equal(upgradeSocketPath("/run/atoll/9000"), "/run/atoll/9000/upgrade.sock");
});
