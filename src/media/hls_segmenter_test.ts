import assert from "node:assert/strict";
import { concat } from "../../tests/support/bytes.ts";
import { SeededRandom } from "../../tests/support/random.ts";
import { scratchDir } from "../../tests/support/files.ts";
import { renderMediaPlaylist } from "./hls_playlist.ts";
import {
  type HlsPart,
  type HlsSegment,
  HlsSegmenter,
  type HlsSegmenterOptions,
  timestampDistance,
} from "./hls_segmenter.ts";
import { MessageFlags, TS_PACKET_SIZE, TsInspector } from "./mpegts.ts";
import { extractParameterSets, VideoCodec } from "./parameter_sets.ts";
// Imported as bytes, not read: this folder's tests run without any permission.
import H264_AAC_10S from "./testdata/h264_aac_10s.m2ts" with { type: "bytes" };
import HEVC_FIXTURE from "./testdata/hevc_64x64.m2ts" with { type: "bytes" };
import AAC_FIXTURE from "./testdata/aac_16k.m2ts" with { type: "bytes" };

const PMT_PID = 0x1000;
const VIDEO_PID = 0x100;
const TICKS_PER_SECOND = 90_000;
const PTS_MODULO = 2 ** 33;

/**
 * The key frames of h264_aac_10s.m2ts (see testdata/README.md): one a second
 * from PTS 133200, as
 * `ffprobe -v error -select_streams v -show_entries packet=pts,flags -of csv=p=0 FILE | grep K`
 * lists them. Its first 3 packets are an SDT, the PAT and the PMT; the 4th
 * starts the first key frame's PES.
 */
const FIRST_KEY_FRAME_PTS = 133_200;
const FIRST_KEY_FRAME_PACKET = 3;
/** aac_16k.m2ts carries its AAC on PID 0x100. */
const AAC_PID = 0x100;

function pidAt(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset + 1]! & 0x1f) << 8) | bytes[offset + 2]!;
}

/** The PTS of the PES that starts in the packet at `offset`, or undefined. */
function ptsAt(bytes: Uint8Array, offset: number): number | undefined {
  if ((bytes[offset + 1]! & 0x40) === 0) return undefined;
  const p = offset + ((bytes[offset + 3]! & 0x20) === 0 ? 4 : 5 + bytes[offset + 4]!);
  if (bytes[p] !== 0 || bytes[p + 1] !== 0 || bytes[p + 2] !== 1) return undefined;
  if ((bytes[p + 7]! & 0x80) === 0) return undefined;
  return readTimestamp(bytes, p + 9);
}

function readTimestamp(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! >> 1) & 7) * 2 ** 30 + bytes[at + 1]! * 2 ** 22 +
    (bytes[at + 2]! >> 1) * 2 ** 15 + bytes[at + 3]! * 2 ** 7 + (bytes[at + 4]! >> 1);
}

function writeTimestamp(bytes: Uint8Array, at: number, value: number): void {
  const v = ((value % PTS_MODULO) + PTS_MODULO) % PTS_MODULO;
  bytes[at] = (bytes[at]! & 0xf0) | (Math.floor(v / 2 ** 29) & 0x0e) | 1;
  bytes[at + 1] = Math.floor(v / 2 ** 22) & 0xff;
  bytes[at + 2] = (Math.floor(v / 2 ** 14) & 0xfe) | 1;
  bytes[at + 3] = Math.floor(v / 2 ** 7) & 0xff;
  bytes[at + 4] = ((v * 2) & 0xfe) | 1;
}

/** A copy of `stream` with every PTS, DTS and PCR base moved by `ticks` (mod 2^33). */
function shiftTimestamps(stream: Uint8Array, ticks: number): Uint8Array<ArrayBuffer> {
  const out = stream.slice();
  for (let o = 0; o < out.length; o += TS_PACKET_SIZE) {
    const b3 = out[o + 3]!;
    let p = o + 4;
    if ((b3 & 0x20) !== 0) {
      const length = out[o + 4]!;
      if (length > 0 && (out[o + 5]! & 0x10) !== 0) {
        const at = o + 6;
        const base = out[at]! * 2 ** 25 + out[at + 1]! * 2 ** 17 + out[at + 2]! * 2 ** 9 +
          out[at + 3]! * 2 + (out[at + 4]! >> 7);
        const shifted = (((base + ticks) % PTS_MODULO) + PTS_MODULO) % PTS_MODULO;
        out[at] = Math.floor(shifted / 2 ** 25) & 0xff;
        out[at + 1] = Math.floor(shifted / 2 ** 17) & 0xff;
        out[at + 2] = Math.floor(shifted / 2 ** 9) & 0xff;
        out[at + 3] = Math.floor(shifted / 2) & 0xff;
        out[at + 4] = ((shifted & 1) << 7) | (out[at + 4]! & 0x7f);
      }
      p = o + 5 + length;
    }
    if ((out[o + 1]! & 0x40) === 0 || (b3 & 0x10) === 0) continue;
    if (out[p] !== 0 || out[p + 1] !== 0 || out[p + 2] !== 1) continue;
    const flags = out[p + 7]! >> 6;
    if (flags & 2) writeTimestamp(out, p + 9, readTimestamp(out, p + 9) + ticks);
    if (flags === 3) writeTimestamp(out, p + 14, readTimestamp(out, p + 14) + ticks);
  }
  return out;
}

/** Clears every random_access_indicator, so key frames are found by their slices alone. */
function withoutRandomAccessIndicators(stream: Uint8Array): Uint8Array<ArrayBuffer> {
  const copy = stream.slice();
  for (let o = 0; o < copy.length; o += TS_PACKET_SIZE) {
    if ((copy[o + 3]! & 0x20) !== 0 && copy[o + 4]! > 0) copy[o + 5] = copy[o + 5]! & ~0x40;
  }
  return copy;
}

/**
 * A copy of `stream` whose key frames after the first carry no SPS or PPS,
 * like an encoder that sends them once: their NAL headers become filler
 * data (type 12), which decoders skip, so nothing moves.
 */
function withParameterSetsOnce(stream: Uint8Array): Uint8Array<ArrayBuffer> {
  const copy = stream.slice();
  let seen = 0;
  for (let o = 0; o < copy.length; o += TS_PACKET_SIZE) {
    if (pidAt(copy, o) !== VIDEO_PID || (copy[o + 1]! & 0x40) === 0) continue;
    let found = false;
    for (let i = o + 4; i + 4 < o + TS_PACKET_SIZE; i++) {
      if (copy[i] !== 0 || copy[i + 1] !== 0 || copy[i + 2] !== 1) continue;
      const type = copy[i + 3]! & 0x1f;
      if (type !== 7 && type !== 8) continue;
      found = true;
      if (seen > 0) copy[i + 3] = (copy[i + 3]! & 0xe0) | 12;
    }
    if (found) seen++;
  }
  return copy;
}

/** Offset of the packet on `pid` that starts the PES with `pts`. */
function pesOffset(stream: Uint8Array, pid: number, pts: number): number {
  for (let o = 0; o < stream.length; o += TS_PACKET_SIZE) {
    if (pidAt(stream, o) === pid && ptsAt(stream, o) === pts) return o;
  }
  throw new Error(`No PES with PTS ${pts} on PID ${pid}`);
}

/**
 * Whether H.264 on `VIDEO_PID`, read from the start of `stream` as a decoder
 * would (PES payloads one after another), has an SPS and a PPS before its
 * first slice.
 */
function parameterSetsFirst(stream: Uint8Array): boolean {
  const parts: Uint8Array[] = [];
  for (let o = 0; o < stream.length && parts.length < 64; o += TS_PACKET_SIZE) {
    if (pidAt(stream, o) !== VIDEO_PID || (stream[o + 3]! & 0x10) === 0) continue;
    let p = o + ((stream[o + 3]! & 0x20) === 0 ? 4 : 5 + stream[o + 4]!);
    if ((stream[o + 1]! & 0x40) !== 0) p += 9 + stream[p + 8]!;
    parts.push(stream.subarray(p, o + TS_PACKET_SIZE));
  }
  return extractParameterSets(concat(...parts), VideoCodec.H264).complete;
}

/** `stream` in pushes of `packetsPerPush()` packets. */
function* pushes(stream: Uint8Array, packetsPerPush: () => number): Generator<Uint8Array> {
  for (let o = 0; o < stream.length;) {
    const length = packetsPerPush() * TS_PACKET_SIZE;
    yield stream.subarray(o, o + length);
    o += length;
  }
}

/** Every segment the segmenter finishes from `streams` (each a new publisher) and its end. */
function segmentAll(
  streams: Uint8Array[],
  options: HlsSegmenterOptions = {},
  packetsPerPush: () => number = () => 7,
): { segmenter: HlsSegmenter; segments: HlsSegment[] } {
  const segmenter = new HlsSegmenter(options);
  const segments: HlsSegment[] = [];
  streams.forEach((stream, index) => {
    let first = index > 0;
    for (const packets of pushes(stream, packetsPerPush)) {
      segments.push(...segmenter.push(packets, { newPublisher: first }));
      first = false;
    }
  });
  const last = segmenter.end();
  if (last !== undefined) segments.push(last);
  return { segmenter, segments };
}

/** Each segment's packets after its PAT and PMT (2 packets in ffmpeg's streams). */
function bodies(segments: HlsSegment[]): Uint8Array {
  return concat(...segments.map(({ bytes }) => bytes.subarray(2 * TS_PACKET_SIZE)));
}

/** Checks that a segment starts with the PAT, the PMT, then a PES on `leadPid`, and returns its PTS. */
function checkStart(segment: HlsSegment, leadPid: number): number {
  const { bytes } = segment;
  assert.equal(bytes.length % TS_PACKET_SIZE, 0);
  assert.equal(pidAt(bytes, 0), 0, `segment ${segment.sequence} starts with the PAT`);
  assert.equal(pidAt(bytes, TS_PACKET_SIZE), PMT_PID, `then the PMT`);
  assert.equal(pidAt(bytes, 2 * TS_PACKET_SIZE), leadPid, `then the lead PID`);
  const pts = ptsAt(bytes, 2 * TS_PACKET_SIZE);
  assert.ok(pts !== undefined, `segment ${segment.sequence} starts a PES with a PTS`);
  return pts;
}

/** The PTS at which each segment's first key frame is. */
function keyFramePts(seconds: number[], shift = 0): number[] {
  return seconds.map((s) => (FIRST_KEY_FRAME_PTS + s * TICKS_PER_SECOND + shift) % PTS_MODULO);
}

const random = new SeededRandom(0x415);
const splits: { name: string; packetsPerPush: () => number }[] = [
  { name: "in messages of 7 packets", packetsPerPush: () => 7 },
  { name: "packet by packet", packetsPerPush: () => 1 },
  { name: "in messages of 1 to 7 packets", packetsPerPush: () => 1 + (random.uint32() % 7) },
  { name: "in one push", packetsPerPush: () => H264_AAC_10S.length / TS_PACKET_SIZE },
];

for (const { name, packetsPerPush } of splits) {
  Deno.test(`HlsSegmenter cuts h264_aac_10s.m2ts ${name} into 2 s segments at key frames`, () => {
    const { segmenter, segments } = segmentAll([H264_AAC_10S], {}, packetsPerPush);
    assert.deepEqual(segments.map(({ sequence }) => sequence), [0, 1, 2, 3, 4]);
    // The last one ends with the stream: 50 frames from its key frame, estimated as 2 s too.
    assert.deepEqual(segments.map(({ durationMs }) => durationMs), [2000, 2000, 2000, 2000, 2000]);
    assert.deepEqual(segments.map((s) => checkStart(s, VIDEO_PID)), keyFramePts([0, 2, 4, 6, 8]));
    assert.ok(segments.every(({ discontinuity, independent }) => !discontinuity && independent));
    // Every packet from the first key frame on, once, in order.
    assert.deepEqual(bodies(segments), H264_AAC_10S.subarray(FIRST_KEY_FRAME_PACKET * 188));
    assert.deepEqual(segmenter.segments, segments);
    assert.equal(segmenter.nextSequence, 5);
    assert.equal(segmenter.ended, true);
  });
}

Deno.test("HlsSegmenter finds key frames by their slices when no random_access_indicator marks them", () => {
  const stripped = withoutRandomAccessIndicators(H264_AAC_10S);
  const { segments } = segmentAll([stripped], {}, () => 7);
  assert.deepEqual(segments.map((s) => checkStart(s, VIDEO_PID)), keyFramePts([0, 2, 4, 6, 8]));
  assert.deepEqual(bodies(segments), stripped.subarray(FIRST_KEY_FRAME_PACKET * 188));
});

Deno.test("HlsSegmenter starts where a viewer joins: the PAT and PMT, then a random-access message", () => {
  // Flag messages as the publisher's child does, and join at the second key frame.
  const inspector = new TsInspector();
  const messages = [...pushes(H264_AAC_10S, () => 7)];
  let keyFrames = 0;
  const join = messages.findIndex((message) =>
    (inspector.inspect(message) & MessageFlags.RandomAccess) !== 0 && ++keyFrames === 2
  );
  const segmenter = new HlsSegmenter();
  const segments = [...segmenter.push(inspector.programInfo()!)];
  for (const message of messages.slice(join)) segments.push(...segmenter.push(message));
  segments.push(segmenter.end()!);
  assert.deepEqual(segments.map((s) => checkStart(s, VIDEO_PID)), keyFramePts([1, 3, 5, 7, 9]));
  // The last one's 25 frames are estimated at 40 ms each.
  assert.deepEqual(segments.map(({ durationMs }) => durationMs), [2000, 2000, 2000, 2000, 1000]);
  const [joined] = keyFramePts([1]);
  assert.deepEqual(
    bodies(segments),
    H264_AAC_10S.subarray(pesOffset(H264_AAC_10S, VIDEO_PID, joined!)),
  );
});

Deno.test("HlsSegmenter measures durations across the 33-bit PTS wrap", () => {
  // Every timestamp moved so that the PTS wrap to 0 falls 5.5 s into the stream.
  const shift = PTS_MODULO - FIRST_KEY_FRAME_PTS - 5.5 * TICKS_PER_SECOND;
  const wrapped = shiftTimestamps(H264_AAC_10S, shift);
  const { segments, segmenter } = segmentAll([wrapped]);
  assert.deepEqual(
    segments.map((s) => checkStart(s, VIDEO_PID)),
    keyFramePts([0, 2, 4, 6, 8], shift),
  );
  assert.ok(checkStart(segments[3]!, VIDEO_PID) < checkStart(segments[2]!, VIDEO_PID));
  assert.deepEqual(segments.map(({ durationMs }) => durationMs), [2000, 2000, 2000, 2000, 2000]);
  assert.equal(segmenter.playlist().discontinuitySequence, 0);
  assert.ok(segments.every(({ discontinuity }) => !discontinuity));
});

Deno.test("timestampDistance() counts across the 33-bit wrap", () => {
  const cases: [number, number, number][] = [
    [0, 90_000, 90_000],
    [90_000, 0, -90_000],
    [PTS_MODULO - 45_000, 45_000, 90_000],
    [45_000, PTS_MODULO - 45_000, -90_000],
    [0, 2 ** 32 - 1, 2 ** 32 - 1],
    [0, 2 ** 32, -(2 ** 32)],
  ];
  for (const [from, to, distance] of cases) assert.equal(timestampDistance(from, to), distance);
  assert.ok(Number.isNaN(timestampDistance(NaN, 0)));
});

Deno.test("HlsSegmenter ends the segment at a takeover and marks the next one", () => {
  // The same stream twice: the second publisher's clock starts over.
  const { segmenter, segments } = segmentAll([H264_AAC_10S, H264_AAC_10S]);
  assert.equal(segments.length, 10);
  assert.deepEqual(
    segments.map(({ discontinuity }) => discontinuity),
    [false, false, false, false, false, true, false, false, false, false],
  );
  assert.deepEqual(segments.map(({ durationMs }) => durationMs), Array(10).fill(2000));
  assert.deepEqual(
    segments.map((s) => checkStart(s, VIDEO_PID)),
    [...keyFramePts([0, 2, 4, 6, 8]), ...keyFramePts([0, 2, 4, 6, 8])],
  );
  const playlist = renderMediaPlaylist(segmenter.playlist(), (n) => `${n}.ts`);
  assert.equal(
    playlist,
    [
      "#EXTM3U",
      "#EXT-X-VERSION:3",
      "#EXT-X-TARGETDURATION:2",
      "#EXT-X-MEDIA-SEQUENCE:4",
      "#EXTINF:2.000,",
      "4.ts",
      "#EXT-X-DISCONTINUITY",
      ...[5, 6, 7, 8, 9].flatMap((n) => ["#EXTINF:2.000,", `${n}.ts`]),
      "#EXT-X-ENDLIST",
      "",
    ].join("\n"),
  );
});

Deno.test("HlsSegmenter marks no discontinuity when the first publisher's stream starts", () => {
  const segmenter = new HlsSegmenter();
  const segments = [...segmenter.push(H264_AAC_10S, { newPublisher: true })];
  segments.push(segmenter.end()!);
  assert.equal(segments.length, 5);
  assert.ok(segments.every(({ discontinuity }) => !discontinuity));
});

const timeJumps: { name: string; second: (stream: Uint8Array) => Uint8Array }[] = [
  // A forward jump between two PES starts, caught at once.
  { name: "an hour ahead", second: (s) => shiftTimestamps(s, 3600 * TICKS_PER_SECOND) },
  // Back by less than the jump limit: caught at the key frame that goes back in time.
  { name: "back to the start", second: (s) => s },
];

for (const { name, second } of timeJumps) {
  Deno.test(`HlsSegmenter marks a discontinuity where one publisher's timestamps jump ${name}`, () => {
    const segmenter = new HlsSegmenter();
    const segments: HlsSegment[] = [];
    for (const stream of [H264_AAC_10S, second(H264_AAC_10S)]) {
      for (const packets of pushes(stream, () => 7)) segments.push(...segmenter.push(packets));
    }
    segments.push(segmenter.end()!);
    assert.equal(segments.length, 10);
    assert.deepEqual(segments.map(({ discontinuity }) => discontinuity), [
      ...Array(5).fill(false),
      true,
      ...Array(4).fill(false),
    ]);
    assert.deepEqual(segments.map(({ durationMs }) => durationMs), Array(10).fill(2000));
  });
}

Deno.test("HlsSegmenter keeps a bounded window and counts the discontinuities that leave it", () => {
  const segmenter = new HlsSegmenter({ windowSize: 2 });
  const seen: HlsSegment[] = [];
  const render = () => renderMediaPlaylist(segmenter.playlist(), (n) => `s${n}.ts`);
  for (const [index, stream] of [H264_AAC_10S, H264_AAC_10S, H264_AAC_10S].entries()) {
    let first = index > 0;
    for (const packets of pushes(stream, () => 7)) {
      seen.push(...segmenter.push(packets, { newPublisher: first }));
      first = false;
      // RFC 8216 6.2.2: at least three target durations (6 s) stay listed, however small the window.
      const listed = segmenter.playlist().segments;
      const total = listed.reduce((sum, { durationMs }) => sum + durationMs, 0);
      assert.ok(listed.length <= 4);
      assert.ok(seen.length < 3 || total >= 6000, `${total} ms listed`);
    }
    if (index === 1) {
      // 9 segments made (the takeover ends the 10th): 6, 7 and 8 listed, the discontinuity
      // of 5 gone from the window.
      assert.equal(
        render(),
        [
          "#EXTM3U",
          "#EXT-X-VERSION:3",
          "#EXT-X-TARGETDURATION:2",
          "#EXT-X-MEDIA-SEQUENCE:6",
          "#EXT-X-DISCONTINUITY-SEQUENCE:1",
          ...[6, 7, 8].flatMap((n) => ["#EXTINF:2.000,", `s${n}.ts`]),
          "",
        ].join("\n"),
      );
    }
  }
  seen.push(segmenter.end()!);
  assert.deepEqual(seen.map(({ sequence }) => sequence), [...Array(15).keys()]);
  const playlist = segmenter.playlist();
  assert.deepEqual(playlist.segments.map(({ sequence }) => sequence), [12, 13, 14]);
  assert.equal(playlist.mediaSequence, 12);
  assert.equal(playlist.discontinuitySequence, 2);
  assert.ok(!render().includes("#EXT-X-DISCONTINUITY\n"));
  // The two that left the window last can still be fetched.
  for (let n = 0; n < 15; n++) {
    assert.equal(segmenter.segment(n), n >= 10 ? seen[n] : undefined, `segment ${n}`);
  }
  assert.equal(segmenter.segment(15), undefined);
  assert.equal(segmenter.segment(9.5), undefined);
});

Deno.test("HlsSegmenter segments audio alone at the PES starts of its first audio stream", () => {
  // 6 PES of 6 AAC frames (384 ms) each, the last of 9 (ffprobe -show_entries packet=pts).
  const { segments } = segmentAll([AAC_FIXTURE], { targetDurationMs: 700 });
  assert.deepEqual(segments.map((s) => checkStart(s, AAC_PID)), [126_000, 195_120, 264_240]);
  // The last is estimated from its PES starts' mean step: 2 × 384 ms, not the 960 ms it holds.
  assert.deepEqual(segments.map(({ durationMs }) => durationMs), [768, 768, 768]);
  assert.deepEqual(
    bodies(segments),
    AAC_FIXTURE.subarray(pesOffset(AAC_FIXTURE, AAC_PID, 126_000)),
  );
});

Deno.test("HlsSegmenter cuts HEVC at its key frames (an IDR, then CRAs)", () => {
  const { segments } = segmentAll([HEVC_FIXTURE], { targetDurationMs: 1000 });
  assert.equal(segments.length, 3);
  const starts = segments.map((s) => checkStart(s, VIDEO_PID));
  assert.deepEqual(starts.slice(1).map((pts, i) => pts - starts[i]!), [90_000, 90_000]);
  assert.deepEqual(segments.map(({ durationMs }) => durationMs), [1000, 1000, 1000]);
});

Deno.test("HlsSegmenter puts the parameter sets in front of a key frame that lacks them", () => {
  const once = withParameterSetsOnce(H264_AAC_10S);
  const { segments } = segmentAll([once]);
  assert.equal(segments.length, 5);
  for (const { sequence, bytes } of segments) {
    assert.ok(parameterSetsFirst(bytes), `segment ${sequence} starts with its parameter sets`);
  }
  // In the stream itself, only the first key frame has them.
  const [first, third] = keyFramePts([0, 2]).map((pts) => pesOffset(once, VIDEO_PID, pts));
  assert.ok(parameterSetsFirst(once.subarray(first)));
  assert.ok(!parameterSetsFirst(once.subarray(third)));
  // Where the key frame has its own, nothing is added.
  const plain = segmentAll([H264_AAC_10S]).segments;
  assert.deepEqual(bodies(plain), H264_AAC_10S.subarray(FIRST_KEY_FRAME_PACKET * 188));
});

Deno.test("HlsSegmenter cuts a segment that reaches the byte cap at its next key frame", () => {
  // About 12 KB a second: every key frame ends a segment that has passed 10 000 bytes.
  const { segments } = segmentAll([H264_AAC_10S], { maxSegmentBytes: 10_000 });
  assert.equal(segments.length, 10);
  assert.deepEqual(
    segments.map((s) => checkStart(s, VIDEO_PID)),
    keyFramePts([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
  );
  assert.deepEqual(segments.map(({ durationMs }) => durationMs), Array(10).fill(1000));
  assert.ok(segments.every(({ independent }) => independent));
});

Deno.test("HlsSegmenter forces a cut mid-GOP at twice the byte cap", () => {
  const cap = 3000;
  const { segments } = segmentAll([H264_AAC_10S], { maxSegmentBytes: cap });
  assert.ok(segments.length > 20);
  // Cut at the next video PES start after twice the cap; at three times at the latest.
  for (const { sequence, bytes } of segments) {
    assert.ok(bytes.length <= 3 * cap + TS_PACKET_SIZE, `segment ${sequence}: ${bytes.length}`);
  }
  assert.ok(segments.some(({ bytes }) => bytes.length > 2 * cap));
  assert.ok(segments.some(({ independent }) => !independent));
  // A segment that a forced cut started ends at the next key frame: every key frame starts one.
  const independent = segments.filter(({ independent }) => independent);
  assert.deepEqual(
    independent.map((s) => checkStart(s, VIDEO_PID)),
    keyFramePts([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
  );
  // Nothing lost, and the durations still add up to the whole: a second from each key frame.
  assert.deepEqual(bodies(segments), H264_AAC_10S.subarray(FIRST_KEY_FRAME_PACKET * 188));
  let second = 0;
  for (const { independent, durationMs } of segments) {
    if (independent && second !== 0) assert.ok(Math.abs(second - 1000) < 1e-6, `${second} ms`);
    if (independent) second = 0;
    second += durationMs;
  }
});

Deno.test("HlsSegmenter makes no segment of a stream without PAT and PMT", () => {
  const segmenter = new HlsSegmenter();
  // Everything but the PAT and PMT: no program, so no lead PID and no segment.
  const withoutTables = H264_AAC_10S.filter((_, i) => {
    const pid = pidAt(H264_AAC_10S, i - (i % 188));
    return pid !== 0 && pid !== PMT_PID;
  });
  assert.deepEqual(segmenter.push(withoutTables), []);
  assert.equal(segmenter.end(), undefined);
  assert.equal(segmenter.nextSequence, 0);
  assert.equal(segmenter.playlist().ended, true);
});

Deno.test("HlsSegmenter ignores what is not whole transport stream packets", () => {
  const segmenter = new HlsSegmenter();
  assert.deepEqual(segmenter.push(new Uint8Array(100)), []);
  assert.deepEqual(segmenter.push(new Uint8Array(188)), []);
  assert.deepEqual(segmenter.push(H264_AAC_10S.subarray(0, 187)), []);
  for (const packets of pushes(H264_AAC_10S, () => 7)) segmenter.push(packets);
  assert.equal(segmenter.end()?.sequence, 4);
});

Deno.test("HlsSegmenter refuses pushes after end(), and end() twice does nothing", () => {
  const segmenter = new HlsSegmenter({ firstSequence: 40 });
  segmenter.push(H264_AAC_10S);
  assert.equal(segmenter.end()?.sequence, 44);
  assert.equal(segmenter.end(), undefined);
  assert.throws(() => segmenter.push(H264_AAC_10S), {
    message: "Cannot push to an HLS segmenter: the stream has ended",
  });
  assert.deepEqual(segmenter.playlist().segments.map(({ sequence }) => sequence), [
    40,
    41,
    42,
    43,
    44,
  ]);
  assert.ok(renderMediaPlaylist(segmenter.playlist(), String).endsWith("#EXT-X-ENDLIST\n"));
});

Deno.test("HlsSegmenter reports an empty live playlist before its first segment", () => {
  const segmenter = new HlsSegmenter({ targetDurationMs: 4000, firstSequence: 7 });
  assert.deepEqual(segmenter.playlist(), {
    segments: [],
    targetDurationMs: 4000,
    mediaSequence: 7,
    discontinuitySequence: 0,
    ended: false,
  });
});

Deno.test("HlsSegmenter raises its target duration to its longest segment, and never lowers it", () => {
  // Target 1.4 s, key frames every second: 2 s segments.
  const segmenter = new HlsSegmenter({ targetDurationMs: 1400 });
  assert.equal(segmenter.targetDurationSeconds, 2);
  segmenter.push(H264_AAC_10S);
  assert.equal(segmenter.targetDurationSeconds, 2);
  const long = new HlsSegmenter({ targetDurationMs: 2500 });
  long.push(H264_AAC_10S);
  long.end();
  assert.deepEqual(long.segments.map(({ durationMs }) => durationMs), [3000, 3000, 3000, 1000]);
  assert.equal(long.targetDurationSeconds, 3);
});

const badOptions: [string, HlsSegmenterOptions, string][] = [
  ["a zero target duration", { targetDurationMs: 0 }, "target duration 0 ms is not positive"],
  ["an empty window", { windowSize: 0 }, "window size 0 is not a positive integer"],
  ["a byte cap under a packet", { maxSegmentBytes: 100 }, "a byte cap of 100 is not"],
  ["a negative first sequence", { firstSequence: -1 }, "first sequence -1 is not a count"],
];

for (const [name, options, message] of badOptions) {
  Deno.test(`HlsSegmenter refuses ${name}`, () => {
    assert.throws(() => new HlsSegmenter(options), (error: unknown) => {
      assert.ok(error instanceof RangeError);
      assert.ok(error.message.includes(message), error.message);
      return true;
    });
  });
}

// ffprobe decodes each segment on its own, and the playlist through ffmpeg's HLS demuxer.
// Needs permissions: skipped by `deno task test:pure`, run by `test:ffi`.
const canProbe = (await Deno.permissions.query({ name: "run", command: "ffprobe" })).state ===
    "granted" && (await Deno.permissions.query({ name: "write" })).state === "granted";

/** What ffprobe says about `file` (JSON), with nothing on stderr. */
async function ffprobe(file: string, ...args: string[]): Promise<ProbeResult> {
  const { success, stdout, stderr } = await new Deno.Command("ffprobe", {
    args: ["-v", "error", "-of", "json", ...args, file],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const errors = new TextDecoder().decode(stderr);
  assert.ok(success, `ffprobe ${args.join(" ")} ${file}: ${errors}`);
  assert.equal(errors, "", `ffprobe ${args.join(" ")} ${file}`);
  return JSON.parse(new TextDecoder().decode(stdout));
}

interface ProbeResult {
  frames?: { key_frame: number; pict_type: string }[];
  streams?: { codec_type?: string; nb_read_frames?: string; nb_read_packets?: string }[];
}

const decodeCases: { name: string; streams: Uint8Array[] }[] = [
  { name: "h264_aac_10s.m2ts", streams: [H264_AAC_10S] },
  {
    name: "h264_aac_10s.m2ts with parameter sets only once",
    streams: [withParameterSetsOnce(H264_AAC_10S)],
  },
  { name: "two publishers of h264_aac_10s.m2ts", streams: [H264_AAC_10S, H264_AAC_10S] },
];

for (const { name, streams } of decodeCases) {
  Deno.test({
    name: `ffprobe decodes each HLS segment of ${name} on its own, and the playlist whole`,
    ignore: !canProbe,
    fn: async () => {
      await using dir = await scratchDir("atoll-hls-");
      // A window that lists them all, for the whole playlist.
      const { segmenter, segments } = segmentAll(streams, { windowSize: 10 });
      for (const { sequence, bytes } of segments) {
        const file = `${dir.path}/${sequence}.ts`;
        await Deno.writeFile(file, bytes);
        const first = await ffprobe(
          file,
          ...["-select_streams", "v:0", "-read_intervals", "%+#1"],
          ...["-show_entries", "frame=key_frame,pict_type"],
        );
        assert.deepEqual(
          first.frames?.map(({ key_frame, pict_type }) => [key_frame, pict_type]),
          [[1, "I"]],
          `segment ${sequence} starts with a key frame`,
        );
        const counts = await ffprobe(
          file,
          ...["-select_streams", "v:0", "-count_frames", "-count_packets"],
          ...["-show_entries", "stream=nb_read_frames,nb_read_packets"],
        );
        // Every frame it holds decodes: none waits for a frame of another segment.
        assert.deepEqual(counts.streams, [{ nb_read_frames: "50", nb_read_packets: "50" }]);
      }
      const playlist = `${dir.path}/index.m3u8`;
      await Deno.writeTextFile(
        playlist,
        renderMediaPlaylist(segmenter.playlist(), (n) => `${n}.ts`),
      );
      const whole = await ffprobe(
        playlist,
        ...["-count_packets", "-show_entries", "stream=codec_type,nb_read_packets"],
      );
      // The source's 250 video frames and 158 AAC frames per publisher, all there.
      const n = streams.length;
      assert.deepEqual(whole.streams, [
        { codec_type: "video", nb_read_packets: `${250 * n}` },
        { codec_type: "audio", nb_read_packets: `${158 * n}` },
      ]);
    },
  });
}

/** Every segment of `stream` with the parts the segmenter had for it when it was finished. */
function segmentWithParts(
  stream: Uint8Array,
  options: HlsSegmenterOptions,
  packetsPerPush: () => number = () => 7,
): { segments: HlsSegment[]; parts: Map<number, HlsPart[]>; segmenter: HlsSegmenter } {
  const segmenter = new HlsSegmenter(options);
  const segments: HlsSegment[] = [];
  const parts = new Map<number, HlsPart[]>();
  const collect = (finished: readonly HlsSegment[]) => {
    for (const segment of finished) {
      segments.push(segment);
      const list: HlsPart[] = [];
      for (let i = 0; segmenter.part(segment.sequence, i) !== undefined; i++) {
        list.push(segmenter.part(segment.sequence, i)!);
      }
      parts.set(segment.sequence, list);
    }
  };
  for (const packets of pushes(stream, packetsPerPush)) collect(segmenter.push(packets));
  const last = segmenter.end();
  if (last !== undefined) collect([last]);
  return { segments, parts, segmenter };
}

for (const { name, packetsPerPush } of splits) {
  Deno.test(`HlsSegmenter cuts each segment into parts of at most the part target, ${name}`, () => {
    const { segments, parts } = segmentWithParts(
      H264_AAC_10S,
      { partTargetMs: 400, windowSize: 10 },
      packetsPerPush,
    );
    assert.equal(segments.length, 5);
    for (const segment of segments) {
      const list = parts.get(segment.sequence)!;
      // 25 fps: 10 frames a part, 5 parts to a 2 s segment.
      assert.deepEqual(list.map(({ durationMs }) => durationMs), [400, 400, 400, 400, 400]);
      assert.deepEqual(list.map(({ independent }) => independent), [
        true,
        false,
        false,
        false,
        false,
      ]);
      // Put end to end, the parts are the segment, PAT, PMT and all.
      assert.deepEqual(concat(...list.map(({ bytes }) => bytes)), segment.bytes);
      // Each part after the first starts with a PES of the lead PID: a frame's start.
      for (const part of list.slice(1)) {
        assert.equal(pidAt(part.bytes, 0), VIDEO_PID);
        assert.ok(ptsAt(part.bytes, 0) !== undefined, `segment ${segment.sequence}'s part`);
      }
    }
  });
}

/** Each part's duration, and whether it is its segment's last. */
function partDurations(parts: Map<number, HlsPart[]>): { durationMs: number; last: boolean }[] {
  return [...parts.values()].flatMap((list) =>
    list.map(({ durationMs }, index) => ({ durationMs, last: index === list.length - 1 }))
  );
}

for (const partTargetMs of [300, 400, 500]) {
  Deno.test(`HlsSegmenter's parts of ${partTargetMs} ms stay within it, and at 85 % of it but the last`, () => {
    const { segments, parts } = segmentWithParts(H264_AAC_10S, { partTargetMs, windowSize: 10 });
    for (const { durationMs, last } of partDurations(parts)) {
      assert.ok(durationMs <= partTargetMs + 0.5, `${durationMs} ms`);
      if (!last) assert.ok(durationMs >= 0.85 * partTargetMs, `${durationMs} ms`);
    }
    for (const segment of segments) {
      const sum = parts.get(segment.sequence)!.reduce((total, p) => total + p.durationMs, 0);
      assert.ok(Math.abs(sum - segment.durationMs) < 0.01, `segment ${segment.sequence}`);
    }
  });
}

Deno.test("HlsSegmenter ends a part before a frame that came late, so it stays within the part target", () => {
  // From the video PES 0.76 s after the first key frame on, every timestamp is 120 ms later: the
  // frame before it lasts 160 ms instead of 40 (a dropped or a late frame).
  const at = pesOffset(H264_AAC_10S, VIDEO_PID, FIRST_KEY_FRAME_PTS + 0.76 * TICKS_PER_SECOND);
  const stream = concat(
    H264_AAC_10S.subarray(0, at),
    shiftTimestamps(H264_AAC_10S.subarray(at), 0.12 * TICKS_PER_SECOND),
  );
  const { segments, parts } = segmentWithParts(stream, { partTargetMs: 400, windowSize: 10 });
  const durations = partDurations(parts).map(({ durationMs }) => durationMs);
  assert.ok(durations.every((ms) => ms <= 400.5), `${durations}`);
  // In the first segment, the part the late frame would have taken past 400 ms ended before it.
  const first = parts.get(0)!.map(({ durationMs }) => durationMs);
  assert.equal(first[0], 400);
  assert.ok(first.slice(1, -1).some((ms) => ms < 400), `${first}`);
  for (const segment of segments) {
    assert.deepEqual(
      concat(...parts.get(segment.sequence)!.map(({ bytes }) => bytes)),
      segment.bytes,
    );
  }
});

Deno.test("HlsSegmenter shows the parts of the segment being made, and counts each in its version", () => {
  const segmenter = new HlsSegmenter({ partTargetMs: 400 });
  const versions: number[] = [];
  let pending = 0;
  for (const packets of pushes(H264_AAC_10S.subarray(0, 1500 * 188), () => 7)) {
    segmenter.push(packets);
    if (segmenter.pendingParts.length !== pending) {
      pending = segmenter.pendingParts.length;
      versions.push(segmenter.version);
    }
  }
  // 1500 packets: a segment or more, and parts of the next one.
  assert.ok(segmenter.nextSequence >= 1);
  assert.ok(segmenter.pendingParts.length > 0);
  const next = segmenter.nextSequence;
  assert.equal(segmenter.part(next, 0), segmenter.pendingParts[0]);
  assert.equal(segmenter.part(next, segmenter.pendingParts.length), undefined);
  assert.equal(segmenter.pendingParts[0]!.independent, true);
  // Every part and every segment moves the version on: 5 parts and the segment each.
  assert.equal(segmenter.version, 6 * segmenter.nextSequence + segmenter.pendingParts.length);
  assert.ok(versions.every((version, i) => i === 0 || version > versions[i - 1]!));
  const playlist = segmenter.playlist();
  assert.equal(playlist.partTargetMs, 400);
  assert.deepEqual(playlist.pending?.parts, segmenter.pendingParts);
  assert.equal(playlist.pending?.discontinuity, false);
});

Deno.test("HlsSegmenter lists parts for the newest three target durations, and serves them while their segment is", () => {
  const { segmenter } = segmentWithParts(H264_AAC_10S, { partTargetMs: 400, windowSize: 10 });
  const listed = segmenter.playlist().segments;
  assert.equal(listed.length, 5);
  // 3 target durations of 2 s: the newest 3 segments list their parts.
  assert.deepEqual(listed.map(({ parts }) => parts?.length ?? 0), [0, 0, 5, 5, 5]);
  // Unlisted parts stay fetchable, as views of their segment's bytes (no copy kept).
  const first = segmenter.part(0, 0)!;
  const segment = segmenter.segment(0)!;
  assert.equal(first.bytes.buffer, segment.bytes.buffer);
  assert.deepEqual(first.bytes, segment.bytes.subarray(0, first.bytes.length));

  // Once a segment is gone, so are its parts.
  const { segmenter: small } = segmentWithParts(H264_AAC_10S, { partTargetMs: 400, windowSize: 1 });
  const oldest = [0, 1, 2, 3, 4].find((sequence) => small.segment(sequence) !== undefined)!;
  assert.ok(oldest > 0, "a segment left");
  assert.equal(small.part(oldest - 1, 0), undefined);
  assert.ok(small.part(oldest, 0) !== undefined);
});

Deno.test("HlsSegmenter gives segments the time their key frame came, chained while it holds", () => {
  const segmenter = new HlsSegmenter({ windowSize: 10 });
  const start = Date.UTC(2026, 10, 30, 12);
  let packet = 0;
  // Real time: the stream's 25 fps as it would arrive, a packet's time from its place in 10 s.
  const total = H264_AAC_10S.length / TS_PACKET_SIZE;
  for (const packets of pushes(H264_AAC_10S, () => 7)) {
    segmenter.push(packets, { receivedAtMs: start + Math.round(packet / total * 10_000) });
    packet += packets.length / TS_PACKET_SIZE;
  }
  segmenter.end();
  const dates = segmenter.segments.map(({ programDateTimeMs }) => programDateTimeMs!);
  // The first is when its key frame came; each next one the one before's end (within 1 s of when
  // its key frame came).
  assert.ok(Math.abs(dates[0]! - start) < 100, `${dates[0]! - start}`);
  assert.deepEqual(dates.map((date) => date - dates[0]!), [0, 2000, 4000, 6000, 8000]);

  // A burst (everything received at once) stays chained: dates never go back, nor stand still.
  const burst = new HlsSegmenter({ windowSize: 10 });
  burst.push(H264_AAC_10S, { receivedAtMs: start });
  burst.end();
  assert.deepEqual(burst.segments.map(({ programDateTimeMs }) => programDateTimeMs! - start), [
    0,
    2000,
    4000,
    6000,
    8000,
  ]);
  // A stream whose time runs slow against the wall clock (each 2 s segment takes 3 s to come):
  // chained while within a second, then back on the wall clock, going forward only.
  const slow = new HlsSegmenter({ windowSize: 10 });
  packet = 0;
  for (const packets of pushes(H264_AAC_10S, () => 7)) {
    slow.push(packets, { receivedAtMs: start + Math.round(packet / total * 15_000) });
    packet += packets.length / TS_PACKET_SIZE;
  }
  slow.end();
  const slowDates = slow.segments.map(({ programDateTimeMs }) => programDateTimeMs! - start);
  assert.ok(slowDates.every((date, i) => i === 0 || date > slowDates[i - 1]!), `${slowDates}`);
  const keyFrameCame = [0, 3000, 6000, 9000, 12000];
  slowDates.forEach((date, i) => {
    const behind = keyFrameCame[i]! - date;
    assert.ok(behind >= -100 && behind <= 1100, `segment ${i}: ${date} for ${keyFrameCame[i]}`);
  });
  // Without times, no date.
  const { segments } = segmentAll([H264_AAC_10S]);
  assert.ok(segments.every(({ programDateTimeMs }) => programDateTimeMs === undefined));
});

Deno.test("HlsSegmenter refuses a part target over half the target duration", () => {
  assert.throws(() => new HlsSegmenter({ targetDurationMs: 2000, partTargetMs: 1001 }), RangeError);
  assert.throws(() => new HlsSegmenter({ partTargetMs: -1 }), RangeError);
  assert.equal(new HlsSegmenter({ targetDurationMs: 2000, partTargetMs: 1000 }).partTargetMs, 1000);
  assert.equal(new HlsSegmenter().playlist().partTargetMs, undefined);
});
