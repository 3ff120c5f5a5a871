/**
 * Benchmarks 2 and 3: a child's private memory (idle prestarted, idle
 * connected, receiving) and its CPU while receiving a paced stream, against
 * srt-live-transmit receiving the same stream.
 *
 * @module
 */

import type { Atoll } from "../tests/support/atoll.ts";
import { ManagedProcess } from "../tests/support/process.ts";
import { connectSimultaneous } from "./callers.ts";
import {
  cpuPercent,
  type CpuSample,
  freeUdpPort,
  type Memory,
  readMemory,
  sampleCpu,
  udpPortBound,
} from "../tests/support/procfs.ts";
import { sleep, waitFor } from "../tests/support/wait.ts";
import { startAtoll, STOP_GRACE_MS } from "./atoll.ts";
import { PAYLOAD_BYTES } from "./sender.ts";

/** libsrt counts every packet's bytes with its IPv4 (20), UDP (8) and SRT (16) headers. */
const PACKET_BYTES = PAYLOAD_BYTES + 44;
const WARMUP_MS = 2000;
/** Time for processes that have just started to settle before their memory is read. */
const SETTLE_MS = 1000;

export interface MemoryRow {
  what: string;
  pid: number;
  memory: Memory;
}

export interface CpuRun {
  receiver: "atoll-child" | "srt-live-transmit";
  targetMbps: number;
  windowSeconds: number;
  /** utime + stime of the receiving process over the window, % of one core. */
  cpuPercent: number;
  /** Atoll's main process over the same window. */
  mainCpuPercent: number | null;
  senderCpuPercent: number;
  /** Payload rate the receiver counted over the window (Atoll: from the API's bytesReceived). */
  receivedMbps: number;
  /** Payload rate the sender achieved over its whole run. */
  sentMbps: number;
  packetsSent: number;
  /** Packets the receiver counted in all (srt-live-transmit: as of its last stats line). */
  packetsReceived: number;
  sendFailures: number;
  memory: Memory;
}

export interface ResourceSuite {
  atollCommand: string;
  receiverCommand: string;
  senderCommand: string;
  memory: MemoryRow[];
  cpu: CpuRun[];
}

export interface ResourceOptions {
  windowSeconds: number;
  rates: number[];
}

interface SenderResult {
  packets: number;
  failedSends: number;
  achievedMbps: number;
}

const SENDER = new URL("./sender.ts", import.meta.url).pathname;

function startSender(port: number, mbps: number, seconds: number, streamId: string) {
  return ManagedProcess.start("sender", Deno.execPath(), [
    "run",
    "-A",
    SENDER,
    "--port",
    String(port),
    "--mbps",
    String(mbps),
    "--seconds",
    String(seconds),
    "--stream-id",
    streamId,
  ]);
}

async function senderResult(sender: ManagedProcess, seconds: number): Promise<SenderResult> {
  const line = await sender.waitForLine(
    "result",
    (line) => line.includes('"done"'),
    (seconds + 15) * 1000,
  );
  await sender.done;
  return JSON.parse(line) as SenderResult;
}

/**
 * A reading of the child's byte count and CPU taken just after its
 * statistics reached the API (children report once a second), so that
 * two readings span the time between them, not up to a second more.
 */
async function syncedReading(
  atoll: Atoll,
  pid: number,
): Promise<{ bytes: number; cpu: CpuSample; main: CpuSample }> {
  const bytes = async () =>
    (await atoll.connections()).find((connection) => connection.pid === pid)?.bytesReceived ?? 0;
  const first = await bytes();
  const next = await waitFor(
    "the child's next statistics",
    async () => {
      const now = await bytes();
      return now !== first && now;
    },
    { timeoutMs: 3000, intervalMs: 10 },
  );
  return { bytes: next, cpu: sampleCpu(pid), main: sampleCpu(atoll.pid) };
}

async function memoryOfAtoll(atoll: Atoll, rows: MemoryRow[]): Promise<void> {
  await atoll.waitForIdleChildren();
  await sleep(SETTLE_MS);
  const idle = (await atoll.idleChildPids())[0];
  if (idle !== undefined) {
    rows.push({ what: "Atoll idle prestarted child", pid: idle, memory: readMemory(idle) });
  }
  rows.push({ what: "Atoll main process (idle)", pid: atoll.pid, memory: readMemory(atoll.pid) });
  const group = await connectSimultaneous(atoll.srtPort, 1, {
    kind: "async",
    prefix: "publish:bench/idle-",
    connectTimeoutMs: 10_000,
  });
  try {
    const connection = await waitFor("the idle connection", async () => {
      const list = await atoll.connections();
      return list.find((c) => c.streamId === "publish:bench/idle-0" && c.state === "connected");
    }, { timeoutMs: 5000, intervalMs: 20 });
    await sleep(2000);
    rows.push({
      what: "Atoll child, connected, idle (2 s after connecting)",
      pid: connection.pid,
      memory: readMemory(connection.pid),
    });
  } finally {
    group.close();
  }
}

async function cpuOfAtoll(
  atoll: Atoll,
  mbps: number,
  windowSeconds: number,
  rows: MemoryRow[],
): Promise<CpuRun> {
  await atoll.waitForIdleChildren();
  const streamId = `publish:bench/receive-${mbps}`;
  const seconds = WARMUP_MS / 1000 + windowSeconds + 3;
  const sender = startSender(atoll.srtPort, mbps, seconds, streamId);
  try {
    await sender.waitForLine("connection", (line) => line.includes('"connected"'), 15_000);
    const connection = await waitFor("the connection in the API", async () => {
      const list = await atoll.connections();
      return list.find((c) => c.streamId === streamId && c.state === "connected");
    }, { timeoutMs: 5000, intervalMs: 20 });
    const pid = connection.pid;
    const senderStart = sampleCpu(sender.pid);
    await sleep(WARMUP_MS);
    const start = await syncedReading(atoll, pid);
    await sleep((windowSeconds * 1000) / 2);
    const memory = readMemory(pid);
    rows.push({ what: `Atoll child, receiving ${mbps} Mbit/s`, pid, memory });
    rows.push({
      what: `Atoll main process (a child receiving ${mbps} Mbit/s)`,
      pid: atoll.pid,
      memory: readMemory(atoll.pid),
    });
    await sleep(start.cpu.at + windowSeconds * 1000 - performance.now());
    const end = await syncedReading(atoll, pid);
    const senderEnd = sampleCpu(sender.pid);
    const result = await senderResult(sender, seconds);
    const closed = await closingLog(atoll, streamId);
    const measured = (end.cpu.at - start.cpu.at) / 1000;
    return {
      receiver: "atoll-child",
      targetMbps: mbps,
      windowSeconds: measured,
      cpuPercent: await cpuPercent(start.cpu, end.cpu),
      mainCpuPercent: await cpuPercent(start.main, end.main),
      senderCpuPercent: await cpuPercent(senderStart, senderEnd),
      // bytesReceived counts headers too: scaled to payload, as the sender counts.
      receivedMbps: ((end.bytes - start.bytes) * PAYLOAD_BYTES / PACKET_BYTES * 8) / measured / 1e6,
      sentMbps: result.achievedMbps,
      packetsSent: result.packets,
      packetsReceived: Math.round(closed.bytesIn / PACKET_BYTES),
      sendFailures: result.failedSends,
      memory,
    };
  } finally {
    await sender.stop();
  }
}

/** The "Connection … closed" log line of `streamId`: its byte count is final. */
async function closingLog(atoll: Atoll, streamId: string): Promise<{ bytesIn: number }> {
  const line = await atoll.process.waitForLine(
    `closing log line of ${streamId}`,
    (line) => line.includes('"bytesIn"') && line.includes(JSON.stringify(JSON.stringify(streamId))),
    10_000,
  );
  const { properties } = JSON.parse(line) as { properties: { bytesIn: number } };
  return { bytesIn: Number(properties.bytesIn) };
}

interface SltStats {
  timepoint: string;
  recv: { packets: number };
}

/** srt-live-transmit receiving to stdout (/dev/null), its statistics as JSON lines in a file. */
async function cpuOfSrtLiveTransmit(
  mbps: number,
  windowSeconds: number,
  rows: MemoryRow[],
  commands: string[],
): Promise<CpuRun> {
  const port = freeUdpPort();
  const statsFile = await Deno.makeTempFile({ prefix: "atoll_bench_slt_", suffix: ".json" });
  const args = [
    "-a:no",
    "-loglevel:fatal",
    "-s:1000",
    "-pf:json",
    "-f",
    `-statsout:${statsFile}`,
    `srt://127.0.0.1:${port}?mode=listener`,
    "file://con",
  ];
  const shown = args.map((arg) =>
    arg.replace(statsFile, "STATS.json").replace(`:${port}?`, ":PORT?")
  );
  commands.push(`srt-live-transmit ${shown.join(" ")} > /dev/null`);
  const receiver = ManagedProcess.start("srt-live-transmit", "srt-live-transmit", args, {
    stdout: "null",
  });
  const seconds = WARMUP_MS / 1000 + windowSeconds + 2;
  let sender: ManagedProcess | undefined;
  try {
    await waitFor("srt-live-transmit to listen", () => udpPortBound(port), {
      timeoutMs: 5000,
      intervalMs: 5,
    });
    sender = startSender(port, mbps, seconds, `publish:bench/baseline-${mbps}`);
    await sender.waitForLine("connection", (line) => line.includes('"connected"'), 15_000);
    const senderStart = sampleCpu(sender.pid);
    await sleep(WARMUP_MS);
    const start = { cpu: sampleCpu(receiver.pid), wall: Date.now() };
    await sleep((windowSeconds * 1000) / 2);
    const memory = readMemory(receiver.pid);
    rows.push({ what: `srt-live-transmit, receiving ${mbps} Mbit/s`, pid: receiver.pid, memory });
    await sleep(start.cpu.at + windowSeconds * 1000 - performance.now());
    const end = { cpu: sampleCpu(receiver.pid), wall: Date.now() };
    const senderEnd = sampleCpu(sender.pid);
    const result = await senderResult(sender, seconds);
    await receiver.stop();
    const stats = (await Deno.readTextFile(statsFile)).split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as SltStats)
      .map((s) => ({ at: Date.parse(s.timepoint), packets: s.recv.packets }));
    const inWindow = stats.filter((s) => s.at >= start.wall && s.at <= end.wall);
    const first = inWindow[0];
    const last = inWindow.at(-1);
    const receivedMbps = first && last && last.at > first.at
      ? ((last.packets - first.packets) * PAYLOAD_BYTES * 8) / ((last.at - first.at) / 1000) / 1e6
      : NaN;
    return {
      receiver: "srt-live-transmit",
      targetMbps: mbps,
      windowSeconds: (end.cpu.at - start.cpu.at) / 1000,
      cpuPercent: await cpuPercent(start.cpu, end.cpu),
      mainCpuPercent: null,
      senderCpuPercent: await cpuPercent(senderStart, senderEnd),
      receivedMbps,
      sentMbps: result.achievedMbps,
      packetsSent: result.packets,
      packetsReceived: stats.at(-1)?.packets ?? 0,
      sendFailures: result.failedSends,
      memory,
    };
  } finally {
    await sender?.stop();
    await receiver.stop();
    await Deno.remove(statsFile).catch(() => {});
  }
}

export async function benchResources(
  options: ResourceOptions,
  progress: (line: string) => void,
): Promise<ResourceSuite> {
  const memory: MemoryRow[] = [];
  const cpu: CpuRun[] = [];
  const receiverCommands: string[] = [];
  const atoll = await startAtoll();
  const atollCommand = atoll.commandLine;
  try {
    await memoryOfAtoll(atoll, memory);
    for (const mbps of options.rates) {
      const run = await cpuOfAtoll(atoll, mbps, options.windowSeconds, memory);
      cpu.push(run);
      progress(describeCpuRun(run));
    }
  } finally {
    await atoll.stop(STOP_GRACE_MS);
  }
  for (const mbps of options.rates) {
    const run = await cpuOfSrtLiveTransmit(mbps, options.windowSeconds, memory, receiverCommands);
    cpu.push(run);
    progress(describeCpuRun(run));
  }
  return {
    atollCommand,
    receiverCommand: receiverCommands[0] ?? "",
    senderCommand: "deno run -A bench/sender.ts --port P --mbps M --seconds S --stream-id ID",
    memory,
    cpu,
  };
}

export function describeCpuRun(run: CpuRun): string {
  return `${run.receiver} at ${run.targetMbps} Mbit/s: ${run.cpuPercent.toFixed(1)}% CPU, ` +
    `received ${
      run.receivedMbps.toFixed(1)
    } Mbit/s, ${run.packetsReceived}/${run.packetsSent} packets`;
}
