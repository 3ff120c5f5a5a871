/**
 * Benchmark 11: HTTP outputs (issue 13, point 7). HLS and HTTP-TS from
 * Atoll's media output process, against ffmpeg's own HLS muxer served by a
 * static file server, in the same run.
 *
 * One publisher (bench/sender.ts with `--pts-log`: a real H.264 MPEG-TS
 * file looped on one continuous timeline) sends to Atoll, whose config
 * makes HLS segments of every stream always (`streamDefaults.hls: always`,
 * 2 s target, window 6), so that the packager runs through every window and
 * a 0-client window is the fair baseline. The reference: ffmpeg plays the
 * same stream from Atoll over SRT (the sender is a caller with a single
 * destination, and Atoll's SRT viewer path is the one every SRT player
 * gets, so both HLS outputs start from the same hop) and remuxes it with
 * `-c copy -f hls -hls_time 2 -hls_list_size 6 -hls_flags delete_segments`
 * into a temporary directory, which bench/static_server.ts (`Deno.serve`,
 * the same runtime as Atoll's output process) serves.
 *
 * Latency. HLS segmenters drop null packets, where the sender's stamps
 * ride (Atoll's: src/media/hls_segmenter.ts; ffmpeg's remux too), so
 * frames are timed by their PTS instead: the sender logs when it sent each
 * video PES and its PTS, on the clock every process shares; a reader
 * (bench/http_clients.ts `--measure`) notes when each frame's PTS reached
 * it, and the frame's latency is the difference. ffmpeg keeps the PTS with
 * `-copyts` and `mpegts_copyts=1`; Atoll copies packets. For HLS a frame
 * "arrives" when the whole segment holding it has been fetched by a reader
 * that polls the playlist every half target duration, as players do: send
 * → available to a player, which is most of glass-to-glass (the player's
 * own buffer and decode are not counted). A poll every half target (1 s)
 * keeps one phase against the 2 s segments for a whole run, so that
 * figure depends on the phase each reader happened to start with; a second
 * reader per HLS output polls every 100 ms, which times when the server
 * made each segment available (±100 ms), comparable between the two. For
 * HTTP-TS, when the packet starting the frame's PES is read.
 *
 * CPU per client: the output process's CPU (`/proc/PID/stat`) with 0 and
 * then N HTTP-TS readers or HLS players, and the static server's with 0 and
 * N players of ffmpeg's HLS, (N clients − 0 clients) / N per client. The
 * clients run in one Deno process on the same cores.
 *
 * Crowd: 200 HLS players against one stream for a window: segment fetch
 * times, errors, the output process's CPU and memory, the main process's
 * CPU (it carries no media) and `/healthz` times meanwhile; then the same
 * 200 against the static server.
 *
 * @module
 */

import { scratchDir } from "./scratch.ts";
import type { Atoll } from "../tests/support/atoll.ts";
import { ManagedProcess } from "../tests/support/process.ts";
import { cpuPercent, readMemory, sampleCpu } from "../tests/support/procfs.ts";
import { sleep, waitFor } from "../tests/support/wait.ts";
import { startAtoll, STOP_GRACE_MS } from "./atoll.ts";
import type { HttpClientsReport } from "./http_clients.ts";
import { makeStream } from "./streams.ts";
import { formatNumber, markdownTable, percentile } from "./summary.ts";

const STREAM = "bench/live";
const SENDER = new URL("./sender.ts", import.meta.url).pathname;
const CLIENTS = new URL("./http_clients.ts", import.meta.url).pathname;
const STATIC_SERVER = new URL("./static_server.ts", import.meta.url).pathname;
const ATOLL_CONFIG = "streamDefaults:\n  hls: always\n";
/** The sender stops by itself after this, whatever happens. */
const SENDER_SECONDS = 600;
const HEALTHZ_INTERVAL_MS = 250;
/** An HTTP-TS reader's first frames, left out of its steady-state latency. */
const JOIN_MS = 2000;

export interface HttpOptions {
  mbps: number;
  /** The latency window. */
  latencySeconds: number;
  /** Clients per CPU window (0 is measured once per server). */
  clientCounts: number[];
  cpuWindowSeconds: number;
  /** From the clients' start to a CPU window. */
  warmupSeconds: number;
  crowd: number;
  crowdSeconds: number;
}

/** Per-frame latency, ms, nearest rank. */
export interface FrameLatency {
  frames: number;
  /** Frames the reader got whose PTS the sender never logged. */
  unmatched: number;
  p50: number;
  p95: number;
  max: number;
  min: number;
}

export interface LatencyPath {
  path: "atoll-hls" | "ffmpeg-hls" | "atoll-hls-100ms" | "ffmpeg-hls-100ms" | "atoll-ts";
  latency: FrameLatency | null;
  /** HLS: a segment's arrival minus its last frame's send (what cutting and polling add). */
  afterLastFrame: FrameLatency | null;
  /** HTTP-TS: the frames of the first {@link JOIN_MS} (the buffered GOP a joining reader gets first). */
  join: FrameLatency | null;
  segments: number;
  errors: Record<string, number>;
}

export interface CpuWindow {
  server: "atoll-output" | "static";
  mode: "ts" | "hls" | "none";
  clients: number;
  /** % of one core over the window. */
  serverCpu: number;
  /** (this window's `serverCpu` − the server's 0-client one) / clients. */
  perClient: number | null;
  clientsCpu: number | null;
  bytes: number;
  segments: number;
  errors: Record<string, number>;
}

export interface CrowdWindow {
  server: "atoll-output" | "static";
  clients: number;
  seconds: number;
  segmentFetchMs: HttpClientsReport["segmentFetchMs"];
  playlistFetchMs: HttpClientsReport["playlistFetchMs"];
  segments: number;
  playlists: number;
  errors: Record<string, number>;
  serverCpu: number;
  serverRssKb: [number, number];
  /** Atoll's main process (null for the static server). */
  mainCpu: number | null;
  healthzMs: { count: number; p50: number; p95: number; max: number; failed: number } | null;
  clientsCpu: number;
}

export interface HttpSuite {
  mbps: number;
  commands: Record<string, string>;
  latency: LatencyPath[];
  cpu: CpuWindow[];
  crowd: CrowdWindow[];
  notes: string[];
}

function frameLatency(values: number[], unmatched: number): FrameLatency | null {
  if (values.length === 0) return null;
  const round = (value: number) => Math.round(value * 10) / 10;
  return {
    frames: values.length,
    unmatched,
    p50: round(percentile(values, 50)),
    p95: round(percentile(values, 95)),
    max: round(Math.max(...values)),
    min: round(Math.min(...values)),
  };
}

/** The sender's `[pts, sentAtMs]` log so far. */
function sentFrames(sender: ManagedProcess): Map<number, number> {
  const sent = new Map<number, number>();
  for (const line of sender.lines) {
    if (!line.startsWith('{"type":"pts"')) continue;
    for (const [pts, at] of JSON.parse(line).frames as [number, number][]) sent.set(pts, at);
  }
  return sent;
}

function ffmpegHlsArgs(srtPort: number, stream: string, dir: string): string[] {
  return [
    ...["-hide_banner", "-loglevel", "error", "-nostdin", "-copyts"],
    ...["-i", `srt://127.0.0.1:${srtPort}?streamid=play:${stream}`],
    ...["-c", "copy", "-f", "hls", "-hls_time", "2", "-hls_list_size", "6"],
    ...["-hls_flags", "delete_segments", "-hls_segment_options", "mpegts_copyts=1"],
    `${dir}/index.m3u8`,
  ];
}

/**
 * The HLS reference of benchmark 11: ffmpeg's own HLS muxer playing
 * `stream` from Atoll over SRT into `dir` (made here), served by
 * bench/static_server.ts; resolves once that listens. Each process goes on
 * `started`, to be stopped, as soon as it runs; `commands` shows how each
 * was started (the directory as DIR).
 */
export async function startHlsReference(
  srtPort: number,
  stream: string,
  dir: string,
  started: { stop(): Promise<unknown> }[],
): Promise<{
  ffmpeg: ManagedProcess;
  staticServer: ManagedProcess;
  port: number;
  commands: { ffmpeg: string; staticServer: string };
}> {
  await Deno.mkdir(dir);
  const ffmpeg = ManagedProcess.start("ffmpeg-hls", "ffmpeg", ffmpegHlsArgs(srtPort, stream, dir));
  started.push({ stop: () => ffmpeg.stop(5000) });
  const staticServer = ManagedProcess.start("static-server", Deno.execPath(), [
    ...["run", "-A", STATIC_SERVER, "--dir", dir],
  ]);
  started.push({ stop: () => staticServer.stop(5000) });
  const listening = await staticServer.waitForLine(
    "listening",
    (line) => line.includes('"listening"'),
    15_000,
  );
  return {
    ffmpeg,
    staticServer,
    port: JSON.parse(listening).port as number,
    commands: {
      ffmpeg: `ffmpeg ${ffmpegHlsArgs(srtPort, stream, "DIR").join(" ")}`,
      staticServer: "deno run -A bench/static_server.ts --dir DIR",
    },
  };
}

function startClients(
  url: string,
  mode: "ts" | "hls",
  count: number,
  seconds: number,
  measure = false,
  pollMs?: number,
): ManagedProcess {
  return ManagedProcess.start(`http-clients-${mode}-${count}`, Deno.execPath(), [
    ...["run", "-A", CLIENTS, "--url", url, "--mode", mode, "--count", String(count)],
    ...["--seconds", String(seconds), ...(measure ? ["--measure"] : [])],
    ...(pollMs === undefined ? [] : ["--poll-ms", String(pollMs)]),
  ]);
}

/** Waits for a clients process to end by itself (it runs `seconds` from its start) and reads its report. */
async function clientsReport(clients: ManagedProcess, seconds: number): Promise<HttpClientsReport> {
  await clients.exit((seconds + 30) * 1000);
  const line = clients.lines.find((line) => line.startsWith('{"type":"report"'));
  if (line === undefined) throw new Error(`${clients.name} made no report:\n${clients.tail()}`);
  return JSON.parse(line);
}

/** Waits until the playlist at `url` lists at least `segments` segments. */
function waitForSegments(url: string, segments: number, timeoutMs: number): Promise<true> {
  return waitFor(`${segments} segments in ${url}`, async () => {
    const response = await fetch(url).catch(() => undefined);
    if (response === undefined) return false;
    const text = await response.text();
    return response.status === 200 && (text.match(/#EXTINF/g)?.length ?? 0) >= segments;
  }, { timeoutMs, intervalMs: 250 });
}

interface Servers {
  atoll: Atoll;
  outputPid: number;
  sender: ManagedProcess;
  ffmpeg: ManagedProcess;
  staticServer: ManagedProcess;
  urls: { atollTs: string; atollHls: string; ffmpegHls: string };
}

async function measureLatency(
  servers: Servers,
  options: HttpOptions,
  suite: HttpSuite,
  progress: (line: string) => void,
): Promise<void> {
  const paths = [
    { path: "atoll-hls", url: servers.urls.atollHls, mode: "hls", pollMs: undefined },
    { path: "ffmpeg-hls", url: servers.urls.ffmpegHls, mode: "hls", pollMs: undefined },
    { path: "atoll-hls-100ms", url: servers.urls.atollHls, mode: "hls", pollMs: 100 },
    { path: "ffmpeg-hls-100ms", url: servers.urls.ffmpegHls, mode: "hls", pollMs: 100 },
    { path: "atoll-ts", url: servers.urls.atollTs, mode: "ts", pollMs: undefined },
  ] as const;
  const running = paths.map(({ url, mode, pollMs }) =>
    startClients(url, mode, 1, options.latencySeconds, true, pollMs)
  );
  const reports = await Promise.all(
    running.map((clients) => clientsReport(clients, options.latencySeconds)),
  );
  const sent = sentFrames(servers.sender);
  paths.forEach(({ path }, n) => {
    const report = reports[n]!;
    const latencies: number[] = [];
    let unmatched = 0;
    // HTTP-TS: a joining reader first gets the buffered GOP (frames sent
    // before it joined); the join is timed apart, the rest is steady state.
    const joinedAt = report.arrivals[0]?.[1] ?? 0;
    const joinEnd = path === "atoll-ts" ? joinedAt + JOIN_MS : -Infinity;
    const joining: number[] = [];
    for (const [pts, at] of report.arrivals) {
      const sentAt = sent.get(pts);
      if (at < joinEnd && sentAt !== undefined) joining.push(at - sentAt);
      if (at < joinEnd) continue;
      if (sentAt === undefined) unmatched++;
      else latencies.push(at - sentAt);
    }
    const afterLast: number[] = [];
    for (const [, last, at] of report.segmentArrivals) {
      const sentAt = sent.get(last);
      if (sentAt !== undefined) afterLast.push(at - sentAt);
    }
    const figures: LatencyPath = {
      path,
      latency: frameLatency(latencies, unmatched),
      afterLastFrame: frameLatency(afterLast, 0),
      join: frameLatency(joining, 0),
      segments: report.segments,
      errors: report.errors,
    };
    suite.latency.push(figures);
    progress(
      `latency ${path}: p50 ${formatNumber(figures.latency?.p50)} ms, p95 ${
        formatNumber(figures.latency?.p95)
      } ms, max ${formatNumber(figures.latency?.max)} ms over ${
        figures.latency?.frames ?? 0
      } frames (${unmatched} unmatched)`,
    );
  });
}

async function cpuWindow(
  servers: Servers,
  server: CpuWindow["server"],
  mode: CpuWindow["mode"],
  clients: number,
  options: HttpOptions,
): Promise<CpuWindow> {
  const pid = server === "atoll-output" ? servers.outputPid : servers.staticServer.pid;
  const url = mode === "ts"
    ? servers.urls.atollTs
    : server === "static"
    ? servers.urls.ffmpegHls
    : servers.urls.atollHls;
  const process = mode === "none" ? undefined : startClients(
    url,
    mode,
    clients,
    options.warmupSeconds + options.cpuWindowSeconds + 1,
  );
  await sleep(options.warmupSeconds * 1000);
  const from = sampleCpu(pid);
  const clientsFrom = process === undefined ? undefined : sampleCpu(process.pid);
  await sleep(options.cpuWindowSeconds * 1000);
  const serverCpu = await cpuPercent(from, sampleCpu(pid));
  const clientsCpu = process === undefined || clientsFrom === undefined
    ? null
    : await cpuPercent(clientsFrom, sampleCpu(process.pid));
  const report = process === undefined
    ? undefined
    : await clientsReport(process, options.warmupSeconds + options.cpuWindowSeconds + 1);
  return {
    server,
    mode,
    clients,
    serverCpu,
    perClient: null,
    clientsCpu,
    bytes: report?.bytes ?? 0,
    segments: report?.segments ?? 0,
    errors: report?.errors ?? {},
  };
}

async function measureCpu(
  servers: Servers,
  options: HttpOptions,
  suite: HttpSuite,
  progress: (line: string) => void,
): Promise<void> {
  const runs: [CpuWindow["server"], "ts" | "hls"][] = [
    ["atoll-output", "ts"],
    ["atoll-output", "hls"],
    ["static", "hls"],
  ];
  const baselines = new Map<string, number>();
  for (const [server, mode] of runs) {
    if (!baselines.has(server)) {
      const idle = await cpuWindow(servers, server, "none", 0, options);
      baselines.set(server, idle.serverCpu);
      suite.cpu.push(idle);
      progress(`cpu ${server} with no clients: ${formatNumber(idle.serverCpu)} %`);
    }
    for (const clients of options.clientCounts.filter((count) => count > 0)) {
      const window = await cpuWindow(servers, server, mode, clients, options);
      window.perClient = (window.serverCpu - baselines.get(server)!) / clients;
      suite.cpu.push(window);
      progress(
        `cpu ${server} with ${clients} ${mode} clients: ${formatNumber(window.serverCpu)} % (${
          formatNumber(window.perClient, 2)
        } % per client), clients ${formatNumber(window.clientsCpu)} %`,
      );
    }
  }
}

async function crowdWindow(
  servers: Servers,
  server: CrowdWindow["server"],
  options: HttpOptions,
): Promise<CrowdWindow> {
  const pid = server === "atoll-output" ? servers.outputPid : servers.staticServer.pid;
  const url = server === "atoll-output" ? servers.urls.atollHls : servers.urls.ffmpegHls;
  const rssBefore = readMemory(pid).rssKb;
  const clients = startClients(url, "hls", options.crowd, options.crowdSeconds);
  const from = sampleCpu(pid);
  const mainFrom = server === "atoll-output" ? sampleCpu(servers.atoll.pid) : undefined;
  const clientsFrom = sampleCpu(clients.pid);
  const healthz: number[] = [];
  let healthzFailed = 0;
  const probing = server === "atoll-output";
  const stopAt = performance.now() + options.crowdSeconds * 1000;
  let clientsCpu = 0;
  let serverCpu = 0;
  let mainCpu: number | null = null;
  let rssAfter = rssBefore;
  while (performance.now() < stopAt) {
    const started = performance.now();
    if (probing) {
      const response = await fetch(`http://127.0.0.1:${servers.atoll.httpPort}/healthz`)
        .catch(() => undefined);
      await response?.body?.cancel();
      if (response?.status === 200) healthz.push(performance.now() - started);
      else healthzFailed++;
    }
    rssAfter = Math.max(rssAfter, readMemory(pid).rssKb);
    await sleep(HEALTHZ_INTERVAL_MS - (performance.now() - started));
  }
  // Sampled before the clients' report: they stop at about the same time.
  serverCpu = await cpuPercent(from, sampleCpu(pid));
  if (mainFrom !== undefined) mainCpu = await cpuPercent(mainFrom, sampleCpu(servers.atoll.pid));
  clientsCpu = await cpuPercent(clientsFrom, sampleCpu(clients.pid));
  const report = await clientsReport(clients, options.crowdSeconds);
  const round = (value: number) => Math.round(value * 10) / 10;
  return {
    server,
    clients: options.crowd,
    seconds: options.crowdSeconds,
    segmentFetchMs: report.segmentFetchMs,
    playlistFetchMs: report.playlistFetchMs,
    segments: report.segments,
    playlists: report.playlists,
    errors: report.errors,
    serverCpu,
    serverRssKb: [rssBefore, rssAfter],
    mainCpu,
    healthzMs: probing
      ? {
        count: healthz.length,
        p50: round(percentile(healthz, 50)),
        p95: round(percentile(healthz, 95)),
        max: round(Math.max(...healthz)),
        failed: healthzFailed,
      }
      : null,
    clientsCpu,
  };
}

export async function benchHttp(
  options: HttpOptions,
  progress: (line: string) => void,
): Promise<HttpSuite> {
  const suite: HttpSuite = {
    mbps: options.mbps,
    commands: {},
    latency: [],
    cpu: [],
    crowd: [],
    notes: [],
  };
  // Ctrl-C ends the bench with Deno.exit(), past the finally below.
  const { dir, removeDir } = await scratchDir("atoll_bench_http_");
  const started: { stop(graceMs?: number): Promise<unknown> }[] = [];
  try {
    const file = await makeStream(dir, options.mbps);
    const configPath = `${dir}/atoll.yaml`;
    await Deno.writeTextFile(configPath, ATOLL_CONFIG);
    const atoll = await startAtoll(["--config", configPath]);
    started.push({ stop: () => atoll.stop(STOP_GRACE_MS) });
    suite.commands.atoll = atoll.commandLine;
    suite.commands.atollConfig = ATOLL_CONFIG.trim();
    const sender = ManagedProcess.start("sender", Deno.execPath(), [
      ...["run", "-A", SENDER, "--port", String(atoll.srtPort), "--mbps", String(options.mbps)],
      ...["--seconds", String(SENDER_SECONDS), "--file", file, "--stream-id", `publish:${STREAM}`],
      "--pts-log",
    ]);
    started.push({ stop: () => sender.stop(5000) });
    suite.commands.sender =
      `deno run -A bench/sender.ts --port P --mbps ${options.mbps} --file STREAM.ts --stream-id publish:${STREAM} --pts-log`;
    await sender.waitForLine("connected", (line) => line.includes('"connected"'), 15_000);
    const { ffmpeg, staticServer, port: staticPort, commands } = await startHlsReference(
      atoll.srtPort,
      STREAM,
      `${dir}/hls`,
      started,
    );
    suite.commands.ffmpeg = commands.ffmpeg;
    suite.commands.staticServer = commands.staticServer;
    const outputPid = await waitFor("the output process", () => atoll.outputPid());
    const servers: Servers = {
      atoll,
      outputPid,
      sender,
      ffmpeg,
      staticServer,
      urls: {
        atollTs: `http://127.0.0.1:${atoll.mediaPort}/${STREAM}.ts`,
        atollHls: `http://127.0.0.1:${atoll.mediaPort}/${STREAM}/index.m3u8`,
        ffmpegHls: `http://127.0.0.1:${staticPort}/index.m3u8`,
      },
    };
    // Both windows full (6 segments of 2 s), so the players start as on a long-running stream.
    await waitForSegments(servers.urls.atollHls, 6, 40_000);
    await waitForSegments(servers.urls.ffmpegHls, 6, 40_000);
    progress("both HLS outputs list 6 segments");

    await measureLatency(servers, options, suite, progress);
    await measureCpu(servers, options, suite, progress);
    for (const server of ["atoll-output", "static"] as const) {
      const crowd = await crowdWindow(servers, server, options);
      suite.crowd.push(crowd);
      progress(
        `${crowd.clients} HLS clients on ${server}: segment fetch p50 ${
          formatNumber(crowd.segmentFetchMs?.p50)
        } ms p95 ${formatNumber(crowd.segmentFetchMs?.p95)} ms, server ${
          formatNumber(crowd.serverCpu)
        } %, errors ${JSON.stringify(crowd.errors)}`,
      );
    }
    if (!ffmpeg.exited) suite.notes.push("ffmpeg ran through every window");
    else suite.notes.push(`ffmpeg exited early:\n${ffmpeg.tail()}`);
  } finally {
    for (const process of started.reverse()) await process.stop().catch(() => {});
    globalThis.removeEventListener("unload", removeDir);
    removeDir();
  }
  return suite;
}

const errorsText = (errors: Record<string, number>) =>
  Object.keys(errors).length === 0
    ? "0"
    : Object.entries(errors).map(([status, count]) => `${count}× ${status}`).join(", ");

/** Markdown for BENCHMARKS.md. */
export function httpSection(suite: HttpSuite): string {
  const latency = markdownTable(
    [
      "path",
      "frames",
      "p50 ms",
      "p95 ms",
      "max ms",
      "segment after its last frame, p50 ms",
      "join: frames, max ms",
      "errors",
    ],
    suite.latency.map((path) => [
      path.path,
      String(path.latency?.frames ?? 0),
      formatNumber(path.latency?.p50),
      formatNumber(path.latency?.p95),
      formatNumber(path.latency?.max),
      formatNumber(path.afterLastFrame?.p50),
      path.join === null ? "–" : `${path.join.frames}, ${formatNumber(path.join.max)}`,
      errorsText(path.errors),
    ]),
  );
  const cpu = markdownTable(
    [
      "server",
      "clients",
      "server CPU %",
      "per client %",
      "clients' process CPU %",
      "MB read",
      "errors",
    ],
    suite.cpu.map((window) => [
      window.server,
      window.mode === "none" ? "0" : `${window.clients} ${window.mode}`,
      formatNumber(window.serverCpu),
      formatNumber(window.perClient, 2),
      formatNumber(window.clientsCpu),
      formatNumber(window.bytes / 1e6),
      errorsText(window.errors),
    ]),
  );
  const crowd = markdownTable(
    [
      "server",
      "HLS clients",
      "segments",
      "segment fetch p50 / p95 / max ms",
      "playlist fetch p50 / p95 / max ms",
      "errors",
      "server CPU %",
      "server RSS MB before → max",
      "main CPU %",
      "/healthz p50 / p95 / max ms",
      "clients' CPU %",
    ],
    suite.crowd.map((window) => [
      window.server,
      String(window.clients),
      String(window.segments),
      `${formatNumber(window.segmentFetchMs?.p50)} / ${
        formatNumber(window.segmentFetchMs?.p95)
      } / ${formatNumber(window.segmentFetchMs?.max)}`,
      `${formatNumber(window.playlistFetchMs?.p50)} / ${
        formatNumber(window.playlistFetchMs?.p95)
      } / ${formatNumber(window.playlistFetchMs?.max)}`,
      errorsText(window.errors),
      formatNumber(window.serverCpu),
      `${formatNumber(window.serverRssKb[0] / 1024)} → ${
        formatNumber(window.serverRssKb[1] / 1024)
      }`,
      formatNumber(window.mainCpu),
      window.healthzMs === null
        ? "–"
        : `${formatNumber(window.healthzMs.p50)} / ${formatNumber(window.healthzMs.p95)} / ${
          formatNumber(window.healthzMs.max)
        }${window.healthzMs.failed > 0 ? ` (${window.healthzMs.failed} failed)` : ""}`,
      formatNumber(window.clientsCpu),
    ]),
  );
  return [
    `Stream: ${suite.mbps} Mbit/s, 720p25 H.264, GOP 2 s. Atoll config: \`${
      suite.commands.atollConfig ?? ""
    }\`. Reference: \`${suite.commands.ffmpeg ?? ""}\` served by \`${
      suite.commands.staticServer ?? ""
    }\`.`,
    "",
    `Latency per video frame: sender's send → reader (HLS: the segment holding it fully fetched by a reader polling every half target duration, or every 100 ms for \`-100ms\`; HTTP-TS: the frame's first packet read, from ${JOIN_MS} ms after the reader's first frame; the frames before, its join, apart).`,
    "",
    latency,
    "",
    "CPU per client (% of one core; per client = (N − 0 clients) / N):",
    "",
    cpu,
    "",
    `${suite.crowd[0]?.clients ?? 0} HLS players on one stream for ${
      suite.crowd[0]?.seconds ?? 0
    } s:`,
    "",
    crowd,
    ...suite.notes.map((note) => `\n- ${note}`),
  ].join("\n");
}
