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

import { parseArgs } from "node:util";
import { libsrt, SRT_EPOLL_ERR, SRT_EPOLL_IN, SRT_EPOLL_OUT, SrtState } from "../ffi/libsrt.ts";
import { Atoll } from "../tests/support/atoll.ts";
import { ManagedProcess } from "../tests/support/process.ts";
import { isAlive, readMemory } from "../tests/support/procfs.ts";
import { sleep, waitFor } from "../tests/support/wait.ts";
import { startAtoll, STOP_GRACE_MS } from "./atoll.ts";
import { type CallerGroup, connectGroup, countConnected } from "./callers.ts";
import { readStamp, sharedClockMs } from "./sender.ts";
import {
  closeSocket,
  connectAsync,
  createCaller,
  EpollSet,
  messageControl,
  socketState,
  startSrt,
} from "./srt.ts";
import { ffmpegArgs } from "./streams.ts";
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
  for (;;) {
    const length = srt.srt_recvmsg2(viewer.socket, buffer, buffer.byteLength, messageControl);
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
  const atoll = await Atoll.start(args, { logLevel: "info", startTimeoutMs: 30_000 });
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

/** Makes the test stream in `dir` with ffmpeg (bounded to a minute). */
async function makeStream(dir: string, mbps: number): Promise<string> {
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

async function benchMedia(
  options: RestartOptions,
  progress: (line: string) => void,
): Promise<MediaSuite> {
  const dir = await Deno.makeTempDir({ prefix: "atoll_bench_restart_" });
  const removeDir = () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // Already gone.
    }
  };
  globalThis.addEventListener("unload", removeDir);
  const started: ManagedProcess[] = [];
  const mains: Atoll[] = [];
  try {
    const file = await makeStream(dir, options.mbps);
    const first = await startAtoll(RESTART_ARGS);
    mains.push(first);
    const sender = ManagedProcess.start("sender", Deno.execPath(), [
      ...["run", "-A", SENDER, "--port", String(first.srtPort), "--mbps", String(options.mbps)],
      ...["--seconds", String(LIFETIME_SECONDS), "--file", file],
      ...["--stream-id", `publish:${STREAM}`],
    ]);
    started.push(sender);
    await sender.waitForLine("connected line", (line) => line.includes('"connected"'), 15_000);
    const output = `${dir}/viewers.json`;
    const viewers = ManagedProcess.start("viewers", Deno.execPath(), [
      ...["run", "-A", SELF, "--port", String(first.srtPort), "--count", String(options.viewers)],
      ...["--stream-id", `play:${STREAM}`, "--output", output],
    ]);
    started.push(viewers);
    const connectedLine = await viewers.waitForLine(
      "connected line",
      (line) => line.startsWith('{"type":"connected"'),
      20_000,
    );
    const connected = Number(JSON.parse(connectedLine).connected);
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

    await viewers.stop(10_000);
    const done = viewers.lines.find((line) => line.startsWith('{"type":"done"'));
    const viewersConnectedAtEnd = done === undefined ? 0 : Number(JSON.parse(done).connected);
    await sender.stop(5000);
    const senderDone = sender.lines.find((line) => line.includes('"type":"done"'));
    const recorded = JSON.parse(await Deno.readTextFile(output)) as RecordedMessages;
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
  return {
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
export function restartSection(suite: RestartSuite): string {
  const media = suite.media;
  const rounds = Math.max(0, ...media.runs.map((run) => run.round));
  const lines = [
    `- Atoll: \`${suite.atollCommand}\`; after the crash \`${suite.restartCommand}\``,
    `- publisher: \`${suite.senderCommand}\``,
    `- viewers: \`${suite.viewersCommand}\``,
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
  return lines.join("\n");
}

if (import.meta.main) Deno.exit(await recordViewers());
