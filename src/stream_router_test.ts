import assert from "node:assert/strict";
import { parseConfig } from "./config.ts";
import type { AccessDecision } from "./messages.ts";
import { type RouterHost, StreamRouter } from "./stream_router.ts";
import { SharedMapping } from "../ffi/shm.ts";
import { MessageFlags, StreamWriter } from "./stream_buffer.ts";

interface Answer {
  connectionId: string;
  decision: AccessDecision;
  bufferFd?: number;
}

/** A host that records what the router asks of the server. */
function recordingHost() {
  const answers: Answer[] = [];
  const closed: [string, string][] = [];
  const host: RouterHost = {
    answer: (connectionId, decision, bufferFd) =>
      answers.push({ connectionId, decision, ...(bufferFd === undefined ? {} : { bufferFd }) }),
    close: (connectionId, detail) => closed.push([connectionId, detail]),
    log: () => {},
  };
  return { host, answers, closed };
}

const CONFIG = parseConfig(
  [
    "playWaitMs: 1000",
    "streamDefaults: { buffer: { bytes: 65536 } }",
    "streams:",
    "  - prefix: secure",
    "    publishPassphrase: publish-secret",
    "    readPassphrase: read-secret-1",
    "    latencyMs: 300",
  ].join("\n"),
  "yaml",
  "test.yaml",
);

Deno.test("StreamRouter answers a publisher with its stream's buffer, passphrase and latency", () => {
  const { host, answers } = recordingHost();
  const router = new StreamRouter(CONFIG, host);
  try {
    router.request("p1", "#!::r=secure/cam,m=publish", 0);
    assert.equal(answers.length, 1);
    const [answer] = answers;
    assert.deepEqual(answer!.decision, {
      type: "accept",
      stream: "secure/cam",
      mode: "publish",
      bufferBytes: 65536,
      passphrase: "publish-secret",
      latencyMs: 300,
    });
    assert.ok(answer!.bufferFd !== undefined && answer!.bufferFd > 2);
    // The fd is a stream buffer a child can attach to and write.
    using mapping = SharedMapping.map(answer!.bufferFd!, 65536);
    const writer = StreamWriter.attach(mapping.buffer);
    writer.write(new Uint8Array(1316), MessageFlags.RandomAccess, 0);
    router.request("v1", "read:secure/cam", 1);
    assert.deepEqual(answers[1]!.decision, {
      type: "accept",
      stream: "secure/cam",
      mode: "play",
      bufferBytes: 65536,
      passphrase: "read-secret-1",
      latencyMs: 300,
    });
    assert.equal(answers[1]!.bufferFd, answer!.bufferFd, "one buffer per stream");
    const [stream] = router.streams(2);
    assert.equal(stream!.bytesIn, 1316);
    assert.equal(stream!.randomAccessPoints, 1);
    assert.equal(router.streamOf("v1"), "secure/cam");
  } finally {
    router.close();
  }
});

Deno.test("StreamRouter rejects a malformed stream id with 1400 and the parser's reason", () => {
  const { host, answers } = recordingHost();
  const router = new StreamRouter(CONFIG, host);
  router.request("c1", "stream:live/x", 0);
  assert.deepEqual(answers, [{
    connectionId: "c1",
    decision: {
      type: "reject",
      code: 1400,
      reason: 'Cannot parse stream id "stream:live/x": unknown mode "stream"',
    },
  }]);
  router.close();
});

Deno.test("StreamRouter answers a held viewer when its publisher arrives, or with 1404 after the wait", async () => {
  const { host, answers } = recordingHost();
  const router = new StreamRouter(parseConfig("playWaitMs: 50", "yaml", "t.yaml"), host);
  try {
    const now = performance.now();
    router.request("v1", "play:live/a", now);
    router.request("v2", "play:live/b", now);
    assert.equal(answers.length, 0, "held, not answered");
    router.request("p1", "publish:live/a", now + 1);
    assert.deepEqual(answers.map((a) => [a.connectionId, a.decision.type]), [
      ["v1", "accept"],
      ["p1", "accept"],
    ]);
    // The router's own timer answers v2 once its 50 ms are up.
    await new Promise((resolve) => setTimeout(resolve, 150));
    const last = answers.at(-1)!;
    assert.equal(last.connectionId, "v2");
    assert.deepEqual(last.decision, {
      type: "reject",
      code: 1404,
      reason: 'stream "live/b" got no publisher within 50 ms',
    });
    assert.deepEqual(router.streams().map((s) => s.name), ["live/a"]);
  } finally {
    router.close();
  }
});

Deno.test("StreamRouter closes a silent publisher that a new one replaces", () => {
  const { host, answers, closed } = recordingHost();
  const router = new StreamRouter(CONFIG, host);
  try {
    router.request("p1", "publish:live/x", 0);
    router.publisherBytes("p1", 1000, 500);
    router.request("p2", "publish:live/x", 1500);
    assert.equal(answers.at(-1)!.decision.type, "reject");
    router.request("p3", "publish:live/x", 2600);
    assert.equal(answers.at(-1)!.decision.type, "accept");
    assert.deepEqual(closed, [["p1", "replaced by a new publisher after 2100 ms without media"]]);
  } finally {
    router.close();
  }
});

Deno.test("StreamRouter keeps a stream's viewer skips when a viewer leaves", () => {
  const { host } = recordingHost();
  const router = new StreamRouter(CONFIG, host);
  try {
    router.request("p1", "publish:live/x", 0);
    router.request("v1", "play:live/x", 0);
    router.request("v2", "play:live/x", 0);
    router.viewerSkips("v1", 3);
    router.viewerSkips("v2", 1);
    assert.equal(router.streams(0)[0]!.viewerSkips, 4);
    router.release("v1", 10);
    assert.equal(router.streams(10)[0]!.viewerSkips, 4);
    assert.equal(router.streams(10)[0]!.viewers, 1);
  } finally {
    router.close();
  }
});

Deno.test("StreamRouter.endStream() closes everyone and frees the name; setConfig() applies to later requests", () => {
  const { host, answers, closed } = recordingHost();
  const router = new StreamRouter(CONFIG, host);
  try {
    router.request("p1", "publish:live/x", 0);
    router.request("v1", "play:live/x", 0);
    assert.equal(router.endStream("live/y", "ended"), false);
    assert.equal(router.endStream("live/x", "ended through the API"), true);
    assert.deepEqual(closed, [["p1", "ended through the API"], ["v1", "ended through the API"]]);
    assert.deepEqual(router.streams(), []);
    router.setConfig(parseConfig("streams: [{ prefix: live, modes: [play] }]", "yaml", "new.yaml"));
    router.request("p2", "publish:live/x", 10);
    assert.deepEqual(answers.at(-1)!.decision, {
      type: "reject",
      code: 1403,
      reason: 'publish is not allowed on stream "live/x"',
    });
  } finally {
    router.close();
  }
});
