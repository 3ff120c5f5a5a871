import assert from "node:assert/strict";
import {
  buildParameterSetPes,
  extractParameterSets,
  findJoinAccessUnit,
  isVideoCodec,
  ParameterSetCollector,
  VideoCodec,
  withParameterSets,
} from "./parameter_sets.ts";
import { ContinuityKeeper, findContinuityErrors } from "./continuity.ts";
import { TS_PACKET_SIZE } from "./mpegts.ts";

function hex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, "");
  return Uint8Array.from(
    { length: clean.length / 2 },
    (_, i) => parseInt(clean.slice(2 * i, 2 * i + 2), 16),
  );
}

function toHex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// H.264: access unit delimiter, SPS, PPS, an IDR slice, an SEI, a non-IDR slice.
const AUD = "00000001 09f0";
const SPS = "00000001 6742c01eda";
const PPS = "000001 68ce3c80";
const IDR = "000001 658884";
const SEI = "000001 0605ff";
const SLICE = "000001 419a02";
// HEVC: VPS, SPS, PPS (two-byte headers), an IDR_W_RADL slice, an access unit delimiter.
const VPS_265 = "00000001 40010c01";
const SPS_265 = "00000001 42010101";
const PPS_265 = "000001 4401c172";
const IDR_265 = "000001 2601af";
const AUD_265 = "00000001 460150";

Deno.test("extractParameterSets() finds the parameter sets before the first slice", async (t) => {
  const cases: {
    name: string;
    codec: VideoCodec;
    es: string;
    sets: string;
    complete: boolean;
    sliceFound: boolean;
  }[] = [
    {
      name: "H.264 key frame with SPS and PPS (4-byte start codes, trailing zero trimmed)",
      codec: VideoCodec.H264,
      es: AUD + SPS + PPS + SEI + IDR,
      sets: "00000001 6742c01eda 00000001 68ce3c80",
      complete: true,
      sliceFound: true,
    },
    {
      name: "H.264 key frame without them",
      codec: VideoCodec.H264,
      es: AUD + SEI + IDR,
      sets: "",
      complete: false,
      sliceFound: true,
    },
    {
      name: "H.264 with SPS only",
      codec: VideoCodec.H264,
      es: AUD + SPS + IDR,
      sets: "00000001 6742c01eda",
      complete: false,
      sliceFound: true,
    },
    {
      name: "H.264 parameter sets after the first slice are not the access unit's",
      codec: VideoCodec.H264,
      es: AUD + SLICE + SPS + PPS,
      sets: "",
      complete: false,
      sliceFound: true,
    },
    {
      name: "a NAL unit cut off by the end is not taken",
      codec: VideoCodec.H264,
      es: AUD + SPS + PPS,
      sets: "00000001 6742c01eda",
      complete: false,
      sliceFound: false,
    },
    {
      name: "HEVC key frame with VPS, SPS and PPS",
      codec: VideoCodec.Hevc,
      es: AUD_265 + VPS_265 + SPS_265 + PPS_265 + IDR_265,
      sets: "00000001 40010c01 00000001 42010101 00000001 4401c172",
      complete: true,
      sliceFound: true,
    },
    {
      name: "HEVC without the VPS",
      codec: VideoCodec.Hevc,
      es: AUD_265 + SPS_265 + PPS_265 + IDR_265,
      sets: "00000001 42010101 00000001 4401c172",
      complete: false,
      sliceFound: true,
    },
    {
      name: "H.264 NAL types are not taken for HEVC ones",
      codec: VideoCodec.Hevc,
      es: SPS + PPS + IDR_265,
      sets: "",
      complete: false,
      sliceFound: true,
    },
    {
      name: "no start code",
      codec: VideoCodec.H264,
      es: "6742c01e",
      sets: "",
      complete: false,
      sliceFound: false,
    },
    {
      name: "nothing",
      codec: VideoCodec.H264,
      es: "",
      sets: "",
      complete: false,
      sliceFound: false,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const scan = extractParameterSets(hex(c.es), c.codec);
      assert.equal(toHex(scan.parameterSets), c.sets.replace(/\s+/g, ""));
      assert.equal(scan.complete, c.complete);
      assert.equal(scan.sliceFound, c.sliceFound);
    });
  }
});

Deno.test("extractParameterSets() never throws, whatever the bytes", () => {
  let seed = 12345;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24;
  for (let round = 0; round < 2000; round++) {
    // Mostly zeros and ones, so start codes are common.
    const es = Uint8Array.from({ length: next() }, () => {
      const b = next();
      return b < 100 ? 0 : b < 140 ? 1 : b;
    });
    for (const codec of [VideoCodec.H264, VideoCodec.Hevc]) {
      const scan = extractParameterSets(es, codec);
      assert.ok(scan.parameterSets.length <= es.length + 4 * es.length);
    }
  }
});

const VIDEO_PID = 0x100;
const AUDIO_PID = 0x101;
/** PTS 0x1_0000_0001 and DTS as 13818-1 encodes them. */
const PTS_DTS = "31 0001 0003 11 0001 0001";

/** A 188-byte packet whose payload is `payload` padded with 0x88 (slice data) to 184 bytes. */
function packet(pid: number, unitStart: boolean, counter: number, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(TS_PACKET_SIZE).fill(0x88);
  p.set([0x47, (unitStart ? 0x40 : 0) | (pid >> 8), pid & 0xff, 0x10 | counter]);
  p.set(payload.subarray(0, TS_PACKET_SIZE - 4), 4);
  return p;
}

/** A video PES start (PTS and DTS, unbounded length) followed by `es`. */
function pesStart(es: string): Uint8Array {
  return hex("000001e0 0000 80c0 0a" + PTS_DTS + es);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

const H264_VIDEO = { pid: VIDEO_PID, codec: VideoCodec.H264 };

Deno.test("findJoinAccessUnit() says whether the key frame's access unit lacks SPS and PPS", async (t) => {
  const audio = packet(AUDIO_PID, true, 3, hex("000001c0"));
  await t.step("without them", () => {
    const message = concat(audio, packet(VIDEO_PID, true, 7, pesStart(AUD + SEI + IDR)));
    const join = findJoinAccessUnit(message, H264_VIDEO);
    assert.ok(join !== undefined);
    assert.equal(join.packetOffset, TS_PACKET_SIZE);
    assert.equal(join.streamId, 0xe0);
    assert.equal(join.ptsDtsFlags, 3);
    assert.equal(toHex(join.timestamps), PTS_DTS.replace(/\s+/g, ""));
    assert.equal(join.continuityCounter, 7);
    assert.equal(join.hasParameterSets, false);
  });
  await t.step("with them", () => {
    const message = concat(audio, packet(VIDEO_PID, true, 7, pesStart(AUD + SPS + PPS + IDR)));
    assert.equal(findJoinAccessUnit(message, H264_VIDEO)?.hasParameterSets, true);
  });
  await t.step("with them split over two packets of the PID", () => {
    const es = hex(AUD + SPS + PPS + IDR);
    const header = pesStart("");
    const first = concat(header, new Uint8Array(184 - header.length - 8), es.subarray(0, 8));
    const message = concat(
      packet(VIDEO_PID, true, 7, first),
      audio,
      packet(VIDEO_PID, false, 8, es.subarray(8)),
    );
    assert.equal(findJoinAccessUnit(message, H264_VIDEO)?.hasParameterSets, true);
  });
  await t.step("only the first access unit counts", () => {
    const message = concat(
      packet(VIDEO_PID, true, 7, pesStart(AUD + IDR)),
      packet(VIDEO_PID, true, 8, pesStart(AUD + SPS + PPS + IDR)),
    );
    assert.equal(findJoinAccessUnit(message, H264_VIDEO)?.hasParameterSets, false);
  });
  await t.step("no PES start on the PID", () => {
    const message = concat(audio, packet(VIDEO_PID, false, 7, hex(IDR)));
    assert.equal(findJoinAccessUnit(message, H264_VIDEO), undefined);
  });
});

/** The PES payloads of `pid` in `ts`, concatenated. */
function payloadOf(ts: Uint8Array, pid: number): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let o = 0; o < ts.length; o += TS_PACKET_SIZE) {
    if ((((ts[o + 1]! & 0x1f) << 8) | ts[o + 2]!) !== pid) continue;
    const b3 = ts[o + 3]!;
    const start = (b3 & 0x20) !== 0 ? o + 5 + ts[o + 4]! : o + 4;
    parts.push(ts.subarray(start, o + TS_PACKET_SIZE));
  }
  return concat(...parts);
}

Deno.test("buildParameterSetPes() makes a PES the key frame's packet continues", async (t) => {
  for (const size of [9, 150, 166, 167, 168, 400]) {
    await t.step(`${size} bytes of parameter sets`, () => {
      const sets = new Uint8Array(size).map((_, i) => (i * 7 + 3) & 0xff);
      const keyFrame = packet(VIDEO_PID, true, 2, pesStart(AUD + IDR));
      const built = buildParameterSetPes(sets, {
        pid: VIDEO_PID,
        streamId: 0xe0,
        ptsDtsFlags: 3,
        timestamps: hex(PTS_DTS),
        continuityCounter: 2,
      });
      assert.equal(built.length % TS_PACKET_SIZE, 0);
      const count = built.length / TS_PACKET_SIZE;
      assert.equal(count, Math.ceil((19 + size + 2) / 184));
      // The first packet starts the PES and carries discontinuity_indicator.
      assert.equal(toHex(built.subarray(0, 3)), "474100");
      assert.equal(built[3]! & 0x30, 0x30);
      assert.equal(built[5], 0x80);
      // A player after whatever came before sees no counter error.
      const before = packet(VIDEO_PID, false, 9, hex(SLICE));
      assert.deepEqual(findContinuityErrors(concat(before, built, keyFrame)), []);
      assert.equal(built[3 + (count - 1) * TS_PACKET_SIZE]! & 0x0f, 1);
      const pes = payloadOf(built, VIDEO_PID);
      const expected = concat(
        hex("000001e0"),
        Uint8Array.of((3 + 10 + size) >> 8, (3 + 10 + size) & 0xff),
        hex("84c00a" + PTS_DTS),
        sets,
      );
      assert.equal(toHex(pes), toHex(expected));
    });
  }
});

Deno.test("buildParameterSetPes() output reads back as the key frame's timestamps and sets", () => {
  const sets = hex("00000001 6742c01eda 00000001 68ce3c80");
  const built = buildParameterSetPes(sets, {
    pid: VIDEO_PID,
    streamId: 0xe0,
    ptsDtsFlags: 2,
    timestamps: hex("21 0001 0001"),
    continuityCounter: 0,
  });
  assert.equal(built[3]! & 0x0f, 15);
  const join = findJoinAccessUnit(built, H264_VIDEO);
  assert.equal(toHex(join?.timestamps ?? new Uint8Array()), "2100010001");
  // What a demuxer hands the decoder: these NAL units, then the key frame's.
  const es = concat(payloadOf(built, VIDEO_PID).subarray(14), hex(AUD + IDR));
  const scan = extractParameterSets(es, VideoCodec.H264);
  assert.equal(scan.complete, true);
  assert.equal(toHex(scan.parameterSets), toHex(sets));
});

Deno.test("buildParameterSetPes() rejects a bad PID or timestamps", () => {
  const options = {
    pid: VIDEO_PID,
    streamId: 0xe0,
    ptsDtsFlags: 3,
    timestamps: hex(PTS_DTS),
    continuityCounter: 0,
  };
  assert.throws(() => buildParameterSetPes(hex(SPS), { ...options, pid: 0x1fff }), RangeError);
  assert.throws(() => buildParameterSetPes(hex(SPS), { ...options, ptsDtsFlags: 2 }), RangeError);
  assert.throws(() => buildParameterSetPes(new Uint8Array(70_000), options), RangeError);
});

Deno.test("ParameterSetCollector returns each new complete set once", () => {
  const collector = new ParameterSetCollector();
  const withSets = packet(VIDEO_PID, true, 0, pesStart(AUD + SPS + PPS + IDR));
  const without = packet(VIDEO_PID, true, 1, pesStart(AUD + SLICE));
  assert.equal(
    toHex(collector.feed(withSets, H264_VIDEO) ?? new Uint8Array()),
    "000000016742c01eda0000000168ce3c80",
  );
  assert.equal(collector.feed(without, H264_VIDEO), undefined);
  assert.equal(collector.feed(withSets, H264_VIDEO), undefined, "the same again");
  const changed = packet(VIDEO_PID, true, 2, pesStart(AUD + "00000001 6742c01fda" + PPS + IDR));
  assert.equal(
    toHex(collector.feed(changed, H264_VIDEO) ?? new Uint8Array()),
    "000000016742c01fda0000000168ce3c80",
  );
  // Another PID, or an access unit with only part of a set, gives nothing.
  assert.equal(collector.feed(withSets, { pid: 0x200, codec: VideoCodec.H264 }), undefined);
  const spsOnly = packet(0x200, true, 3, pesStart(AUD + SPS + IDR));
  assert.equal(collector.feed(spsOnly, { pid: 0x200, codec: VideoCodec.H264 }), undefined);
});

Deno.test("ParameterSetCollector follows an access unit over packets and messages", () => {
  const collector = new ParameterSetCollector();
  const es = hex(AUD + SPS + PPS + IDR);
  const header = pesStart("");
  const first = concat(header, new Uint8Array(184 - header.length - 8), es.subarray(0, 8));
  assert.equal(collector.feed(packet(VIDEO_PID, true, 0, first), H264_VIDEO), undefined);
  const rest = packet(VIDEO_PID, false, 1, es.subarray(8));
  assert.equal(
    toHex(collector.feed(rest, H264_VIDEO) ?? new Uint8Array()),
    "000000016742c01eda0000000168ce3c80",
  );
});

Deno.test("isVideoCodec() accepts only H.264 and HEVC", () => {
  assert.deepEqual([0, 1, 2, 3, -1].map(isVideoCodec), [false, true, true, false, false]);
});

Deno.test("withParameterSets() puts stored sets before a key frame that lacks them, and only then", async (t) => {
  const stored = {
    pid: VIDEO_PID,
    codec: VideoCodec.H264,
    bytes: hex("00000001 6742c01eda 00000001 68ce3c80"),
  };
  const tail = packet(VIDEO_PID, false, 9, hex(SLICE));
  const audio = packet(AUDIO_PID, true, 3, hex("000001c0"));
  const keyFrame = packet(VIDEO_PID, true, 10, pesStart(AUD + SEI + IDR));

  await t.step("lacking: inserted right before the key frame's PES", () => {
    const message = concat(tail, audio, keyFrame);
    const out = withParameterSets(message, stored);
    assert.equal(out.length, message.length + TS_PACKET_SIZE);
    assert.equal(
      toHex(out.subarray(0, 2 * TS_PACKET_SIZE)),
      toHex(message.subarray(0, 2 * TS_PACKET_SIZE)),
    );
    assert.equal(toHex(out.subarray(3 * TS_PACKET_SIZE)), toHex(keyFrame));
    const es = concat(payloadOf(out, VIDEO_PID).subarray(184 + 19, 184 + 19 + 18), hex(AUD + IDR));
    assert.equal(
      toHex(extractParameterSets(es, VideoCodec.H264).parameterSets),
      toHex(stored.bytes),
    );
  });

  await t.step("through a viewer's continuity keeper, at a join and after a splice", () => {
    const keeper = new ContinuityKeeper();
    const sent: Uint8Array[] = [];
    for (const counter of [11, 12]) {
      const message = concat(
        packet(VIDEO_PID, false, (counter + 5) & 0x0f, hex(SLICE)),
        packet(VIDEO_PID, true, counter, pesStart(AUD + IDR)),
      );
      sent.push(keeper.pass(withParameterSets(message, stored)));
      keeper.splice(undefined); // the viewer skips ahead
    }
    assert.deepEqual(findContinuityErrors(concat(...sent)), []);
  });

  await t.step("not lacking, no sets, unknown codec or PID: unchanged", () => {
    const complete = concat(audio, packet(VIDEO_PID, true, 10, pesStart(AUD + SPS + PPS + IDR)));
    assert.equal(withParameterSets(complete, stored), complete);
    const lacking = concat(audio, keyFrame);
    assert.equal(withParameterSets(lacking, undefined), lacking);
    assert.equal(withParameterSets(lacking, { ...stored, codec: 7 }), lacking);
    assert.equal(withParameterSets(lacking, { ...stored, pid: 0x1fff }), lacking);
    assert.equal(withParameterSets(lacking, { ...stored, pid: 0x300 }), lacking);
  });
});
