import assert from "node:assert/strict";
import { Pid, TS_PACKET_SIZE, TsInspector } from "../media/mpegts.ts";
import { MessageFlags, StreamBuffer, StreamWriter } from "../media/stream_buffer.ts";
import { findContinuityErrors } from "../media/continuity.ts";
import { parseRecordingFileName, recordingFileName } from "../ipc/recording_files.ts";
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

/**
 * Records the fixture published in real time on a fake clock, 20 messages a
 * wakeup. The recorder is told to stop once it waited after the last write,
 * or with `stopAtLastWrite`, as the last messages are written (a stream that
 * ends before the recorder read its last messages).
 */
async function recordFixture(
  dir: string,
  overrides: Partial<RecorderSettings> = {},
  options: {
    stopAtLastWrite?: boolean;
    started?: string[];
    /** Publishing waits for `until` once `at` messages were published and written; `reached` then. */
    pause?: { at: number; reached: PromiseWithResolvers<void>; until: Promise<void> };
  } = {},
) {
  const layout = StreamBuffer.layout({ slots: 4096, slotPayload: MESSAGE_BYTES });
  const buffer = new ArrayBuffer(layout.bytes);
  StreamBuffer.initialize(buffer, layout);
  const writer = StreamWriter.attach(buffer);
  const messages = messagesOf(FIXTURE);
  const msPerMessage = FIXTURE_SECONDS * 1000 / messages.length;
  let next = 0;
  let clock = 0;
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
      for (const end = next + 20; next < end && next < messages.length; next++) {
        const message = messages[next]!;
        if (message.info !== undefined) writer.setProgramInfo(message.info);
        writer.write(message.packets, message.flags, next);
        clock += msPerMessage;
      }
      if (options.stopAtLastWrite) done = next >= messages.length;
    },
    stopping: () => done,
    onStats: (stats) => {
      if (stats.file !== null && options.started?.at(-1) !== stats.file) {
        options.started?.push(stats.file);
      }
    },
    now: () => clock,
    wallClock: () => START + clock,
  });
  return stats;
}

async function files(dir: string): Promise<string[]> {
  const names = await Array.fromAsync(Deno.readDir(dir), (entry) => entry.name);
  return names.sort((a, b) =>
    parseRecordingFileName(a)!.startMs - parseRecordingFileName(b)!.startMs
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
      pause: { at: messagesOf(FIXTURE).length - 10, reached, until: resume.promise },
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
