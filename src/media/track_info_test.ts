import assert from "node:assert/strict";
import {
  parseAudioHeader,
  parseH264Sps,
  parseHevcSps,
  type TrackInfo,
  TrackInfoCollector,
  unescapeRbsp,
} from "./track_info.ts";
import { TS_PACKET_SIZE, TsInspector } from "./mpegts.ts";
import { ParameterSetCollector, VideoCodec } from "./parameter_sets.ts";
import H264_AAC_FIXTURE from "./testdata/h264_aac_64x64.m2ts" with { type: "bytes" };
import HEVC_FIXTURE from "./testdata/hevc_64x64.m2ts" with { type: "bytes" };

function hex(text: string): Uint8Array {
  return Uint8Array.from(text.match(/../g) ?? [], (byte) => parseInt(byte, 16));
}

// SPS NAL units (header included, start code not) from ffmpeg 5.1 lavfi testsrc:
// `ffmpeg -f lavfi -i testsrc=size=WxH:rate=R -t 0.2 -c:v libx264|libx265 -pix_fmt yuv420p -f h264|hevc`.
const spsCases: {
  name: string;
  codec: VideoCodec;
  sps: string;
  width: number;
  height: number;
  frameRate: number | null;
}[] = [
  {
    name: "H.264 High 1280x720 25 fps (cropped from 1280x720: none, VUI timing)",
    codec: VideoCodec.H264,
    sps: "6764001facd9405005bb011000000300100000030320f1831960",
    width: 1280,
    height: 720,
    frameRate: 25,
  },
  {
    name: "H.264 Main 1920x1080 30000/1001 fps (cropped from 1088 lines)",
    codec: VideoCodec.H264,
    sps: "674d4028eca03c0113f2e022000007d20001d4c01e30632c",
    width: 1920,
    height: 1080,
    frameRate: 29.97,
  },
  {
    name: "HEVC Main 640x360 30 fps (conformance window from 640x368, VUI timing)",
    codec: VideoCodec.Hevc,
    sps: "42010101600000030090000003000003003fa00502016965959a4932bc05a020000003002000000303c1",
    width: 640,
    height: 360,
    frameRate: 30,
  },
];

for (const c of spsCases) {
  Deno.test(`parseH264Sps()/parseHevcSps(): ${c.name}`, () => {
    const parse = c.codec === VideoCodec.H264 ? parseH264Sps : parseHevcSps;
    assert.deepEqual(parse(hex(c.sps)), {
      width: c.width,
      height: c.height,
      frameRate: c.frameRate,
    });
  });
}

Deno.test("parseH264Sps() and parseHevcSps() refuse other NAL units and cut-off bytes", () => {
  assert.equal(parseH264Sps(hex("68ebe3cb22c0")), undefined);
  assert.equal(parseHevcSps(hex("4401c172b46240")), undefined);
  assert.equal(parseH264Sps(hex("6764001f")), undefined);
  assert.equal(parseHevcSps(hex("420101016000")), undefined);
  for (const c of spsCases) {
    const bytes = hex(c.sps);
    for (let n = 0; n < bytes.length; n++) {
      (c.codec === VideoCodec.H264 ? parseH264Sps : parseHevcSps)(bytes.subarray(0, n));
    }
  }
});

Deno.test("unescapeRbsp() drops emulation-prevention bytes only", () => {
  assert.deepEqual(unescapeRbsp(hex("0000030100000300")), hex("000001000000"));
  assert.deepEqual(unescapeRbsp(hex("00030003")), hex("00030003"));
});

// First 8 bytes (of a frame) of ffmpeg 5.1 encodes of `sine`: `-c:a aac -f adts`, `-c:a mp2 -f mp2`,
// `-c:a ac3 -f ac3`, `-ac 6 -c:a eac3 -f eac3`, `-c:a libmp3lame -f mp3`.
const audioCases: {
  name: string;
  header: string;
  codec: string;
  rate: number;
  channels: number;
}[] = [
  {
    name: "ADTS AAC 48 kHz stereo",
    header: "fff14c8024fffcde",
    codec: "AAC",
    rate: 48000,
    channels: 2,
  },
  {
    name: "MPEG-1 layer 2 44.1 kHz mono",
    header: "fffde0c4ecccbdcb",
    codec: "MP2",
    rate: 44100,
    channels: 1,
  },
  {
    name: "AC-3 48 kHz stereo",
    header: "0b77fe95144043e1",
    codec: "AC-3",
    rate: 48000,
    channels: 2,
  },
  {
    name: "E-AC-3 48 kHz 5.1",
    header: "0b77037f3f87c000",
    codec: "E-AC-3",
    rate: 48000,
    channels: 6,
  },
  {
    name: "MPEG-2 layer 3 22.05 kHz joint stereo",
    header: "fff38064000d7841",
    codec: "MP3",
    rate: 22050,
    channels: 2,
  },
];

for (const c of audioCases) {
  Deno.test(`parseAudioHeader(): ${c.name}`, () => {
    assert.deepEqual(parseAudioHeader(hex(c.header), 0), {
      codec: c.codec,
      sampleRate: c.rate,
      channels: c.channels,
    });
  });
}

Deno.test("parseAudioHeader() refuses bytes that are no frame header", () => {
  assert.equal(parseAudioHeader(hex("0000000000000000"), 0), undefined);
  assert.equal(parseAudioHeader(hex("fff1"), 0), undefined);
  assert.equal(parseAudioHeader(hex("fff17c8024fffcde"), 0), undefined); // sampling index 15
});

/** Runs a fixture through the inspector, parameter-set collector and track collector. */
function collect(ts: Uint8Array): { tracks: TrackInfo[]; changes: number } {
  const inspector = new TsInspector();
  const sets = new ParameterSetCollector();
  const collector = new TrackInfoCollector();
  let changes = 0;
  for (let o = 0; o < ts.length; o += 7 * TS_PACKET_SIZE) {
    const message = ts.subarray(o, Math.min(ts.length, o + 7 * TS_PACKET_SIZE));
    inspector.inspect(message);
    let changed = collector.setProgram(inspector.program);
    const video = collector.tracks().find((t) => t.codec === "H.264" || t.codec === "HEVC");
    if (video !== undefined) {
      const codec = video.codec === "HEVC" ? VideoCodec.Hevc : VideoCodec.H264;
      const found = sets.feed(message, { pid: video.pid, codec });
      if (found !== undefined) {
        changed = collector.setParameterSets(video.pid, codec, found) || changed;
      }
    }
    if (collector.feed(message) || changed) changes++;
  }
  return { tracks: collector.tracks(), changes };
}

Deno.test("TrackInfoCollector learns H.264 and AAC tracks from an ffmpeg stream", () => {
  const { tracks, changes } = collect(H264_AAC_FIXTURE);
  // ffprobe: h264 64x64 10 fps; aac 16000 Hz mono.
  assert.deepEqual(tracks, [
    {
      pid: 256,
      kind: "video",
      codec: "H.264",
      width: 64,
      height: 64,
      frameRate: 10,
      sampleRate: null,
      channels: null,
    },
    {
      pid: 257,
      kind: "audio",
      codec: "AAC",
      width: null,
      height: null,
      frameRate: null,
      sampleRate: 16000,
      channels: 1,
    },
  ]);
  assert.ok(changes <= 4, `${changes} changes`);
});

Deno.test("TrackInfoCollector learns an HEVC track from an ffmpeg stream", () => {
  const { tracks } = collect(HEVC_FIXTURE);
  assert.deepEqual(tracks, [
    {
      pid: 256,
      kind: "video",
      codec: "HEVC",
      width: 64,
      height: 64,
      frameRate: 10,
      sampleRate: null,
      channels: null,
    },
  ]);
});

Deno.test("TrackInfoCollector names unknown stream types and empties on no program", () => {
  const collector = new TrackInfoCollector();
  assert.equal(
    collector.setProgram({
      programNumber: 1,
      pmtPid: 4096,
      pcrPid: 256,
      streams: [{ pid: 300, streamType: 0x86 }],
    }),
    true,
  );
  assert.equal(collector.tracks()[0]?.codec, "stream type 0x86");
  assert.equal(collector.tracks()[0]?.kind, "other");
  assert.equal(collector.setProgram(undefined), true);
  assert.deepEqual(collector.tracks(), []);
});

/** One TS packet of `pid` starting a PES (stream id 0xbd, no PTS) that carries `es`. */
function pesPacket(pid: number, es: Uint8Array): Uint8Array {
  const packet = new Uint8Array(TS_PACKET_SIZE).fill(0xff);
  packet.set([0x47, 0x40 | (pid >> 8), pid & 0xff, 0x10]);
  packet.set([0, 0, 1, 0xbd, 0, 0, 0x80, 0, 0], 4);
  packet.set(es, 13);
  return packet;
}

Deno.test("TrackInfoCollector tells private-data AC-3 by its frames", () => {
  const collector = new TrackInfoCollector();
  collector.setProgram({
    programNumber: 1,
    pmtPid: 4096,
    pcrPid: 256,
    streams: [{ pid: 258, streamType: 0x06 }],
  });
  assert.equal(collector.tracks()[0]?.codec, "private data");
  assert.equal(collector.feed(pesPacket(258, hex("0b77fe95144043e1"))), true);
  assert.deepEqual(collector.tracks(), [
    {
      pid: 258,
      kind: "audio",
      codec: "AC-3",
      width: null,
      height: null,
      frameRate: null,
      sampleRate: 48000,
      channels: 2,
    },
  ]);
  // Learnt once: later frames are not looked at.
  assert.equal(collector.feed(pesPacket(258, hex("fff14c8024fffcde"))), false);
});

Deno.test("the parsers and TrackInfoCollector never throw on random bytes", () => {
  let seed = 0x2545f491;
  const random = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 2 ** 32;
  };
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
  const collector = new TrackInfoCollector();
  collector.setProgram({
    programNumber: 1,
    pmtPid: 4096,
    pcrPid: 256,
    streams: [
      { pid: 256, streamType: 0x1b },
      { pid: 257, streamType: 0x0f },
      { pid: 258, streamType: 0x06 },
    ],
  });
  for (let i = 0; i < 2000; i++) {
    const nal = bytes(1 + Math.floor(random() * 64));
    parseH264Sps(Uint8Array.of(0x67, ...nal));
    parseHevcSps(Uint8Array.of(0x42, 0x01, ...nal));
    parseAudioHeader(nal, 0);
    collector.setParameterSets(256, VideoCodec.H264, Uint8Array.of(0, 0, 0, 1, 0x67, ...nal));
    collector.feed(pesPacket(256 + (i % 3), nal));
  }
});

/** One TS packet of `pid` starting a video PES (stream id 0xe0) with `pts` (90 kHz). */
function ptsPacket(pid: number, pts: number): Uint8Array {
  const packet = new Uint8Array(TS_PACKET_SIZE).fill(0xff);
  packet.set([0x47, 0x40 | (pid >> 8), pid & 0xff, 0x10]);
  const high = Math.floor(pts / 2 ** 30);
  const mid = Math.floor(pts / 2 ** 15) & 0x7fff;
  const low = pts & 0x7fff;
  packet.set([0, 0, 1, 0xe0, 0, 0, 0x80, 0x80, 5], 4);
  packet.set([0x21 | (high << 1), mid >> 7, (mid << 1) | 1, low >> 7, (low << 1) | 1], 13);
  return packet;
}

Deno.test("TrackInfoCollector estimates a frame rate from PTS in B-frame order, after 16 PES", () => {
  const collector = new TrackInfoCollector();
  collector.setProgram({
    programNumber: 1,
    pmtPid: 4096,
    pcrPid: 256,
    streams: [{ pid: 256, streamType: 0x02 }],
  });
  // 29.97 fps (3003 ticks a frame), decode order I P B B: no two neighbours one frame apart.
  const order = [0, 3, 1, 2];
  const changed: boolean[] = [];
  for (let i = 0; i < 20; i++) {
    const frame = Math.floor(i / 4) * 4 + order[i % 4]!;
    changed.push(collector.feed(ptsPacket(256, 2 ** 31 + frame * 3003)));
  }
  assert.deepEqual(changed.indexOf(true), 15);
  assert.equal(collector.tracks()[0]?.frameRate, 29.97);
  assert.equal(collector.tracks()[0]?.codec, "MPEG-2 video");
});
