/**
 * Benchmark 11b: HLS glass-to-glass latency in a browser (issue 13),
 * Atoll's HLS against ffmpeg's own HLS muxer served by a static file
 * server, in the same run, from the same publisher.
 *
 * The publisher: ffmpeg `-re` draws each frame's number into its pixels
 * (bench/frame_bars.ts: 16 bars and their complement, 320x240, 25 fps),
 * encodes it with libx264 `-tune zerolatency` (no B-frames, no lookahead: a
 * frame leaves the encoder as soon as it is made), a key frame every second
 * exactly, and through ffmpeg's `tee` muxer writes the same MPEG-TS packets
 * twice: over SRT to Atoll (`publish:bench/g2g`), and over UDP to a socket
 * of this process on 127.0.0.1 (the tap). Before that, the same filter and
 * encoder settings make 50 frames into a file, which ffmpeg decodes back to
 * grey pixels: every frame must read back its own number, or the bench
 * stops.
 *
 * When frame N was sent: when the TS packet starting its video PES reached
 * the tap, on the wall clock (`performance.timeOrigin + performance.now()`,
 * checked against `Date.now()`). That is when ffmpeg's muxer wrote it, give
 * or take loopback UDP and this process's event loop (about a millisecond),
 * and within one packet write of when the same packets went into the SRT
 * socket. The tap's 1316-byte datagrams do not hold a frame back: the muxer
 * flushes each packet (checked: a second tee output with 188-byte
 * datagrams got every frame within 1.2 ms of it). ffmpeg's `-re` releases
 * frames on a 10 ms sleep grid, so they leave 30 to 50 ms apart; timing each
 * one's departure makes that harmless. Frame N's PTS is the first PTS the
 * tap saw (frame 0: the socket listens before ffmpeg starts) plus N frame
 * durations; the browser's mediaTime cross-checks the numbers read from
 * pixels (a frame where they disagree is counted and left out). Not counted: the source's own "capture" (synthetic) and the
 * encode, about a millisecond at this size; a camera would add both.
 *
 * On glass: tests/browser/hls_glass.mjs plays the playlist in headless
 * Debian chromium with hls.js (the build the dashboard serves, default
 * config: low-latency mode on, so LL-HLS playlists are played as such), and
 * for each frame the video element presents (`requestVideoFrameCallback`)
 * reads the number from a canvas and notes the metadata's
 * `expectedDisplayTime`: when the compositor means to show it (headless:
 * no physical display, a 60 Hz frame clock, so up to 17 ms of
 * quantisation; a real screen's own lag is not in it). Both browsers run at
 * once, one per output, so both see the same moments of a shared machine.
 *
 * Glass-to-glass of frame N = its expected display time − its send time.
 * Also, per frame: when a direct viewer got it (this process reading
 * Atoll's HTTP-TS, `/bench/g2g.ts`, the PES start's arrival), so that the
 * figure splits into the delivery to a direct viewer (SRT link, Atoll) and
 * what HLS adds (segmenting, the player's polling and buffer). The
 * reference reads Atoll over SRT (`play:`), one SRT link (120 ms) more than
 * Atoll's packager, as in benchmark 11.
 *
 * Window: frames presented from `warmupSeconds` after a browser's first
 * frame, for `windowSeconds`. Stalls: the video element's `waiting` events
 * after the first frame. Rounds: hls.js plays at rate 1 from where it
 * joined (its default `maxLiveSyncPlaybackRate` is 1: it does not catch
 * up), so one session's delay depends on its join phase against the
 * segments; each round starts a fresh pair of browsers, and the edge age
 * ({@link edgeAge}) is the part of the figure the join phase does not set
 * (the phase of the player's playlist reloads still does).
 *
 * @module
 */

import { scratchDir } from "./scratch.ts";
import { HLS_JS_PATH } from "../src/server/dashboard.ts";
import { Atoll } from "../tests/support/atoll.ts";
import { ManagedProcess } from "../tests/support/process.ts";
import { sleep, waitFor } from "../tests/support/wait.ts";
import { startAtoll, STOP_GRACE_MS } from "./atoll.ts";
import { barsFilter, FRAME_BITS, readBars } from "./frame_bars.ts";
import { startHlsReference } from "./http.ts";
import { formatNumber, markdownTable, percentile } from "./summary.ts";
import { VideoPtsScanner } from "./ts_time.ts";

const STREAM = "bench/g2g";
const FPS = 25;
const WIDTH = 320;
const HEIGHT = 240;
/** 90 kHz ticks per frame. */
const FRAME_TICKS = 90_000 / FPS;
const GLASS = new URL("../tests/browser/hls_glass.mjs", import.meta.url).pathname;
const ATOLL_CONFIG = "streamDefaults:\n  hls: always\n";
/** The publisher stops by itself after this, whatever happens. */
const PUBLISHER_SECONDS = 300;
/** Frames the encoding check makes and reads back. */
const CHECK_FRAMES = 50;

export interface HlsLatencyOptions {
  /** Pairs of browsers, one after the other, each joining afresh. */
  rounds: number;
  warmupSeconds: number;
  windowSeconds: number;
  /** Another checkout's `main.ts` to measure (a branch before it lands, say); this one's by default. */
  atollMain?: string;
}

/** Milliseconds, nearest rank. */
export interface Figures {
  count: number;
  p50: number;
  p95: number;
  max: number;
  min: number;
}

/** What a playlist said when the window began. */
export interface PlaylistShape {
  version: number | null;
  targetDuration: number | null;
  /** EXTINF durations, s. */
  segmentSeconds: number[];
  parts: number;
  partTarget: number | null;
  serverControl: string | null;
}

export interface GlassPath {
  path: "atoll-hls" | "ffmpeg-hls";
  round: number;
  url: string;
  ok: boolean;
  reason: string | null;
  playlist: PlaylistShape | null;
  /** As hls.js saw it (lowLatencyMode, partTarget, canBlockReload...). */
  hlsJsPlaylist: Record<string, unknown> | null;
  /** First frame on glass − the browser's start of playback, ms. */
  startupMs: number | null;
  /** Frames presented in the window: read, unreadable, not matched to a send. */
  frames: { presented: number; read: number; unreadable: number; unmatched: number };
  /** Frame numbers skipped between presented frames, in the window. */
  skipped: number;
  /**
   * Frames whose number − mediaTime × fps differs from the window's most
   * common value: left out of the figures (the canvas drew another frame
   * than the callback's times are for, or a misread).
   */
  mediaTimeDisagreements: number;
  /** Per frame read in the window: [number, sent, direct viewer's arrival or null, on glass] (wall clock, ms). */
  samples: [number, number, number | null, number][];
  glassToGlass: Figures | null;
  /** These frames' departures behind `-re`'s schedule (see {@link HlsLatencySuite.tap}): the send clock's error bar. */
  sendLate: Figures | null;
  /** The HTTP-TS reader's arrival − send, for the same frames. */
  directViewer: Figures | null;
  /** On glass − the HTTP-TS reader's arrival. */
  hlsAdds: Figures | null;
  stalls: { window: number; total: number };
  /** hls.js's `latency` and `targetLatency`, s, sampled every 500 ms in the window. */
  hlsJsLatency: Figures | null;
  hlsJsTargetLatency: number | null;
  quality: { totalVideoFrames: number; droppedVideoFrames: number } | null;
  errors: number;
  /** hls.js's error details, each once, fatal ones marked. */
  errorDetails: string[];
  /** Date.now() − (timeOrigin + now) in the page, ms: median, max |value|. */
  pageClock: [number, number] | null;
  browser: string | null;
}

export interface HlsLatencySuite {
  options: HlsLatencyOptions;
  commands: Record<string, string>;
  barsCheck: { frames: number; read: number };
  /**
   * The tap after its first second (ffmpeg's start-up burst): frames seen,
   * inter-arrival p50 / max ms, and each frame's arrival behind `-re`'s
   * schedule (the earliest arrival − N frame durations, + N frame
   * durations): how far a departure stamp may be late, ffmpeg's 10 ms sleep
   * grid and any stall of ffmpeg or of this process included.
   */
  tap: { frames: number; intervalP50: number; intervalMax: number; late: Figures | null };
  /** Date.now() − (timeOrigin + now) in this process at the end, ms (the page's is per path). */
  benchClock: number | null;
  paths: GlassPath[];
  notes: string[];
}

function figures(values: number[], digits = 1): Figures | null {
  if (values.length === 0) return null;
  const scale = 10 ** digits;
  const round = (value: number) => Math.round(value * scale) / scale;
  return {
    count: values.length,
    p50: round(percentile(values, 50)),
    p95: round(percentile(values, 95)),
    max: round(Math.max(...values)),
    min: round(Math.min(...values)),
  };
}

const wallClockMs = () => performance.timeOrigin + performance.now();

/** libx264 settings shared by the encoding check and the publisher. */
const ENCODER_ARGS = [
  ...["-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-crf", "20"],
  // A key frame every second exactly: no scene-cut key frames (the high bars' flips would make
  // some), so both segmenters see the same 1 s grid of places to cut.
  ...["-g", String(FPS), "-keyint_min", String(FPS), "-sc_threshold", "0", "-pix_fmt", "yuv420p"],
];

function sourceArgs(): string[] {
  return [
    ...["-f", "lavfi", "-i"],
    `nullsrc=s=${WIDTH}x${HEIGHT}:r=${FPS},format=yuv420p,${barsFilter()}`,
  ];
}

async function run(command: string, args: string[]): Promise<Uint8Array> {
  const output = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" })
    .output();
  if (!output.success) {
    throw new Error(`${command} failed: ${new TextDecoder().decode(output.stderr).slice(-500)}`);
  }
  return output.stdout;
}

/** Encodes {@link CHECK_FRAMES} frames as the publisher does, decodes them, and reads them back. */
async function checkBars(dir: string): Promise<HlsLatencySuite["barsCheck"]> {
  const file = `${dir}/bars_check.ts`;
  await run("ffmpeg", [
    ...["-hide_banner", "-loglevel", "error", "-nostdin", "-y"],
    ...sourceArgs(),
    ...["-frames:v", String(CHECK_FRAMES), ...ENCODER_ARGS, "-f", "mpegts", file],
  ]);
  const gray = await run("ffmpeg", [
    ...["-hide_banner", "-loglevel", "error", "-nostdin", "-i", file],
    ...["-f", "rawvideo", "-pix_fmt", "gray", "-"],
  ]);
  const size = WIDTH * HEIGHT;
  const frames = Math.floor(gray.byteLength / size);
  let read = 0;
  for (let n = 0; n < frames; n++) {
    if (readBars(gray.subarray(n * size, (n + 1) * size), WIDTH, HEIGHT) === n) read++;
  }
  if (frames !== CHECK_FRAMES || read !== frames) {
    throw new Error(`The frame numbers did not survive encoding: ${read} of ${frames} read back`);
  }
  return { frames, read };
}

/** Each video PTS's first arrival, on the wall clock. */
type Arrivals = Map<number, number>;

function noteArrivals(scanner: VideoPtsScanner, bytes: Uint8Array, arrivals: Arrivals): void {
  const at = wallClockMs();
  for (const pts of scanner.push(bytes)) if (!arrivals.has(pts)) arrivals.set(pts, at);
}

/** The UDP tap: every TS datagram the publisher writes beside its SRT output. */
function startTap(): {
  port: number;
  arrivals: Arrivals;
  firstPts(): number | undefined;
  close(): void;
} {
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const arrivals: Arrivals = new Map();
  let first: number | undefined;
  const scanner = new VideoPtsScanner();
  (async () => {
    try {
      for (;;) {
        const [bytes] = await socket.receive();
        const at = wallClockMs();
        for (const pts of scanner.push(bytes)) {
          first ??= pts;
          if (!arrivals.has(pts)) arrivals.set(pts, at);
        }
      }
    } catch {
      // Closed.
    }
  })();
  return {
    port: (socket.addr as Deno.NetAddr).port,
    arrivals,
    firstPts: () => first,
    close: () => socket.close(),
  };
}

/** A direct viewer: reads Atoll's HTTP-TS until stopped, noting each frame's arrival. */
function startDirectViewer(url: string): { arrivals: Arrivals; stop(): Promise<void> } {
  const arrivals: Arrivals = new Map();
  const stop = new AbortController();
  const stopped = new Promise<undefined>((resolve) =>
    stop.signal.addEventListener("abort", () => resolve(undefined))
  );
  const reading = (async () => {
    const scanner = new VideoPtsScanner();
    const response = await Promise.race([fetch(url, { signal: stop.signal }), stopped]);
    if (response === undefined || response.body === null) return;
    const reader = response.body.getReader();
    try {
      for (;;) {
        // Raced against the stop: an aborted fetch does not always end a body being read.
        const read = await Promise.race([reader.read(), stopped]);
        if (read === undefined || read.done) break;
        noteArrivals(scanner, read.value, arrivals);
      }
    } finally {
      reader.cancel().catch(() => {});
    }
  })().catch(() => {});
  return {
    arrivals,
    stop: async () => {
      stop.abort();
      await reading;
    },
  };
}

function publisherArgs(srtPort: number, tapPort: number): string[] {
  return [
    ...["-hide_banner", "-loglevel", "error", "-nostdin", "-re"],
    ...sourceArgs(),
    ...["-t", String(PUBLISHER_SECONDS), "-map", "0:v", ...ENCODER_ARGS, "-f", "tee"],
    `[f=mpegts]srt://127.0.0.1:${srtPort}?streamid=publish:${STREAM}|` +
    `[f=mpegts:onfail=ignore]udp://127.0.0.1:${tapPort}?pkt_size=1316`,
  ];
}

/** The tags that tell a classic playlist from a low-latency one. */
export function playlistShape(text: string): PlaylistShape {
  const number = (pattern: RegExp) => {
    const found = pattern.exec(text)?.[1];
    return found === undefined ? null : Number(found);
  };
  return {
    version: number(/^#EXT-X-VERSION:(\d+)/m),
    targetDuration: number(/^#EXT-X-TARGETDURATION:([\d.]+)/m),
    segmentSeconds: [...text.matchAll(/^#EXTINF:([\d.]+)/gm)].map((match) => Number(match[1])),
    parts: text.match(/^#EXT-X-PART:/gm)?.length ?? 0,
    partTarget: number(/^#EXT-X-PART-INF:.*PART-TARGET=([\d.]+)/m),
    serverControl: /^#EXT-X-SERVER-CONTROL:(.*)$/m.exec(text)?.[1] ?? null,
  };
}

async function fetchShape(url: string): Promise<PlaylistShape | null> {
  const response = await fetch(url).catch(() => undefined);
  if (response?.status !== 200) {
    await response?.body?.cancel();
    return null;
  }
  return playlistShape(await response.text());
}

function waitForSegments(url: string, segments: number, timeoutMs: number): Promise<true> {
  return waitFor(`${segments} segments in ${url}`, async () => {
    const shape = await fetchShape(url);
    return (shape?.segmentSeconds.length ?? 0) >= segments;
  }, { timeoutMs, intervalMs: 250 });
}

/** What tests/browser/hls_glass.mjs reports. */
interface GlassReport {
  ok: boolean;
  reason?: string;
  browser?: string | null;
  startedAt?: number;
  firstFrameAt?: number | null;
  /** [number, expectedDisplayTime, presentationTime, mediaTime, presentedFrames]. */
  frames?: [number, number, number, number, number][];
  waiting?: number[];
  hls?: { at: number; latency: number; targetLatency: number | null }[];
  errors?: { fatal: boolean; details: string }[];
  clock?: number[];
  playlist?: Record<string, unknown>;
  quality?: { totalVideoFrames: number; droppedVideoFrames: number };
}

/** Reads one browser's frames against the sends and the direct viewer's arrivals. */
export function analyse(
  path: GlassPath["path"],
  url: string,
  glass: GlassReport,
  sends: { firstPts: number; arrivals: Arrivals },
  direct: Arrivals,
  options: HlsLatencyOptions,
): GlassPath {
  const result: GlassPath = {
    path,
    round: 0,
    url,
    ok: glass.ok,
    reason: glass.reason ?? null,
    playlist: null,
    hlsJsPlaylist: glass.playlist ?? null,
    startupMs: null,
    frames: { presented: 0, read: 0, unreadable: 0, unmatched: 0 },
    skipped: 0,
    mediaTimeDisagreements: 0,
    samples: [],
    glassToGlass: null,
    sendLate: null,
    directViewer: null,
    hlsAdds: null,
    stalls: { window: 0, total: 0 },
    hlsJsLatency: null,
    hlsJsTargetLatency: null,
    quality: glass.quality ?? null,
    errors: glass.errors?.length ?? 0,
    errorDetails: [
      ...new Set(
        (glass.errors ?? []).map((error) => `${error.details}${error.fatal ? " (fatal)" : ""}`),
      ),
    ],
    pageClock: null,
    browser: glass.browser ?? null,
  };
  const first = glass.firstFrameAt;
  if (first === null || first === undefined) return result;
  if (glass.startedAt !== undefined) result.startupMs = Math.round(first - glass.startedAt);
  // The page's wall clock against the system's (its Date.now()): added to its times.
  const clock = glass.clock ?? [];
  const skew = clock.length > 0 ? percentile(clock, 50) : 0;
  if (clock.length > 0) {
    result.pageClock = [
      Math.round(skew * 10) / 10,
      Math.round(Math.max(...clock.map(Math.abs)) * 10) / 10,
    ];
  }
  const from = first + options.warmupSeconds * 1000;
  const to = from + options.windowSeconds * 1000;
  const inWindow = (at: number) => at >= from && at < to;
  const schedule = scheduleOffset(sends.arrivals, sends.firstPts);
  const sendLate: number[] = [];
  const glassToGlass: number[] = [];
  const directViewer: number[] = [];
  const hlsAdds: number[] = [];
  const frames = (glass.frames ?? []).filter(([, displayAt]) => inWindow(displayAt));
  // The number read from the pixels against the callback's mediaTime: their difference is one
  // constant for the whole session. A frame off it is left out of the figures: the canvas drew
  // another frame than the one the callback's times are for (a page running late), or a misread.
  const offsets = new Map<number, number>();
  for (const [number, , , mediaTime] of frames) {
    if (number < 0) continue;
    const offset = number - Math.round(mediaTime * FPS);
    offsets.set(offset, (offsets.get(offset) ?? 0) + 1);
  }
  const common = [...offsets.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
  let previous: number | undefined;
  for (const [number, displayAt, , mediaTime] of frames) {
    result.frames.presented++;
    if (number < 0) {
      result.frames.unreadable++;
      continue;
    }
    result.frames.read++;
    if (previous !== undefined && number > previous + 1) result.skipped += number - previous - 1;
    previous = number;
    if (number - Math.round(mediaTime * FPS) !== common) {
      result.mediaTimeDisagreements++;
      continue;
    }
    const pts = sends.firstPts + number * FRAME_TICKS;
    const sentAt = sends.arrivals.get(pts);
    if (sentAt === undefined) {
      result.frames.unmatched++;
      continue;
    }
    const shownAt = displayAt + skew;
    glassToGlass.push(shownAt - sentAt);
    sendLate.push(sentAt - (schedule + number * FRAME_TICKS / 90));
    const directAt = direct.get(pts);
    const round = (value: number) => Math.round(value * 10) / 10;
    result.samples.push([
      number,
      round(sentAt),
      directAt === undefined ? null : round(directAt),
      round(shownAt),
    ]);
    if (directAt !== undefined) {
      directViewer.push(directAt - sentAt);
      hlsAdds.push(shownAt - directAt);
    }
  }
  result.glassToGlass = figures(glassToGlass);
  result.sendLate = figures(sendLate);
  result.directViewer = figures(directViewer);
  result.hlsAdds = figures(hlsAdds);
  const waiting = (glass.waiting ?? []).filter((at) => at >= first);
  result.stalls = { window: waiting.filter(inWindow).length, total: waiting.length };
  const samples = (glass.hls ?? []).filter((sample) => inWindow(sample.at));
  result.hlsJsLatency = figures(
    samples.map((sample) => sample.latency).filter(Number.isFinite),
    2,
  );
  result.hlsJsTargetLatency = samples.at(-1)?.targetLatency ?? null;
  return result;
}

/** The tap arrivals after the first second (ffmpeg's start-up burst), each minus its frame's place in the `-re` schedule, ms. */
function scheduleOffsets(arrivals: Arrivals, firstPts: number): number[] {
  return [...arrivals].filter(([pts]) => pts - firstPts >= 90_000)
    .map(([pts, at]) => at - (pts - firstPts) / 90);
}

/** When frame 0 would have left had every frame left on `-re`'s schedule at the earliest seen. */
function scheduleOffset(arrivals: Arrivals, firstPts: number): number {
  return Math.min(...scheduleOffsets(arrivals, firstPts));
}

/** Each tap arrival after the first second behind the `-re` schedule, ms ({@link HlsLatencySuite.tap}). */
function behindSchedule(arrivals: Arrivals, firstPts: number): Figures | null {
  const offsets = scheduleOffsets(arrivals, firstPts);
  const schedule = Math.min(...offsets);
  return figures(offsets.map((offset) => offset - schedule));
}

/** Runs one browser on `url` for the warm-up and the window; its report. */
function startGlass(
  name: string,
  url: string,
  hlsJsUrl: string,
  options: HlsLatencyOptions,
): ManagedProcess {
  const seconds = options.warmupSeconds + options.windowSeconds;
  return ManagedProcess.start(`glass-${name}`, "node", [
    GLASS,
    ...["--url", url, "--hlsjs", hlsJsUrl, "--bits", String(FRAME_BITS)],
    ...["--seconds", String(seconds), "--timeout-ms", String((seconds + 40) * 1000)],
  ]);
}

async function glassReport(
  glass: ManagedProcess,
  options: HlsLatencyOptions,
): Promise<GlassReport> {
  // The script's own watchdog ends it at its timeout + 5 s; this is the backstop:
  // SIGTERM first, so that playwright closes chromium on its way out.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise((resolve) => {
    timer = setTimeout(resolve, (options.warmupSeconds + options.windowSeconds + 60) * 1000);
  });
  await Promise.race([glass.done, late]);
  clearTimeout(timer);
  await glass.stop(10_000);
  const line = glass.lines.findLast((line) => line.startsWith('{"ok"'));
  if (line === undefined) return { ok: false, reason: `no report:\n${glass.tail()}` };
  return JSON.parse(line);
}

export async function benchHlsLatency(
  options: HlsLatencyOptions,
  progress: (line: string) => void,
): Promise<HlsLatencySuite> {
  const suite: HlsLatencySuite = {
    options,
    commands: {},
    barsCheck: { frames: 0, read: 0 },
    tap: { frames: 0, intervalP50: NaN, intervalMax: NaN, late: null },
    benchClock: null,
    paths: [],
    notes: [],
  };
  // Ctrl-C ends the bench with Deno.exit(), past the finally below.
  const { dir, removeDir } = await scratchDir("atoll_bench_g2g_");
  const started: { stop(): Promise<unknown> }[] = [];
  const tap = startTap();
  started.push({ stop: () => Promise.resolve(tap.close()) });
  try {
    suite.barsCheck = await checkBars(dir);
    progress(
      `frame numbers survive encoding: ${suite.barsCheck.read} of ${CHECK_FRAMES} read back`,
    );

    const configPath = `${dir}/atoll.yaml`;
    await Deno.writeTextFile(configPath, ATOLL_CONFIG);
    const atoll = options.atollMain === undefined
      ? await startAtoll(["--config", configPath])
      : await Atoll.start(["--config", configPath], {
        logLevel: "info",
        startTimeoutMs: 30_000,
        readyPool: true,
        main: options.atollMain,
      });
    started.push({ stop: () => atoll.stop(STOP_GRACE_MS) });
    suite.commands.atoll = atoll.commandLine +
      (options.atollMain === undefined ? "" : ` (main.ts: ${options.atollMain})`);
    suite.commands.atollConfig = ATOLL_CONFIG.trim();

    const publisher = ManagedProcess.start(
      "publisher",
      "ffmpeg",
      publisherArgs(atoll.srtPort, tap.port),
    );
    started.push({ stop: () => publisher.stop(5000) });
    suite.commands.publisher = `ffmpeg ${publisherArgs(atoll.srtPort, tap.port).join(" ")}`
      .replace(`:${atoll.srtPort}?`, ":SRTPORT?").replace(`:${tap.port}?`, ":TAPPORT?");
    await waitFor("the publisher's first frame at the tap", () => tap.firstPts() !== undefined, {
      timeoutMs: 15_000,
      intervalMs: 50,
    });
    const atollTs = `http://127.0.0.1:${atoll.mediaPort}/${STREAM}.ts`;
    // The tee connects over SRT before it writes a frame; Atoll then needs the first packets.
    await waitFor("the stream's HTTP-TS", async () => {
      const response = await fetch(atollTs).catch(() => undefined);
      await response?.body?.cancel();
      return response?.status === 200;
    }, { timeoutMs: 15_000, intervalMs: 100 });
    const direct = startDirectViewer(atollTs);
    started.push({ stop: () => direct.stop() });

    const reference = await startHlsReference(atoll.srtPort, STREAM, `${dir}/hls`, started);
    suite.commands.reference = reference.commands.ffmpeg
      .replace(`:${atoll.srtPort}?`, ":SRTPORT?");
    suite.commands.staticServer = reference.commands.staticServer;
    const urls = {
      "atoll-hls": `http://127.0.0.1:${atoll.mediaPort}/${STREAM}/index.m3u8`,
      "ffmpeg-hls": `http://127.0.0.1:${reference.port}/index.m3u8`,
    } as const;
    // Both playlists well filled, as on a stream a viewer joins after a while.
    for (const url of Object.values(urls)) await waitForSegments(url, 4, 40_000);
    progress("both HLS outputs list 4 segments: starting a browser on each");

    const hlsJsUrl = `http://127.0.0.1:${atoll.httpPort}${HLS_JS_PATH}`;
    suite.commands.browser =
      `node tests/browser/hls_glass.mjs --url URL --hlsjs http://127.0.0.1:API${HLS_JS_PATH} --bits ${FRAME_BITS} --seconds ${
        options.warmupSeconds + options.windowSeconds
      }`;
    const paths = Object.keys(urls) as (keyof typeof urls)[];
    const firstPts = tap.firstPts()!;
    // A player's join phase against the segments sets much of its delay for the
    // whole session (hls.js at rate 1 keeps the distance it started at): a new
    // pair of browsers per round, each joining wherever the clock happens to be.
    for (let round = 1; round <= options.rounds; round++) {
      const browsers = paths.map((path) => startGlass(path, urls[path], hlsJsUrl, options));
      for (const browser of browsers) started.push({ stop: () => browser.stop(10_000) });
      // The playlists as the window begins (after the browsers' start and warm-up).
      await sleep((options.warmupSeconds + 3) * 1000);
      const shapes = await Promise.all(paths.map((path) => fetchShape(urls[path])));
      const reports = await Promise.all(browsers.map((browser) => glassReport(browser, options)));
      paths.forEach((path, n) => {
        const sends = { firstPts, arrivals: tap.arrivals };
        const result = analyse(path, urls[path], reports[n]!, sends, direct.arrivals, options);
        result.round = round;
        result.playlist = shapes[n] ?? null;
        suite.paths.push(result);
        const g2g = result.glassToGlass;
        progress(
          `round ${round} ${path}: ${
            result.ok ? "" : `FAILED (${result.reason}) `
          }glass-to-glass p50 ${formatNumber(g2g?.p50)} ms, p95 ${formatNumber(g2g?.p95)} ms, max ${
            formatNumber(g2g?.max)
          } ms over ${g2g?.count ?? 0} frames; ${result.stalls.window} stalls; ${
            playlistText(result.playlist)
          }`,
        );
      });
    }
    await direct.stop();
    const sendTimes = [...tap.arrivals.values()].sort((a, b) => a - b).slice(FPS);
    const intervals = sendTimes.slice(1).map((at, n) => at - sendTimes[n]!);
    suite.tap = {
      frames: tap.arrivals.size,
      intervalP50: Math.round(percentile(intervals, 50) * 10) / 10,
      intervalMax: Math.round(Math.max(...intervals) * 10) / 10,
      late: behindSchedule(tap.arrivals, firstPts),
    };
    suite.benchClock = Math.round((Date.now() - wallClockMs()) * 10) / 10;
    if (publisher.exited) suite.notes.push(`The publisher exited early:\n${publisher.tail()}`);
    if (reference.ffmpeg.exited) {
      suite.notes.push(`ffmpeg's HLS exited early:\n${reference.ffmpeg.tail()}`);
    }
  } finally {
    for (const process of started.reverse()) await process.stop().catch(() => {});
    globalThis.removeEventListener("unload", removeDir);
    removeDir();
  }
  return suite;
}

const range = (value: Figures | null) =>
  value === null
    ? "–"
    : `${formatNumber(value.p50, 0)} / ${formatNumber(value.p95, 0)} / ${
      formatNumber(value.max, 0)
    }`;

function playlistText(shape: PlaylistShape | null): string {
  if (shape === null) return "–";
  const seconds = shape.segmentSeconds;
  const mean = seconds.length > 0 ? seconds.reduce((a, b) => a + b, 0) / seconds.length : NaN;
  const parts = shape.parts > 0
    ? `EXT-X-PART × ${shape.parts}, part target ${shape.partTarget}`
    : "no EXT-X-PART";
  return `target ${shape.targetDuration}, ${seconds.length} segments of ${
    formatNumber(mean, 2)
  } s, ${parts}${shape.serverControl === null ? "" : `, ${shape.serverControl}`}`;
}

/**
 * Glass-to-glass p50 − hls.js's `latency` p50, ms. hls.js's latency is the
 * playlist's edge (the end of its newest segment or part) plus the time
 * since that playlist was loaded, minus the playhead; so this is about how
 * old the newest listed frame was when the player loaded the playlist (what
 * the server's cutting and listing and the player's reload phase add),
 * plus the display pipeline. The join phase cancels out of it; the phase of
 * the player's reloads against the server's updates does not.
 */
function edgeAge(path: GlassPath): number | null {
  if (path.glassToGlass === null || path.hlsJsLatency === null) return null;
  return path.glassToGlass.p50 - path.hlsJsLatency.p50 * 1000;
}

/** Per output over the rounds: the mean, least and most of the rounds' figures. */
function overRounds(values: (number | null | undefined)[]): string {
  const seen = values.filter((value): value is number => typeof value === "number");
  if (seen.length === 0) return "–";
  const mean = seen.reduce((a, b) => a + b, 0) / seen.length;
  return `${formatNumber(mean, 0)} (${formatNumber(Math.min(...seen), 0)} to ${
    formatNumber(Math.max(...seen), 0)
  })`;
}

/** Markdown for BENCHMARKS.md. */
export function hlsLatencySection(suite: HlsLatencySuite): string {
  const name = (path: GlassPath["path"]) =>
    path === "atoll-hls" ? "Atoll HLS" : "ffmpeg HLS + static server";
  const table = markdownTable(
    [
      "output",
      "glass-to-glass p50 / p95 / max ms",
      "send stamp behind schedule p50 / p95 / max ms",
      "direct HTTP-TS viewer p50 / p95 / max ms",
      "HLS adds p50 / p95 / max ms",
      "frames on glass (read, unreadable, unmatched)",
      "skipped",
      "stalls in window (after first frame)",
      "first frame after play, ms",
      "hls.js latency p50 / max s, target s",
      "edge age ms",
      "dropped / decoded",
    ],
    suite.paths.map((path) => [
      `${name(path.path)}, round ${path.round}` + (path.ok ? "" : ` (failed: ${path.reason})`),
      range(path.glassToGlass),
      range(path.sendLate),
      range(path.directViewer),
      range(path.hlsAdds),
      `${path.frames.presented} (${path.frames.read}, ${path.frames.unreadable}, ${path.frames.unmatched})`,
      String(path.skipped),
      `${path.stalls.window} (${path.stalls.total})`,
      formatNumber(path.startupMs, 0),
      `${formatNumber(path.hlsJsLatency?.p50, 2)} / ${formatNumber(path.hlsJsLatency?.max, 2)}, ${
        formatNumber(path.hlsJsTargetLatency, 2)
      }`,
      formatNumber(edgeAge(path), 0),
      path.quality === null
        ? "–"
        : `${path.quality.droppedVideoFrames} / ${path.quality.totalVideoFrames}`,
    ]),
  );
  const outputs = [...new Set(suite.paths.map((path) => path.path))];
  const summary = markdownTable(
    [
      "output",
      "rounds",
      "glass-to-glass p50, ms: mean of rounds (least to most)",
      "p95, ms",
      "edge age, ms",
      "HLS adds p50, ms",
      "stalls",
    ],
    outputs.map((output) => {
      const rounds = suite.paths.filter((path) => path.path === output);
      return [
        name(output),
        `${rounds.filter((path) => path.ok).length} of ${rounds.length}`,
        overRounds(rounds.map((path) => path.glassToGlass?.p50)),
        overRounds(rounds.map((path) => path.glassToGlass?.p95)),
        overRounds(rounds.map(edgeAge)),
        overRounds(rounds.map((path) => path.hlsAdds?.p50)),
        String(rounds.reduce((sum, path) => sum + path.stalls.window, 0)),
      ];
    }),
  );
  const hlsJs = (path: GlassPath) => {
    const seen = path.hlsJsPlaylist;
    return seen === null ? "–" : Object.entries(seen).map(([key, value]) => `${key} ${value}`)
      .join(", ");
  };
  return [
    `Publisher: \`${
      suite.commands.publisher ?? ""
    }\` (${WIDTH}x${HEIGHT} ${FPS} fps, GOP 1 s, frame numbers as ${FRAME_BITS} bars; ${suite.barsCheck.read} of ${CHECK_FRAMES} frames read back after encoding). Atoll config: \`${
      suite.commands.atollConfig ?? ""
    }\`. Reference: \`${suite.commands.reference ?? ""}\` served by \`${
      suite.commands.staticServer ?? ""
    }\`. Browser: \`${suite.commands.browser ?? ""}\`, both at once, ${
      suite.paths[0]?.browser ?? "?"
    }.`,
    "",
    `Per frame on glass from ${suite.options.warmupSeconds} s after each browser's first frame, for ${suite.options.windowSeconds} s: glass-to-glass = the frame's \`expectedDisplayTime\` in chromium − when the publisher's muxer wrote it (its PES start at the UDP tap: ${suite.tap.frames} frames, every ${
      formatNumber(suite.tap.intervalP50)
    } ms at p50, largest gap ${
      formatNumber(suite.tap.intervalMax)
    } ms after the first second; behind \`-re\`'s schedule p50 / p95 / max ${
      range(suite.tap.late)
    } ms; this process's clock − the system's ${
      formatNumber(suite.benchClock)
    } ms); direct viewer = this process reading Atoll's HTTP-TS; HLS adds = on glass − direct viewer.`,
    "",
    summary,
    "",
    table,
    "",
    ...suite.paths.map((path) =>
      `- ${name(path.path)}, round ${path.round}: playlist at the window's start: ${
        playlistText(path.playlist)
      }; as hls.js saw it: ${
        hlsJs(path)
      }; frame number ≠ mediaTime × ${FPS} + the usual offset (left out): ${path.mediaTimeDisagreements} frames; hls.js errors: ${path.errors}${
        path.errorDetails.length > 0 ? ` (${path.errorDetails.join(", ")})` : ""
      }; page clock − system clock: ${
        path.pageClock === null ? "–" : `${path.pageClock[0]} ms (max |${path.pageClock[1]}| ms)`
      }`
    ),
    ...suite.notes.map((note) => `- ${note}`),
  ].join("\n");
}
