/**
 * End to end: the media output process serving streams over HTTP (HTTP-TS)
 * from their buffers, beside the SRT children. ffmpeg records what it
 * serves; a slow HTTP client slows no SRT viewer and skips ahead like one;
 * the process dies and comes back without an SRT connection noticing; the
 * command line checks `--media-listen`.
 */

import assert from "node:assert/strict";
import {
  Atoll,
  ffmpegPublisher,
  ffmpegViewer,
  LOOPBACK_ARGS,
  MAIN,
  probeVideo,
  publisherOf,
  runDeno,
  sleep,
  srtLiveTransmitViewer,
  waitFor,
} from "./support/mod.ts";
import { scratchDir } from "./support/files.ts";
import { concat } from "./support/bytes.ts";
import { findContinuityErrors } from "../src/media/continuity.ts";
import { TS_PACKET_SIZE } from "../src/media/mpegts.ts";

/** The stream's HTTP-TS figures in `/api/streams`, once it exists. */
async function httpOf(atoll: Atoll, name: string) {
  const stream = (await atoll.streams()).find((s) => s.name === name);
  return stream?.http ?? undefined;
}

/** Starts ffmpeg publishing the sample to `name`, and waits until media arrives. */
async function publish(atoll: Atoll, name: string, options: { muxRateBps?: number } = {}) {
  const publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${atoll.srtPort}?streamid=publish:${name}`,
    options,
  );
  try {
    await publisherOf(atoll, name);
  } catch (error) {
    await publisher.stop(2000);
    throw error;
  }
  return publisher;
}

/** A GET written by hand on a new connection (any `Host`), its head read; the rest is the caller's. */
async function rawGet(
  port: number,
  path: string,
  host = "127.0.0.1",
): Promise<{ conn: Deno.Conn; status: number; head: string; body: Uint8Array }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`));
    let bytes = new Uint8Array(0);
    const chunk = new Uint8Array(4096);
    for (;;) {
      const text = new TextDecoder("latin1").decode(bytes);
      const end = text.indexOf("\r\n\r\n");
      if (end >= 0) {
        return {
          conn,
          status: Number(text.slice(9, 12)),
          head: text.slice(0, end),
          body: bytes.slice(end + 4),
        };
      }
      const n = await conn.read(chunk);
      if (n === null) throw new Error(`the server closed before the head: ${text}`);
      const next = new Uint8Array(bytes.length + n);
      next.set(bytes);
      next.set(chunk.subarray(0, n), bytes.length);
      bytes = next;
    }
  } catch (error) {
    conn.close();
    throw error;
  }
}

/** Reads from `conn` until `bytes` have come (or it ends); how many came. */
async function readAtLeast(conn: Deno.Conn, bytes: number): Promise<number> {
  const chunk = new Uint8Array(16 * 1024);
  let total = 0;
  while (total < bytes) {
    const n = await conn.read(chunk);
    if (n === null) break;
    total += n;
  }
  return total;
}

Deno.test("ffmpeg records decodable video over HTTP-TS, from a key frame; other paths answer 404, 421", async () => {
  await using atoll = await Atoll.start();
  await using dir = await scratchDir("atoll_http_ts_");
  await using _publisher = await publish(atoll, "live/cam1");
  const [stream] = await atoll.streams();
  assert.deepEqual(stream?.urls, {
    ts: `http://127.0.0.1:${atoll.mediaPort}/live/cam1.ts`,
    hls: `http://127.0.0.1:${atoll.mediaPort}/live/cam1/index.m3u8`,
  });

  const recording = `${dir.path}/http.ts`;
  const viewer = ffmpegViewer(stream!.urls!.ts, recording, 3);
  const status = await viewer.exit(20_000);
  assert.equal(status.code, 0, viewer.text);
  const video = await probeVideo(recording);
  assert.equal(video.errors, "", "ffprobe decodes it without an error");
  assert.ok(video.frames >= 50, `${video.frames} frames in 3 s at 25 fps`);
  assert.ok(video.firstIsKey, "the recording starts at a key frame");
  const http = await waitFor("the client's bytes to be counted", async () => {
    const figures = await httpOf(atoll, "live/cam1");
    return figures !== undefined && figures.bytesSent > 100_000 && figures.clients === 0 &&
      figures;
  }, { timeoutMs: 10_000 });
  assert.equal(http.skips, 0);

  // As SRT viewers get it: PAT and PMT first, then whole packets, every counter continuous.
  const raw = await rawGet(atoll.mediaPort, "/live/cam1.ts");
  let received = raw.body;
  try {
    assert.equal(raw.status, 200, raw.head);
    const chunk = new Uint8Array(64 * 1024);
    while (received.length < 150_000) {
      const n = await raw.conn.read(chunk);
      if (n === null) break;
      received = concat(received, chunk.subarray(0, n));
    }
  } finally {
    raw.conn.close();
  }
  const packets = received.subarray(0, received.length - received.length % TS_PACKET_SIZE);
  assert.ok(packets.length >= 140_000, `${packets.length} bytes`);
  const pidAt = (packet: number) =>
    ((packets[packet * TS_PACKET_SIZE + 1]! & 0x1f) << 8) | packets[packet * TS_PACKET_SIZE + 2]!;
  assert.equal(pidAt(0), 0, "a PAT first");
  assert.equal(packets[TS_PACKET_SIZE + 5], 0x02, "then a PMT (table id 2)");
  assert.deepEqual(findContinuityErrors(packets), []);

  const unknown = await atoll.media("/live/nope.ts");
  assert.equal(unknown.status, 404);
  assert.match((await unknown.json()).error, /No stream "live\/nope"/);
  const hls = await atoll.media("/live/nope/index.m3u8");
  assert.equal(hls.status, 404);
  assert.match((await hls.json()).error, /No stream "live\/nope"/);
  const elsewhere = await atoll.media("/");
  assert.equal(elsewhere.status, 404);
  await elsewhere.body?.cancel();
  const rebound = await rawGet(atoll.mediaPort, "/live/cam1.ts", "rebound.example");
  rebound.conn.close();
  assert.equal(rebound.status, 421, rebound.head);
});

Deno.test("a slow HTTP-TS client slows no SRT viewer, and skips ahead, counted, once it reads again", async () => {
  // At 4 Mbit/s (500 KB a second), 256 KiB of buffer hold half a second: a
  // client that stops reading for 5 s falls out of it, beyond what the
  // kernel buffers (its 512 KiB send buffer, the client's receive buffer).
  const config = await Deno.makeTempFile({ suffix: ".json" });
  await Deno.writeTextFile(
    config,
    JSON.stringify({ streamDefaults: { buffer: { bytes: 256 * 1024 } } }),
  );
  await using atoll = await Atoll.start(["--config", config]);
  await Deno.remove(config);
  await using dir = await scratchDir("atoll_http_slow_");
  await using _publisher = await publish(atoll, "live/slow", { muxRateBps: 4_000_000 });
  const recording = `${dir.path}/srt.ts`;
  await using _viewer = srtLiveTransmitViewer(atoll.srtPort, "play:live/slow", recording);
  const size = async () => (await Deno.stat(recording).catch(() => ({ size: 0 }))).size;
  await waitFor("the SRT viewer recording", async () => await size() > 0, { timeoutMs: 10_000 });

  const slow = await rawGet(atoll.mediaPort, "/live/slow.ts");
  try {
    assert.equal(slow.status, 200, slow.head);
    assert.match(slow.head, /content-type: video\/mp2t/);
    await readAtLeast(slow.conn, 8 * 1024);
    // The slow client reads nothing for 5 s; the SRT viewer goes on at the stream's rate.
    const sizes = [await size()];
    for (let second = 0; second < 5; second++) {
      await sleep(1000);
      sizes.push(await size());
    }
    const growth = sizes.slice(1).map((bytes, i) => bytes - sizes[i]!);
    assert.ok(
      growth.every((bytes) => bytes > 250_000),
      `the SRT recording grew by ${growth} bytes a second, not about 500000`,
    );
    assert.equal((await httpOf(atoll, "live/slow"))?.clients, 1);
    // Reading again, it gets the newest media: its place in the ring is long gone.
    assert.ok(await readAtLeast(slow.conn, 1_000_000) >= 1_000_000, "the slow client reads again");
  } finally {
    slow.conn.close();
  }
  // Reported every 2 s.
  await waitFor("the slow client's skip and bytes to be counted", async () => {
    const figures = await httpOf(atoll, "live/slow");
    return figures !== undefined && figures.skips >= 1 && figures.bytesSent >= 1_000_000;
  }, { timeoutMs: 10_000 });
  const [srtViewer] = (await atoll.connections()).filter((c) => c.mode === "play");
  assert.equal(srtViewer?.viewer?.skips, 0, "the SRT viewer never skipped");
  const metrics = await (await fetch(`http://127.0.0.1:${atoll.httpPort}/metrics`)).text();
  assert.match(metrics, /^atoll_stream_http_skips_total\{stream="live\/slow"\} [1-9]/m);
});

Deno.test("kill -9 of the output process leaves SRT connections alone, and it comes back", async () => {
  await using atoll = await Atoll.start();
  await using dir = await scratchDir("atoll_http_kill_");
  await using _publisher = await publish(atoll, "live/cam1");
  const recording = `${dir.path}/srt.ts`;
  await using _viewer = srtLiveTransmitViewer(atoll.srtPort, "play:live/cam1", recording);
  const before = await waitFor("a publisher and a viewer flowing", async () => {
    const connections = await atoll.connections();
    return connections.length === 2 && connections.every((c) => c.state === "connected") &&
      connections.find((c) => c.mode === "play")!.bytesSent > 0 && connections;
  }, { timeoutMs: 10_000 });
  const client = await rawGet(atoll.mediaPort, "/live/cam1.ts");
  assert.equal(client.status, 200);
  const first = atoll.outputPid();
  assert.ok(first !== undefined, "the output process runs");

  Deno.kill(first, "SIGKILL");
  // Its client is cut off with it.
  const chunk = new Uint8Array(64 * 1024);
  while (await client.conn.read(chunk).catch(() => null) !== null);
  client.conn.close();
  await atoll.waitForLog(
    "the restart to be logged",
    (line) => line.message.includes("starting it again"),
    5000,
  );
  const second = await waitFor("a new output process", () => {
    const pid = atoll.outputPid();
    return pid !== undefined && pid !== first && pid;
  }, { timeoutMs: 10_000 });

  // HTTP-TS works again, on the same port.
  const again = await waitFor("HTTP-TS to answer again", async () => {
    try {
      return await rawGet(atoll.mediaPort, "/live/cam1.ts");
    } catch {
      return undefined;
    }
  }, { timeoutMs: 10_000 });
  try {
    assert.equal(again.status, 200, again.head);
    assert.ok(await readAtLeast(again.conn, 50_000) >= 50_000);
  } finally {
    again.conn.close();
  }
  assert.equal(atoll.outputPid(), second);

  // The SRT connections never noticed: the same ones, still carrying media.
  const after = await atoll.connections();
  assert.deepEqual(after.map((c) => c.id).sort(), before.map((c) => c.id).sort());
  const viewerBefore = before.find((c) => c.mode === "play")!;
  await waitFor("the SRT viewer to go on receiving", async () => {
    const viewer = (await atoll.connections()).find((c) => c.id === viewerBefore.id);
    return viewer !== undefined && viewer.bytesSent > viewerBefore.bytesSent + 100_000;
  }, { timeoutMs: 10_000 });
  const stats = await atoll.stats();
  assert.equal(stats.connectionsAccepted, 2);
  const metrics = await (await fetch(`http://127.0.0.1:${atoll.httpPort}/metrics`)).text();
  assert.match(metrics, /^atoll_output_restarts_total 1$/m);
  assert.match(metrics, /^atoll_output_up 1$/m);
});

Deno.test("--media-listen: a bad address or a port in use exits 2 saying so; off serves no media", async () => {
  const srtAndHttp = LOOPBACK_ARGS.slice(0, 4);
  const bad = await runDeno([MAIN, ...srtAndHttp, "--media-listen", "127.0.0.1"], {
    timeoutMs: 20_000,
  });
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(
    bad.stderr,
    /^atoll: Invalid value for --media-listen: .* or "off", got "127\.0\.0\.1"/,
  );

  const holder = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (holder.addr as Deno.NetAddr).port;
    const taken = await runDeno([MAIN, ...srtAndHttp, "--media-listen", `127.0.0.1:${port}`], {
      timeoutMs: 20_000,
    });
    assert.equal(taken.code, 2, taken.stderr);
    assert.equal(
      taken.stderr,
      `atoll: Cannot listen for media on 127.0.0.1:${port}: address in use\n`,
    );
  } finally {
    holder.close();
  }

  await using atoll = await Atoll.start(["--media-listen", "off"]);
  assert.equal(atoll.mediaPort, 0);
  assert.equal(atoll.outputPid(), undefined);
  await using _publisher = await publish(atoll, "live/cam1");
  const [stream] = await atoll.streams();
  assert.equal(stream?.http, null);
  assert.equal(stream?.urls, null);
});
