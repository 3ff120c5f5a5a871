/**
 * Publish once, play many: ffmpeg publishes to Atoll, and ffmpeg and
 * srt-live-transmit viewers receive the stream through the shared stream
 * buffer, each in its own child.
 */

import assert from "node:assert/strict";
import {
  Atoll,
  ffmpegPublisher,
  ffmpegViewer,
  type ManagedProcess,
  probeVideo,
  srtLiveTransmitViewer,
  waitFor,
} from "./support/mod.ts";
import type { ConnectionInfo } from "../src/server/api_types.ts";

async function waitForPublisher(atoll: Atoll, name: string): Promise<ConnectionInfo> {
  const [publisher] = await waitFor(`a publisher of ${name} sending media`, async () => {
    const [stream] = (await atoll.streams()).filter((s) => s.name === name);
    if (stream === undefined || stream.publisher === null || stream.randomAccessPoints < 1) {
      return undefined;
    }
    const list = await atoll.connections();
    return list.filter((c) => c.id === stream.publisher);
  }, { timeoutMs: 15_000 });
  return publisher!;
}

async function viewersOf(atoll: Atoll, name: string): Promise<ConnectionInfo[]> {
  return (await atoll.connections()).filter((c) => c.stream === name && c.mode === "play");
}

Deno.test("five viewers and a late joiner each get decodable video that starts with a key frame", async () => {
  await using atoll = await Atoll.start();
  const dir = await Deno.makeTempDir({ prefix: "atoll_streams_" });
  const url = (id: string) => `srt://127.0.0.1:${atoll.srtPort}?streamid=${id}`;
  await using _publisher = await ffmpegPublisher(url("publish:live/fanout"));
  await waitForPublisher(atoll, "live/fanout");

  const viewers: ManagedProcess[] = [];
  const files: string[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      files.push(`${dir}/ffmpeg${i}.ts`);
      viewers.push(ffmpegViewer(url("play:live/fanout"), files.at(-1)!, 3));
    }
    for (let i = 0; i < 2; i++) {
      files.push(`${dir}/slt${i}.ts`);
      viewers.push(srtLiveTransmitViewer(atoll.srtPort, "read:live/fanout", files.at(-1)!));
    }
    // Connected, not only placed: a viewer counts on its stream once libsrt accepted it.
    await waitFor(
      "five viewers",
      async () =>
        (await viewersOf(atoll, "live/fanout")).filter((c) => c.state === "connected").length === 5,
    );
    const [stream] = await atoll.streams();
    assert.equal(stream!.viewers, 5);
    assert.ok(stream!.bytesIn > 0 && stream!.bitrateIn >= 0);

    // A late joiner, two seconds in, with the SRT Access Control form.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    files.push(`${dir}/late.ts`);
    viewers.push(
      ffmpegViewer(url(encodeURIComponent("#!::r=live/fanout,m=request")), files.at(-1)!, 2),
    );

    // ffmpeg viewers stop on their own after their -t; srt-live-transmit is stopped.
    for (const viewer of [...viewers.slice(0, 3), viewers[5]!]) {
      const status = await viewer.exit(20_000);
      assert.equal(status.code, 0, viewer.text);
    }
    for (const viewer of viewers.slice(3, 5)) viewer.signal("SIGINT");
    await Promise.all(viewers.slice(3, 5).map((viewer) => viewer.exit(5_000)));

    for (const file of files) {
      const video = await probeVideo(file);
      assert.ok(video.frames >= 25, `${file}: only ${video.frames} frames ${video.errors}`);
      assert.ok(video.firstIsKey, `${file}: the first frame is not a key frame`);
    }
    const sent = (await atoll.connections()).filter((c) => c.mode === "publish");
    assert.equal(sent.length, 1, "the publisher is still connected");
  } finally {
    for (const viewer of viewers) viewer.kill();
    await Promise.all(viewers.map((viewer) => viewer.exit()));
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("kill -9 of one viewer's child leaves the publisher and the other viewers flowing", async () => {
  await using atoll = await Atoll.start();
  const dir = await Deno.makeTempDir({ prefix: "atoll_streams_" });
  await using _publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${atoll.srtPort}?streamid=publish:live/kill`,
  );
  await waitForPublisher(atoll, "live/kill");
  const viewers = [0, 1, 2].map((i) =>
    srtLiveTransmitViewer(atoll.srtPort, "play:live/kill", `${dir}/v${i}.ts`)
  );
  try {
    const list = await waitFor("three viewers receiving", async () => {
      const found = await viewersOf(atoll, "live/kill");
      return found.length === 3 && found.every((c) => c.bytesSent > 0) && found;
    }, { timeoutMs: 15_000 });
    const [victim, ...others] = list;
    Deno.kill(victim!.pid, "SIGKILL");
    await waitFor(
      "the killed child to be logged",
      () =>
        atoll.findLog((l) => l.properties.id === victim!.id && l.properties.reason === "crashed"),
    );
    const before = new Map(others.map((c) => [c.id, c.bytesSent]));
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const after = await viewersOf(atoll, "live/kill");
    assert.deepEqual(after.map((c) => c.id).sort(), others.map((c) => c.id).sort());
    for (const connection of after) {
      assert.ok(
        connection.bytesSent > before.get(connection.id)! + 10_000,
        `viewer ${connection.id} kept receiving`,
      );
    }
    const [stream] = await atoll.streams();
    assert.equal(stream!.viewers, 2);
  } finally {
    for (const viewer of viewers) viewer.kill();
    await Promise.all(viewers.map((viewer) => viewer.exit()));
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a publisher that falls silent and is replaced within the grace period keeps its viewers connected", async () => {
  await using atoll = await Atoll.start();
  const dir = await Deno.makeTempDir({ prefix: "atoll_streams_" });
  const uri = `srt://127.0.0.1:${atoll.srtPort}?streamid=publish:live/relay`;
  const first = await ffmpegPublisher(uri);
  const publishers = [first];
  const viewers: ManagedProcess[] = [];
  try {
    const original = await waitForPublisher(atoll, "live/relay");
    viewers.push(srtLiveTransmitViewer(atoll.srtPort, "play:live/relay", `${dir}/v.ts`));
    const [viewer] = await waitFor("the viewer receiving", async () => {
      const found = await viewersOf(atoll, "live/relay");
      return found.length === 1 && found[0]!.bytesSent > 0 && found;
    });
    // The encoder falls silent without a goodbye (its network is cut: it is
    // frozen, so its socket stays open and the kernel answers nothing for
    // it); a new one takes over once the old one has been silent for the
    // publisher timeout (2 s). Killed instead, its closed port makes the
    // kernel answer Atoll's packets with ICMP errors, and libsrt may end
    // the connection itself first, as the peer's close, before the takeover.
    Deno.kill(first.pid, "SIGSTOP");
    // Like an encoder that restarts, retry while the stream is refused (1409).
    let second: ManagedProcess | undefined;
    const replacement = await waitFor("the new publisher", async () => {
      const [stream] = await atoll.streams();
      if (stream?.publisher !== null && stream?.publisher !== original.id) {
        return stream?.publisher;
      }
      if (second === undefined || second.exited) {
        second = await ffmpegPublisher(uri);
        publishers.push(second);
      }
      return undefined;
    }, { timeoutMs: 15_000 });
    assert.ok(replacement);
    const takeover = await waitFor(
      "the old publisher's child to be closed",
      () => atoll.findLog((l) => l.properties.id === original.id && "reason" in l.properties),
      { timeoutMs: 10_000 },
    );
    assert.equal(takeover.properties.reason, "shutdown");
    const sentAtTakeover = (await viewersOf(atoll, "live/relay"))[0]!.bytesSent;
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const [still] = await viewersOf(atoll, "live/relay");
    assert.equal(still?.id, viewer!.id, "the same viewer connection");
    assert.ok(still!.bytesSent > sentAtTakeover + 10_000, "media from the new publisher flows");
  } finally {
    for (const publisher of publishers) publisher.kill();
    await Promise.all(publishers.map((publisher) => publisher.exit()));
    for (const viewer of viewers) viewer.kill();
    await Promise.all(viewers.map((viewer) => viewer.exit()));
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a viewer that falls behind the buffer skips ahead, counted, and slows no one else", async () => {
  // 64 KiB holds about half a second of the sample stream.
  const config = await Deno.makeTempFile({ suffix: ".json" });
  await Deno.writeTextFile(
    config,
    JSON.stringify({ streamDefaults: { buffer: { bytes: 65536 } } }),
  );
  await using atoll = await Atoll.start(["--config", config]);
  await Deno.remove(config);
  await using _publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${atoll.srtPort}?streamid=publish:live/slow`,
  );
  await waitForPublisher(atoll, "live/slow");
  const viewers = [0, 1].map(() =>
    srtLiveTransmitViewer(atoll.srtPort, "play:live/slow", "/dev/null")
  );
  try {
    const [slow, steady] = await waitFor("two viewers receiving", async () => {
      const found = await viewersOf(atoll, "live/slow");
      return found.length === 2 && found.every((c) => c.bytesSent > 0) && found;
    }, { timeoutMs: 15_000 });
    // Freeze one viewer's child (its SRT connection too) for 1.5 s.
    Deno.kill(slow!.pid, "SIGSTOP");
    const steadyBefore = (await viewersOf(atoll, "live/slow")).find((c) => c.id === steady!.id)!;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    Deno.kill(slow!.pid, "SIGCONT");
    const [stream] = await waitFor("the skip to be counted", async () => {
      const list = await atoll.streams();
      return list[0]!.viewerSkips >= 1 && list;
    });
    assert.equal(stream!.viewers, 2);
    const steadyAfter = (await viewersOf(atoll, "live/slow")).find((c) => c.id === steady!.id)!;
    assert.equal(steadyAfter.viewer?.skips, 0, "the steady viewer never skipped");
    assert.ok(
      steadyAfter.bytesSent > steadyBefore.bytesSent + 50_000,
      "the steady viewer kept receiving",
    );
    assert.ok(steadyAfter.viewer!.latency.samples > 0);
  } finally {
    for (const viewer of viewers) viewer.kill();
    await Promise.all(viewers.map((viewer) => viewer.exit()));
  }
});

Deno.test("viewers are closed cleanly when no publisher returns within the grace period", async () => {
  const config = await Deno.makeTempFile({ suffix: ".json" });
  await Deno.writeTextFile(config, JSON.stringify({ graceMs: 1000 }));
  await using atoll = await Atoll.start(["--config", config]);
  await Deno.remove(config);
  const publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${atoll.srtPort}?streamid=publish:live/gone`,
  );
  const viewer = srtLiveTransmitViewer(atoll.srtPort, "play:live/gone", "/dev/null");
  try {
    await waitForPublisher(atoll, "live/gone");
    const [connection] = await waitFor("the viewer receiving", async () => {
      const found = await viewersOf(atoll, "live/gone");
      return found.length === 1 && found[0]!.bytesSent > 0 && found;
    });
    // ffmpeg stopped with SIGINT closes its SRT connection: the publisher is gone at once.
    publisher.signal("SIGINT");
    await publisher.exit();
    const closed = await waitFor(
      "the viewer to be closed",
      () => atoll.findLog((l) => l.properties.id === connection!.id && "reason" in l.properties),
      { timeoutMs: 8_000 },
    );
    assert.equal(closed.properties.reason, "shutdown");
    assert.match(String(closed.properties.detail), /no publisher returned within 1000 ms/);
    assert.deepEqual(await atoll.streams(), []);
    // The viewer's srt-live-transmit was told, so it ends on its own (exit(): SIGKILL after 5 s).
    const status = await viewer.exit(5_000);
    assert.equal(status.signal, null, viewer.text);
  } finally {
    publisher.kill();
    viewer.kill();
    await Promise.all([publisher.exit(), viewer.exit()]);
  }
});
