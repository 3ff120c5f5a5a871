import assert from "node:assert/strict";
import {
  emptyLinkStats,
  type LinkStats,
  parseAccessDecision,
  parseAssignment,
  parseChildAssignment,
  parseChildMessage,
  parseParentMessage,
  parsePeerSettings,
  parseRelayAssignment,
} from "./messages.ts";

const settings = {
  latencyMs: 120,
  pbkeylen: 0,
  idleTimeoutMs: 5000,
  handshakeTimeoutMs: 5000,
  fastHandshake: true,
  decisionTimeoutMs: 15000,
};

/** What a publisher's child might report a few seconds in. */
const linkStats: LinkStats = {
  bytesReceived: 4_520_960,
  bytesSent: 51_200,
  packetsReceived: 3_324,
  packetsSent: 410,
  packetsLost: 3,
  packetsRetransmitted: 1,
  packetsDropped: 0,
  packetsBelated: 2,
  rttMs: 0.412,
  mbpsReceiveRate: 10.48,
  mbpsSendRate: 0.11,
  mbpsBandwidth: 912.5,
  sendBufferPackets: 0,
  sendBufferMs: 0,
  receiveBufferPackets: 112,
  receiveBufferMs: 118,
  flowWindowPackets: 8_080,
};

Deno.test("emptyLinkStats() has every LinkStats key, at 0", () => {
  const empty = emptyLinkStats();
  assert.deepEqual(Object.keys(empty).sort(), Object.keys(linkStats).sort());
  assert.ok(Object.values(empty).every((value) => value === 0));
});

const videoTrack = {
  pid: 256,
  kind: "video",
  codec: "H.264",
  width: 1280,
  height: 720,
  frameRate: 25,
  sampleRate: null,
  channels: null,
};
const audioTrack = {
  pid: 257,
  kind: "audio",
  codec: "AAC",
  width: null,
  height: null,
  frameRate: null,
  sampleRate: 48000,
  channels: 2,
};

Deno.test("parseChildMessage() accepts every well-formed report", () => {
  const stats = linkStats;
  const messages = [
    { type: "ready", srtVersion: 0x010501 },
    { type: "request", streamId: "#!::r=live/a,m=publish" },
    { type: "connected", streamId: "#!::r=a", mode: "play", encrypted: false, handshakeMs: 2.5 },
    { type: "stats", stats },
    {
      type: "stats",
      stats,
      viewer: {
        skips: 2,
        latency: { samples: 10, p50Ms: 1.1, p99Ms: 3.2, maxMs: 4, atLeast: { "1": 9, "10": 0 } },
      },
    },
    { type: "log", level: "warning", message: "hi" },
    { type: "closed", reason: "peer-closed", detail: "bye", stats },
    { type: "closed", reason: "handshake-timeout", detail: "late", stats: null },
    { type: "closed", reason: "broken", detail: "silent", stats: emptyLinkStats() },
    { type: "self-test", passed: true, setupMs: 3, detail: "ok" },
    { type: "tracks", tracks: [] },
    { type: "tracks", tracks: [videoTrack, audioTrack] },
  ];
  for (const message of messages) {
    assert.deepEqual(parseChildMessage(JSON.stringify(message)), message);
  }
});

Deno.test("parseChildMessage() rejects what a confused or hostile child could write", () => {
  const lines = [
    "",
    "not json",
    "[]",
    "null",
    '{"type":"unknown"}',
    '{"type":"ready"}',
    '{"type":"request"}',
    '{"type":"connected","streamId":1,"mode":"play","encrypted":false,"handshakeMs":1}',
    '{"type":"connected","streamId":"a","mode":"record","encrypted":false,"handshakeMs":1}',
    '{"type":"stats","stats":{"bytesReceived":"1"}}',
    `{"type":"stats","stats":${JSON.stringify(emptyLinkStats())},"viewer":{"skips":1}}`,
    '{"type":"log","level":"fatal","message":"x"}',
    '{"type":"closed","reason":"eaten","detail":"","stats":null}',
  ];
  for (const line of lines) assert.throws(() => parseChildMessage(line), TypeError, line);
});

Deno.test("parseChildMessage() rejects malformed or oversized track lists", () => {
  const tracks = (list: unknown) => JSON.stringify({ type: "tracks", tracks: list });
  const lines = [
    '{"type":"tracks"}',
    tracks({}),
    tracks([null]),
    tracks([{ ...videoTrack, kind: "subtitle" }]),
    tracks([{ ...videoTrack, pid: 0x2000 }]),
    tracks([{ ...videoTrack, codec: 27 }]),
    tracks([{ ...videoTrack, codec: "x".repeat(65) }]),
    tracks([{ ...videoTrack, width: "1280" }]),
    tracks([{ ...audioTrack, channels: -1 }]),
    tracks([{ ...audioTrack, sampleRate: undefined }]),
    tracks(Array.from({ length: 65 }, () => audioTrack)),
  ];
  for (const line of lines) assert.throws(() => parseChildMessage(line), TypeError, line);
});

Deno.test("parseChildMessage() rejects link stats with any key missing or not a finite number", () => {
  for (const key of Object.keys(linkStats)) {
    const { [key as keyof LinkStats]: _, ...missing } = linkStats;
    // NaN and Infinity reach the parent as null (JSON has neither).
    for (const stats of [missing, { ...linkStats, [key]: "1" }, { ...linkStats, [key]: null }]) {
      const line = JSON.stringify({ type: "stats", stats });
      assert.throws(() => parseChildMessage(line), TypeError, line);
      const closed = JSON.stringify({ type: "closed", reason: "broken", detail: "", stats });
      assert.throws(() => parseChildMessage(closed), TypeError, closed);
    }
  }
});

Deno.test("parseParentMessage() accepts shutdown only, with an optional detail", () => {
  assert.deepEqual(parseParentMessage('{"type":"shutdown"}'), { type: "shutdown" });
  assert.deepEqual(parseParentMessage('{"type":"shutdown","detail":"replaced"}'), {
    type: "shutdown",
    detail: "replaced",
  });
  assert.throws(() => parseParentMessage('{"type":"assign"}'), TypeError);
  assert.throws(() => parseParentMessage('{"type":"shutdown","detail":7}'), TypeError);
});

Deno.test("parseAccessDecision() reads accept and reject decisions", () => {
  const decisions = [
    { type: "accept", stream: "live/a", mode: "publish", bufferBytes: 4096 },
    {
      type: "accept",
      stream: "live/a",
      mode: "play",
      passphrase: "0123456789",
      latencyMs: 200,
      bufferBytes: 4096,
    },
    { type: "reject", code: 1409, reason: "taken" },
  ];
  for (const decision of decisions) {
    assert.deepEqual(parseAccessDecision(JSON.stringify(decision)), decision);
  }
});

Deno.test("parseAccessDecision() rejects malformed decisions", () => {
  const lines = [
    '{"type":"accept","stream":"a","mode":"record","bufferBytes":1}',
    '{"type":"accept","stream":"a","mode":"play","bufferBytes":0}',
    '{"type":"accept","stream":"a","mode":"play","bufferBytes":1,"latencyMs":1.5}',
    '{"type":"reject","code":"1409","reason":"x"}',
    '{"type":"maybe"}',
    "nope",
  ];
  for (const line of lines) assert.throws(() => parseAccessDecision(line), TypeError, line);
});

Deno.test("parseAssignment() checks endpoints, handshake hex and settings", () => {
  const assignment = {
    type: "assign",
    connectionId: "c1",
    local: { hostname: "0.0.0.0", port: 9000 },
    peer: { hostname: "127.0.0.1", port: 5000 },
    handshake: "80000000",
    rendezvous: false,
    settings,
  };
  assert.deepEqual(parseAssignment(JSON.stringify(assignment)), assignment);
  for (
    const broken of [
      { ...assignment, handshake: "8000000" },
      { ...assignment, handshake: "zz" },
      { ...assignment, peer: { hostname: "x", port: 70000 } },
      { ...assignment, settings: { ...settings, pbkeylen: 8 } },
      { ...assignment, settings: { ...settings, fastHandshake: "yes" } },
    ]
  ) {
    assert.throws(() => parseAssignment(JSON.stringify(broken)), TypeError);
  }
});

Deno.test("parsePeerSettings() keeps an optional passphrase", () => {
  const withPassphrase = { ...settings, passphrase: "0123456789" };
  assert.deepEqual(parsePeerSettings(JSON.stringify(withPassphrase)), withPassphrase);
  assert.throws(() => parsePeerSettings(JSON.stringify({ ...settings, passphrase: 5 })), TypeError);
});

const relay = {
  type: "relay",
  connectionId: "r1",
  direction: "pull",
  remote: {
    url: "srt://203.0.113.7:9000?streamid=live/a&passphrase=***",
    hostname: "203.0.113.7",
    port: 9000,
    streamId: "#!::r=live/a,m=request",
    passphrase: "0123456789",
    pbkeylen: 16,
    latencyMs: 200,
    connectTimeoutMs: 3000,
  },
  settings,
};

Deno.test("parseRelayAssignment() reads pulls and pushes, callers and rendezvous", () => {
  const relays = [
    relay,
    { ...relay, direction: "push" },
    {
      ...relay,
      remote: { url: "srt://[::1]:9000", hostname: "::1", port: 9000, connectTimeoutMs: 1 },
    },
    { ...relay, remote: { ...relay.remote, rendezvous: { localPort: 9001 } } },
  ];
  for (const expected of relays) {
    assert.deepEqual(parseRelayAssignment(JSON.stringify(expected)), expected);
  }
});

Deno.test("parseRelayAssignment() rejects malformed relays", () => {
  const remote = relay.remote;
  for (
    const broken of [
      { ...relay, type: "assign" },
      { ...relay, direction: "both" },
      { ...relay, connectionId: 1 },
      { ...relay, settings: { ...settings, pbkeylen: 8 } },
      { ...relay, remote: { ...remote, url: undefined } },
      { ...relay, remote: { ...remote, hostname: "" } },
      { ...relay, remote: { ...remote, port: 0 } },
      { ...relay, remote: { ...remote, port: 65536 } },
      { ...relay, remote: { ...remote, streamId: 5 } },
      { ...relay, remote: { ...remote, streamId: "x".repeat(513) } },
      { ...relay, remote: { ...remote, passphrase: null } },
      { ...relay, remote: { ...remote, pbkeylen: 20 } },
      { ...relay, remote: { ...remote, latencyMs: -1 } },
      { ...relay, remote: { ...remote, connectTimeoutMs: 0 } },
      { ...relay, remote: { ...remote, connectTimeoutMs: undefined } },
      { ...relay, remote: { ...remote, rendezvous: {} } },
      { ...relay, remote: { ...remote, rendezvous: { localPort: 70000 } } },
      { ...relay, remote: "srt://203.0.113.7:9000" },
    ]
  ) {
    assert.throws(() => parseRelayAssignment(JSON.stringify(broken)), TypeError);
  }
});

Deno.test("parseChildAssignment() tells a connection from a relay by its type", () => {
  const assignment = {
    type: "assign",
    connectionId: "c1",
    local: { hostname: "0.0.0.0", port: 9000 },
    peer: { hostname: "127.0.0.1", port: 5000 },
    handshake: "80000000",
    rendezvous: false,
    settings,
  };
  assert.deepEqual(parseChildAssignment(JSON.stringify(assignment)), assignment);
  assert.deepEqual(parseChildAssignment(JSON.stringify(relay)), relay);
  assert.throws(
    () => parseChildAssignment(JSON.stringify({ ...relay, direction: "sideways" })),
    /Invalid relay assignment/,
  );
  assert.throws(() => parseChildAssignment(JSON.stringify({ ...assignment, peer: 1 })), TypeError);
  assert.throws(() => parseChildAssignment('{"type":"other"}'), /Invalid assignment/);
});
