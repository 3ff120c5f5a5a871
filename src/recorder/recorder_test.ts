import assert from "node:assert/strict";
import { Pid, TS_PACKET_SIZE, TsInspector } from "../media/mpegts.ts";
import { MessageFlags, StreamBuffer, StreamWriter } from "../media/stream_buffer.ts";
import { findContinuityErrors } from "../media/continuity.ts";
import {
  compareRecordings,
  parseRecordingFileName,
  recordingFileName,
} from "../ipc/recording_files.ts";
import type { RecorderSettings } from "../ipc/recorder_messages.ts";
import { record, RecordingStopped } from "./recorder.ts";

const MESSAGE_BYTES = 7 * TS_PACKET_SIZE;
const FIXTURE = await Deno.readFile(
  new URL("../media/testdata/h264_aac_10s.m2ts", import.meta.url),
);
const FIXTURE_SECONDS = 10;
const START = Date.UTC(2025, 0, 2, 3, 4, 5);

/** The fixture as a publisher's child writes it: messages, flags, program info. */
function messagesOf(ts: Uint8Array): { packets: Uint8Array; flags: number; info?: Uint8Array }[] {
  const inspector = new TsInspector();
  let version = 0;
  const messages = [];
  for (let o = 0; o < ts.length; o += MESSAGE_BYTES) {
    const packets = ts.subarray(o, Math.min(o + MESSAGE_BYTES, ts.length));
    const flags = inspector.inspect(packets);
    let info: Uint8Array | undefined;
    if (inspector.programInfoVersion !== version) {
      version = inspector.programInfoVersion;
      info = inspector.programInfo();
    }
    // A key frame recognised late is simply not marked here: fewer key frames, no harm.
    const lagging = (flags & MessageFlags.RandomAccess) !== 0 && inspector.randomAccessLag > 0;
    messages.push({
      packets,
      flags: lagging ? flags & ~MessageFlags.RandomAccess : flags,
      ...(info === undefined ? {} : { info }),
    });
  }
  return messages;
}

const MESSAGES = messagesOf(FIXTURE);
const KEY_FRAMES = MESSAGES.flatMap((message, index) =>
  (message.flags & MessageFlags.RandomAccess) !== 0 ? [index] : []
);
/** The fixture published in real time: its messages evenly spread over its 10 s. */
const MS_PER_MESSAGE = FIXTURE_SECONDS * 1000 / MESSAGES.length;

/** When message `index` was received, µs of the wall clock, as a publisher's child stamps it. */
function messageTimeUs(index: number): number {
  return (START + index * MS_PER_MESSAGE) * 1000;
}

/**
 * Records the fixture, its messages stamped as if published in real time,
 * `perWakeup` messages a wakeup (20 by default). The recorder is told to stop once it waited after the last write,
 * or with `stopAtLastWrite`, as the last messages are written (a stream that
 * ends before the recorder read its last messages).
 */
async function recordFixture(
  dir: string,
  overrides: Partial<RecorderSettings> = {},
  options: {
    stopAtLastWrite?: boolean;
    started?: string[];
    /** Messages published a wakeup (20 by default): all of them for a backlog read at once. */
    perWakeup?: number;
    /** Publishing waits for `until` once `at` messages were published and written; `reached` then. */
    pause?: { at: number; reached: PromiseWithResolvers<void>; until: Promise<void> };
  } = {},
) {
  const layout = StreamBuffer.layout({ slots: 4096, slotPayload: MESSAGE_BYTES });
  const buffer = new ArrayBuffer(layout.bytes);
  StreamBuffer.initialize(buffer, layout);
  const writer = StreamWriter.attach(buffer);
  const messages = MESSAGES;
  let next = 0;
  /** Everything was published, and read: the recorder waited again after the last write. */
  let done = false;
  const settings: RecorderSettings = {
    stream: "live/cam",
    dir,
    rotateSeconds: 3,
    quotaBytes: 1 << 30,
    bufferBytes: layout.bytes,
    ...overrides,
  };
  const stats = await record(buffer, settings, {
    changed: async () => {
      const pause = options.pause;
      if (pause !== undefined && next >= pause.at) {
        pause.reached.resolve();
        await pause.until;
      }
      done = next >= messages.length;
      const end = next + (options.perWakeup ?? 20);
      for (; next < end && next < messages.length; next++) {
        const message = messages[next]!;
        if (message.info !== undefined) writer.setProgramInfo(message.info);
        writer.write(message.packets, message.flags, messageTimeUs(next));
      }
      if (options.stopAtLastWrite) done = next >= messages.length;
    },
    stopping: () => done,
    onStats: (stats) => {
      if (stats.file !== null && options.started?.at(-1) !== stats.file) {
        options.started?.push(stats.file);
      }
    },
  });
  return stats;
}

async function files(dir: string): Promise<string[]> {
  const names = await Array.fromAsync(Deno.readDir(dir), (entry) => entry.name);
  return names.sort((a, b) =>
    compareRecordings(parseRecordingFileName(a)!, parseRecordingFileName(b)!)
  );
}

Deno.test("record() starts a new file at the first key frame after rotateSeconds, each playable alone", async () => {
  const dir = await Deno.makeTempDir({ prefix: "atoll_recorder_" });
  try {
    const stats = await recordFixture(dir);
    const names = await files(dir);
    assert.ok(names.length >= 3 && names.length <= 4, `${names.join(" ")}`);
    assert.equal(stats.files, names.length);
    assert.equal(stats.file, null, "closed at the end");
    assert.equal(stats.skips, 0);
    let total = 0;
    for (const name of names) {
      assert.equal(parseRecordingFileName(name)?.stream, "live/cam");
      const bytes = await Deno.readFile(`${dir}/${name}`);
      total += bytes.length;
      assert.equal(bytes.length % TS_PACKET_SIZE, 0);
      const pid = ((bytes[1]! & 0x1f) << 8) | bytes[2]!;
      assert.equal(pid, Pid.PAT, `${name} starts with the PAT`);
      const inspector = new TsInspector();
      const flags = inspector.inspect(bytes.subarray(0, 16 * TS_PACKET_SIZE));
      assert.ok(inspector.program !== undefined, `${name} has its PMT first`);
      assert.ok((flags & MessageFlags.RandomAccess) !== 0, `${name} starts at a key frame`);
      assert.deepEqual(findContinuityErrors(bytes), [], name);
    }
    assert.equal(stats.bytesWritten, total);
    // Files started about rotateSeconds apart (at key frames, a second apart in the fixture).
    const starts = names.map((name) => parseRecordingFileName(name)!.startMs);
    for (let i = 1; i < starts.length; i++) {
      const gap = starts[i]! - starts[i - 1]!;
      assert.ok(gap >= 3000 && gap <= 5000, `gap ${gap} ms`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * The files a recording of the fixture should be, oldest first: each from a
 * key frame to the next file's, which is the first key frame at or after
 * `rotateSeconds` past its own by the messages' receive times; their bytes as
 * published, without what a file start adds (the PAT, PMT and parameter sets).
 */
function expectedFiles(rotateSeconds: number): { first: number; bytes: number }[] {
  const starts = [KEY_FRAMES[0]!];
  for (const index of KEY_FRAMES) {
    if (messageTimeUs(index) - messageTimeUs(starts.at(-1)!) >= rotateSeconds * 1e6) {
      starts.push(index);
    }
  }
  return starts.map((first, k) => ({
    first,
    bytes: MESSAGES.slice(first, starts[k + 1] ?? MESSAGES.length)
      .reduce((sum, message) => sum + message.packets.length, 0),
  }));
}

Deno.test("record() rotates by the messages' receive times, however late it reads them, at the first key frame due", async () => {
  // Also just under the first GOP: rotation falls due on a key frame itself.
  const firstGop = (messageTimeUs(KEY_FRAMES[1]!) - messageTimeUs(KEY_FRAMES[0]!)) / 1e6 - 0.001;
  for (const rotateSeconds of [1, 2, 3, firstGop]) {
    const expected = expectedFiles(rotateSeconds);
    // Read as published, a message at a time; 20 at a time; and a backlog read all at once.
    for (const perWakeup of [1, 20, MESSAGES.length]) {
      const dir = await Deno.makeTempDir({ prefix: "atoll_recorder_" });
      try {
        await recordFixture(dir, { rotateSeconds }, { perWakeup });
        const sizes = [];
        for (const name of await files(dir)) sizes.push((await Deno.stat(`${dir}/${name}`)).size);
        const what = `rotateSeconds ${rotateSeconds}, ${perWakeup} a wakeup: ${sizes.join(" ")} ` +
          `bytes, expected ${expected.map((file) => file.bytes).join(" ")} and a few packets`;
        assert.equal(sizes.length, expected.length, what);
        for (const [i, size] of sizes.entries()) {
          // A file start adds its PAT, PMT (and parameter sets), a marked key frame its PAT and PMT.
          const added = size - expected[i]!.bytes;
          assert.ok(added >= 0 && added <= 8 * TS_PACKET_SIZE, what);
        }
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    }
  }
});

Deno.test("record() writes what the stream holds when told to stop, not dropping its last messages", async () => {
  const whole = await Deno.makeTempDir({ prefix: "atoll_recorder_" });
  const cut = await Deno.makeTempDir({ prefix: "atoll_recorder_" });
  try {
    const expected = await recordFixture(whole);
    const stats = await recordFixture(cut, {}, { stopAtLastWrite: true });
    assert.equal(stats.bytesWritten, expected.bytesWritten);
    const names = await files(cut);
    const last = await Deno.readFile(`${cut}/${names.at(-1)}`);
    const fixtureEnd = FIXTURE.subarray(FIXTURE.length - TS_PACKET_SIZE);
    assert.deepEqual(last.subarray(last.length - TS_PACKET_SIZE), fixtureEnd);
  } finally {
    await Deno.remove(whole, { recursive: true });
    await Deno.remove(cut, { recursive: true });
  }
});

Deno.test("record() keeps the stream's files within the quota, oldest first, others untouched", async () => {
  const dir = await Deno.makeTempDir({ prefix: "atoll_recorder_" });
  try {
    const old = recordingFileName("live/cam", START - 86_400_000);
    const other = recordingFileName("live/other", START - 86_400_000);
    await Deno.writeFile(`${dir}/${old}`, new Uint8Array(100_000));
    // Written a day ago, as its name says: no other recorder is writing it.
    const dayAgo = new Date(Date.now() - 86_400_000);
    await Deno.utime(`${dir}/${old}`, dayAgo, dayAgo);
    await Deno.writeFile(`${dir}/${other}`, new Uint8Array(100_000));
    await Deno.writeTextFile(`${dir}/notes.txt`, "kept");
    const size = FIXTURE.length;
    const started: string[] = [];
    const stats = await recordFixture(
      dir,
      { rotateSeconds: 2, quotaBytes: Math.round(size / 2) },
      { started },
    );
    const names = await Array.fromAsync(Deno.readDir(dir), (entry) => entry.name);
    assert.ok(!names.includes(old), "the oldest went first");
    assert.ok(names.includes(other), "another stream's file stays");
    assert.ok(names.includes("notes.txt"));
    const own = names.filter((name) => parseRecordingFileName(name)?.stream === "live/cam");
    let total = 0;
    for (const name of own) total += (await Deno.stat(`${dir}/${name}`)).size;
    // Kept after each file started: at most the quota plus the last file.
    assert.ok(stats.deleted >= 2, `deleted ${stats.deleted}`);
    assert.ok(total <= size / 2 + size / 3, `${total} bytes kept of ${size}`);
    // The oldest went first, and never the file being written: what is left of the
    // files it started is the newest of them, the last one included.
    assert.equal(started.length, stats.files);
    const kept = started.filter((name) => own.includes(name));
    assert.deepEqual(kept, started.slice(started.length - kept.length));
    assert.ok(kept.length >= 1 && kept.at(-1) === started.at(-1), "the last file stays");
    assert.equal(own.length, kept.length, "its files are the ones it started");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("record() never deletes a file another recorder of the stream is still writing", async () => {
  // A reload that changed the rule, or a stream that began again at once: the
  // old recorder still finishes its file (for up to 10 s) as the new one starts.
  const dir = await Deno.makeTempDir({ prefix: "atoll_recorder_" });
  try {
    const quotaBytes = Math.round(FIXTURE.length / 2);
    const reached = Promise.withResolvers<void>();
    const resume = Promise.withResolvers<void>();
    const oldStarted: string[] = [];
    // The old recorder's one file is over the quota by itself, and it goes on writing.
    const old = recordFixture(dir, { rotateSeconds: 100, quotaBytes }, {
      started: oldStarted,
      pause: { at: MESSAGES.length - 10, reached, until: resume.promise },
    });
    await reached.promise;
    const newStats = await recordFixture(dir, { quotaBytes });
    resume.resolve();
    const oldStats = await old;
    assert.equal(oldStarted.length, 1);
    const kept = await Deno.stat(`${dir}/${oldStarted[0]}`).catch(() => undefined);
    assert.ok(kept !== undefined, `the new recorder deleted ${oldStarted[0]} as it was written`);
    assert.equal(kept.size, oldStats.bytesWritten, "nothing it wrote is lost");
    // The new recorder kept to the quota with its own files: the last one stays.
    assert.ok(newStats.deleted >= 1, `deleted ${newStats.deleted}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("record() stops with write-error when its file cannot be created", async () => {
  await assert.rejects(
    () => recordFixture("/nonexistent/atoll"),
    (error: unknown) => error instanceof RecordingStopped && error.reason === "write-error",
  );
});
