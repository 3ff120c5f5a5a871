/**
 * Atoll under test: `deno run -A main.ts` on free loopback ports, its HTTP
 * API, and its children as /proc sees them.
 *
 * @module
 */

import type { ConnectionInfo } from "../src/server/api_types.ts";
import { childrenOf, commandLine, isAlive, isWaitingForPeer } from "./procfs.ts";
import { ManagedProcess, waitUntil } from "./processes.ts";

export type { ConnectionInfo };

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** What the bench reads of `GET /api/stats`. */
export interface AtollStats {
  fastHandshake: boolean;
  idleChildren: number;
  connections: number;
  childrenStarted: number;
  childrenCrashed: number;
  connectionsAccepted: number;
  dropped: Record<string, number>;
  connectionsClosed: Record<string, number>;
}

/** Every child pid any Atoll of this run had, to be sure none outlives the bench. */
const seenChildren = new Set<number>();

export class Atoll {
  readonly args: string[];
  readonly process: ManagedProcess;
  readonly srtPort: number;
  readonly httpPort: number;
  readonly poolSize: number;

  private constructor(args: string[], process: ManagedProcess, srt: number, http: number) {
    this.args = args;
    this.process = process;
    this.srtPort = srt;
    this.httpPort = http;
    const poolIndex = args.indexOf("--pool-size");
    this.poolSize = poolIndex >= 0 ? Number(args[poolIndex + 1]) : 2;
  }

  /** Starts Atoll with `args` after the loopback, port-0 and JSON-log defaults. */
  static async start(args: string[] = []): Promise<Atoll> {
    const process = ManagedProcess.start("atoll", Deno.execPath(), [
      "run",
      "-A",
      MAIN,
      "--srt-listen",
      "127.0.0.1:0",
      "--http-listen",
      "127.0.0.1:0",
      "--log-format",
      "json",
      "--log-level",
      "info",
      ...args,
    ]);
    try {
      const line = await process.waitForLine(
        "listening log line",
        (line) => line.includes('"srt":') && line.includes('"http":'),
        30_000,
      );
      const { properties } = JSON.parse(line) as { properties: { srt: string; http: string } };
      const port = (hostPort: string) => Number(hostPort.split(":").at(-1));
      const atoll = new Atoll(args, process, port(properties.srt), port(properties.http));
      await atoll.waitForIdleChildren();
      return atoll;
    } catch (error) {
      await process.stop();
      throw error;
    }
  }

  get pid(): number {
    return this.process.pid;
  }

  /** The command line, as BENCHMARKS.md quotes it. */
  get commandLine(): string {
    return ["deno run -A main.ts --srt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0", ...this.args]
      .join(" ");
  }

  async api<T>(path: string): Promise<T> {
    const response = await fetch(`http://127.0.0.1:${this.httpPort}${path}`);
    if (!response.ok) throw new Error(`GET ${path}: ${response.status} ${await response.text()}`);
    return await response.json() as T;
  }

  connections(): Promise<ConnectionInfo[]> {
    return this.api<ConnectionInfo[]>("/api/connections");
  }

  stats(): Promise<AtollStats> {
    return this.api<AtollStats>("/api/stats");
  }

  /** Pids of the main process's children (idle and connected). */
  childPids(): number[] {
    const pids = childrenOf(this.pid);
    for (const pid of pids) seenChildren.add(pid);
    return pids;
  }

  /** Children that serve no connection: the prestarted pool. */
  async idleChildPids(): Promise<number[]> {
    const busy = new Set((await this.connections()).map((connection) => connection.pid));
    return this.childPids().filter((pid) => !busy.has(pid));
  }

  /**
   * Waits until the pool is full of children that have really started.
   * `idleChildren` in /api/stats counts a child once it has said `ready`,
   * just before it starts waiting; the bench also checks that each one
   * waits in `recvmsg` for its peer. Also waits for closing connections to
   * be gone.
   */
  async waitForIdleChildren(timeoutMs = 15_000): Promise<void> {
    await waitUntil("a full pool of started children and no connections", async () => {
      const stats = await this.stats();
      if (stats.idleChildren !== this.poolSize || stats.connections !== 0) return false;
      const children = this.childPids();
      return children.length === this.poolSize && children.every(isWaitingForPeer);
    }, timeoutMs);
  }

  /** SIGTERM, then SIGKILL after the deadline; children left behind are killed too. */
  async stop(graceMs = 12_000): Promise<Deno.CommandStatus> {
    this.childPids();
    const status = await this.process.stop(graceMs);
    await killLeftoverChildren();
    return status;
  }
}

/**
 * SIGKILLs any child of an Atoll of this run still alive (only after its
 * main process has been stopped): the last resort if a child hangs.
 */
export async function killLeftoverChildren(): Promise<number> {
  let killed = 0;
  for (const pid of seenChildren) {
    if (!isAlive(pid)) {
      seenChildren.delete(pid);
      continue;
    }
    // The pid may have been reused by now: only kill what is still a peer child.
    if (!commandLine(pid).includes("workers/peer.ts")) continue;
    await waitUntil(`child ${pid} to exit`, () => !isAlive(pid), 2000).catch(() => {
      Deno.kill(pid, "SIGKILL");
      killed++;
    });
    seenChildren.delete(pid);
  }
  return killed;
}
