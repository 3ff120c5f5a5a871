import assert from "node:assert/strict";
import { concat } from "../../tests/support/bytes.ts";
import { SeededRandom } from "../../tests/support/random.ts";
import { bytesFromHex as hex } from "../ipc/hex.ts";
import { ContinuityKeeper, findContinuityErrors } from "./continuity.ts";
import { MessageFlags, TS_PACKET_SIZE, TsInspector } from "./mpegts.ts";
// Imported as bytes, not read: this folder's tests run without any permission.
import H264_AAC_FIXTURE from "./testdata/h264_aac_64x64.m2ts" with { type: "bytes" };

/**
 * One packet from its header in hex (sync byte, PID with flags, control and
 * counter) and, when the control says so, its adaptation field (length
 * first); the rest is payload bytes of `fill`.
 */
function packet(header: string, adaptation = "", fill = 0xaa): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(TS_PACKET_SIZE).fill(fill);
  const head = concat(hex(header), hex(adaptation));
  bytes.set(head);
  // An adaptation field given shorter than its length: stuffing.
  if (adaptation !== "") bytes.fill(0xff, head.length, 5 + bytes[4]!);
  return bytes;
}

const stream = (...packets: Uint8Array[]) => concat(...packets);

Deno.test("findContinuityErrors() accepts and rejects counter sequences", async (t) => {
  const cases: {
    name: string;
    packets: Uint8Array[];
    errors: { packet: number; pid: number; expected: number; got: number }[];
  }[] = [
    {
      name: "a payload counter counting on, across the wrap",
      packets: [packet("47 0100 1e"), packet("47 0100 1f"), packet("47 0100 10")],
      errors: [],
    },
    {
      name: "a jump on one PID, not on another",
      packets: [packet("47 0100 13"), packet("47 0101 17"), packet("47 0100 15")],
      errors: [{ packet: 2, pid: 0x100, expected: 4, got: 5 }],
    },
    {
      name: "a jump excused by discontinuity_indicator",
      packets: [packet("47 0100 13"), packet("47 0100 39", "01 80")],
      errors: [],
    },
    {
      name: "an adaptation field of length 0 excuses nothing",
      packets: [packet("47 0100 13"), packet("47 0100 39", "00")],
      errors: [{ packet: 1, pid: 0x100, expected: 4, got: 9 }],
    },
    {
      name: "an adaptation-only packet repeats the counter",
      packets: [packet("47 0100 13"), packet("47 0100 23", "b7 10"), packet("47 0100 14")],
      errors: [],
    },
    {
      name: "an adaptation-only packet that counts on",
      packets: [packet("47 0100 13"), packet("47 0100 24", "b7 10")],
      errors: [{ packet: 1, pid: 0x100, expected: 3, got: 4 }],
    },
    {
      name: "one duplicate of the same payload",
      packets: [packet("47 0000 13"), packet("47 0000 13"), packet("47 0000 14")],
      errors: [],
    },
    {
      name: "a second duplicate",
      packets: [packet("47 0000 13"), packet("47 0000 13"), packet("47 0000 13")],
      errors: [{ packet: 2, pid: 0, expected: 4, got: 3 }],
    },
    {
      name: "the same counter with another payload (a takeover's PAT)",
      packets: [packet("47 0000 13", "", 0x01), packet("47 0000 13", "", 0x02)],
      errors: [{ packet: 1, pid: 0, expected: 4, got: 3 }],
    },
    {
      name: "the null PID and transport errors are not checked",
      packets: [
        packet("47 1fff 10"),
        packet("47 1fff 15"),
        packet("47 0100 10"),
        packet("47 8100 15"),
      ],
      errors: [],
    },
  ];
  for (const { name, packets, errors } of cases) {
    await t.step(name, () => assert.deepEqual(findContinuityErrors(stream(...packets)), errors));
  }
});

Deno.test("findContinuityErrors() rejects what is not whole packets", () => {
  assert.throws(() => findContinuityErrors(new Uint8Array(187)), RangeError);
  assert.throws(() => findContinuityErrors(new Uint8Array(188)), RangeError);
});

Deno.test("findContinuityErrors() finds none in an ffmpeg recording", () => {
  assert.deepEqual(findContinuityErrors(H264_AAC_FIXTURE), []);
});

/** The continuity counter of each packet of `bytes`. */
function counters(bytes: Uint8Array): string {
  const out: string[] = [];
  for (let o = 0; o < bytes.length; o += TS_PACKET_SIZE) {
    const pid = ((bytes[o + 1]! & 0x1f) << 8) | bytes[o + 2]!;
    const flagged = (bytes[o + 3]! & 0x20) !== 0 && bytes[o + 4]! > 0 && (bytes[o + 5]! & 0x80);
    out.push(`${pid.toString(16)}:${(bytes[o + 3]! & 0x0f).toString(16)}${flagged ? "!" : ""}`);
  }
  return out.join(" ");
}

Deno.test("ContinuityKeeper passes packets unchanged until a splice", () => {
  const keeper = new ContinuityKeeper();
  // A gap the publisher made stays: the viewer does not hide real losses.
  const input = stream(packet("47 4100 13"), packet("47 0100 15"), packet("47 0101 10"));
  const copy = input.slice();
  assert.equal(keeper.pass(input), input);
  assert.deepEqual(input, copy);
  keeper.splice(undefined);
  const bytes = new Uint8Array(100);
  assert.equal(keeper.pass(bytes), bytes, "not TS: as it is");
});

Deno.test("ContinuityKeeper numbers PSI packets on from what it sent", () => {
  const keeper = new ContinuityKeeper();
  // The newest PAT and SDT (copies), then older ones in the stream, then a new publisher's.
  const messages = [
    stream(packet("47 4000 15"), packet("47 4011 1a")),
    stream(packet("47 4000 14"), packet("47 4011 19"), packet("47 4012 13")),
    stream(packet("47 4000 10"), packet("47 0011 23", "b7 00"), packet("47 4011 10")),
  ];
  const sent = messages.map((message, index) => {
    if (index === 2) keeper.splice(undefined);
    return counters(keeper.pass(message));
  });
  assert.deepEqual(sent, ["0:5 11:a", "0:6 11:b 12:3", "0:7 11:b 11:c"]);
  assert.equal(keeper.inserted, 0);
});

Deno.test("ContinuityKeeper marks the first packet of each PID after a splice", async (t) => {
  const before = stream(packet("47 4100 37", "07 10"), packet("47 0101 14"), packet("47 0102 1c"));
  const cases: { name: string; after: Uint8Array[]; sent: string; inserted?: number }[] = [
    {
      name: "in place in an adaptation field with flags",
      after: [packet("47 4100 32", "07 50")],
      sent: "100:2!",
    },
    {
      name: "in an adaptation-only packet, numbered so the next one continues",
      after: [packet("47 4101 19")],
      sent: "101:8! 101:9",
      inserted: 1,
    },
    {
      name: "in an inserted packet when the adaptation field has no flags byte",
      after: [packet("47 4101 39", "00")],
      sent: "101:8! 101:9",
      inserted: 1,
    },
    {
      name: "dropping what continues a PES the player never got the start of",
      after: [packet("47 0101 18"), packet("47 0101 39", "00"), packet("47 4101 1a")],
      sent: "101:9! 101:a",
      inserted: 1,
    },
    {
      name: "a whole message dropped",
      after: [packet("47 0101 15"), packet("47 0101 16")],
      sent: "",
    },
    {
      name: "a PCR-only packet flagged, then a gap before the next PES flagged again",
      after: [packet("47 0100 29", "b7 10"), packet("47 0100 1a"), packet("47 4100 1b")],
      sent: "100:9! 100:a! 100:b",
      inserted: 1,
    },
    {
      name: "every PID once, a PID never sent before untouched",
      after: [packet("47 4103 15"), packet("47 4100 31", "07 10"), packet("47 4100 12")],
      sent: "103:5 100:1! 100:2",
    },
  ];
  for (const { name, after, sent, inserted = 0 } of cases) {
    await t.step(name, () => {
      const keeper = new ContinuityKeeper();
      keeper.pass(before.slice());
      keeper.splice(undefined);
      assert.equal(counters(keeper.pass(stream(...after))), sent);
      assert.equal(keeper.inserted, inserted);
    });
  }
});

Deno.test("ContinuityKeeper treats the PMT PID its program info names as PSI", () => {
  const keeper = new ContinuityKeeper();
  const programInfo = programInfoOf(H264_AAC_FIXTURE);
  const pmtPid = ((programInfo[189]! & 0x1f) << 8) | programInfo[190]!;
  assert.equal(pmtPid, 0x1000);
  keeper.pass(stream(packet("47 5000 14"), packet("47 4100 34", "07 10")));
  keeper.splice(programInfo.slice());
  assert.equal(
    counters(keeper.pass(stream(packet("47 5000 19"), packet("47 4100 39", "07 10")))),
    "1000:5 100:9!",
  );
});

/** The first PAT and PMT packets of `ts`, as the publisher's inspector keeps them. */
function programInfoOf(ts: Uint8Array): Uint8Array<ArrayBuffer> {
  const inspector = new TsInspector();
  for (let o = 0; o < ts.length && inspector.programInfo() === undefined; o += TS_PACKET_SIZE) {
    inspector.inspect(ts.subarray(o, o + TS_PACKET_SIZE));
  }
  return inspector.programInfo()!.slice();
}

/** Offsets of the messages (7 packets) in `ts` that hold a random-access point. */
function randomAccessMessages(ts: Uint8Array): number[] {
  const inspector = new TsInspector();
  const found: number[] = [];
  for (let o = 0; o + 7 * TS_PACKET_SIZE <= ts.length; o += 7 * TS_PACKET_SIZE) {
    const flags = inspector.inspect(ts.subarray(o, o + 7 * TS_PACKET_SIZE));
    if (flags & MessageFlags.RandomAccess) found.push(o);
  }
  return found;
}

Deno.test("ContinuityKeeper splices two recordings without a continuity error", () => {
  // A viewer that sent the first second of one publisher, then a takeover by
  // another starting at its second key frame, program info first.
  const [, second] = randomAccessMessages(H264_AAC_FIXTURE);
  assert.ok(second !== undefined);
  const cut = 7 * TS_PACKET_SIZE * 40;
  const programInfo = programInfoOf(H264_AAC_FIXTURE);
  const messages = [
    programInfo.slice(),
    H264_AAC_FIXTURE.slice(0, cut),
    programInfo.slice(),
    H264_AAC_FIXTURE.slice(second),
  ];
  const unchanged = concat(...messages);
  assert.notDeepEqual(findContinuityErrors(unchanged), [], "the splice shows without the keeper");

  const keeper = new ContinuityKeeper();
  const sent = messages.map((message, index) => {
    if (index % 2 === 0) keeper.splice(message);
    return keeper.pass(message);
  });
  assert.deepEqual(findContinuityErrors(concat(...sent)), []);
  assert.ok(keeper.dropped > 0, "the audio PES cut in the middle is dropped");
});

Deno.test("ContinuityKeeper leaves no continuity error in spliced random streams (seeded)", () => {
  const pids = [0x0000, 0x0011, 0x1000, 0x0100, 0x0101, 0x0102];
  const programInfo = programInfoOf(H264_AAC_FIXTURE);
  for (let seed = 1; seed <= 200; seed++) {
    const random = new SeededRandom(seed);
    const pick = (n: number) => random.uint32() % n;
    const keeper = new ContinuityKeeper();
    const sent: Uint8Array[] = [];
    // Each segment is one publisher's stretch, continuous on every PID;
    // between segments the viewer splices (a join, a skip, a takeover).
    for (let segment = 0; segment < 4; segment++) {
      keeper.splice(pick(2) === 0 ? programInfo : undefined);
      const counter = pids.map(() => pick(16));
      let message: Uint8Array[] = [];
      for (let n = 0; n < 60; n++) {
        const index = pick(pids.length);
        const pid = pids[index]!;
        const unitStart = pick(3) === 0 ? 0x40 : 0;
        const head = `47 ${(unitStart | (pid >> 8)).toString(16).padStart(2, "0")}${
          (pid & 0xff).toString(16).padStart(2, "0")
        }`;
        const layout = pick(4);
        if (layout === 3) {
          // Adaptation only (a PCR, say): the counter stays.
          message.push(packet(`${head} ${(0x20 | counter[index]!).toString(16)}`, "b7 10"));
        } else {
          counter[index] = (counter[index]! + 1) & 0x0f;
          const control = (layout === 0 ? 0x10 : 0x30) | counter[index]!;
          const adaptation = ["", "00", "07 10"][layout]!;
          message.push(packet(`${head} ${control.toString(16)}`, adaptation));
        }
        if (message.length === 7 || pick(5) === 0) {
          const out = keeper.pass(concat(...message));
          assert.equal(out.length % TS_PACKET_SIZE, 0);
          sent.push(out);
          message = [];
        }
      }
      if (message.length > 0) sent.push(keeper.pass(concat(...message)));
    }
    assert.deepEqual(findContinuityErrors(concat(...sent)), [], `seed ${seed}`);
  }
});
