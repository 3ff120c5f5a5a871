/**
 * End to end: a stream whose rule records it. ffmpeg publishes; the
 * recorder process writes files that rotate at key frames and keep to
 * their quota, each playable from its first byte; the API lists them and
 * the media port serves them behind the token; killing the recorder
 * touches neither the publisher nor a viewer, and it comes back with a new
 * file; a full disk stops the recording with a log line and a metric,
 * never the stream.
 */

import assert from "node:assert/strict";
import {
  type Atoll,
  ffmpegPublisher,
  probeVideo,
  publisherOf,
  sleep,
  srtLiveTransmitViewer,
  startWithConfig,
  waitFor,
} from "./support/mod.ts";
import { scratchDir } from "./support/files.ts";
import { parseRecordingFileName } from "../src/ipc/recording_files.ts";
import type { RecordingList } from "../src/server/api_types.ts";

const TOKEN = "recording-test-token-0123456789";
const QUOTA_BYTES = 1_500_000;
/** The sample padded to 2 Mbit/s: about 500 kB a file of two seconds. */
const MUX_RATE_BPS = 2_000_000;

function config(dir: string, stream: string): string {
  return [
    "streams:",
    `  - name: ${stream}`,
    `    record: { dir: ${JSON.stringify(dir)}, rotateSeconds: 2, quotaBytes: ${QUOTA_BYTES} }`,
  ].join("\n");
}

async function recordingOf(atoll: Atoll, name: string) {
  return (await atoll.streams()).find((s) => s.name === name)?.recording ?? undefined;
}

/** The stream's files on disk, oldest first, with their sizes. */
async function filesIn(dir: string): Promise<{ name: string; bytes: number }[]> {
  const files = [];
  for await (const entry of Deno.readDir(dir)) {
    const bytes = await Deno.stat(`${dir}/${entry.name}`).then((s) => s.size, () => -1);
    if (bytes >= 0) files.push({ name: entry.name, bytes });
  }
  return files.sort((a, b) =>
    parseRecordingFileName(a.name)!.startMs - parseRecordingFileName(b.name)!.startMs ||
    parseRecordingFileName(a.name)!.sequence - parseRecordingFileName(b.name)!.sequence
  );
}

async function fileSize(path: string): Promise<number> {
  return await Deno.stat(path).then((s) => s.size, () => 0);
}

Deno.test({
  name:
    "a recording rotates at key frames, keeps to its quota, is listed and downloads with the token",
  // ffmpeg and srt-live-transmit are separate processes, awaited and stopped here.
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  await using dir = await scratchDir("atoll_recordings_");
  await using scratch = await scratchDir("atoll_recording_viewer_");
  const stream = "rec/cam";
  await using atoll = await startWithConfig(config(dir.path, stream), ["--api-token", TOKEN]);
  await using publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${atoll.srtPort}?streamid=publish:${stream}`,
    { muxRateBps: MUX_RATE_BPS },
  );
  await publisherOf(atoll, stream);

  // Rotation and quota: after about 10 s, 4 or more files were started, and the oldest deleted.
  const recording = await waitFor("five files started", async () => {
    const r = await recordingOf(atoll, stream);
    return r !== undefined && r.files >= 5 ? r : undefined;
  }, { timeoutMs: 25_000, intervalMs: 200 });
  assert.equal(recording.state, "recording");
  assert.equal(recording.dir, dir.path);
  const files = await filesIn(dir.path);
  assert.ok(files.length < recording.files, `${files.length} files kept of ${recording.files}`);
  const closed = files.filter((file) => file.name !== recording.file);
  const kept = closed.reduce((sum, file) => sum + file.bytes, 0);
  assert.ok(kept <= QUOTA_BYTES, `${kept} bytes in closed files, quota ${QUOTA_BYTES}`);
  for (const file of closed) {
    assert.equal(parseRecordingFileName(file.name)?.stream, stream);
    // Two seconds or so of 2 Mbit/s each.
    assert.ok(file.bytes > 300_000 && file.bytes < 1_200_000, `${file.name}: ${file.bytes} bytes`);
    const probe = await probeVideo(`${dir.path}/${file.name}`);
    assert.ok(probe.firstIsKey, `${file.name} starts with a key frame`);
    assert.ok(probe.frames >= 40, `${file.name}: ${probe.frames} frames`);
  }

  // The listing, and a download on the media port: with the token only.
  const list = await atoll.api<RecordingList>("/api/recordings");
  assert.equal(list.downloads, true);
  const listed = list.files.filter((f) => f.stream === stream);
  assert.ok(listed.length >= 2);
  assert.equal(listed.filter((f) => f.writing).length, 1);
  const newestClosed = listed.filter((f) => !f.writing).at(-1)!;
  assert.ok(newestClosed.url?.endsWith(`/recordings/${newestClosed.file}`));
  const denied = await fetch(newestClosed.url!);
  assert.equal(denied.status, 401);
  await denied.body?.cancel();
  const wrong = await fetch(newestClosed.url!, { headers: { authorization: "Bearer nope" } });
  assert.equal(wrong.status, 403);
  await wrong.body?.cancel();
  const traversal = await atoll.media("/recordings/..%2F..%2Fetc%2Fpasswd", {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  assert.equal(traversal.status, 404);
  await traversal.body?.cancel();
  const response = await fetch(newestClosed.url!, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  assert.equal(response.status, 200);
  const downloaded = new Uint8Array(await response.arrayBuffer());
  assert.deepEqual(downloaded, await Deno.readFile(`${dir.path}/${newestClosed.file}`));

  // The recorder is a process of its own: kill -9 touches neither the publisher nor a viewer.
  const viewed = `${scratch.path}/viewer.ts`;
  await using viewer = srtLiveTransmitViewer(atoll.srtPort, `play:${stream}`, viewed);
  await waitFor("the viewer receiving", async () => await fileSize(viewed) > 100_000, {
    timeoutMs: 10_000,
  });
  const [recorder] = atoll.recorderPids();
  assert.ok(recorder !== undefined, "a recorder process runs");
  const before = await recordingOf(atoll, stream);
  const publisherBefore = await publisherOf(atoll, stream);
  Deno.kill(recorder, "SIGKILL");
  await sleep(500);
  const viewedAtKill = await fileSize(viewed);
  const back = await waitFor("the recorder back, writing a new file", async () => {
    const r = await recordingOf(atoll, stream);
    const pids = atoll.recorderPids();
    return r?.state === "recording" && r.file !== null && r.file !== before?.file &&
        pids.length === 1 && pids[0] !== recorder
      ? r
      : undefined;
  }, { timeoutMs: 15_000, intervalMs: 200 });
  assert.ok(back.files > before!.files);
  assert.ok(await fileSize(viewed) > viewedAtKill + 100_000, "the viewer went on receiving");
  const publisherAfter = await publisherOf(atoll, stream);
  assert.equal(publisherAfter.id, publisherBefore.id, "the same publisher");
  assert.ok(publisherAfter.bytesReceived > publisherBefore.bytesReceived);
  await viewer.stop(2000);
  await publisher.stop(2000);
});

Deno.test({
  name: "a full disk stops the recording with a log line and a metric, and never the stream",
  sanitizeResources: false,
  sanitizeOps: false,
  ignore: Deno.uid() !== 0,
}, async (t) => {
  await using dir = await scratchDir("atoll_recordings_full_");
  await using scratch = await scratchDir("atoll_recording_viewer_");
  const mount = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir.path],
    stderr: "piped",
  }).output();
  if (!mount.success) {
    // A container without CAP_SYS_ADMIN: nothing to fill.
    await t.step({
      name: `skipped: cannot mount a tmpfs (${new TextDecoder().decode(mount.stderr).trim()})`,
      ignore: true,
      fn: () => {},
    });
    return;
  }
  try {
    const stream = "rec/full";
    await using atoll = await startWithConfig(config(dir.path, stream), ["--api-token", TOKEN]);
    await using publisher = await ffmpegPublisher(
      `srt://127.0.0.1:${atoll.srtPort}?streamid=publish:${stream}`,
      { muxRateBps: MUX_RATE_BPS },
    );
    await publisherOf(atoll, stream);
    const viewed = `${scratch.path}/viewer.ts`;
    await using viewer = srtLiveTransmitViewer(atoll.srtPort, `play:${stream}`, viewed);
    // 1 MB of tmpfs fills in about 4 s, before the 1.5 MB quota could help.
    await atoll.waitForLog(
      "the disk-full line",
      (line) =>
        line.level === "ERROR" && line.message.startsWith("Recording of") &&
        line.properties.stream === stream &&
        String(line.properties.detail).startsWith("the disk is full (") &&
        /No space left on device/.test(String(line.properties.detail)),
      20_000,
    );
    const failed = await waitFor("the recording failed", async () => {
      const r = await recordingOf(atoll, stream);
      return r?.state === "failed" ? r : undefined;
    }, { timeoutMs: 5000 });
    assert.equal(failed.reason, "disk-full");
    const metrics = await (await fetch(`http://127.0.0.1:${atoll.httpPort}/metrics`)).text();
    assert.match(
      metrics,
      /^atoll_recording_failures_total\{stream="rec\/full",reason="disk-full"\} 1$/m,
    );
    assert.match(metrics, /^atoll_recording_active\{stream="rec\/full"\} 0$/m);
    // Not started again in a loop; the stream flows on to the viewer.
    await waitFor("the recorder gone", () => atoll.recorderPids().length === 0, {
      timeoutMs: 5000,
    });
    const viewedThen = await fileSize(viewed);
    await sleep(2000);
    assert.equal(atoll.recorderPids().length, 0);
    assert.ok(await fileSize(viewed) > viewedThen + 200_000, "the viewer goes on receiving");
    assert.equal((await publisherOf(atoll, stream)).stream, stream);
    await viewer.stop(2000);
    await publisher.stop(2000);
    await atoll.stop();
  } finally {
    await new Deno.Command("umount", { args: [dir.path] }).output();
  }
});
