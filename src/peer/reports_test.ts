import assert from "node:assert/strict";
import { type ChildMessage, parseChildMessage } from "../ipc/messages.ts";

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
