/**
 * Benchmark 4: many simultaneous async callers against one Atoll, all to be
 * connected and still alive 5 s later, on both sides; with the memory all
 * their children take.
 *
 * @module
 */

import type { Atoll } from "../tests/support/atoll.ts";
import { type Memory, readMemory } from "../tests/support/procfs.ts";
import { sleep } from "../tests/support/wait.ts";
import { startAtoll, STOP_GRACE_MS } from "./atoll.ts";
import { connectSimultaneous, countConnected } from "./callers.ts";
import { droppedBetween } from "./connect_time.ts";
import { type Distribution, distribution } from "./summary.ts";

/** Atoll's defaults refuse 200 callers from one IP at once: raised for this run only. */
export const MANY_CALLERS_ARGS = [
  "--max-handshakes",
  "400",
  "--max-new-connections-per-ip",
  "1000",
  "--max-connections-per-ip",
  "1000",
];

const ALIVE_CHECK_MS = 5000;

export interface ManyRun {
  callers: number;
  connectTimeoutMs: number;
  /** Callers that reached CONNECTED. */
  connected: number;
  /** From the first `srt_connect` to the last caller connected or given up. */
  allDoneMs: number;
  connectMs: Distribution;
  /**
   * The same span as Atoll saw it, from the first connection's start to the
   * last one connected (its `startedAt` and `connectedAt`, ms resolution):
   * with hundreds of children starting on two cores the bench's own thread
   * is starved too, so its clock reads late.
   */
  serverSpanMs: number | null;
  /** 5 s later: callers still CONNECTED on their side. */
  aliveCallers: number;
  /** 5 s later: /api/connections entries in state "connected", and "handshaking". */
  apiConnected: number;
  apiHandshaking: number;
  /** Children of the main process 5 s later (connections and the idle pool). */
  children: number;
  /** Sums over the children serving a connection, in kB. */
  connectionChildren: { count: number; privateDirtyKb: number; pssKb: number; rssKb: number };
  /** Largest and smallest Private_Dirty of one connection's child, in kB. */
  privateDirtyRangeKb: [number, number];
  /** Sums over every child of the main process (idle pool included). */
  allChildren: { count: number; privateDirtyKb: number; pssKb: number };
  main: Memory;
  /** Datagrams Atoll's main process dropped during the run, by reason (see its /api/stats). */
  dropped: Record<string, number>;
  childrenStarted: number;
}

export interface ManySuite {
  command: string;
  runs: ManyRun[];
}

export interface ManyOptions {
  callers: number;
  /** One run per connect timeout (ms): a patient caller, and libsrt's default 3 s. */
  connectTimeouts: number[];
}

function memorySum(pids: number[]) {
  let privateDirtyKb = 0, pssKb = 0, rssKb = 0;
  const each: number[] = [];
  for (const pid of pids) {
    try {
      const memory = readMemory(pid);
      privateDirtyKb += memory.privateDirtyKb;
      pssKb += memory.pssKb;
      rssKb += memory.rssKb;
      each.push(memory.privateDirtyKb);
    } catch {
      // Exited meanwhile.
    }
  }
  return { count: each.length, privateDirtyKb, pssKb, rssKb, each };
}

async function runOnce(
  atoll: Atoll,
  callers: number,
  connectTimeoutMs: number,
): Promise<ManyRun> {
  await atoll.waitForIdleChildren(60_000);
  await sleep(1100);
  const before = await atoll.stats();
  const group = await connectSimultaneous(atoll.srtPort, callers, {
    kind: "async",
    prefix: `publish:bench/many-${connectTimeoutMs}-`,
    connectTimeoutMs,
  });
  try {
    const connected = group.results.flatMap((r) => r.connectMs === null ? [] : [r.connectMs]);
    await sleep(ALIVE_CHECK_MS);
    const aliveCallers = countConnected(group.sockets);
    const connections = await atoll.connections();
    const children = atoll.childPids();
    const busy = memorySum(connections.map((c) => c.pid));
    const all = memorySum(children);
    const main = readMemory(atoll.pid);
    const after = await atoll.stats();
    const dropped = droppedBetween(before, after);
    const up = connections.filter((c) => c.connectedAt !== null);
    const serverSpanMs = up.length === 0 ? null : Math.max(
      ...up.map((c) => Date.parse(c.connectedAt!)),
    ) - Math.min(...connections.map((c) => Date.parse(c.startedAt)));
    return {
      callers,
      connectTimeoutMs,
      connected: connected.length,
      allDoneMs: group.allDoneMs,
      connectMs: distribution(connected),
      serverSpanMs,
      aliveCallers,
      apiConnected: connections.filter((c) => c.state === "connected").length,
      apiHandshaking: connections.filter((c) => c.state === "handshaking").length,
      children: children.length,
      connectionChildren: {
        count: busy.count,
        privateDirtyKb: busy.privateDirtyKb,
        pssKb: busy.pssKb,
        rssKb: busy.rssKb,
      },
      privateDirtyRangeKb: [Math.max(...busy.each), Math.min(...busy.each)],
      allChildren: { count: all.count, privateDirtyKb: all.privateDirtyKb, pssKb: all.pssKb },
      main,
      dropped,
      childrenStarted: after.childrenStarted - before.childrenStarted,
    };
  } finally {
    group.close();
  }
}

export function describeManyRun(run: ManyRun): string {
  return `${run.callers} callers (connect timeout ${run.connectTimeoutMs} ms): ` +
    `${run.connected} connected in ${
      run.allDoneMs.toFixed(0)
    } ms, ${run.aliveCallers} alive after 5 s, ` +
    `API ${run.apiConnected} connected + ${run.apiHandshaking} handshaking, children ` +
    `${(run.connectionChildren.privateDirtyKb / 1024).toFixed(0)} MB Private_Dirty in all`;
}

export async function benchManyCallers(
  options: ManyOptions,
  progress: (line: string) => void,
): Promise<ManySuite> {
  const atoll = await startAtoll(MANY_CALLERS_ARGS);
  const suite: ManySuite = { command: atoll.commandLine, runs: [] };
  try {
    for (const timeout of options.connectTimeouts) {
      const run = await runOnce(atoll, options.callers, timeout);
      suite.runs.push(run);
      progress(describeManyRun(run));
    }
  } finally {
    await atoll.stop(STOP_GRACE_MS);
  }
  return suite;
}
