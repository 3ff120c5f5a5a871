/**
 * Issue 9, point 2: an encoder that sends its parameter sets (SPS and PPS;
 * for HEVC also VPS) only once, at the start. A viewer joining seconds
 * later must still decode from its first frame: Atoll keeps the newest
 * parameter sets and sends them ahead of the viewer's first key frame.
 *
 * The publisher: x264 or x265 writes a raw stream with access unit
 * delimiters (so ffmpeg's MPEG-TS muxer, which adds the codec's global
 * headers to key frames without an access unit delimiter, leaves it alone),
 * the test removes every parameter set after the first of each kind, and
 * ffmpeg muxes that into MPEG-TS and publishes it in real time.
 */

import assert from "node:assert/strict";
import {
  Atoll,
  ManagedProcess,
  probeVideo,
  srtLiveTransmitViewer,
  waitFor,
} from "./support/mod.ts";
import { findContinuityErrors } from "../src/media/continuity.ts";
import { TS_PACKET_SIZE } from "../src/media/mpegts.ts";

const STREAM = "live/parameter-sets";

interface Codec {
  readonly name: string;
  readonly encoder: string[];
  readonly format: string;
  /** NAL unit type from the first header byte. */
  readonly type: (header: number) => number;
  readonly parameterSetTypes: readonly number[];
  readonly keyFrameTypes: readonly number[];
}

const H264: Codec = {
  name: "H.264",
  encoder: ["-c:v", "libx264", "-preset", "ultrafast", "-x264-params", "aud=1"],
  format: "h264",
  type: (header) => header & 0x1f,
  parameterSetTypes: [7, 8],
  keyFrameTypes: [5],
};

const HEVC: Codec = {
  name: "HEVC",
  // No B-frames: the raw HEVC demuxer could not time them for the muxer.
  // Without B-frames: the raw HEVC demuxer cannot time them for the muxer.
  encoder: [
    "-c:v",
    "libx265",
    "-preset",
    "ultrafast",
    "-x265-params",
    "aud=1:bframes=0:log-level=error",
  ],
  format: "hevc",
  type: (header) => (header >> 1) & 0x3f,
  parameterSetTypes: [32, 33, 34],
  keyFrameTypes: [16, 17, 18, 19, 20, 21],
};

/** Offsets of the NAL units (first header byte) of an Annex B stream. */
function nalStarts(es: Uint8Array): number[] {
  const starts: number[] = [];
  for (let i = 0; i + 2 < es.length; i++) {
    if (es[i] === 0 && es[i + 1] === 0 && es[i + 2] === 1) {
      starts.push(i + 3);
      i += 2;
    }
  }
  return starts;
}

/**
 * Twelve seconds of video with a key frame every second whose parameter
 * sets come only once, at the start; checked, then returned as a file.
 */
async function makeStream(dir: string, codec: Codec): Promise<string> {
  const raw = `${dir}/raw.${codec.format}`;
  const result = await new Deno.Command("ffmpeg", {
    args: [
      ...["-hide_banner", "-loglevel", "error", "-y"],
      ...["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "12", "-g", "25"],
      ...codec.encoder,
      ...["-f", codec.format, raw],
    ],
    stderr: "piped",
  }).output();
  if (!result.success) throw new Error(`ffmpeg: ${new TextDecoder().decode(result.stderr)}`);
  const es = await Deno.readFile(raw);
  const starts = nalStarts(es);
  const kept: Uint8Array[] = [];
  const seen = new Set<number>();
  let keyFrames = 0;
  for (const [i, start] of starts.entries()) {
    const type = codec.type(es[start]!);
    const end = i + 1 < starts.length ? starts[i + 1]! - 3 : es.length;
    if (codec.keyFrameTypes.includes(type)) keyFrames++;
    if (codec.parameterSetTypes.includes(type)) {
      if (seen.has(type)) continue;
      seen.add(type);
    }
    kept.push(new Uint8Array([0, 0, 1]), es.subarray(start, end));
  }
  const stripped = new Uint8Array(kept.reduce((sum, piece) => sum + piece.length, 0));
  let at = 0;
  for (const piece of kept) {
    stripped.set(piece, at);
    at += piece.length;
  }
  const once = `${dir}/once.${codec.format}`;
  await Deno.writeFile(once, stripped);
  // The premise: parameter sets once, many key frames.
  const left = nalStarts(stripped).map((start) => codec.type(stripped[start]!));
  for (const type of codec.parameterSetTypes) {
    assert.equal(left.filter((t) => t === type).length, 1, `NAL type ${type} once`);
  }
  assert.ok(keyFrames >= 10, `${keyFrames} key frames`);
  return once;
}

function publisher(file: string, codec: Codec, port: number): ManagedProcess {
  return ManagedProcess.start("ffmpeg", "ffmpeg", [
    ...["-hide_banner", "-loglevel", "error", "-re", "-f", codec.format, "-r", "25", "-i", file],
    ...["-c", "copy", "-f", "mpegts", `srt://127.0.0.1:${port}?streamid=publish:${STREAM}`],
  ]);
}

/**
 * The recording up to the start of its last video PES: stopping the viewer
 * cuts the last access unit short, which a decoder rightly reports.
 */
function wholeAccessUnits(recording: Uint8Array): Uint8Array {
  const end = recording.length - (recording.length % TS_PACKET_SIZE);
  for (let o = end - TS_PACKET_SIZE; o >= 0; o -= TS_PACKET_SIZE) {
    const b3 = recording[o + 3]!;
    if ((recording[o + 1]! & 0x40) === 0 || (b3 & 0x10) === 0) continue;
    const payload = (b3 & 0x20) !== 0 ? o + 5 + recording[o + 4]! : o + 4;
    if (payload + 4 > o + TS_PACKET_SIZE) continue;
    const isVideoPes = recording[payload] === 0 && recording[payload + 1] === 0 &&
      recording[payload + 2] === 1 && (recording[payload + 3]! & 0xf0) === 0xe0;
    if (isVideoPes) return recording.subarray(0, o);
  }
  return recording.subarray(0, end);
}

/** What `ffmpeg -v error` says decoding `path`, and how many frames it decoded. */
async function decode(path: string): Promise<{ errors: string[]; frames: number }> {
  const result = await new Deno.Command("ffmpeg", {
    args: ["-hide_banner", "-v", "error", "-stats", "-i", path, "-f", "null", "-"],
    stdout: "null",
    stderr: "piped",
  }).output();
  const lines = new TextDecoder().decode(result.stderr).split(/[\r\n]+/);
  const progress = lines.filter((line) => line.startsWith("frame="));
  const frames = Number(/frame=\s*(\d+)/.exec(progress.at(-1) ?? "")?.[1] ?? 0);
  return { errors: lines.filter((line) => line !== "" && !line.startsWith("frame=")), frames };
}

for (const codec of [H264, HEVC]) {
  Deno.test(`a viewer joining after the only ${codec.name} parameter sets decodes from its first frame`, async () => {
    await using atoll = await Atoll.start();
    const dir = await Deno.makeTempDir({ prefix: "atoll_parameter_sets_" });
    const recording = `${dir}/viewer.ts`;
    const processes: ManagedProcess[] = [];
    try {
      const file = await makeStream(dir, codec);
      processes.push(publisher(file, codec, atoll.srtPort));
      // Three key frames in: the first one, with the parameter sets, is long gone.
      await waitFor("the publisher's third key frame", async () => {
        const [stream] = await atoll.streams();
        return (stream?.randomAccessPoints ?? 0) >= 3;
      }, { timeoutMs: 15_000 });
      const viewer = srtLiveTransmitViewer(atoll.srtPort, `play:${STREAM}`, recording);
      processes.push(viewer);
      await waitFor("the viewer receiving", async () => {
        const viewers = (await atoll.connections()).filter((c) => c.mode === "play");
        return (viewers[0]?.bytesSent ?? 0) > 0;
      });
      await new Promise((resolve) => setTimeout(resolve, 3000));
      viewer.signal("SIGINT");
      await viewer.exit(5_000);
      const whole = `${dir}/whole.ts`;
      await Deno.writeFile(whole, wholeAccessUnits(await Deno.readFile(recording)));

      const { errors, frames } = await decode(whole);
      assert.deepEqual(errors.slice(0, 10), [], `${errors.length} lines of decoder errors`);
      assert.ok(frames >= 25, `only ${frames} frames decoded`);
      assert.equal(
        (await probeVideo(whole)).firstIsKey,
        true,
        "the first frame is a key frame",
      );
      // The inserted packets keep every continuity counter in order.
      const continuity = findContinuityErrors(await Deno.readFile(whole));
      assert.deepEqual(continuity.slice(0, 10), [], `${continuity.length} continuity errors`);
    } finally {
      for (const process of processes) process.kill();
      await Promise.all(processes.map((process) => process.exit()));
      await Deno.remove(dir, { recursive: true });
    }
  });
}
