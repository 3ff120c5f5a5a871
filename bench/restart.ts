/**
 * Benchmark 9: a crash of the main process (`kill -9`), and a new main
 * process on the same SRT port and state directory that adopts the
 * connected children it left (README.md, "Restarts and upgrades").
 *
 * 1. **Media across the crash.** bench/sender.ts publishes a real H.264
 *    MPEG-TS file, stamped, at a steady rate; viewers in a process of their
 *    own (this file run as a script, below) note when each message arrives.
 *    Three phases of 3 s: with the main process; from its `kill -9` to the
 *    spawn of a new one (no main process at all); from that spawn to 3 s
 *    after it listens. The baseline is the same viewers in the same run
 *    with no kill: the same phases, and in the third an unrelated Atoll
 *    starts on ports of its own, so that the CPU a main process spends
 *    starting weighs on both. Per phase and viewer: the largest gap
 *    between two messages, the rate, the messages missing (from the
 *    stamps' sequence numbers) and the end-to-end latency.
 * 2. **Adoption.** N idle callers (libsrt callers in this process that send
 *    nothing), `kill -9`, a new main process: from its spawn to its
 *    listening line (its log's time stamp), to the adoption lines, and to
 *    `/api/connections` listing all N; its Private_Dirty some seconds
 *    later. The floor is a fresh main process with no connection, started
 *    the same way in the same round.
 * 3. **Orphans' CPU.** The same children over 3 s with their main process,
 *    3 s orphaned, and 3 s adopted: the time their threads spent on a CPU
 *    (schedstat, nanoseconds) and their wake-ups (voluntary context
 *    switches), summed.
 * 4. **Upgrades.** A fan-out of one publisher and 10 viewers on a fixed SRT
 *    port, and rounds of: a quiet baseline window; a control window in
 *    which an unrelated main process starts; SIGUSR2 to the main process of
 *    the moment, whose successor (no child of this process: found by
 *    `--pid-file` and its listening line in the shared output) adopts the
 *    fan-out. Per viewer: messages lost and the largest gap; and the time
 *    from the SIGUSR2 to the first caller the successor admits (a libsrt
 *    caller tried every 50 ms), to its listening line, to the old one's
 *    hand-over line and exit.
 *
 * Run as a script, this file is the viewers of part 1:
 *
 *     deno run -A bench/restart.ts --port P --count 5 --stream-id play:bench/restart --output FILE
 *
 * It prints `{"type":"connected",...}` once every viewer has connected or
 * given up, and on SIGTERM (or after `--seconds`) writes each viewer's
 * messages (arrival time on the clock every process shares, size, stamp)
 * to FILE as JSON and prints `{"type":"done"}`.
 *
 * @module
 */

import { scratchDir } from "./scratch.ts";
import { parseArgs } from "node:util";
import { libsrt, SRT_EPOLL_ERR, SRT_EPOLL_IN, SRT_EPOLL_OUT, SrtState } from "../ffi/libsrt.ts";
import { pointerTo } from "../ffi/pointer.ts";
import { Atoll, isStartupLine, parseLogLine } from "../tests/support/atoll.ts";
import type { ConnectionInfo } from "../src/server/api_types.ts";
import type { ManagedProcess } from "../tests/support/process.ts";
import {
  childrenOf,
  commandLine,
  freeUdpPort,
  isAlive,
  readMemory,
} from "../tests/support/procfs.ts";
import { sleep, waitFor } from "../tests/support/wait.ts";
import { startAtoll, startInOwnSession, STOP_GRACE_MS } from "./atoll.ts";
import { type CallerGroup, connectGroup, countConnected } from "./callers.ts";
import { readStamp, sharedClockMs } from "./sender.ts";
import {
  closeSocket,
  connectAsync,
  createCaller,
  EpollSet,
  localPort,
  messageControlPointer,
  socketState,
  startSrt,
} from "./srt.ts";
import { makeStream } from "./streams.ts";
import { formatNumber, markdownTable, percentile } from "./summary.ts";

/** One source IP sends every caller: its caps are raised, as in the other suites. */
export const RESTART_ARGS = ["--max-new-connections-per-ip", "1000", "--max-handshakes", "1000"];
const STREAM = "bench/restart";
const PHASE_MS = 3000;
/** Between starting the peers and the first phase, and between the baseline and the crash. */
const WARMUP_MS = 2000;
/** After a main process listens, before its memory is read. */
const SETTLE_MS = 3000;
/** Every helper process exits by itself after this, whatever happens. */
const LIFETIME_SECONDS = 300;
/** How many times idle callers try to connect at most, a second apart. */
const CONNECT_ROUNDS = 10;
const SENDER = new URL("./sender.ts", import.meta.url).pathname;
const SELF = new URL(import.meta.url).pathname;
const TS_PACKET_BYTES = 188;

export interface RestartOptions {
  /** Publisher's rate, Mbit/s. */
  mbps: number;
  viewers: number;
  /**
   * Baseline-and-crash pairs on the same peers; each crash's new main
   * process is the next pair's main, so later pairs adopt children adopted before.
   */
  mediaRounds: number;
  /** Idle connections per adoption round. */
  idleCounts: number[];
  /** Part 4: viewers of the fan-out, and how many upgrades in a row (0: no part 4). */
  upgradeViewers: number;
  upgradeRounds: number;
}

export type PhaseName = "main" | "none" | "restart";

/** One viewer over one phase. */
export interface ViewerPhase {
  /** The longest time between two messages (or from the last one to the phase's end), ms. */
  largestGapMs: number;
  mbps: number;
  messages: number;
  /** Messages the sender sent between the phase's first and last stamps that did not arrive. */
  missing: number | null;
  /** Sender's send call to the viewers process reading the message. */
  latencyP99Ms: number | null;
  latencyMaxMs: number | null;
}

/** The processes of part 1 over one phase (schedstat), % of one core. */
export interface PhaseCpu {
  publisherChild: number;
  /** Summed over the viewer children. */
  viewerChildren: number;
  /** The main process of the phase (the unrelated one in the baseline's third). */
  main: number | null;
}

export interface MediaPhase {
  name: PhaseName;
  durationMs: number;
  viewers: ViewerPhase[];
  cpu: PhaseCpu;
}

export interface MediaRun {
  kind: "baseline" | "crash";
  /** From 1; each round is a baseline, then a crash. */
  round: number;
  phases: MediaPhase[];
  /** From spawning the new (or unrelated) main process to its listening line. */
  listenMs: number;
  /** After a crash: the connections the new main process listed (of the publisher and viewers). */
  adopted: number | null;
}

export interface MediaSuite {
  mbps: number;
  viewers: number;
  connected: number;
  runs: MediaRun[];
  /** After the crash run: viewers libsrt still saw connected, and the senders' closing line. */
  viewersConnectedAtEnd: number;
  sender: Record<string, unknown>;
  /** Children of part 1 still alive after the new main process stopped. */
  leftBehind: number[];
}

/** A group of children's CPU over a window, from schedstat and /proc/PID/task/\*\/status. */
export interface ChildrenCpu {
  windowMs: number;
  /** Summed over the children, % of one core. */
  cpuPercent: number;
  wakeupsPerSecond: number;
  /** Children that exited during the window. */
  exited: number;
}

export interface AdoptionRound {
  connections: number;
  /** Fresh main process with no connection: spawn to its listening line. */
  freshListenMs: number;
  freshPrivateDirtyKb: number;
  /** The main process that started the connections, just before its kill. */
  firstPrivateDirtyKb: number;
  /** kill -9 to: the prestarted children gone; every orphan's socket in the state directory. */
  poolGoneMs: number | null;
  socketsReadyMs: number | null;
  /** New main process: spawn to its first and last adoption lines, to listening, to the API listing all. */
  firstAdoptedMs: number | null;
  lastAdoptedMs: number | null;
  listenMs: number;
  allListedMs: number | null;
  adoptionLines: number;
  listed: number;
  adoptedPrivateDirtyKb: number;
  /** The connected children: with their main process, orphaned, adopted. */
  cpu: { withMain: ChildrenCpu; orphaned: ChildrenCpu; adopted: ChildrenCpu };
  /** Callers libsrt still saw connected after the adoption. */
  callersConnected: number;
  /** Children still alive after the new main process stopped. */
  leftBehind: number[];
}

export interface RestartSuite {
  atollCommand: string;
  restartCommand: string;
  senderCommand: string;
  viewersCommand: string;
  media: MediaSuite;
  adoption: AdoptionRound[];
  upgrade?: UpgradeSuite;
  /** `kernel.sched_autogroup_enabled` during the run (null: not readable). */
  autogroup: string | null;
}

// ---------------------------------------------------------------------------------------------
// The viewers (this file as a script).

interface RecordedViewer {
  socket: number;
  connected: boolean;
  /** Per message: arrival (shared clock, ms), payload bytes, stamp (sequence, send time) or -1. */
  at: number[];
  bytes: number[];
  sequence: number[];
  sentAt: number[];
}

/** What the viewers process writes to its `--output` file. */
export interface RecordedMessages {
  viewers: { at: number[]; bytes: number[]; sequence: number[]; sentAt: number[] }[];
}

function drainViewer(viewer: RecordedViewer, buffer: Uint8Array<ArrayBuffer>): void {
  const srt = libsrt();
  const bufferPointer = pointerTo(buffer);
  for (;;) {
    const length = srt.srt_recvmsg2(
      viewer.socket,
      bufferPointer,
      buffer.byteLength,
      messageControlPointer,
    );
    if (length <= 0) return;
    viewer.at.push(Math.round(sharedClockMs() * 100) / 100);
    viewer.bytes.push(length);
    let sequence = -1;
    let sentAt = -1;
    for (let offset = 0; offset + TS_PACKET_BYTES <= length; offset += TS_PACKET_BYTES) {
      const stamp = readStamp(buffer, offset);
      if (stamp === undefined) continue;
      sequence = stamp.sequence;
      sentAt = Math.round(stamp.sentAtMs * 100) / 100;
      break;
    }
    viewer.sequence.push(sequence);
    viewer.sentAt.push(sentAt);
  }
}

async function recordViewers(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      port: { type: "string" },
      count: { type: "string", default: "5" },
      "stream-id": { type: "string", default: `play:${STREAM}` },
      seconds: { type: "string", default: String(LIFETIME_SECONDS) },
      output: { type: "string" },
    },
    strict: true,
  });
  const port = Number(values.port);
  const count = Number(values.count);
  const seconds = Number(values.seconds);
  const output = values.output;
  if (!(port > 0 && count >= 1 && count <= 50 && seconds > 0 && seconds <= 600) || !output) {
    throw new RangeError("Usage: restart.ts --port P --count N (≤ 50) --output FILE [--seconds S]");
  }
  const stopAt = performance.now() + seconds * 1000;
  let stopping = false;
  Deno.addSignalListener("SIGTERM", () => stopping = true);
  startSrt();
  const viewers: RecordedViewer[] = [];
  try {
    for (let n = 0; n < count; n++) {
      viewers.push({
        socket: createCaller(values["stream-id"], { blocking: false, connectTimeoutMs: 10_000 }),
        connected: false,
        at: [],
        bytes: [],
        sequence: [],
        sentAt: [],
      });
    }
    const epoll = new EpollSet(count + 8);
    try {
      for (const viewer of viewers) epoll.add(viewer.socket, SRT_EPOLL_OUT | SRT_EPOLL_ERR);
      for (const viewer of viewers) connectAsync(viewer.socket, port);
      const deadline = performance.now() + 12_000;
      let pending = viewers.length;
      while (pending > 0 && performance.now() < deadline) {
        for (const { socket } of await epoll.wait(100)) {
          epoll.remove(socket);
          pending--;
          const viewer = viewers.find((v) => v.socket === socket)!;
          viewer.connected = socketState(socket) === SrtState.CONNECTED;
        }
      }
    } finally {
      epoll.release();
    }
    const connected = viewers.filter((viewer) => viewer.connected);
    console.log(JSON.stringify({ type: "connected", count, connected: connected.length }));
    const bySocket = new Map(connected.map((viewer) => [viewer.socket, viewer]));
    const receiving = new EpollSet(count + 8);
    const buffer = new Uint8Array(1500);
    try {
      for (const socket of bySocket.keys()) receiving.add(socket, SRT_EPOLL_IN | SRT_EPOLL_ERR);
      while (!stopping && performance.now() < stopAt) {
        for (const { socket, events } of await receiving.wait(100)) {
          const viewer = bySocket.get(socket);
          if (viewer === undefined) continue;
          if ((events & SRT_EPOLL_IN) !== 0) drainViewer(viewer, buffer);
          if ((events & SRT_EPOLL_ERR) !== 0) {
            receiving.remove(socket);
            viewer.connected = false;
          }
        }
      }
    } finally {
      receiving.release();
    }
    const recorded: RecordedMessages = {
      viewers: viewers.map(({ at, bytes, sequence, sentAt }) => ({ at, bytes, sequence, sentAt })),
    };
    await Deno.writeTextFile(output, JSON.stringify(recorded));
    const stillConnected = viewers.filter((viewer) =>
      viewer.connected && socketState(viewer.socket) === SrtState.CONNECTED
    ).length;
    console.log(JSON.stringify({ type: "done", connected: stillConnected }));
  } finally {
    for (const viewer of viewers) closeSocket(viewer.socket);
    libsrt().srt_cleanup();
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Reading /proc.

/** Nanoseconds on a CPU and voluntary context switches of every live thread of `pid`. */
function schedTotals(pid: number): { runNs: number; wakeups: number } | undefined {
  let runNs = 0;
  let wakeups = 0;
  let tasks: Deno.DirEntry[];
  try {
    tasks = [...Deno.readDirSync(`/proc/${pid}/task`)];
  } catch {
    return undefined; // Exited.
  }
  for (const task of tasks) {
    try {
      const base = `/proc/${pid}/task/${task.name}`;
      runNs += Number(Deno.readTextFileSync(`${base}/schedstat`).split(" ")[0]);
      const status = Deno.readTextFileSync(`${base}/status`);
      wakeups += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    } catch {
      // The thread exited while we looked.
    }
  }
  return { runNs, wakeups };
}

interface CpuMark {
  at: number;
  totals: Map<number, { runNs: number; wakeups: number } | undefined>;
}

function markCpu(pids: number[]): CpuMark {
  return { at: performance.now(), totals: new Map(pids.map((pid) => [pid, schedTotals(pid)])) };
}

function cpuBetween(from: CpuMark, to: CpuMark): ChildrenCpu {
  const seconds = (to.at - from.at) / 1000;
  let runNs = 0;
  let wakeups = 0;
  let exited = 0;
  for (const [pid, start] of from.totals) {
    const end = to.totals.get(pid);
    if (start === undefined || end === undefined) {
      exited++;
      continue;
    }
    runNs += end.runNs - start.runNs;
    wakeups += end.wakeups - start.wakeups;
  }
  return {
    windowMs: to.at - from.at,
    cpuPercent: runNs / 1e9 / seconds * 100,
    wakeupsPerSecond: wakeups / seconds,
    exited,
  };
}

/** Private_Dirty of `pid` in kB, stream buffers left out. */
function privateDirtyKb(pid: number): number {
  return readMemory(pid).privateDirtyKb;
}

// ---------------------------------------------------------------------------------------------
// Main processes.

/** A main process being started: when it was spawned, on the wall clock its log uses. */
interface Spawned {
  atoll: Atoll;
  spawnedAtMs: number;
}

/** Starts a main process with `args` and returns once it listens; its spawn time with it. */
async function spawnMain(args: string[]): Promise<Spawned> {
  const spawnedAtMs = Date.now();
  const atoll = await Atoll.start(args, {
    logLevel: "info",
    startTimeoutMs: 30_000,
    ownProcessGroup: true,
  });
  return { atoll, spawnedAtMs };
}

/** Milliseconds from the spawn to the log line `match` accepts (by its `@timestamp`). */
function logDelayMs(
  spawned: Spawned,
  match: (line: string) => boolean,
  last = false,
): number | null {
  const lines = spawned.atoll.output.filter(match);
  const line = last ? lines.at(-1) : lines[0];
  if (line === undefined) return null;
  try {
    return Date.parse(JSON.parse(line)["@timestamp"]) - spawned.spawnedAtMs;
  } catch {
    return null;
  }
}

/**
 * SIGTERM to a main process, SIGKILL after a grace: its process alone.
 * `Atoll.stop()` then kills every child that any Atoll of this process had
 * and that is still alive, those of a main process still running included,
 * and would hide a child left behind; it runs once the suite is done.
 */
async function stopMainOnly(atoll: Atoll): Promise<void> {
  await atoll.process.stop(STOP_GRACE_MS);
}

const isListeningLine = (line: string) => line.includes('"message":"SRT listening');
const isAdoptionLine = (line: string) => line.includes("adopted from child");

/** Arguments that start a main process on `atoll`'s SRT port and state directory. */
function restartArgs(atoll: Atoll): string[] {
  return [
    ...RESTART_ARGS,
    ...["--state-dir", atoll.stateDir, "--srt-listen", `127.0.0.1:${atoll.srtPort}`],
  ];
}

function socketsInStateDir(stateDir: string): number {
  try {
    return [...Deno.readDirSync(`${stateDir}/children`)].filter((e) => e.name.endsWith(".sock"))
      .length;
  } catch {
    return 0;
  }
}

/** Waits up to `timeoutMs` for `check`; the milliseconds since `from`, or null if it never held. */
async function timeUntil(
  what: string,
  check: () => boolean | Promise<boolean>,
  from: number,
  timeoutMs: number,
): Promise<number | null> {
  try {
    await waitFor(what, check, { timeoutMs, intervalMs: 10 });
    return performance.now() - from;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Part 1: media across the crash.

/** One viewer's messages in [from, to) on the shared clock. */
function viewerPhase(
  messages: RecordedMessages["viewers"][number],
  from: number,
  to: number,
): ViewerPhase {
  let previous: number | undefined;
  let largestGapMs = 0;
  let count = 0;
  let bytes = 0;
  /** Indexes of the phase's first and last stamped messages. */
  let firstStamped = -1;
  let lastStamped = -1;
  const latencies: number[] = [];
  for (let i = 0; i < messages.at.length; i++) {
    const at = messages.at[i]!;
    if (at >= to) break;
    if (at >= from) {
      // The gap that ends in this phase counts here, whenever it began.
      largestGapMs = Math.max(largestGapMs, at - (previous ?? from));
      count++;
      bytes += messages.bytes[i]!;
      if (messages.sequence[i]! >= 0) {
        if (firstStamped < 0) firstStamped = i;
        lastStamped = i;
        latencies.push(at - messages.sentAt[i]!);
      }
    }
    previous = at;
  }
  largestGapMs = Math.max(largestGapMs, to - (previous ?? from));
  // What the sender sent from the first stamped message to the last, against what came.
  const missing = firstStamped < 0 ? null : messages.sequence[lastStamped]! -
    messages.sequence[firstStamped]! + 1 - (lastStamped - firstStamped + 1);
  return {
    largestGapMs,
    mbps: bytes * 8 / ((to - from) / 1000) / 1e6,
    messages: count,
    missing,
    latencyP99Ms: latencies.length ? percentile(latencies, 99) : null,
    latencyMaxMs: latencies.length ? Math.max(...latencies) : null,
  };
}

interface MediaPhases {
  marks: PhaseMark[];
  listenMs: number;
}

interface PhaseMark {
  name: PhaseName;
  from: number;
  to: number;
  cpu: PhaseCpu;
}

/**
 * Three phases on the same viewers: 3 s with the main process; then, with
 * `crash`, its kill -9 and 3 s without one, else 3 s more of the same; then
 * a main process spawned (on the same port and state directory after a
 * crash, else an unrelated one) until 3 s after it listens.
 */
async function mediaRun(
  first: Atoll,
  crash: boolean,
  children: { publisher: number; viewers: number[] },
): Promise<MediaPhases & { second: Atoll }> {
  const marks: PhaseMark[] = [];
  const phase = async (
    name: PhaseName,
    main: number | null,
    body: () => Promise<void>,
  ): Promise<void> => {
    const pids = [children.publisher, ...children.viewers, ...(main === null ? [] : [main])];
    const start = markCpu(pids);
    const from = sharedClockMs();
    await body();
    const to = sharedClockMs();
    const end = markCpu(pids);
    const cpuOf = (pid: number) => {
      const one = cpuBetween(
        { at: start.at, totals: new Map([[pid, start.totals.get(pid)]]) },
        { at: end.at, totals: new Map([[pid, end.totals.get(pid)]]) },
      );
      return one.exited > 0 ? NaN : one.cpuPercent;
    };
    marks.push({
      name,
      from,
      to,
      cpu: {
        publisherChild: cpuOf(children.publisher),
        viewerChildren: children.viewers.reduce((sum, pid) => sum + cpuOf(pid), 0),
        main: main === null ? null : cpuOf(main),
      },
    });
  };
  await phase("main", first.pid, () => sleep(PHASE_MS));
  await phase("none", crash ? null : first.pid, async () => {
    if (crash) {
      first.kill();
      await first.exit();
    }
    await sleep(PHASE_MS);
  });
  let second: Spawned | undefined;
  let listenMs = NaN;
  // The third phase's main process is only known once it is spawned: its CPU is not counted.
  await phase("restart", null, async () => {
    second = await spawnMain(crash ? restartArgs(first) : RESTART_ARGS);
    listenMs = logDelayMs(second, isListeningLine) ?? NaN;
    await sleep(PHASE_MS);
  });
  return { marks, listenMs, second: second!.atoll };
}

/**
 * Starts this file as the viewers' process: `count` viewers of the stream on
 * `port`, recording into `dir`; resolves once they say how many connected.
 */
async function startViewers(port: number, count: number, dir: string) {
  const output = `${dir}/viewers.json`;
  const viewers = startInOwnSession("viewers", [
    ...["run", "-A", SELF, "--port", String(port), "--count", String(count)],
    ...["--stream-id", `play:${STREAM}`, "--output", output],
  ]);
  try {
    const connectedLine = await viewers.waitForLine(
      "connected line",
      (line) => line.startsWith('{"type":"connected"'),
      20_000,
    );
    return { viewers, output, connected: Number(JSON.parse(connectedLine).connected) };
  } catch (error) {
    await viewers.stop();
    throw error;
  }
}

/** Stops the viewers' process and the sender, and reads what they recorded and said last. */
async function stopPeers(viewers: ManagedProcess, sender: ManagedProcess, output: string) {
  await viewers.stop(10_000);
  const done = viewers.lines.find((line) => line.startsWith('{"type":"done"'));
  const viewersConnectedAtEnd = done === undefined ? 0 : Number(JSON.parse(done).connected);
  await sender.stop(5000);
  const senderDone = sender.lines.find((line) => line.includes('"type":"done"'));
  const recorded = JSON.parse(await Deno.readTextFile(output)) as RecordedMessages;
  return { viewersConnectedAtEnd, senderDone, recorded };
}

async function benchMedia(
  options: RestartOptions,
  progress: (line: string) => void,
): Promise<MediaSuite> {
  const { dir, removeDir } = await scratchDir("atoll_bench_restart_");
  const started: ManagedProcess[] = [];
  const mains: Atoll[] = [];
  try {
    const file = await makeStream(dir, options.mbps);
    const first = await startAtoll(RESTART_ARGS);
    mains.push(first);
    const sender = startInOwnSession("sender", [
      ...["run", "-A", SENDER, "--port", String(first.srtPort), "--mbps", String(options.mbps)],
      ...["--seconds", String(LIFETIME_SECONDS), "--file", file],
      ...["--stream-id", `publish:${STREAM}`],
    ]);
    started.push(sender);
    await sender.waitForLine("connected line", (line) => line.includes('"connected"'), 15_000);
    const { viewers, output, connected } = await startViewers(first.srtPort, options.viewers, dir);
    started.push(viewers);
    const connections = await waitFor("the publisher and every viewer in the API", async () => {
      const list = await first.connections();
      return list.filter((c) => c.state === "connected").length === 1 + connected && list;
    }, { timeoutMs: 10_000 });
    const children = {
      publisher: connections.find((c) => c.mode === "publish")!.pid,
      viewers: connections.filter((c) => c.mode === "play").map((c) => c.pid),
    };
    first.childPids(); // So that the bench kills them if all else fails.
    await sleep(WARMUP_MS);

    const pairs: {
      kind: MediaRun["kind"];
      round: number;
      run: MediaPhases;
      adopted: number | null;
    }[] = [];
    let main = first;
    for (let round = 1; round <= options.mediaRounds; round++) {
      const baseline = await mediaRun(main, false, children);
      mains.push(baseline.second);
      await stopMainOnly(baseline.second);
      pairs.push({ kind: "baseline", round, run: baseline, adopted: null });
      progress(
        `restart media ${round}, baseline: an unrelated main listened after ${baseline.listenMs} ms`,
      );
      await sleep(WARMUP_MS);
      const crash = await mediaRun(main, true, children);
      main = crash.second;
      mains.push(main);
      const adopted = (await main.connections()).filter((c) => c.state === "connected").length;
      pairs.push({ kind: "crash", round, run: crash, adopted });
      progress(
        `restart media ${round}, crash: the new main listened after ${crash.listenMs} ms, adopted ${adopted}`,
      );
      await sleep(WARMUP_MS);
    }

    const { viewersConnectedAtEnd, senderDone, recorded } = await stopPeers(
      viewers,
      sender,
      output,
    );
    const runOf = ({ kind, round, run, adopted }: typeof pairs[number]): MediaRun => ({
      kind,
      round,
      listenMs: run.listenMs,
      adopted,
      phases: run.marks.map((mark) => ({
        name: mark.name,
        durationMs: mark.to - mark.from,
        viewers: recorded.viewers.map((messages) => viewerPhase(messages, mark.from, mark.to)),
        cpu: mark.cpu,
      })),
    });
    await stopMainOnly(main);
    const all = [children.publisher, ...children.viewers];
    await waitFor("part 1's children to exit", () => !all.some(isAlive), { timeoutMs: 5000 })
      .catch(() => {});
    return {
      mbps: options.mbps,
      viewers: options.viewers,
      connected,
      runs: pairs.map(runOf),
      viewersConnectedAtEnd,
      sender: senderDone === undefined ? { type: "no done line" } : JSON.parse(senderDone),
      leftBehind: all.filter(isAlive),
    };
  } finally {
    await Promise.all(started.map((process) => process.stop(5000)));
    // The last main started stops first: the first one's stop removes the state directory.
    for (const main of mains.reverse()) await main.stop(STOP_GRACE_MS);
    globalThis.removeEventListener("unload", removeDir);
    removeDir();
  }
}

// ---------------------------------------------------------------------------------------------
// Parts 2 and 3: adoption, and the orphans' CPU.

async function connectIdle(port: number, count: number): Promise<CallerGroup[]> {
  const groups: CallerGroup[] = [];
  let waiting = Array.from({ length: count }, (_, n) => `publish:bench/restart-idle-${n}`);
  for (let round = 0; round < CONNECT_ROUNDS && waiting.length > 0; round++) {
    if (round > 0) await sleep(1000);
    const group = await connectGroup(port, waiting, {
      kind: "async",
      prefix: "",
      connectTimeoutMs: 15_000,
    });
    groups.push(group);
    waiting = group.results.filter((r) => r.connectMs === null).map((r) => r.streamId);
  }
  if (waiting.length > 0) {
    for (const group of groups) group.close();
    throw new Error(`Only ${count - waiting.length} of ${count} idle callers connected`);
  }
  return groups;
}

async function adoptionRound(
  count: number,
  progress: (line: string) => void,
): Promise<AdoptionRound> {
  // The floor: a fresh main process with no connection, started as the new one will be.
  const fresh = await spawnMain(RESTART_ARGS);
  let freshListenMs: number;
  let freshPrivateDirtyKb: number;
  try {
    freshListenMs = logDelayMs(fresh, isListeningLine) ?? NaN;
    await fresh.atoll.connections();
    await sleep(SETTLE_MS);
    freshPrivateDirtyKb = privateDirtyKb(fresh.atoll.pid);
  } finally {
    await fresh.atoll.stop(STOP_GRACE_MS);
  }

  const first = await startAtoll(RESTART_ARGS);
  let second: Atoll | undefined;
  let groups: CallerGroup[] = [];
  try {
    groups = await connectIdle(first.srtPort, count);
    const connections = await waitFor(`${count} connections in the API`, async () => {
      const list = await first.connections();
      return list.filter((c) => c.state === "connected").length === count && list;
    }, { timeoutMs: 30_000, intervalMs: 100 });
    const pids = connections.map((c) => c.pid);
    first.childPids(); // So that the bench kills them if all else fails.
    await sleep(WARMUP_MS);
    const pool = await first.idleChildPids();
    const withMainStart = markCpu(pids);
    await sleep(PHASE_MS);
    const withMain = cpuBetween(withMainStart, markCpu(pids));
    const firstPrivateDirtyKb = privateDirtyKb(first.pid);

    const killedAt = performance.now();
    first.kill();
    await first.exit();
    const [poolGoneMs, socketsReadyMs] = await Promise.all([
      timeUntil("the pool to exit", () => !pool.some(isAlive), killedAt, 5000),
      timeUntil(
        "every orphan's socket",
        () => socketsInStateDir(first.stateDir) >= count,
        killedAt,
        10_000,
      ),
    ]);
    await sleep(500);
    const orphanedStart = markCpu(pids);
    await sleep(PHASE_MS);
    const orphaned = cpuBetween(orphanedStart, markCpu(pids));

    const spawned = await spawnMain(restartArgs(first));
    second = spawned.atoll;
    const spawnedAt = performance.now() - (Date.now() - spawned.spawnedAtMs);
    const allListedMs = await timeUntil(
      `${count} adopted connections in the API`,
      async () => {
        const list = await second!.connections();
        return list.filter((c) => c.state === "connected").length >= count;
      },
      spawnedAt,
      10_000,
    );
    const listed = (await second.connections()).filter((c) => c.state === "connected").length;
    await sleep(SETTLE_MS);
    const adoptedPrivateDirtyKb = privateDirtyKb(second.pid);
    const adoptedStart = markCpu(pids);
    await sleep(PHASE_MS);
    const adopted = cpuBetween(adoptedStart, markCpu(pids));
    const callersConnected = groups.reduce((sum, group) => sum + countConnected(group.sockets), 0);

    const round: AdoptionRound = {
      connections: count,
      freshListenMs,
      freshPrivateDirtyKb,
      firstPrivateDirtyKb,
      poolGoneMs,
      socketsReadyMs,
      firstAdoptedMs: logDelayMs(spawned, isAdoptionLine),
      lastAdoptedMs: logDelayMs(spawned, isAdoptionLine, true),
      listenMs: logDelayMs(spawned, isListeningLine) ?? NaN,
      allListedMs,
      adoptionLines: second.output.filter(isAdoptionLine).length,
      listed,
      adoptedPrivateDirtyKb,
      cpu: { withMain, orphaned, adopted },
      callersConnected,
      leftBehind: [],
    };
    await stopMainOnly(second);
    await waitFor("the adopted children to exit", () => !pids.some(isAlive), { timeoutMs: 5000 })
      .catch(() => {});
    round.leftBehind = pids.filter(isAlive);
    progress(describeAdoption(round));
    return round;
  } finally {
    await second?.stop(STOP_GRACE_MS);
    for (const group of groups) group.close();
    await first.stop(STOP_GRACE_MS);
  }
}

// ---------------------------------------------------------------------------------------------
// Part 4: upgrades (SIGUSR2), under a live fan-out.

/** Between two tries of the probing caller, and each try's connect timeout. */
const PROBE_INTERVAL_MS = 50;
const PROBE_TIMEOUT_MS = 500;
/** How long the probing caller keeps trying before it gives up. */
const PROBE_DEADLINE_MS = 15_000;
/** The baseline window of each upgrade round, and the time kept after the successor listens. */
const UPGRADE_BASELINE_MS = 4000;
const AFTER_LISTEN_MS = 3000;

export interface UpgradeOptions {
  mbps: number;
  viewers: number;
  /** Each round is a baseline window, then SIGUSR2 to the main process of the moment. */
  rounds: number;
}

/** One try of the probing caller, times from the SIGUSR2 (ms). */
export interface ProbeTry {
  startMs: number;
  /** When libsrt said CONNECTED, or null (timed out, refused). */
  connectedMs: number | null;
  /** SRT_SOCKSTATUS when the try ended. */
  state: number;
  /** Which main process admitted it: the old one (before its hand-over line) or the successor. */
  by: "old" | "successor" | null;
}

export interface ViewerUpgrade {
  baseline: ViewerPhase;
  /** An unrelated main process starts at its beginning: what a Deno process starting costs. */
  control: ViewerPhase;
  upgrade: ViewerPhase;
  /** Where the upgrade window's largest gap ended, ms after the SIGUSR2. */
  upgradeGapEndMs: number;
}

export interface UpgradeRound {
  round: number;
  /** The main process signalled, and its successor. */
  oldPid: number;
  successorPid: number | null;
  /** The control's unrelated main process: spawn to its listening line. */
  controlListenMs: number | null;
  /** SIGUSR2 to the old one's "Handing N connection(s) over" line (its ports closed just before). */
  handingMs: number | null;
  /** SIGUSR2 to the successor's "SRT listening" line (log time stamps). */
  listenMs: number | null;
  /** SIGUSR2 to the first try the successor admitted (CONNECTED at the caller). */
  firstAcceptedMs: number | null;
  /** Whether that try's child is the successor's (its parent is the successor's pid). */
  firstAcceptedChecked: boolean;
  /** The old one's exit after the SIGUSR2 (polled every 10 ms), and its exit code if known. */
  oldExitMs: number | null;
  tries: ProbeTry[];
  /** The connections the successor lists as connected (the fan-out's, adopted), of 1 + viewers. */
  adopted: number;
  /** Per viewer: the round's baseline window and its upgrade window (SIGUSR2 to 3 s after listening). */
  viewers: ViewerUpgrade[];
}

export interface UpgradeSuite {
  mbps: number;
  viewers: number;
  connected: number;
  port: number;
  rounds: UpgradeRound[];
  /** Per viewer over the whole recording: stamped messages missing between its first and last. */
  missingOverRun: number[];
  viewersConnectedAtEnd: number;
  sender: Record<string, unknown>;
  /** Fan-out children, successors and probe children still alive after the last successor's SIGTERM. */
  leftBehind: number[];
  /** Problems seen (a successor that did not come, a connection not adopted...). */
  problems: string[];
  /** The suite's temporary directory and Atoll's state directory, if still there after cleanup. */
  leftInTmp: string[];
  atollCommand: string;
}

/** Where the largest gap between arrivals in [from, to) ended (the silence at the end counts). */
function largestGapEnd(at: number[], from: number, to: number): number {
  let previous = from;
  let largest = -1;
  let end = from;
  for (const t of at) {
    if (t >= to) break;
    if (t >= from && t - previous > largest) {
      largest = t - previous;
      end = t;
    }
    previous = t;
  }
  return to - previous > largest ? to : end;
}

/** The parent pid of `pid`, or undefined once it is gone. */
function parentOf(pid: number): number | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}

/** The `@timestamp` of a JSON log line, ms since the epoch; NaN if it has none. */
function lineTime(line: string): number {
  try {
    return Date.parse(JSON.parse(line)["@timestamp"]);
  } catch {
    return NaN;
  }
}

/** `GET /api/connections` on a main process known by its HTTP port. */
async function connectionsAt(httpPort: number): Promise<ConnectionInfo[]> {
  const response = await fetch(`http://127.0.0.1:${httpPort}/api/connections`);
  if (!response.ok) throw new Error(`GET /api/connections: ${response.status}`);
  return await response.json() as ConnectionInfo[];
}

/**
 * From `signalAt` (Date.now() of the SIGUSR2): a new libsrt caller every
 * {@link PROBE_INTERVAL_MS}, each with a {@link PROBE_TIMEOUT_MS} connect
 * timeout, until one connects after the old main process said it was
 * handing over (`handingAt()`, its ports were closed by then): that one was
 * admitted by the successor, and is returned still open for checking.
 *
 * The old main process goes on admitting callers until it hands over (the
 * successor first has to start and ask): a try that connects before is the
 * old one's, closed at once. Once one has, no new try starts until the
 * old one's hand-over line is seen, since each one it admitted would make
 * it start a child (a storm of them in the first draft, 28 in 1.4 s, which
 * slowed the successor's start); the successor cannot listen before that
 * line anyway, and tries resume every 50 ms from it.
 */
async function probeSuccessor(
  port: number,
  round: number,
  signalAt: number,
  handingAt: () => number | undefined,
): Promise<{ tries: ProbeTry[]; open: number | undefined }> {
  const tries: ProbeTry[] = [];
  const pending = new Map<number, ProbeTry>();
  const epoll = new EpollSet(64);
  let open: number | undefined;
  let nextTry = signalAt;
  try {
    while (open === undefined && Date.now() - signalAt < PROBE_DEADLINE_MS) {
      const holding = tries.some((t) => t.by === "old") && handingAt() === undefined;
      if (holding) nextTry = Math.max(nextTry, Date.now() + 5);
      else if (Date.now() >= nextTry) {
        nextTry += PROBE_INTERVAL_MS;
        const socket = createCaller(`publish:bench/upgrade-probe-${round}-${tries.length}`, {
          blocking: false,
          connectTimeoutMs: PROBE_TIMEOUT_MS,
        });
        const entry: ProbeTry = {
          startMs: Date.now() - signalAt,
          connectedMs: null,
          state: 0,
          by: null,
        };
        tries.push(entry);
        pending.set(socket, entry);
        epoll.add(socket, SRT_EPOLL_OUT | SRT_EPOLL_ERR);
        connectAsync(socket, port);
      }
      for (const { socket } of await epoll.wait(Math.max(1, nextTry - Date.now()))) {
        const entry = pending.get(socket);
        if (entry === undefined) continue;
        epoll.remove(socket);
        pending.delete(socket);
        const now = Date.now();
        entry.state = socketState(socket);
        if (entry.state !== SrtState.CONNECTED) {
          closeSocket(socket);
          continue;
        }
        entry.connectedMs = now - signalAt;
        const handing = handingAt();
        if (open === undefined && handing !== undefined && now > handing) {
          entry.by = "successor";
          open = socket;
        } else {
          entry.by = "old";
          closeSocket(socket);
        }
      }
    }
  } finally {
    for (const socket of pending.keys()) closeSocket(socket);
    epoll.release();
  }
  return { tries, open };
}

/** A round before the viewers' recording is read: its windows on the shared clock. */
type RoundTimes = Omit<UpgradeRound, "viewers"> & {
  baseline: [number, number];
  control: [number, number];
  window: [number, number];
};

async function upgradeRound(
  round: number,
  context: {
    atoll: Atoll;
    port: number;
    pidFile: string;
    oldPid: number;
    fanOut: number[];
    /** Where the control's main processes go, for the final Atoll.stop(). */
    unrelated: Atoll[];
  },
): Promise<RoundTimes> {
  const { atoll, port, pidFile, oldPid } = context;
  const baselineFrom = sharedClockMs();
  await sleep(UPGRADE_BASELINE_MS);
  const baselineTo = sharedClockMs();
  // The control: an unrelated main process (ports and state directory of its own) starts.
  const controlFrom = sharedClockMs();
  const unrelated = await spawnMain(RESTART_ARGS);
  context.unrelated.push(unrelated.atoll);
  const controlListenMs = logDelayMs(unrelated, isListeningLine);
  await sleep(AFTER_LISTEN_MS);
  const controlTo = sharedClockMs();
  await stopMainOnly(unrelated.atoll);
  await sleep(1000);
  const linesBefore = atoll.output.length;
  const newLines = () => atoll.output.slice(linesBefore);
  const windowFrom = sharedClockMs();
  const signalAt = Date.now();
  Deno.kill(oldPid, "SIGUSR2");
  let oldExitMs: number | null = null;
  const watchExit = (async () => {
    while (Date.now() - signalAt < 30_000) {
      if (!isAlive(oldPid)) {
        oldExitMs = Date.now() - signalAt;
        return;
      }
      await sleep(10);
    }
  })();
  const handingLine = () =>
    newLines().find((line) => line.includes('"message":"Handing ') && line.includes("next main"));
  const probe = await probeSuccessor(port, round, signalAt, () => {
    const line = handingLine();
    return line === undefined ? undefined : lineTime(line);
  });
  let listening: string | undefined;
  try {
    listening = await waitFor(
      "the successor's listening line",
      () => newLines().find((line) => isStartupLine(parseLogLine(line))),
      { timeoutMs: 30_000, intervalMs: 10 },
    );
  } catch {
    // Reported below as a successor that did not listen.
  }
  await watchExit;
  let successorPid: number | null = null;
  let httpPort = 0;
  let adopted = 0;
  let firstAcceptedChecked = false;
  if (listening !== undefined) {
    httpPort = Number(String(parseLogLine(listening)!.properties.http).split(":").at(-1));
    successorPid = await waitFor("the pid file to name the successor", async () => {
      const pid = Number((await Deno.readTextFile(pidFile).catch(() => "")).trim());
      return pid > 0 && pid !== oldPid && pid;
    }, { timeoutMs: 5000, intervalMs: 10 }).catch(() => null);
    const list = await connectionsAt(httpPort).catch(() => [] as ConnectionInfo[]);
    adopted = list.filter((c) => c.state === "connected" && context.fanOut.includes(c.pid)).length;
    if (probe.open !== undefined) {
      const probePort = localPort(probe.open);
      const mine = list.find((c) => Number(c.peer.split(":").at(-1)) === probePort);
      firstAcceptedChecked = mine !== undefined && parentOf(mine.pid) === successorPid;
    }
  }
  if (probe.open !== undefined) closeSocket(probe.open);
  await sleep(AFTER_LISTEN_MS);
  const windowTo = sharedClockMs();
  const first = probe.tries.find((t) => t.by === "successor");
  const handing = handingLine();
  return {
    round,
    oldPid,
    successorPid,
    handingMs: handing === undefined ? null : lineTime(handing) - signalAt,
    listenMs: listening === undefined ? null : lineTime(listening) - signalAt,
    firstAcceptedMs: first?.connectedMs ?? null,
    firstAcceptedChecked,
    oldExitMs,
    tries: probe.tries,
    adopted,
    baseline: [baselineFrom, baselineTo],
    control: [controlFrom, controlTo],
    controlListenMs,
    window: [windowFrom, windowTo],
  };
}

/** Every process in /proc whose command line mentions `needle`. */
function processesMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    const pid = Number(entry.name);
    if (Number.isInteger(pid) && pid !== Deno.pid && commandLine(pid).includes(needle)) {
      out.push(pid);
    }
  }
  return out;
}

/** SIGTERM to `pid` (not a child of this process), SIGKILL after `graceMs`. */
async function stopByPid(pid: number, graceMs: number): Promise<void> {
  try {
    Deno.kill(pid, "SIGTERM");
  } catch {
    return;
  }
  await waitFor(`process ${pid} to exit`, () => !isAlive(pid), { timeoutMs: graceMs })
    .catch(() => {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // Gone meanwhile.
      }
    });
}

export async function benchUpgrade(
  options: UpgradeOptions,
  progress: (line: string) => void,
): Promise<UpgradeSuite> {
  const { dir, removeDir } = await scratchDir("atoll_bench_upgrade_");
  const started: ManagedProcess[] = [];
  const port = freeUdpPort();
  const pidFile = `${dir}/atoll.pid`;
  const args = [...RESTART_ARGS, "--srt-listen", `127.0.0.1:${port}`, "--pid-file", pidFile];
  let atoll: Atoll | undefined;
  /** Every main process of the suite: the first, then each successor. */
  const mains: number[] = [];
  const problems: string[] = [];
  const unrelated: Atoll[] = [];
  let suite: UpgradeSuite | undefined;
  try {
    const file = await makeStream(dir, options.mbps);
    atoll = await startAtoll(args);
    mains.push(atoll.pid);
    const sender = startInOwnSession("sender", [
      ...["run", "-A", SENDER, "--port", String(port), "--mbps", String(options.mbps)],
      ...["--seconds", String(LIFETIME_SECONDS), "--file", file],
      ...["--stream-id", `publish:${STREAM}`],
    ]);
    started.push(sender);
    await sender.waitForLine("connected line", (line) => line.includes('"connected"'), 15_000);
    const { viewers, output, connected } = await startViewers(port, options.viewers, dir);
    started.push(viewers);
    const first = atoll;
    const connections = await waitFor("the publisher and every viewer in the API", async () => {
      const list = await first.connections();
      return list.filter((c) => c.state === "connected").length === 1 + connected && list;
    }, { timeoutMs: 10_000 });
    const fanOut = connections.map((c) => c.pid);
    const seen = new Set<number>(fanOut);
    await sleep(WARMUP_MS);

    const rounds: RoundTimes[] = [];
    let main = atoll.pid;
    for (let round = 1; round <= options.rounds; round++) {
      const result = await upgradeRound(round, {
        atoll,
        port,
        pidFile,
        oldPid: main,
        fanOut,
        unrelated,
      });
      rounds.push(result);
      const successor = result.successorPid;
      progress(
        `restart upgrade ${round}: old main handing over after ${
          formatNumber(result.handingMs, 0)
        } ms, successor listening after ${formatNumber(result.listenMs, 0)} ms, first caller ` +
          `it admitted after ${formatNumber(result.firstAcceptedMs, 0)} ms (${
            result.firstAcceptedChecked ? "checked" : "NOT checked"
          }), adopted ${result.adopted}/${fanOut.length}`,
      );
      if (successor === null || !isAlive(successor)) {
        problems.push(`round ${round}: no live successor after SIGUSR2 to ${main}`);
        break;
      }
      mains.push(successor);
      for (const pid of childrenOf(successor)) seen.add(pid);
      if (result.adopted !== fanOut.length) {
        problems.push(
          `round ${round}: the successor lists ${result.adopted} of the ${fanOut.length} fan-out connections`,
        );
      }
      if (result.oldExitMs === null) {
        problems.push(`round ${round}: the old main ${main} did not exit`);
      }
      main = successor;
    }

    const { viewersConnectedAtEnd, senderDone, recorded } = await stopPeers(
      viewers,
      sender,
      output,
    );

    // The last successor is no child of this process: SIGTERM by pid.
    for (const pid of childrenOf(main)) seen.add(pid);
    await stopByPid(main, STOP_GRACE_MS);
    for (const pid of mains) seen.add(pid);
    const all = [...seen];
    await waitFor("every child of the suite to exit", () => !all.some(isAlive), { timeoutMs: 5000 })
      .catch(() => {});
    const leftBehind = [...all.filter(isAlive), ...processesMentioning(atoll.stateDir)];
    for (const pid of leftBehind) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // Gone meanwhile.
      }
    }
    // Every message carries its number, but only those with a null packet carry a stamp.
    const missingOverRun = recorded.viewers.map((v) => {
      const first = v.sequence.findIndex((s) => s >= 0);
      const last = v.sequence.findLastIndex((s) => s >= 0);
      if (first < 0) return NaN;
      return v.sequence[last]! - v.sequence[first]! + 1 - (last - first + 1);
    });
    suite = {
      mbps: options.mbps,
      viewers: options.viewers,
      connected,
      port,
      rounds: rounds.map(({ baseline, control, window, ...rest }) => ({
        ...rest,
        viewers: recorded.viewers.map((messages) => ({
          baseline: viewerPhase(messages, baseline[0], baseline[1]),
          control: viewerPhase(messages, control[0], control[1]),
          upgrade: viewerPhase(messages, window[0], window[1]),
          upgradeGapEndMs: largestGapEnd(messages.at, window[0], window[1]) - window[0],
        })),
      })),
      missingOverRun,
      viewersConnectedAtEnd,
      sender: senderDone === undefined ? { type: "no done line" } : JSON.parse(senderDone),
      leftBehind: [...new Set(leftBehind)],
      problems,
      leftInTmp: [],
      atollCommand: ["deno run -A main.ts", ...args.slice(0, -1), "DIR/atoll.pid"].join(" "),
    };
    return suite;
  } finally {
    await Promise.all(started.map((process) => process.stop(5000)));
    // Whatever main process is left (a successor is no child of this process).
    for (const pid of mains) {
      if (isAlive(pid) && commandLine(pid).includes("main.ts")) {
        await stopByPid(pid, STOP_GRACE_MS);
      }
    }
    try {
      const named = Number((await Deno.readTextFile(pidFile)).trim());
      if (named > 0 && isAlive(named) && commandLine(named).includes("main.ts")) {
        await stopByPid(named, STOP_GRACE_MS);
      }
    } catch {
      // No pid file.
    }
    // The first main process exited long ago; this removes its state directory (and the
    // unrelated ones', each stopped already).
    for (const other of unrelated) await other.stop(STOP_GRACE_MS);
    await atoll?.stop(STOP_GRACE_MS);
    globalThis.removeEventListener("unload", removeDir);
    removeDir();
    if (suite !== undefined) {
      const exists = (path: string) => {
        try {
          Deno.statSync(path);
          return true;
        } catch {
          return false;
        }
      };
      suite.leftInTmp = [dir, ...(atoll === undefined ? [] : [atoll.stateDir])].filter(exists);
    }
  }
}

/** Upgrade round figures against the targets, one line for the progress log. */
export function describeUpgrade(suite: UpgradeSuite): string {
  const worst = (values: (number | null)[]) => Math.max(...values.map((v) => v ?? Infinity));
  const rounds = suite.rounds;
  const lost = Math.max(...rounds.flatMap((r) => r.viewers.map((v) => v.upgrade.missing ?? 0)));
  const excess = Math.max(
    ...rounds.flatMap((r) =>
      r.viewers.map((v) => v.upgrade.largestGapMs - v.baseline.largestGapMs)
    ),
  );
  return `restart upgrade: ${rounds.length} round(s), worst: ${lost} message(s) lost, largest gap ` +
    `${formatNumber(excess, 0)} ms over the baseline, successor admitted a caller after ${
      formatNumber(worst(rounds.map((r) => r.firstAcceptedMs)), 0)
    } ms, listened after ${
      formatNumber(worst(rounds.map((r) => r.listenMs)), 0)
    } ms; ${suite.leftBehind.length} process(es) and ${suite.leftInTmp.length} temporary dir(s) left behind${
      suite.problems.length ? `; problems: ${suite.problems.join("; ")}` : ""
    }`;
}

export function describeAdoption(round: AdoptionRound): string {
  return `restart adoption of ${round.connections}: listening after ${round.listenMs} ms ` +
    `(fresh ${round.freshListenMs} ms), ${round.listed} listed after ${
      formatNumber(round.allListedMs, 0)
    } ms, Private_Dirty ${(round.adoptedPrivateDirtyKb / 1024).toFixed(1)} MB (fresh ${
      (round.freshPrivateDirtyKb / 1024).toFixed(1)
    } MB), children ${round.cpu.withMain.cpuPercent.toFixed(2)}% with main, ${
      round.cpu.orphaned.cpuPercent.toFixed(2)
    }% orphaned`;
}

export async function benchRestart(
  options: RestartOptions,
  progress: (line: string) => void,
): Promise<RestartSuite> {
  const media = await benchMedia(options, progress);
  const adoption: AdoptionRound[] = [];
  for (const count of options.idleCounts) adoption.push(await adoptionRound(count, progress));
  let upgrade: UpgradeSuite | undefined;
  if (options.upgradeRounds > 0) {
    upgrade = await benchUpgrade(
      { mbps: options.mbps, viewers: options.upgradeViewers, rounds: options.upgradeRounds },
      progress,
    );
    progress(describeUpgrade(upgrade));
  }
  return {
    autogroup: autogroupSetting(),
    atollCommand: ["deno run -A main.ts --srt-listen 127.0.0.1:0", ...RESTART_ARGS].join(" "),
    restartCommand: [
      "deno run -A main.ts",
      ...RESTART_ARGS,
      "--state-dir DIR --srt-listen 127.0.0.1:PORT",
    ].join(" "),
    senderCommand:
      `deno run -A bench/sender.ts --port P --mbps ${options.mbps} --file STREAM.ts --stream-id publish:${STREAM}`,
    viewersCommand:
      `deno run -A bench/restart.ts --port P --count ${options.viewers} --stream-id play:${STREAM} --output FILE`,
    media,
    adoption,
    ...(upgrade === undefined ? {} : { upgrade }),
  };
}

// ---------------------------------------------------------------------------------------------
// The Markdown section.

const PHASE_TITLES: Record<PhaseName, string> = {
  main: "with the main process",
  none: "no main process (killed at its start)",
  restart: "new main spawned, until 3 s after it listens",
};

function ratio(value: number | null, floor: number | null): string {
  if (value === null || floor === null || !(floor > 0)) return "–";
  return `${(value / floor).toFixed(2)}×`;
}

/** The Markdown of the suite: per phase, baseline and crash side by side. */
/** The kernel's autogroup scheduling switch, as read now; null when it cannot be read. */
function autogroupSetting(): string | null {
  try {
    return Deno.readTextFileSync("/proc/sys/kernel/sched_autogroup_enabled").trim();
  } catch {
    return null;
  }
}

export function restartSection(suite: RestartSuite): string {
  const media = suite.media;
  const rounds = Math.max(0, ...media.runs.map((run) => run.round));
  const lines = [
    `- Atoll: \`${suite.atollCommand}\`; after the crash \`${suite.restartCommand}\``,
    `- publisher: \`${suite.senderCommand}\``,
    `- viewers: \`${suite.viewersCommand}\``,
    "- each main process, the publisher and the viewers' process in a session of its own " +
    `(\`setsid\`), as on separate hosts or services (bench/atoll.ts, \`startInOwnSession\`); ` +
    `kernel.sched_autogroup_enabled = ${suite.autogroup ?? "unknown"}`,
    "",
    `**Media**: ${media.connected}/${media.viewers} viewers of one ${media.mbps} Mbit/s ` +
    `publisher, ${rounds} round(s) of a baseline then a crash on the same peers (each crash's ` +
    "new main process is the next round's main). Per phase: the worst viewer of each round " +
    "(rounds separated by /), and the spread over every viewer and round:",
    "",
  ];
  const rows: string[][] = [];
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  for (const name of ["main", "none", "restart"] as const) {
    for (const kind of ["baseline", "crash"] as const) {
      const phases = media.runs.filter((run) => run.kind === kind)
        .map((run) => run.phases.find((phase) => phase.name === name))
        .filter((phase) => phase !== undefined);
      if (phases.length === 0) continue;
      const viewers = phases.flatMap((phase) => phase.viewers);
      const rates = viewers.map((v) => v.mbps);
      rows.push([
        PHASE_TITLES[name],
        kind,
        phases.map((phase) => (phase.durationMs / 1000).toFixed(1)).join(" / ") + " s",
        phases.map((phase) =>
          formatNumber(Math.max(...phase.viewers.map((v) => v.largestGapMs)), 0)
        )
          .join(" / "),
        `${formatNumber(Math.min(...rates), 2)}-${formatNumber(Math.max(...rates), 2)}`,
        String(Math.max(...viewers.map((v) => v.missing ?? 0))),
        formatNumber(Math.max(...viewers.map((v) => v.latencyMaxMs ?? NaN)), 0),
        formatNumber(mean(phases.map((phase) => phase.cpu.publisherChild)), 1),
        formatNumber(mean(phases.map((phase) => phase.cpu.viewerChildren)), 1),
      ]);
    }
  }
  const crashes = media.runs.filter((run) => run.kind === "crash");
  const baselines = media.runs.filter((run) => run.kind === "baseline");
  lines.push(
    markdownTable([
      "phase",
      "run",
      "length",
      "largest gap, ms (worst viewer per round)",
      "Mbit/s per viewer",
      "messages missing (worst viewer)",
      "latency max, ms",
      "publisher child CPU % (mean)",
      "viewer children CPU %, summed (mean)",
    ], rows),
    "",
    `Each new main process listened ${
      crashes.map((run) => formatNumber(run.listenMs, 0)).join(" / ")
    } ms after its spawn (the baselines' unrelated ones: ${
      baselines.map((run) => formatNumber(run.listenMs, 0)).join(" / ")
    } ms) and listed ${crashes.map((run) => run.adopted).join(" / ")} adopted connections (of ${
      1 + media.connected
    }); after the last round ` +
      `${media.viewersConnectedAtEnd}/${media.connected} viewers were still connected, and ` +
      `${media.leftBehind.length} children were left behind once the last main process stopped.`,
    "",
    "**Adoption** of N idle publishers (callers that send nothing), against a fresh main process " +
      "with no connection in the same round; times from the spawn of the main process:",
    "",
  );
  lines.push(markdownTable(
    [
      "N",
      "listening, ms (fresh)",
      "× fresh",
      "per connection, ms",
      "adoption lines, first-last ms",
      "all N listed, ms",
      "listed / callers connected",
      "Private_Dirty MB: new main (fresh, first main)",
      "pool gone / N sockets after kill, ms",
      "left behind",
    ],
    suite.adoption.map((r) => [
      String(r.connections),
      `${r.listenMs} (${r.freshListenMs})`,
      ratio(r.listenMs, r.freshListenMs),
      formatNumber((r.listenMs - r.freshListenMs) / r.connections, 2),
      `${r.adoptionLines}: ${formatNumber(r.firstAdoptedMs, 0)}-${
        formatNumber(r.lastAdoptedMs, 0)
      }`,
      formatNumber(r.allListedMs, 0),
      `${r.listed} / ${r.callersConnected}`,
      `${(r.adoptedPrivateDirtyKb / 1024).toFixed(1)} (${
        (r.freshPrivateDirtyKb / 1024).toFixed(1)
      }, ${(r.firstPrivateDirtyKb / 1024).toFixed(1)})`,
      `${formatNumber(r.poolGoneMs, 0)} / ${formatNumber(r.socketsReadyMs, 0)}`,
      String(r.leftBehind.length),
    ]),
  ));
  lines.push(
    "",
    "**Orphans' CPU**: the N connected children, summed, over windows of 3 s (schedstat); " +
      "wake-ups are voluntary context switches:",
    "",
    markdownTable(
      ["N", "with main: CPU %, wake-ups/s", "orphaned", "× with main", "adopted"],
      suite.adoption.map((r) => {
        const cell = (cpu: ChildrenCpu) =>
          `${cpu.cpuPercent.toFixed(2)}, ${cpu.wakeupsPerSecond.toFixed(0)}` +
          (cpu.exited > 0 ? ` (${cpu.exited} exited)` : "");
        return [
          String(r.connections),
          cell(r.cpu.withMain),
          cell(r.cpu.orphaned),
          ratio(r.cpu.orphaned.cpuPercent, r.cpu.withMain.cpuPercent),
          cell(r.cpu.adopted),
        ];
      }),
    ),
  );
  if (suite.upgrade !== undefined) lines.push("", upgradeSection(suite.upgrade));
  return lines.join("\n");
}

/** Target of part 4: the largest gap may exceed the same viewer's baseline by this much. */
const GAP_EXCESS_TARGET_MS = 50;
/** Target of part 4: the successor admits a new caller within this of the SIGUSR2. */
const ACCEPT_TARGET_MS = 1000;

/** The Markdown of part 4: per round, per viewer, and the targets. */
export function upgradeSection(suite: UpgradeSuite): string {
  const rounds = suite.rounds;
  const excess = (v: ViewerUpgrade) => v.upgrade.largestGapMs - v.baseline.largestGapMs;
  const perRound = (f: (r: UpgradeRound) => string) => rounds.map(f).join(" / ");
  const lines = [
    `- Atoll: \`${suite.atollCommand}\`, then \`kill -USR2\` to the main process of the moment`,
    "",
    `**Upgrades** under ${suite.connected}/${suite.viewers} viewers of one ${suite.mbps} Mbit/s ` +
    `publisher, ${rounds.length} in a row (each upgrades the previous successor). Each round: ` +
    `a quiet baseline window of ${UPGRADE_BASELINE_MS / 1000} s; a control window, from the ` +
    `spawn of an unrelated main process to ${AFTER_LISTEN_MS / 1000} s after it listens; the ` +
    `upgrade window, from the SIGUSR2 to ${AFTER_LISTEN_MS / 1000} s after the successor ` +
    "listens. A probing caller tries every 50 ms (500 ms connect timeout) from the SIGUSR2; " +
    "once the old main process has admitted one it waits for the hand-over line. Times from " +
    "the SIGUSR2:",
    "",
    markdownTable(
      [
        "round",
        "old main hands over, ms",
        "successor listening, ms",
        "first caller admitted by the successor, ms",
        "old main exited, ms",
        "tries: admitted by old / refused or timed out / still trying / by successor",
        "adopted",
        "messages lost (worst viewer)",
        "largest gap, ms: upgrade (baseline, control), worst viewer",
        "worst viewer's gap over its baseline, ms",
        "upgrade's largest gaps ended at, ms",
        "latency max, ms: upgrade (baseline), a delay in delivery adds to it",
      ],
      rounds.map((r) => {
        const failed = r.tries.filter((t) => t.connectedMs === null && t.state !== 0).length;
        const trying = r.tries.filter((t) => t.state === 0).length;
        const ends = r.viewers.map((v) => v.upgradeGapEndMs);
        const old = r.tries.filter((t) => t.by === "old").length;
        const by = r.tries.filter((t) => t.by === "successor").length;
        return [
          String(r.round),
          formatNumber(r.handingMs, 0),
          formatNumber(r.listenMs, 0),
          formatNumber(r.firstAcceptedMs, 0) + (r.firstAcceptedChecked ? "" : " (unchecked)"),
          formatNumber(r.oldExitMs, 0),
          `${old} / ${failed} / ${trying} / ${by}`,
          `${r.adopted}/${1 + suite.connected}`,
          String(Math.max(...r.viewers.map((v) => v.upgrade.missing ?? NaN))),
          `${formatNumber(Math.max(...r.viewers.map((v) => v.upgrade.largestGapMs)), 0)} (${
            formatNumber(Math.max(...r.viewers.map((v) => v.baseline.largestGapMs)), 0)
          }, ${formatNumber(Math.max(...r.viewers.map((v) => v.control.largestGapMs)), 0)})`,
          formatNumber(Math.max(...r.viewers.map(excess)), 0),
          `${formatNumber(Math.min(...ends), 0)}-${formatNumber(Math.max(...ends), 0)}`,
          `${formatNumber(Math.max(...r.viewers.map((v) => v.upgrade.latencyMaxMs ?? NaN)), 0)} (${
            formatNumber(Math.max(...r.viewers.map((v) => v.baseline.latencyMaxMs ?? NaN)), 0)
          })`,
        ];
      }),
    ),
    "",
    "Per viewer, rounds separated by /:",
    "",
    markdownTable(
      [
        "viewer",
        "lost in the upgrade window",
        "largest gap in the upgrade window, ms",
        "baseline's largest gap, ms",
        "control's largest gap, ms",
        "over its baseline, ms",
        "missing over the whole run",
      ],
      Array.from({ length: suite.viewers }, (_, n) => [
        String(n + 1),
        perRound((r) => String(r.viewers[n]?.upgrade.missing ?? "–")),
        perRound((r) => formatNumber(r.viewers[n]?.upgrade.largestGapMs, 0)),
        perRound((r) => formatNumber(r.viewers[n]?.baseline.largestGapMs, 0)),
        perRound((r) => formatNumber(r.viewers[n]?.control.largestGapMs, 0)),
        perRound((r) => {
          const v = r.viewers[n];
          return v === undefined ? "–" : formatNumber(excess(v), 0);
        }),
        String(suite.missingOverRun[n] ?? "–"),
      ]),
    ),
    "",
  ];
  const all = rounds.flatMap((r) => r.viewers);
  const lost = Math.max(0, ...all.map((v) => v.upgrade.missing ?? Infinity));
  const worstExcess = Math.max(...all.map(excess));
  const worstAccept = Math.max(...rounds.map((r) => r.firstAcceptedMs ?? Infinity));
  const met = (ok: boolean) => ok ? "met" : "**not met**";
  lines.push(
    `Targets: messages lost ${lost} (target 0: ${met(lost === 0)}); worst gap over the same ` +
      `viewer's baseline ${formatNumber(worstExcess, 0)} ms (target ≤ ${GAP_EXCESS_TARGET_MS}: ${
        met(worstExcess <= GAP_EXCESS_TARGET_MS)
      }); first caller admitted by the successor after ${
        formatNumber(worstAccept, 0)
      } ms at worst (target ≤ ${ACCEPT_TARGET_MS}: ${met(worstAccept <= ACCEPT_TARGET_MS)}). ` +
      `After the last round ${suite.viewersConnectedAtEnd}/${suite.connected} viewers were still ` +
      `connected; ${suite.leftBehind.length} process(es) were left behind once the last successor ` +
      `stopped (SIGTERM), and ${suite.leftInTmp.length} of its temporary directories were left${
        suite.problems.length > 0 ? `; problems: ${suite.problems.join("; ")}` : ""
      }.`,
  );
  return lines.join("\n");
}

if (import.meta.main) Deno.exit(await recordViewers());
