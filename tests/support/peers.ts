/**
 * Real SRT peers for end-to-end tests: srt-live-transmit and ffmpeg as
 * publishers and viewers, a one-shot libsrt caller that reports its reject
 * reason, and the media they send.
 *
 * @module
 */

import { ManagedProcess } from "./process.ts";
import { sleep } from "./wait.ts";

/**
 * srt-live-transmit sending what is written to its stdin to Atoll as a
 * caller. `query` is added to the SRT URI (e.g. `passphrase=...`).
 */
export function srtLiveTransmitCaller(
  port: number,
  streamId: string,
  query = "",
  host = "127.0.0.1",
): ManagedProcess {
  // srt-live-transmit sends the stream id verbatim.
  const uri = `srt://${host}:${port}?streamid=${streamId}${query ? `&${query}` : ""}`;
  return ManagedProcess.start("srt-live-transmit", "srt-live-transmit", [
    "-a:no",
    "file://con",
    uri,
  ], { stdin: "piped" });
}

/** srt-live-transmit playing `streamId` from Atoll into the file `path`. */
export function srtLiveTransmitViewer(
  port: number,
  streamId: string,
  path: string,
): ManagedProcess {
  const uri = `srt://127.0.0.1:${port}?streamid=${streamId}`;
  return ManagedProcess.start("srt-live-transmit", "srt-live-transmit", [
    "-a:no",
    "-q",
    uri,
    "file://con",
  ], { stdout: { file: path } });
}

/** Writes `seconds` of 188-byte TS-sized chunks at about `mbps`, bounded in time. */
export async function feed(peer: ManagedProcess, seconds: number, mbps = 2): Promise<void> {
  const chunk = new Uint8Array(1316).fill(0x47);
  const perTick = Math.max(1, Math.round((mbps * 1e6) / 8 / 1316 / 100));
  const ticks = Math.round(seconds * 100);
  for (let tick = 0; tick < ticks; tick++) {
    for (let i = 0; i < perTick; i++) await peer.write(chunk);
    await sleep(10);
  }
}

let sampleFile: Promise<string> | undefined;

/** A 3-second H.264 MPEG-TS made once per test process with ffmpeg. */
export function sampleTs(): Promise<string> {
  sampleFile ??= (async () => {
    const path = await Deno.makeTempFile({ prefix: "atoll_sample_", suffix: ".ts" });
    const result = await new Deno.Command("ffmpeg", {
      args: [
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x240:rate=25",
        "-t",
        "3",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "25",
        "-b:v",
        "800k",
        "-f",
        "mpegts",
        path,
      ],
      stderr: "piped",
    }).output();
    if (!result.success) throw new Error(`ffmpeg: ${new TextDecoder().decode(result.stderr)}`);
    globalThis.addEventListener("unload", () => Deno.removeSync(path));
    return path;
  })();
  return sampleFile;
}

/**
 * ffmpeg publishing the sample in a loop at real-time speed to `uri`; with
 * `muxRateBps`, padded with null packets to that constant rate (the sample
 * alone is about 0.7 Mbit/s).
 */
export async function ffmpegPublisher(
  uri: string,
  options: { muxRateBps?: number } = {},
): Promise<ManagedProcess> {
  const file = await sampleTs();
  return ManagedProcess.start("ffmpeg", "ffmpeg", [
    "-hide_banner",
    "-loglevel",
    "error",
    "-re",
    "-stream_loop",
    "-1",
    "-i",
    file,
    "-c",
    "copy",
    ...(options.muxRateBps === undefined ? [] : ["-muxrate", String(options.muxRateBps)]),
    "-f",
    "mpegts",
    uri,
  ]);
}

/** ffmpeg playing `uri` for `seconds` and saving what it got, unchanged, as MPEG-TS in `path`. */
export function ffmpegViewer(uri: string, path: string, seconds: number): ManagedProcess {
  return ManagedProcess.start("ffmpeg", "ffmpeg", [
    "-hide_banner",
    "-loglevel",
    "error",
    "-y",
    "-i",
    uri,
    "-c",
    "copy",
    "-t",
    String(seconds),
    "-f",
    "mpegts",
    path,
  ]);
}

/** What ffprobe decodes of the video in `path`: frame count and whether the first is a key frame. */
export async function probeVideo(
  path: string,
): Promise<{ frames: number; firstIsKey: boolean; errors: string }> {
  const result = await new Deno.Command("ffprobe", {
    args: [
      "-v",
      "error",
      "-select_streams",
      "v:0",
      "-show_entries",
      "frame=key_frame",
      "-of",
      "csv=p=0",
      path,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const lines = new TextDecoder().decode(result.stdout).split("\n").filter((line) => line !== "");
  return {
    frames: lines.length,
    firstIsKey: lines[0]?.startsWith("1") ?? false,
    errors: new TextDecoder().decode(result.stderr),
  };
}

/** The result of one connection attempt by tests/testdata/srt_caller.ts (libsrt, blocking). */
export interface CallerResult {
  connected: boolean;
  /** libsrt's reject reason: Atoll's 1400-1599, or libsrt's own (10: bad passphrase). */
  rejectReason: number;
  rejectText: string;
  /** The receive latency both sides agreed on, once connected. */
  latencyMs: number | null;
  ms: number;
}

const SRT_CALLER = new URL("../testdata/srt_caller.ts", import.meta.url).pathname;

/** Connects once with libsrt and reports what happened, including the reject code. */
export async function tryConnect(
  port: number,
  streamId: string,
  options: { passphrase?: string; timeoutMs?: number } = {},
): Promise<CallerResult> {
  const result = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      SRT_CALLER,
      String(port),
      streamId,
      options.passphrase ?? "",
      String(options.timeoutMs ?? 5000),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(result.stdout).trim();
  // Its line is the answer: once printed, how the caller's own libsrt
  // teardown ends says nothing about Atoll (it failed once, with nothing on
  // stderr, after printing a clean connect).
  try {
    return JSON.parse(text) as CallerResult;
  } catch {
    throw new Error(
      `srt_caller failed (${result.code}): ${text} ${new TextDecoder().decode(result.stderr)}`,
    );
  }
}
