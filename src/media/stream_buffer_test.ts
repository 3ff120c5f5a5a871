import assert from "node:assert/strict";
import {
  _internals,
  bytesForDuration,
  DEFAULT_SLOT_PAYLOAD,
  describeMessageFlags,
  HEADER_BYTES,
  HeaderOffset,
  MessageFlags,
  PARAMETER_SETS_CAPACITY,
  PROGRAM_INFO_CAPACITY,
  readBufferCounters,
  type ReadResult,
  SlotOffset,
  STREAM_BUFFER_MAGIC,
  StreamBuffer,
  type StreamBufferLayout,
  StreamReader,
  StreamWriter,
  WAKE_WORD_OFFSET,
} from "./stream_buffer.ts";

const { RandomAccess, Pat, Pmt, Discontinuity } = MessageFlags;

/** A fresh, initialized buffer of `slots` slots (small payloads keep tests fast). */
function fresh(slots = 8, slotPayload = 64): { buffer: ArrayBuffer; layout: StreamBufferLayout } {
  const layout = StreamBuffer.layout({ slots, slotPayload });
  const buffer = new ArrayBuffer(layout.bytes);
  StreamBuffer.initialize(buffer, layout);
  return { buffer, layout };
}

/** Message `n`'s bytes: its number, repeated. */
function message(n: number, length = 16): Uint8Array {
  return new Uint8Array(length).fill(n & 0xff);
}

/** Reads everything available, as compact text: `3`, `3!` (random access), `skip 5`. */
function drain(reader: StreamReader): string[] {
  const into = new Uint8Array(reader.layout.slotPayload);
  const seen: string[] = [];
  for (let result = reader.read(into); result.kind !== "none"; result = reader.read(into)) {
    if (result.kind === "skipped") {
      seen.push(`skip ${result.count}`);
      continue;
    }
    const bytes = into.subarray(0, result.length);
    assert.ok(
      bytes.every((byte) => byte === (result.number & 0xff)),
      `message ${result.number} is whole`,
    );
    seen.push(`${result.number}${result.flags & RandomAccess ? "!" : ""}`);
  }
  return seen;
}

/** Writes messages `from` .. `to - 1`; those in `randomAccess` are flagged. */
function writeRange(writer: StreamWriter, from: number, to: number, randomAccess: number[] = []) {
  for (let n = from; n < to; n++) {
    writer.write(message(n), randomAccess.includes(n) ? RandomAccess : 0, n * 1000);
  }
}

Deno.test("StreamBuffer.layout() sizes slots 8-aligned after a 2048-byte header", async (t) => {
  const cases = [
    { options: { slots: 2 }, slotSize: 24 + 1504, bytes: 2048 + 2 * 1528 },
    { options: { slots: 1024, slotPayload: 1316 }, slotSize: 24 + 1320, bytes: 2048 + 1024 * 1344 },
    { options: { slots: 8, slotPayload: 1 }, slotSize: 32, bytes: 2048 + 8 * 32 },
  ];
  for (const { options, slotSize, bytes } of cases) {
    await t.step(JSON.stringify(options), () => {
      const layout = StreamBuffer.layout(options);
      assert.deepEqual(layout, {
        slots: options.slots,
        slotPayload: options.slotPayload ?? DEFAULT_SLOT_PAYLOAD,
        slotSize,
        bytes,
      });
    });
  }
});

Deno.test("StreamBuffer.layout() rejects slot counts and payloads out of range", async (t) => {
  const cases = [
    { options: { slots: 1000 }, error: /slots must be a power of two from 2 to 1048576, got 1000/ },
    { options: { slots: 1 }, error: /slots must be a power of two/ },
    { options: { slots: 2 ** 21 }, error: /slots must be a power of two/ },
    {
      options: { slots: 8, slotPayload: 0 },
      error: /slot payload must be from 1 to 65536 bytes, got 0/,
    },
    { options: { slots: 8, slotPayload: 1.5 }, error: /slot payload/ },
  ];
  for (const { options, error } of cases) {
    await t.step(JSON.stringify(options), () => {
      assert.throws(
        () => StreamBuffer.layout(options),
        (e: unknown) => e instanceof RangeError && error.test(e.message),
      );
    });
  }
});

Deno.test("StreamBuffer.layoutForDuration() rounds 1316-byte messages up to a power of two", async (t) => {
  const cases = [
    // 2 s × 20 Mbit/s = 5 MB = 3800 messages of 1316 bytes
    { seconds: 2, bitrate: 20e6, slots: 4096 },
    { seconds: 1, bitrate: 1e6, slots: 128 }, // 95 messages
    { seconds: 0.01, bitrate: 1000, slots: 16 }, // the minimum
    { seconds: 10, bitrate: 100e6, slots: 131072 }, // 94 985 messages
  ];
  for (const { seconds, bitrate, slots } of cases) {
    await t.step(`${seconds} s at ${bitrate} bit/s`, () => {
      const layout = StreamBuffer.layoutForDuration(seconds, bitrate);
      assert.equal(layout.slots, slots);
      assert.equal(bytesForDuration(seconds, bitrate), layout.bytes);
      assert.equal(layout.slotPayload, DEFAULT_SLOT_PAYLOAD);
    });
  }
  for (const [seconds, bitrate] of [[0, 1e6], [1, -1], [NaN, 1e6], [Infinity, 1e6], [3600, 1e9]]) {
    await t.step(`rejects ${seconds} s at ${bitrate} bit/s`, () => {
      assert.throws(() => StreamBuffer.layoutForDuration(seconds!, bitrate!), RangeError);
    });
  }
});

Deno.test("StreamBuffer.layoutForBytes() fits the most power-of-two slots, and initialize() uses it", async (t) => {
  const cases = [
    { bytes: 2048 + 2 * 1528, slots: 2 },
    { bytes: 2048 + 7 * 1528, slots: 4 },
    { bytes: 10_000_000, slots: 4096 },
    { bytes: bytesForDuration(2, 20e6), slots: 4096 },
  ];
  for (const { bytes, slots } of cases) {
    await t.step(`${bytes} bytes`, () => {
      assert.equal(StreamBuffer.layoutForBytes(bytes).slots, slots);
      const buffer = new ArrayBuffer(bytes);
      assert.equal(StreamBuffer.initialize(buffer).slots, slots);
      assert.equal(StreamReader.attach(buffer).layout.slots, slots);
    });
  }
  await t.step("too small for two slots", () => {
    assert.throws(
      () => StreamBuffer.layoutForBytes(4000),
      /Cannot lay out stream buffer in 4000 bytes: 2 slots of 1500 bytes need 5104/,
    );
  });
});

Deno.test("describeMessageFlags() names every bit", async (t) => {
  const cases: [number, string][] = [
    [0, "none"],
    [RandomAccess, "RandomAccess"],
    [RandomAccess | Pat | Pmt | Discontinuity, "RandomAccess|Pat|Pmt|Discontinuity"],
    [Pmt | 0x30, "Pmt|0x30"],
  ];
  for (const [flags, text] of cases) {
    await t.step(text, () => assert.equal(describeMessageFlags(flags), text));
  }
});

Deno.test("a reader gets each message once, in order, with its flags, time and generation", () => {
  const { buffer } = fresh();
  const writer = StreamWriter.attach(buffer);
  const reader = StreamReader.attach(buffer);
  const into = new Uint8Array(64);
  const written = [
    { bytes: message(0, 64), flags: RandomAccess | Pat | Pmt, timeUs: 1.5 },
    { bytes: message(1, 1), flags: 0, timeUs: 2_000_000 },
    { bytes: new Uint8Array(0), flags: Pmt, timeUs: 3 },
  ];
  for (const { bytes, flags, timeUs } of written) writer.write(bytes, flags, timeUs);
  for (const [number, { bytes, flags, timeUs }] of written.entries()) {
    const result = reader.read(into);
    assert.deepEqual(result, {
      kind: "message",
      number,
      length: bytes.byteLength,
      // The first message of every writer is flagged.
      flags: number === 0 ? flags | Discontinuity : flags,
      timeUs,
      generation: 1,
    });
    assert.deepEqual(into.subarray(0, bytes.byteLength), bytes);
  }
  assert.deepEqual(reader.read(into), { kind: "none" });
});

Deno.test("a caught-up reader gets none, then the next message once it is written", () => {
  const { buffer } = fresh();
  const writer = StreamWriter.attach(buffer);
  const reader = StreamReader.attach(buffer);
  assert.deepEqual(drain(reader), []);
  writeRange(writer, 0, 3);
  assert.deepEqual(drain(reader), ["0", "1", "2"]);
  assert.deepEqual(drain(reader), []);
  writeRange(writer, 3, 4);
  assert.deepEqual(drain(reader), ["3"]);
});

Deno.test("each commit bumps the wake word, so a reader that saw none can wait on it", () => {
  const { buffer } = fresh();
  const writer = StreamWriter.attach(buffer);
  const reader = StreamReader.attach(buffer);
  const wakeWord = () => new Int32Array(buffer)[WAKE_WORD_OFFSET >> 2];
  const seen = reader.wakeValue;
  assert.equal(seen, wakeWord());
  writeRange(writer, 0, 2);
  assert.equal(reader.wakeValue, seen + 2);
});

Deno.test("a lapped reader is told how many it skipped, then resumes where it can", async (t) => {
  const cases = [
    {
      name: "at the newest random-access message",
      randomAccess: [4, 10, 13],
      expected: ["skip 13", "13!", "14", "15", "16", "17", "18", "19"],
    },
    {
      name: "at the newest message when there is no random-access point",
      randomAccess: [],
      expected: ["skip 19", "19"],
    },
    {
      name: "at the newest message when the random-access point was overwritten",
      randomAccess: [4],
      expected: ["skip 19", "19"],
    },
  ];
  for (const { name, randomAccess, expected } of cases) {
    await t.step(name, () => {
      const { buffer } = fresh(8);
      const writer = StreamWriter.attach(buffer);
      const reader = StreamReader.attach(buffer);
      writeRange(writer, 0, 20, randomAccess);
      assert.deepEqual(drain(reader), expected);
      writeRange(writer, 20, 22);
      assert.deepEqual(drain(reader), ["20", "21"]);
    });
  }
});

Deno.test("a reader lapped while it copies drops the copy and counts itself lapped", async (t) => {
  // The writer comes round between the copy and the re-check: either it has
  // committed the message 8 later (the slot holds another message), or it is
  // still writing it (the slot is odd, its payload half new).
  const cases = [
    {
      name: "slot already rewritten",
      comeRound: (writer: StreamWriter) => writeRange(writer, 5, 13, [12]),
      expected: ["skip 8", "12!"],
    },
    {
      name: "slot being rewritten",
      comeRound: (writer: StreamWriter, buffer: ArrayBuffer) => {
        writeRange(writer, 5, 12);
        const slot = HEADER_BYTES + (12 % 8) * writer.layout.slotSize;
        Atomics.store(new Int32Array(buffer), slot >> 2, (12 << 1) | 1);
        new Uint8Array(buffer, slot + SlotOffset.payload, 8).fill(12);
      },
      expected: ["skip 7", "11"],
    },
  ];
  for (const { name, comeRound, expected } of cases) {
    await t.step(name, () => {
      const { buffer } = fresh(8);
      const writer = StreamWriter.attach(buffer);
      writeRange(writer, 0, 5);
      const late = StreamReader.attach(buffer);
      assert.equal(late.position, 4, "joins at the newest message");
      let calls = 0;
      _internals.afterSlotCopy = (slot) => {
        if (calls++ === 0) {
          assert.equal(slot, 4);
          comeRound(writer, buffer);
        }
      };
      try {
        const into = new Uint8Array(64);
        const first: ReadResult = late.read(into);
        assert.equal(first.kind, "skipped", "the torn copy is not delivered");
        assert.deepEqual(
          [`skip ${first.kind === "skipped" ? first.count : -1}`, ...drain(late)],
          expected,
        );
      } finally {
        _internals.afterSlotCopy = () => {};
      }
    });
  }
});

Deno.test("StreamReader.attach() joins at the newest random-access message, else the newest message", async (t) => {
  const cases = [
    {
      name: "nothing written yet: from the first message",
      written: 0,
      randomAccess: [],
      position: 0,
    },
    {
      name: "no random-access point: the newest message",
      written: 5,
      randomAccess: [],
      position: 4,
    },
    { name: "the newest random-access point", written: 7, randomAccess: [1, 3], position: 3 },
    {
      name: "a random-access point that is the newest message",
      written: 4,
      randomAccess: [3],
      position: 3,
    },
    {
      name: "an overwritten random-access point: the newest message",
      written: 12,
      randomAccess: [2],
      position: 11,
    },
  ];
  for (const { name, written, randomAccess, position } of cases) {
    await t.step(name, () => {
      const { buffer } = fresh(8);
      const writer = StreamWriter.attach(buffer);
      writeRange(writer, 0, written, randomAccess);
      const reader = StreamReader.attach(buffer);
      assert.equal(reader.position, position);
      assert.equal(reader.joinAtNewestRandomAccess(), position);
      writeRange(writer, written, written + 1);
      const seen = drain(reader);
      assert.equal(seen[0]?.replace("!", ""), `${position}`);
      assert.equal(seen.length, written + 1 - position);
    });
  }
});

Deno.test("programInfo() returns the newest program info whole, or undefined", async (t) => {
  const pat = new Uint8Array(188).fill(0x47);
  const both = new Uint8Array(376).fill(0x48);
  await t.step("none before the writer sets any", () => {
    const { buffer } = fresh();
    assert.equal(StreamReader.attach(buffer).programInfo(), undefined);
  });
  await t.step("the latest update", () => {
    const { buffer } = fresh();
    const writer = StreamWriter.attach(buffer);
    const reader = StreamReader.attach(buffer);
    writer.setProgramInfo(pat);
    assert.deepEqual(reader.programInfo(), pat);
    writer.setProgramInfo(both);
    assert.deepEqual(reader.programInfo(), both);
  });
  await t.step("undefined while the writer is mid-update", () => {
    const { buffer } = fresh();
    StreamWriter.attach(buffer).setProgramInfo(pat);
    const words = new Int32Array(buffer);
    Atomics.add(words, HeaderOffset.programInfoSequence >> 2, 1);
    assert.equal(StreamReader.attach(buffer).programInfo(), undefined);
  });
  await t.step("a copy torn by an update is retried", () => {
    const { buffer } = fresh();
    const writer = StreamWriter.attach(buffer);
    writer.setProgramInfo(pat);
    const reader = StreamReader.attach(buffer);
    let calls = 0;
    _internals.afterProgramInfoCopy = () => {
      if (calls++ === 0) writer.setProgramInfo(both);
    };
    try {
      assert.deepEqual(reader.programInfo(), both);
      assert.equal(calls, 2);
    } finally {
      _internals.afterProgramInfoCopy = () => {};
    }
  });
  await t.step("at most 8 TS packets", () => {
    const { buffer } = fresh();
    const writer = StreamWriter.attach(buffer);
    assert.throws(
      () => writer.setProgramInfo(new Uint8Array(PROGRAM_INFO_CAPACITY + 1)),
      RangeError,
    );
  });
});

/**
 * What a writer killed inside `write()` leaves behind: the slot of the next
 * message odd, half of a new payload and a garbage length in it, the write
 * count not advanced; the same for the program info.
 */
function dieMidWrite(buffer: ArrayBuffer, layout: StreamBufferLayout): number {
  const words = new Int32Array(buffer);
  const next = Atomics.load(words, HeaderOffset.writeCount >> 2) >>> 0;
  const slot = HEADER_BYTES + (next % layout.slots) * layout.slotSize;
  Atomics.store(words, slot >> 2, (next << 1) | 1);
  new Uint8Array(buffer, slot + SlotOffset.payload, 8).fill(0xee);
  words[(slot + SlotOffset.length) >> 2] = 0x7fff_ffff;
  Atomics.add(words, HeaderOffset.programInfoSequence >> 2, 1);
  new Uint8Array(buffer, HeaderOffset.programInfo, 8).fill(0xee);
  return next;
}

Deno.test("a writer that died mid-write is never read, and the next writer carries on flagged", () => {
  const { buffer, layout } = fresh(8);
  const first = StreamWriter.attach(buffer);
  first.setProgramInfo(new Uint8Array(188).fill(1));
  writeRange(first, 0, 11, [3]);
  const caughtUp = StreamReader.attach(buffer);
  assert.deepEqual(drain(caughtUp), ["3!", "4", "5", "6", "7", "8", "9", "10"]);
  // A slow reader still on message 3, whose slot the dying writer takes.
  const slow = StreamReader.attach(buffer);
  assert.equal(slow.position, 3);
  const torn = dieMidWrite(buffer, layout);
  assert.equal(torn, 11);

  assert.deepEqual(drain(caughtUp), [], "the odd slot is not read");
  assert.equal(caughtUp.programInfo(), undefined, "nor the odd program info");
  assert.deepEqual(
    drain(slow),
    ["skip 1", "4", "5", "6", "7", "8", "9", "10"],
    "message 3 is gone",
  );

  const second = StreamWriter.attach(buffer);
  assert.equal(second.generation, 2);
  assert.equal(second.position, torn, "resumes at the message that was torn");
  assert.equal(caughtUp.programInfo(), undefined, "the torn program info was dropped");
  second.setProgramInfo(new Uint8Array(188).fill(2));
  assert.deepEqual(caughtUp.programInfo(), new Uint8Array(188).fill(2));
  writeRange(second, 11, 14, [12]);
  const into = new Uint8Array(64);
  const result = caughtUp.read(into);
  assert.equal(result.kind, "message");
  assert.equal(result.kind === "message" && result.number, 11);
  assert.equal(result.kind === "message" && result.flags, Discontinuity);
  assert.equal(result.kind === "message" && result.generation, 2);
  assert.deepEqual(into.subarray(0, 16), message(11));
  assert.deepEqual(drain(caughtUp), ["12!", "13"]);
  assert.deepEqual(drain(slow), ["11", "12!", "13"]);
});

Deno.test("a superseded writer throws on its next write", () => {
  const { buffer } = fresh();
  const stale = StreamWriter.attach(buffer);
  writeRange(stale, 0, 1);
  StreamWriter.attach(buffer);
  assert.throws(
    () => stale.write(message(1), 0, 0),
    /Stream buffer writer 1 was superseded by writer 2/,
  );
  assert.throws(() => stale.setProgramInfo(new Uint8Array(1)), /superseded/);
});

Deno.test("markRandomAccess() flags an earlier message, where joining readers then start", () => {
  const { buffer } = fresh(8);
  const writer = StreamWriter.attach(buffer);
  writeRange(writer, 0, 5);
  assert.equal(writer.markRandomAccess(3), true);
  assert.equal(readBufferCounters(buffer).newestRandomAccess, 3);
  assert.equal(readBufferCounters(buffer).randomAccessPoints, 1);
  assert.deepEqual(drain(StreamReader.attach(buffer)), ["3!", "4"]);
  // Not yet written, or already overwritten: refused, nothing changes.
  assert.equal(writer.markRandomAccess(5), false);
  writeRange(writer, 5, 12);
  assert.equal(writer.markRandomAccess(3), false);
  assert.equal(readBufferCounters(buffer).randomAccessPoints, 1);
  assert.equal(writer.replaced, false);
  StreamWriter.attach(buffer);
  assert.equal(writer.replaced, true);
  assert.throws(() => writer.markRandomAccess(11), /superseded/);
});

Deno.test("write() and read() reject buffers that do not fit the slots", () => {
  const { buffer } = fresh(8, 64);
  const writer = StreamWriter.attach(buffer);
  assert.throws(
    () => writer.write(new Uint8Array(65), 0, 0),
    /Cannot write a 65-byte message: slots hold 64/,
  );
  const reader = StreamReader.attach(buffer);
  assert.throws(
    () => reader.read(new Uint8Array(63)),
    /Cannot read into 63 bytes: messages may have 64/,
  );
});

Deno.test("attach() rejects a buffer that does not hold this layout", async (t) => {
  const cases: {
    name: string;
    buffer: () => ArrayBuffer;
    expected?: StreamBufferLayout;
    error: RegExp;
  }[] = [
    {
      name: "smaller than the header",
      buffer: () => new ArrayBuffer(100),
      error: /100 bytes is smaller than the 2048-byte header/,
    },
    {
      name: "not initialized",
      buffer: () => new ArrayBuffer(StreamBuffer.layout({ slots: 8 }).bytes),
      error: /magic 0x00000000 is not 0x42535441 \(not initialized\?\)/,
    },
    {
      name: "another layout version",
      buffer: () => {
        const { buffer } = fresh();
        new Int32Array(buffer)[HeaderOffset.version >> 2] = 2;
        return buffer;
      },
      error: /layout version 2 is not 1/,
    },
    {
      name: "a slot count that is not a power of two",
      buffer: () => {
        const { buffer } = fresh();
        new Int32Array(buffer)[HeaderOffset.slotCount >> 2] = 7;
        return buffer;
      },
      error: /corrupt header: .*power of two/,
    },
    {
      name: "a slot size that does not match the payload",
      buffer: () => {
        const { buffer } = fresh();
        new Int32Array(buffer)[HeaderOffset.slotSize >> 2] = 100;
        return buffer;
      },
      error: /corrupt header: slot size 100/,
    },
    {
      name: "a buffer shorter than its header says",
      buffer: () => {
        const { buffer, layout } = fresh(8);
        return buffer.slice(0, layout.bytes - 8);
      },
      error: /2744 bytes is smaller than the 2752 bytes its header describes/,
    },
    {
      name: "another layout than expected",
      buffer: () => fresh(8, 64).buffer,
      expected: StreamBuffer.layout({ slots: 16, slotPayload: 64 }),
      error: /it holds 8 slots of 64 bytes, expected 16 slots of 64 bytes/,
    },
  ];
  for (const { name, buffer, expected, error } of cases) {
    await t.step(name, () => {
      const matches = (e: unknown) =>
        e instanceof TypeError && e.message.startsWith("Cannot attach to stream buffer: ") &&
        error.test(e.message);
      assert.throws(() => StreamWriter.attach(buffer(), expected), matches);
      assert.throws(() => StreamReader.attach(buffer(), expected), matches);
    });
  }
  await t.step("the magic is ATSB", () => {
    const { buffer } = fresh();
    assert.equal(new TextDecoder().decode(new Uint8Array(buffer, 0, 4)), "ATSB");
    assert.equal(new Uint32Array(buffer)[0], STREAM_BUFFER_MAGIC);
  });
});

Deno.test("StreamBuffer.initialize() rejects a buffer too small for the layout", () => {
  const layout = StreamBuffer.layout({ slots: 8 });
  assert.throws(
    () => StreamBuffer.initialize(new ArrayBuffer(layout.bytes - 8), layout),
    RangeError,
  );
});

Deno.test("message numbers wrap past 2^32 - 1 without losing order", async (t) => {
  /** A buffer whose writers start `before` messages short of the wrap. */
  function nearWrap(before: number) {
    const { buffer, layout } = fresh(8);
    new Int32Array(buffer)[HeaderOffset.writeCount >> 2] = 2 ** 32 - before;
    return { buffer, layout, writer: StreamWriter.attach(buffer) };
  }
  const numbers = (from: number, count: number) =>
    Array.from({ length: count }, (_, i) => (from + i) >>> 0);

  await t.step("read in order across the wrap", () => {
    const { buffer, writer } = nearWrap(3);
    const reader = StreamReader.attach(buffer);
    assert.equal(reader.position, 2 ** 32 - 3);
    const into = new Uint8Array(64);
    const seen: number[] = [];
    for (let i = 0; i < 6; i++) {
      writer.write(message(i), i === 0 ? RandomAccess : 0, i);
      const result = reader.read(into);
      assert.equal(result.kind, "message");
      if (result.kind === "message") seen.push(result.number);
    }
    assert.deepEqual(seen, numbers(2 ** 32 - 3, 6));
    assert.equal(writer.position, 3);
    assert.equal(StreamBuffer.counters(buffer).writeCount, 3);
  });

  await t.step("joined at a random-access point before the wrap", () => {
    const { buffer, writer } = nearWrap(2);
    writer.write(message(0), RandomAccess, 0);
    for (let i = 1; i < 5; i++) writer.write(message(i), 0, i);
    const reader = StreamReader.attach(buffer);
    assert.equal(reader.position, 2 ** 32 - 2);
    const into = new Uint8Array(64);
    const seen: number[] = [];
    for (let result = reader.read(into); result.kind === "message"; result = reader.read(into)) {
      seen.push(result.number);
    }
    assert.deepEqual(seen, numbers(2 ** 32 - 2, 5));
  });

  await t.step("lapped across the wrap", () => {
    const { buffer, writer } = nearWrap(4);
    const reader = StreamReader.attach(buffer);
    for (let i = 0; i < 20; i++) writer.write(message(i), i === 14 ? RandomAccess : 0, i);
    const into = new Uint8Array(64);
    const first = reader.read(into);
    assert.deepEqual(first, { kind: "skipped", count: 14 });
    const next = reader.read(into);
    assert.equal(next.kind === "message" && next.number, 10);
    assert.equal(next.kind === "message" && next.flags, RandomAccess);
  });
});

Deno.test("readBufferCounters() counts what every writer wrote", () => {
  const { buffer } = fresh(8);
  assert.deepEqual(StreamBuffer.counters(buffer), {
    generation: 0,
    writeCount: 0,
    newestRandomAccess: undefined,
    bytesIn: 0,
    messagesIn: 0,
    randomAccessPoints: 0,
    bytesDiscarded: 0,
  });
  writeRange(StreamWriter.attach(buffer), 0, 10, [2, 5]);
  writeRange(StreamWriter.attach(buffer), 10, 12, [11]);
  assert.deepEqual(StreamBuffer.counters(buffer), {
    generation: 2,
    writeCount: 12,
    newestRandomAccess: 11,
    bytesIn: 12 * 16,
    messagesIn: 12,
    randomAccessPoints: 3,
    bytesDiscarded: 0,
  });
});

Deno.test("StreamWriter.countDiscarded() adds up over writers in the header, apart from bytes in", () => {
  const { buffer } = fresh(8);
  const first = StreamWriter.attach(buffer);
  first.countDiscarded(1456);
  first.countDiscarded(0);
  writeRange(first, 0, 2, []);
  const second = StreamWriter.attach(buffer);
  second.countDiscarded(100);
  const counters = readBufferCounters(buffer);
  assert.equal(counters.bytesDiscarded, 1556);
  assert.equal(counters.bytesIn, 2 * 16);
  assert.equal(counters.writeCount, 2);
  assert.equal(
    Number(new BigInt64Array(buffer, HeaderOffset.bytesDiscarded, 1)[0]),
    1556,
  );
  assert.throws(() => first.countDiscarded(1), /superseded/);
});

Deno.test("parameterSets() returns the newest parameter sets with their PID and codec", () => {
  const { buffer } = fresh();
  const writer = StreamWriter.attach(buffer);
  const reader = StreamReader.attach(buffer);
  assert.equal(reader.parameterSets(), undefined);
  const sps = Uint8Array.of(0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x68, 0xce);
  writer.setParameterSets(0x100, 1, sps);
  assert.deepEqual(reader.parameterSets(), { pid: 0x100, codec: 1, bytes: sps });
  const newer = Uint8Array.of(0, 0, 0, 1, 0x40, 1, 0, 0, 0, 1, 0x42, 1, 0, 0, 0, 1, 0x44, 1);
  writer.setParameterSets(0x101, 2, newer);
  assert.deepEqual(reader.parameterSets(), { pid: 0x101, codec: 2, bytes: newer });
  // They lie in the header, clear of the program info.
  writer.setProgramInfo(new Uint8Array(PROGRAM_INFO_CAPACITY).fill(0x47));
  assert.deepEqual(reader.parameterSets()?.bytes, newer);
  assert.ok(HeaderOffset.parameterSets >= HeaderOffset.programInfo + PROGRAM_INFO_CAPACITY);
  assert.equal(HeaderOffset.parameterSets + PARAMETER_SETS_CAPACITY, HEADER_BYTES);
});

Deno.test("parameterSets() is undefined while the writer updates them", () => {
  const { buffer } = fresh();
  StreamWriter.attach(buffer).setParameterSets(0x100, 1, Uint8Array.of(0, 0, 0, 1, 0x67));
  const words = new Int32Array(buffer);
  Atomics.add(words, HeaderOffset.parameterSetsSequence >> 2, 1);
  assert.equal(StreamReader.attach(buffer).parameterSets(), undefined);
});

Deno.test("a new writer drops its predecessor's parameter sets, even half-written ones", () => {
  const { buffer } = fresh();
  StreamWriter.attach(buffer).setParameterSets(0x100, 1, Uint8Array.of(0, 0, 0, 1, 0x67));
  StreamWriter.attach(buffer);
  assert.equal(StreamReader.attach(buffer).parameterSets(), undefined);
  const writer = StreamWriter.attach(buffer);
  writer.setParameterSets(0x100, 1, Uint8Array.of(0, 0, 0, 1, 0x67));
  Atomics.add(new Int32Array(buffer), HeaderOffset.parameterSetsSequence >> 2, 1); // died mid-update
  const next = StreamWriter.attach(buffer);
  const reader = StreamReader.attach(buffer);
  assert.equal(reader.parameterSets(), undefined);
  next.setParameterSets(0x200, 2, Uint8Array.of(0, 0, 0, 1, 0x40, 1));
  assert.deepEqual(reader.parameterSets(), {
    pid: 0x200,
    codec: 2,
    bytes: Uint8Array.of(0, 0, 0, 1, 0x40, 1),
  });
});

Deno.test("setParameterSets() rejects more than the header holds", () => {
  const { buffer } = fresh();
  const writer = StreamWriter.attach(buffer);
  assert.throws(
    () => writer.setParameterSets(0x100, 1, new Uint8Array(PARAMETER_SETS_CAPACITY + 1)),
    RangeError,
  );
  writer.setParameterSets(0x100, 1, new Uint8Array(PARAMETER_SETS_CAPACITY).fill(7));
  assert.equal(StreamReader.attach(buffer).parameterSets()?.bytes.length, PARAMETER_SETS_CAPACITY);
});
