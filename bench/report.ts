/**
 * The Markdown summary of a bench run: one table per benchmark, ratios
 * against the baselines, and each target marked met or not met. Pure.
 *
 * @module
 */

import type { ConnectRun, ConnectSuite } from "./connect_time.ts";
import type { ManySuite } from "./many_callers.ts";
import type { ResourceSuite } from "./resources.ts";
import type {
  BurstRun,
  HealthzSummary,
  MainProcessFigures,
  StormRun,
  StormsSuite,
} from "./storms.ts";
import type { Spread, StreamsRun, StreamsSuite } from "./streams.ts";
import { formatMb, formatNumber, markdownTable } from "./summary.ts";
import { describeRejectCode } from "../src/protocol/reject_codes.ts";

export interface Machine {
  nproc: number;
  cpuModel: string;
  kernel: string;
  deno: string;
  libsrt: string;
  srtLiveTransmit: string;
}

export interface BenchResults {
  startedAt: string;
  finishedAt: string;
  command: string;
  quick: boolean;
  machine: Machine;
  /** The commit measured, and files outside bench/ changed since it (`git status`). */
  revision: { commit: string; changed: string[] };
  /** Other deno/SRT processes seen at checkpoints: figures taken beside them are skewed. */
  foreignProcesses: { when: string; processes: string[] }[];
  connect?: ConnectSuite;
  resources?: ResourceSuite;
  many?: ManySuite;
  streams?: StreamsSuite;
  storms?: StormsSuite;
}

/** The targets, as the brief sets them. */
export const TARGETS = {
  connectP50Ms: 10,
  childPrivateMb: 12,
  receiveCpuPercentAt100: 15,
  serverLatencyP99Ms: 10,
  cpuPercentPerViewer: 2,
  mainCpuPercentWithViewers: 3,
};

function verdict(met: boolean): string {
  return met ? "met" : "**not met**";
}

const ms = (value: number | null | undefined) => formatNumber(value, 2);

/** The baseline a connect run is compared with: same caller kind, same mode. */
function baselineOf(suite: ConnectSuite, run: ConnectRun): ConnectRun | undefined {
  const server = run.mode === "sequential" ? "srt-live-transmit" : "libsrt-listener";
  return suite.runs.find((r) => r.server === server && r.kind === run.kind && r.mode === run.mode);
}

function ratio(value: number, base: number | undefined): string {
  if (base === undefined || !Number.isFinite(value) || !(base > 0)) return "–";
  return `${(value / base).toFixed(1)}×`;
}

/**
 * Datagrams Atoll's main process dropped, but for `peer-has-child`: a
 * caller's retransmitted inductions queued before its handoff, harmless.
 */
function droppedText(dropped: Record<string, number> | null): string {
  if (dropped === null) return "–";
  const entries = Object.entries(dropped).filter(([reason]) => reason !== "peer-has-child");
  return entries.length === 0 ? "0" : entries.map(([key, count]) => `${key} ${count}`).join(", ");
}

export function connectSection(suite: ConnectSuite): string {
  const rows = suite.runs.map((run) => {
    const isAtoll = run.server.startsWith("atoll");
    const base = isAtoll ? baselineOf(suite, run) : undefined;
    return [
      `\`${run.server}\``,
      run.kind,
      run.mode,
      `${run.connected}/${run.callers}`,
      ms(run.connectMs.p50),
      ms(run.connectMs.p95),
      ms(run.connectMs.max),
      String(run.over3s),
      run.allDoneMs === null ? "–" : formatNumber(run.allDoneMs, 0),
      isAtoll ? ratio(run.connectMs.p50, base?.connectMs.p50) : "–",
      isAtoll ? ratio(run.connectMs.p95, base?.connectMs.p95) : "–",
      run.childrenStarted === null ? "–" : String(run.childrenStarted),
      droppedText(run.dropped),
    ];
  });
  const table = markdownTable(
    [
      "server",
      "caller",
      "mode",
      "connected",
      "p50 ms",
      "p95 ms",
      "max ms",
      "> 3 s",
      "all done ms",
      "p50 / baseline",
      "p95 / baseline",
      "children started",
      "dropped by main",
    ],
    rows,
  );
  const fast = suite.runs.filter((r) => r.server === "atoll-fast" && r.mode === "sequential");
  const targetRows = fast.map((run) => [
    `fast path, prestarted child, ${run.kind} caller, sequential`,
    `p50 ≤ ${TARGETS.connectP50Ms} ms`,
    `${ms(run.connectMs.p50)} ms`,
    verdict(run.connectMs.p50 <= TARGETS.connectP50Ms && run.connected === run.callers),
  ]);
  return [
    table,
    "",
    "Baselines for the ratios: `srt-live-transmit` for sequential callers, `libsrt-listener` for " +
    "simultaneous ones (same caller kind). `> 3 s`: connected callers that took longer than " +
    "libsrt's default connect timeout, so would have failed without the bench's " +
    `${suite.connectTimeoutMs / 1000} s SRTO_CONNTIMEO. \`dropped by main\`: datagrams Atoll's ` +
    "main process dropped during the run (`/api/stats`), not counting `peer-has-child` " +
    "(retransmitted inductions queued before the handoff, harmless).",
    "",
    markdownTable(["target", "wanted", "measured", "verdict"], targetRows),
  ].join("\n");
}

export function memorySection(suite: ResourceSuite): string {
  const rows = suite.memory.map((row) => [
    row.what,
    formatMb(row.memory.privateDirtyKb),
    formatMb(row.memory.pssKb),
    formatMb(row.memory.rssKb),
  ]);
  const children = suite.memory.filter((row) => row.what.startsWith("Atoll child"));
  const worst = Math.max(...children.map((row) => row.memory.privateDirtyKb));
  return [
    markdownTable(["process", "Private_Dirty MB", "Pss MB", "Rss MB"], rows),
    "",
    markdownTable(["target", "wanted", "measured (largest child)", "verdict"], [[
      "child private memory (Private_Dirty)",
      `≤ ${TARGETS.childPrivateMb} MB`,
      `${formatMb(worst)} MB`,
      verdict(worst / 1024 <= TARGETS.childPrivateMb),
    ]]),
  ].join("\n");
}

export function cpuSection(suite: ResourceSuite): string {
  const baseline = (mbps: number) =>
    suite.cpu.find((r) => r.receiver === "srt-live-transmit" && r.targetMbps === mbps);
  const rows = suite.cpu.map((run) => [
    `\`${run.receiver}\``,
    String(run.targetMbps),
    formatNumber(run.sentMbps, 2),
    formatNumber(run.receivedMbps, 2),
    // srt-live-transmit reports its count every 1000 packets: the last report is a lower bound.
    `${run.receiver === "srt-live-transmit" ? "≥ " : ""}${run.packetsReceived}/${run.packetsSent}`,
    formatNumber(run.windowSeconds, 1),
    formatNumber(run.cpuPercent, 1),
    run.receiver === "atoll-child"
      ? ratio(run.cpuPercent, baseline(run.targetMbps)?.cpuPercent)
      : "–",
    formatNumber(run.mainCpuPercent, 1),
    formatNumber(run.senderCpuPercent, 1),
  ]);
  const at100 = suite.cpu.find((r) => r.receiver === "atoll-child" && r.targetMbps === 100);
  return [
    markdownTable([
      "receiver",
      "target Mbit/s",
      "sent Mbit/s",
      "received Mbit/s (window)",
      "packets received/sent",
      "window s",
      "CPU % of a core",
      "CPU / baseline",
      "Atoll main CPU %",
      "sender CPU %",
    ], rows),
    "",
    markdownTable(["target", "wanted", "measured", "verdict"], [[
      "child CPU receiving 100 Mbit/s",
      `≤ ${TARGETS.receiveCpuPercentAt100} % of a core`,
      at100 ? `${formatNumber(at100.cpuPercent, 1)} %` : "–",
      at100 ? verdict(at100.cpuPercent <= TARGETS.receiveCpuPercentAt100) : "–",
    ]]),
  ].join("\n");
}

export function manySection(suite: ManySuite): string {
  const rows = suite.runs.map((run) => [
    String(run.callers),
    `${run.connectTimeoutMs / 1000} s`,
    String(run.connected),
    formatNumber(run.allDoneMs, 0),
    formatNumber(run.serverSpanMs, 0),
    formatNumber(run.connectMs.p50, 0),
    formatNumber(run.connectMs.max, 0),
    String(run.aliveCallers),
    `${run.apiConnected} + ${run.apiHandshaking}`,
    formatMb(run.connectionChildren.privateDirtyKb),
    formatMb(run.connectionChildren.pssKb),
    formatMb(run.connectionChildren.privateDirtyKb / Math.max(run.connectionChildren.count, 1)),
    formatMb(run.main.privateDirtyKb),
    droppedText(run.dropped),
  ]);
  const patient = suite.runs[0];
  return [
    markdownTable([
      "callers",
      "caller connect timeout",
      "connected",
      "all done ms (callers)",
      "first start to last connected ms (Atoll)",
      "p50 ms",
      "max ms",
      "alive after 5 s (callers)",
      "API connected + handshaking",
      "children Private_Dirty MB",
      "children Pss MB",
      "Private_Dirty MB per child",
      "main Private_Dirty MB",
      "dropped by main",
    ], rows),
    "",
    markdownTable(["target", "wanted", "measured", "verdict"], [[
      "simultaneous callers connected and alive",
      patient ? `${patient.callers} of ${patient.callers}` : "–",
      patient ? `${Math.min(patient.aliveCallers, patient.apiConnected)}` : "–",
      patient
        ? verdict(
          patient.aliveCallers === patient.callers && patient.apiConnected === patient.callers,
        )
        : "–",
    ]]),
  ].join("\n");
}

const pct = (value: number | null | undefined) => formatNumber(value, 1);

/** "mean / max" of a spread, or "–". */
function meanMax(value: Spread | null, scale = 1, digits = 1): string {
  if (value === null) return "–";
  return `${formatNumber(value.mean / scale, digits)} / ${formatNumber(value.max / scale, digits)}`;
}

/** Atoll's CPU per viewer added, from the fewest to the most viewers measured. */
export function marginalCpuPerViewer(runs: StreamsRun[]): number | null {
  const atoll = runs.filter((run) => run.server === "atoll" && run.connected > 0);
  const first = atoll[0];
  const last = atoll.at(-1);
  if (!first || !last || last.connected === first.connected) return null;
  return (last.totalCpuPercent - first.totalCpuPercent) / (last.connected - first.connected);
}

export function streamsSection(suite: StreamsSuite): string {
  const serverName = (run: StreamsRun) =>
    run.server === "atoll" ? "Atoll" : "`srt-live-transmit` relay";
  const cpuRows = suite.runs.map((run) => [
    serverName(run),
    run.connected === run.viewers ? String(run.viewers) : `**${run.connected}/${run.viewers}**`,
    formatNumber(run.windowSeconds, 1),
    pct(run.totalCpuPercent),
    pct(run.mainCpuPercent),
    pct(run.publisherCpuPercent),
    meanMax(run.viewerChildCpuPercent),
    meanMax(run.viewerChildPrivateDirtyKb, 1024),
    meanMax(run.viewerChildPssKb, 1024),
    pct(run.viewersProcessCpuPercent),
    pct(run.senderCpuPercent),
  ]);
  const latencyRows = suite.runs.map((run) => {
    const delivery = run.delivery;
    return [
      serverName(run),
      String(run.viewers),
      `${formatNumber(run.connectMs.p50, 0)} / ${formatNumber(run.connectMs.max, 0)}`,
      ms(run.serverLatency?.p50MedianMs),
      `${ms(run.serverLatency?.p99MedianMs)} / ${ms(run.serverLatency?.p99MaxMs)}`,
      ms(run.serverLatency?.maxMs),
      ms(run.endToEnd.p50MedianMs),
      `${ms(run.endToEnd.p99MedianMs)} / ${ms(run.endToEnd.p99MaxMs)}`,
      run.skips === null ? "–" : String(run.skips),
      `${delivery.received}/${delivery.expected}`,
      formatNumber(delivery.worstMissing, 0),
      `${formatNumber(delivery.receivedMbps.min, 2)} / ${
        formatNumber(delivery.receivedMbps.max, 2)
      }`,
    ];
  });
  const atoll = suite.runs.filter((run) => run.server === "atoll");
  const relay = suite.runs.find((run) => run.server === "srt-live-transmit");
  const one = atoll.find((run) => run.viewers === 1);
  const targetRows: string[][] = [];
  for (const run of atoll) {
    const overall = run.serverLatency?.overall;
    targetRows.push([
      `server-added latency p99 in the window, every message to every viewer, ${run.viewers} viewer(s)`,
      `≤ ${TARGETS.serverLatencyP99Ms} ms`,
      overall === undefined
        ? "–"
        : `${formatNumber(overall.shareAtLeast10Ms * 100, 2)} % took ≥ 10 ms (p99 ≤ ${
          overall.p99AtMostMs ?? "?"
        } ms)`,
      overall === undefined ? "–" : verdict(overall.shareAtLeast10Ms <= 0.01),
    ]);
  }
  for (const run of atoll) {
    const bound = run.serverLatency?.overall?.slowestViewerP99AtMostMs;
    targetRows.push([
      `server-added latency p99 in the window, slowest viewer, ${run.viewers} viewer(s)`,
      `≤ ${TARGETS.serverLatencyP99Ms} ms`,
      bound === undefined ? "–" : bound === null ? "> 100 ms" : `≤ ${bound} ms`,
      bound === undefined ? "–" : verdict(bound !== null && bound <= TARGETS.serverLatencyP99Ms),
    ]);
  }
  for (const run of atoll) {
    const cpu = run.viewerChildCpuPercent;
    targetRows.push([
      `CPU per viewer child (mean, largest), ${run.viewers} viewer(s)`,
      `≤ ${TARGETS.cpuPercentPerViewer} % of a core`,
      cpu ? `${pct(cpu.mean)} %, ${pct(cpu.max)} %` : "–",
      cpu ? verdict(cpu.mean <= TARGETS.cpuPercentPerViewer) : "–",
    ]);
  }
  const marginal = marginalCpuPerViewer(suite.runs);
  const first = atoll[0];
  const last = atoll.at(-1);
  if (marginal !== null && first && last) {
    targetRows.push([
      `Atoll CPU per added viewer, all processes, ${first.connected} → ${last.connected} viewers`,
      `≤ ${TARGETS.cpuPercentPerViewer} % of a core`,
      `${formatNumber(marginal, 2)} %`,
      verdict(marginal <= TARGETS.cpuPercentPerViewer),
    ]);
  }
  const mains = atoll.map((run) => run.mainCpuPercent ?? NaN);
  if (mains.length > 0) {
    const worst = Math.max(...mains);
    targetRows.push([
      `main-process CPU, ${atoll.map((run) => run.viewers).join(" / ")} viewers`,
      `≤ ${TARGETS.mainCpuPercentWithViewers} % of a core, flat`,
      `${mains.map(pct).join(" / ")} %`,
      verdict(worst <= TARGETS.mainCpuPercentWithViewers),
    ]);
  }
  const parts = [
    markdownTable([
      "server",
      "viewers",
      "window s",
      "total CPU %",
      "main CPU %",
      "publisher child CPU %",
      "viewer child CPU % mean / max",
      "viewer child Private_Dirty MB mean / max",
      "viewer child Pss MB mean / max",
      "viewers process CPU %",
      "sender CPU %",
    ], cpuRows),
    "",
    markdownTable([
      "server",
      "viewers",
      "connect ms p50 / max",
      "server-added p50 ms since caught up (median)",
      "server-added p99 ms since caught up, median / largest",
      "server-added max ms since caught up",
      "end-to-end p50 ms (median)",
      "end-to-end p99 ms median / largest",
      "skips",
      "messages received/sent (window)",
      "most missing, one viewer",
      "received Mbit/s min / max",
    ], latencyRows),
    "",
    markdownTable(["target", "wanted", "measured", "verdict"], targetRows),
  ];
  if (one && relay) {
    const pair = (one.publisherCpuPercent ?? NaN) + (one.viewerChildCpuPercent?.mean ?? NaN);
    const delta = (a: number | null, b: number | null) =>
      a === null || b === null ? "–" : `${a - b >= 0 ? "+" : ""}${formatNumber(a - b, 2)} ms`;
    const privateMb = (one.memory.publisher?.privateDirtyKb ?? NaN) +
      (one.viewerChildPrivateDirtyKb?.mean ?? NaN);
    parts.push(
      "",
      markdownTable(["one viewer", "Atoll", "`srt-live-transmit` relay", "Atoll / relay"], [
        [
          "CPU %, publisher child + viewer child",
          pct(pair),
          pct(relay.totalCpuPercent),
          ratio(pair, relay.totalCpuPercent),
        ],
        [
          "CPU %, with the main process",
          pct(one.totalCpuPercent),
          pct(relay.totalCpuPercent),
          ratio(one.totalCpuPercent, relay.totalCpuPercent),
        ],
        [
          "Private_Dirty MB, publisher child + viewer child",
          formatMb(privateMb),
          formatMb(relay.memory.relay?.privateDirtyKb),
          ratio(privateMb, relay.memory.relay?.privateDirtyKb),
        ],
        [
          "end-to-end p50 ms",
          ms(one.endToEnd.p50MedianMs),
          ms(relay.endToEnd.p50MedianMs),
          delta(one.endToEnd.p50MedianMs, relay.endToEnd.p50MedianMs),
        ],
        [
          "end-to-end p99 ms",
          ms(one.endToEnd.p99MaxMs),
          ms(relay.endToEnd.p99MaxMs),
          delta(one.endToEnd.p99MaxMs, relay.endToEnd.p99MaxMs),
        ],
      ]),
    );
  }
  return parts.join("\n");
}

/** Issue 10's targets for bursts and storms, on this 2-core machine. */
export const STORM_TARGETS = {
  /** A burst of this many callers with libsrt's default 3 s timeout, against a fresh Atoll… */
  burstCallers: 150,
  /** …all connected, half of them within this long. */
  burstP50Ms: 1000,
  /** A storm of this many callers retrying every 1 s… */
  stormCallers: 600,
  /** …all connected within this long… */
  stormAllConnectedMs: 20_000,
  /** …with at most this many children started per caller. */
  childrenPerCaller: 1.2,
  /** `/healthz` answered within this long throughout. */
  healthzMs: 100,
};

/** libsrt's own reasons (`SRT_REJ_*`) that a caller sees here; Atoll's are 1400 and up. */
const LIBSRT_REJECT_NAMES: Readonly<Record<number, string>> = {
  0: "unknown",
  1: "system",
  2: "peer",
  3: "resource",
  4: "rogue",
  5: "backlog",
  7: "close",
  16: "timeout",
};

function reasonsText(reasons: Record<string, number>): string {
  const entries = Object.entries(reasons);
  if (entries.length === 0) return "–";
  return entries.map(([code, count]) => {
    const number = Number(code);
    const name = !Number.isInteger(number)
      ? code
      : number < 1000
      ? `${code} ${LIBSRT_REJECT_NAMES[number] ?? ""}`.trim()
      : describeRejectCode(number);
    return `${name}: ${count}`;
  }).join(", ");
}

/** "p50 / p99 / max" of each probe, normal priority first. */
function healthzText(probes: HealthzSummary[], which: "p50" | "all"): string {
  return probes.map((h) => {
    const failed = h.failed > 0 ? ` (**${h.failed} failed**)` : "";
    return which === "p50"
      ? `${formatNumber(h.p50Ms, 1)} / ${formatNumber(h.p99Ms, 1)} / ${formatNumber(h.maxMs, 1)}`
      : `${formatNumber(h.p99Ms, 1)} / ${formatNumber(h.maxMs, 1)}${failed}`;
  }).join(" ; ") || "–";
}

/** "CPU % / run-queue wait ms", and "load start → end". */
function mainText(main: MainProcessFigures | null): [string, string] {
  if (main === null) return ["–", "–"];
  return [
    `${formatNumber(main.cpuPercent, 0)} % / ${main.runQueueWaitMs}`,
    `${formatNumber(main.loadAverage[0], 0)} → ${formatNumber(main.loadAverage[1], 0)}`,
  ];
}

function serverText(server: BurstRun["server"]): string {
  return server === "atoll" ? "Atoll" : "`libsrt-listener`";
}

export function stormsSection(suite: StormsSuite): string {
  const counted = (value: number | undefined) => value === undefined ? "–" : String(value);
  const burstRows = suite.bursts.map((run) => [
    serverText(run.server),
    run.phase === "fresh"
      ? "fresh"
      : run.phase === "again"
      ? "again, right after"
      : run.phase === "prestarted"
      ? `fresh, \`--pool-size ${run.poolBefore?.floor}\``
      : "–",
    run.connected === run.callers
      ? `${run.connected}/${run.callers}`
      : `**${run.connected}/${run.callers}**`,
    reasonsText(run.refused),
    formatNumber(run.connectMs.p50, 0),
    formatNumber(run.connectMs.p95, 0),
    formatNumber(run.connectMs.max, 0),
    formatNumber(run.allDoneMs, 0),
    run.poolBefore === null ? "–" : `${run.poolBefore.idle} / ${run.poolBefore.floor}`,
    counted(run.atoll?.childrenStarted),
    counted(run.atoll?.shed),
    counted(run.atoll?.callerGone),
    counted(run.atoll?.callersRejected),
    formatNumber(run.childStartMs, 0),
    ...mainText(run.main),
    healthzText(run.healthz, "all"),
    run.cpu === null
      ? "–"
      : `${run.cpu.serverMs} / ${run.cpu.callersMs} / ${run.cpu.machineMs} in ${run.cpu.windowMs}`,
    run.cpu === null || run.connected === 0
      ? "–"
      : formatNumber(run.cpu.serverMs / run.connected, 1),
  ]);
  const stormRows = suite.storms.map((run: StormRun) => [
    serverText(run.server),
    String(run.callers),
    run.callerNice === 0 ? "normal" : `nice ${run.callerNice}`,
    run.connected === run.callers
      ? `${run.connected}/${run.callers}`
      : `**${run.connected}/${run.callers}**`,
    run.allConnectedMs === null
      ? `**not all in ${run.deadlineMs / 1000} s**`
      : formatNumber(run.allConnectedMs / 1000, 1),
    `${formatNumber(run.connectedAtMs.p50 / 1000, 1)} / ${
      formatNumber(run.connectedAtMs.p95 / 1000, 1)
    }`,
    String(run.maxAttempts),
    String(run.attempts),
    reasonsText(run.failures),
    String(run.aliveAtEnd),
    counted(run.atoll?.childrenStarted),
    formatNumber(run.childrenPerCaller, 2),
    counted(run.atoll?.shed),
    counted(run.atoll?.callerGone),
    counted(run.atoll?.callersRejected),
    run.peak === null ? "–" : `${run.peak.waitingCallers} / ${run.peak.longestWaitMs}`,
    run.peak === null ? "–" : String(run.peak.poolFloor),
    run.peak === null ? "–" : formatNumber(run.peak.childStartMs, 0),
    ...mainText(run.main),
    `${run.atRest.processes} / ${formatNumber(run.atRest.cpuPercent, 0)} %`,
    healthzText(run.healthz, "p50"),
    run.healthz.length === 0
      ? "–"
      : run.healthz.map((h) => formatNumber(h.maxLateMs, 0)).join(" ; "),
    `${run.callerSide.processes} / ${formatNumber(run.callerSide.cpuPercent, 0)} % / ` +
    `${formatNumber(run.callerSide.retryLateP50Ms, 0)} / ${
      formatNumber(run.callerSide.retryLateMaxMs, 0)
    }`,
  ]);

  const t = STORM_TARGETS;
  const targetRows: string[][] = [];
  const burst = suite.bursts.find((run) =>
    run.server === "atoll" && run.phase === "fresh" && run.callers === t.burstCallers
  );
  if (burst) {
    targetRows.push([
      `burst of ${t.burstCallers}, fresh Atoll, 3 s timeout: connected`,
      `${t.burstCallers} of ${t.burstCallers}`,
      String(burst.connected),
      verdict(burst.connected === burst.callers),
    ], [
      `burst of ${t.burstCallers}, fresh Atoll: connect p50`,
      `≤ ${t.burstP50Ms / 1000} s`,
      `${formatNumber(burst.connectMs.p50, 0)} ms`,
      verdict(burst.connectMs.p50 <= t.burstP50Ms),
    ]);
  }
  const storms = suite.storms.filter((run) =>
    run.server === "atoll" && run.callers === t.stormCallers
  );
  for (const storm of storms) {
    const priority = storm.callerNice === 0 ? "" : `, callers at nice ${storm.callerNice}`;
    targetRows.push([
      `storm of ${t.stormCallers}, retry after 1 s${priority}: all connected`,
      `≤ ${t.stormAllConnectedMs / 1000} s`,
      storm.allConnectedMs === null
        ? `${storm.connected} of ${storm.callers} in ${storm.deadlineMs / 1000} s`
        : `${formatNumber(storm.allConnectedMs / 1000, 1)} s`,
      verdict(storm.allConnectedMs !== null && storm.allConnectedMs <= t.stormAllConnectedMs),
    ], [
      `storm of ${t.stormCallers}${priority}: children started per caller`,
      `≤ ${t.childrenPerCaller}`,
      formatNumber(storm.childrenPerCaller, 2),
      verdict(storm.childrenPerCaller !== null && storm.childrenPerCaller <= t.childrenPerCaller),
    ]);
  }
  const atollRuns = [...suite.bursts, ...suite.storms].filter((run) => run.server === "atoll");
  for (const [index, label] of [[0, "normal priority"], [1, "nice -n -10"]] as const) {
    const probes = atollRuns.flatMap((run) => run.healthz[index] ? [run.healthz[index]] : []);
    if (probes.length === 0) continue;
    const worst = Math.max(...probes.map((h) => h.maxMs));
    const failed = probes.reduce((sum, h) => sum + h.failed, 0);
    targetRows.push([
      `\`/healthz\` throughout every Atoll burst and storm, probe at ${label}`,
      `≤ ${t.healthzMs} ms`,
      `max ${formatNumber(worst, 1)} ms` + (failed > 0 ? `, ${failed} failed` : ""),
      verdict(worst <= t.healthzMs && failed === 0),
    ]);
  }

  return [
    markdownTable([
      "server",
      "Atoll",
      "connected",
      "not connected, by reason",
      "p50 ms",
      "p95 ms",
      "max ms",
      "all done ms",
      "pool ready / floor before",
      "children started",
      "shed",
      "caller-gone",
      "callers rejected",
      "childStartMs after",
      "Atoll main CPU / run-queue wait ms",
      "load average",
      "/healthz p99 / max ms (probe ; nice -10 probe)",
      "CPU ms: server / callers / machine, in ms",
      "server CPU ms per caller connected",
    ], burstRows),
    "",
    markdownTable([
      "server",
      "callers",
      "callers' priority",
      "connected",
      "all connected s",
      "connected at p50 / p95 s",
      "rounds",
      "attempts",
      "failed attempts, by reason",
      "alive at end",
      "children started",
      "children per caller",
      "shed",
      "caller-gone",
      "callers rejected",
      "most waiting / longest wait ms",
      "largest pool floor",
      "largest childStartMs",
      "Atoll main CPU / run-queue wait ms",
      "load average",
      "server processes after / their CPU at rest",
      "/healthz p50 / p99 / max ms (probe ; nice -10 probe)",
      "probe late max ms",
      "caller processes / their CPU / retry late p50 / max ms",
    ], stormRows),
    "",
    markdownTable(["target", "wanted", "measured", "verdict"], targetRows),
  ].join("\n");
}

export function machineSection(machine: Machine): string {
  return markdownTable(["", ""], [
    ["CPU", `${machine.nproc} × ${machine.cpuModel}`],
    ["kernel", machine.kernel],
    ["Deno", machine.deno],
    ["libsrt", machine.libsrt],
    ["srt-live-transmit", machine.srtLiveTransmit],
  ]);
}

function foreignSection(checks: BenchResults["foreignProcesses"]): string {
  const busy = checks.filter((check) => check.processes.length > 0);
  if (busy.length === 0) {
    return `No other deno, srt-live-transmit or ffmpeg process was running at any of the ${checks.length} checks.`;
  }
  return "**Warning: other processes shared the CPUs, figures are skewed:** " +
    busy.map((check) => `${check.when}: ${check.processes.length}`).join("; ");
}

/** The whole summary, as `deno task bench` prints it. */
export function renderSummary(results: BenchResults): string {
  const parts = [
    `# Atoll bench, ${results.startedAt}${results.quick ? " (--quick)" : ""}`,
    "",
    `Command: \`${results.command}\`, at commit ${results.revision.commit}` +
    (results.revision.changed.length === 0
      ? " (clean)"
      : ` with changes: ${results.revision.changed.map((line) => line.trim()).join(", ")}`),
    "",
    machineSection(results.machine),
    "",
    foreignSection(results.foreignProcesses),
  ];
  if (results.connect) {
    parts.push(
      "",
      `## 1. Connect time (${results.connect.callersPerRun} callers per row)`,
      "",
      ...results.connect.servers.map((s) => `- \`${s.name}\`: \`${s.command}\``),
      "",
      connectSection(results.connect),
    );
  }
  if (results.resources) {
    parts.push(
      "",
      "## 2. Memory (smaps_rollup)",
      "",
      memorySection(results.resources),
      "",
      "## 3. Receive CPU",
      "",
      `- Atoll: \`${results.resources.atollCommand}\``,
      `- baseline: \`${results.resources.receiverCommand}\``,
      `- sender: \`${results.resources.senderCommand}\``,
      "",
      cpuSection(results.resources),
    );
  }
  if (results.many) {
    parts.push(
      "",
      "## 4. Many simultaneous callers",
      "",
      `Atoll: \`${results.many.command}\``,
      "",
      manySection(results.many),
    );
  }
  if (results.streams) {
    const streams = results.streams;
    parts.push(
      "",
      `## 5. Streams: one publisher, many viewers (${streams.mbps} Mbit/s)`,
      "",
      `- Atoll: \`${streams.atollCommand}\``,
      `- baseline: \`${streams.relayCommand}\``,
      `- stream: \`${streams.ffmpegCommand}\`, looped by \`${streams.senderCommand}\``,
      `- viewers: \`${streams.viewersCommand}\` (one process, N libsrt callers)`,
      "",
      streamsSection(streams),
    );
  }
  if (results.storms) {
    const storms = results.storms;
    parts.push(
      "",
      "## 6. Bursts and storms",
      "",
      `- Atoll: \`${storms.atollCommand}\``,
      `- baseline: \`${storms.listenerCommand}\``,
      `- /healthz: \`${storms.probeCommand}\``,
      "",
      stormsSection(storms),
    );
  }
  return parts.join("\n");
}
