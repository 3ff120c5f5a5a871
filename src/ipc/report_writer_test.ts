import assert from "node:assert/strict";
import { droppedText, ReportWriter } from "./report_writer.ts";

type TestReport =
  | { type: "stats"; n: number }
  | { type: "state"; n: number }
  | { type: "log"; level: "info" | "warning"; message: string };

const notice = (message: string): TestReport => ({ type: "log", level: "warning", message });

/**
 * An `out` that holds each write until the test lets it through, and takes
 * at most `chunk` bytes a write (a pipe may take part of a line).
 */
function heldOut(chunk = Infinity) {
  let bytes: number[] = [];
  const release = Promise.withResolvers<void>();
  let failing = false;
  let writes = 0;
  return {
    out: {
      write: async (data: Uint8Array) => {
        writes++;
        await release.promise;
        if (failing) throw new Error("broken pipe");
        const taken = Math.min(data.length, chunk);
        bytes.push(...data.subarray(0, taken));
        return taken;
      },
    },
    /** The reports written so far, parsed; no half line may be among them. */
    reports(): TestReport[] {
      const text = new TextDecoder().decode(new Uint8Array(bytes));
      assert.ok(text === "" || text.endsWith("\n"), `half a line: ${text.slice(-40)}`);
      return text.split("\n").filter((line) => line !== "").map((line) => JSON.parse(line));
    },
    get writes() {
      return writes;
    },
    /** From now on every write goes through at once. */
    open() {
      release.resolve();
    },
    /** From now on every write fails, as when the main process is gone. */
    fail() {
      failing = true;
      release.resolve();
    },
    clear() {
      bytes = [];
    },
  };
}

const log = (message: string): TestReport => ({ type: "log", level: "info", message });

Deno.test("ReportWriter writes JSON lines in order, keeping only the newest stats, in its place, while it waits", async () => {
  const held = heldOut(7); // every line in several writes
  const writer = new ReportWriter<TestReport>(held.out, { capacity: 8, notice });
  writer.send(log("first"));
  writer.send({ type: "stats", n: 1 });
  writer.send({ type: "state", n: 1 });
  writer.send({ type: "stats", n: 2 });
  writer.send(log("second"));
  held.open();
  await writer.flushed();
  assert.deepEqual(held.reports(), [
    log("first"),
    { type: "state", n: 1 },
    { type: "stats", n: 2 },
    log("second"),
  ]);
  assert.equal(writer.dropped, 0);
});

Deno.test("ReportWriter keeps a bounded queue while out is blocked, dropping the oldest logs first", async () => {
  const held = heldOut();
  const writer = new ReportWriter<TestReport>(held.out, { capacity: 3, notice });
  writer.send(log("written at once")); // its write is under way, held
  writer.send(log("a"));
  writer.send({ type: "state", n: 1 });
  writer.send(log("b"));
  writer.send(log("c")); // over the capacity: "a" goes
  writer.send({ type: "state", n: 2 }); // "b" goes
  assert.equal(writer.dropped, 2);
  held.open();
  await writer.flushed();
  assert.deepEqual(held.reports(), [
    log("written at once"),
    { type: "state", n: 1 },
    log("c"),
    { type: "state", n: 2 },
    notice("Dropped 2 reports (2 logs) while the main process was not reading"),
  ]);
});

Deno.test("ReportWriter drops the oldest other report only when no log waits, never for a log, and says so once", async () => {
  const held = heldOut();
  const writer = new ReportWriter<TestReport>(held.out, { capacity: 2, notice });
  writer.send(log("written at once"));
  for (let n = 1; n <= 4; n++) writer.send({ type: "state", n }); // 1 and 2 go
  writer.send(log("newest")); // the only log waiting: it goes, not a state report
  held.open();
  await writer.flushed();
  assert.deepEqual(held.reports(), [
    log("written at once"),
    { type: "state", n: 3 },
    { type: "state", n: 4 },
    notice("Dropped 3 reports (1 logs, 2 other reports) while the main process was not reading"),
  ]);
  // Nothing dropped since: no second notice.
  held.clear();
  writer.send(log("later"));
  await writer.flushed();
  assert.deepEqual(held.reports(), [log("later")]);
});

Deno.test("ReportWriter drops everything once out is gone, and counts it", async () => {
  const held = heldOut();
  const writer = new ReportWriter<TestReport>(held.out, { capacity: 4, notice });
  writer.send(log("lost"));
  writer.send(log("waiting"));
  writer.send({ type: "stats", n: 1 });
  held.fail();
  await writer.flushed();
  writer.send(log("never tried"));
  await writer.flushed();
  assert.equal(held.writes, 1);
  assert.equal(writer.dropped, 3, "the waiting log, the stats and the later log");
});

Deno.test("ReportWriter refuses a capacity below 1", () => {
  assert.throws(
    () => new ReportWriter<TestReport>(heldOut().out, { capacity: 0, notice }),
    RangeError,
  );
});

Deno.test("droppedText() names what was dropped", () => {
  assert.equal(
    droppedText({ logs: 1, others: 2 }),
    "Dropped 3 reports (1 logs, 2 other reports) while the main process was not reading",
  );
});
