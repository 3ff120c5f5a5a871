/**
 * What publishers send besides 7 whole TS packets per message: a sender that
 * cuts the stream into 1456-byte messages, an audio-only stream, and bytes
 * that are not MPEG-TS at all.
 */

import assert from "node:assert/strict";
import {
  Atoll,
  ffmpegViewer,
  ManagedProcess,
  probeVideo,
  sampleTs,
  sleep,
  srtLiveTransmitCaller,
  srtLiveTransmitViewer,
  waitFor,
} from "./support/mod.ts";
import type { StreamInfo } from "../src/server/api_types.ts";

const TS_PACKET_SIZE = 188;

async function streamNamed(atoll: Atoll, name: string): Promise<StreamInfo | undefined> {
  return (await atoll.streams()).find((s) => s.name === name);
}

/** ffmpeg publishing `args` (inputs and codecs) as MPEG-TS, in real time, to `uri`. */
function ffmpegPublishing(args: string[], uri: string): ManagedProcess {
  return ManagedProcess.start("ffmpeg", "ffmpeg", [
    "-hide_banner",
    "-loglevel",
    "error",
    "-re",
    ...args,
    "-f",
    "mpegts",
    uri,
  ]);
}

/** Audio frames ffprobe decodes in `path`, and what it complained about. */
async function probeAudio(path: string): Promise<{ frames: number; errors: string }> {
  const result = await new Deno.Command("ffprobe", {
    args: [
      "-v",
      "error",
      "-select_streams",
      "a:0",
      "-show_entries",
      "frame=pts",
      "-of",
      "csv=p=0",
      path,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const lines = new TextDecoder().decode(result.stdout).split("\n").filter((line) => line !== "");
  return { frames: lines.length, errors: new TextDecoder().decode(result.stderr) };
}

Deno.test("a publisher sending 1456-byte messages reaches viewers as video that starts with a key frame", async () => {
  await using atoll = await Atoll.start();
  const dir = await Deno.makeTempDir({ prefix: "atoll_media_input_" });
  const url = (id: string, query = "") => `srt://127.0.0.1:${atoll.srtPort}?streamid=${id}${query}`;
  // ffmpeg's payload_size makes libsrt carry, and ffmpeg write, 1456 bytes per message; without
  // -flush_packets 0 it also sends what it has at the end of each packet it muxes.
  await using _publisher = ffmpegPublishing(
    ["-stream_loop", "-1", "-i", await sampleTs(), "-c", "copy", "-flush_packets", "0"],
    url("publish:live/chunky", "&payload_size=1456"),
  );
  const viewers: ManagedProcess[] = [];
  try {
    const publisher = await waitFor("the publisher's first key frames", async () => {
      const stream = await streamNamed(atoll, "live/chunky");
      if (stream === undefined || stream.randomAccessPoints < 2) return undefined;
      return (await atoll.connections()).find((c) => c.id === stream.publisher);
    }, { timeoutMs: 20_000 });
    // libsrt counts 44 bytes of IP, UDP and SRT headers: 1456 + 44 per packet, where 7 TS
    // packets per message would make 1316 + 44.
    const perPacket = publisher.bytesReceived / publisher.packetsReceived;
    assert.ok(perPacket > 1450, `the publisher sent ${perPacket} bytes per packet`);

    const files = [`${dir}/ffmpeg.ts`, `${dir}/slt.ts`];
    viewers.push(ffmpegViewer(url("play:live/chunky"), files[0]!, 3));
    viewers.push(srtLiveTransmitViewer(atoll.srtPort, "play:live/chunky", files[1]!));
    assert.equal((await viewers[0]!.exit(20_000)).code, 0, viewers[0]!.text);
    viewers[1]!.signal("SIGINT");
    await viewers[1]!.exit(5_000);

    for (const file of files) {
      const video = await probeVideo(file);
      assert.ok(video.frames >= 25, `${file}: only ${video.frames} frames ${video.errors}`);
      assert.ok(video.firstIsKey, `${file}: the first frame is not a key frame`);
    }
    // What srt-live-transmit wrote is Atoll's messages as sent: whole packets only.
    const raw = await Deno.readFile(files[1]!);
    assert.ok(raw.length > 0 && raw.length % TS_PACKET_SIZE === 0, `${raw.length} bytes`);
    for (let offset = 0; offset < raw.length; offset += TS_PACKET_SIZE) {
      assert.equal(raw[offset], 0x47, `sync byte at ${offset}`);
    }
    const stream = await streamNamed(atoll, "live/chunky");
    assert.equal(stream!.bytesDiscarded, 0);
  } finally {
    for (const viewer of viewers) viewer.kill();
    await Promise.all(viewers.map((viewer) => viewer.exit()));
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an audio-only stream counts its PES starts as random-access points and a viewer starts at one", async () => {
  await using atoll = await Atoll.start();
  const dir = await Deno.makeTempDir({ prefix: "atoll_media_input_" });
  await using _publisher = ffmpegPublishing(
    ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-c:a", "aac", "-b:a", "64k"],
    `srt://127.0.0.1:${atoll.srtPort}?streamid=publish:live/radio`,
  );
  const file = `${dir}/radio.ts`;
  let viewer: ManagedProcess | undefined;
  try {
    await waitFor("random-access points in the audio stream", async () => {
      const stream = await streamNamed(atoll, "live/radio");
      return stream !== undefined && stream.randomAccessPoints > 0;
    }, { timeoutMs: 20_000 });
    viewer = srtLiveTransmitViewer(atoll.srtPort, "play:live/radio", file);
    await sleep(3000);
    viewer.signal("SIGINT");
    await viewer.exit(5_000);

    const audio = await probeAudio(file);
    assert.ok(audio.frames >= 50, `only ${audio.frames} audio frames: ${audio.errors}`);
    assert.equal(audio.errors, "", "ffprobe decoded every frame without complaint");
    // The viewer got the PAT, the PMT, then the audio from the start of a PES.
    const raw = await Deno.readFile(file);
    const pidOf = (offset: number) => ((raw[offset + 1]! & 0x1f) << 8) | raw[offset + 2]!;
    assert.equal(pidOf(0), 0, "the first packet is the PAT");
    let firstAudio = -1;
    for (let o = 0; o < raw.length && firstAudio < 0; o += TS_PACKET_SIZE) {
      if (pidOf(o) === 0x100) firstAudio = o;
    }
    assert.ok(firstAudio > 0, "no audio packet");
    assert.ok((raw[firstAudio + 1]! & 0x40) !== 0, "the first audio packet starts a PES");
    const stream = await streamNamed(atoll, "live/radio");
    assert.ok(stream!.randomAccessPoints >= 3, `${stream!.randomAccessPoints} points`);
  } finally {
    viewer?.kill();
    await viewer?.exit();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a publisher that sends no MPEG-TS is logged once, and its discarded bytes are counted", async () => {
  await using atoll = await Atoll.start();
  await using publisher = srtLiveTransmitCaller(atoll.srtPort, "publish:live/notts");
  const text = new TextEncoder().encode("this is not an MPEG transport stream\n".repeat(30));
  const written = async (rounds: number) => {
    for (let i = 0; i < rounds; i++) {
      await publisher.write(text);
      await sleep(20);
    }
  };
  await waitFor("the publisher to be connected", async () => {
    const stream = await streamNamed(atoll, "live/notts");
    return stream?.publisher !== null && stream?.publisher !== undefined;
  }, { timeoutMs: 15_000 });
  await written(20);
  const stream = await waitFor("discarded bytes", async () => {
    const stream = await streamNamed(atoll, "live/notts");
    return stream !== undefined && stream.bytesDiscarded > 10_000 && stream;
  }, { timeoutMs: 15_000 });
  assert.equal(stream.bytesIn, 0, "nothing went into the stream buffer");
  assert.equal(stream.randomAccessPoints, 0);

  const notice = (line: { message: string; properties: Record<string, unknown> }) =>
    String(line.properties.message ?? "").includes("sends no MPEG-TS");
  const logged = await atoll.waitForLog("the not-MPEG-TS warning", notice, 5_000);
  assert.equal(logged.level, "WARN");
  await written(20);
  await waitFor("more discarded bytes", async () => {
    const later = await streamNamed(atoll, "live/notts");
    return later !== undefined && later.bytesDiscarded > stream.bytesDiscarded;
  }, { timeoutMs: 15_000 });
  assert.equal(atoll.logs.filter(notice).length, 1, "one warning, not one per message");

  const metrics = await (await fetch(`http://127.0.0.1:${atoll.httpPort}/metrics`)).text();
  const sample = metrics.match(
    /^atoll_stream_discarded_bytes_total\{stream="live\/notts"\} (\d+)$/m,
  );
  assert.ok(sample !== null && Number(sample[1]) > 10_000, metrics);
});
