import assert from "node:assert/strict";
import { type ChildMessage, emptyLinkStats, parseChildMessage } from "./messages.ts";
import { droppedNotice, ReportQueue, type WriteOutcome } from "./report_queue.ts";

/**
 * A pipe as the kernel keeps one: `room` bytes free; a write of at most
 * `atomic` bytes goes in whole or not at all, a longer one takes what fits.
 * `closed` is a reader that went away.
 */
class FakePipe {
  room: number;
  closed = false;
  writes = 0;
  readonly atomic: number;
  #bytes: number[] = [];

  constructor(room: number, atomic = 4096) {
    this.room = room;
    this.atomic = atomic;
  }

  write = (bytes: Uint8Array): WriteOutcome => {
    this.writes++;
    if (this.closed) return "closed";
    const taken = bytes.byteLength <= this.atomic
      ? (bytes.byteLength <= this.room ? bytes.byteLength : 0)
      : Math.min(bytes.byteLength, this.room);
    if (taken === 0) return "full";
    this.#bytes.push(...bytes.subarray(0, taken));
    this.room -= taken;
    return taken;
  };

  /** The main process reads everything: the room comes back. */
  drain(room = 65536): ChildMessage[] {
    this.room = room;
    const text = new TextDecoder().decode(new Uint8Array(this.#bytes));
    this.#bytes = [];
    assert.ok(text === "" || text.endsWith("\n"), `half a line in the pipe: ${text.slice(-80)}`);
    return text.split("\n").filter((line) => line !== "").map(parseChildMessage);
  }
}

function stats(bytesSent: number): ChildMessage {
  return { type: "stats", stats: { ...emptyLinkStats(), bytesSent } };
}

function log(message: string): ChildMessage {
  return { type: "log", level: "info", message };
}

const connected: ChildMessage = {
  type: "connected",
  streamId: "play:live/a",
  mode: "play",
  encrypted: false,
  handshakeMs: 3.2,
};

const closed: ChildMessage = {
  type: "closed",
  reason: "peer-closed",
  detail: "the peer closed the connection",
  stats: null,
};

Deno.test("ReportQueue writes each report at once while the pipe has room", () => {
  const pipe = new FakePipe(65536);
  const queue = new ReportQueue(pipe.write);
  queue.push(connected);
  queue.push(stats(1));
  assert.equal(queue.pending, false);
  assert.deepEqual(pipe.drain(), [connected, stats(1)]);
  assert.equal(queue.dropped, 0);
});

Deno.test("ReportQueue keeps only the newest stats while the pipe is full, and says how many it dropped", () => {
  const pipe = new FakePipe(0);
  const queue = new ReportQueue(pipe.write);
  for (let second = 1; second <= 120; second++) queue.push(stats(second));
  assert.equal(queue.length, 1);
  assert.equal(queue.dropped, 119);
  pipe.drain();
  queue.flush();
  assert.equal(queue.pending, false);
  assert.deepEqual(pipe.drain(), [
    stats(120),
    droppedNotice({ stats: 119, logs: 0, stateChanges: 0 }),
  ]);
  // Announced once: the next drop starts a new count.
  queue.push(stats(121));
  assert.deepEqual(pipe.drain(), [stats(121)]);
});

Deno.test("ReportQueue keeps state changes in order around the newest stats", () => {
  const pipe = new FakePipe(0);
  const queue = new ReportQueue(pipe.write);
  queue.push(stats(1));
  queue.push(connected);
  queue.push(stats(2));
  queue.push(stats(3));
  queue.push(closed);
  pipe.drain();
  queue.flush();
  assert.deepEqual(pipe.drain(), [
    connected,
    stats(3),
    closed,
    droppedNotice({ stats: 2, logs: 0, stateChanges: 0 }),
  ]);
});

Deno.test("ReportQueue drops the oldest logs first when more wait than its capacity", () => {
  const pipe = new FakePipe(0);
  const queue = new ReportQueue(pipe.write, { capacity: 4 });
  queue.push(connected);
  for (let i = 1; i <= 6; i++) queue.push(log(`log ${i}`));
  queue.push(closed);
  assert.equal(queue.length, 4);
  pipe.drain();
  queue.flush();
  assert.deepEqual(pipe.drain(), [
    connected,
    log("log 5"),
    log("log 6"),
    closed,
    droppedNotice({ stats: 0, logs: 4, stateChanges: 0 }),
  ]);
});

Deno.test("ReportQueue drops the oldest state change only when no log waits", () => {
  const pipe = new FakePipe(0);
  const queue = new ReportQueue(pipe.write, { capacity: 2 });
  queue.push({ type: "ready", srtVersion: 0x010503 });
  queue.push(connected);
  queue.push(closed);
  pipe.drain();
  queue.flush();
  assert.deepEqual(pipe.drain(), [
    connected,
    closed,
    droppedNotice({ stats: 0, logs: 0, stateChanges: 1 }),
  ]);
});

Deno.test("ReportQueue finishes a line the pipe took in part before anything else", () => {
  // Lines longer than the atomic size go in as far as they fit, like a pipe's beyond PIPE_BUF.
  const pipe = new FakePipe(100, 64);
  const queue = new ReportQueue(pipe.write);
  const long = log("x".repeat(300));
  queue.push(long);
  assert.equal(queue.pending, true);
  queue.push(stats(1));
  queue.push(stats(2));
  // The pipe took the first 100 bytes: the rest goes before the stats, even a bit at a time.
  assert.equal(pipe.room, 0);
  pipe.room = 50;
  queue.flush();
  assert.equal(pipe.room, 0);
  pipe.room = 65536;
  queue.flush();
  assert.equal(queue.pending, false);
  assert.deepEqual(pipe.drain(), [
    long,
    stats(2),
    droppedNotice({ stats: 1, logs: 0, stateChanges: 0 }),
  ]);
});

Deno.test("ReportQueue stops writing once nobody reads, and counts what it drops", () => {
  const pipe = new FakePipe(0);
  const queue = new ReportQueue(pipe.write);
  queue.push(connected);
  queue.push(stats(1));
  pipe.closed = true;
  queue.flush();
  assert.equal(queue.closed, true);
  assert.equal(queue.pending, false);
  const writes = pipe.writes;
  for (let i = 0; i < 100; i++) queue.push(stats(i));
  queue.push(closed);
  queue.flush();
  assert.equal(pipe.writes, writes, "no write after the pipe closed");
  assert.equal(queue.dropped, 103);
});

Deno.test("ReportQueue tries the pipe once per push or flush while it is full", () => {
  const pipe = new FakePipe(0);
  const queue = new ReportQueue(pipe.write);
  queue.push(stats(1));
  queue.flush();
  queue.flush();
  assert.equal(pipe.writes, 3);
});

Deno.test("ReportQueue refuses a capacity below one", () => {
  assert.throws(() => new ReportQueue(() => 0, { capacity: 0 }), RangeError);
});
