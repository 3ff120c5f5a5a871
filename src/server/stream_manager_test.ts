import assert from "node:assert/strict";
import { parseConfig } from "../config/config_file.ts";
import type { AccessDecision } from "../ipc/messages.ts";
import {
  bufferLabel,
  MAX_MEMORY_LABEL_BYTES,
  StreamManager,
  type StreamManagerHost,
} from "./stream_manager.ts";
import { createSharedMemory, SharedMapping } from "../../ffi/shm.ts";
import { MessageFlags, StreamWriter } from "../media/stream_buffer.ts";
import { sleep } from "../../tests/support/wait.ts";

interface Answer {
  connectionId: string;
  decision: AccessDecision;
  bufferFd?: number;
}

/**
 * A host that records what the stream manager asks of the server, and
 * stands in for the connection table's placements and viewer skips.
 */
function recordingHost() {
  const answers: Answer[] = [];
  const closed: [string, string][] = [];
  const placed = new Map<string, string>();
  const skips = new Map<string, number>();
  const host: StreamManagerHost = {
    answer: (connectionId, decision, bufferFd) =>
      answers.push({ connectionId, decision, ...(bufferFd === undefined ? {} : { bufferFd }) }),
    close: (connectionId, detail) => closed.push([connectionId, detail]),
    log: () => {},
    alive: () => true,
    placed: (connectionId, stream) => placed.set(connectionId, stream),
    skipsOf: (connectionId) => skips.get(connectionId) ?? 0,
    sourceOf: () => "127.0.0.1", // PEER's
  };
  return { host, answers, closed, placed, skips };
}

const PEER = "127.0.0.1:5000";

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

Deno.test("StreamManager answers a publisher with its stream's buffer, passphrase and latency", async () => {
  const { host, answers } = recordingHost();
  const router = new StreamManager(CONFIG, host);
  try {
    await router.request("p1", "#!::r=secure/cam,m=publish", PEER, () => 0);
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
    writer.countDiscarded(140);
    router.connected("p1", 0);
    await router.request("v1", "read:secure/cam", PEER, () => 1);
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
    assert.equal(stream!.bytesDiscarded, 140);
    assert.equal(router.streamOf("v1"), "secure/cam");
  } finally {
    router.close();
  }
});

Deno.test("StreamManager rejects a malformed stream id with 1400 and the parser's reason", async () => {
  const { host, answers } = recordingHost();
  const router = new StreamManager(CONFIG, host);
  await router.request("c1", "stream:live/x", PEER, () => 0);
  assert.deepEqual(answers, [{
    connectionId: "c1",
    decision: {
      type: "reject",
      code: 1400,
      reason: 'Cannot parse stream id "***": unknown mode: expected "publish:", "play:" or "read:"',
    },
  }]);
  router.close();
});

Deno.test("StreamManager answers a held viewer when its publisher arrives, or with 1404 after the wait", async () => {
  const { host, answers, placed } = recordingHost();
  const router = new StreamManager(parseConfig("playWaitMs: 50", "yaml", "t.yaml"), host);
  try {
    const now = performance.now();
    await router.request("v1", "play:live/a", PEER, () => now);
    await router.request("v2", "play:live/b", PEER, () => now);
    assert.equal(answers.length, 0, "held, not answered");
    // A held viewer is on its stream already, for the API and the log alike.
    assert.deepEqual([...placed], [["v1", "live/a"], ["v2", "live/b"]]);
    await router.request("p1", "publish:live/a", PEER, () => now + 1);
    // Held viewers go on only once the publisher is connected (libsrt accepted
    // its passphrase), not when it merely asks.
    router.connected("p1", now + 1);
    assert.deepEqual(answers.map((a) => [a.connectionId, a.decision.type]), [
      ["p1", "accept"],
      ["v1", "accept"],
    ]);
    // The stream manager's own timer answers v2 once its 50 ms are up.
    await sleep(150);
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

Deno.test("StreamManager closes a silent publisher that a new one replaces", async () => {
  const { host, answers, closed } = recordingHost();
  const router = new StreamManager(CONFIG, host);
  try {
    await router.request("p1", "publish:live/x", PEER, () => 0);
    router.connected("p1", 0);
    router.publisherActive("p1", 500);
    await router.request("p2", "publish:live/x", PEER, () => 1500);
    assert.equal(answers.at(-1)!.decision.type, "reject");
    await router.request("p3", "publish:live/x", PEER, () => 2600);
    assert.equal(answers.at(-1)!.decision.type, "accept");
    router.connected("p3", 2600);
    assert.deepEqual(closed, [["p1", "replaced by a new publisher after 2100 ms without media"]]);
  } finally {
    router.close();
  }
});

Deno.test("StreamManager keeps a stream's viewer skips when a viewer leaves", async () => {
  const { host, skips } = recordingHost();
  const router = new StreamManager(CONFIG, host);
  try {
    await router.request("p1", "publish:live/x", PEER, () => 0);
    router.connected("p1", 0);
    await router.request("v1", "play:live/x", PEER, () => 0);
    await router.request("v2", "play:live/x", PEER, () => 0);
    router.connected("v1", 0);
    router.connected("v2", 0);
    skips.set("v1", 3);
    skips.set("v2", 1);
    assert.equal(router.streams(0)[0]!.viewerSkips, 4);
    router.release("v1", 10);
    assert.equal(router.streams(10)[0]!.viewerSkips, 4);
    assert.equal(router.streams(10)[0]!.viewers, 1);
  } finally {
    router.close();
  }
});

Deno.test("StreamManager.endStream() closes everyone and frees the name; setConfig() applies to later requests", async () => {
  const { host, answers, closed } = recordingHost();
  const router = new StreamManager(CONFIG, host);
  try {
    await router.request("p1", "publish:live/x", PEER, () => 0);
    router.connected("p1", 0);
    await router.request("v1", "play:live/x", PEER, () => 0);
    assert.equal(router.endStream("live/y", "ended"), false);
    assert.equal(router.endStream("live/x", "ended through the API"), true);
    assert.deepEqual(closed, [["p1", "ended through the API"], ["v1", "ended through the API"]]);
    assert.deepEqual(router.streams(), []);
    router.setConfig(parseConfig("streams: [{ prefix: live, modes: [play] }]", "yaml", "new.yaml"));
    await router.request("p2", "publish:live/x", PEER, () => 10);
    assert.deepEqual(answers.at(-1)!.decision, {
      type: "reject",
      code: 1403,
      reason: 'publish is not allowed on stream "live/x"',
    });
  } finally {
    router.close();
  }
});

Deno.test("StreamManager tells its host each stream buffer it makes and drops, and lists them", async () => {
  const { host } = recordingHost();
  const events: string[] = [];
  const router = new StreamManager(CONFIG, {
    ...host,
    bufferCreated: (name, fd, bytes) => events.push(`created ${name} ${fd > 2} ${bytes}`),
    bufferDropped: (name) => events.push(`dropped ${name}`),
  });
  try {
    await router.request("p1", "publish:live/x", PEER, () => 0);
    router.connected("p1", 0);
    assert.deepEqual(events, ["created live/x true 65536"]);
    const [buffer] = router.buffers();
    assert.equal(buffer?.name, "live/x");
    assert.equal(buffer?.bytes, 65536);
    // The buffer a media output would map: the one the publisher writes.
    using mapping = SharedMapping.map(buffer!.fd, buffer!.bytes);
    StreamWriter.attach(mapping.buffer);
    router.endStream("live/x", "ended");
    router.release("p1", 0);
    assert.deepEqual(events, ["created live/x true 65536", "dropped live/x"]);
    assert.deepEqual(router.buffers(), []);
  } finally {
    router.close();
  }
});

Deno.test("StreamManager asks the authorization hook first and answers what it says", async () => {
  const seen: Record<string, unknown>[] = [];
  await using hook = (() => {
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (r) => {
      const body = await r.json();
      seen.push(body);
      return new Response(null, { status: body.user === "alice" ? 200 : 401 });
    });
    return { port: server.addr.port, [Symbol.asyncDispose]: () => server.shutdown() };
  })();
  const config = parseConfig(
    `authHook: { url: "http://127.0.0.1:${hook.port}/auth", timeoutMs: 2000 }`,
    "yaml",
    "hook.yaml",
  );
  const { host, answers } = recordingHost();
  let alive = true;
  const router = new StreamManager(config, { ...host, alive: () => alive });
  try {
    await router.request("p1", "#!::r=live/x,m=publish,u=alice,t=stream", PEER, () => 0);
    assert.equal(answers.at(-1)!.decision.type, "accept");
    assert.deepEqual(seen[0], {
      action: "publish",
      stream: "live/x",
      streamId: "#!::r=live/x,m=publish,u=alice,t=stream",
      user: "alice",
      password: null,
      session: null,
      params: { t: "stream" },
      query: null,
      peer: PEER,
      connectionId: "p1",
    });
    await router.request("v1", "#!::r=live/x,u=mallory", PEER, () => 0);
    const refused = answers.at(-1)!;
    assert.equal(refused.connectionId, "v1");
    assert.equal(refused.decision.type === "reject" && refused.decision.code, 1401);
    // A caller whose child died while the hook was asked gets no answer and holds nothing.
    alive = false;
    await router.request("v2", "#!::r=live/x,u=alice", PEER, () => 0);
    assert.notEqual(answers.at(-1)!.connectionId, "v2");
    assert.equal(router.streams()[0]!.viewers, 0);
  } finally {
    router.close();
  }
});

Deno.test("StreamManager gives the hook the user, password and query of MediaMTX and SRS ids, and logs none", async () => {
  const seen: Record<string, unknown>[] = [];
  await using hook = (() => {
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (r) => {
      seen.push(await r.json());
      return new Response(null, { status: 200 });
    });
    return { port: server.addr.port, [Symbol.asyncDispose]: () => server.shutdown() };
  })();
  const config = parseConfig(
    `authHook: { url: "http://127.0.0.1:${hook.port}/auth", timeoutMs: 2000 }`,
    "yaml",
    "hook.yaml",
  );
  const { host, answers } = recordingHost();
  const logged: string[] = [];
  const router = new StreamManager(config, {
    ...host,
    log: (_level, message) => logged.push(message),
  });
  try {
    await router.request("p1", "publish:live/x:alice:PASSWORD1:jwt=TOKEN1", PEER, () => 0);
    router.connected("p1", 0);
    await router.request("v1", "#!::r=live/x?secret=SECRET1,u=bob,s=SESSION1", PEER, () => 0);
    // Malformed: refused before the hook is asked.
    await router.request("v2", "read:live/x:alice:PASSWORD1:q=TOKEN1:EXTRA1", PEER, () => 0);
    assert.deepEqual(answers.map((a) => a.decision.type), ["accept", "accept", "reject"]);
    assert.deepEqual(seen, [{
      action: "publish",
      stream: "live/x",
      streamId: "publish:live/x:alice:PASSWORD1:jwt=TOKEN1",
      user: "alice",
      password: "PASSWORD1",
      session: null,
      params: { jwt: "TOKEN1" },
      query: "jwt=TOKEN1",
      peer: PEER,
      connectionId: "p1",
    }, {
      action: "play",
      stream: "live/x",
      streamId: "#!::r=live/x?secret=SECRET1,u=bob,s=SESSION1",
      user: "bob",
      password: null,
      session: "SESSION1",
      params: { secret: "SECRET1" },
      query: "secret=SECRET1",
      peer: PEER,
      connectionId: "v1",
    }]);
    const rejected = answers[2]!.decision;
    assert.equal(rejected.type === "reject" && rejected.code, 1400);
    const said = [...logged, JSON.stringify(answers.map((a) => a.decision))].join("\n");
    assert.match(
      said,
      /rejected \(1400 bad request\): Cannot parse stream id "read:live\/x:\*\*\*"/,
    );
    assert.doesNotMatch(said, /PASSWORD1|SESSION1|SECRET1|TOKEN1|EXTRA1/);
  } finally {
    router.close();
  }
});

const byteLength = (text: string) => new TextEncoder().encode(text).length;
/** A stream name of `bytes` bytes, as long as the README allows at 255. */
const nameOf = (bytes: number, last = "z") => `long/${"n".repeat(bytes - 6)}${last}`;

Deno.test("bufferLabel() is atoll: and the stream's name when the kernel takes it whole", () => {
  assert.equal(bufferLabel("live/cam1"), "atoll:live/cam1");
  const longest = nameOf(MAX_MEMORY_LABEL_BYTES - "atoll:".length);
  assert.equal(bufferLabel(longest), `atoll:${longest}`);
});

Deno.test("bufferLabel() cuts a longer name and ends it in a hash of the whole name", () => {
  for (const bytes of [MAX_MEMORY_LABEL_BYTES - "atoll:".length + 1, 255]) {
    const label = bufferLabel(nameOf(bytes));
    assert.equal(byteLength(label), MAX_MEMORY_LABEL_BYTES, `a ${bytes}-byte name`);
    assert.match(label, /^atoll:long\/n+#[0-9a-f]{8}$/);
  }
  // Names that differ only past the cut still get different labels.
  assert.notEqual(bufferLabel(nameOf(255, "y")), bufferLabel(nameOf(255, "z")));
});

Deno.test("bufferLabel() never cuts a character in two", () => {
  for (let pad = 0; pad < 4; pad++) {
    const label = bufferLabel(`${"a".repeat(pad)}${"\u00e9\u20ac\u{1f600}".repeat(40)}`);
    assert.ok(byteLength(label) <= MAX_MEMORY_LABEL_BYTES);
    assert.ok(!label.includes("\ufffd"), `cut inside a character with ${pad} bytes before`);
  }
});

Deno.test("bufferLabel() gives names memfd_create takes, up to 255-byte stream names", () => {
  // The limit is the kernel's: a label one byte longer is refused.
  assert.throws(() => createSharedMemory("x".repeat(MAX_MEMORY_LABEL_BYTES + 1), 4096));
  createSharedMemory("x".repeat(MAX_MEMORY_LABEL_BYTES), 4096).close();
  assert.throws(() => createSharedMemory(`atoll:${nameOf(255)}`, 4096), "the unshortened label");
  for (const bytes of [6, 243, 244, 255]) {
    createSharedMemory(bufferLabel(nameOf(bytes)), 4096).close();
  }
});

Deno.test("StreamManager accepts a publisher and a viewer of a 255-byte stream name (was 1500)", async () => {
  const { host, answers } = recordingHost();
  const router = new StreamManager(CONFIG, host);
  const name = nameOf(255);
  try {
    await router.request("p1", `publish:${name}`, PEER, () => 0);
    router.connected("p1", 0);
    await router.request("v1", `play:${name}`, PEER, () => 1);
    assert.deepEqual(answers.map((answer) => answer.decision.type), ["accept", "accept"]);
    assert.equal(answers[1]!.bufferFd, answers[0]!.bufferFd);
  } finally {
    router.close();
  }
});

Deno.test("StreamManager: a request not followed by a connection closes and blocks nobody", async () => {
  const { host, answers, closed } = recordingHost();
  const router = new StreamManager(CONFIG, host);
  try {
    await router.request("real", "publish:secure/cam", PEER, () => 0);
    router.connected("real", 0);
    // Silent for longer than publisherTimeoutMs: only a connected publisher may take over.
    for (let i = 0; i < 40; i++) {
      await router.request(`intruder${i}`, "publish:secure/cam", PEER, () => 3_000 + i);
      assert.equal(answers.at(-1)!.decision.type, "accept");
    }
    assert.deepEqual(closed, []);
    for (let i = 0; i < 40; i++) router.release(`intruder${i}`, 3_500);
    assert.deepEqual(closed, []);
    assert.equal(router.streams(3_500)[0]!.publisher, "real");
    // The real publisher leaves and comes back at once: nothing holds its place.
    await router.request("intruder-again", "publish:secure/cam", PEER, () => 3_600);
    router.release("real", 3_700);
    await router.request("real-again", "publish:secure/cam", PEER, () => 3_800);
    assert.equal(answers.at(-1)!.decision.type, "accept", "not 1409");
    router.connected("real-again", 3_800);
    assert.equal(router.streams(3_800)[0]!.publisher, "real-again");
  } finally {
    router.close();
  }
});

Deno.test("StreamManager closes a connection whose place is gone by the time it is up", async () => {
  const { host, answers, closed } = recordingHost();
  const config = parseConfig("streams: [{ prefix: live, maxViewers: 1 }]", "yaml", "one.yaml");
  const router = new StreamManager(config, host);
  try {
    await router.request("p1", "publish:live/x", PEER, () => 0);
    router.connected("p1", 0);
    await router.request("v1", "play:live/x", PEER, () => 1);
    await router.request("v2", "play:live/x", PEER, () => 1);
    assert.deepEqual(answers.map((a) => a.decision.type), ["accept", "accept", "accept"]);
    router.connected("v2", 2);
    router.connected("v1", 3);
    assert.deepEqual(closed, [["v1", 'stream "live/x" has its maximum of 1 viewer(s)']]);
    assert.equal(router.streams(3)[0]!.viewers, 1);
    // Its child exits later: nothing more happens.
    router.release("v1", 4);
    assert.equal(router.streams(4)[0]!.viewers, 1);
  } finally {
    router.close();
  }
});

Deno.test("StreamManager answers a held viewer once its publisher is connected, not when it asks", async () => {
  const { host, answers } = recordingHost();
  const router = new StreamManager(parseConfig("playWaitMs: 5000", "yaml", "t.yaml"), host);
  try {
    await router.request("v1", "play:live/a", PEER, () => 0);
    await router.request("p1", "publish:live/a", PEER, () => 1);
    assert.deepEqual(answers.map((a) => [a.connectionId, a.decision.type]), [["p1", "accept"]]);
    // libsrt refused p1's passphrase: v1 still waits.
    router.release("p1", 2);
    await router.request("p2", "publish:live/a", PEER, () => 3);
    router.connected("p2", 4);
    assert.deepEqual(answers.map((a) => [a.connectionId, a.decision.type]), [
      ["p1", "accept"],
      ["p2", "accept"],
      ["v1", "accept"],
    ]);
  } finally {
    router.close();
  }
});

Deno.test("StreamManager.isWaiting() holds for a held viewer until its publisher is connected", async () => {
  const { host } = recordingHost();
  const router = new StreamManager(parseConfig("playWaitMs: 60000", "yaml", "t.yaml"), host);
  try {
    const now = performance.now();
    await router.request("v1", "play:live/a", PEER, () => now);
    assert.equal(router.isWaiting("v1"), true);
    await router.request("p1", "publish:live/a", PEER, () => now + 1);
    assert.equal(router.isWaiting("p1"), false, "a publisher never waits");
    assert.equal(router.isWaiting("v1"), true, "until the publisher is connected");
    router.connected("p1", now + 1);
    assert.equal(router.isWaiting("v1"), false);
    assert.equal(router.isWaiting("unknown"), false);
  } finally {
    router.close();
  }
});

Deno.test("StreamManager keeps the current publisher's tracks and drops them with the publisher or the stream", async () => {
  const { host } = recordingHost();
  const router = new StreamManager(CONFIG, host);
  const video = {
    pid: 256,
    kind: "video" as const,
    codec: "H.264",
    width: 1280,
    height: 720,
    frameRate: 25,
    sampleRate: null,
    channels: null,
  };
  const audio = { ...video, pid: 257, kind: "audio" as const, codec: "AAC" };
  try {
    await router.request("p1", "publish:live/x", PEER, () => 0);
    router.setTracks("p1", [video]); // not up yet: no place on the stream
    assert.deepEqual(router.streams(0)[0]?.tracks, []);
    router.connected("p1", 0);
    router.publisherActive("p1", 500);
    router.setTracks("p1", [video, audio]);
    await router.request("v1", "play:live/x", PEER, () => 0);
    router.connected("v1", 0);
    router.setTracks("v1", [audio]); // a viewer's child has no say
    assert.deepEqual(router.streams(0)[0]?.tracks, [video, audio]);
    // The answer is a copy: a caller changing it changes nothing kept.
    router.streams(0)[0]!.tracks.pop();
    assert.deepEqual(router.streams(0)[0]?.tracks, [video, audio]);

    await router.request("p2", "publish:live/x", PEER, () => 2600);
    router.connected("p2", 2600);
    assert.equal(router.streams(2600)[0]?.publisher, "p2");
    assert.deepEqual(router.streams(2600)[0]?.tracks, []);
    router.setTracks("p1", [video]); // the replaced publisher, still reporting
    assert.deepEqual(router.streams(2600)[0]?.tracks, []);
    router.setTracks("p2", [audio]);
    assert.deepEqual(router.streams(2600)[0]?.tracks, [audio]);

    assert.equal(router.endStream("live/x", "ended"), true);
    await router.request("p3", "publish:live/x", PEER, () => 3000);
    router.connected("p3", 3000);
    assert.deepEqual(router.streams(3000)[0]?.tracks, []);
  } finally {
    router.close();
  }
});
