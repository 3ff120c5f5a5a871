/**
 * Relays (issue 12) against real peers on loopback: Atoll pulls a stream
 * from an srt-live-transmit listener and pushes one to another, each relay
 * in a child of its own that calls out; an unreachable destination retries
 * with backoff and harms nobody; an origin and two edges serve one
 * publisher's stream to viewers on both edges, pulled only while watched;
 * and the edges ride out a restart of the origin's main process, and come
 * back after the whole origin was killed.
 */

import assert from "node:assert/strict";
import type { ConnectionInfo } from "../src/server/api_types.ts";
import type { RelayInfo } from "../src/server/relay_manager.ts";
import { sizeOf } from "./support/audience.ts";
import { scratchDir } from "./support/files.ts";
import {
  Atoll,
  ffmpegPublisher,
  ffmpegViewer,
  freeUdpPort,
  ManagedProcess,
  probeVideo,
  publisherOf,
  runDeno,
  srtLiveTransmitViewer,
  startWithConfig,
  waitFor,
} from "./support/mod.ts";
import { LOOPBACK_ARGS, MAIN } from "./support/atoll.ts";

const TOKEN = "relay-operator-token-0123";

/**
 * A remote SRT source: ffmpeg sends the sample in a loop, at real-time
 * speed, over UDP to srt-live-transmit, which serves it to one SRT peer as
 * `srtUri` says (a listener, or one side of a rendezvous).
 */
async function srtSource(srtUri: string): Promise<AsyncDisposable> {
  const udp = freeUdpPort();
  const relay = ManagedProcess.start("srt-live-transmit", "srt-live-transmit", [
    "-q",
    `udp://127.0.0.1:${udp}`,
    srtUri,
  ]);
  const feed = await ffmpegPublisher(`udp://127.0.0.1:${udp}?pkt_size=1316`);
  return {
    [Symbol.asyncDispose]: async () => {
      await feed[Symbol.asyncDispose]();
      await relay[Symbol.asyncDispose]();
    },
  };
}

/** srt-live-transmit as an SRT listener on `port`, writing what it receives to `path`. */
function srtLiveTransmitSink(port: number, path: string): ManagedProcess {
  return ManagedProcess.start("srt-live-transmit", "srt-live-transmit", [
    "-q",
    `srt://127.0.0.1:${port}?mode=listener`,
    "file://con",
  ], { stdout: { file: path } });
}

function relays(atoll: Atoll): Promise<RelayInfo[]> {
  return atoll.api<RelayInfo[]>("/api/relays");
}

async function relayOf(atoll: Atoll, stream: string): Promise<RelayInfo | undefined> {
  return (await relays(atoll)).find((relay) => relay.stream === stream);
}

function relayConnections(atoll: Atoll): Promise<ConnectionInfo[]> {
  return atoll.connections().then((all) => all.filter((c) => c.relay !== null));
}

/** What ffprobe decodes of `seconds` of `stream` played from `atoll` with ffmpeg. */
async function watch(atoll: Atoll, stream: string, path: string, seconds = 2) {
  await using viewer = ffmpegViewer(
    `srt://127.0.0.1:${atoll.srtPort}?streamid=#!::r=${stream},m=request`,
    path,
    seconds,
  );
  const status = await viewer.done;
  assert.equal(status.code, 0, `ffmpeg viewer of ${stream}: ${viewer.lines.join("\n")}`);
  return await probeVideo(path);
}

Deno.test("Atoll pulls a stream from an srt-live-transmit listener, and its viewers decode it", async () => {
  await using scratch = await scratchDir("atoll_pull_");
  const dir = scratch.path;
  const srt = freeUdpPort();
  await using _source = await srtSource(`srt://127.0.0.1:${srt}?mode=listener`);
  await using atoll = await startWithConfig(`
streams:
- name: venue/cam
  source: "srt://127.0.0.1:${srt}?latency=120"
  sourceMode: always
`);
  const publisher = await publisherOf(atoll, "venue/cam");
  assert.equal(publisher.relay?.direction, "pull");
  assert.equal(publisher.peer, `127.0.0.1:${srt}`);
  assert.equal(publisher.relay?.url, `srt://127.0.0.1:${srt}?latency=120`);
  assert.equal(publisher.relay?.state, "connected");
  const relay = await relayOf(atoll, "venue/cam");
  assert.equal(relay?.state, "connected");
  assert.equal(relay?.connectionId, publisher.id);
  const video = await watch(atoll, "venue/cam", `${dir}/pulled.ts`);
  assert.ok(video.frames >= 25, `decoded ${video.frames} frames: ${video.errors}`);
  assert.ok(video.firstIsKey, "the viewer starts at a key frame");
  const streams = await atoll.streams();
  assert.ok(
    streams.some((s) => s.name === "venue/cam" && s.tracks.some((t) => t.codec === "H.264")),
    "the pulled stream is inspected like a published one",
  );
  // A publisher of its own is refused: the source is the stream's only publisher.
  await using encoder = await ffmpegPublisher(
    `srt://127.0.0.1:${atoll.srtPort}?streamid=publish:venue/cam`,
  );
  await encoder.done;
  await atoll.waitForLog(
    "the encoder refused with 1403",
    (line) =>
      /rejected \(1403[^)]*\): stream "venue\/cam" is pulled from srt:\/\/127\.0\.0\.1/.test(
        String(line.properties.what),
      ),
    10_000,
  );
});

Deno.test("Atoll pushes a stream to an srt-live-transmit listener, whose recording ffprobe decodes from a key frame", async () => {
  await using scratch = await scratchDir("atoll_push_");
  const dir = scratch.path;
  const sink = freeUdpPort();
  const recording = `${dir}/pushed.ts`;
  await using _sink = srtLiveTransmitSink(sink, recording);
  await using atoll = await startWithConfig(`
streams:
- prefix: live
  push: ["srt://127.0.0.1:${sink}"]
`);
  await using _publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${atoll.srtPort}?streamid=publish:live/show`,
  );
  await publisherOf(atoll, "live/show");
  await waitFor("the destination to record 200 kB", () => sizeOf(recording) > 200_000, {
    timeoutMs: 15_000,
  });
  const [push] = await relayConnections(atoll);
  assert.equal(push?.relay?.direction, "push");
  assert.equal(push?.stream, "live/show");
  assert.equal(push?.mode, "play");
  assert.ok(push.bytesSent > 200_000, `sent ${push.bytesSent} bytes`);
  const video = await probeVideo(recording);
  assert.ok(video.frames >= 25, `decoded ${video.frames} frames: ${video.errors}`);
  assert.ok(video.firstIsKey, "the push starts at a key frame");
});

Deno.test("a push to an unreachable destination retries with backoff, logs once, and harms neither publisher nor viewer", async () => {
  await using scratch = await scratchDir("atoll_push_down_");
  const dir = scratch.path;
  const nobody = freeUdpPort();
  await using atoll = await startWithConfig(`
streams:
- name: live/main
  push: ["srt://127.0.0.1:${nobody}?connect_timeout=300"]
`);
  const port = atoll.srtPort;
  await using _publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${port}?streamid=publish:live/main`,
  );
  const publisher = await publisherOf(atoll, "live/main");
  const recording = `${dir}/viewer.ts`;
  await using _viewer = srtLiveTransmitViewer(port, "#!::r=live/main,m=request", recording);
  const failing = await waitFor("the push to fail three times", async () => {
    const relay = await relayOf(atoll, "live/main");
    return relay !== undefined && relay.retries >= 3 ? relay : undefined;
  }, { timeoutMs: 20_000 });
  assert.equal(failing.direction, "push");
  assert.match(failing.lastError ?? "", /handshake-timeout/);
  const before = sizeOf(recording);
  await waitFor("the viewer to keep receiving", () => sizeOf(recording) > before + 100_000, {
    timeoutMs: 10_000,
  });
  const now = await atoll.connections();
  assert.ok(now.some((c) => c.id === publisher.id), "the publisher is still connected");
  const warnings = atoll.logs.filter((line) =>
    line.level === "WARN" && line.properties.id === failing.id
  );
  assert.equal(warnings.length, 1, JSON.stringify(warnings));
  assert.match(String(warnings[0]?.properties.what), /handshake-timeout.*retrying in/);
  const metrics = await (await fetch(`http://127.0.0.1:${atoll.httpPort}/metrics`)).text();
  assert.match(metrics, /^atoll_relays\{direction="push",state="(retrying|connecting)"\} 1$/m);
  assert.match(metrics, /^atoll_relay_failures_total [3-9]\d*$/m);
});

Deno.test("relays are added, listed and stopped through the API, behind the token", async () => {
  await using scratch = await scratchDir("atoll_relay_api_");
  const dir = scratch.path;
  const sink = freeUdpPort();
  const recording = `${dir}/pushed.ts`;
  await using _sink = srtLiveTransmitSink(sink, recording);
  await using atoll = await Atoll.start(["--api-token", TOKEN]);
  await using _publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${atoll.srtPort}?streamid=publish:studio/a`,
  );
  await publisherOf(atoll, "studio/a");
  const url = `http://127.0.0.1:${atoll.httpPort}/api/relays`;
  const body = JSON.stringify({
    direction: "push",
    stream: "studio/a",
    url: `srt://127.0.0.1:${sink}`,
  });
  const anonymous = await fetch(url, { method: "POST", body });
  await anonymous.body?.cancel();
  assert.equal(anonymous.status, 401);
  const headers = { authorization: `Bearer ${TOKEN}` };
  const bad = await fetch(url, {
    method: "POST",
    headers,
    body: JSON.stringify({ direction: "push", stream: "studio/a", url: "srt://127.0.0.1" }),
  });
  assert.equal(bad.status, 400);
  assert.match((await bad.json()).error, /Invalid SRT URL "srt:\/\/127\.0\.0\.1": .*port/);
  const added = await fetch(url, { method: "POST", headers, body });
  assert.equal(added.status, 201);
  const relay = (await added.json()) as RelayInfo;
  await waitFor("the push to deliver", () => sizeOf(recording) > 100_000, { timeoutMs: 15_000 });
  assert.equal((await relayOf(atoll, "studio/a"))?.state, "connected");
  // A kick ends the attempt; the relay comes back by itself.
  const [push] = await relayConnections(atoll);
  const kick = await fetch(`http://127.0.0.1:${atoll.httpPort}/api/connections/${push!.id}`, {
    method: "DELETE",
    headers,
  });
  await kick.body?.cancel();
  assert.equal(kick.status, 202);
  await waitFor("the push to come back after the kick", async () => {
    const again = await relayOf(atoll, "studio/a");
    return again?.state === "connected" && again.connectionId !== push!.id;
  }, { timeoutMs: 10_000 });
  const stop = await fetch(`${url}/${encodeURIComponent(relay.id)}`, {
    method: "DELETE",
    headers,
  });
  await stop.body?.cancel();
  assert.equal(stop.status, 202);
  await waitFor("the push to go", async () => (await relayConnections(atoll)).length === 0);
  assert.deepEqual(await relays(atoll), []);
});

/** An edge that pulls every stream on demand from `origin`, lingering 1 s. */
function startEdge(origin: Atoll): Promise<Atoll> {
  return startWithConfig(`
streamDefaults:
  source: "srt://127.0.0.1:${origin.srtPort}?streamid=#!::r={name},m=request"
  sourceLingerMs: 1000
`);
}

Deno.test("an origin and two edges: viewers on both edges decode one publisher's stream, pulled only while watched", async () => {
  await using scratch = await scratchDir("atoll_edges_");
  const dir = scratch.path;
  await using origin = await Atoll.start();
  await using edgeA = await startEdge(origin);
  await using edgeB = await startEdge(origin);
  await using _publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${origin.srtPort}?streamid=publish:live/show`,
  );
  await publisherOf(origin, "live/show");
  assert.equal((await origin.connections()).length, 1, "nobody pulls before a viewer comes");
  const [onA, onB] = await Promise.all([
    watch(edgeA, "live/show", `${dir}/a.ts`, 3),
    watch(edgeB, "live/show", `${dir}/b.ts`, 3),
  ]);
  for (const [edge, video] of [["A", onA], ["B", onB]] as const) {
    assert.ok(
      video.frames >= 40,
      `edge ${edge}: decoded ${video.frames} frames: ${video.errors}`,
    );
    assert.ok(video.firstIsKey, `edge ${edge}: starts at a key frame`);
  }
  // The viewers left: after the linger, each edge lets go of the origin.
  await waitFor(
    "the edges to stop pulling",
    async () =>
      (await origin.connections()).length === 1 &&
      (await relayConnections(edgeA)).length === 0 &&
      (await relayConnections(edgeB)).length === 0,
    {
      timeoutMs: 10_000,
    },
  );
  assert.ok(
    edgeA.logs.some((line) =>
      /nobody watched stream "live\/show" for 1000 ms/.test(String(line.properties.what))
    ),
  );
});

Deno.test("an HTTP-TS request to an edge starts its on-demand pull, HTTP clients hold it, and it stops after they left", async () => {
  await using scratch = await scratchDir("atoll_http_demand_");
  await using origin = await Atoll.start();
  // A demand holds the pull for the play wait + 4 s by itself: 5 s here, so the clients' hold shows.
  await using edge = await startWithConfig(`
playWaitMs: 1000
streamDefaults:
  source: "srt://127.0.0.1:${origin.srtPort}?streamid=#!::r={name},m=request"
  sourceLingerMs: 1000
`);
  await using _publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${origin.srtPort}?streamid=publish:live/show`,
  );
  await publisherOf(origin, "live/show");
  // A stream nothing pulls (the origin has no source rule) is 404 at once, as before.
  const started = performance.now();
  const unknown = await origin.media("/live/nobody.ts");
  await unknown.body?.cancel();
  assert.equal(unknown.status, 404);
  assert.ok(performance.now() - started < 1000, "not held");

  const path = `${scratch.path}/http.ts`;
  const asked = performance.now();
  await using viewer = ffmpegViewer(`http://127.0.0.1:${edge.mediaPort}/live/show.ts`, path, 3);
  await waitFor(
    "the edge to pull for its HTTP viewer",
    async () => (await relayOf(edge, "live/show"))?.state === "connected",
  );
  assert.deepEqual(
    (await edge.connections()).filter((connection) => connection.relay === null),
    [],
    "no SRT viewer anywhere",
  );
  // A second client, which reads until told to stop.
  const stop = new AbortController();
  const second = await edge.media("/live/show.ts", { signal: stop.signal });
  assert.equal(second.status, 200);
  const reading = second.body!.pipeTo(new WritableStream()).catch(() => {});
  const status = await viewer.done;
  assert.equal(status.code, 0, `ffmpeg over HTTP-TS: ${viewer.lines.join("\n")}`);
  const video = await probeVideo(path);
  assert.ok(video.frames >= 40, `decoded ${video.frames} frames: ${video.errors}`);
  assert.ok(video.firstIsKey, "starts at a key frame");
  // Past the demand's hold and the linger, the second client still holds the pull.
  const left = asked + 7000 - performance.now();
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, left)));
  assert.equal((await relayOf(edge, "live/show"))?.state, "connected");
  stop.abort();
  await reading;
  // Both left: after the linger the edge lets go of the origin.
  await waitFor(
    "the edge to stop pulling",
    async () =>
      (await relayConnections(edge)).length === 0 && (await origin.connections()).length === 1,
    { timeoutMs: 10_000 },
  );
  assert.ok(
    edge.logs.some((line) =>
      /nobody watched stream "live\/show" for 1000 ms/.test(String(line.properties.what))
    ),
  );
});

Deno.test("an HLS playlist request to an edge starts its pull, after the access rules allowed it", async () => {
  await using origin = await Atoll.start();
  await using edge = await startWithConfig(`
streamDefaults:
  source: "srt://127.0.0.1:${origin.srtPort}?streamid=#!::r={name},m=request"
  sourceLingerMs: 1000
streams:
  - prefix: secret
    readPassphrase: "a read passphrase"
`);
  await using _publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${origin.srtPort}?streamid=publish:live/show`,
  );
  await publisherOf(origin, "live/show");
  // Refused first: no pull starts for a viewer who may not watch.
  const refused = await edge.media("/secret/show/index.m3u8");
  await refused.body?.cancel();
  assert.equal(refused.status, 401);
  assert.deepEqual(await relays(edge), []);

  // A player retries a 503 (the stream began, but had no segment in time): so does this.
  let playlist = "";
  await waitFor("a playlist that lists a segment", async () => {
    const response = await edge.media("/live/show/index.m3u8");
    playlist = await response.text();
    return response.status === 200 && /^seg,[0-9]+\.ts$/m.test(playlist);
  }, { timeoutMs: 15_000 });
  assert.equal((await relayOf(edge, "live/show"))?.state, "connected");
  assert.deepEqual(
    (await edge.connections()).filter((connection) => connection.relay === null),
    [],
    "no SRT viewer anywhere",
  );
  const segment = /^seg,[0-9]+\.ts$/m.exec(playlist)![0];
  const response = await edge.media(`/live/show/${segment}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  assert.equal(response.status, 200);
  assert.equal(bytes[0], 0x47, "an MPEG-TS segment");
});

Deno.test("an edge rides out a restart of the origin's main process, and resumes after the whole origin was killed", async () => {
  await using scratch = await scratchDir("atoll_edge_restart_");
  const dir = scratch.path;
  const first = await Atoll.start();
  await using edge = await startEdge(first);
  const stream = "live/long";
  let publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${first.srtPort}?streamid=publish:${stream}`,
  );
  try {
    await publisherOf(first, stream);
    const recording = `${dir}/edge.ts`;
    await using _viewer = srtLiveTransmitViewer(
      edge.srtPort,
      `#!::r=${stream},m=request`,
      recording,
    );
    await waitFor("the edge's viewer to receive", () => sizeOf(recording) > 100_000, {
      timeoutMs: 15_000,
    });
    const pull = await relayOf(edge, stream);
    assert.equal(pull?.state, "connected");

    // The origin's main process crashes, and a new one adopts its children.
    first.kill();
    await first.exit();
    const mark = sizeOf(recording);
    await using second = await Atoll.start([
      "--state-dir",
      first.stateDir,
      "--srt-listen",
      `127.0.0.1:${first.srtPort}`,
    ]);
    await waitFor(
      "the edge's viewer to go on receiving",
      () => sizeOf(recording) > mark + 200_000,
      {
        timeoutMs: 10_000,
      },
    );
    const after = await relayOf(edge, stream);
    assert.equal(after?.connectionId, pull?.connectionId, "the edge's pull never noticed");
    assert.equal(after?.retries, 0);
    assert.equal((await second.connections()).length, 2, "the publisher and the edge, adopted");

    // Now the whole origin goes: main process and children.
    // Its adopted children are not its own processes: their pids come from the API.
    const children = [
      ...second.childPids(),
      ...(await second.connections()).map((connection) => connection.pid),
    ];
    second.kill();
    await second.exit();
    for (const pid of children) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // Gone already.
      }
    }
    await publisher.stop(3000);
    await waitFor("the edge's pull to retry", async () => {
      const relay = await relayOf(edge, stream);
      return relay !== undefined && relay.retries >= 1;
    }, { timeoutMs: 15_000 });
    await using third = await Atoll.start(["--srt-listen", `127.0.0.1:${first.srtPort}`]);
    publisher = await ffmpegPublisher(
      `srt://127.0.0.1:${third.srtPort}?streamid=publish:${stream}`,
    );
    const resumed = sizeOf(recording);
    await waitFor(
      "the edge's viewer to receive again",
      () => sizeOf(recording) > resumed + 200_000,
      {
        timeoutMs: 20_000,
      },
    );
    assert.equal((await relayOf(edge, stream))?.state, "connected");
  } finally {
    await publisher.stop(3000);
    await first.stop().catch(() => {});
  }
});

Deno.test("Atoll pulls over rendezvous", async () => {
  await using scratch = await scratchDir("atoll_rendezvous_");
  const dir = scratch.path;
  const theirs = freeUdpPort();
  const ours = freeUdpPort();
  await using _source = await srtSource(`srt://127.0.0.1:${ours}?mode=rendezvous&port=${theirs}`);
  await using atoll = await startWithConfig(`
streams:
- name: remote/cam
  source: "srt://127.0.0.1:${theirs}?mode=rendezvous&port=${ours}"
  sourceMode: always
`);
  await publisherOf(atoll, "remote/cam");
  const video = await watch(atoll, "remote/cam", `${dir}/rendezvous.ts`);
  assert.ok(video.frames >= 25, `decoded ${video.frames} frames: ${video.errors}`);
});

Deno.test("a bad source URL stops Atoll at startup with a clear config error", async () => {
  const path = await Deno.makeTempFile({ suffix: ".yaml" });
  try {
    await Deno.writeTextFile(
      path,
      'streams:\n  - name: a\n    source: "srt://origin:99999?passphrase=secret-passphrase"\n',
    );
    const result = await runDeno([MAIN, ...LOOPBACK_ARGS, "--config", path]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(
      result.stderr,
      /streams\[0\]\.source: invalid SRT URL "srt:\/\/origin:99999\?passphrase=\*\*\*": .*port/,
    );
    assert.ok(!result.stderr.includes("secret-passphrase"), "the passphrase is never printed");
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("an edge's main process crashes: its viewers are adopted, and the new one pulls their stream again", async () => {
  await using scratch = await scratchDir("atoll_edge_crash_");
  const dir = scratch.path;
  await using origin = await Atoll.start();
  const stream = "live/edge-crash";
  await using _publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${origin.srtPort}?streamid=publish:${stream}`,
  );
  await publisherOf(origin, stream);
  const config = await Deno.makeTempFile({ dir, suffix: ".yaml" });
  await Deno.writeTextFile(
    config,
    `streamDefaults:\n  source: "srt://127.0.0.1:${origin.srtPort}?streamid=#!::r={name},m=request"\n`,
  );
  // Disposed last: its state directory is the successor's.
  await using edge = await Atoll.start(["--config", config]);
  const recording = `${dir}/viewer.ts`;
  await using viewer = srtLiveTransmitViewer(
    edge.srtPort,
    `#!::r=${stream},m=request`,
    recording,
  );
  await waitFor("the viewer to receive", () => sizeOf(recording) > 100_000, {
    timeoutMs: 15_000,
  });
  const before = await relayOf(edge, stream);
  edge.kill();
  await edge.exit();
  await using successor = await Atoll.start([
    "--config",
    config,
    "--state-dir",
    edge.stateDir,
    "--srt-listen",
    `127.0.0.1:${edge.srtPort}`,
  ]);
  const mark = sizeOf(recording);
  await waitFor("the adopted viewer to receive again", () => sizeOf(recording) > mark + 200_000, {
    timeoutMs: 10_000,
  });
  const after = await relayOf(successor, stream);
  assert.equal(after?.state, "connected");
  assert.notEqual(after?.connectionId, before?.connectionId, "a new pull");
  assert.equal(viewer.exited, false, "the viewer never lost its connection");
});

Deno.test("a config reload starts a new push, and leaves a running one alone", async () => {
  await using scratch = await scratchDir("atoll_relay_reload_");
  const dir = scratch.path;
  const [sinkA, sinkB] = [freeUdpPort(), freeUdpPort()];
  await using _a = srtLiveTransmitSink(sinkA, `${dir}/a.ts`);
  await using _b = srtLiveTransmitSink(sinkB, `${dir}/b.ts`);
  const config = `${dir}/atoll.yaml`;
  const rule = (urls: number[]) =>
    `streams:\n  - name: live/r\n    push: [${
      urls.map((p) => `"srt://127.0.0.1:${p}"`).join(", ")
    }]\n`;
  await Deno.writeTextFile(config, rule([sinkA]));
  await using atoll = await Atoll.start(["--config", config]);
  await using _publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${atoll.srtPort}?streamid=publish:live/r`,
  );
  await waitFor("the first push to deliver", () => sizeOf(`${dir}/a.ts`) > 100_000, {
    timeoutMs: 15_000,
  });
  const [first] = await relays(atoll);
  await Deno.writeTextFile(config, rule([sinkA, sinkB]));
  atoll.signal("SIGHUP");
  await waitFor("the second push to deliver", () => sizeOf(`${dir}/b.ts`) > 100_000, {
    timeoutMs: 15_000,
  });
  const now = await relays(atoll);
  assert.equal(now.length, 2);
  assert.equal(
    now.find((relay) => relay.id === first!.id)?.connectionId,
    first!.connectionId,
    "the unchanged push kept its connection",
  );
});

Deno.test("a backup source fills in while no encoder publishes, and gives the stream up to one that does", async () => {
  await using scratch = await scratchDir("atoll_backup_");
  const dir = scratch.path;
  const srt = freeUdpPort();
  await using _source = await srtSource(`srt://127.0.0.1:${srt}?mode=listener`);
  await using atoll = await startWithConfig(`
streams:
- name: live/main
  source: "srt://127.0.0.1:${srt}"
  sourceMode: always
  sourceRole: backup
`);
  const stream = "live/main";
  const backup = await publisherOf(atoll, stream);
  assert.equal(backup.relay?.direction, "pull");
  const recording = `${dir}/viewer.ts`;
  await using viewer = srtLiveTransmitViewer(
    atoll.srtPort,
    `#!::r=${stream},m=request`,
    recording,
  );
  await waitFor("the viewer to receive the backup", () => sizeOf(recording) > 100_000, {
    timeoutMs: 15_000,
  });
  // The encoder comes: it takes the stream at once, and the backup stands by.
  const encoder = await ffmpegPublisher(
    `srt://127.0.0.1:${atoll.srtPort}?streamid=publish:${stream}`,
  );
  try {
    await waitFor("the encoder to hold the stream", async () => {
      const publisher = (await atoll.connections()).find((c) =>
        c.stream === stream && c.mode === "publish" && c.relay === null && c.state === "connected"
      );
      const streams = await atoll.streams();
      return publisher !== undefined &&
        streams.find((s) => s.name === stream)?.publisher === publisher.id;
    }, { timeoutMs: 10_000 });
    await waitFor(
      "the backup to stand by",
      async () =>
        (await relayOf(atoll, stream))?.state === "idle" &&
        (await relayConnections(atoll)).length === 0,
      { timeoutMs: 10_000 },
    );
    const mark = sizeOf(recording);
    await waitFor("the viewer to receive the encoder", () => sizeOf(recording) > mark + 100_000, {
      timeoutMs: 10_000,
    });
  } finally {
    await encoder.stop(3000);
  }
  // The encoder left: the backup is pulled again, and the viewer goes on.
  await waitFor(
    "the backup to be pulled again",
    async () => (await relayOf(atoll, stream))?.state === "connected",
    { timeoutMs: 15_000 },
  );
  const mark = sizeOf(recording);
  await waitFor(
    "the viewer to receive the backup again",
    () => sizeOf(recording) > mark + 100_000,
    {
      timeoutMs: 10_000,
    },
  );
  assert.equal(viewer.exited, false, "one viewer connection throughout");
});

Deno.test("Atoll pushes over rendezvous", async () => {
  await using scratch = await scratchDir("atoll_push_rendezvous_");
  const dir = scratch.path;
  const theirs = freeUdpPort();
  const ours = freeUdpPort();
  const recording = `${dir}/pushed.ts`;
  await using _sink = ManagedProcess.start("srt-live-transmit", "srt-live-transmit", [
    "-q",
    `srt://127.0.0.1:${ours}?mode=rendezvous&port=${theirs}`,
    "file://con",
  ], { stdout: { file: recording } });
  await using atoll = await startWithConfig(`
streams:
- name: live/out
  push: ["srt://127.0.0.1:${theirs}?mode=rendezvous&port=${ours}"]
`);
  await using _publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${atoll.srtPort}?streamid=publish:live/out`,
  );
  await waitFor("the rendezvous push to deliver", () => sizeOf(recording) > 200_000, {
    timeoutMs: 20_000,
  });
  const video = await probeVideo(recording);
  assert.ok(video.frames >= 25, `decoded ${video.frames} frames: ${video.errors}`);
  assert.ok(video.firstIsKey);
});
