import assert from "node:assert/strict";
import {
  createSharedMemory,
  futexWait,
  futexWaitNow,
  futexWake,
  SharedMapping,
  sharedMemorySize,
} from "./shm.ts";
import { setCloseOnExec } from "./socket.ts";
import {
  HEADER_BYTES,
  MessageFlags,
  type ReadResult,
  StreamBuffer,
  StreamReader,
  WAKE_WORD_OFFSET,
} from "../src/media/stream_buffer.ts";
import { checkMessage } from "./testdata/stream_buffer_writer.ts";
import { sleep } from "../tests/support/wait.ts";

Deno.test("createSharedMemory() makes a zero-filled memory file of the given size", () => {
  using memory = createSharedMemory("atoll-test", 12345);
  assert.equal(sharedMemorySize(memory.fd), 12345);
  using mapping = SharedMapping.map(memory.fd);
  assert.equal(mapping.buffer.byteLength, 12345);
  assert.ok(new Uint8Array(mapping.buffer).every((byte) => byte === 0));
});

Deno.test("createSharedMemory() rejects a size that is not a positive integer", () => {
  for (const bytes of [0, -1, 1.5, NaN]) {
    assert.throws(() => createSharedMemory("atoll-test", bytes), RangeError);
  }
});

Deno.test("two mappings of one memory file see each other's writes", () => {
  using memory = createSharedMemory("atoll-test", 4096);
  using first = SharedMapping.map(memory.fd);
  using second = SharedMapping.map(memory.fd, 4096);
  new Uint8Array(first.buffer).set([1, 2, 3], 100);
  assert.deepEqual([...new Uint8Array(second.buffer, 100, 3)], [1, 2, 3]);
  Atomics.store(new Int32Array(second.buffer), 10, -7);
  assert.equal(Atomics.load(new Int32Array(first.buffer), 10), -7);
});

Deno.test("SharedMapping.map() refuses to map past the end of the memory file", () => {
  using memory = createSharedMemory("atoll-test", 4096);
  assert.throws(
    () => SharedMapping.map(memory.fd, 8192),
    /Cannot map 8192 bytes of fd \d+: the memory file has 4096/,
  );
});

Deno.test("SharedMapping.close() detaches the buffer and is safe to call twice", () => {
  using memory = createSharedMemory("atoll-test", 4096);
  const mapping = SharedMapping.map(memory.fd);
  const words = new Int32Array(mapping.buffer);
  mapping.close();
  mapping.close();
  assert.ok(mapping.closed);
  assert.equal(words.length, 0, "views over the unmapped memory are empty");
  assert.throws(() => Atomics.load(words, 0), TypeError);
  assert.throws(() => mapping.buffer, /Shared mapping is closed/);
});

Deno.test("futexWake() wakes a waiter, through another mapping of the same memory", async () => {
  using memory = createSharedMemory("atoll-test", 4096);
  using waiting = SharedMapping.map(memory.fd);
  using waking = SharedMapping.map(memory.fd);
  const started = performance.now();
  const woken = futexWait(waiting, 64, { expected: 0, timeoutMs: 2000 });
  // The waiter may not be asleep yet: wake until it is.
  let count = 0;
  while ((count = futexWake(waking, 64)) === 0) await sleep(1);
  assert.equal(count, 1);
  assert.equal(await woken, true);
  assert.ok(performance.now() - started < 1000);
});

Deno.test("futexWait() times out, and returns at once when the word already differs", async () => {
  using memory = createSharedMemory("atoll-test", 4096);
  using mapping = SharedMapping.map(memory.fd);
  let started = performance.now();
  assert.equal(await futexWait(mapping, 8, { expected: 0, timeoutMs: 50 }), false);
  assert.ok(performance.now() - started >= 45, "slept until the timeout");
  Atomics.store(new Int32Array(mapping.buffer), 2, 5);
  started = performance.now();
  assert.equal(await futexWait(mapping, 8, { expected: 4, timeoutMs: 2000 }), false);
  assert.ok(performance.now() - started < 1000, "did not sleep");
});

Deno.test("futexWaitNow() blocks this thread until woken from another thread, or times out", async () => {
  using memory = createSharedMemory("atoll-test", 4096);
  using mapping = SharedMapping.map(memory.fd);
  let started = performance.now();
  assert.equal(futexWaitNow(mapping, 16, { expected: 0, timeoutMs: 30 }), false);
  assert.ok(performance.now() - started >= 25, "slept until the timeout");

  const worker = new Worker(new URL("./testdata/futex_waker.ts", import.meta.url), {
    type: "module",
  });
  const woke = new Promise<number>((resolve) => worker.onmessage = (event) => resolve(event.data));
  worker.postMessage({ fd: memory.fd, offset: 16, delayMs: 200 });
  started = performance.now();
  // The worker wakes this thread while it sleeps, well before the 5 s timeout.
  assert.equal(futexWaitNow(mapping, 16, { expected: 0, timeoutMs: 5000 }), true);
  const slept = performance.now() - started;
  assert.ok(slept >= 100 && slept < 4000, `slept ${slept} ms`);
  assert.equal(await woke, 1);
  assert.throws(() => futexWaitNow(mapping, 16, { expected: 0, timeoutMs: -1 }), RangeError);
});

Deno.test("futexWait() and futexWake() reject a word outside the mapping or misaligned", async () => {
  using memory = createSharedMemory("atoll-test", 4096);
  using mapping = SharedMapping.map(memory.fd);
  for (const offset of [2, 4096, -4]) {
    await assert.rejects(futexWait(mapping, offset, { expected: 0, timeoutMs: 1 }), RangeError);
    assert.throws(() => futexWake(mapping, offset), RangeError);
  }
  await assert.rejects(futexWait(mapping, 0, { expected: 0, timeoutMs: Infinity }), RangeError);
});

const WRITER = new URL("./testdata/stream_buffer_writer.ts", import.meta.url).pathname;

/** Starts the fixture writer on `fd`, which it inherits at the same number. */
function spawnWriter(
  fd: number,
  tag: number,
  count: number | "forever",
  then?: "hang",
): Deno.ChildProcess {
  const args = [`${fd}`, `${tag}`, `${count}`, ...(then === undefined ? [] : [then])];
  setCloseOnExec(fd, false);
  try {
    return new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-config", "--no-lock", "--quiet", "--allow-ffi", WRITER, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } finally {
    setCloseOnExec(fd, true);
  }
}

interface Delivered {
  number: number;
  tag: number;
  index: number;
  flags: number;
  generation: number;
}

/** Reads as a viewer process would: drain, then sleep on the futex word. */
class Viewer {
  readonly delivered: Delivered[] = [];
  skipped = 0;
  readonly #mapping: SharedMapping;
  readonly #reader: StreamReader;
  readonly #into: Uint8Array;

  constructor(mapping: SharedMapping) {
    this.#mapping = mapping;
    this.#reader = StreamReader.attach(mapping.buffer);
    this.#into = new Uint8Array(this.#reader.layout.slotPayload);
  }

  /** Reads at most `limit` messages, or sleeps once when there are none. */
  async step(limit = 256): Promise<void> {
    for (let i = 0; i < limit; i++) {
      const seen = this.#reader.wakeValue;
      const result: ReadResult = this.#reader.read(this.#into);
      if (result.kind === "none") {
        await futexWait(this.#mapping, WAKE_WORD_OFFSET, { expected: seen, timeoutMs: 20 });
        return;
      }
      if (result.kind === "skipped") {
        this.skipped += result.count;
        continue;
      }
      const checked = checkMessage(this.#into.subarray(0, result.length));
      if (typeof checked === "string") throw new Error(`Torn message delivered: ${checked}`);
      const { number, flags, generation } = result;
      this.delivered.push({ ...checked, number, flags, generation });
    }
    await sleep(0);
  }

  /** Steps until `done()`, at most `timeoutMs`. */
  async until(what: string, done: () => boolean, timeoutMs = 3000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!done()) {
      if (performance.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
      await this.step();
    }
  }

  get position(): number {
    return this.#reader.position;
  }

  of(tag: number): Delivered[] {
    return this.delivered.filter((message) => message.tag === tag);
  }
}

Deno.test("a writer process's messages reach a reader process whole, across kill -9 and new writers", async () => {
  const layout = StreamBuffer.layout({ slots: 1024 });
  using memory = createSharedMemory("atoll-stream-test", layout.bytes);
  using mapping = SharedMapping.map(memory.fd);
  StreamBuffer.initialize(mapping.buffer, layout);
  const viewer = new Viewer(mapping);
  const words = new Int32Array(mapping.buffer);
  const writeCount = () => StreamBuffer.counters(mapping.buffer).writeCount;
  const slotSequence = (number: number) =>
    Atomics.load(words, (HEADER_BYTES + (number & 1023) * layout.slotSize) >> 2);
  const children: Deno.ChildProcess[] = [];
  const start = (tag: number, count: number | "forever", then?: "hang") => {
    const child = spawnWriter(memory.fd, tag, count, then);
    children.push(child);
    return child;
  };
  const finish = async (child: Deno.ChildProcess) => {
    const output = await child.output();
    return { ...output, stderr: new TextDecoder().decode(output.stderr) };
  };
  try {
    // 1. A writer that writes 1000 messages and exits: all read, in order.
    const first = start(1, 1000);
    await viewer.until("1000 messages of writer 1", () => viewer.of(1).length === 1000);
    assert.deepEqual(viewer.of(1).map((message) => message.index), [...Array(1000).keys()]);
    assert.equal(viewer.skipped, 0);
    assert.equal(viewer.of(1)[0]!.flags, MessageFlags.RandomAccess | MessageFlags.Discontinuity);
    const firstExit = await finish(first);
    assert.equal(firstExit.code, 0, firstExit.stderr);

    // 2. A writer in a tight loop, killed wherever it happens to be; the
    // reader, lapped over and over, still only gets whole messages.
    const second = start(2, "forever");
    await viewer.until("writer 2 to be well under way", () => viewer.of(2).length >= 2000);
    second.kill("SIGKILL");
    assert.equal((await finish(second)).signal, "SIGKILL");
    await viewer.until("writer 2's last messages", () => viewer.position === writeCount());
    // Every message was either delivered or counted as skipped.
    assert.equal(viewer.delivered.length + viewer.skipped, viewer.position);
    const indexes = viewer.of(2).map((message) => message.index);
    assert.ok(indexes.every((index, i) => i === 0 || index > indexes[i - 1]!), "in order");

    // 3. A writer killed inside a write, its slot odd and its payload torn.
    const third = start(3, 500, "hang");
    await viewer.until(
      "writer 3 to hang inside its 501st write",
      () => viewer.of(3).length === 500 && (slotSequence(writeCount()) & 1) === 1,
    );
    third.kill("SIGKILL");
    assert.equal((await finish(third)).signal, "SIGKILL");
    const torn = writeCount();
    await viewer.step();
    assert.equal(viewer.position, torn, "the torn message is never read");

    // 4. A new writer overwrites the torn slot and carries on, flagged.
    const fourth = start(4, 100);
    await viewer.until("100 messages of writer 4", () => viewer.of(4).length === 100);
    const fourthExit = await finish(fourth);
    assert.equal(fourthExit.code, 0, fourthExit.stderr);
    const fromFourth = viewer.of(4);
    assert.deepEqual(fromFourth.map((message) => message.index), [...Array(100).keys()]);
    assert.equal(fromFourth[0]!.number, torn);
    assert.equal(fromFourth[0]!.flags, MessageFlags.RandomAccess | MessageFlags.Discontinuity);
    assert.ok(fromFourth.every((message) => message.generation === 4));
    assert.ok(
      fromFourth.slice(1).every((message) => !(message.flags & MessageFlags.Discontinuity)),
    );
    assert.equal(StreamBuffer.counters(mapping.buffer).generation, 4);
    assert.equal(viewer.delivered.length + viewer.skipped, writeCount());
  } finally {
    for (const child of children) {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already exited.
      }
      await child.output().catch(() => undefined);
    }
  }
});
