/**
 * Atoll under test: `deno run -A main.ts` in its own process on free
 * loopback ports, its JSON log lines, its HTTP API (typed by
 * src/server/api_types.ts), and its children as /proc sees them.
 *
 * @module
 */

import { Inspector, INSPECTOR_LINE } from "./inspector.ts";
import type { ConnectionInfo, ServerStats, StreamInfo } from "../../src/server/api_types.ts";
import { CHILD_SUBCOMMAND } from "../../src/server/child_command.ts";
import { ManagedProcess } from "./process.ts";
import { childrenOf, commandLine, isAlive, isWaitingForPeer } from "./procfs.ts";
import { waitFor } from "./wait.ts";

/** Atoll's entry point. */
export const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/**
 * `deno run` arguments that start a child the way a compiled binary does
 * (`atoll __atoll_peer --control-fd N`, compiled with -A and the config
 * built in), from source: `deno compile` cannot run here.
 */
export function compiledChildArgs(controlFd: number): string[] {
  return [
    "run",
    "--no-lock",
    "--no-prompt",
    "--quiet",
    "--allow-all",
    "--config",
    new URL("../../deno.json", import.meta.url).pathname,
    MAIN,
    CHILD_SUBCOMMAND,
    "--control-fd",
    String(controlFd),
  ];
}

/** Listen for SRT, HTTP and HTTP media on free loopback ports. */
export const LOOPBACK_ARGS: readonly string[] = [
  "--srt-listen",
  "127.0.0.1:0",
  "--http-listen",
  "127.0.0.1:0",
  "--media-listen",
  "127.0.0.1:0",
];

/** The entry of the media output process run from source, as its command line shows it. */
export const OUTPUT_WORKER = "workers/output.ts";
/** A recorder process's worker, as its command line names it. */
export const RECORDER_WORKER = "workers/recorder.ts";

/** One line of Atoll's `--log-format json` output. */
export interface LogLine {
  level: string;
  message: string;
  properties: Record<string, unknown>;
}

/** A JSON log line's record; undefined for any other line (e.g. `--help` output). */
export function parseLogLine(line: string): LogLine | undefined {
  try {
    const record = JSON.parse(line);
    return { level: record.level, message: record.message, properties: record.properties ?? {} };
  } catch {
    return undefined;
  }
}

/** Whether `line` is the startup line, which names the bound SRT and HTTP addresses. */
export function isStartupLine(line: LogLine | undefined): line is LogLine {
  return line !== undefined && "srt" in line.properties && "http" in line.properties;
}

/** How {@link Atoll.start} runs Atoll. */
export interface AtollOptions {
  /** Added to the environment. */
  env?: Record<string, string>;
  /** `--log-level` (default `debug`). */
  logLevel?: string;
  /** How long Atoll may take to listen (default 20 s). */
  startTimeoutMs?: number;
  /**
   * Also wait until the prestarted pool is full of children that wait for a
   * peer, and no connection is left (see {@link Atoll.waitForIdleChildren}).
   */
  readyPool?: boolean;
  /**
   * Start Atoll the way a shell starts a foreground job, as the leader of a
   * process group of its own (`setsid`: its pid is the group's id), so a test
   * can signal the whole group as a terminal's Ctrl-C does.
   */
  ownProcessGroup?: boolean;
  /**
   * A command that runs `deno` in its own place (it must exec it, so the
   * process is Atoll's), such as `["prlimit", "--nofile=80:80", "--"]`.
   */
  wrapper?: string[];
  /**
   * Start the main process with `--inspect=127.0.0.1:0`, so that
   * {@link Atoll.liveHeapBytes} can collect its garbage and weigh its heap.
   */
  inspect?: boolean;
  /** The `main.ts` to run: another checkout's, say; this one's by default. */
  main?: string;
}

/** Every child pid any Atoll of this process had, so that none outlives it. */
const seenChildren = new Set<number>();

/** Atoll as `deno run -A main.ts`, with JSON logs, on free loopback ports. */
export class Atoll implements AsyncDisposable {
  /** The arguments given to {@link Atoll.start}, after the defaults. */
  readonly args: string[];
  readonly process: ManagedProcess;
  srtPort = 0;
  httpPort = 0;
  /** The HTTP media port; 0 when Atoll runs without (`--media-listen off`). */
  mediaPort = 0;
  /** `--pool-size`, or Atoll's default of 2. */
  readonly poolSize: number;
  /** Its state directory (`--state-dir`): a temporary one of its own unless `args` name one. */
  readonly stateDir: string;
  /** Its children seen so far (by {@link childPids}), for {@link stop} to clean up after. */
  #children = new Set<number>();
  /** The temporary state directory made for it, removed once it has stopped. */
  #ownStateDir: string | undefined;
  #logs: LogLine[] = [];
  /** How many of the process's lines {@link logs} has read. */
  #linesRead = 0;

  private constructor(args: string[], options: AtollOptions) {
    this.args = args;
    const given = args.indexOf("--state-dir");
    if (given >= 0) this.stateDir = args[given + 1]!;
    else {
      this.#ownStateDir = Deno.makeTempDirSync({ prefix: "atoll_state_" });
      this.stateDir = this.#ownStateDir;
    }
    const poolIndex = args.indexOf("--pool-size");
    this.poolSize = poolIndex >= 0 ? Number(args[poolIndex + 1]) : 2;
    const deno = [
      ...(options.ownProcessGroup ? ["setsid"] : []),
      ...(options.wrapper ?? []),
      Deno.execPath(),
    ];
    this.process = ManagedProcess.start("atoll", deno[0]!, [
      ...deno.slice(1),
      "run",
      "-A",
      ...(options.inspect ? ["--inspect=127.0.0.1:0"] : []),
      options.main ?? MAIN,
      ...LOOPBACK_ARGS,
      ...(this.#ownStateDir === undefined ? [] : ["--state-dir", this.#ownStateDir]),
      "--log-format",
      "json",
      "--log-level",
      options.logLevel ?? "debug",
      ...args,
    ], options.env === undefined ? {} : { env: options.env });
  }

  /** Starts Atoll with `args` after the loopback and JSON-log defaults, and waits until it listens. */
  static async start(args: string[] = [], options: AtollOptions = {}): Promise<Atoll> {
    const atoll = new Atoll(args, options);
    try {
      const line = await atoll.process.waitForLine(
        "listening log line",
        (line) => isStartupLine(parseLogLine(line)),
        options.startTimeoutMs ?? 20_000,
      );
      const { properties } = parseLogLine(line)!;
      atoll.srtPort = Number(String(properties.srt).split(":").at(-1));
      atoll.httpPort = Number(String(properties.http).split(":").at(-1));
      // "off", or HOST:PORT.
      atoll.mediaPort = Number(String(properties.media).split(":").at(-1)) || 0;
      // Ready to serve: the HTTP API answers (main.ts listens for signals
      // from before the server starts).
      await (await fetch(`http://127.0.0.1:${atoll.httpPort}/healthz`)).body?.cancel();
      if (options.readyPool) await atoll.waitForIdleChildren();
    } catch (error) {
      await atoll.stop();
      throw error;
    }
    return atoll;
  }

  get pid(): number {
    return this.process.pid;
  }

  /**
   * The main process's JavaScript heap in use after a full garbage
   * collection, in bytes: what it holds, not what it has yet to collect.
   * Needs {@link AtollOptions.inspect}.
   */
  async liveHeapBytes(): Promise<number> {
    const line = this.output.find((l) => INSPECTOR_LINE.test(l));
    if (line === undefined) throw new Error("Atoll was not started with { inspect: true }");
    using inspector = await Inspector.connect(INSPECTOR_LINE.exec(line)![1]!);
    return await inspector.liveHeapBytes();
  }

  /** Every line Atoll wrote, log or not. */
  get output(): string[] {
    return this.process.lines;
  }

  /** The command line, as BENCHMARKS.md quotes it. */
  get commandLine(): string {
    return ["deno run -A main.ts", ...LOOPBACK_ARGS, ...this.args].join(" ");
  }

  /** Every JSON log line so far (parsed when asked for, so a bench run pays nothing). */
  get logs(): LogLine[] {
    const lines = this.process.lines;
    for (; this.#linesRead < lines.length; this.#linesRead++) {
      const log = parseLogLine(lines[this.#linesRead]!);
      if (log !== undefined) this.#logs.push(log);
    }
    return this.#logs;
  }

  findLog(match: (line: LogLine) => boolean): LogLine | undefined {
    return this.logs.find(match);
  }

  /** The first log line (already written or to come) that `match` accepts. */
  async waitForLog(
    what: string,
    match: (line: LogLine) => boolean,
    timeoutMs: number,
  ): Promise<LogLine> {
    const line = await this.process.waitForLine(what, (line) => {
      const log = parseLogLine(line);
      return log !== undefined && match(log);
    }, timeoutMs);
    return parseLogLine(line)!;
  }

  /** `GET path` on the HTTP API, as JSON. */
  async api<T>(path: string): Promise<T> {
    const response = await fetch(`http://127.0.0.1:${this.httpPort}${path}`);
    if (!response.ok) throw new Error(`GET ${path}: ${response.status} ${await response.text()}`);
    return await response.json() as T;
  }

  connections(): Promise<ConnectionInfo[]> {
    return this.api<ConnectionInfo[]>("/api/connections");
  }

  streams(): Promise<StreamInfo[]> {
    return this.api<StreamInfo[]>("/api/streams");
  }

  stats(): Promise<ServerStats> {
    return this.api<ServerStats>("/api/stats");
  }

  /** Pids of the main process's SRT children (idle and connected): not the media output process. */
  childPids(): number[] {
    const pids = childrenOf(this.pid);
    for (const pid of pids) {
      seenChildren.add(pid);
      this.#children.add(pid);
    }
    return pids.filter((pid) => !isOutputProcess(pid) && !isRecorderProcess(pid));
  }

  /** Pids of the recorder processes running now. */
  recorderPids(): number[] {
    this.childPids(); // remembered, so that stop() cleans up after them
    return childrenOf(this.pid).filter((pid) => isRecorderProcess(pid) && isAlive(pid));
  }

  /** The pid of the media output process, if one runs now. */
  outputPid(): number | undefined {
    this.childPids(); // remembered, so that stop() cleans up after it
    return childrenOf(this.pid).find((pid) => isOutputProcess(pid) && isAlive(pid));
  }

  /** `GET path` on the media port: the response, whose body the caller reads or cancels. */
  media(path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(`http://127.0.0.1:${this.mediaPort}${path}`, init);
  }

  /** Children that serve no connection: the prestarted pool. */
  async idleChildPids(): Promise<number[]> {
    const busy = new Set((await this.connections()).map((connection) => connection.pid));
    return this.childPids().filter((pid) => !busy.has(pid));
  }

  /**
   * Waits until the pool is full of children that have really started.
   * `idleChildren` in /api/stats counts a child once it has said `ready`,
   * just before it starts waiting; this also checks that each one waits in
   * `recvmsg` for its peer. Also waits for closing connections to be gone.
   */
  async waitForIdleChildren(timeoutMs = 15_000): Promise<void> {
    await waitFor("a full pool of started children and no connections", async () => {
      // The pool's floor: --pool-size, or more for a while after callers had to wait.
      const stats = await this.stats();
      const full = stats.poolFloor;
      if (stats.idleChildren !== full || stats.connections !== 0) return false;
      const children = this.childPids();
      return children.length === full && children.every(isWaitingForPeer);
    }, { timeoutMs, intervalMs: 20 });
  }

  signal(signal: Deno.Signal): void {
    this.process.signal(signal);
  }

  /** SIGKILL. */
  kill(): void {
    this.process.kill();
  }

  /** Waits for Atoll to exit by itself, killing it after `timeoutMs`. */
  exit(timeoutMs = 15_000): Promise<Deno.CommandStatus> {
    return this.process.exit(timeoutMs);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; children left behind are killed too. */
  async stop(graceMs = 15_000): Promise<Deno.CommandStatus> {
    this.childPids();
    const status = await this.process.stop(graceMs);
    // Its own children only: another Atoll of this process may be running.
    await killLeftoverChildren(this.#children);
    if (this.#ownStateDir !== undefined) {
      await Deno.remove(this.#ownStateDir, { recursive: true }).catch(() => {});
    }
    return status;
  }

  /** {@link stop}: the way every test ends. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/**
 * SIGKILLs any child of an Atoll of this process still alive (only after its
 * main process has been stopped; by default of every Atoll, else those in
 * `pids`), after 2 s to exit by itself: the last resort if a child hangs,
 * or an orphan a test left behind. Returns how many it killed.
 */
export async function killLeftoverChildren(pids: Set<number> = seenChildren): Promise<number> {
  let killed = 0;
  for (const pid of pids) {
    if (!isAlive(pid)) {
      seenChildren.delete(pid);
      pids.delete(pid);
      continue;
    }
    // The pid may have been reused by now: only kill what is still a child of Atoll.
    const command = commandLine(pid);
    if (
      !command.includes("workers/peer.ts") && !command.includes(OUTPUT_WORKER) &&
      !command.includes(RECORDER_WORKER)
    ) continue;
    await waitFor(`child ${pid} to exit`, () => !isAlive(pid), { timeoutMs: 2000, intervalMs: 20 })
      .catch(() => {
        Deno.kill(pid, "SIGKILL");
        killed++;
      });
    seenChildren.delete(pid);
    pids.delete(pid);
  }
  return killed;
}

/** Whether `pid` is a recorder process run from source. */
function isRecorderProcess(pid: number): boolean {
  return commandLine(pid).includes(RECORDER_WORKER);
}

/** Whether `pid` is a media output process run from source. */
function isOutputProcess(pid: number): boolean {
  return commandLine(pid).includes(OUTPUT_WORKER);
}

/** Atoll started with `--config` on a YAML file written for the test; the file goes on dispose. */
export async function startWithConfig(
  yaml: string,
  args: string[] = [],
  options: AtollOptions = {},
): Promise<Atoll> {
  const path = await Deno.makeTempFile({ prefix: "atoll_config_", suffix: ".yaml" });
  await Deno.writeTextFile(path, yaml);
  try {
    const atoll = await Atoll.start(["--config", path, ...args], options);
    const dispose = atoll[Symbol.asyncDispose].bind(atoll);
    return Object.assign(atoll, {
      [Symbol.asyncDispose]: async () => {
        await dispose();
        await Deno.remove(path);
      },
    });
  } catch (error) {
    await Deno.remove(path);
    throw error;
  }
}

/** The connection publishing `stream` once it has received media (waits up to 15 s). */
export async function publisherOf(atoll: Atoll, stream: string): Promise<ConnectionInfo> {
  return await waitFor(
    `a publisher of ${stream} sending`,
    async () =>
      (await atoll.connections()).find((c) =>
        c.stream === stream && c.mode === "publish" && c.bytesReceived > 0
      ),
    { timeoutMs: 15_000 },
  );
}
