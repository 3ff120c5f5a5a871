/**
 * The control channel never stops media: a main process that stops reading
 * its children's reports (SIGSTOP, a debugger, a swapped-out host) costs the
 * viewers nothing, and once it reads again it hears the news.
 *
 * A child's reports fill its stdout pipe (64 KiB) only after minutes of
 * stats; the test fills the rest itself, through /proc, with valid report
 * lines, so the pipe is full within a second and provably stays full: a
 * small write of the test's own waits in the kernel until the main process
 * reads again.
 */

import assert from "node:assert/strict";
import {
  Atoll,
  ffmpegPublisher,
  type ManagedProcess,
  sleep,
  srtLiveTransmitViewer,
  waitFor,
} from "./support/mod.ts";
import type { ConnectionInfo } from "../src/server/api_types.ts";

/** Smaller than any stats line, so a pipe that cannot take it cannot take a report either. */
const PADDING_LINE_BYTES = 256;
/** How long a padding write may take before the pipe may be full... */
const SLOW_WRITE_MS = 300;
/** ...and how much longer it must wait to count as full (a loaded machine is slow, not full). */
const FULL_AFTER_MS = 700;

/** One valid report line of exactly {@link PADDING_LINE_BYTES}, which the main process logs at debug level. */
function paddingLine(): Uint8Array {
  const empty = JSON.stringify({ type: "log", level: "debug", message: "" });
  const message = "control channel test padding ".padEnd(
    PADDING_LINE_BYTES - empty.length - 1,
    ".",
  );
  const line = `${JSON.stringify({ type: "log", level: "debug", message })}\n`;
  return new TextEncoder().encode(line);
}

/** A child's stdout pipe, opened from this process, and a write into it that the full pipe holds back. */
interface FilledPipe {
  file: Deno.FsFile;
  /** Settles once the main process has read enough for the held write to go in. */
  held: Promise<unknown>;
  /** Whether {@link held} is still waiting: the pipe is still full. */
  full: () => boolean;
}

/**
 * Writes padding lines into `pid`'s stdout (its report pipe) until one
 * write does not complete: from then on the pipe has no room for a report.
 * Each line is under PIPE_BUF, so it goes in whole and never splits a
 * report of the child's.
 */
async function fillReportPipe(pid: number): Promise<FilledPipe> {
  const file = await Deno.open(`/proc/${pid}/fd/1`, { write: true });
  const line = paddingLine();
  // 64 KiB is 256 lines; the bound only keeps a broken setup from looping.
  for (let written = 0; written < 1024; written++) {
    let done = false;
    const write = file.write(line).finally(() => done = true);
    await Promise.race([write, sleep(SLOW_WRITE_MS)]);
    if (!done) await Promise.race([write, sleep(FULL_AFTER_MS)]);
    if (!done) return { file, held: write, full: () => !done };
  }
  file.close();
  throw new Error(`The report pipe of child ${pid} took 256 KiB without filling`);
}

/** The file's size; 0 until the viewer's output file exists. */
function fileBytes(path: string): number {
  try {
    return Deno.statSync(path).size;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return 0;
    throw error;
  }
}

/** Bytes per second the file grew by over `ms`. */
async function growthRate(path: string, ms: number): Promise<number> {
  const before = fileBytes(path);
  const start = performance.now();
  await sleep(ms);
  return (fileBytes(path) - before) / ((performance.now() - start) / 1000);
}

Deno.test("a main process that stops reading reports costs the viewers nothing, and hears the news after", async () => {
  await using atoll = await Atoll.start();
  const dir = await Deno.makeTempDir({ prefix: "atoll_control_" });
  const output = `${dir}/viewer.ts`;
  await using _publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${atoll.srtPort}?streamid=publish:live/control`,
  );
  let viewer: ManagedProcess | undefined;
  const pipes: FilledPipe[] = [];
  let resumed = true;
  try {
    await waitFor("the publisher sending media", async () => {
      const [stream] = await atoll.streams();
      return stream !== undefined && stream.randomAccessPoints > 0;
    }, { timeoutMs: 15_000 });
    viewer = srtLiveTransmitViewer(atoll.srtPort, "play:live/control", output);
    await waitFor("the viewer receiving", () => fileBytes(output) > 50_000, { timeoutMs: 15_000 });
    const rateBefore = await growthRate(output, 3000);
    assert.ok(rateBefore > 20_000, `the viewer receives ${rateBefore} B/s before the stop`);
    const connections = await atoll.connections();
    const publisher = connections.find((c) => c.mode === "publish");
    const player = connections.find((c) => c.mode === "play");
    assert.ok(publisher !== undefined && player !== undefined, JSON.stringify(connections));

    atoll.signal("SIGSTOP");
    resumed = false;
    for (const pid of [publisher.pid, player.pid]) pipes.push(await fillReportPipe(pid));
    // Every child reports its stats once a second: by now each has tried to write into its full pipe.
    await sleep(1500);
    const sizeAtStop = fileBytes(output);
    const rateDuring = await growthRate(output, 5000);
    const receivedDuringStop = fileBytes(output) - sizeAtStop;
    assert.ok(pipes.every((pipe) => pipe.full()), "the report pipes stayed full");
    atoll.signal("SIGCONT");
    resumed = true;

    assert.ok(
      rateDuring >= rateBefore * 0.6,
      `the viewer got ${Math.round(rateDuring)} B/s with the report pipes full, ` +
        `${Math.round(rateBefore)} B/s before`,
    );
    await Promise.all(pipes.map((pipe) => pipe.held));

    // Fresh statistics: the viewer's bytes sent cover what it got while the main process was stopped.
    const fresh = await waitFor("fresh stats of the viewer", async () => {
      const now = (await atoll.connections()).find((c) => c.id === player.id);
      return now !== undefined && now.bytesSent >= player.bytesSent + receivedDuringStop * 0.8 &&
        now;
    }, { timeoutMs: 5000 });
    assert.equal(fresh.state, "connected");
    for (const connection of [publisher, player] satisfies ConnectionInfo[]) {
      const notice = await atoll.waitForLog(
        `the dropped-report count of ${connection.mode} ${connection.id}`,
        (line) =>
          line.properties.id === connection.id && line.level === "WARN" &&
          /dropped \d+ report/i.test(String(line.properties.message)),
        5000,
      );
      const count = Number(/dropped (\d+) report/i.exec(String(notice.properties.message))![1]);
      // Stats once a second for the 6.5 s or more the pipe was full: all but the newest were coalesced.
      assert.ok(count >= 4, `only ${count} reports dropped: ${notice.properties.message}`);
    }
  } finally {
    if (!resumed) atoll.signal("SIGCONT");
    await Promise.all(pipes.map((pipe) => pipe.held.catch(() => {})));
    for (const pipe of pipes) pipe.file.close();
    viewer?.kill();
    await viewer?.exit();
    await Deno.remove(dir, { recursive: true });
  }
});
