/**
 * Benchmark 6: bursts and storms of callers, as when every encoder of a site
 * reconnects at once after a network blip or a restart.
 *
 * - **Bursts**: N async libsrt callers at once, libsrt's default 3 s connect
 *   timeout, no retry (bench/storm_callers.ts with `--attempts 1`, 100
 *   callers per process): how many connect, how the others were refused
 *   (their `srt_getrejectreason`), and the connect times of those connected. Each
 *   burst goes to a fresh Atoll (a pool of 2), then once more to the same
 *   Atoll once its callers are gone and its grown pool is ready, and to the
 *   bench's single-process libsrt listener (bench/listener.ts).
 * - **Storms**: N callers that each try again 1 s after each failure, with a
 *   new socket and the same stream id, until all are connected or the
 *   deadline passes (bench/storm_callers.ts, 100 callers per process): how
 *   long that took, how many children Atoll started per caller, how many
 *   attempts it shed, and `/healthz` latency sampled every 100 ms by two
 *   probes of their own (bench/healthz_probe.ts), one at normal priority
 *   and one at `nice -n -10`; the same storm against the libsrt listener.
 *
 * Everything shares two cores: besides Atoll's own figures, each run records
 * how long Atoll's main thread waited for a CPU, the load average, and how
 * late the callers' retries and the probes' requests started.
 *
 * Atoll runs with its defaults but for the caps that one source IP sending
 * everything would hit ({@link STORM_ARGS}).
 *
 * @module
 */

import type { ServerStats } from "../src/server/api_types.ts";
import type { Atoll } from "../tests/support/atoll.ts";
import { ManagedProcess } from "../tests/support/process.ts";
import {
  childrenOf,
  clockTicksPerSecond,
  cpuPercent,
  cpuTicks,
  cpuTicksWithReaped,
  sampleCpu,
} from "../tests/support/procfs.ts";
import { sleep, waitFor } from "../tests/support/wait.ts";
import { startAtoll, STOP_GRACE_MS } from "./atoll.ts";
import { droppedBetween } from "./connect_time.ts";
import type { ProbeSample } from "./healthz_probe.ts";
import {
  CALLER_TIMEOUT_MS,
  type CallerSideFigures,
  runQueueWaitNs,
  type StormOutcome,
} from "./storm_callers.ts";
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

/**
 * A storm's callers per process (bench/storm_callers.ts): libsrt opens each
 * socket under one process-wide lock, and hundreds of retries a second in
 * one process would delay the retries themselves.
 */
const CALLERS_PER_PROCESS = 100;
const STORM_CALLERS_SCRIPT = new URL("./storm_callers.ts", import.meta.url).pathname;
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
  /**
   * `fresh`: a new Atoll; `again`: the same Atoll right after, its pool
   * grown; `prestarted`: a new Atoll with a larger `--pool-size`
   * ({@link StormsOptions.prestartedPool}); `baseline`.
   */
  phase: "fresh" | "again" | "prestarted" | "baseline";
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
  /** Where the CPU went from the burst's start until every caller had its answer. */
  cpu: BurstCpu | null;
  main: MainProcessFigures | null;
  healthz: HealthzSummary[];
}

export interface StormRun {
  server: StormServer;
  callers: number;
  /** The caller processes' nice value: 0, or 10 to leave the CPUs to the server first. */
  callerNice: number;
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
  callerSide: StormCallerSide;
  atoll: AtollDelta | null;
  childrenPerCaller: number | null;
  /** Sampled from `/api/stats` every 500 ms during the storm: the most seen. */
  peak: StormPeak | null;
  main: MainProcessFigures | null;
  /**
   * Right after the storm, over 2 s, with every caller still connected and
   * nothing sent on any connection: the server's processes (Atoll's
   * children, its connections and its pool; the listener's one process)
   * and the CPU they use together, in % of one core. What the connections
   * cost at rest.
   */
  atRest: { processes: number; cpuPercent: number };
  /** Every 500 ms: Atoll's queue and pool, and the callers connected so far. */
  timeline: TimelinePoint[];
  healthz: HealthzSummary[];
}

/** The callers' side of a storm ({@link CallerSideFigures}), over all its processes. */
export interface StormCallerSide extends CallerSideFigures {
  /** Caller processes; figures are summed (times, CPU) or the largest (waits, steps). */
  processes: number;
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
  /**
   * Each storm runs once per nice value of its caller processes: 0, and 10,
   * which leaves the CPUs to Atoll first, as callers on other machines would.
   */
  callerNice: number[];
  /** A storm that has not connected every caller by then is reported as it stands. */
  stormDeadlineMs: number;
  /**
   * Bursts of this many callers or more run once more against a fresh Atoll
   * with `--pool-size` {@link prestartedPool}: what children started before
   * a burst buy.
   */
  prestartedFrom: number;
  prestartedPool: number;
}

/** Failed attempts by `srt_getrejectreason`, summed over the caller processes. */
function mergeFailures(outcomes: StormOutcome[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const outcome of outcomes) {
    for (const [code, n] of Object.entries(outcome.failures)) out[code] = (out[code] ?? 0) + n;
  }
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

/** The CPU that `pids` use together over `ms`, in % of one core. */
async function cpuOver(pids: number[], ms: number): Promise<StormRun["atRest"]> {
  const ticks = () => pids.reduce((sum, pid) => sum + (cpuTicks(pid) ?? 0), 0);
  const before = ticks();
  const started = performance.now();
  await sleep(ms);
  const seconds = (performance.now() - started) / 1000;
  const cpu = (ticks() - before) / (await clockTicksPerSecond()) / seconds * 100;
  return { processes: pids.length, cpuPercent: Math.round(cpu * 10) / 10 };
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

/**
 * CPU, in ms, from a burst's start until every caller process reported:
 * the whole machine's busy time (`/proc/stat`), the server's (main process,
 * its children, and those it reaped meanwhile) and the caller processes'.
 */
export interface BurstCpu {
  windowMs: number;
  machineMs: number;
  serverMs: number;
  callersMs: number;
}

/**
 * Busy ticks of every CPU since boot: all but idle, iowait and steal (time
 * the hypervisor gave other guests).
 */
function machineTicks(): number {
  const fields = Deno.readTextFileSync("/proc/stat").split("\n")[0]!.trim().split(/\s+/).slice(1);
  const [user, nice, system, , , irq, softirq] = fields.map(Number);
  return user! + nice! + system! + irq! + softirq!;
}

/** A process and its children, each child's ticks kept so that one reaped later is not lost. */
function treeTicks(pid: number): Map<number, number> {
  const ticks = new Map<number, number>([[pid, cpuTicksWithReaped(pid) ?? 0]]);
  for (const child of childrenOf(pid)) ticks.set(child, cpuTicks(child) ?? 0);
  return ticks;
}

/**
 * Ticks the tree used between `before` and `after`. A child new since counts
 * from zero; one reaped since is in its parent's reaped ticks with its whole
 * life, so what it had used before is taken off.
 */
function ticksBetween(before: Map<number, number>, after: Map<number, number>): number {
  let sum = 0;
  for (const [pid, ticks] of after) sum += ticks - (before.get(pid) ?? 0);
  for (const [pid, ticks] of before) if (!after.has(pid)) sum -= ticks;
  return sum;
}

/** What a burst's callers saw, and what it cost. */
type BurstOutcome = Pick<
  BurstRun,
  "callers" | "connected" | "refused" | "connectMs" | "allDoneMs" | "cpu"
>;

/**
 * One burst: every caller at once, 3 s timeout, no retry. The callers run
 * in fresh processes (bench/storm_callers.ts with `--attempts 1`), so no
 * earlier run's sockets are still being closed by libsrt beside them.
 */
async function burst(
  port: number,
  count: number,
  prefix: string,
  serverPid?: number,
): Promise<BurstOutcome> {
  const callers = await StormCallers.start(port, count, prefix, {
    deadlineMs: CALLER_TIMEOUT_MS + 5000,
    attempts: 1,
  });
  try {
    const tick = await clockTicksPerSecond();
    const sample = () => ({
      at: performance.now(),
      machine: machineTicks(),
      server: serverPid === undefined ? undefined : treeTicks(serverPid),
      callers: callers.pids.reduce((sum, pid) => sum + (cpuTicks(pid) ?? 0), 0),
    });
    await callers.go();
    // The callers start together a moment after `go`: measure from then.
    await sleep(Math.max(0, callers.startEpochMs - Date.now()));
    const before = sample();
    const outcomes = await callers.results(CALLER_TIMEOUT_MS + 5000);
    const after = sample();
    const ms = (ticks: number) => Math.round(ticks * 1000 / tick);
    const failures = mergeFailures(outcomes);
    const connected = outcomes.reduce((sum, o) => sum + o.connected, 0);
    const abandoned = count - connected - Object.values(failures).reduce((a, b) => a + b, 0);
    if (abandoned > 0) failures["no answer by the deadline"] = abandoned;
    return {
      callers: count,
      connected,
      refused: failures,
      connectMs: distribution(outcomes.flatMap((o) => o.connectMs)),
      allDoneMs: Math.max(...outcomes.map((o) => o.endedAtMs)),
      cpu: before.server === undefined || after.server === undefined ? null : {
        windowMs: Math.round(after.at - before.at),
        machineMs: ms(after.machine - before.machine),
        serverMs: ms(ticksBetween(before.server, after.server)),
        callersMs: ms(after.callers - before.callers),
      },
    };
  } finally {
    await callers.close();
  }
}

/** A storm's callers, split over processes of {@link CALLERS_PER_PROCESS} each. */
class StormCallers {
  #processes: ManagedProcess[];
  readonly count: number;
  /** Epoch ms of the storm's start, once {@link go} was called. */
  startEpochMs = 0;

  private constructor(processes: ManagedProcess[], count: number) {
    this.#processes = processes;
    this.count = count;
  }

  get pids(): number[] {
    return this.#processes.map((process) => process.pid);
  }

  /** Starts the processes and waits until each is ready to go. */
  static async start(
    port: number,
    count: number,
    prefix: string,
    options: { deadlineMs: number; attempts?: number; nice?: number },
  ): Promise<StormCallers> {
    const processes: ManagedProcess[] = [];
    const nice = options.nice ?? 0;
    const [command, ...before] = nice === 0
      ? [Deno.execPath()]
      : ["nice", "-n", String(nice), Deno.execPath()];
    for (let first = 0; first < count; first += CALLERS_PER_PROCESS) {
      processes.push(ManagedProcess.start("storm-callers", command!, [
        ...before,
        "run",
        "-A",
        STORM_CALLERS_SCRIPT,
        "--port",
        String(port),
        "--prefix",
        prefix,
        "--first",
        String(first),
        "--count",
        String(Math.min(CALLERS_PER_PROCESS, count - first)),
        "--deadline-ms",
        String(options.deadlineMs),
        "--attempts",
        String(options.attempts ?? 0),
      ], { stdin: "piped" }));
    }
    const callers = new StormCallers(processes, count);
    try {
      for (const process of processes) {
        await process.waitForLine("ready", (line) => line.includes('"ready"'), 30_000);
      }
    } catch (error) {
      await callers.close();
      throw error;
    }
    return callers;
  }

  /** Starts the storm in every process at the same instant, shortly from now. */
  async go(): Promise<void> {
    this.startEpochMs = Date.now() + 300;
    const line = new TextEncoder().encode(`go ${this.startEpochMs}\n`);
    await Promise.all(this.#processes.map((process) => process.write(line)));
  }

  /** Callers connected so far, from each process's newest progress line. */
  connected(): number {
    let sum = 0;
    for (const process of this.#processes) {
      const last = process.lines.findLast((line) => line.includes('"connected"'));
      if (last !== undefined) sum += (JSON.parse(last) as { connected: number }).connected;
    }
    return sum;
  }

  /** Waits for every process's result (the deadline, and some slack). */
  async results(deadlineMs: number): Promise<StormOutcome[]> {
    const out: StormOutcome[] = [];
    for (const process of this.#processes) {
      const line = await process.waitForLine(
        "the callers' result",
        (line) => line.includes('"result"'),
        deadlineMs + 60_000,
      );
      out.push(JSON.parse(line) as StormOutcome);
    }
    return out;
  }

  /** Closes every caller: each process closes its sockets and exits. */
  async close(): Promise<void> {
    await Promise.all(this.#processes.map(async (process) => {
      await process.closeStdin();
      await process.exit(15_000);
    }));
  }
}

/** The callers' side of a storm, summed over its processes. */
function combine(outcomes: StormOutcome[]) {
  const failures = mergeFailures(outcomes);
  const times = outcomes.flatMap((outcome) => outcome.connectedAtMs);
  const callers = outcomes.reduce((sum, o) => sum + o.callers, 0);
  const connected = outcomes.reduce((sum, o) => sum + o.connected, 0);
  const sides = outcomes.map((o) => o.callerSide);
  return {
    connected,
    allConnectedMs: connected === callers && times.length > 0 ? Math.max(...times) : null,
    connectedAtMs: distribution(times),
    attempts: outcomes.reduce((sum, o) => sum + o.attempts, 0),
    maxAttempts: Math.max(...outcomes.map((o) => o.maxAttempts)),
    failures,
    aliveAtEnd: outcomes.reduce((sum, o) => sum + o.aliveAtEnd, 0),
    callerSide: {
      processes: outcomes.length,
      openMs: sides.reduce((sum, side) => sum + side.openMs, 0),
      closeMs: sides.reduce((sum, side) => sum + side.closeMs, 0),
      longestStepMs: Math.max(...sides.map((side) => side.longestStepMs)),
      retryLateP50Ms: Math.max(...sides.map((side) => side.retryLateP50Ms)),
      retryLateMaxMs: Math.max(...sides.map((side) => side.retryLateMaxMs)),
      cpuPercent: sides.reduce((sum, side) => sum + side.cpuPercent, 0),
      runQueueWaitMs: Math.max(...sides.map((side) => side.runQueueWaitMs)),
    },
  };
}

/**
 * Polls `/api/stats` every 500 ms until stopped: the peaks of the queue, the
 * pool's floor and the start estimate, and a timeline for the raw results.
 */
function watchAtoll(
  atoll: Atoll,
  callers: StormCallers,
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
          t: Date.now() - callers.startEpochMs,
          connected: callers.connected(),
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
  return `storm ${run.server} ${run.callers} (callers at nice ${run.callerNice}): ` +
    `${run.connected} connected` +
    (run.allConnectedMs === null
      ? " (not all)"
      : ` in ${(run.allConnectedMs / 1000).toFixed(1)} s`) +
    `, ${run.maxAttempts} rounds, failures ${failures || "none"}` +
    (run.atoll
      ? `, ${run.childrenPerCaller?.toFixed(2)} children per caller, ${run.atoll.shed} shed`
      : "") +
    run.healthz.map((h) => `, healthz (nice ${h.nice}) max ${h.maxMs.toFixed(0)} ms`).join("");
}

/**
 * A burst against a fresh Atoll, then the same burst on it once it is idle
 * again; with `poolSize`, once against a fresh Atoll with that many
 * children started ahead.
 */
async function burstsOnAtoll(
  count: number,
  suite: StormsSuite,
  progress: (line: string) => void,
  poolSize?: number,
): Promise<void> {
  const poolArgs = poolSize === undefined
    ? []
    : ["--pool-size", String(poolSize), "--pool-max", String(Math.max(poolSize, 16))];
  const atoll = await startAtoll([...STORM_ARGS, ...poolArgs]);
  if (poolSize === undefined) suite.atollCommand = atoll.commandLine;
  const probes = new HealthzProbes(atoll.httpPort);
  const phases = poolSize === undefined ? ["fresh", "again"] as const : ["prestarted"] as const;
  try {
    await probes.ready();
    for (const phase of phases) {
      const before = await waitForIdlePool(atoll);
      const from = Date.now();
      const main = watchMainProcess(atoll.pid);
      const outcome = await burst(
        atoll.srtPort,
        count,
        `publish:bench/burst-${count}-${phase}-`,
        atoll.pid,
      );
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
  nice: number,
  deadlineMs: number,
  suite: StormsSuite,
  progress: (line: string) => void,
): Promise<void> {
  const atoll = await startAtoll(STORM_ARGS);
  const probes = new HealthzProbes(atoll.httpPort);
  let callers: StormCallers | undefined;
  try {
    await probes.ready();
    callers = await StormCallers.start(atoll.srtPort, count, `publish:bench/storm-${count}-`, {
      deadlineMs,
      nice,
    });
    const before = await waitForIdlePool(atoll);
    const main = watchMainProcess(atoll.pid);
    await callers.go();
    const watch = watchAtoll(atoll, callers);
    const outcome = combine(await callers.results(deadlineMs));
    const to = Date.now();
    const mainFigures = await main.stop();
    const after = await atoll.stats();
    const { peak, timeline } = await watch.stop();
    const atRest = await cpuOver(childrenOf(atoll.pid), 2000);
    const delta = atollDelta(before, after);
    const run: StormRun = {
      server: "atoll",
      callers: count,
      callerNice: nice,
      deadlineMs,
      ...outcome,
      atoll: delta,
      childrenPerCaller: delta.childrenStarted / count,
      peak,
      main: mainFigures,
      atRest,
      timeline,
      healthz: probes.summarize(callers.startEpochMs, to),
    };
    suite.storms.push(run);
    progress(describeStorm(run));
  } finally {
    await callers?.close();
    await probes.stop();
    await atoll.stop(STOP_GRACE_MS);
  }
}

async function stormOnListener(
  listener: ManagedProcess,
  port: number,
  count: number,
  nice: number,
  deadlineMs: number,
  suite: StormsSuite,
  progress: (line: string) => void,
): Promise<void> {
  const callers = await StormCallers.start(port, count, `publish:bench/listener-storm-${count}-`, {
    deadlineMs,
    nice,
  });
  try {
    await callers.go();
    const run: StormRun = {
      server: "libsrt-listener",
      callers: count,
      callerNice: nice,
      deadlineMs,
      ...combine(await callers.results(deadlineMs)),
      atoll: null,
      childrenPerCaller: null,
      peak: null,
      main: null,
      atRest: await cpuOver([listener.pid], 2000),
      timeline: [],
      healthz: [],
    };
    suite.storms.push(run);
    progress(describeStorm(run));
  } finally {
    await callers.close();
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
        ...await burst(
          listener.port,
          count,
          `publish:bench/listener-burst-${count}-`,
          listener.process.pid,
        ),
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
      if (count >= options.prestartedFrom) {
        await burstsOnAtoll(count, suite, progress, options.prestartedPool);
      }
    }
    for (const count of options.storms) {
      for (const nice of options.callerNice) {
        await stormOnListener(
          listener.process,
          listener.port,
          count,
          nice,
          options.stormDeadlineMs,
          suite,
          progress,
        );
        await sleep(500);
        await stormOnAtoll(count, nice, options.stormDeadlineMs, suite, progress);
      }
    }
  } finally {
    await listener.process.closeStdin();
    await listener.process.stop();
  }
  if (suite.atollCommand === "") suite.atollCommand = `deno run -A main.ts ${STORM_ARGS.join(" ")}`;
  return suite;
}
