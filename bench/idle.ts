/**
 * Benchmark 6, what a connection costs while it carries nothing, and while it
 * carries 5 Mbit/s, against a floor measured in the same windows: a small C
 * program that holds one libsrt connection in its own process
 * (bench/c/one_connection.c, compiled at bench time with `cc … -lsrt`; a
 * listener, as an Atoll child is, that receives with a blocking
 * `srt_recvmsg`).
 *
 * Everything runs at once, so that a busy machine weighs on the floor and on
 * Atoll alike: the floor idle (a caller that sends nothing) and receiving
 * 5 Mbit/s (bench/sender.ts); Atoll's children for an idle publisher, an
 * idle viewer of that publisher's stream, a publisher receiving 5 Mbit/s
 * and one viewer of it (bench/viewers.ts). The idle callers are libsrt
 * callers in this process. Each round samples every process's CPU over the
 * same window: the time its threads spent on a CPU (/proc/PID/task/\*\/schedstat,
 * nanoseconds, the precision an idle process needs) and utime + stime
 * (/proc/PID/stat, which also counts threads that exited), and each
 * thread's wake-ups (voluntary context switches, /proc/PID/task/\*\/status),
 * summed by thread name. Then, optionally, N idle publishers at once, for
 * each N asked for (100 and 300: at 500 the callers' own libsrt threads,
 * in this process, take both cores of a two-core machine and the run does
 * not finish), and M publishers at
 * 5 Mbit/s each (100), from one sender process (bench/sender.ts
 * `--count`): the CPU and private memory of Atoll's whole process tree, and
 * for the active ones the rate Atoll received (from `/api/connections`).
 *
 * @module
 */

import { type CallerGroup, connectGroup, connectSimultaneous } from "./callers.ts";
import { startAtoll, STOP_GRACE_MS } from "./atoll.ts";
import { MANY_CALLERS_ARGS } from "./many_callers.ts";
import { ManagedProcess } from "../tests/support/process.ts";
import {
  childrenOf,
  clockTicksPerSecond,
  cpuTicks,
  freeUdpPort,
  readMemory,
  udpPortBound,
} from "../tests/support/procfs.ts";
import { sleep, waitFor } from "../tests/support/wait.ts";
import type { Atoll } from "../tests/support/atoll.ts";

const SOURCE = new URL("./c/one_connection.c", import.meta.url).pathname;
const SENDER = new URL("./sender.ts", import.meta.url).pathname;
const VIEWERS = new URL("./viewers.ts", import.meta.url).pathname;
/** Time for every connection to settle (handshakes, first reports) before the first window. */
const WARMUP_MS = 4000;
const STREAM_MBPS = 5;

export interface IdleOptions {
  /** Length of one measuring window. */
  windowSeconds: number;
  /** Windows measured one after the other. */
  rounds: number;
  /** Idle publishers held at once for the tree's figures, one run per count. */
  manyIdle: number[];
  /** Publishers at 5 Mbit/s each held at once for the tree's figures; 0 skips that part. */
  manyActive: number;
}

/** One process's figures over one window. */
export interface ProcessWindow {
  /** % of one core, from schedstat (threads alive at both ends of the window). */
  cpuPercent: number;
  /** % of one core, from utime + stime in clock ticks. */
  cpuTicksPercent: number;
  /** Voluntary context switches per second, all threads. */
  wakeupsPerSecond: number;
  /** Per thread name (threads of one name summed): wake-ups per second and % CPU. */
  threads: Record<string, { wakeupsPerSecond: number; cpuPercent: number; count: number }>;
}

export interface IdleRound {
  windowSeconds: number;
  processes: Record<string, ProcessWindow>;
}

export interface ManyIdleRun {
  connections: number;
  /** Main process plus every child (the prestarted pool included), % of one core. */
  treeCpuPercent: number;
  mainCpuPercent: number;
  children: number;
  /** Private_Dirty summed over the tree, stream buffers left out. */
  treePrivateDirtyKb: number;
  windowSeconds: number;
  /** For publishers that send: the rate each was sent at, and what Atoll received, summed. */
  active?: { mbpsEach: number; receivedMbps: number };
}

export interface IdleSuite {
  atollCommand: string;
  floorCommand: string;
  /** Which processes were measured, as named in the rounds. */
  roles: Record<string, string>;
  rounds: IdleRound[];
  many: ManyIdleRun[];
}

/** Names of the measured processes, and what each one is. */
export const ROLES = {
  "floor-idle": "C floor, one idle connection (bench/c/one_connection.c)",
  "floor-5mbps": `C floor receiving ${STREAM_MBPS} Mbit/s`,
  "publisher-idle": "Atoll child, idle publisher",
  "viewer-idle": "Atoll child, idle viewer (its publisher sends nothing)",
  "publisher-5mbps": `Atoll child, publisher receiving ${STREAM_MBPS} Mbit/s`,
  "viewer-5mbps": `Atoll child, one viewer of that ${STREAM_MBPS} Mbit/s stream`,
  "main": "Atoll main process (4 connections, the pool)",
} as const;
type Role = keyof typeof ROLES;

/** Compiles the floor program into a temporary directory; returns the binary's path. */
async function compileFloor(): Promise<{ binary: string; command: string }> {
  const dir = await Deno.makeTempDir({ prefix: "atoll_bench_idle_" });
  const binary = `${dir}/one_connection`;
  const args = ["-O2", "-o", binary, SOURCE, "-lsrt"];
  const out = await new Deno.Command("cc", { args }).output();
  if (!out.success) {
    throw new Error(`Cannot compile ${SOURCE}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return { binary, command: "cc -O2 -o one_connection bench/c/one_connection.c -lsrt" };
}

/** Starts the floor program on a free port and waits until it listens. */
async function startFloor(binary: string): Promise<{ process: ManagedProcess; port: number }> {
  const port = freeUdpPort();
  const process = ManagedProcess.start("one_connection", binary, [String(port)]);
  await process.waitForLine("listening", (line) => line === "listening", 5000);
  await waitFor("the floor to listen", () => udpPortBound(port), { timeoutMs: 5000 });
  return { process, port };
}

interface ThreadSample {
  name: string;
  /** Nanoseconds on a CPU. */
  runNs: number;
  wakeups: number;
}

interface ProcessSample {
  at: number;
  ticks: number;
  threads: Map<string, ThreadSample>;
}

function readThread(pid: number, tid: string): ThreadSample | undefined {
  try {
    const base = `/proc/${pid}/task/${tid}`;
    const name = Deno.readTextFileSync(`${base}/comm`).trim();
    const runNs = Number(Deno.readTextFileSync(`${base}/schedstat`).split(" ")[0]);
    const status = Deno.readTextFileSync(`${base}/status`);
    const wakeups = Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    return { name, runNs, wakeups };
  } catch {
    return undefined; // The thread exited while we looked.
  }
}

function sampleProcess(pid: number): ProcessSample {
  const threads = new Map<string, ThreadSample>();
  for (const entry of Deno.readDirSync(`/proc/${pid}/task`)) {
    const thread = readThread(pid, entry.name);
    if (thread !== undefined) threads.set(entry.name, thread);
  }
  const ticks = cpuTicks(pid);
  if (ticks === undefined) throw new Error(`Process ${pid} exited`);
  return { at: performance.now(), ticks, threads };
}

function windowOf(from: ProcessSample, to: ProcessSample, ticksPerSecond: number): ProcessWindow {
  const seconds = (to.at - from.at) / 1000;
  const threads: ProcessWindow["threads"] = {};
  let runNs = 0;
  let wakeups = 0;
  for (const [tid, end] of to.threads) {
    const start = from.threads.get(tid);
    // A thread born during the window counts from zero.
    const ns = end.runNs - (start?.runNs ?? 0);
    const woke = end.wakeups - (start?.wakeups ?? 0);
    runNs += ns;
    wakeups += woke;
    const row = threads[end.name] ??= { wakeupsPerSecond: 0, cpuPercent: 0, count: 0 };
    row.wakeupsPerSecond += woke / seconds;
    row.cpuPercent += ns / 1e9 / seconds * 100;
    row.count++;
  }
  return {
    cpuPercent: runNs / 1e9 / seconds * 100,
    cpuTicksPercent: (to.ticks - from.ticks) / ticksPerSecond / seconds * 100,
    wakeupsPerSecond: wakeups / seconds,
    threads,
  };
}

async function connectionPid(atoll: Atoll, streamId: string): Promise<number> {
  const connection = await waitFor(`${streamId} in the API`, async () => {
    const list = await atoll.connections();
    return list.find((c) => c.streamId === streamId && c.state === "connected");
  }, { timeoutMs: 10_000, intervalMs: 20 });
  return connection.pid;
}

/** Measures every role over `rounds` windows, all at once. */
async function measureRounds(
  pids: Record<Role, number>,
  options: IdleOptions,
  progress: (line: string) => void,
): Promise<IdleRound[]> {
  const ticksPerSecond = await clockTicksPerSecond();
  const rounds: IdleRound[] = [];
  for (let round = 0; round < options.rounds; round++) {
    const roles = Object.keys(pids) as Role[];
    const start = roles.map((role) => sampleProcess(pids[role]));
    await sleep(options.windowSeconds * 1000);
    const end = roles.map((role) => sampleProcess(pids[role]));
    const processes: Record<string, ProcessWindow> = {};
    roles.forEach((role, i) => {
      processes[role] = windowOf(start[i]!, end[i]!, ticksPerSecond);
    });
    const windowSeconds = (end[0]!.at - start[0]!.at) / 1000;
    rounds.push({ windowSeconds, processes });
    progress(
      `idle round ${round + 1}: ` +
        roles.map((role) => `${role} ${processes[role]!.cpuPercent.toFixed(2)}%`).join(", "),
    );
  }
  return rounds;
}

/**
 * How many times idle callers try to connect at most, a second apart: each
 * round, the ones shed in the last (1402) try again; about 100 get in a round.
 */
function connectRounds(count: number): number {
  return 10 + Math.ceil(count / 10);
}

/** Bytes received by every connection of the tree, from the API. */
async function bytesReceived(atoll: Atoll): Promise<number> {
  return (await atoll.connections()).reduce((sum, c) => sum + c.bytesReceived, 0);
}

/**
 * `count` publishers at once, idle or (with `activeMbps`) each sending that
 * rate: the CPU and private memory of Atoll's process tree.
 */
async function measureMany(
  count: number,
  windowSeconds: number,
  progress: (line: string) => void,
  activeMbps = 0,
): Promise<ManyIdleRun> {
  const atoll = await startAtoll(MANY_CALLERS_ARGS);
  try {
    const groups: CallerGroup[] = [];
    let sender: ManagedProcess | undefined;
    let waiting = Array.from({ length: count }, (_, n) => `publish:bench/many-idle-${n}`);
    if (activeMbps === 0) {
      // Callers Atoll sheds (1402: no child before a default caller's timeout)
      // try again a second later, as encoders do; connecting is not measured here.
      for (let round = 0; round < connectRounds(count) && waiting.length > 0; round++) {
        if (round > 0) await sleep(1000);
        const group = await connectGroup(atoll.srtPort, waiting, {
          kind: "async",
          prefix: "",
          connectTimeoutMs: 15_000,
        });
        groups.push(group);
        waiting = group.results.filter((r) => r.connectMs === null).map((r) => r.streamId);
      }
    } else {
      // One process sends every publisher's stream; it gives up on a caller
      // that is shed, so it starts them a tenth of a second apart.
      sender = ManagedProcess.start("senders", Deno.execPath(), [
        ...["run", "-A", SENDER, "--port", String(atoll.srtPort), "--mbps", String(activeMbps)],
        ...["--count", String(count), "--seconds", String(windowSeconds + 120)],
        ...["--stream-id", "publish:bench/many-active"],
      ]);
      const line = await sender.waitForLine(
        "the senders connected",
        (line) => /"type":"(connected|failed)"/.test(line),
        90_000,
      );
      waiting = /"failed"/.test(line) ? [line] : [];
    }
    try {
      if (waiting.length > 0) {
        throw new Error(`Only ${count - waiting.length} of ${count} callers connected`);
      }
      await waitFor(`${count} connections in the API`, async () => {
        const list = await atoll.connections();
        return list.filter((c) => c.state === "connected").length === count;
      }, { timeoutMs: 20_000, intervalMs: 100 });
      await sleep(WARMUP_MS);
      const ticksPerSecond = await clockTicksPerSecond();
      const tree = () => [atoll.pid, ...childrenOf(atoll.pid)];
      const pids = tree();
      const bytesBefore = activeMbps > 0 ? await bytesReceived(atoll) : 0;
      const start = new Map(pids.map((pid) => [pid, cpuTicks(pid)]));
      const startedAt = performance.now();
      await sleep(windowSeconds * 1000);
      const seconds = (performance.now() - startedAt) / 1000;
      const bytesAfter = activeMbps > 0 ? await bytesReceived(atoll) : 0;
      let ticks = 0;
      let mainTicks = 0;
      let children = 0;
      for (const pid of pids) {
        const end = cpuTicks(pid);
        const begin = start.get(pid);
        if (end === undefined || begin === undefined) continue;
        ticks += end - begin;
        if (pid === atoll.pid) mainTicks = end - begin;
        else children++;
      }
      let privateDirtyKb = 0;
      for (const pid of tree()) {
        try {
          privateDirtyKb += readMemory(pid).privateDirtyKb;
        } catch {
          // Exited while we looked.
        }
      }
      const run: ManyIdleRun = {
        connections: count,
        treeCpuPercent: ticks / ticksPerSecond / seconds * 100,
        mainCpuPercent: mainTicks / ticksPerSecond / seconds * 100,
        children,
        treePrivateDirtyKb: privateDirtyKb,
        windowSeconds: seconds,
        ...(activeMbps > 0
          ? {
            active: {
              mbpsEach: activeMbps,
              receivedMbps: (bytesAfter - bytesBefore) * 8 / seconds / 1e6,
            },
          }
          : {}),
      };
      progress(
        `${count} ${
          activeMbps > 0 ? `connections at ${activeMbps} Mbit/s` : "idle connections"
        }: ` +
          `tree ${run.treeCpuPercent.toFixed(1)}% CPU (main ${run.mainCpuPercent.toFixed(1)}%), ` +
          `${(privateDirtyKb / 1024).toFixed(0)} MB` +
          (run.active ? `, received ${run.active.receivedMbps.toFixed(0)} Mbit/s` : ""),
      );
      return run;
    } finally {
      for (const group of groups) group.close();
      await sender?.stop();
    }
  } finally {
    await atoll.stop(STOP_GRACE_MS);
  }
}

export async function benchIdle(
  options: IdleOptions,
  progress: (line: string) => void,
): Promise<IdleSuite> {
  const { binary, command: floorCommand } = await compileFloor();
  const started: ManagedProcess[] = [];
  const callers: { close(): void }[] = [];
  const atoll = await startAtoll();
  const atollCommand = atoll.commandLine;
  // Long enough for every round; each process also stops when the bench does.
  const seconds = WARMUP_MS / 1000 + options.rounds * (options.windowSeconds + 2) + 30;
  let rounds: IdleRound[];
  try {
    const floorIdle = await startFloor(binary);
    started.push(floorIdle.process);
    const floorActive = await startFloor(binary);
    started.push(floorActive.process);
    for (const [port, prefix] of [[floorIdle.port, "floor-idle-"]] as const) {
      callers.push(
        await connectSimultaneous(port, 1, {
          kind: "async",
          prefix,
          connectTimeoutMs: 10_000,
        }),
      );
    }
    await floorIdle.process.waitForLine("connected", (line) => line === "connected", 5000);
    const floorSender = ManagedProcess.start("sender", Deno.execPath(), [
      ...["run", "-A", SENDER, "--port", String(floorActive.port), "--mbps", String(STREAM_MBPS)],
      ...["--seconds", String(seconds), "--stream-id", "publish:bench/floor"],
    ]);
    started.push(floorSender);
    await floorActive.process.waitForLine("connected", (line) => line === "connected", 10_000);

    // Atoll: an idle publisher first, so that its viewer is a viewer, not one held waiting.
    callers.push(
      await connectSimultaneous(atoll.srtPort, 1, {
        kind: "async",
        prefix: "publish:bench/idle-",
        connectTimeoutMs: 10_000,
      }),
    );
    const publisherIdle = await connectionPid(atoll, "publish:bench/idle-0");
    callers.push(
      await connectSimultaneous(atoll.srtPort, 1, {
        kind: "async",
        prefix: "play:bench/idle-",
        connectTimeoutMs: 10_000,
      }),
    );
    const viewerIdle = await connectionPid(atoll, "play:bench/idle-0");
    const sender = ManagedProcess.start("sender", Deno.execPath(), [
      ...["run", "-A", SENDER, "--port", String(atoll.srtPort), "--mbps", String(STREAM_MBPS)],
      ...["--seconds", String(seconds), "--stream-id", "publish:bench/active"],
    ]);
    started.push(sender);
    const publisherActive = await connectionPid(atoll, "publish:bench/active");
    const viewers = ManagedProcess.start("viewers", Deno.execPath(), [
      ...["run", "-A", VIEWERS, "--port", String(atoll.srtPort), "--count", "1"],
      ...["--stream-id", "play:bench/active", "--seconds", String(seconds)],
    ]);
    started.push(viewers);
    const viewerActive = await connectionPid(atoll, "play:bench/active");
    await sleep(WARMUP_MS);
    rounds = await measureRounds(
      {
        "floor-idle": floorIdle.process.pid,
        "floor-5mbps": floorActive.process.pid,
        "publisher-idle": publisherIdle,
        "viewer-idle": viewerIdle,
        "publisher-5mbps": publisherActive,
        "viewer-5mbps": viewerActive,
        "main": atoll.pid,
      },
      options,
      progress,
    );
    const active = (await atoll.connections()).find((c) => c.streamId === "play:bench/active");
    if (active === undefined || active.bytesSent === 0) {
      throw new Error("The 5 Mbit/s viewer received nothing: the measurement is void");
    }
  } finally {
    for (const group of callers) group.close();
    await Promise.all(started.map((process) => process.stop()));
    await atoll.stop(STOP_GRACE_MS);
    await Deno.remove(binary.slice(0, binary.lastIndexOf("/")), { recursive: true });
  }
  const many: ManyIdleRun[] = [];
  for (const count of options.manyIdle) {
    many.push(await measureMany(count, options.windowSeconds, progress));
  }
  if (options.manyActive > 0) {
    many.push(
      await measureMany(options.manyActive, options.windowSeconds, progress, STREAM_MBPS),
    );
  }
  return { atollCommand, floorCommand, roles: { ...ROLES }, rounds, many };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** The busiest thread names of one process, by wake-ups, over every round. */
function topThreads(suite: IdleSuite, role: string, count = 4): string {
  const totals = new Map<string, { wakeups: number; cpu: number; count: number }>();
  for (const round of suite.rounds) {
    for (const [name, row] of Object.entries(round.processes[role]?.threads ?? {})) {
      const total = totals.get(name) ?? { wakeups: 0, cpu: 0, count: 0 };
      total.wakeups += row.wakeupsPerSecond / suite.rounds.length;
      total.cpu += row.cpuPercent / suite.rounds.length;
      total.count = Math.max(total.count, row.count);
      totals.set(name, total);
    }
  }
  return [...totals.entries()]
    .sort((a, b) => b[1].wakeups - a[1].wakeups)
    .slice(0, count)
    .map(([name, t]) =>
      `${name}${t.count > 1 ? ` ×${t.count}` : ""} ${t.wakeups.toFixed(0)}/s ${t.cpu.toFixed(2)}%`
    )
    .join(", ");
}

/** The Markdown table of the suite: medians over the rounds, ratios to the floor. */
export function idleSection(suite: IdleSuite): string {
  const of = (role: string, pick: (window: ProcessWindow) => number) =>
    median(suite.rounds.map((round) => pick(round.processes[role]!)));
  const floorIdle = of("floor-idle", (w) => w.cpuPercent);
  const floorActive = of("floor-5mbps", (w) => w.cpuPercent);
  const lines = [
    `${suite.rounds.length} windows of ${
      suite.rounds[0]?.windowSeconds.toFixed(1)
    } s, all processes at once; medians (min-max). CPU from schedstat; wake-ups are voluntary context switches.`,
    "",
    "| process | CPU % of a core | ticks CPU % | × floor | wake-ups/s | busiest threads (wake-ups/s, CPU %) |",
    "|---|---|---|---|---|---|",
  ];
  for (const role of Object.keys(suite.roles)) {
    if (suite.rounds.every((round) => round.processes[role] === undefined)) continue;
    const cpus = suite.rounds.map((round) => round.processes[role]!.cpuPercent);
    const cpu = median(cpus);
    const floor = role.endsWith("5mbps") ? floorActive : role === "main" ? NaN : floorIdle;
    lines.push(
      `| ${suite.roles[role]} | ${cpu.toFixed(2)} (${Math.min(...cpus).toFixed(2)}-${
        Math.max(...cpus).toFixed(2)
      }) | ${of(role, (w) => w.cpuTicksPercent).toFixed(2)} | ${
        Number.isNaN(floor) ? "" : (cpu / floor).toFixed(2)
      } | ${of(role, (w) => w.wakeupsPerSecond).toFixed(0)} | ${topThreads(suite, role)} |`,
    );
  }
  if (suite.many.length > 0) {
    lines.push(
      "",
      "Many publishers at once, Atoll's whole tree (main process, children, the pool):",
      "",
      "| publishers | each sends | children | window, s | tree CPU, % of a core | main process CPU, % | Private_Dirty, MB | Atoll received, Mbit/s |",
      "| --- | --- | --- | --- | --- | --- | --- | --- |",
    );
    for (const m of suite.many) {
      lines.push(
        `| ${m.connections} | ${
          m.active ? `${m.active.mbpsEach} Mbit/s` : "nothing"
        } | ${m.children} | ${m.windowSeconds.toFixed(1)} | ${m.treeCpuPercent.toFixed(1)} | ${
          m.mainCpuPercent.toFixed(1)
        } | ${(m.treePrivateDirtyKb / 1024).toFixed(0)} | ${
          m.active
            ? `${m.active.receivedMbps.toFixed(0)} of ${m.active.mbpsEach * m.connections}`
            : "–"
        } |`,
      );
    }
  }
  return lines.join("\n");
}
