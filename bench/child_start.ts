/**
 * Benchmark 6: what one child costs to start, from `spawn()` to its `ready`
 * line, in wall time and CPU, and its memory once idle; beside floors
 * measured in the same run, interleaved, with the same flags and
 * environment a child gets (`buildChildCommand()`):
 *
 * - `deno run` of a program that only says `ready` and waits on stdin;
 * - the same that first loads libsrt and calls `srt_startup()`;
 * - an Atoll child, spawned by `ChildHandle.spawn()` exactly as the main
 *   process spawns one, with its control socket pair;
 * - `main.ts __atoll_peer` from source: the module graph and code path a
 *   compiled binary's child runs (it cannot be compiled here);
 * - optionally another checkout's child (`--compare-worker`), for a before
 *   and after in one run.
 *
 * CPU is the process's CPU clock (every thread, `clock_gettime` on
 * `clock_getcpuclockid(pid)`, in ns): `/proc/PID/stat` counts in 10 ms
 * ticks, too coarse for a 10-30 ms start. It is read twice: when the ready
 * line arrives, and once the process has been idle for {@link SETTLE_MS}
 * (what starting it cost in all; work moved after `ready` still counts).
 *
 * @module
 */

import { ChildHandle } from "../src/server/child_handle.ts";
import {
  buildChildCommand,
  CHILD_RUN_FLAGS,
  type ChildCommand,
  childEnvironment,
} from "../src/server/child_command.ts";
import { LIBSRT_ENV, LIBSRT_NAMES } from "../ffi/libsrt.ts";
import { compiledChildArgs } from "../tests/support/atoll.ts";
import { type Memory, readMemory } from "../tests/support/procfs.ts";
import { sleep } from "../tests/support/wait.ts";
import { formatMb, formatNumber, markdownTable, percentile } from "./summary.ts";

/** How long a started process is left alone before its idle CPU and memory are read. */
export const SETTLE_MS = 400;
/** A process that has not said `ready` by then failed the run. */
const READY_TIMEOUT_MS = 10_000;

export type StartKind =
  | "deno-empty"
  | "deno-libsrt"
  | "atoll-child"
  | "atoll-compiled-path"
  | "atoll-child-compare";

export interface StartSample {
  /** `spawn()` to the ready line read by this process. */
  wallMs: number;
  /** The child's CPU when its ready line arrived. */
  readyCpuMs: number;
  /** The child's CPU {@link SETTLE_MS} after it said ready. */
  idleCpuMs: number;
  /** Once idle. */
  memory: Memory;
}

export interface StartRow {
  kind: StartKind;
  what: string;
  command: string;
  samples: StartSample[];
}

export interface ChildStartSuite {
  rounds: number;
  settleMs: number;
  rows: StartRow[];
}

export interface ChildStartOptions {
  rounds: number;
  /** workers/peer.ts of another checkout, measured beside this one's. */
  compareWorker?: string;
}

/** What a floor process runs: `ready` on stdout, then wait for stdin to close. */
const EMPTY_PROGRAM = `
Deno.stdout.writeSync(new TextEncoder().encode("ready\\n"));
await Deno.stdin.read(new Uint8Array(1));
`;

/** The same, after loading libsrt the way ffi/libsrt.ts finds it and starting it. */
function libsrtProgram(): string {
  const override = Deno.env.get(LIBSRT_ENV);
  const names = override ? [override] : [...LIBSRT_NAMES];
  return `
const symbols = { srt_startup: { parameters: [], result: "i32" } } as const;
let library: Deno.DynamicLibrary<typeof symbols> | undefined;
for (const name of ${JSON.stringify(names)}) {
  try {
    library = Deno.dlopen(name, symbols);
    break;
  } catch {
    // the next name
  }
}
if (library === undefined || library.symbols.srt_startup() < 0) Deno.exit(1);
${EMPTY_PROGRAM}`;
}

/** The CPU clock of another process (`clock_getcpuclockid()`): `(~pid << 3) | CPUCLOCK_SCHED`. */
const libc = Deno.dlopen(
  "libc.so.6",
  {
    clock_gettime: { parameters: ["i32", "buffer"], result: "i32" }, // (clockid_t, struct timespec*)
  } as const,
);

/** CPU time of every thread of `pid`, dead ones included, in ms. */
function processCpuMs(pid: number): number {
  const timespec = new BigInt64Array(2);
  if (libc.symbols.clock_gettime(((~pid) << 3) | 2, timespec) !== 0) {
    throw new Error(`Cannot read the CPU clock of process ${pid}`);
  }
  return Number(timespec[0]) * 1000 + Number(timespec[1]) / 1e6;
}

/** A way to start one process of a row, and to tell it to exit. */
interface Starter {
  kind: StartKind;
  what: string;
  command: string;
  /** Starts the process; resolves once it said ready, with its pid and how to end it. */
  start(): Promise<{ pid: number; startedAt: number; end: () => Promise<void> }>;
}

function shellWords(command: ChildCommand): string {
  return [command.command, ...command.args].join(" ");
}

/** A plain `deno run` of `file` with a child's flags and environment. */
function denoStarter(kind: StartKind, what: string, file: string): Starter {
  const command: ChildCommand = {
    command: Deno.execPath(),
    args: [...CHILD_RUN_FLAGS, file],
    env: childEnvironment(Deno.env.toObject()),
  };
  return {
    kind,
    what,
    command: shellWords(command),
    async start() {
      const startedAt = performance.now();
      const process = new Deno.Command(command.command, {
        args: command.args,
        env: command.env,
        clearEnv: true,
        stdin: "piped",
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const reader = process.stdout.getReader();
      const first = await withTimeout(reader.read(), `${what} to say ready`);
      if (first.done || !new TextDecoder().decode(first.value).startsWith("ready")) {
        throw new Error(`${what} exited before it said ready`);
      }
      return {
        pid: process.pid,
        startedAt,
        end: async () => {
          await process.stdin.close();
          reader.releaseLock();
          await process.stdout.cancel();
          await process.status;
        },
      };
    },
  };
}

/** An Atoll child started by `ChildHandle.spawn()`, as the main process starts one. */
function childStarter(
  kind: StartKind,
  what: string,
  makeCommand: (controlFd: number) => ChildCommand,
): Starter {
  return {
    kind,
    what,
    command: shellWords(makeCommand(3)),
    async start() {
      const startedAt = performance.now();
      const ready = Promise.withResolvers<void>();
      const output: string[] = [];
      const child = ChildHandle.spawn(makeCommand, {
        onMessage: (_child, message) => {
          if (message.type === "ready") ready.resolve();
        },
        onOutput: (_child, line) => output.push(line),
        onExit: (_child, status) =>
          ready.reject(new Error(`${what} exited (${status.code}): ${output.join("\n")}`)),
      });
      try {
        await withTimeout(ready.promise, `${what} to say ready`);
      } catch (error) {
        child.kill();
        await child.done;
        throw error;
      }
      return {
        pid: child.pid,
        startedAt,
        end: async () => {
          child.requestShutdown();
          await child.done;
        },
      };
    },
  };
}

async function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out waiting for ${what}`)), READY_TIMEOUT_MS);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function measure(starter: Starter): Promise<StartSample> {
  const { pid, startedAt, end } = await starter.start();
  try {
    const wallMs = performance.now() - startedAt;
    const readyCpuMs = processCpuMs(pid);
    await sleep(SETTLE_MS);
    return { wallMs, readyCpuMs, idleCpuMs: processCpuMs(pid), memory: readMemory(pid) };
  } finally {
    await end();
  }
}

const ROOT = new URL("../", import.meta.url);

function starters(directory: string, options: ChildStartOptions): Starter[] {
  const env = Deno.env.toObject();
  const atoll = (workerUrl: URL) => (controlFd: number) =>
    buildChildCommand(
      { execPath: Deno.execPath(), standalone: false, workerUrl, env },
      ["--control-fd", String(controlFd)],
    );
  const list = [
    denoStarter("deno-empty", "`deno run` of an empty program", `${directory}/empty.ts`),
    denoStarter("deno-libsrt", "`deno run` that loads libsrt", `${directory}/libsrt.ts`),
    childStarter("atoll-child", "Atoll child", atoll(new URL("workers/peer.ts", ROOT))),
    childStarter(
      "atoll-compiled-path",
      "Atoll child through `main.ts __atoll_peer` (the compiled binary's path, from source)",
      (controlFd) => {
        // What a compiled binary runs (`atoll __atoll_peer …`, with the -A it was compiled with),
        // from source: deno.json is read, as a compiled binary has it built in.
        const child = atoll(new URL("workers/peer.ts", ROOT))(controlFd);
        return { ...child, args: compiledChildArgs(controlFd) };
      },
    ),
  ];
  if (options.compareWorker !== undefined) {
    const url = new URL(`file://${Deno.realPathSync(options.compareWorker)}`);
    list.push(childStarter("atoll-child-compare", `Atoll child of ${url.pathname}`, atoll(url)));
  }
  return list;
}

/**
 * Runs every starter `rounds` times, interleaved (each round in a rotated
 * order), after one round that is not counted (it fills Deno's caches).
 */
export async function benchChildStart(
  options: ChildStartOptions,
  progress: (line: string) => void,
): Promise<ChildStartSuite> {
  const directory = await Deno.makeTempDir({ prefix: "atoll-bench-start-" });
  try {
    await Deno.writeTextFile(`${directory}/empty.ts`, EMPTY_PROGRAM);
    await Deno.writeTextFile(`${directory}/libsrt.ts`, libsrtProgram());
    const list = starters(directory, options);
    const rows: StartRow[] = list.map((starter) => ({
      kind: starter.kind,
      what: starter.what,
      command: starter.command,
      samples: [],
    }));
    for (let round = -1; round < options.rounds; round++) {
      for (let i = 0; i < list.length; i++) {
        const index = (i + Math.max(round, 0)) % list.length;
        const sample = await measure(list[index]!);
        if (round >= 0) rows[index]!.samples.push(sample);
      }
      if ((round + 1) % 10 === 0) progress(`child start: ${round + 1}/${options.rounds} rounds`);
    }
    return { rounds: options.rounds, settleMs: SETTLE_MS, rows };
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
}

const median = (values: number[]) => percentile(values, 50);

/** The median of one figure over a row's samples. */
function medianOf(row: StartRow | undefined, pick: (sample: StartSample) => number): number {
  return row === undefined ? NaN : median(row.samples.map(pick));
}

/** Start CPU of an Atoll child, at most this many times a bare Deno's (the target). */
export const CHILD_START_CPU_TARGET = 1.5;

export function childStartSection(suite: ChildStartSuite): string {
  const floor = suite.rows.find((row) => row.kind === "deno-empty");
  const libsrtFloor = suite.rows.find((row) => row.kind === "deno-libsrt");
  const ratio = (value: number, base: number) =>
    Number.isFinite(value) && base > 0 ? `${(value / base).toFixed(2)}×` : "–";
  const idle = (row: StartRow | undefined) => medianOf(row, (sample) => sample.idleCpuMs);
  const rows = suite.rows.map((row) => [
    row.what,
    String(row.samples.length),
    formatNumber(medianOf(row, (sample) => sample.wallMs), 1),
    formatNumber(medianOf(row, (sample) => sample.readyCpuMs), 1),
    formatNumber(idle(row), 1),
    ratio(idle(row), idle(floor)),
    ratio(idle(row), idle(libsrtFloor)),
    formatMb(medianOf(row, (sample) => sample.memory.privateDirtyKb)),
    formatMb(medianOf(row, (sample) => sample.memory.pssKb)),
    formatMb(medianOf(row, (sample) => sample.memory.rssKb)),
  ]);
  const child = suite.rows.find((row) => row.kind === "atoll-child");
  const childRatio = idle(child) / idle(floor);
  return [
    markdownTable([
      "process",
      "samples",
      "wall to ready ms",
      "CPU at ready ms",
      `CPU ${suite.settleMs} ms after ready ms`,
      "CPU / bare Deno",
      "CPU / Deno + libsrt",
      "Private_Dirty MB",
      "Pss MB",
      "Rss MB",
    ], rows),
    "",
    `Medians of ${suite.rounds} interleaved rounds. CPU: every thread of the process ` +
    "(its CPU clock); the ratios compare the CPU once idle, which counts work done after " +
    "`ready` too. Memory: `smaps_rollup` once idle.",
    "",
    markdownTable(["target", "wanted", "measured", "verdict"], [[
      "Atoll child start CPU (until idle)",
      `≤ ${CHILD_START_CPU_TARGET}× bare Deno`,
      ratio(idle(child), idle(floor)),
      Number.isFinite(childRatio)
        ? (childRatio <= CHILD_START_CPU_TARGET ? "met" : "**not met**")
        : "–",
    ]]),
  ].join("\n");
}
