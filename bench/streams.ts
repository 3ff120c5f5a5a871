/**
 * Benchmark 5: one 8 Mbit/s publisher to 1, 10 and 50 viewers, with a
 * one-to-one srt-live-transmit relay measured in the same run as the
 * baseline.
 *
 * The publisher is bench/sender.ts looping a real H.264 MPEG-TS file, made
 * once per run with ffmpeg at a constant 8 Mbit/s so that its null packets
 * can carry the sender's stamps (send time, message number). The viewers
 * are live-mode libsrt callers in one process (bench/viewers.ts). For each
 * viewer count, once every viewer has caught up: the CPU of every Atoll
 * process over a steady window (`/proc/PID/stat`, no API calls during it),
 * the viewer children's memory, the server-added latency Atoll reports, and
 * from the stamps the end-to-end latency and the messages each viewer got.
 *
 * @module
 */

import { scratchDir } from "./scratch.ts";
import type { ViewerStats } from "../src/ipc/messages.ts";
import type { ConnectionInfo } from "../src/server/api_types.ts";
import type { Atoll } from "../tests/support/atoll.ts";
import { ManagedProcess } from "../tests/support/process.ts";
import {
  cpuPercent,
  type CpuSample,
  freeUdpPort,
  isWaitingForPeer,
  type Memory,
  readMemory,
  sampleCpu,
  udpPortBound,
} from "../tests/support/procfs.ts";
import { sleep, waitFor } from "../tests/support/wait.ts";
import { startAtoll, STOP_GRACE_MS } from "./atoll.ts";
import { percentile } from "./summary.ts";
import type { ViewerReport, ViewersConnected, ViewersReport } from "./viewers.ts";

const STREAM = "bench/live";
/** The viewers connect all at once: Atoll's default of 50 new connections per second per IP is raised. */
export const STREAMS_ATOLL_ARGS = [
  "--max-handshakes",
  "400",
  "--max-new-connections-per-ip",
  "1000",
];
/** After every viewer has caught up, before the window. */
const WARMUP_MS = 2000;
const CATCH_UP_TIMEOUT_MS = 15_000;
/** Every helper process the suite starts exits by itself after this, whatever happens. */
const LIFETIME_SECONDS = 300;

const SENDER = new URL("./sender.ts", import.meta.url).pathname;
const VIEWERS = new URL("./viewers.ts", import.meta.url).pathname;

/** ffmpeg's arguments for the test stream: 10 s of 720p25 H.264, GOP 2 s, CBR 8 Mbit/s TS. */
export function ffmpegArgs(mbps: number, output: string): string[] {
  const video = `${mbps - 1}M`;
  return [
    ...["-hide_banner", "-loglevel", "error", "-y"],
    ...["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25"],
    ...["-c:v", "libx264", "-preset", "ultrafast", "-b:v", video, "-maxrate", video],
    ...["-bufsize", "2M", "-g", "50", "-t", "10", "-muxrate", `${mbps}M`, "-f", "mpegts", output],
  ];
}

/** Mean, smallest and largest of a set of per-process or per-viewer figures. */
export interface Spread {
  mean: number;
  min: number;
  max: number;
}

export interface LatencyFigures {
  /** Median over the viewers of each one's p50. */
  p50MedianMs: number | null;
  /** Median over the viewers of each one's p99, and the largest. */
  p99MedianMs: number | null;
  p99MaxMs: number | null;
  maxMs: number | null;
  /** Fewest samples any viewer had. */
  samplesMin: number;
  /**
   * Atoll's figures over the window only (the difference of each viewer's
   * cumulative counts at its edges, from once-a-second reports): every
   * message to every viewer together, its share that took 10 ms or more and
   * the smallest threshold at most 1 % reached (an upper bound of the p99);
   * and the largest such bound of any one viewer.
   */
  overall?: {
    samples: number;
    shareAtLeast10Ms: number;
    p99AtMostMs: number | null;
    slowestViewerP99AtMostMs: number | null;
  };
}

/** A viewer's latency counts (cumulative), as its child reports them. */
type LatencyCounts = { samples: number; atLeast?: Record<string, number> };

/** What the viewers received over the window, from the stamps (messages between the window's edges). */
export interface Delivery {
  /** Summed over the viewers: messages the sender sent between each one's first and last stamp. */
  expected: number;
  received: number;
  /** Most messages one viewer lacked (negative: got extra ones, such as a PAT/PMT Atoll inserts). */
  worstMissing: number;
  /** Payload rate each viewer received, Mbit/s. */
  receivedMbps: Spread;
}

/** One Atoll viewer child over the window. */
export interface ViewerChild {
  pid: number;
  cpuPercent: number;
  memory: Memory | null;
  skips: number | null;
  serverLatency: ViewerStats["latency"] | null;
  packetsRetransmitted: number;
  packetsDropped: number;
}

export interface StreamsRun {
  server: "atoll" | "srt-live-transmit";
  viewers: number;
  connected: number;
  /** Viewer children that had reported a latency sample (caught up) when the warm-up began. */
  caughtUp: number | null;
  connectMs: { p50: number; max: number };
  /** Each caller's connect time, in the order of `viewerCallers`. */
  callerConnectMs: (number | null)[];
  windowSeconds: number;
  /** % of one core: Atoll's main + publisher child + viewer children; or the relay. */
  totalCpuPercent: number;
  mainCpuPercent: number | null;
  publisherCpuPercent: number | null;
  viewerChildCpuPercent: Spread | null;
  viewerChildPrivateDirtyKb: Spread | null;
  viewerChildPssKb: Spread | null;
  /** Atoll's main process and publisher child in the middle of the window; or the relay's. */
  memory: { main: Memory | null; publisher: Memory | null; relay: Memory | null };
  /** As Atoll reports it per viewer (cumulative since the viewer caught up), at the window's end. */
  serverLatency: LatencyFigures | null;
  /** Sender's send call to the viewers process reading the message, over the window. */
  endToEnd: LatencyFigures;
  skips: number | null;
  delivery: Delivery;
  /** The viewers process (all the callers) and the sender, as context. */
  viewersProcessCpuPercent: number;
  senderCpuPercent: number;
  viewerChildren: ViewerChild[];
  viewerCallers: ViewerReport[];
}

export interface StreamsSuite {
  mbps: number;
  windowSeconds: number;
  atollCommand: string;
  relayCommand: string;
  senderCommand: string;
  viewersCommand: string;
  ffmpegCommand: string;
  /** Messages in the file, and the share of sent messages that carried a stamp. */
  file: { bytes: number; messages: number | null; stampedShare: number | null };
  runs: StreamsRun[];
  /** The senders' closing lines (what was sent, libsrt's counters). */
  senders: Record<string, unknown>[];
}

export interface StreamsOptions {
  viewerCounts: number[];
  windowSeconds: number;
  mbps: number;
}

/** bench/sender.ts publishing `file`, stamped, at `mbps` to `port` (for at most 300 s). */
export function startSender(
  port: number,
  mbps: number,
  file: string,
  streamId: string,
): ManagedProcess {
  return ManagedProcess.start("sender", Deno.execPath(), [
    ...["run", "-A", SENDER, "--port", String(port), "--mbps", String(mbps)],
    ...["--seconds", String(LIFETIME_SECONDS), "--file", file, "--stream-id", streamId],
  ]);
}

/** SIGTERM: the sender stops sending, lets libsrt deliver what it holds, prints `done`. */
export async function stopSender(sender: ManagedProcess): Promise<Record<string, unknown>> {
  await sender.stop(5000);
  const line = sender.lines.find((line) => line.includes('"type":"done"'));
  return line === undefined ? { type: "no done line" } : JSON.parse(line);
}

async function startViewers(port: number, count: number): Promise<{
  process: ManagedProcess;
  connected: ViewersConnected;
}> {
  const process = ManagedProcess.start("viewers", Deno.execPath(), [
    ...["run", "-A", VIEWERS, "--port", String(port), "--count", String(count)],
    ...["--stream-id", `play:${STREAM}`, "--seconds", String(LIFETIME_SECONDS)],
  ]);
  const line = await process.waitForLine(
    "connected line",
    (line) => line.startsWith('{"type":"connected"'),
    30_000,
  );
  return { process, connected: JSON.parse(line) as ViewersConnected };
}

/** Asks the viewers process for a report (SIGUSR2) and waits for it. */
async function viewersReport(viewers: ManagedProcess, number: number): Promise<ViewersReport> {
  viewers.signal("SIGUSR2");
  const prefix = `{"type":"report","number":${number},`;
  const line = await viewers.waitForLine(
    `report ${number}`,
    (line) => line.startsWith(prefix),
    5000,
  );
  return JSON.parse(line) as ViewersReport;
}

function spread(values: number[]): Spread {
  return {
    mean: values.reduce((sum, value) => sum + value, 0) / values.length,
    min: Math.min(...values),
    max: Math.max(...values),
  };
}

function latencyFigures(
  summaries: {
    samples: number;
    p50Ms: number | null;
    p99Ms: number | null;
    maxMs: number | null;
  }[],
): LatencyFigures {
  const present = <T>(values: (T | null)[]) => values.filter((value): value is T => value !== null);
  const p50s = present(summaries.map((s) => s.samples > 0 ? s.p50Ms : null));
  const p99s = present(summaries.map((s) => s.samples > 0 ? s.p99Ms : null));
  const maxes = present(summaries.map((s) => s.samples > 0 ? s.maxMs : null));
  return {
    p50MedianMs: p50s.length ? percentile(p50s, 50) : null,
    p99MedianMs: p99s.length ? percentile(p99s, 50) : null,
    p99MaxMs: p99s.length ? Math.max(...p99s) : null,
    maxMs: maxes.length ? Math.max(...maxes) : null,
    samplesMin: summaries.length ? Math.min(...summaries.map((s) => s.samples)) : 0,
  };
}

/** The smallest threshold (ms) that at most 1 % of `samples` reached; null when all did. */
function p99Bound(samples: number, atLeast: (ms: string) => number, thresholds: string[]) {
  const bound = thresholds.find((ms) => atLeast(ms) <= samples / 100);
  return bound === undefined ? null : Number(bound);
}

/** Window figures from each viewer's counts at the window's start and end (see LatencyFigures). */
function windowLatency(
  pairs: { before: LatencyCounts | undefined; after: LatencyCounts | undefined }[],
): Pick<LatencyFigures, "overall"> {
  const windows = pairs.flatMap(({ before, after }) => {
    if (after?.atLeast === undefined) return [];
    const base = before?.atLeast ?? {};
    const atLeast = Object.fromEntries(
      Object.entries(after.atLeast).map(([ms, count]) => [ms, count - (base[ms] ?? 0)]),
    );
    const samples = after.samples - (before?.samples ?? 0);
    return samples > 0 ? [{ samples, atLeast }] : [];
  });
  if (windows.length === 0) return {};
  const thresholds = Object.keys(windows[0]!.atLeast).sort((a, b) => Number(a) - Number(b));
  const samples = windows.reduce((sum, w) => sum + w.samples, 0);
  const atLeast = (ms: string) => windows.reduce((sum, w) => sum + (w.atLeast[ms] ?? 0), 0);
  const bounds = windows.map((w) => p99Bound(w.samples, (ms) => w.atLeast[ms] ?? 0, thresholds));
  return {
    overall: {
      samples,
      shareAtLeast10Ms: atLeast("10") / samples,
      p99AtMostMs: p99Bound(samples, atLeast, thresholds),
      slowestViewerP99AtMostMs: bounds.includes(null)
        ? null
        : Math.max(...bounds.map((bound) => bound!)),
    },
  };
}

/** What each caller received between two reports, from the stamps and byte counts. */
export function deliveryBetween(from: ViewersReport, to: ViewersReport, seconds: number): Delivery {
  let expected = 0;
  let received = 0;
  let worstMissing = -Infinity;
  const mbps: number[] = [];
  to.viewers.forEach((end, n) => {
    const start = from.viewers[n];
    if (start === undefined || !end.connected) return;
    mbps.push(((end.bytes - start.bytes) * 8) / seconds / 1e6);
    if (start.lastSequence < 0 || end.lastSequence < 0) return;
    const sent = end.lastSequence - start.lastSequence;
    const got = end.messagesAtLastSequence - start.messagesAtLastSequence;
    expected += sent;
    received += got;
    worstMissing = Math.max(worstMissing, sent - got);
  });
  return {
    expected,
    received,
    worstMissing: Number.isFinite(worstMissing) ? worstMissing : NaN,
    receivedMbps: mbps.length ? spread(mbps) : { mean: NaN, min: NaN, max: NaN },
  };
}

function connectFigures(connected: ViewersConnected): { p50: number; max: number } {
  const times = connected.connectMs.filter((ms): ms is number => ms !== null);
  return { p50: percentile(times, 50), max: times.length ? Math.max(...times) : NaN };
}

/** CPU samples of `pids`, undefined for those that exited. */
function sampleAll(pids: number[]): (CpuSample | undefined)[] {
  return pids.map((pid) => {
    try {
      return sampleCpu(pid);
    } catch {
      return undefined;
    }
  });
}

async function cpuBetween(
  from: (CpuSample | undefined)[],
  to: (CpuSample | undefined)[],
): Promise<number[]> {
  return await Promise.all(from.map(async (start, n) => {
    const end = to[n];
    return start && end ? await cpuPercent(start, end) : NaN;
  }));
}

function memoryOrNull(pid: number): Memory | null {
  try {
    return readMemory(pid);
  } catch {
    return null;
  }
}

/**
 * The window itself, for a viewers process that has not reported yet: a
 * viewers report and CPU samples at both edges, memory in the middle,
 * nothing else (no API calls, which would cost the main process).
 */
async function measureWindow(
  viewers: ManagedProcess,
  pids: number[],
  windowSeconds: number,
): Promise<{
  from: ViewersReport;
  to: ViewersReport;
  seconds: number;
  cpu: number[];
  memory: (Memory | null)[];
}> {
  const from = await viewersReport(viewers, 1);
  const start = sampleAll(pids);
  const startedAt = performance.now();
  await sleep((windowSeconds * 1000) / 2);
  const memory = pids.map(memoryOrNull);
  await sleep(startedAt + windowSeconds * 1000 - performance.now());
  const end = sampleAll(pids);
  const seconds = (performance.now() - startedAt) / 1000;
  const to = await viewersReport(viewers, 2);
  return { from, to, seconds, cpu: await cpuBetween(start, end), memory };
}

function playConnections(list: ConnectionInfo[]): ConnectionInfo[] {
  return list.filter((c) => c.mode === "play" && c.stream === STREAM && c.state === "connected");
}

/** Waits until every viewer child has sent a latency sample: it has caught up with the publisher. */
async function waitForCatchUp(atoll: Atoll, connected: number): Promise<ConnectionInfo[]> {
  const deadline = performance.now() + CATCH_UP_TIMEOUT_MS;
  for (;;) {
    const list = playConnections(await atoll.connections());
    const caughtUp = list.filter((c) => (c.viewer?.latency.samples ?? 0) > 0);
    if (
      (list.length >= connected && caughtUp.length === list.length) || performance.now() > deadline
    ) {
      return list;
    }
    await sleep(200);
  }
}

/** Waits until the viewers' children have exited and the pool is full of ready children. */
async function waitForOnlyPublisher(atoll: Atoll): Promise<void> {
  await waitFor(
    "viewer children gone and a full pool",
    async () => {
      // The pool's floor: --pool-size, or more for a while after viewers had to wait.
      const stats = await atoll.stats();
      if (stats.connections !== 1 || stats.idleChildren !== stats.poolFloor) return false;
      const idle = await atoll.idleChildPids();
      return idle.length === stats.poolFloor && idle.every(isWaitingForPeer);
    },
    { timeoutMs: 20_000, intervalMs: 100 },
  );
}

async function atollRun(
  atoll: Atoll,
  publisherPid: number,
  senderPid: number,
  count: number,
  windowSeconds: number,
): Promise<StreamsRun> {
  const { process: viewers, connected } = await startViewers(atoll.srtPort, count);
  try {
    const connections = await waitForCatchUp(atoll, connected.connected);
    const caughtUp = connections.filter((c) => (c.viewer?.latency.samples ?? 0) > 0).length;
    atoll.childPids(); // remembered, so a child left behind is killed on the way out
    await sleep(WARMUP_MS);
    const childPids = connections.map((c) => c.pid);
    const pids = [atoll.pid, publisherPid, ...childPids, viewers.pid, senderPid];
    const before = new Map((await atoll.connections()).map((c) => [c.pid, c]));
    const window = await measureWindow(viewers, pids, windowSeconds);
    const [main, publisher, ...rest] = window.cpu as [number, number, ...number[]];
    const childCpu = rest.slice(0, childPids.length);
    const [viewersCpu, senderCpu] = rest.slice(childPids.length) as [number, number];
    const childMemory = window.memory.slice(2, 2 + childPids.length);
    const after = new Map((await atoll.connections()).map((c) => [c.pid, c]));
    const streams = await atoll.streams();
    const children: ViewerChild[] = childPids.map((pid, n) => {
      const info = after.get(pid);
      return {
        pid,
        cpuPercent: childCpu[n]!,
        memory: childMemory[n] ?? null,
        skips: info?.viewer?.skips ?? null,
        serverLatency: info?.viewer?.latency ?? null,
        packetsRetransmitted: info?.packetsRetransmitted ?? 0,
        packetsDropped: info?.packetsDropped ?? 0,
      };
    });
    const memories = childMemory.filter((m): m is Memory => m !== null);
    return {
      server: "atoll",
      viewers: count,
      connected: connected.connected,
      caughtUp,
      connectMs: connectFigures(connected),
      callerConnectMs: connected.connectMs,
      windowSeconds: window.seconds,
      totalCpuPercent: main + publisher + childCpu.reduce((sum, cpu) => sum + cpu, 0),
      mainCpuPercent: main,
      publisherCpuPercent: publisher,
      viewerChildCpuPercent: childCpu.length ? spread(childCpu) : null,
      viewerChildPrivateDirtyKb: memories.length
        ? spread(memories.map((m) => m.privateDirtyKb))
        : null,
      viewerChildPssKb: memories.length ? spread(memories.map((m) => m.pssKb)) : null,
      memory: { main: window.memory[0] ?? null, publisher: window.memory[1] ?? null, relay: null },
      serverLatency: {
        ...latencyFigures(
          children.map((c) =>
            c.serverLatency ?? { samples: 0, p50Ms: null, p99Ms: null, maxMs: null }
          ),
        ),
        ...windowLatency(
          childPids.map((pid) => ({
            before: before.get(pid)?.viewer?.latency,
            after: after.get(pid)?.viewer?.latency,
          })),
        ),
      },
      endToEnd: latencyFigures(window.to.viewers.map((v) => v.latency)),
      skips: streams.find((s) => s.name === STREAM)?.viewerSkips ?? null,
      delivery: deliveryBetween(window.from, window.to, window.seconds),
      viewersProcessCpuPercent: viewersCpu,
      senderCpuPercent: senderCpu,
      viewerChildren: children,
      viewerCallers: window.to.viewers,
    };
  } finally {
    await viewers.stop(5000);
  }
}

async function benchAtoll(
  file: string,
  options: StreamsOptions,
  progress: (line: string) => void,
  suite: StreamsSuite,
): Promise<void> {
  const atoll = await startAtoll(STREAMS_ATOLL_ARGS);
  suite.atollCommand = atoll.commandLine;
  try {
    const sender = startSender(atoll.srtPort, options.mbps, file, `publish:${STREAM}`);
    try {
      await sender.waitForLine("connection", (line) => line.includes('"connected"'), 15_000);
      // Viewers start at the newest key frame: wait for the first one.
      await waitFor(
        "the stream's first random-access point",
        async () => {
          const streams = await atoll.streams();
          return (streams.find((s) => s.name === STREAM)?.randomAccessPoints ?? 0) > 0;
        },
        { timeoutMs: 10_000, intervalMs: 100 },
      );
      const publisher = (await atoll.connections()).find((c) => c.mode === "publish");
      if (publisher === undefined) throw new Error("The publisher is not in /api/connections");
      for (const count of options.viewerCounts) {
        const run = await atollRun(atoll, publisher.pid, sender.pid, count, options.windowSeconds);
        suite.runs.push(run);
        progress(describeStreamsRun(run));
        await waitForOnlyPublisher(atoll);
      }
    } finally {
      suite.senders.push({ server: "atoll", ...await stopSender(sender) });
    }
  } finally {
    await atoll.stop(STOP_GRACE_MS);
  }
}

async function benchRelay(
  file: string,
  options: StreamsOptions,
  progress: (line: string) => void,
  suite: StreamsSuite,
): Promise<void> {
  const input = freeUdpPort();
  let output = freeUdpPort();
  while (output === input) output = freeUdpPort();
  const args = [
    "-a:no",
    "-loglevel:fatal",
    `srt://127.0.0.1:${input}?mode=listener`,
    `srt://127.0.0.1:${output}?mode=listener`,
  ];
  suite.relayCommand = `srt-live-transmit ${
    args.join(" ").replace(`:${input}?`, ":P1?").replace(`:${output}?`, ":P2?")
  }`;
  const relay = ManagedProcess.start("srt-live-transmit", "srt-live-transmit", args, {
    stdout: "null",
  });
  let viewers: ManagedProcess | undefined;
  let sender: ManagedProcess | undefined;
  try {
    await waitFor(
      "srt-live-transmit to listen",
      () => udpPortBound(input) && udpPortBound(output),
      { timeoutMs: 5000, intervalMs: 5 },
    );
    // The viewer first: srt-live-transmit accepts its output's caller before its input's.
    const started = await startViewers(output, 1);
    viewers = started.process;
    sender = startSender(input, options.mbps, file, `publish:${STREAM}`);
    await sender.waitForLine("connection", (line) => line.includes('"connected"'), 15_000);
    await sleep(WARMUP_MS);
    const pids = [relay.pid, viewers.pid, sender.pid];
    const window = await measureWindow(viewers, pids, options.windowSeconds);
    const [relayCpu, viewersCpu, senderCpu] = window.cpu as [number, number, number];
    // The sender stops first: with -a:no the relay exits once its viewer leaves.
    suite.senders.push({ server: "srt-live-transmit", ...await stopSender(sender) });
    const run: StreamsRun = {
      server: "srt-live-transmit",
      viewers: 1,
      connected: started.connected.connected,
      caughtUp: null,
      connectMs: connectFigures(started.connected),
      callerConnectMs: started.connected.connectMs,
      windowSeconds: window.seconds,
      totalCpuPercent: relayCpu,
      mainCpuPercent: null,
      publisherCpuPercent: null,
      viewerChildCpuPercent: null,
      viewerChildPrivateDirtyKb: null,
      viewerChildPssKb: null,
      memory: { main: null, publisher: null, relay: window.memory[0] ?? null },
      serverLatency: null,
      endToEnd: latencyFigures(window.to.viewers.map((v) => v.latency)),
      skips: null,
      delivery: deliveryBetween(window.from, window.to, window.seconds),
      viewersProcessCpuPercent: viewersCpu,
      senderCpuPercent: senderCpu,
      viewerChildren: [],
      viewerCallers: window.to.viewers,
    };
    suite.runs.push(run);
    progress(describeStreamsRun(run));
  } finally {
    await sender?.stop(5000);
    await viewers?.stop(5000);
    await relay.stop();
  }
}

/** Makes the test stream in `dir` with ffmpeg (bounded to a minute). */
export async function makeStream(dir: string, mbps: number): Promise<string> {
  const file = `${dir}/stream.ts`;
  const ffmpeg = ManagedProcess.start("ffmpeg", "ffmpeg", ffmpegArgs(mbps, file));
  const timer = setTimeout(() => ffmpeg.signal("SIGKILL"), 60_000);
  try {
    const status = await ffmpeg.done;
    if (!status.success) {
      throw new Error(`ffmpeg failed to make the test stream:\n${ffmpeg.tail()}`);
    }
  } finally {
    clearTimeout(timer);
  }
  return file;
}

export async function benchStreams(
  options: StreamsOptions,
  progress: (line: string) => void,
): Promise<StreamsSuite> {
  const suite: StreamsSuite = {
    mbps: options.mbps,
    windowSeconds: options.windowSeconds,
    atollCommand: "",
    relayCommand: "",
    senderCommand:
      `deno run -A bench/sender.ts --port P --mbps ${options.mbps} --seconds S --file STREAM.ts --stream-id publish:${STREAM}`,
    viewersCommand: `deno run -A bench/viewers.ts --port P --count N --stream-id play:${STREAM}`,
    ffmpegCommand: `ffmpeg ${ffmpegArgs(options.mbps, "STREAM.ts").join(" ")}`,
    file: { bytes: 0, messages: null, stampedShare: null },
    runs: [],
    senders: [],
  };
  // Ctrl-C ends the bench with Deno.exit(), past the finally below.
  const { dir, removeDir } = await scratchDir("atoll_bench_streams_");
  try {
    const file = await makeStream(dir, options.mbps);
    suite.file.bytes = (await Deno.stat(file)).size;
    await benchAtoll(file, options, progress, suite);
    await benchRelay(file, options, progress, suite);
    const done = suite.senders[0] as { fileMessages?: number; stamped?: number; packets?: number };
    suite.file.messages = done.fileMessages ?? null;
    suite.file.stampedShare = done.stamped !== undefined && done.packets
      ? done.stamped / done.packets
      : null;
  } finally {
    globalThis.removeEventListener("unload", removeDir);
    removeDir();
  }
  return suite;
}

export function describeStreamsRun(run: StreamsRun): string {
  const server = run.serverLatency;
  return `${run.server}, ${run.connected}/${run.viewers} viewer(s): ` +
    `${run.totalCpuPercent.toFixed(1)}% CPU in all` +
    (run.mainCpuPercent === null ? "" : `, main ${run.mainCpuPercent.toFixed(1)}%`) +
    (run.viewerChildCpuPercent
      ? `, ${run.viewerChildCpuPercent.mean.toFixed(1)}% per viewer child`
      : "") +
    (server ? `, server-added p99 ${server.p99MaxMs?.toFixed(1)} ms` : "") +
    `, end-to-end p50 ${run.endToEnd.p50MedianMs?.toFixed(1)} ms, ` +
    `${run.delivery.received}/${run.delivery.expected} messages`;
}
