/**
 * End to end: HLS from the media output process. ffmpeg publishes over
 * SRT; ffprobe and ffmpeg play the playlist, and every listed segment
 * decodes on its own from a key frame; an on-demand stream is packaged only
 * once asked, an `hls: always` one before; a publisher takeover shows as a
 * discontinuity, and the stream's end as `#EXT-X-ENDLIST`; low-latency HLS
 * holds a blocking reload until its part is made, and a segment's parts
 * are its bytes, the first decodable alone.
 */

import assert from "node:assert/strict";
import {
  type Atoll,
  ffmpegPublisher,
  type ManagedProcess,
  ManagedProcess as Process,
  probeVideo,
  publisherOf,
  sleep,
  startWithConfig,
  waitFor,
} from "./support/mod.ts";
import { scratchDir } from "./support/files.ts";

/** The stream's HTTP figures in `/api/streams`, once it exists. */
async function httpOf(atoll: Atoll, name: string) {
  const stream = (await atoll.streams()).find((s) => s.name === name);
  return stream?.http ?? undefined;
}

function publisher(atoll: Atoll, name: string): Promise<ManagedProcess> {
  return ffmpegPublisher(`srt://127.0.0.1:${atoll.srtPort}?streamid=publish:${name}`);
}

/** The playlist's text once `check` holds for it (polled every 300 ms). */
async function playlistWhen(
  atoll: Atoll,
  name: string,
  what: string,
  check: (text: string) => boolean,
  timeoutMs = 15_000,
): Promise<string> {
  return await waitFor(what, async () => {
    const response = await atoll.media(`/${name}/index.m3u8`);
    const text = await response.text();
    return response.status === 200 && check(text) && text;
  }, { timeoutMs, intervalMs: 300 });
}

function segmentUris(text: string): string[] {
  return text.split("\n").filter((line) => line !== "" && !line.startsWith("#"));
}

/** Runs ffmpeg or ffprobe to its end, within `timeoutMs`. */
async function run(command: string, args: string[], timeoutMs = 20_000): Promise<string> {
  const process = Process.start(command, command, args);
  const status = await process.exit(timeoutMs);
  assert.equal(status.code, 0, process.text);
  return process.text;
}

Deno.test("ffprobe and ffmpeg play a stream over HLS from a key frame, and each segment decodes on its own", async () => {
  await using atoll = await startWithConfig("streams: [{ prefix: live, hlsSegmentMs: 2000 }]");
  await using dir = await scratchDir("atoll_hls_");
  await using _publisher = await publisher(atoll, "live/cam1");
  await publisherOf(atoll, "live/cam1");
  // On demand: nothing is made before a request (the figures come every 2 s).
  await sleep(2500);
  assert.equal((await httpOf(atoll, "live/cam1"))?.hlsSegments, 0);

  // The first request waits for a first segment.
  const first = await atoll.media("/live/cam1/index.m3u8");
  assert.equal(first.status, 200);
  assert.equal(first.headers.get("content-type"), "application/vnd.apple.mpegurl");
  assert.equal(first.headers.get("cache-control"), "no-cache");
  assert.ok(segmentUris(await first.text()).length >= 1);
  const text = await playlistWhen(
    atoll,
    "live/cam1",
    "three segments",
    (text) => segmentUris(text).length >= 3,
  );
  assert.match(text, /^#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n/);
  assert.doesNotMatch(text, /#EXT-X-ENDLIST/);

  const url = `http://127.0.0.1:${atoll.mediaPort}/live/cam1/index.m3u8`;
  const probed = await run("ffprobe", [
    ...["-v", "error", "-read_intervals", "%+3", "-select_streams", "v:0"],
    ...["-show_entries", "frame=key_frame", "-of", "csv=p=0", url],
  ]);
  const frames = probed.split("\n").filter((line) => /^[01]/.test(line));
  assert.ok(frames.length >= 25, `${frames.length} frames:\n${probed}`);
  assert.ok(frames[0]!.startsWith("1"), "the first frame is a key frame");

  for (const uri of segmentUris(text)) {
    const response = await atoll.media(`/live/cam1/${uri}`);
    assert.equal(response.status, 200, uri);
    assert.equal(response.headers.get("content-type"), "video/mp2t");
    const path = `${dir.path}/${uri.replace(",", "_")}`;
    await Deno.writeFile(path, new Uint8Array(await response.arrayBuffer()));
    const video = await probeVideo(path);
    assert.equal(video.errors, "", uri);
    assert.ok(video.frames >= 40, `${uri}: ${video.frames} frames in about 2 s at 25 fps`);
    assert.ok(video.firstIsKey, `${uri} starts at a key frame`);
  }

  const recording = `${dir.path}/recorded.ts`;
  await run("ffmpeg", [
    ...["-hide_banner", "-loglevel", "error", "-y", "-i", url],
    ...["-c", "copy", "-t", "4", "-f", "mpegts", recording],
  ]);
  const video = await probeVideo(recording);
  assert.equal(video.errors, "");
  assert.ok(video.frames >= 75, `${video.frames} frames in 4 s at 25 fps`);
  assert.ok(video.firstIsKey, "the recording starts at a key frame");

  const http = await waitFor("the HLS figures", async () => {
    const figures = await httpOf(atoll, "live/cam1");
    return figures !== undefined && figures.hlsSegments >= 3 && figures.hlsBytesSent > 100_000 &&
      figures;
  }, { timeoutMs: 10_000 });
  assert.equal(http.hlsClients, 1, "one address: 127.0.0.1");
  assert.equal(http.clients, 0, "no HTTP-TS client");
});

Deno.test("an always stream is packaged before any request; a takeover is a discontinuity, the end ENDLIST", async () => {
  await using atoll = await startWithConfig(
    "graceMs: 3000\nstreams: [{ name: live/always, hls: always, hlsWindow: 10 }]",
  );
  const publishers: ManagedProcess[] = [await publisher(atoll, "live/always")];
  try {
    const original = await publisherOf(atoll, "live/always");
    await waitFor("segments made without a request", async () => {
      return ((await httpOf(atoll, "live/always"))?.hlsSegments ?? 0) >= 1;
    }, { timeoutMs: 10_000 });
    assert.equal((await httpOf(atoll, "live/always"))?.hlsBytesSent, 0);

    // The encoder dies without a goodbye; another takes over once the old one
    // has been silent for the publisher timeout, retrying while refused.
    publishers[0]!.kill();
    await publishers[0]!.exit();
    await waitFor("the new publisher", async () => {
      const [stream] = await atoll.streams();
      if (stream?.publisher != null && stream.publisher !== original.id) return true;
      if (publishers.at(-1)!.exited) publishers.push(await publisher(atoll, "live/always"));
      return false;
    }, { timeoutMs: 15_000 });
    const spliced = await playlistWhen(
      atoll,
      "live/always",
      "a discontinuity in the playlist",
      // The segment after the splice is finished, and another follows (its tags, or its parts).
      (text) =>
        /#EXT-X-DISCONTINUITY\n(?:#EXT-X-(?:PROGRAM-DATE-TIME|PART):[^\n]*\n)*#EXTINF:[0-9.]+,\nseg,[0-9]+\.ts\n#EXT(?:INF|-X-PROGRAM-DATE-TIME|-X-PART)/
          .test(text),
    );
    assert.equal(spliced.match(/#EXT-X-DISCONTINUITY\n/g)?.length, 1);

    await publishers.at(-1)!.stop(3000, "SIGINT");
    const ended = await playlistWhen(
      atoll,
      "live/always",
      "the playlist ending",
      (text) => text.endsWith("#EXT-X-ENDLIST\n"),
    );
    // Players that load it now still get every listed segment.
    for (const uri of segmentUris(ended)) {
      const response = await atoll.media(`/live/always/${uri}`);
      assert.equal(response.status, 200, uri);
      await response.body?.cancel();
    }
  } finally {
    for (const process of publishers) process.kill();
  }
});

Deno.test("low-latency HLS: a blocking reload answers with the hinted part, and parts put end to end are their segment", async () => {
  await using atoll = await startWithConfig("streams: [{ prefix: live, hls: always }]");
  await using dir = await scratchDir("atoll_llhls_");
  await using _publisher = await publisher(atoll, "live/ll");
  await publisherOf(atoll, "live/ll");
  const text = await playlistWhen(
    atoll,
    "live/ll",
    "two segments",
    (text) => segmentUris(text).length >= 2,
  );
  assert.match(text, /\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1\.200\n/);
  assert.match(text, /\n#EXT-X-PART-INF:PART-TARGET=0\.400\n/);
  assert.match(text, /\n#EXT-X-PROGRAM-DATE-TIME:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\n/);

  // Ask for the part after the hinted one: held until it is made, about two part targets.
  const hint = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part,([0-9]+)\.([0-9]+)\.ts"/.exec(text);
  assert.ok(hint !== null, text);
  const [msn, part] = [Number(hint[1]), Number(hint[2]) + 1];
  const asked = performance.now();
  const reload = await atoll.media(`/live/ll/index.m3u8?_HLS_msn=${msn}&_HLS_part=${part}`);
  const heldMs = performance.now() - asked;
  assert.equal(reload.status, 200);
  const reloaded = await reload.text();
  // The part asked for, or (a part past its segment's last) the next segment's first.
  assert.ok(
    reloaded.includes(`URI="part,${msn}.${part}.ts"`) ||
      reloaded.includes(`URI="part,${msn + 1}.0.ts"`),
    reloaded,
  );
  assert.ok(heldMs < 2000, `held ${heldMs} ms for a part of 400 ms`);

  // Segment msn, once finished: its parts are its bytes, and the first decodes alone from a key frame.
  const finished = await playlistWhen(
    atoll,
    "live/ll",
    `segment ${msn} finished`,
    (text) => text.includes(`\nseg,${msn}.ts\n`),
  );
  const partUris = [...finished.matchAll(new RegExp(`URI="(part,${msn}\\.[0-9]+\\.ts)"`, "g"))]
    .map((match) => match[1]!);
  assert.ok(partUris.length >= 4, finished);
  const parts: Uint8Array[] = [];
  for (const uri of partUris) {
    const response = await atoll.media(`/live/ll/${uri}`);
    assert.equal(response.status, 200, uri);
    parts.push(new Uint8Array(await response.arrayBuffer()));
  }
  const segment = new Uint8Array(await (await atoll.media(`/live/ll/seg,${msn}.ts`)).arrayBuffer());
  assert.deepEqual(new Uint8Array(parts.flatMap((bytes) => [...bytes])), segment);
  const path = `${dir.path}/first_part.ts`;
  await Deno.writeFile(path, parts[0]!);
  const video = await probeVideo(path);
  assert.equal(video.errors, "");
  assert.ok(video.firstIsKey, "the first part starts at a key frame");
  assert.ok(video.frames >= 5, `${video.frames} frames in a 400 ms part at 25 fps`);
});
