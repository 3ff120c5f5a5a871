/**
 * Benchmark 1: connection setup time, from `srt_connect` to CONNECTED, for
 * sequential and simultaneous callers of both kinds, against Atoll (fast
 * handshake with a prestarted child, with no idle child, and the plain path)
 * and against single-process libsrt listeners (srt-live-transmit for one
 * caller at a time, the bench's own listener for many at once).
 *
 * @module
 */

import type { DropReason, ServerStats } from "../src/server/api_types.ts";
import { ManagedProcess } from "../tests/support/process.ts";
import { freeUdpPort } from "../tests/support/procfs.ts";
import { sleep, waitFor } from "../tests/support/wait.ts";
import { startAtoll, STOP_GRACE_MS } from "./atoll.ts";
import {
  type CallerKind,
  type CallerResult,
  connectSequential,
  connectSimultaneous,
} from "./callers.ts";
import { type Distribution, distribution } from "./summary.ts";

export type ServerName =
  | "atoll-fast"
  | "atoll-fast-no-idle-child"
  | "atoll-plain"
  | "srt-live-transmit"
  | "libsrt-listener";

export type ConnectMode = "sequential" | "simultaneous";

/** One set of callers against one server. */
export interface ConnectRun {
  server: ServerName;
  kind: CallerKind;
  mode: ConnectMode;
  callers: number;
  connected: number;
  /** Over the callers that connected. */
  connectMs: Distribution;
  /** Callers that took longer than libsrt's default connect timeout (3 s). */
  over3s: number;
  /** Simultaneous runs: from the first `srt_connect` to the last caller done. */
  allDoneMs: number | null;
  /** Atoll only: datagrams its main process dropped during the run, by reason (/api/stats). */
  dropped: Record<string, number> | null;
  /** Atoll only: children it started during the run. */
  childrenStarted: number | null;
  timesMs: (number | null)[];
}

export interface ConnectServer {
  name: ServerName;
  command: string;
}

export interface ConnectSuite {
  callersPerRun: number;
  connectTimeoutMs: number;
  servers: ConnectServer[];
  runs: ConnectRun[];
}

export interface ConnectOptions {
  callers: number;
  kinds: CallerKind[];
}

/** Every caller waits this long at most; it lets the slow cases finish instead of failing. */
export const CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 3000;
/** Atoll refills its per-IP token bucket at 50 per second: a full bucket before each burst. */
const BUCKET_REFILL_MS = 1100;
/** srt-live-transmit's srt_bind + srt_listen take microseconds; this pause is ample. */
const LISTEN_SETTLE_MS = 20;

function summarize(
  server: ServerName,
  kind: CallerKind,
  mode: ConnectMode,
  results: CallerResult[],
  allDoneMs: number | null,
): ConnectRun {
  const times = results.map((result) => result.connectMs);
  const connected = times.filter((ms): ms is number => ms !== null);
  return {
    server,
    kind,
    mode,
    callers: results.length,
    connected: connected.length,
    connectMs: distribution(connected),
    over3s: connected.filter((ms) => ms > DEFAULT_CONNECT_TIMEOUT_MS).length,
    allDoneMs,
    dropped: null,
    childrenStarted: null,
    timesMs: times.map((ms) => ms === null ? null : Math.round(ms * 1000) / 1000),
  };
}

export function droppedBetween(before: ServerStats, after: ServerStats): Record<string, number> {
  const out: Record<string, number> = {};
  for (const reason of Object.keys(after.dropped) as DropReason[]) {
    const delta = after.dropped[reason] - (before.dropped[reason] ?? 0);
    if (delta > 0) out[reason] = delta;
  }
  return out;
}

async function runCallers(
  server: ServerName,
  port: number,
  kind: CallerKind,
  mode: ConnectMode,
  count: number,
  beforeEach: () => Promise<void>,
  afterEach?: () => Promise<void>,
): Promise<ConnectRun> {
  const prefix = `publish:bench/${server}-${kind}-${mode}-`;
  const options = { kind, prefix, connectTimeoutMs: CONNECT_TIMEOUT_MS };
  if (mode === "sequential") {
    const results = await connectSequential(port, count, {
      ...options,
      beforeEach,
      ...(afterEach === undefined ? {} : { afterEach }),
    });
    return summarize(server, kind, mode, results, null);
  }
  await beforeEach();
  const group = await connectSimultaneous(port, count, options);
  group.close();
  return summarize(server, kind, mode, group.results, group.allDoneMs);
}

async function benchAtoll(
  server: ServerName,
  args: string[],
  modes: ConnectMode[],
  options: ConnectOptions,
  suite: ConnectSuite,
  progress: (line: string) => void,
): Promise<void> {
  const atoll = await startAtoll(args);
  suite.servers.push({ name: server, command: atoll.commandLine });
  try {
    for (const kind of options.kinds) {
      for (const mode of modes) {
        await atoll.waitForIdleChildren(30_000);
        if (mode === "simultaneous") await sleep(BUCKET_REFILL_MS);
        const before = await atoll.stats();
        const run = await runCallers(
          server,
          atoll.srtPort,
          kind,
          mode,
          options.callers,
          () => atoll.waitForIdleChildren(),
        );
        // Every caller has closed: wait for every child to be gone before reading the counters.
        await atoll.waitForIdleChildren(30_000);
        const after = await atoll.stats();
        run.dropped = droppedBetween(before, after);
        run.childrenStarted = after.childrenStarted - before.childrenStarted;
        suite.runs.push(run);
        progress(describeRun(run));
      }
    }
  } finally {
    await atoll.stop(STOP_GRACE_MS);
  }
}

/** srt-live-transmit as a one-caller-at-a-time listener that re-listens after each caller (`-a:yes`). */
async function benchSrtLiveTransmit(
  options: ConnectOptions,
  suite: ConnectSuite,
  progress: (line: string) => void,
): Promise<void> {
  const port = freeUdpPort();
  const uri = `srt://127.0.0.1:${port}?mode=listener`;
  const args = ["-a:yes", "-v", "-loglevel:fatal", uri, "file://con"];
  suite.servers.push({
    name: "srt-live-transmit",
    command: `srt-live-transmit ${args.join(" ").replace(`:${port}?`, ":PORT?")} > /dev/null`,
  });
  const process = ManagedProcess.start("srt-live-transmit", "srt-live-transmit", args, {
    stdout: "null",
  });
  try {
    // It prints "Binding a server on …" just before srt_bind and srt_listen
    // (its next words have no line end): a short pause after it covers both.
    let served = 0;
    const count = (prefix: string) =>
      process.lines.filter((line) => line.startsWith(prefix)).length;
    const ready = async () => {
      await waitFor(
        `srt-live-transmit to listen for caller ${served + 1}`,
        () => count("Binding a server") > served,
        { timeoutMs: 10_000, intervalMs: 2 },
      );
      await sleep(LISTEN_SETTLE_MS);
    };
    // A caller that closes before srt-live-transmit has finished setting up
    // the connection makes it exit ("ConfigurePost: Connection was broken")
    // instead of listening again: wait for it to take the caller first.
    const accepted = async () => {
      await waitFor(
        `srt-live-transmit to accept caller ${served + 1}`,
        () => count("Accepted SRT source connection") > served,
        { timeoutMs: 10_000, intervalMs: 2 },
      );
      served++;
    };
    for (const kind of options.kinds) {
      const run = await runCallers(
        "srt-live-transmit",
        port,
        kind,
        "sequential",
        options.callers,
        ready,
        accepted,
      );
      suite.runs.push(run);
      progress(describeRun(run));
    }
  } finally {
    await process.stop();
  }
}

/** The bench's own libsrt listener: one process, backlog 256, accepts everything. */
async function benchLibsrtListener(
  options: ConnectOptions,
  suite: ConnectSuite,
  progress: (line: string) => void,
): Promise<void> {
  const script = new URL("./listener.ts", import.meta.url).pathname;
  suite.servers.push({ name: "libsrt-listener", command: "deno run -A bench/listener.ts" });
  const process = ManagedProcess.start("libsrt-listener", Deno.execPath(), [
    "run",
    "-A",
    script,
  ], { stdin: "piped" });
  try {
    const line = await process.waitForLine(
      "listening line",
      (line) => line.includes('"listening"'),
      15_000,
    );
    const port = (JSON.parse(line) as { port: number }).port;
    for (const kind of options.kinds) {
      for (const mode of ["sequential", "simultaneous"] as const) {
        const run = await runCallers(
          "libsrt-listener",
          port,
          kind,
          mode,
          options.callers,
          () => sleep(5),
        );
        suite.runs.push(run);
        progress(describeRun(run));
        await sleep(200);
      }
    }
  } finally {
    await process.closeStdin();
    await process.stop();
  }
}

export function describeRun(run: ConnectRun): string {
  const d = run.connectMs;
  return `${run.server} ${run.kind} ${run.mode}: ${run.connected}/${run.callers} connected, ` +
    `p50 ${d.p50.toFixed(2)} ms, p95 ${d.p95.toFixed(2)} ms, max ${d.max.toFixed(2)} ms`;
}

export async function benchConnectTime(
  options: ConnectOptions,
  progress: (line: string) => void,
): Promise<ConnectSuite> {
  const suite: ConnectSuite = {
    callersPerRun: options.callers,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    servers: [],
    runs: [],
  };
  const both: ConnectMode[] = ["sequential", "simultaneous"];
  await benchLibsrtListener(options, suite, progress);
  await benchSrtLiveTransmit(options, suite, progress);
  await benchAtoll("atoll-fast", [], both, options, suite, progress);
  await benchAtoll(
    "atoll-fast-no-idle-child",
    ["--pool-size", "0"],
    ["sequential"],
    options,
    suite,
    progress,
  );
  await benchAtoll("atoll-plain", ["--no-fast-handshake"], both, options, suite, progress);
  return suite;
}
