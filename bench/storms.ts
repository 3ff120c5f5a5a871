/**
 * Benchmark 6: bursts and storms of callers, as when every encoder of a site
 * reconnects at once after a network blip or a restart.
 *
 * - **Bursts**: N async libsrt callers at once, libsrt's default 3 s connect
 *   timeout, no retry: how many connect, how the others were refused (their
 *   `srt_getrejectreason`), and the connect times of those connected. Each
 *   burst goes to a fresh Atoll (a pool of 2), then once more to the same
 *   Atoll once its callers are gone and its grown pool is ready, and to the
 *   bench's single-process libsrt listener (bench/listener.ts).
 * - **Storms**: N callers that each try again 1 s after each failure, with a
 *   new socket and the same stream id, until all are connected or the
 *   deadline passes: how long that took, how many children Atoll started
 *   per caller, how many attempts it shed, and `/healthz` latency sampled
 *   every 100 ms by two probes of their own (bench/healthz_probe.ts), one at
 *   normal priority and one at `nice -n -10`.
 *
 * Atoll runs with its defaults but for the caps that one source IP sending
 * everything would hit ({@link STORM_ARGS}).
 *
 * @module
 */

import { libsrt, SRT_EPOLL_ERR, SRT_EPOLL_OUT, SrtState } from "../ffi/libsrt.ts";
import type { ServerStats } from "../src/server/api_types.ts";
import type { Atoll } from "../tests/support/atoll.ts";
import { ManagedProcess } from "../tests/support/process.ts";
import { cpuPercent, sampleCpu } from "../tests/support/procfs.ts";
import { sleep, waitFor } from "../tests/support/wait.ts";
import { startAtoll, STOP_GRACE_MS } from "./atoll.ts";
import { connectGroup } from "./callers.ts";
import { droppedBetween } from "./connect_time.ts";
import type { ProbeSample } from "./healthz_probe.ts";
import { closeSocket, connectAsync, createCaller, EpollSet, socketState } from "./srt.ts";
import { type Distribution, distribution, percentile } from "./summary.ts";

/**
 * One source IP sends every caller: the per-IP caps and the handshake cap
 * (callers waiting for a child count as handshakes) are raised past the
 * largest storm; everything else, `--max-connections` (1000) included, is
 * Atoll's default.
 */
export const STORM_ARGS = [
  "--max-handshakes",
  "1000",
  "--max-new-connections-per-ip",
  "10000",
  "--max-connections-per-ip",
  "1000",
];

/** libsrt's default SRTO_CONNTIMEO, which every caller here keeps. */
export const CALLER_TIMEOUT_MS = 3000;
/** A storm's caller tries again this long after each failure. */
export const RETRY_AFTER_MS = 1000;
/** libsrt's SRT_REJ_TIMEOUT: the caller got no answer before its timeout. */
const SRT_REJ_TIMEOUT = 16;
/** Waiting for Atoll to be idle again between bursts, at most. */
const SETTLE_TIMEOUT_MS = 60_000;
const PROBE_INTERVAL_MS = 100;
const PROBE_SCRIPT = new URL("./healthz_probe.ts", import.meta.url).pathname;
const LISTENER_SCRIPT = new URL("./listener.ts", import.meta.url).pathname;

export type StormServer = "atoll" | "libsrt-listener";

/** `/healthz` latency over a window, as one probe saw it. */
export interface HealthzSummary {
  /** The probe's niceness, read from /proc once it ran. */
  nice: number;
  samples: number;
  /** Requests that failed, were not answered 200, or took over 5 s. */
  failed: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Samples over 100 ms. */
  over100: number;
  /** How late the probe itself started its requests, at most (its own starvation). */
  maxLateMs: number;
}

/** What Atoll's counters say about a run (deltas of `/api/stats`). */
export interface AtollDelta {
  childrenStarted: number;
  shed: number;
  callerGone: number;
  callersRejected: number;
  /** Every drop reason that grew, `peer-has-child` included. */
  dropped: Record<string, number>;
}

/**
 * Atoll's main process over a run: how much CPU it used, and how long its
 * main thread (the one that runs JavaScript: the event loop that answers
 * `/healthz` and serves the queue) was ready to run but waited for a CPU,
 * from `/proc/PID/task/PID/schedstat`. A long wait there is starvation by
 * other processes, not work of its own.
 */
export interface MainProcessFigures {
  windowMs: number;
  cpuPercent: number;
  runQueueWaitMs: number;
  /** The 1-minute load average at the start and the end of the run. */
  loadAverage: [number, number];
}

export interface BurstRun {
  server: StormServer;
  /** `fresh`: a new Atoll; `again`: the same Atoll right after, its pool grown; `baseline`. */
  phase: "fresh" | "again" | "baseline";
  callers: number;
  connected: number;
  /** Callers that did not connect, by `srt_getrejectreason` (16: timed out, 1402: overloaded). */
  refused: Record<string, number>;
  /** Over the callers that connected, from `srt_connect` to CONNECTED. */
  connectMs: Distribution;
  /** From the first `srt_connect` to the last caller connected or given up. */
  allDoneMs: number;
  /** Atoll's pool when the burst began: ready children and the floor. */
  poolBefore: { idle: number; floor: number } | null;
  atoll: AtollDelta | null;
  /** Atoll's `childStartMs` right after the burst. */
  childStartMs: number | null;
  main: MainProcessFigures | null;
  healthz: HealthzSummary[];
}

export interface StormRun {
  server: StormServer;
  callers: number;
  deadlineMs: number;
  connected: number;
  /** From the first `srt_connect` to the last caller connected; null when some never did. */
  allConnectedMs: number | null;
  /** When each caller connected, from the storm's start. */
  connectedAtMs: Distribution;
  /** Attempts in all, and the most one caller made (its rounds). */
  attempts: number;
  maxAttempts: number;
  /** Failed attempts by `srt_getrejectreason` (16: timed out, 1402: overloaded). */
  failures: Record<string, number>;
  /** Callers still CONNECTED on their side when the storm ended. */
  aliveAtEnd: number;
  atoll: AtollDelta | null;
  childrenPerCaller: number | null;
  /** Sampled from `/api/stats` every 500 ms during the storm: the most seen. */
  peak: StormPeak | null;
  main: MainProcessFigures | null;
  /** Every 500 ms: Atoll's queue and pool, and the callers connected so far. */
  timeline: TimelinePoint[];
  healthz: HealthzSummary[];
}

export interface StormPeak {
  waitingCallers: number;
  longestWaitMs: number;
  poolFloor: number;
  childStartMs: number;
}

export interface TimelinePoint {
  /** ms since the storm began. */
  t: number;
  connected: number;
  waitingCallers: number;
  longestWaitMs: number;
  idleChildren: number;
  startingChildren: number;
  poolFloor: number;
  childStartMs: number;
  childrenStarted: number;
  shed: number;
  callerGone: number;
  load1: number;
}

export interface StormsSuite {
  atollCommand: string;
  listenerCommand: string;
  probeCommand: string;
  bursts: BurstRun[];
  storms: StormRun[];
}

export interface StormsOptions {
  bursts: number[];
  storms: number[];
  /** A storm that has not connected every caller by then is reported as it stands. */
  stormDeadlineMs: number;
}

/** `srt_getrejectreason` of every caller that failed, counted by code. */
function countReasons(reasons: number[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const reason of reasons) out[reason] = (out[reason] ?? 0) + 1;
  return out;
}

function atollDelta(before: ServerStats, after: ServerStats): AtollDelta {
  const dropped = droppedBetween(before, after);
  return {
    childrenStarted: after.childrenStarted - before.childrenStarted,
    shed: dropped.shed ?? 0,
    callerGone: dropped["caller-gone"] ?? 0,
    callersRejected: after.callersRejected - before.callersRejected,
    dropped,
  };
}

/** Two `/healthz` probes of their own: normal priority, and `nice -n -10` (when allowed). */
class HealthzProbes {
  #probes: ManagedProcess[];

  constructor(httpPort: number) {
    const args = [
      "run",
      "-A",
      PROBE_SCRIPT,
      "--port",
      String(httpPort),
      "--interval-ms",
      String(PROBE_INTERVAL_MS),
      "--max-seconds",
      "600",
    ];
    this.#probes = [
      ManagedProcess.start("healthz-probe", Deno.execPath(), args, { stdin: "piped" }),
      ManagedProcess.start("healthz-probe-nice", "nice", ["-n", "-10", Deno.execPath(), ...args], {
        stdin: "piped",
      }),
    ];
  }

  /** Waits until each probe has had an answer. */
  async ready(): Promise<void> {
    for (const probe of this.#probes) {
      await probe.waitForLine("a first /healthz sample", (line) => line.startsWith("{"), 20_000);
    }
  }

  /** Each probe's samples sent within [fromEpochMs, toEpochMs]. */
  summarize(fromEpochMs: number, toEpochMs: number): HealthzSummary[] {
    return this.#probes.map((probe) => {
      const samples = probe.lines.filter((line) => line.startsWith("{"))
        .map((line) => JSON.parse(line) as ProbeSample)
        .filter((sample) => sample.at >= fromEpochMs && sample.at <= toEpochMs);
      const answered = samples.filter((sample) => sample.status === 200).map((s) => s.ms);
      const all = samples.map((sample) => sample.ms);
      return {
        nice: niceness(probe.pid),
        samples: samples.length,
        failed: samples.length - answered.length,
        p50Ms: percentile(all, 50),
        p99Ms: percentile(all, 99),
        maxMs: all.length === 0 ? NaN : Math.max(...all),
        over100: all.filter((ms) => ms > 100).length,
        maxLateMs: samples.length === 0 ? NaN : Math.max(...samples.map((s) => s.lateMs)),
      };
    });
  }

  async stop(): Promise<void> {
    await Promise.all(this.#probes.map(async (probe) => {
      await probe.closeStdin();
      await probe.stop(3000);
    }));
  }
}

function loadAverage(): number {
  return Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
}

/** Nanoseconds the thread `pid` of process `pid` has waited on a run queue. */
function runQueueWaitNs(pid: number): number {
  try {
    return Number(Deno.readTextFileSync(`/proc/${pid}/task/${pid}/schedstat`).split(" ")[1]);
  } catch {
    return NaN;
  }
}

/** Starts watching Atoll's main process; `stop()` gives its figures since. */
function watchMainProcess(pid: number): { stop(): Promise<MainProcessFigures> } {
  const cpu = sampleCpu(pid);
  const waitNs = runQueueWaitNs(pid);
  const load = loadAverage();
  return {
    async stop() {
      const now = sampleCpu(pid);
      return {
        windowMs: Math.round(now.at - cpu.at),
        cpuPercent: await cpuPercent(cpu, now),
        runQueueWaitMs: Math.round((runQueueWaitNs(pid) - waitNs) / 1e6),
        loadAverage: [load, loadAverage()],
      };
    },
  };
}

/** A process's nice value (field 19 of /proc/PID/stat); NaN once it is gone. */
function niceness(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
  } catch {
    return NaN;
  }
}

/** The bench's libsrt listener, started once for every baseline run. */
async function startListener(): Promise<{ process: ManagedProcess; port: number }> {
  const process = ManagedProcess.start("libsrt-listener", Deno.execPath(), [
    "run",
    "-A",
    LISTENER_SCRIPT,
    "--max-seconds",
    "1800",
  ], { stdin: "piped" });
  const line = await process.waitForLine(
    "listening line",
    (l) => l.includes('"listening"'),
    15_000,
  );
  return { process, port: (JSON.parse(line) as { port: number }).port };
}

/** Waits until no connection or waiting caller is left and the pool is full to its floor. */
async function waitForIdlePool(atoll: Atoll): Promise<ServerStats> {
  return await waitFor("Atoll back to idle, its pool full to its floor", async () => {
    const stats = await atoll.stats();
    const idle = stats.connections === 0 && stats.waitingCallers === 0 &&
      stats.startingChildren === 0 && stats.idleChildren >= stats.poolFloor;
    return idle ? stats : undefined;
  }, { timeoutMs: SETTLE_TIMEOUT_MS, intervalMs: 100 });
}

/** What a burst's callers saw. */
type BurstOutcome = Pick<BurstRun, "callers" | "connected" | "refused" | "connectMs" | "allDoneMs">;

/** One burst: every caller at once, 3 s timeout, no retry. */
async function burst(
  port: number,
  count: number,
  prefix: string,
): Promise<BurstOutcome> {
  const streamIds = Array.from({ length: count }, (_, n) => `${prefix}${n}`);
  const group = await connectGroup(port, streamIds, {
    kind: "async",
    prefix,
    connectTimeoutMs: CALLER_TIMEOUT_MS,
  });
  try {
    const connected: number[] = [];
    const reasons: number[] = [];
    group.results.forEach((caller, i) => {
      if (caller.connectMs !== null) connected.push(caller.connectMs);
      else reasons.push(libsrt().srt_getrejectreason(group.sockets[i]!));
    });
    return {
      callers: count,
      connected: connected.length,
      refused: countReasons(reasons),
      connectMs: distribution(connected),
      allDoneMs: group.allDoneMs,
    };
  } finally {
    group.close();
  }
}

interface StormCaller {
  streamId: string;
  socket: number | undefined;
  attemptStartedMs: number;
  attempts: number;
  connectedAtMs: number | null;
  retryAtMs: number | null;
}

/** What the storm's callers saw. */
interface StormOutcome {
  connected: number;
  allConnectedMs: number | null;
  connectedAtMs: number[];
  attempts: number;
  maxAttempts: number;
  failures: Record<string, number>;
  aliveAtEnd: number;
  close(): void;
}

/**
 * Starts `count` async callers at once; each one that fails (refused, or no
 * answer within its 3 s) is closed and replaced by a new socket with the
 * same stream id {@link RETRY_AFTER_MS} later. Ends when all are connected
 * or at `deadlineMs`; the connected callers stay open until `close()`.
 */
async function storm(
  port: number,
  count: number,
  prefix: string,
  deadlineMs: number,
  live: { connected: number; startedAt: number } = { connected: 0, startedAt: 0 },
): Promise<StormOutcome> {
  const epoll = new EpollSet(count + 8);
  const callers: StormCaller[] = Array.from({ length: count }, (_, n) => ({
    streamId: `${prefix}${n}`,
    socket: undefined,
    attemptStartedMs: 0,
    attempts: 0,
    connectedAtMs: null,
    retryAtMs: 0,
  }));
  const bySocket = new Map<number, StormCaller>();
  const reasons: number[] = [];
  const close = () => {
    for (const caller of callers) {
      if (caller.socket !== undefined) closeSocket(caller.socket);
      caller.socket = undefined;
    }
  };
  const started = performance.now();
  live.startedAt = started;
  const since = () => performance.now() - started;
  const attempt = (caller: StormCaller) => {
    const socket = createCaller(caller.streamId, {
      blocking: false,
      connectTimeoutMs: CALLER_TIMEOUT_MS,
    });
    caller.socket = socket;
    caller.retryAtMs = null;
    caller.attempts++;
    bySocket.set(socket, caller);
    epoll.add(socket, SRT_EPOLL_OUT | SRT_EPOLL_ERR);
    caller.attemptStartedMs = since();
    connectAsync(socket, port);
  };
  const fail = (caller: StormCaller, reason: number) => {
    reasons.push(reason);
    const socket = caller.socket!;
    epoll.remove(socket);
    bySocket.delete(socket);
    closeSocket(socket);
    caller.socket = undefined;
    caller.retryAtMs = since() + RETRY_AFTER_MS;
  };
  let connected = 0;
  try {
    while (connected < count && since() < deadlineMs) {
      for (const caller of callers) {
        if (caller.retryAtMs !== null && caller.retryAtMs <= since()) attempt(caller);
      }
      const nextRetry = Math.min(
        ...callers.map((c) => c.retryAtMs ?? Infinity),
        deadlineMs,
      );
      const ready = await epoll.wait(Math.max(0, Math.min(50, nextRetry - since())));
      for (const { socket } of ready) {
        const caller = bySocket.get(socket);
        if (caller === undefined) continue;
        const state = socketState(socket);
        if (state === SrtState.CONNECTED) {
          caller.connectedAtMs = since();
          epoll.remove(socket);
          bySocket.delete(socket);
          connected++;
          live.connected = connected;
        } else if (state > SrtState.CONNECTED) {
          fail(caller, libsrt().srt_getrejectreason(socket));
        }
      }
      // libsrt reports a timeout as ERR; this only catches an attempt it never reported.
      for (const caller of bySocket.values()) {
        if (since() - caller.attemptStartedMs > CALLER_TIMEOUT_MS + 2000) {
          fail(caller, SRT_REJ_TIMEOUT);
        }
      }
    }
    const times = callers.flatMap((c) => c.connectedAtMs === null ? [] : [c.connectedAtMs]);
    return {
      connected,
      allConnectedMs: connected === count ? Math.max(...times) : null,
      connectedAtMs: times,
      attempts: callers.reduce((sum, c) => sum + c.attempts, 0),
      maxAttempts: Math.max(...callers.map((c) => c.attempts)),
      failures: countReasons(reasons),
      aliveAtEnd: callers.filter((c) =>
        c.connectedAtMs !== null && c.socket !== undefined &&
        socketState(c.socket) === SrtState.CONNECTED
      ).length,
      close,
    };
  } catch (error) {
    close();
    throw error;
  } finally {
    // Attempts still under way at the deadline are abandoned.
    for (const caller of bySocket.values()) {
      closeSocket(caller.socket!);
      caller.socket = undefined;
    }
    epoll.release();
  }
}

/**
 * Polls `/api/stats` every 500 ms until stopped: the peaks of the queue, the
 * pool's floor and the start estimate, and a timeline for the raw results.
 */
function watchAtoll(
  atoll: Atoll,
  live: { connected: number; startedAt: number },
): { stop(): Promise<{ peak: StormPeak; timeline: TimelinePoint[] }> } {
  const peak: StormPeak = { waitingCallers: 0, longestWaitMs: 0, poolFloor: 0, childStartMs: 0 };
  const timeline: TimelinePoint[] = [];
  let running = true;
  const loop = (async () => {
    for (let n = 0; running && n < 2400; n++) {
      const stats = await atoll.stats().catch(() => undefined);
      if (stats !== undefined) {
        peak.waitingCallers = Math.max(peak.waitingCallers, stats.waitingCallers);
        peak.longestWaitMs = Math.max(peak.longestWaitMs, stats.longestWaitMs);
        peak.poolFloor = Math.max(peak.poolFloor, stats.poolFloor);
        peak.childStartMs = Math.max(peak.childStartMs, stats.childStartMs);
        timeline.push({
          t: Math.round(performance.now() - live.startedAt),
          connected: live.connected,
          waitingCallers: stats.waitingCallers,
          longestWaitMs: stats.longestWaitMs,
          idleChildren: stats.idleChildren,
          startingChildren: stats.startingChildren,
          poolFloor: stats.poolFloor,
          childStartMs: Math.round(stats.childStartMs),
          childrenStarted: stats.childrenStarted,
          shed: stats.dropped.shed,
          callerGone: stats.dropped["caller-gone"],
          load1: loadAverage(),
        });
      }
      await sleep(500);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { peak, timeline };
    },
  };
}

export function describeBurst(run: BurstRun): string {
  const refused = Object.entries(run.refused).map(([code, n]) => `${n}×${code}`).join(" ");
  return `burst ${run.server} ${run.phase}: ${run.connected}/${run.callers} connected` +
    (refused ? ` (refused ${refused})` : "") +
    `, p50 ${run.connectMs.p50.toFixed(0)} ms, max ${run.connectMs.max.toFixed(0)} ms` +
    (run.atoll
      ? `, ${run.atoll.childrenStarted} children, ${run.atoll.shed} shed, ` +
        `${run.atoll.callerGone} caller-gone`
      : "");
}

export function describeStorm(run: StormRun): string {
  const failures = Object.entries(run.failures).map(([code, n]) => `${n}×${code}`).join(" ");
  return `storm ${run.server} ${run.callers}: ${run.connected} connected` +
    (run.allConnectedMs === null
      ? " (not all)"
      : ` in ${(run.allConnectedMs / 1000).toFixed(1)} s`) +
    `, ${run.maxAttempts} rounds, failures ${failures || "none"}` +
    (run.atoll
      ? `, ${run.childrenPerCaller?.toFixed(2)} children per caller, ${run.atoll.shed} shed`
      : "") +
    run.healthz.map((h) => `, healthz (nice ${h.nice}) max ${h.maxMs.toFixed(0)} ms`).join("");
}

/** A burst against a fresh Atoll, then the same burst on it once it is idle again. */
async function burstsOnAtoll(
  count: number,
  suite: StormsSuite,
  progress: (line: string) => void,
): Promise<void> {
  const atoll = await startAtoll(STORM_ARGS);
  suite.atollCommand = atoll.commandLine;
  const probes = new HealthzProbes(atoll.httpPort);
  try {
    await probes.ready();
    for (const phase of ["fresh", "again"] as const) {
      const before = await waitForIdlePool(atoll);
      const from = Date.now();
      const main = watchMainProcess(atoll.pid);
      const outcome = await burst(atoll.srtPort, count, `publish:bench/burst-${count}-${phase}-`);
      const to = Date.now();
      const mainFigures = await main.stop();
      const after = await atoll.stats();
      const run: BurstRun = {
        server: "atoll",
        phase,
        ...outcome,
        poolBefore: { idle: before.idleChildren, floor: before.poolFloor },
        atoll: atollDelta(before, after),
        childStartMs: after.childStartMs,
        main: mainFigures,
        healthz: probes.summarize(from, to),
      };
      suite.bursts.push(run);
      progress(describeBurst(run));
    }
  } finally {
    await probes.stop();
    await atoll.stop(STOP_GRACE_MS);
  }
}

async function stormOnAtoll(
  count: number,
  deadlineMs: number,
  suite: StormsSuite,
  progress: (line: string) => void,
): Promise<void> {
  const atoll = await startAtoll(STORM_ARGS);
  const probes = new HealthzProbes(atoll.httpPort);
  try {
    await probes.ready();
    const before = await waitForIdlePool(atoll);
    const live = { connected: 0, startedAt: performance.now() };
    const watch = watchAtoll(atoll, live);
    const main = watchMainProcess(atoll.pid);
    const from = Date.now();
    const outcome = await storm(
      atoll.srtPort,
      count,
      `publish:bench/storm-${count}-`,
      deadlineMs,
      live,
    );
    try {
      const to = Date.now();
      const mainFigures = await main.stop();
      const after = await atoll.stats();
      const { peak, timeline } = await watch.stop();
      const delta = atollDelta(before, after);
      const run: StormRun = {
        server: "atoll",
        callers: count,
        deadlineMs,
        connected: outcome.connected,
        allConnectedMs: outcome.allConnectedMs,
        connectedAtMs: distribution(outcome.connectedAtMs),
        attempts: outcome.attempts,
        maxAttempts: outcome.maxAttempts,
        failures: outcome.failures,
        aliveAtEnd: outcome.aliveAtEnd,
        atoll: delta,
        childrenPerCaller: delta.childrenStarted / count,
        peak,
        main: mainFigures,
        timeline,
        healthz: probes.summarize(from, to),
      };
      suite.storms.push(run);
      progress(describeStorm(run));
    } finally {
      outcome.close();
    }
  } finally {
    await probes.stop();
    await atoll.stop(STOP_GRACE_MS);
  }
}

async function stormOnListener(
  port: number,
  count: number,
  deadlineMs: number,
  suite: StormsSuite,
  progress: (line: string) => void,
): Promise<void> {
  const outcome = await storm(port, count, `publish:bench/listener-storm-${count}-`, deadlineMs);
  try {
    const run: StormRun = {
      server: "libsrt-listener",
      callers: count,
      deadlineMs,
      connected: outcome.connected,
      allConnectedMs: outcome.allConnectedMs,
      connectedAtMs: distribution(outcome.connectedAtMs),
      attempts: outcome.attempts,
      maxAttempts: outcome.maxAttempts,
      failures: outcome.failures,
      aliveAtEnd: outcome.aliveAtEnd,
      atoll: null,
      childrenPerCaller: null,
      peak: null,
      main: null,
      timeline: [],
      healthz: [],
    };
    suite.storms.push(run);
    progress(describeStorm(run));
  } finally {
    outcome.close();
  }
}

export async function benchStorms(
  options: StormsOptions,
  progress: (line: string) => void,
): Promise<StormsSuite> {
  const suite: StormsSuite = {
    atollCommand: "",
    listenerCommand: "deno run -A bench/listener.ts",
    probeCommand:
      `deno run -A bench/healthz_probe.ts --port HTTP_PORT --interval-ms ${PROBE_INTERVAL_MS}` +
      " (twice: as is, and under nice -n -10)",
    bursts: [],
    storms: [],
  };
  const listener = await startListener();
  try {
    for (const count of options.bursts) {
      const run: BurstRun = {
        server: "libsrt-listener",
        phase: "baseline",
        ...await burst(listener.port, count, `publish:bench/listener-burst-${count}-`),
        poolBefore: null,
        atoll: null,
        childStartMs: null,
        main: null,
        healthz: [],
      };
      suite.bursts.push(run);
      progress(describeBurst(run));
      // The listener closes its side once the callers are gone.
      await sleep(500);
      await burstsOnAtoll(count, suite, progress);
    }
    for (const count of options.storms) {
      await stormOnListener(listener.port, count, options.stormDeadlineMs, suite, progress);
      await sleep(500);
      await stormOnAtoll(count, options.stormDeadlineMs, suite, progress);
    }
  } finally {
    await listener.process.closeStdin();
    await listener.process.stop();
  }
  if (suite.atollCommand === "") suite.atollCommand = `deno run -A main.ts ${STORM_ARGS.join(" ")}`;
  return suite;
}
