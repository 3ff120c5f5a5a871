import assert from "node:assert/strict";
import { openConnectedUdpSocket, takeQueuedDatagrams } from "../../ffi/socket.ts";
import { type ChildMessage, parseChildMessage } from "../ipc/messages.ts";
import { emptyLinkStats } from "../ipc/messages.ts";
import { closedBySilence, PeerClock, STATS_INTERVAL_MS, StatsSchedule } from "./reports.ts";
import { freeUdpPort } from "../../tests/support/procfs.ts";

const WRITER = new URL("./testdata/report_writer.ts", import.meta.url).pathname;

/** Starts testdata/report_writer.ts: `count` stats reports and a closing one, then a flush. */
function startWriter(count: number, flushMs: number): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", WRITER, String(count), String(flushMs)],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** The next JSON line on the writer's stderr, or a failure after `timeoutMs`. */
async function nextLine(
  lines: ReadableStreamDefaultReader<string>,
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`No line within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const { value } = await Promise.race([lines.read(), timeout]);
    return JSON.parse(value ?? "null");
  } finally {
    clearTimeout(timer);
  }
}

function lineReader(stream: ReadableStream<Uint8Array>): ReadableStreamDefaultReader<string> {
  let pending = "";
  return stream.pipeThrough(new TextDecoderStream()).pipeThrough(
    new TransformStream<string, string>({
      transform(chunk, controller) {
        pending += chunk;
        const lines = pending.split("\n");
        pending = lines.pop()!;
        for (const line of lines) controller.enqueue(line);
      },
    }),
  ).getReader();
}

/** Kills the writer unless it exited, and waits for it. */
async function stop(child: Deno.ChildProcess, stderr: ReadableStreamDefaultReader<string>) {
  try {
    child.kill("SIGKILL");
  } catch {
    // Exited already.
  }
  await child.status;
  await stderr.cancel();
}

Deno.test("report() never waits for a full pipe, and the reports catch up once it is read", async () => {
  // 2000 stats lines are about 900 kB: a pipe nobody reads takes 64 KiB of them.
  const child = startWriter(2000, 10_000);
  const stderr = lineReader(child.stderr);
  try {
    const { reportMs } = await nextLine(stderr, 10_000);
    assert.ok(Number(reportMs) < 2000, `reporting took ${reportMs} ms`);
    const text = await new Response(child.stdout).text();
    assert.ok(text.endsWith("\n"), "the last line is whole");
    const messages: ChildMessage[] = text.trimEnd().split("\n").map(parseChildMessage);
    const stats = messages.filter((m) => m.type === "stats").map((m) => m.stats.bytesSent);
    assert.ok(stats.length < 2000, "stats were coalesced while the pipe was full");
    assert.deepEqual(stats, [...stats].sort((a, b) => a - b), "in order");
    assert.equal(stats.at(-1), 1999, "the newest stats went out");
    const [closed, notice] = messages.slice(-2);
    assert.equal(closed?.type, "closed");
    assert.deepEqual(notice, {
      type: "log",
      level: "warning",
      message: `Dropped ${2000 - stats.length} reports (${
        2000 - stats.length
      } stats) while the main process was not reading`,
    });
    assert.deepEqual(await nextLine(stderr, 10_000), { flushed: true });
    assert.equal((await child.status).code, 0);
  } finally {
    await stop(child, stderr);
  }
});

Deno.test("report() stops writing once the main process is gone (EPIPE), without an error", async () => {
  const child = startWriter(2000, 10_000);
  // The read end closes: each write fails with EPIPE (SIGPIPE is ignored).
  await child.stdout.cancel();
  const stderr = lineReader(child.stderr);
  try {
    const { reportMs } = await nextLine(stderr, 10_000);
    assert.ok(Number(reportMs) < 2000, `reporting took ${reportMs} ms`);
    assert.deepEqual(await nextLine(stderr, 10_000), { flushed: false });
    assert.equal((await child.status).code, 0);
  } finally {
    await stop(child, stderr);
  }
});

Deno.test("closedBySilence() tells a peer's goodbye from its silence for the idle timeout", () => {
  const cases = [
    // libsrt marks the connection broken the moment the peer's shutdown arrives.
    { silentMs: 0, idleTimeoutMs: 1500, silence: false },
    { silentMs: 120, idleTimeoutMs: 1500, silence: false },
    { silentMs: 749, idleTimeoutMs: 1500, silence: false },
    { silentMs: 750, idleTimeoutMs: 1500, silence: true },
    // A silent peer is given up after the idle timeout and at least 16 expirations (about 5 s).
    { silentMs: 1501, idleTimeoutMs: 1500, silence: true },
    { silentMs: 5100, idleTimeoutMs: 1500, silence: true },
    { silentMs: 2400, idleTimeoutMs: 5000, silence: false },
    { silentMs: 5001, idleTimeoutMs: 5000, silence: true },
  ];
  for (const { silentMs, idleTimeoutMs, silence } of cases) {
    assert.equal(
      closedBySilence(silentMs, idleTimeoutMs),
      silence,
      `${silentMs} of ${idleTimeoutMs}`,
    );
  }
});

Deno.test("PeerClock counts from when the peer's last datagram arrived, not from when it was read", async () => {
  const peer = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const peerAddress = peer.addr as Deno.NetAddr;
  const local: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: freeUdpPort() };
  using socket = openConnectedUdpSocket(local, peerAddress);
  try {
    const clock = new PeerClock(socket.fd, { silentMs: () => Number.POSITIVE_INFINITY });
    await peer.send(new Uint8Array([1]), local);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const sentAt = performance.now();
    await peer.send(new Uint8Array([2]), local);
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Read as libsrt would: the kernel stamps each datagram with its arrival.
    assert.equal(takeQueuedDatagrams(socket.fd).length, 2);
    const silentMs = clock.silentMs();
    const elapsed = performance.now() - sentAt;
    assert.ok(silentMs >= 150 && silentMs <= elapsed + 20, `${silentMs} ms of ${elapsed}`);
  } finally {
    peer.close();
  }
});

Deno.test("PeerClock asks its fallback where the kernel gives no arrival times", () => {
  // -1 is no socket: the ioctl fails (EBADF) as it would where SIOCGSTAMPNS is unknown.
  const clock = new PeerClock(-1, { silentMs: () => 4321 });
  assert.equal(clock.silentMs(), 4321);
});

Deno.test("PeerClock without a UDP socket (a connection the child made) asks its fallback only", () => {
  let asked = 0;
  const clock = new PeerClock(undefined, { silentMs: () => ++asked * 100 });
  assert.equal(clock.silentMs(), 200, "the constructor's reading asked it too");
  assert.equal(clock.silentMs(), 300);
});

Deno.test("StatsSchedule reports every interval while the figures move, and stops once they stand still", () => {
  const schedule = new StatsSchedule(0);
  assert.equal(schedule.due(STATS_INTERVAL_MS - 1), false);
  assert.equal(schedule.delayMs(400), STATS_INTERVAL_MS - 400);
  let at = STATS_INTERVAL_MS;
  assert.equal(schedule.due(at), true);
  schedule.reported(at, { ...emptyLinkStats(), bytesReceived: 1316 });
  assert.equal(schedule.settled, false, "the first report has nothing to compare with");
  at += STATS_INTERVAL_MS;
  assert.equal(schedule.due(at), true);
  // Only the average rates drifted: nothing moved.
  schedule.reported(at, { ...emptyLinkStats(), bytesReceived: 1316, mbpsReceiveRate: 0.5 });
  assert.equal(schedule.settled, true);
  assert.equal(schedule.due(at + 3_600_000), false, "no report, however long it stays idle");
  assert.equal(schedule.delayMs(at), Infinity);
  schedule.moved(at + 5000);
  assert.equal(schedule.due(at + 5000), true, "traffic again: a report at once");
  assert.equal(schedule.delayMs(at + 5000), 0);
});

Deno.test("StatsSchedule goes on while any figure moves, a viewer's own included", () => {
  const schedule = new StatsSchedule(0);
  const stats = emptyLinkStats();
  schedule.reported(1000, stats, { skips: 0 });
  schedule.reported(2000, { ...stats, packetsRetransmitted: 1 }, { skips: 0 });
  assert.equal(schedule.settled, false, "a retransmission after the last message");
  schedule.reported(3000, { ...stats, packetsRetransmitted: 1 }, { skips: 1 });
  assert.equal(schedule.settled, false, "a viewer's skip");
  schedule.moved(3500);
  assert.equal(schedule.due(3500), false, "moving on schedule does not hurry the next report");
  assert.equal(schedule.due(4000), true);
});

Deno.test("StatsSchedule does not make up for a late loop with a burst of reports", () => {
  const schedule = new StatsSchedule(0);
  schedule.reported(5500, emptyLinkStats());
  assert.equal(schedule.due(5600), false);
  assert.equal(schedule.delayMs(5500), STATS_INTERVAL_MS);
});
