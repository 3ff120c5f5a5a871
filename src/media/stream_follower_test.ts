import assert from "node:assert/strict";
import { concat } from "../../tests/support/bytes.ts";
import { bytesFromHex as hex } from "../ipc/hex.ts";
import { findContinuityErrors } from "./continuity.ts";
import { Pid, StreamType, TS_PACKET_SIZE, TsInspector } from "./mpegts.ts";
import { VideoCodec, withParameterSets } from "./parameter_sets.ts";
import { MessageFlags, StreamBuffer, StreamWriter } from "./stream_buffer.ts";
import { type FollowStep, StreamFollower } from "./stream_follower.ts";
// Imported as bytes, not read: this folder's tests run without any permission.
import H264_AAC_FIXTURE from "./testdata/h264_aac_64x64.m2ts" with { type: "bytes" };

const MESSAGE_BYTES = 7 * TS_PACKET_SIZE;

/** A fresh, initialized buffer of `slots` slots of 1316 bytes. */
function fresh(slots: number): ArrayBuffer {
  const layout = StreamBuffer.layout({ slots, slotPayload: MESSAGE_BYTES });
  const buffer = new ArrayBuffer(layout.bytes);
  StreamBuffer.initialize(buffer, layout);
  return buffer;
}

/**
 * A publisher's child as far as the buffer sees it (src/peer/publish_loop.ts):
 * each message inspected, its flags stored, the program info kept, a key
 * frame recognised late marked where its PES began.
 */
class Publisher {
  readonly writer: StreamWriter;
  readonly #inspector = new TsInspector();
  #programInfoVersion = 0;

  constructor(buffer: ArrayBuffer) {
    this.writer = StreamWriter.attach(buffer);
  }

  /** Writes `ts` as messages of 7 packets; returns how many. */
  publish(ts: Uint8Array): number {
    let count = 0;
    for (let o = 0; o < ts.length; o += MESSAGE_BYTES) {
      const packets = ts.subarray(o, Math.min(o + MESSAGE_BYTES, ts.length));
      const flags = this.#inspector.inspect(packets);
      if (this.#inspector.programInfoVersion !== this.#programInfoVersion) {
        this.#programInfoVersion = this.#inspector.programInfoVersion;
        const info = this.#inspector.programInfo();
        if (info !== undefined) this.writer.setProgramInfo(info);
      }
      const lag = this.#inspector.randomAccessLag;
      if ((flags & MessageFlags.RandomAccess) !== 0 && lag > 0) {
        const number = this.writer.write(packets, flags & ~MessageFlags.RandomAccess, o);
        this.writer.markRandomAccess((number - lag) >>> 0);
      } else this.writer.write(packets, flags, o);
      count++;
    }
    return count;
  }
}

/** Every step until `none`, and the bytes a viewer would have sent. */
function drain(follower: StreamFollower): { steps: FollowStep[]; sent: Uint8Array } {
  const steps: FollowStep[] = [];
  const sent: Uint8Array[] = [];
  for (let step = follower.next(); step.kind !== "none"; step = follower.next()) {
    if (step.kind === "message") {
      if (step.programInfo !== undefined) sent.push(step.programInfo.slice());
      sent.push(step.packets.slice());
      steps.push({ ...step, packets: step.packets.slice() });
    } else steps.push(step);
  }
  return { steps, sent: concat(...sent) };
}

function pidOf(ts: Uint8Array, offset: number): number {
  return ((ts[offset + 1]! & 0x1f) << 8) | ts[offset + 2]!;
}

/** Whether the first video PES in `ts` (PID `pid`) starts a key frame, as the inspector says. */
function startsWithKeyFrame(ts: Uint8Array, videoPid: number): boolean {
  for (let o = 0; o < ts.length; o += TS_PACKET_SIZE) {
    if (pidOf(ts, o) !== videoPid) continue;
    const inspector = new TsInspector();
    // The program first, so the inspector knows which PID is video.
    inspector.inspect(ts.subarray(0, 2 * TS_PACKET_SIZE));
    return (inspector.inspect(ts.subarray(o, o + MESSAGE_BYTES)) & MessageFlags.RandomAccess) !==
      0;
  }
  return false;
}

Deno.test("StreamFollower joins at the newest random-access point, PAT and PMT first", () => {
  const buffer = fresh(256);
  const publisher = new Publisher(buffer);
  publisher.publish(H264_AAC_FIXTURE);
  const follower = StreamFollower.attach(buffer);
  const { steps, sent } = drain(follower);
  const first = steps[0];
  assert.ok(first?.kind === "message");
  assert.equal(first.start, true);
  assert.equal(first.randomAccess, true);
  assert.equal(first.newPublisher, false);
  assert.ok(first.programInfo !== undefined);
  assert.equal(pidOf(sent, 0), Pid.PAT);
  const inspector = new TsInspector();
  inspector.inspect(first.programInfo);
  const program = inspector.program;
  assert.ok(program !== undefined, "the program info is a whole PAT and PMT");
  const video = program.streams.find((stream) => stream.streamType === StreamType.H264);
  assert.ok(video !== undefined);
  assert.ok(startsWithKeyFrame(sent, video.pid), "the first video PES is a key frame");
  // The fixture has 3 key frames: the newest is in its last second.
  assert.ok(sent.length < H264_AAC_FIXTURE.length / 2, `${sent.length} bytes sent`);
  assert.deepEqual(findContinuityErrors(sent), []);
  assert.equal(steps.filter((step) => step.kind === "message" && step.start).length, 1);
  assert.equal(follower.skips, 0);
});

Deno.test("StreamFollower waits at none until the publisher writes, then goes on", () => {
  const buffer = fresh(256);
  const publisher = new Publisher(buffer);
  const follower = StreamFollower.attach(buffer);
  const seen = follower.wakeValue;
  assert.deepEqual(follower.next(), { kind: "none" });
  publisher.publish(H264_AAC_FIXTURE.subarray(0, 20 * MESSAGE_BYTES));
  assert.notEqual(follower.wakeValue, seen, "each commit changes the wake word");
  const { steps, sent } = drain(follower);
  // Joined before anything was written: it starts at the first message, a key frame.
  assert.ok(steps[0]?.kind === "message" && steps[0].start && steps[0].randomAccess);
  assert.equal(sent.length, steps[0].programInfo!.length + 20 * MESSAGE_BYTES);
});

Deno.test("StreamFollower, lapped, skips to the newest random-access point, counted", () => {
  const buffer = fresh(16);
  const publisher = new Publisher(buffer);
  const follower = StreamFollower.attach(buffer);
  const first = publisher.publish(H264_AAC_FIXTURE.subarray(0, 10 * MESSAGE_BYTES));
  const before = drain(follower);
  assert.equal(before.steps.filter((step) => step.kind === "message").length, first);
  // The rest of the fixture and all of it again: more than the 16 slots hold.
  publisher.publish(H264_AAC_FIXTURE.subarray(10 * MESSAGE_BYTES));
  publisher.publish(H264_AAC_FIXTURE);
  const after = drain(follower);
  assert.equal(after.steps[0]?.kind, "skipped");
  assert.equal(follower.skips, 1);
  const resumed = after.steps.find((step) => step.kind === "message");
  assert.ok(resumed?.kind === "message" && resumed.start && resumed.randomAccess);
  assert.ok(resumed.programInfo !== undefined, "the PAT and PMT come again");
  assert.equal(resumed.newPublisher, false);
  // The seam is continuous or flagged on every PID.
  assert.deepEqual(findContinuityErrors(concat(before.sent, after.sent)), []);
});

Deno.test("StreamFollower waits for a new publisher's first random-access point", () => {
  const buffer = fresh(256);
  new Publisher(buffer).publish(H264_AAC_FIXTURE.subarray(0, 20 * MESSAGE_BYTES));
  const follower = StreamFollower.attach(buffer);
  const before = drain(follower);
  // The new publisher starts in the middle of a GOP: its first messages are not sent.
  const second = new Publisher(buffer);
  const cut = 5 * MESSAGE_BYTES;
  second.publish(H264_AAC_FIXTURE.subarray(cut));
  const after = drain(follower);
  const dropped = after.steps.findIndex((step) => step.kind !== "dropped");
  assert.ok(dropped > 0, "the messages before its key frame are dropped");
  const resumed = after.steps[dropped];
  assert.ok(resumed?.kind === "message");
  assert.equal(resumed.start, true);
  assert.equal(resumed.randomAccess, true);
  assert.equal(resumed.newPublisher, true);
  assert.ok(resumed.programInfo !== undefined);
  assert.equal(
    after.steps.filter((step) => step.kind === "message" && step.newPublisher).length,
    1,
  );
  assert.equal(follower.skips, 0, "a new publisher is no skip");
  assert.deepEqual(findContinuityErrors(concat(before.sent, after.sent)), []);
});

Deno.test("StreamFollower starts anywhere in a stream without random-access points", () => {
  const buffer = fresh(16);
  const writer = StreamWriter.attach(buffer);
  const message = new Uint8Array(MESSAGE_BYTES);
  for (let o = 0; o < MESSAGE_BYTES; o += TS_PACKET_SIZE) message.set([0x47, 0x01, 0x00, 0x10], o);
  for (let n = 0; n < 4; n++) writer.write(message, 0, n);
  const { steps } = drain(StreamFollower.attach(buffer));
  // Joined at the newest message: no program info to send first.
  assert.equal(steps.length, 1);
  assert.ok(steps[0]?.kind === "message" && steps[0].start && !steps[0].randomAccess);
  assert.equal(steps[0].programInfo, undefined);
});

Deno.test("StreamFollower puts the stored parameter sets before a key frame that lacks them", () => {
  const VIDEO_PID = 0x100;
  // A video PES start with PTS and DTS, unbounded length.
  const pesStart = hex("000001e0" + "0000" + "80c0" + "0a" + "3100010003" + "1100010001");
  const es = hex("0000000109f0 000001658884"); // access unit delimiter, IDR slice
  const packet = new Uint8Array(TS_PACKET_SIZE).fill(0xff);
  packet.set([0x47, 0x40 | (VIDEO_PID >> 8), VIDEO_PID & 0xff, 0x10]);
  packet.set(concat(pesStart, es), 4);
  const stored = {
    pid: VIDEO_PID,
    codec: VideoCodec.H264,
    bytes: hex("000000016742c01eda0000000168ce3c80"),
  };
  const buffer = fresh(16);
  const writer = StreamWriter.attach(buffer);
  writer.setParameterSets(stored.pid, stored.codec, stored.bytes);
  writer.write(packet, MessageFlags.RandomAccess, 0);
  const step = StreamFollower.attach(buffer).next();
  assert.ok(step.kind === "message");
  const expected = withParameterSets(packet.slice(), stored);
  assert.equal(expected.length, 2 * TS_PACKET_SIZE, "the sets go in a PES of their own");
  assert.deepEqual(step.packets, expected);
});

Deno.test("StreamFollower.markNextKeyFrame() gives the program info at the next key frame, dropping nothing", () => {
  const buffer = fresh(256);
  const publisher = new Publisher(buffer);
  const follower = StreamFollower.attach(buffer);
  const written = publisher.publish(H264_AAC_FIXTURE);
  let sentMessages = 0;
  let marked = false;
  const withInfo: number[] = [];
  for (let step = follower.next(); step.kind !== "none"; step = follower.next()) {
    assert.equal(step.kind, "message");
    if (step.kind !== "message") continue;
    if (step.programInfo !== undefined) withInfo.push(sentMessages);
    sentMessages++;
    // Asked right after the first key frame: the second one gets the program info.
    if (!marked) {
      follower.markNextKeyFrame();
      marked = true;
    } else if (step.programInfo !== undefined) {
      assert.equal(step.randomAccess, true);
      assert.equal(step.start, false);
    }
  }
  assert.equal(sentMessages, written, "nothing dropped");
  assert.equal(withInfo.length, 2, `program info at messages ${withInfo}`);
  assert.equal(follower.skips, 0);
});
