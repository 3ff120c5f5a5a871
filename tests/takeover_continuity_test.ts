/**
 * Issue 14, point 6b: when a new publisher takes a stream over, a viewer
 * that stays sees every PID it had received either continue its continuity
 * counter or carry the discontinuity flag. ffmpeg publishes video and audio,
 * srt-live-transmit records exactly what the viewer got, and the recording
 * is checked packet by packet (and by ffmpeg's own demuxer).
 */

import assert from "node:assert/strict";
import { Atoll, ManagedProcess, srtLiveTransmitViewer, waitFor } from "./support/mod.ts";
import { findContinuityErrors } from "../src/media/continuity.ts";
import { TS_PACKET_SIZE } from "../src/media/mpegts.ts";

const STREAM = "live/takeover";

/** Two seconds of H.264 and AAC, so that PIDs with and without adaptation fields are both spliced. */
async function makeSample(dir: string): Promise<string> {
  const path = `${dir}/sample.ts`;
  const result = await new Deno.Command("ffmpeg", {
    args: [
      ...["-hide_banner", "-loglevel", "error", "-y"],
      ...["-f", "lavfi", "-i", "testsrc=size=160x120:rate=25"],
      ...["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"],
      ...["-t", "2", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-b:v", "300k"],
      ...["-c:a", "aac", "-b:a", "64k", "-f", "mpegts", path],
    ],
    stderr: "piped",
  }).output();
  if (!result.success) throw new Error(`ffmpeg: ${new TextDecoder().decode(result.stderr)}`);
  return path;
}

function publisher(sample: string, port: number): ManagedProcess {
  return ManagedProcess.start("ffmpeg", "ffmpeg", [
    ...["-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", sample],
    ...["-c", "copy", "-f", "mpegts", `srt://127.0.0.1:${port}?streamid=publish:${STREAM}`],
  ]);
}

async function viewerBytesSent(atoll: Atoll): Promise<number | undefined> {
  const found = (await atoll.connections()).filter((c) => c.mode === "play");
  return found.length === 1 ? found[0]!.bytesSent : undefined;
}

/** The "Continuity check failed" lines of ffmpeg's demuxer (logged at debug level) for `path`. */
async function ffmpegContinuityComplaints(path: string): Promise<string[]> {
  const result = await new Deno.Command("ffmpeg", {
    args: ["-hide_banner", "-v", "debug", "-i", path, "-f", "null", "-"],
    stdout: "null",
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(result.stderr).split("\n")
    .filter((line) => line.includes("Continuity check failed"));
}

Deno.test("after a publisher takeover, every PID a viewer got continues its counter or is flagged", async () => {
  await using atoll = await Atoll.start();
  const dir = await Deno.makeTempDir({ prefix: "atoll_takeover_" });
  const recording = `${dir}/viewer.ts`;
  const publishers: ManagedProcess[] = [];
  const viewers: ManagedProcess[] = [];
  try {
    const sample = await makeSample(dir);
    publishers.push(publisher(sample, atoll.srtPort));
    const original = await waitFor("the first publisher sending media", async () => {
      const [stream] = await atoll.streams();
      return stream?.publisher !== null && (stream?.randomAccessPoints ?? 0) >= 1 &&
        stream?.publisher;
    }, { timeoutMs: 15_000 });
    // It joins mid-stream: the join itself is checked too.
    viewers.push(srtLiveTransmitViewer(atoll.srtPort, `play:${STREAM}`, recording));
    await waitFor("the viewer receiving", async () => ((await viewerBytesSent(atoll)) ?? 0) > 0);
    await new Promise((resolve) => setTimeout(resolve, 1500));

    // The encoder dies without a goodbye; another takes over once the old one
    // has been silent for the publisher timeout, retrying while refused.
    publishers[0]!.kill();
    await publishers[0]!.exit();
    await waitFor("the new publisher", async () => {
      const [stream] = await atoll.streams();
      if (stream?.publisher !== null && stream?.publisher !== original) return true;
      if (publishers.at(-1)!.exited) publishers.push(publisher(sample, atoll.srtPort));
      return false;
    }, { timeoutMs: 15_000 });
    const sentAtTakeover = (await viewerBytesSent(atoll))!;
    await waitFor(
      "the new publisher's media reaching the viewer",
      async () => ((await viewerBytesSent(atoll)) ?? 0) > sentAtTakeover + 100_000,
      { timeoutMs: 15_000 },
    );
    viewers[0]!.signal("SIGINT");
    await viewers[0]!.exit(5_000);

    const bytes = await Deno.readFile(recording);
    const ts = bytes.subarray(0, bytes.length - (bytes.length % TS_PACKET_SIZE));
    assert.ok(ts.length > 200_000, `only ${ts.length} bytes recorded`);
    const errors = findContinuityErrors(ts);
    assert.deepEqual(
      errors.slice(0, 10),
      [],
      `${errors.length} continuity errors in what the viewer got`,
    );
    assert.deepEqual(await ffmpegContinuityComplaints(recording), []);
  } finally {
    for (const process of [...publishers, ...viewers]) process.kill();
    await Promise.all([...publishers, ...viewers].map((process) => process.exit()));
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a lapped viewer's skip ahead leaves every PID continuing its counter or flagged", async () => {
  // 64 KiB holds under a second of the sample stream.
  const config = await Deno.makeTempFile({ suffix: ".json" });
  await Deno.writeTextFile(
    config,
    JSON.stringify({ streamDefaults: { buffer: { bytes: 65536 } } }),
  );
  await using atoll = await Atoll.start(["--config", config]);
  await Deno.remove(config);
  const dir = await Deno.makeTempDir({ prefix: "atoll_takeover_" });
  const recording = `${dir}/viewer.ts`;
  const publishers: ManagedProcess[] = [];
  const viewers: ManagedProcess[] = [];
  try {
    publishers.push(publisher(await makeSample(dir), atoll.srtPort));
    await waitFor("the publisher sending media", async () => {
      const [stream] = await atoll.streams();
      return (stream?.randomAccessPoints ?? 0) >= 1;
    }, { timeoutMs: 15_000 });
    viewers.push(srtLiveTransmitViewer(atoll.srtPort, `play:${STREAM}`, recording));
    const [child] = await waitFor("the viewer receiving", async () => {
      const found = (await atoll.connections()).filter((c) => c.mode === "play");
      return found.length === 1 && found[0]!.bytesSent > 0 && found;
    });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    // Freeze the viewer's child (its SRT connection too) until the ring laps it.
    Deno.kill(child!.pid, "SIGSTOP");
    await new Promise((resolve) => setTimeout(resolve, 1500));
    Deno.kill(child!.pid, "SIGCONT");
    await waitFor("the skip to be counted", async () => {
      const [stream] = await atoll.streams();
      return (stream?.viewerSkips ?? 0) >= 1;
    });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    viewers[0]!.signal("SIGINT");
    await viewers[0]!.exit(5_000);

    const bytes = await Deno.readFile(recording);
    const ts = bytes.subarray(0, bytes.length - (bytes.length % TS_PACKET_SIZE));
    assert.ok(ts.length > 100_000, `only ${ts.length} bytes recorded`);
    const errors = findContinuityErrors(ts);
    assert.deepEqual(
      errors.slice(0, 10),
      [],
      `${errors.length} continuity errors in what the viewer got`,
    );
    assert.deepEqual(await ffmpegContinuityComplaints(recording), []);
  } finally {
    for (const process of [...publishers, ...viewers]) process.kill();
    await Promise.all([...publishers, ...viewers].map((process) => process.exit()));
    await Deno.remove(dir, { recursive: true });
  }
});
