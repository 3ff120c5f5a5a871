/**
 * Who may publish or play: decisions made in the child's listen callback
 * from the stream id and the config file, seen by a real libsrt caller as
 * its rejection code (tests/testdata/srt_caller.ts reads it; ffmpeg and
 * srt-live-transmit 1.5.1 only print "Application-defined rejection reason").
 */

import assert from "node:assert/strict";
import {
  Atoll,
  ffmpegPublisher,
  srtLiveTransmitViewer,
  startWithConfig,
  tryConnect,
  waitFor,
} from "./support/mod.ts";

const PUBLISH_SECRET = "publish-secret-1";
const READ_SECRET = "read-secret-22";

Deno.test("a malformed stream id is rejected with 1400 at once", async () => {
  await using atoll = await Atoll.start();
  for (const streamId of ["bad:mode", "publish:../etc", "#!::m=publish", ""]) {
    const result = await tryConnect(atoll.srtPort, streamId);
    assert.equal(result.connected, false, streamId);
    assert.equal(result.rejectReason, 1400, `${streamId}: ${result.rejectText}`);
    assert.ok(result.ms < 1000, `${streamId}: rejected after ${result.ms} ms`);
  }
  const log = await waitFor(
    "the rejection in the log",
    () => atoll.findLog((l) => /rejected \(1400 bad request\)/.test(l.message)),
  );
  assert.match(log.message, /Cannot parse stream id/);
});

Deno.test("a second publisher of a live stream is rejected with 1409", async () => {
  await using atoll = await Atoll.start();
  await using _publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${atoll.srtPort}?streamid=publish:live/taken`,
  );
  await waitFor("the first publisher", async () => {
    const list = await atoll.connections();
    return list.some((c) => c.stream === "live/taken" && c.bytesReceived > 0);
  }, { timeoutMs: 15_000 });
  const result = await tryConnect(atoll.srtPort, "#!::m=publish,r=live/taken");
  assert.equal(result.connected, false);
  assert.equal(result.rejectReason, 1409);
  // Nothing changed for the stream's real publisher.
  const [stream] = await atoll.streams();
  assert.notEqual(stream!.publisher, null);
});

Deno.test("a viewer of a stream with no publisher waits, then gets 1404", async () => {
  await using atoll = await startWithConfig("playWaitMs: 600\n");
  const result = await tryConnect(atoll.srtPort, "play:live/nobody");
  assert.equal(result.connected, false);
  assert.equal(result.rejectReason, 1404);
  assert.ok(result.ms >= 550 && result.ms < 3000, `rejected after ${result.ms} ms`);
});

Deno.test("a waiting viewer is accepted as soon as a publisher arrives", async () => {
  await using atoll = await startWithConfig("playWaitMs: 4000\n");
  const viewer = tryConnect(atoll.srtPort, "play:live/soon", { timeoutMs: 8000 });
  await waitFor("the viewer to wait", async () => {
    const [stream] = await atoll.streams();
    return stream?.waiting === 1;
  });
  await using _publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${atoll.srtPort}?streamid=publish:live/soon`,
  );
  const result = await viewer;
  assert.equal(result.connected, true, result.rejectText);
});

Deno.test("a mode the config forbids is rejected with 1403, and maxViewers with 1402", async () => {
  await using atoll = await startWithConfig(
    [
      "streams:",
      "  - name: studio/in",
      "    modes: [publish]",
      "  - prefix: small",
      "    maxViewers: 1",
    ].join("\n"),
  );
  const forbidden = await tryConnect(atoll.srtPort, "play:studio/in");
  assert.equal(forbidden.rejectReason, 1403);
  await using _publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${atoll.srtPort}?streamid=publish:small/one`,
  );
  await waitFor("the publisher", async () => {
    const list = await atoll.connections();
    return list.some((c) => c.stream === "small/one" && c.bytesReceived > 0);
  }, { timeoutMs: 15_000 });
  const first = srtLiveTransmitViewer(atoll.srtPort, "play:small/one", "/dev/null");
  try {
    await waitFor("the first viewer", async () => {
      const [stream] = await atoll.streams();
      return stream?.viewers === 1;
    });
    const second = await tryConnect(atoll.srtPort, "play:small/one");
    assert.equal(second.rejectReason, 1402);
  } finally {
    first.kill();
    await first.exit();
  }
});

Deno.test("per-stream passphrases: the right ones connect encrypted, wrong or missing ones are refused", async () => {
  await using atoll = await startWithConfig(
    [
      "streams:",
      "  - prefix: secure",
      "    latencyMs: 700",
      `    publishPassphrase: ${PUBLISH_SECRET}`,
      `    readPassphrase: ${READ_SECRET}`,
    ].join("\n"),
  );
  const port = atoll.srtPort;
  // Publishing needs the publish passphrase; the read one does not do.
  for (const passphrase of [READ_SECRET, undefined]) {
    const refused = await tryConnect(port, "publish:secure/cam", passphrase ? { passphrase } : {});
    assert.equal(refused.connected, false, `publish with ${passphrase}`);
    // 10: "Incorrect passphrase"; 11: "Password required or unexpected".
    assert.equal(refused.rejectReason, passphrase ? 10 : 11, refused.rejectText);
    // The refused caller's child holds the stream until it sees the rejection.
    await waitFor(
      "the refused child to leave",
      async () => (await atoll.connections()).length === 0,
    );
  }
  await using _publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${port}?streamid=publish:secure/cam&passphrase=${PUBLISH_SECRET}`,
  );
  const publisher = await waitFor("the encrypted publisher", async () => {
    const list = await atoll.connections();
    return list.find((c) => c.stream === "secure/cam" && c.bytesReceived > 0);
  }, { timeoutMs: 15_000 });
  assert.equal(publisher.encrypted, true);
  // Playing needs the read passphrase.
  const wrong = await tryConnect(port, "play:secure/cam", { passphrase: PUBLISH_SECRET });
  assert.equal(wrong.connected, false);
  assert.equal(wrong.rejectReason, 10, wrong.rejectText);
  const right = await tryConnect(port, "play:secure/cam", { passphrase: READ_SECRET });
  assert.equal(right.connected, true, right.rejectText);
  // The stream's latency was set on the connection in the listen callback.
  assert.equal(right.latencyMs, 700);
});

Deno.test("an authorization hook decides each caller: 2xx accepts, 401 gives 1401, silence 1403", async () => {
  const asked: { user: string | null; action: string; stream: string }[] = [];
  const hook = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const body = await request.json();
      asked.push({ user: body.user, action: body.action, stream: body.stream });
      if (body.user === "slow") await new Promise((resolve) => setTimeout(resolve, 1500));
      return new Response(null, { status: body.user === "alice" ? 200 : 401 });
    },
  );
  try {
    await using atoll = await startWithConfig(
      `authHook: { url: "http://127.0.0.1:${hook.addr.port}/srt", timeoutMs: 300 }\n`,
    );
    const allowed = await tryConnect(atoll.srtPort, "#!::r=live/hooked,m=publish,u=alice");
    assert.equal(allowed.connected, true, allowed.rejectText);
    const refused = await tryConnect(atoll.srtPort, "#!::r=live/hooked,m=publish,u=bob");
    assert.equal(refused.rejectReason, 1401);
    const late = await tryConnect(atoll.srtPort, "#!::r=live/hooked,m=publish,u=slow");
    assert.equal(late.rejectReason, 1403);
    assert.deepEqual(asked.map((a) => a.user), ["alice", "bob", "slow"]);
    assert.deepEqual(asked[0], { user: "alice", action: "publish", stream: "live/hooked" });
    const logged = await waitFor("the hook's decisions in the log", () => {
      const lines = atoll.logs.filter((l) =>
        /^the authorization hook (allowed|refused)/.test(String(l.properties.what))
      );
      return lines.length === 3 && lines;
    });
    assert.match(
      String(logged[1]!.properties.what),
      /refused publish "live\/hooked" \(the authorization hook answered HTTP 401/,
    );
    assert.equal(logged[1]!.properties.peer !== undefined, true);
  } finally {
    await hook.shutdown();
  }
});

Deno.test("a viewer held longer than the handshake timeout still connects and stays", async () => {
  await using atoll = await startWithConfig("playWaitMs: 8000\n", ["--handshake-timeout", "1000"]);
  const viewer = tryConnect(atoll.srtPort, "play:live/patient", { timeoutMs: 10_000 });
  await waitFor("the viewer to wait", async () => {
    const [stream] = await atoll.streams();
    return stream?.waiting === 1;
  });
  // Longer than --handshake-timeout: the wait for a publisher must not count against it.
  await new Promise((resolve) => setTimeout(resolve, 2000));
  await using _publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${atoll.srtPort}?streamid=publish:live/patient`,
  );
  assert.equal((await viewer).connected, true);
  // The fixture caller closes after connecting: its child saw a connection, not a timeout.
  const closed = await waitFor(
    "the viewer's closing line",
    () =>
      atoll.findLog((l) =>
        "reason" in l.properties && l.properties.stream === "live/patient" &&
        /play:live\/patient/.test(String(l.properties.streamId))
      ),
  );
  assert.notEqual(closed.properties.reason, "handshake-timeout", String(closed.properties.detail));
});

Deno.test("a refused caller's retransmissions are not asked about again", async () => {
  // Long enough for the caller to retransmit its conclusion a few times meanwhile.
  await using atoll = await startWithConfig("playWaitMs: 1500\n");
  const refused = await tryConnect(atoll.srtPort, "play:live/ghost", { timeoutMs: 5000 });
  assert.equal(refused.rejectReason, 1404);
  // A publisher now must not find a ghost viewer from the refused caller's retries.
  await using _publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${atoll.srtPort}?streamid=publish:live/ghost`,
  );
  await waitFor(
    "the publisher",
    async () =>
      (await atoll.connections()).some((c) => c.mode === "publish" && c.bytesReceived > 0),
    { timeoutMs: 15_000 },
  );
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const [stream] = await atoll.streams();
  assert.deepEqual([stream!.viewers, stream!.waiting], [0, 0]);
  const waits = atoll.logs.filter((l) => /^waits up to/.test(String(l.properties.what)));
  assert.equal(waits.length, 1, "asked once");
});

Deno.test("SIGTERM answers held viewers with 1503 at once and exits without killing anyone", async () => {
  const atoll = await startWithConfig("playWaitMs: 10000\n");
  try {
    const viewer = tryConnect(atoll.srtPort, "play:live/never", { timeoutMs: 10_000 });
    await waitFor("the viewer to wait", async () => {
      const [stream] = await atoll.streams();
      return stream?.waiting === 1;
    });
    const started = performance.now();
    atoll.signal("SIGTERM");
    const result = await viewer;
    assert.equal(result.rejectReason, 1503, result.rejectText);
    const status = await atoll.exit();
    assert.equal(status.code, 0);
    assert.ok(performance.now() - started < 3000, "no child waited for the kill deadline");
    assert.equal(atoll.findLog((l) => /Killing/.test(l.message)), undefined);
  } finally {
    await atoll[Symbol.asyncDispose]();
  }
});

Deno.test("the API and the log name a held viewer's stream alike, while it waits and when it closes", async () => {
  await using atoll = await startWithConfig("playWaitMs: 1500\n");
  const viewer = tryConnect(atoll.srtPort, "play:live/held", { timeoutMs: 5000 });
  const held = await waitFor(
    "the held viewer in the API",
    async () => (await atoll.connections()).find((c) => c.mode === "play"),
  );
  assert.equal(held.stream, "live/held");
  const waits = await waitFor(
    "its line about waiting",
    () => atoll.findLog((l) => l.properties.id === held.id && /waits up to/.test(l.message)),
  );
  assert.equal(waits.properties.stream, "live/held");
  assert.equal((await viewer).rejectReason, 1404);
  const closed = await waitFor(
    "its closing line",
    () => atoll.findLog((l) => l.properties.id === held.id && "reason" in l.properties),
  );
  assert.equal(closed.properties.stream, "live/held");
});
