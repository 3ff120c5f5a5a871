/**
 * Issue 9, point 4: `/api/streams` shows each stream's tracks, codec,
 * picture size and frame rate, sample rate and channels, as ffprobe sees
 * the same input. The publisher is ffmpeg, sending a file it made with lavfi
 * sources in real time.
 */

import assert from "node:assert/strict";
import { Atoll, ManagedProcess, waitFor } from "./support/mod.ts";
import type { TrackInfo } from "../src/media/track_info.ts";

interface Case {
  readonly name: string;
  readonly video: string[];
  readonly audio: string[];
}

const CASES: Case[] = [
  {
    name: "H.264 1280x720 25 fps and AAC 48 kHz stereo",
    video: [
      ...["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25"],
      ...["-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p"],
    ],
    audio: [
      ...["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"],
      ...["-c:a", "aac", "-ac", "2"],
    ],
  },
  {
    name: "HEVC 640x360 30 fps and MP2 44.1 kHz mono",
    video: [
      ...["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"],
      ...["-c:v", "libx265", "-preset", "ultrafast", "-g", "30", "-pix_fmt", "yuv420p"],
      ...["-x265-params", "log-level=error"],
    ],
    audio: [
      ...["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"],
      ...["-c:a", "mp2", "-ac", "1"],
    ],
  },
];

const CODEC_NAMES: Record<string, string> = { h264: "H.264", hevc: "HEVC", aac: "AAC", mp2: "MP2" };

/** The tracks ffprobe finds in `file`, in the API's terms. */
async function probeTracks(file: string): Promise<Omit<TrackInfo, "pid">[]> {
  const result = await new Deno.Command("ffprobe", {
    args: [
      ...["-v", "error", "-of", "json", "-show_entries"],
      "stream=codec_type,codec_name,width,height,r_frame_rate,sample_rate,channels",
      file,
    ],
    stdout: "piped",
  }).output();
  assert.ok(result.success, "ffprobe");
  const { streams } = JSON.parse(new TextDecoder().decode(result.stdout)) as {
    streams: Record<string, string | number>[];
  };
  return streams.map((s) => {
    const video = s.codec_type === "video";
    const [num, den] = String(s.r_frame_rate).split("/").map(Number);
    return {
      kind: video ? "video" : "audio",
      codec: CODEC_NAMES[String(s.codec_name)] ?? String(s.codec_name),
      width: video ? Number(s.width) : null,
      height: video ? Number(s.height) : null,
      frameRate: video ? Math.round(num! / den! * 1000) / 1000 : null,
      sampleRate: video ? null : Number(s.sample_rate),
      channels: video ? null : Number(s.channels),
    };
  });
}

for (const c of CASES) {
  Deno.test(`/api/streams shows the tracks of ${c.name} as ffprobe sees them`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "atoll_stream_info_" });
    const file = `${dir}/input.ts`;
    let publisher: ManagedProcess | undefined;
    try {
      const made = await new Deno.Command("ffmpeg", {
        args: [
          ...["-hide_banner", "-loglevel", "error", "-y"],
          ...c.video.slice(0, 4),
          ...c.audio.slice(0, 4),
          ...["-t", "4", "-map", "0:v", "-map", "1:a"],
          ...c.video.slice(4),
          ...c.audio.slice(4),
          ...["-f", "mpegts", file],
        ],
        stderr: "piped",
      }).output();
      assert.ok(made.success, new TextDecoder().decode(made.stderr));
      const expected = await probeTracks(file);
      assert.equal(expected.length, 2);

      await using atoll = await Atoll.start();
      const stream = "live/info";
      publisher = ManagedProcess.start("ffmpeg", "ffmpeg", [
        ...["-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", file],
        ...[
          "-c",
          "copy",
          "-f",
          "mpegts",
          `srt://127.0.0.1:${atoll.srtPort}?streamid=publish:${stream}`,
        ],
      ]);
      let seen: TrackInfo[] = [];
      await waitFor("the tracks in /api/streams", async () => {
        seen = (await atoll.streams())[0]?.tracks ?? [];
        return seen.length === 2 && seen.every((t) => t.channels !== null || t.frameRate !== null);
      }, { timeoutMs: 15_000 });
      assert.deepEqual(seen.map(({ pid: _, ...rest }) => rest), expected);
      assert.ok(seen.every((t) => t.pid > 0 && t.pid < 0x1fff));
    } finally {
      publisher?.kill();
      await publisher?.exit();
      await Deno.remove(dir, { recursive: true });
    }
  });
}
