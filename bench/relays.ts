/**
 * Benchmark 10: relays (issue 12). What one relay hop adds, and what an
 * edge costs its origin.
 *
 * One publisher (bench/sender.ts, a real H.264 MPEG-TS file, stamped) sends
 * to an origin Atoll. In the same window, each path with one viewer of its
 * own (bench/viewers.ts `--samples`, which lists every stamped message's
 * sequence number and latency):
 *
 * - `origin`: sender → origin → viewer;
 * - `atoll-edge`: sender → origin → edge Atoll (a pull relay on demand,
 *   `streamDefaults.source`) → viewer;
 * - `slt-edge`: sender → origin → srt-live-transmit (a caller that plays
 *   from the origin, and a listener for its one viewer) → viewer: the
 *   baseline hop, over the very same messages.
 *
 * Every path's latency is taken over the messages all paths received, and
 * a hop's added latency message by message: the same message's latency
 * through the edge minus through the origin alone. The window runs with 1
 * Atoll edge, then again with N (the others started together, then their
 * viewers joined one at a time, each once the previous edge's pull was
 * connected): the CPU of the origin's whole process tree (`/proc/PID/stat` of
 * the main process and each child, by the role `/api/connections` gives
 * it) against the child of its ordinary viewer.
 *
 * Then srt-live-transmit alone, chained as the brief of issue 12 has it:
 * sender → `srt-live-transmit` (listener in, listener out) → viewer, and
 * the same with a second srt-live-transmit (caller in, listener out) in
 * between, one window each (srt-live-transmit's listener serves a single
 * caller, so the two cannot share a window).
 *
 * Every SRT receiver delivers a message at its time base + the latency +
 * its timestamp + a drift. The time base is fixed when the handshake is
 * handled, so a handshake handled some milliseconds late can make every
 * message of that link late by as much; libsrt moves it only by the drift
 * it measures from ACKACK arrivals, averaged over 1000 of them (one every
 * 10 ms: about 10 s). So one link may run some milliseconds later than
 * another for a long time, or step between two windows: hence the warm-up,
 * and the second-by-second timelines that show whether a hop's figure was
 * steady.
 *
 * @module
 */

import { scratchDir } from "./scratch.ts";
import type { ConnectionInfo } from "../src/server/api_types.ts";
import type { RelayInfo } from "../src/server/relay_manager.ts";
import type { Atoll } from "../tests/support/atoll.ts";
import { ManagedProcess } from "../tests/support/process.ts";
import {
  cpuPercent,
  type CpuSample,
  freeUdpPort,
  sampleCpu,
  udpPortBound,
} from "../tests/support/procfs.ts";
import { sleep, waitFor } from "../tests/support/wait.ts";
import { startAtoll, STOP_GRACE_MS } from "./atoll.ts";
import {
  type Delivery,
  deliveryBetween,
  ffmpegArgs,
  makeStream,
  startSender,
  stopSender,
} from "./streams.ts";
import { PAYLOAD_BYTES } from "./sender.ts";
import { formatNumber, markdownTable, percentile } from "./summary.ts";
import type { ViewersConnected, ViewersReport } from "./viewers.ts";

const STREAM = "bench/live";
/** Atoll's `--latency` default, and what every other party here uses: libsrt's default. */
export const SRT_LATENCY_MS = 120;
const CATCH_UP_TIMEOUT_MS = 20_000;
/** The viewers processes exit by themselves after this, whatever happens. */
const LIFETIME_SECONDS = 300;
const VIEWERS = new URL("./viewers.ts", import.meta.url).pathname;

export interface RelaysOptions {
  mbps: number;
  windowSeconds: number;
  /** Atoll edges in the second window (the first has one). */
  edges: number;
  /**
   * From every viewer's first stamp to a window. Over 10 s lets libsrt's
   * drift tracer correct each receiver's time base once (see the module doc).
   */
  warmupSeconds: number;
}

/** Per-message figures over a window, in ms, nearest rank. */
export interface LatencyDistribution {
  samples: number;
  min: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** One viewer's path from the sender, over a window. */
export interface PathFigures {
  path: string;
  /** Relays (servers) between the sender and the viewer. */
  servers: number;
  /** Sender's send call to the viewer reading the message, over the messages every path got. */
  latency: LatencyDistribution;
  /** Over this path's own messages of the window, whatever the others got. */
  ownLatency: LatencyDistribution;
  /** `latency`'s p50 in each second of the window. */
  timeline: number[];
  delivery: Delivery;
  connectMs: number | null;
  /**
   * The viewer's libsrt receive buffer span at the window's start and end:
   * about the latency; more when that link delivers late (its time base).
   */
  receiveBufferMs: [number, number];
}

/** What a relay hop adds: a path through an edge against the origin's own viewer. */
export interface HopFigures {
  path: string;
  against: string;
  /** The same message's latency through `path` minus through `against`. */
  paired: LatencyDistribution;
  /** `paired`'s p50 in each second of the window. */
  timeline: number[];
  /** `path`'s percentiles minus `against`'s. */
  percentileDifference: { p50: number; p95: number; p99: number; max: number };
}

/** % of one core over a window, by process. */
export interface RelaysCpu {
  /** The origin: main process and every child. */
  originTree: number;
  originMain: number;
  originPublisher: number;
  /** The child of the origin's ordinary viewer. */
  originViewer: number;
  /** The child that serves srt-live-transmit's pull. */
  originSltEdge: number;
  /** The children that serve the Atoll edges' pulls. */
  originEdgeChildren: number[];
  /** The rest of the origin's children: the prestarted pool. */
  originPool: number[];
  /** Each Atoll edge's main process and children (its pull, its viewer, its pool). */
  edgeTrees: number[];
  edgeMains: number[];
  /** The srt-live-transmit edge. */
  sltEdge: number;
  sender: number;
  /** Every viewers process together. */
  viewers: number;
}

/** An Atoll edge's own view of its pull and its viewer, after a window. */
export interface EdgeReport {
  /** The edge's viewer child: server-added latency since it caught up (cumulative). */
  viewerLatency: ConnectionInfo["viewer"];
  /**
   * The same over the window (±1 s: the child reports once a second): its
   * messages, how many took 10 ms or more, and the smallest threshold at
   * most 1 % reached (an upper bound of the p99).
   */
  viewerWindow: { samples: number; atLeast10Ms: number; p99AtMostMs: number | null } | null;
  viewerSkips: number | null;
  /** The pull's connection: libsrt's figures. */
  pull:
    | Pick<
      ConnectionInfo,
      | "packetsLost"
      | "packetsRetransmitted"
      | "packetsDropped"
      | "packetsBelated"
      | "receiveBufferMs"
      | "rttMs"
      | "handshakeMs"
    >
    | null;
  /** The pull's receive buffer span just before the window (`pull` has it after). */
  pullReceiveBufferMsBefore: number | null;
  relays: RelayInfo[];
}

export interface RelaysWindow {
  edges: number;
  windowSeconds: number;
  /** Stamped messages every path received in the window. */
  commonMessages: number;
  paths: PathFigures[];
  hops: HopFigures[];
  cpu: RelaysCpu;
  edgeReports: EdgeReport[];
}

/** srt-live-transmit alone: one of them, then two chained, one window each. */
export interface SltChain {
  single: PathFigures;
  chained: PathFigures;
  /** `chained`'s percentiles minus `single`'s (different windows: not paired). */
  percentileDifference: { p50: number; p95: number; p99: number; max: number };
  /** % of one core over each window. */
  cpu: { singleOrigin: number; chainedOrigin: number; chainedEdge: number };
}

export interface RelaysSuite {
  mbps: number;
  windowSeconds: number;
  srtLatencyMs: number;
  commands: Record<string, string>;
  windows: RelaysWindow[];
  sltChain: SltChain | null;
  /** The senders' closing lines (what was sent, libsrt's counters). */
  senders: Record<string, unknown>[];
  /** Anything odd seen on the way (relay retries, skips, missing messages). */
  notes: string[];
}

/** One bench/viewers.ts process with one viewer, whose reports carry every stamp. */
class ViewerGroup {
  readonly path: string;
  readonly servers: number;
  readonly process: ManagedProcess;
  connected: ViewersConnected | undefined;
  #reports = 0;

  constructor(path: string, servers: number, port: number, streamId: string) {
    this.path = path;
    this.servers = servers;
    this.process = ManagedProcess.start(`viewers ${path}`, Deno.execPath(), [
      ...["run", "-A", VIEWERS, "--port", String(port), "--count", "1", "--samples"],
      ...["--stream-id", streamId, "--seconds", String(LIFETIME_SECONDS)],
    ]);
  }

  /** Waits for the viewer to connect; throws if it could not. */
  async connect(): Promise<this> {
    const line = await this.process.waitForLine(
      "connected line",
      (line) => line.startsWith('{"type":"connected"'),
      30_000,
    );
    this.connected = JSON.parse(line) as ViewersConnected;
    if (this.connected.connected !== 1) throw new Error(`The ${this.path} viewer did not connect`);
    return this;
  }

  /** Asks for a report (SIGUSR2); {@link report} waits for it. */
  ask(): number {
    this.process.signal("SIGUSR2");
    return ++this.#reports;
  }

  async report(number: number): Promise<ViewersReport> {
    const prefix = `{"type":"report","number":${number},`;
    const line = await this.process.waitForLine(
      `report ${number}`,
      (line) => line.startsWith(prefix),
      5000,
    );
    return JSON.parse(line) as ViewersReport;
  }

  stop(): Promise<Deno.CommandStatus> {
    return this.process.stop(5000);
  }
}

/** Reports from every group, asked for at once so that their windows match. */
async function reportAll(groups: ViewerGroup[]): Promise<ViewersReport[]> {
  const numbers = groups.map((group) => group.ask());
  return await Promise.all(groups.map((group, n) => group.report(numbers[n]!)));
}

/** Waits until every group's viewer has read a stamped message. */
async function waitForStamps(groups: ViewerGroup[]): Promise<void> {
  await waitFor("every viewer to receive stamped messages", async () => {
    const reports = await reportAll(groups);
    return reports.every((report) => (report.viewers[0]?.lastSequence ?? -1) >= 0);
  }, { timeoutMs: CATCH_UP_TIMEOUT_MS, intervalMs: 300 });
}

export function latencyDistribution(values: readonly number[]): LatencyDistribution {
  return {
    samples: values.length,
    min: values.length ? Math.min(...values) : NaN,
    p50: percentile(values, 50),
    p95: percentile(values, 95),
    p99: percentile(values, 99),
    max: values.length ? Math.max(...values) : NaN,
    mean: values.length ? values.reduce((sum, value) => sum + value, 0) / values.length : NaN,
  };
}

/** Sequence number → latency of the first message carrying it, from a report's samples. */
function samplesOf(report: ViewersReport): Map<number, number> {
  const out = new Map<number, number>();
  for (const [sequence, ms] of report.viewers[0]?.samples ?? []) {
    if (!out.has(sequence)) out.set(sequence, ms);
  }
  return out;
}

function difference(a: LatencyDistribution, b: LatencyDistribution) {
  return { p50: a.p50 - b.p50, p95: a.p95 - b.p95, p99: a.p99 - b.p99, max: a.max - b.max };
}

/** The window a set of viewers' reports cover. */
export interface ReportWindow {
  /** Each group's report at the window's start and at its end. */
  from: ViewersReport[];
  to: ViewersReport[];
  seconds: number;
  /** The path the hops are measured against. */
  against: string;
  /** The sender's message rate: sequence numbers per second, for the timelines. */
  messagesPerSecond: number;
}

/** The p50 of `values` in each second of the window, by the messages' sequence numbers. */
function timeline(
  sequences: number[],
  values: number[],
  messagesPerSecond: number,
): number[] {
  const first = Math.min(...sequences);
  const seconds: number[][] = [];
  sequences.forEach((sequence, n) => {
    const second = Math.floor((sequence - first) / messagesPerSecond);
    (seconds[second] ??= []).push(values[n]!);
  });
  return Array.from(seconds, (values) => values === undefined ? NaN : percentile(values, 50));
}

/** Path and hop figures from each group's reports at the window's edges. */
export function latencyFigures(
  groups: { path: string; servers: number; connectMs: number | null }[],
  window: ReportWindow,
): { commonMessages: number; paths: PathFigures[]; hops: HopFigures[] } {
  const { from, to, seconds, against, messagesPerSecond } = window;
  const samples = to.map(samplesOf);
  const common = [...(samples[0]?.keys() ?? [])].filter((sequence) =>
    samples.every((map) => map.has(sequence))
  ).sort((a, b) => a - b);
  const paths = groups.map((group, n): PathFigures => {
    const values = common.map((sequence) => samples[n]!.get(sequence)!);
    return {
      path: group.path,
      servers: group.servers,
      latency: latencyDistribution(values),
      ownLatency: latencyDistribution([...samples[n]!.values()]),
      timeline: timeline(common, values, messagesPerSecond),
      delivery: deliveryBetween(from[n]!, to[n]!, seconds),
      connectMs: group.connectMs,
      receiveBufferMs: [
        from[n]!.viewers[0]?.receiveBufferMs ?? NaN,
        to[n]!.viewers[0]?.receiveBufferMs ?? NaN,
      ],
    };
  });
  const base = groups.findIndex((group) => group.path === against);
  const hops = base < 0 ? [] : groups.flatMap((group, n): HopFigures[] => {
    if (n === base || group.servers <= groups[base]!.servers) return [];
    const added = common.map((sequence) =>
      samples[n]!.get(sequence)! - samples[base]!.get(sequence)!
    );
    return [{
      path: group.path,
      against,
      paired: latencyDistribution(added),
      timeline: timeline(common, added, messagesPerSecond),
      percentileDifference: difference(paths[n]!.latency, paths[base]!.latency),
    }];
  });
  return { commonMessages: common.length, paths, hops };
}

type LatencySummary = NonNullable<ConnectionInfo["viewer"]>["latency"];

/** A viewer child's server-added latency between two of its cumulative summaries. */
function viewerWindow(
  before: LatencySummary | undefined,
  after: LatencySummary | undefined,
): EdgeReport["viewerWindow"] {
  if (before === undefined || after === undefined) return null;
  const samples = after.samples - before.samples;
  const atLeast = (ms: string) => (after.atLeast[ms] ?? 0) - (before.atLeast[ms] ?? 0);
  const thresholds = Object.keys(after.atLeast).sort((a, b) => Number(a) - Number(b));
  const bound = thresholds.find((ms) => atLeast(ms) <= samples / 100);
  return {
    samples,
    atLeast10Ms: atLeast("10"),
    p99AtMostMs: bound === undefined ? null : Number(bound),
  };
}

/** CPU samples of `pids`, undefined for those that exited. */
function sampleAll(pids: number[]): Map<number, CpuSample | undefined> {
  return new Map(pids.map((pid) => {
    try {
      return [pid, sampleCpu(pid)];
    } catch {
      return [pid, undefined];
    }
  }));
}

async function cpuBetween(
  from: Map<number, CpuSample | undefined>,
  to: Map<number, CpuSample | undefined>,
): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const [pid, start] of from) {
    const end = to.get(pid);
    out.set(pid, start && end ? await cpuPercent(start, end) : NaN);
  }
  return out;
}

/** The sender's messages per second at `mbps`. */
function messagesPerSecond(mbps: number): number {
  return (mbps * 1e6) / 8 / PAYLOAD_BYTES;
}

const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);

/** What the window measures, besides the viewers: the processes, by role. */
interface Processes {
  origin: Atoll;
  /** The origin's connections' pids by role (see {@link RelaysCpu}). */
  publisherPid: number;
  viewerPid: number;
  sltEdgePid: number;
  edges: Atoll[];
  sltEdge: ManagedProcess;
  sender: ManagedProcess;
}

/** One window: reports and CPU samples at both edges, no API call in between. */
async function measureWindow(
  groups: ViewerGroup[],
  processes: Processes & { windowSeconds: number; mbps: number },
): Promise<RelaysWindow> {
  const { origin, edges, windowSeconds, mbps } = processes;
  const originChildren = origin.childPids();
  const edgeChildren = edges.map((edge) => edge.childPids());
  const viewerPids = groups.map((group) => group.process.pid);
  const pids = [
    origin.pid,
    ...originChildren,
    ...edges.map((edge) => edge.pid),
    ...edgeChildren.flat(),
    processes.sltEdge.pid,
    processes.sender.pid,
    ...viewerPids,
  ];
  const edgeRowsBefore = await Promise.all(edges.map((edge) => edge.connections()));
  const from = await reportAll(groups);
  const start = sampleAll(pids);
  const startedAt = performance.now();
  await sleep(windowSeconds * 1000);
  const end = sampleAll(pids);
  const seconds = (performance.now() - startedAt) / 1000;
  const to = await reportAll(groups);
  const cpu = await cpuBetween(start, end);
  const of = (pid: number) => cpu.get(pid) ?? NaN;

  const rows = await origin.connections();
  const edgePids = new Set(
    rows.filter((row) =>
      row.mode === "play" &&
      ![processes.viewerPid, processes.sltEdgePid].includes(row.pid)
    ).map((row) => row.pid),
  );
  const known = new Set([processes.publisherPid, processes.viewerPid, processes.sltEdgePid]);
  const edgeReports = await Promise.all(edges.map(async (edge, n): Promise<EdgeReport> => {
    const edgeRows = await edge.connections();
    const viewer = edgeRows.find((row) => row.mode === "play");
    const pull = edgeRows.find((row) => row.relay !== null);
    const before = edgeRowsBefore[n]!.find((row) => row.id === viewer?.id);
    const pullBefore = edgeRowsBefore[n]!.find((row) => row.relay !== null);
    return {
      viewerLatency: viewer?.viewer ?? null,
      viewerWindow: viewerWindow(before?.viewer?.latency, viewer?.viewer?.latency),
      viewerSkips: viewer?.viewer?.skips ?? null,
      pull: pull === undefined ? null : {
        packetsLost: pull.packetsLost,
        packetsRetransmitted: pull.packetsRetransmitted,
        packetsDropped: pull.packetsDropped,
        packetsBelated: pull.packetsBelated,
        receiveBufferMs: pull.receiveBufferMs,
        rttMs: pull.rttMs,
        handshakeMs: pull.handshakeMs,
      },
      pullReceiveBufferMsBefore: pullBefore?.receiveBufferMs ?? null,
      relays: await edge.api<RelayInfo[]>("/api/relays"),
    };
  }));
  const figures = latencyFigures(
    groups.map((group) => {
      const times = group.connected?.connectMs ?? [];
      return { path: group.path, servers: group.servers, connectMs: times[0] ?? null };
    }),
    { from, to, seconds, against: "origin", messagesPerSecond: messagesPerSecond(mbps) },
  );
  return {
    edges: edges.length,
    windowSeconds: seconds,
    ...figures,
    cpu: {
      originTree: of(origin.pid) + sum(originChildren.map(of)),
      originMain: of(origin.pid),
      originPublisher: of(processes.publisherPid),
      originViewer: of(processes.viewerPid),
      originSltEdge: of(processes.sltEdgePid),
      originEdgeChildren: originChildren.filter((pid) => edgePids.has(pid)).map(of),
      originPool: originChildren.filter((pid) => !known.has(pid) && !edgePids.has(pid)).map(of),
      edgeTrees: edges.map((edge, n) => of(edge.pid) + sum(edgeChildren[n]!.map(of))),
      edgeMains: edges.map((edge) => of(edge.pid)),
      sltEdge: of(processes.sltEdge.pid),
      sender: of(processes.sender.pid),
      viewers: sum(viewerPids.map(of)),
    },
    edgeReports,
  };
}

/** The origin's connected viewer of the stream that is not in `known`. */
function newViewerRow(origin: Atoll, known: Set<number>): Promise<ConnectionInfo> {
  return waitFor("a new viewer on the origin", async () => {
    return (await origin.connections()).find((row) =>
      row.mode === "play" && row.stream === STREAM && row.state === "connected" &&
      !known.has(row.pid)
    );
  }, { timeoutMs: 15_000, intervalMs: 100 });
}

/** The edge's config: every stream pulled on demand from the origin, as tests/relays_test.ts does. */
function edgeConfig(originPort: number | string): string {
  return [
    "streamDefaults:",
    `  source: "srt://127.0.0.1:${originPort}?streamid=#!::r={name},m=request"`,
    "  sourceLingerMs: 1000",
    "",
  ].join("\n");
}

/**
 * `count` edges started together, pushed onto `edges` in order: all that
 * started, even if another failed, so that each is stopped on the way out.
 */
async function startEdges(configPath: string, count: number, edges: Atoll[]): Promise<Atoll[]> {
  const results = await Promise.allSettled(
    Array.from({ length: count }, () => startAtoll(["--config", configPath])),
  );
  const started = results.flatMap((result) => result.status === "fulfilled" ? [result.value] : []);
  edges.push(...started);
  const failed = results.find((result) => result.status === "rejected");
  if (failed !== undefined) throw failed.reason;
  return started;
}

/** Notes, for the line that says a caller has connected (and the handshakes). */
function sltArgs(input: string, output: string): string[] {
  return ["-a:no", "-loglevel:note", input, output];
}

function startSlt(name: string, args: string[]): ManagedProcess {
  return ManagedProcess.start(name, "srt-live-transmit", args, { stdout: "null" });
}

/**
 * Waits until srt-live-transmit's calling input has connected. Until then
 * its output must not get a caller: once it has accepted one it reads its
 * input, and an input not connected yet fails the read ("recvmsg:
 * Connection does not exist"), which ends it.
 */
async function waitForSltInput(slt: ManagedProcess): Promise<void> {
  await slt.waitForLine(
    "its input's connection",
    (line) => /Connection established/.test(line),
    10_000,
  );
}

/** Windows 1 and 2: the origin, its edges and srt-live-transmit's edge. */
async function benchAtollPaths(
  file: string,
  dir: string,
  options: RelaysOptions,
  progress: (line: string) => void,
  suite: RelaysSuite,
): Promise<void> {
  const origin = await startAtoll();
  suite.commands.origin = origin.commandLine;
  const configPath = `${dir}/edge.yaml`;
  await Deno.writeTextFile(configPath, edgeConfig(origin.srtPort));
  suite.commands.edgeConfig = edgeConfig("ORIGIN_PORT");
  const edges: Atoll[] = [];
  const groups: ViewerGroup[] = [];
  let sltEdge: ManagedProcess | undefined;
  let sender: ManagedProcess | undefined;
  try {
    sender = startSender(origin.srtPort, options.mbps, file, `publish:${STREAM}`);
    await sender.waitForLine("connection", (line) => line.includes('"connected"'), 15_000);
    await waitFor("the stream's first random-access point", async () => {
      const streams = await origin.streams();
      return (streams.find((s) => s.name === STREAM)?.randomAccessPoints ?? 0) > 0;
    }, { timeoutMs: 10_000, intervalMs: 100 });
    const publisher = (await origin.connections()).find((c) => c.mode === "publish");
    if (publisher === undefined) throw new Error("The publisher is not in /api/connections");
    const known = new Set([publisher.pid]);

    // The origin's own viewer.
    groups.push(await new ViewerGroup("origin", 1, origin.srtPort, `play:${STREAM}`).connect());
    const viewerPid = (await newViewerRow(origin, known)).pid;
    known.add(viewerPid);

    // srt-live-transmit as an edge: a caller that plays from the origin, a listener for one viewer.
    const sltPort = freeUdpPort();
    const sltEdgeArgs = sltArgs(
      `srt://127.0.0.1:${origin.srtPort}?streamid=play:${STREAM}&latency=${SRT_LATENCY_MS}`,
      `srt://127.0.0.1:${sltPort}?mode=listener&latency=${SRT_LATENCY_MS}`,
    );
    suite.commands.sltEdge = `srt-live-transmit ${
      sltEdgeArgs.join(" ").replace(`:${origin.srtPort}?`, ":ORIGIN_PORT?").replace(
        `:${sltPort}?`,
        ":C?",
      )
    }`;
    sltEdge = startSlt("srt-live-transmit edge", sltEdgeArgs);
    await waitForSltInput(sltEdge);
    await waitFor("srt-live-transmit to listen", () => udpPortBound(sltPort), {
      timeoutMs: 5000,
      intervalMs: 5,
    });
    groups.push(await new ViewerGroup("slt-edge", 2, sltPort, `play:${STREAM}`).connect());
    const sltEdgePid = (await newViewerRow(origin, known)).pid;
    known.add(sltEdgePid);

    // An edge's viewer makes it pull from the origin: one at a time, each
    // once its pull is connected, so that no handshake waits behind another.
    const join = async (edge: Atoll) => {
      const path = `atoll-edge-${groups.length - 1}`;
      groups.push(await new ViewerGroup(path, 2, edge.srtPort, `play:${STREAM}`).connect());
      known.add((await newViewerRow(origin, known)).pid);
    };
    const [first] = await startEdges(configPath, 1, edges);
    suite.commands.edge = first!.commandLine.replace(configPath, "EDGE.yaml");
    await join(first!);

    const window = (): Processes & { windowSeconds: number; mbps: number } => ({
      origin,
      publisherPid: publisher.pid,
      viewerPid,
      sltEdgePid,
      edges,
      sltEdge: sltEdge!,
      sender: sender!,
      windowSeconds: options.windowSeconds,
      mbps: options.mbps,
    });
    await waitForStamps(groups);
    await sleep(options.warmupSeconds * 1000);
    const one = await measureWindow(groups, window());
    suite.windows.push(one);
    progress(describeWindow(one));

    // N edges: the others start together, then their viewers join one by one.
    if (options.edges > 1) {
      for (const edge of await startEdges(configPath, options.edges - 1, edges)) await join(edge);
      await waitForStamps(groups);
      await sleep(options.warmupSeconds * 1000);
      const many = await measureWindow(groups, window());
      suite.windows.push(many);
      progress(describeWindow(many));
    }
  } finally {
    await Promise.all(groups.map((group) => group.stop()));
    if (sender !== undefined) suite.senders.push({ server: "atoll", ...await stopSender(sender) });
    await sltEdge?.stop(5000);
    await Promise.all(edges.map((edge) => edge.stop(STOP_GRACE_MS)));
    await origin.stop(STOP_GRACE_MS);
  }
}

/**
 * srt-live-transmit alone: sender → A (listener) → B (listener) → viewer;
 * chained, a second srt-live-transmit calls B and listens on C for the
 * viewer. One window.
 */
async function sltPath(
  file: string,
  options: RelaysOptions,
  chained: boolean,
  suite: RelaysSuite,
): Promise<{ path: PathFigures; cpu: number[] }> {
  const ports = new Set<number>();
  while (ports.size < 3) ports.add(freeUdpPort());
  const [a, b, c] = [...ports] as [number, number, number];
  const latency = `latency=${SRT_LATENCY_MS}`;
  const originArgs = sltArgs(
    `srt://127.0.0.1:${a}?mode=listener&${latency}`,
    `srt://127.0.0.1:${b}?mode=listener&${latency}`,
  );
  const edgeArgs = sltArgs(
    `srt://127.0.0.1:${b}?${latency}`,
    `srt://127.0.0.1:${c}?mode=listener&${latency}`,
  );
  const name = (args: string[]) =>
    `srt-live-transmit ${
      args.join(" ").replace(`:${a}?`, ":A?").replace(`:${b}?`, ":B?").replace(`:${c}?`, ":C?")
    }`;
  suite.commands.sltOrigin = name(originArgs);
  suite.commands.sltChainEdge = name(edgeArgs);
  const slts = [startSlt("srt-live-transmit origin", originArgs)];
  let group: ViewerGroup | undefined;
  let sender: ManagedProcess | undefined;
  try {
    await waitFor("srt-live-transmit to listen", () => udpPortBound(a) && udpPortBound(b), {
      timeoutMs: 5000,
      intervalMs: 5,
    });
    if (chained) {
      // The second one calls the first's output B, which the first accepts before its input.
      slts.push(startSlt("srt-live-transmit edge", edgeArgs));
      await waitForSltInput(slts[1]!);
      await waitFor("the second srt-live-transmit to listen", () => udpPortBound(c), {
        timeoutMs: 5000,
        intervalMs: 5,
      });
    }
    // The viewer first: srt-live-transmit accepts its output's caller before its input's.
    group = await new ViewerGroup(
      chained ? "slt-chain" : "slt-origin",
      chained ? 2 : 1,
      chained ? c : b,
      `play:${STREAM}`,
    ).connect();
    sender = startSender(a, options.mbps, file, `publish:${STREAM}`);
    await sender.waitForLine("connection", (line) => line.includes('"connected"'), 15_000);
    await waitForStamps([group]);
    await sleep(options.warmupSeconds * 1000);
    const [from] = await reportAll([group]);
    const start = sampleAll(slts.map((slt) => slt.pid));
    const startedAt = performance.now();
    await sleep(options.windowSeconds * 1000);
    const end = sampleAll(slts.map((slt) => slt.pid));
    const seconds = (performance.now() - startedAt) / 1000;
    const [to] = await reportAll([group]);
    const cpu = await cpuBetween(start, end);
    const { paths } = latencyFigures(
      [{
        path: group.path,
        servers: group.servers,
        connectMs: group.connected?.connectMs[0] ?? null,
      }],
      {
        from: [from!],
        to: [to!],
        seconds,
        against: group.path,
        messagesPerSecond: messagesPerSecond(options.mbps),
      },
    );
    return { path: paths[0]!, cpu: slts.map((slt) => cpu.get(slt.pid) ?? NaN) };
  } catch (error) {
    const tails = slts.map((slt) => `${slt.name}:\n${slt.tail()}`).join("\n");
    throw new Error(`${error instanceof Error ? error.message : error}\n${tails}`);
  } finally {
    // The sender first: with -a:no srt-live-transmit exits once a side leaves.
    if (sender !== undefined) {
      suite.senders.push({ server: group?.path ?? "slt", ...await stopSender(sender) });
    }
    await group?.stop();
    await Promise.all(slts.map((slt) => slt.stop(5000)));
  }
}

export async function benchRelays(
  options: RelaysOptions,
  progress: (line: string) => void,
): Promise<RelaysSuite> {
  const suite: RelaysSuite = {
    mbps: options.mbps,
    windowSeconds: options.windowSeconds,
    srtLatencyMs: SRT_LATENCY_MS,
    commands: {
      ffmpeg: `ffmpeg ${ffmpegArgs(options.mbps, "STREAM.ts").join(" ")}`,
      sender:
        `deno run -A bench/sender.ts --port P --mbps ${options.mbps} --seconds S --file STREAM.ts --stream-id publish:${STREAM}`,
      viewers:
        `deno run -A bench/viewers.ts --port P --count 1 --samples --stream-id play:${STREAM}`,
    },
    windows: [],
    sltChain: null,
    senders: [],
    notes: [],
  };
  // Ctrl-C ends the bench with Deno.exit(), past the finally below.
  const { dir, removeDir } = await scratchDir("atoll_bench_relays_");
  try {
    const file = await makeStream(dir, options.mbps);
    await benchAtollPaths(file, dir, options, progress, suite);
    const single = await sltPath(file, options, false, suite);
    const chained = await sltPath(file, options, true, suite);
    suite.sltChain = {
      single: single.path,
      chained: chained.path,
      percentileDifference: difference(chained.path.latency, single.path.latency),
      cpu: {
        singleOrigin: single.cpu[0]!,
        chainedOrigin: chained.cpu[0]!,
        chainedEdge: chained.cpu[1]!,
      },
    };
    progress(describeSltChain(suite.sltChain));
  } finally {
    globalThis.removeEventListener("unload", removeDir);
    removeDir();
  }
  suite.notes = notesOf(suite);
  return suite;
}

/** Things worth a look: relays that retried, viewers that skipped or lost messages. */
function notesOf(suite: RelaysSuite): string[] {
  const notes: string[] = [];
  for (const window of suite.windows) {
    for (const path of window.paths) {
      const { expected, received } = path.delivery;
      if (expected !== received) {
        notes.push(
          `${window.edges} edge(s), ${path.path}: ${received} of ${expected} messages in the window`,
        );
      }
    }
    window.edgeReports.forEach((edge, n) => {
      for (const relay of edge.relays) {
        if (relay.retries > 0 || relay.attempts > 1 || relay.state !== "connected") {
          notes.push(
            `${window.edges} edge(s), edge ${
              n + 1
            }: relay ${relay.state}, ${relay.attempts} attempt(s), ${relay.retries} retries, last error ${relay.lastError}`,
          );
        }
      }
      if ((edge.viewerSkips ?? 0) > 0) {
        notes.push(`${window.edges} edge(s), edge ${n + 1}: ${edge.viewerSkips} viewer skip(s)`);
      }
      const pull = edge.pull;
      if (pull !== null && (pull.packetsDropped > 0 || pull.packetsLost > 0)) {
        notes.push(
          `${window.edges} edge(s), edge ${
            n + 1
          }: pull lost ${pull.packetsLost}, dropped ${pull.packetsDropped} packets`,
        );
      }
    });
  }
  return notes;
}

function hopText(hop: HopFigures): string {
  return `${hop.path} hop p50 +${hop.paired.p50.toFixed(1)} ms, p99 +${
    hop.paired.p99.toFixed(1)
  } ms`;
}

export function describeWindow(window: RelaysWindow): string {
  const edgeChildren = window.cpu.originEdgeChildren;
  return `${window.edges} edge(s), ${window.commonMessages} messages on every path: ` +
    window.hops.filter((hop) => hop.path === "atoll-edge-1" || hop.path === "slt-edge").map(
      hopText,
    ).join(", ") +
    `; origin tree ${window.cpu.originTree.toFixed(1)} % CPU, ordinary viewer child ${
      window.cpu.originViewer.toFixed(1)
    } %, edge children ${formatNumber(sum(edgeChildren) / edgeChildren.length)} % each`;
}

export function describeSltChain(chain: SltChain): string {
  return `srt-live-transmit alone: p50 ${chain.single.latency.p50.toFixed(1)} ms, chained ${
    chain.chained.latency.p50.toFixed(1)
  } ms (+${chain.percentileDifference.p50.toFixed(1)} ms)`;
}

/** One line: each window's hop p50 for Atoll's edges (median over them) and srt-live-transmit's. */
function inShort(suite: RelaysSuite): string {
  const srt = suite.srtLatencyMs;
  const parts = suite.windows.map((window) => {
    const atoll = window.hops.filter((hop) => hop.path.startsWith("atoll-edge"));
    const slt = window.hops.find((hop) => hop.path === "slt-edge");
    const p50 = percentile(atoll.map((hop) => hop.paired.p50), 50);
    return `with ${window.edges} Atoll edge(s), a hop through Atoll adds ${ms(p50)} ms at p50 ` +
      `(${signed(p50 - srt)} ms beyond the SRT latency${
        atoll.length > 1 ? ", median over the edges" : ""
      }), through srt-live-transmit ${ms(slt?.paired.p50 ?? NaN)} ms (${
        signed((slt?.paired.p50 ?? NaN) - srt)
      })`;
  });
  const chain = suite.sltChain;
  if (chain !== null) {
    parts.push(
      `srt-live-transmit chained alone adds ${ms(chain.percentileDifference.p50)} ms (${
        signed(chain.percentileDifference.p50 - srt)
      })`,
    );
  }
  return `In short: ${parts.join("; ")}.`;
}

function ms(value: number): string {
  return formatNumber(value, 1);
}

function signed(value: number): string {
  return Number.isFinite(value) ? `${value >= 0 ? "+" : ""}${value.toFixed(1)}` : "–";
}

/** The suite's Markdown section. */
export function relaysSection(suite: RelaysSuite): string {
  const srt = suite.srtLatencyMs;
  const lines: string[] = [];
  lines.push(
    `- origin: \`${suite.commands.origin}\``,
    `- edge: \`${suite.commands.edge}\`, EDGE.yaml: \`${
      suite.commands.edgeConfig?.trim().replaceAll("\n", " ⏎ ")
    }\``,
    `- srt-live-transmit edge: \`${suite.commands.sltEdge}\``,
    `- srt-live-transmit alone: \`${suite.commands.sltOrigin}\`, chained with \`${suite.commands.sltChainEdge}\``,
    `- sender: \`${suite.commands.sender}\`, ${suite.mbps} Mbit/s; viewers: \`${suite.commands.viewers}\``,
    "",
    `SRT latency ${srt} ms on every link. Latency: sender's send call to the viewer reading the message, ` +
      "over the stamped messages every path received in the window (nearest rank).",
    "",
  );
  const pathRows = suite.windows.flatMap((window) =>
    window.paths.map((path) => [
      String(window.edges),
      path.path,
      String(path.servers),
      String(path.latency.samples),
      ms(path.latency.p50),
      ms(path.latency.p95),
      ms(path.latency.p99),
      ms(path.latency.max),
      `${path.delivery.received}/${path.delivery.expected}`,
      path.receiveBufferMs.join(" / "),
    ])
  );
  if (suite.sltChain !== null) {
    for (const path of [suite.sltChain.single, suite.sltChain.chained]) {
      pathRows.push([
        "–",
        path.path,
        String(path.servers),
        String(path.latency.samples),
        ms(path.latency.p50),
        ms(path.latency.p95),
        ms(path.latency.p99),
        ms(path.latency.max),
        `${path.delivery.received}/${path.delivery.expected}`,
        path.receiveBufferMs.join(" / "),
      ]);
    }
  }
  lines.push(
    markdownTable([
      "Atoll edges",
      "path",
      "servers",
      "messages",
      "p50 ms",
      "p95 ms",
      "p99 ms",
      "max ms",
      "messages received/sent (window)",
      "viewer's receive buffer ms, start / end",
    ], pathRows),
    "",
  );
  const hopRows = suite.windows.flatMap((window) =>
    window.hops.map((hop) => [
      String(window.edges),
      hop.path,
      ms(hop.paired.p50),
      ms(hop.paired.p95),
      ms(hop.paired.p99),
      ms(hop.paired.max),
      ms(hop.paired.min),
      signed(hop.paired.p50 - srt),
      signed(hop.paired.p99 - srt),
      `${signed(hop.percentileDifference.p50)} / ${signed(hop.percentileDifference.p99)}`,
    ])
  );
  if (suite.sltChain !== null) {
    const d = suite.sltChain.percentileDifference;
    hopRows.push([
      "–",
      "slt-chain (vs slt-origin, other window)",
      "–",
      "–",
      "–",
      "–",
      "–",
      signed(d.p50 - srt),
      signed(d.p99 - srt),
      `${signed(d.p50)} / ${signed(d.p99)}`,
    ]);
  }
  lines.push(
    "What one hop adds: the same message through the edge minus through the origin alone.",
    "",
    markdownTable([
      "Atoll edges",
      "hop",
      "p50 ms",
      "p95 ms",
      "p99 ms",
      "max ms",
      "min ms",
      `p50 − ${srt} ms`,
      `p99 − ${srt} ms`,
      "difference of p50 / p99 ms",
    ], hopRows),
    "",
  );
  lines.push(
    "Each hop's p50 second by second, in ms beyond the SRT latency:",
    "",
    ...suite.windows.flatMap((window) =>
      window.hops.map((hop) =>
        `- ${window.edges} edge(s), ${hop.path}: ${
          hop.timeline.map((p50) => signed(p50 - srt)).join(" ")
        }`
      )
    ),
    "",
  );
  const cpuRows = suite.windows.map((window) => {
    const c = window.cpu;
    const edgeChildren = c.originEdgeChildren;
    const first = suite.windows[0]!.cpu;
    const growth = window.edges > 1
      ? (c.originTree - first.originTree) / (window.edges - suite.windows[0]!.edges)
      : NaN;
    return [
      String(window.edges),
      ms(c.originTree),
      ms(c.originMain),
      ms(c.originPublisher),
      ms(c.originViewer),
      ms(c.originSltEdge),
      `${ms(sum(edgeChildren) / edgeChildren.length)} / ${ms(Math.max(...edgeChildren))}`,
      `${ms(sum(c.originPool))} (${c.originPool.length})`,
      ms(c.originTree / window.edges),
      ms(growth),
      `${ms(sum(c.edgeTrees) / c.edgeTrees.length)} / ${ms(Math.max(...c.edgeTrees))}`,
      ms(c.sltEdge),
    ];
  });
  lines.push(
    "The origin's CPU (% of one core; the ordinary viewer's, srt-live-transmit's and the edges' pulls are each a viewer to it):",
    "",
    markdownTable([
      "Atoll edges",
      "origin tree",
      "main",
      "publisher child",
      "ordinary viewer child",
      "child serving slt edge",
      "child serving an Atoll edge, mean / max",
      "pool (children)",
      "tree / edges",
      "tree growth per added edge",
      "an Atoll edge's own tree, mean / max",
      "srt-live-transmit edge",
    ], cpuRows),
  );
  if (suite.sltChain !== null) {
    const c = suite.sltChain.cpu;
    lines.push(
      "",
      `srt-live-transmit alone, CPU: ${ms(c.singleOrigin)} % (one), ${ms(c.chainedOrigin)} % + ${
        ms(c.chainedEdge)
      } % (chained).`,
    );
  }
  const server = suite.windows.flatMap((window) =>
    window.edgeReports.map((edge, n) =>
      `${window.edges}/${n + 1}: p50 ${ms(edge.viewerLatency?.latency.p50Ms ?? NaN)}, p99 ${
        ms(edge.viewerLatency?.latency.p99Ms ?? NaN)
      }, max ${ms(edge.viewerLatency?.latency.maxMs ?? NaN)} ms since caught up, p99 ≤ ${
        edge.viewerWindow?.p99AtMostMs ?? "–"
      } ms and ${edge.viewerWindow?.atLeast10Ms ?? "–"} of ${
        edge.viewerWindow?.samples ?? "–"
      } messages ≥ 10 ms in the window; pull receive buffer ${
        ms(edge.pullReceiveBufferMsBefore ?? NaN)
      } → ${ms(edge.pull?.receiveBufferMs ?? NaN)} ms`
    )
  );
  lines.push(
    "",
    `Each Atoll edge's own server-added latency for its viewer (edges/edge): ${server.join("; ")}.`,
  );
  lines.push("", inShort(suite));
  if (suite.notes.length > 0) lines.push("", "Noted:", "", ...suite.notes.map((n) => `- ${n}`));
  return lines.join("\n");
}
