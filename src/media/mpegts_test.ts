import assert from "node:assert/strict";
import { concat } from "../../tests/support/bytes.ts";
import { SeededRandom } from "../../tests/support/random.ts";
import { bytesFromHex as hex } from "../ipc/hex.ts";
import {
  buildDiscontinuityPacket,
  crc32Mpeg,
  isTransportStream,
  MessageFlags,
  type ProgramMap,
  TS_PACKET_SIZE,
  TsInspector,
} from "./mpegts.ts";
// Imported as bytes, not read: this folder's tests run without any permission.
import H264_AAC_FIXTURE from "./testdata/h264_aac_64x64.m2ts" with { type: "bytes" };
import HEVC_FIXTURE from "./testdata/hevc_64x64.m2ts" with { type: "bytes" };
import AAC_FIXTURE from "./testdata/aac_16k.m2ts" with { type: "bytes" };

const { RandomAccess, Pat, Pmt } = MessageFlags;

function filled(length: number, byte: number): Uint8Array {
  return new Uint8Array(length).fill(byte);
}

const PMT_PID = 0x1000;
const VIDEO_PID = 0x100;
const AUDIO_PID = 0x101;

/** The PAT section ffmpeg writes: program 1 on PMT PID 0x1000. */
const FFMPEG_PAT = hex("00 b00d 0001 c1 00 00  0001 f000  2ab104b2");
/** The PMT section ffmpeg writes for H.264 on PID 0x100 (also the PCR PID) and AAC on 0x101. */
const FFMPEG_PMT = hex("02 b017 0001 c1 00 00  e100 f000  1b e100 f000  0f e101 f000  2f44b99b");

/** A long-form section with version 0; section_length and the CRC are computed. */
function section(
  tableId: number,
  idExtension: number,
  body: Uint8Array,
  { current = true, sectionNumber = 0 } = {},
): Uint8Array {
  const length = 5 + body.length + 4;
  const head = [tableId, 0xb0 | (length >> 8), length & 0xff, idExtension >> 8, idExtension & 0xff];
  const bytes = concat(
    new Uint8Array([...head, current ? 0xc1 : 0xc0, sectionNumber, sectionNumber]),
    body,
    new Uint8Array(4),
  );
  const crc = crc32Mpeg(bytes.subarray(0, bytes.length - 4));
  new DataView(bytes.buffer).setUint32(bytes.length - 4, crc);
  return bytes;
}

function patSection(programs: [number, number][]): Uint8Array {
  return section(
    0x00,
    1,
    concat(
      ...programs.map(([n, pid]) =>
        new Uint8Array([n >> 8, n & 0xff, 0xe0 | (pid >> 8), pid & 0xff])
      ),
    ),
  );
}

/**
 * A PMT section; each stream may carry `descriptorLength` bytes of
 * descriptors (filler), or the `descriptors` given.
 */
function pmtSection(
  streams: { type: number; pid: number; descriptorLength?: number; descriptors?: Uint8Array }[],
  { program = 1, pcrPid = VIDEO_PID } = {},
): Uint8Array {
  const entries = streams.map(({ type, pid, descriptorLength = 0, descriptors }) => {
    const info = descriptors ?? filled(descriptorLength, 0x2a);
    return concat(
      new Uint8Array([
        type,
        0xe0 | (pid >> 8),
        pid & 0xff,
        0xf0 | (info.length >> 8),
        info.length & 0xff,
      ]),
      info,
    );
  });
  return section(
    0x02,
    program,
    concat(new Uint8Array([0xe0 | (pcrPid >> 8), pcrPid & 0xff, 0xf0, 0x00]), ...entries),
  );
}

interface PacketOptions {
  unitStart?: boolean;
  counter?: number;
  randomAccess?: boolean;
}

/**
 * One packet. A payload shorter than 184 bytes, or a random_access_indicator,
 * takes an adaptation field, which is how muxers pad PES packets.
 */
function tsPacket(pid: number, payload: Uint8Array, options: PacketOptions = {}): Uint8Array {
  const { unitStart = false, counter = 0, randomAccess = false } = options;
  const packet = new Uint8Array(TS_PACKET_SIZE);
  packet.set([0x47, (unitStart ? 0x40 : 0) | (pid >> 8), pid & 0xff]);
  if (!randomAccess && payload.length === 184) {
    packet[3] = 0x10 | counter;
    packet.set(payload, 4);
    return packet;
  }
  const adaptationLength = 183 - payload.length;
  if (adaptationLength < (randomAccess ? 1 : 0)) throw new RangeError("Payload too long");
  packet[3] = (payload.length > 0 ? 0x30 : 0x20) | counter;
  packet[4] = adaptationLength;
  packet.fill(0xff, 5, 5 + adaptationLength);
  if (adaptationLength > 0) packet[5] = randomAccess ? 0x40 : 0x00;
  packet.set(payload, 5 + adaptationLength);
  return packet;
}

/** A section in packets: pointer_field 0, then 0xff after the section. */
function psiPackets(pid: number, section: Uint8Array, counter = 0): Uint8Array[] {
  const data = concat(new Uint8Array([0]), section);
  const packets: Uint8Array[] = [];
  for (let offset = 0; offset < data.length; offset += 184) {
    const payload = filled(184, 0xff);
    payload.set(data.subarray(offset, offset + 184));
    packets.push(
      tsPacket(pid, payload, { unitStart: offset === 0, counter: (counter + packets.length) & 15 }),
    );
  }
  return packets;
}

/**
 * A video PES in packets. By default its header has a PTS (header data
 * length 5), so the elementary stream starts at byte 14 of the first payload.
 */
function pesPackets(
  pid: number,
  elementary: Uint8Array,
  { randomAccess = false, counter = 0, headerData = hex("2100010001") } = {},
): Uint8Array[] {
  const flags = headerData.length === 5 ? 0x80 : 0x00;
  const pes = concat(
    hex(`000001 e0 0000 80 ${flags.toString(16).padStart(2, "0")}`),
    new Uint8Array([headerData.length]),
    headerData,
    elementary,
  );
  const packets: Uint8Array[] = [];
  let offset = 0;
  while (offset < pes.length) {
    const first = offset === 0;
    const room = first && randomAccess ? 182 : 184;
    const payload = pes.subarray(offset, offset + room);
    packets.push(
      tsPacket(pid, payload, {
        unitStart: first,
        randomAccess: first && randomAccess,
        counter: (counter + packets.length) & 15,
      }),
    );
    offset += payload.length;
  }
  return packets;
}

/** The PAT and a PMT with one video stream of `videoType` and AAC audio, in one message. */
function programMessage(videoType = 0x1b): Uint8Array {
  return concat(
    ...psiPackets(0, FFMPEG_PAT),
    ...psiPackets(
      PMT_PID,
      pmtSection([{ type: videoType, pid: VIDEO_PID }, { type: 0x0f, pid: AUDIO_PID }]),
    ),
  );
}

/** Packets grouped into messages of `perMessage` packets, as SRT carries them. */
function messages(packets: Uint8Array[], perMessage = 7): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < packets.length; i += perMessage) {
    out.push(concat(...packets.slice(i, i + perMessage)));
  }
  return out;
}

function inspectAll(inspector: TsInspector, all: Uint8Array[]): number[] {
  return all.map((message) => inspector.inspect(message));
}

// H.264 NAL units (4-byte start codes as x264 writes them before parameter sets).
const H264_AUD = hex("00000001 09 f0");
const H264_SPS = hex("00000001 67 64000a acd94d");
const H264_PPS = hex("00000001 68 ebe3cb22c0");
const H264_IDR = hex("000001 65 888400ffaa");
const H264_NON_IDR = hex("000001 41 9a2a55");
/** A user-data SEI like the one x264 puts in the first frame: its options as text, hundreds of bytes. */
function h264Sei(length: number): Uint8Array {
  return concat(hex("000001 06 05"), filled(length, 0x41), hex("80"));
}

// HEVC NAL units: two-byte headers, type in bits 1..6 of the first.
const HEVC_AUD = hex("00000001 4601 50");
const HEVC_PARAMETER_SETS = hex("00000001 4001 0c01 00000001 4201 0101 00000001 4401 c172");
const HEVC_PREFIX_SEI = hex("000001 4e01 05 41414141 80");
function hevcSlice(type: number): Uint8Array {
  return concat(hex("000001"), new Uint8Array([type << 1, 0x01]), hex("af0c1b"));
}

Deno.test("crc32Mpeg() matches the CRC-32/MPEG-2 check value and ffmpeg's PAT", () => {
  assert.equal(crc32Mpeg(new TextEncoder().encode("123456789")), 0x0376e6e7);
  assert.equal(crc32Mpeg(FFMPEG_PAT.subarray(0, FFMPEG_PAT.length - 4)), 0x2ab104b2);
  assert.equal(crc32Mpeg(FFMPEG_PAT), 0);
  assert.equal(crc32Mpeg(FFMPEG_PMT), 0);
});

Deno.test("the test section builder reproduces ffmpeg's PAT and PMT", () => {
  assert.deepEqual(patSection([[1, PMT_PID]]), FFMPEG_PAT);
  assert.deepEqual(
    pmtSection([{ type: 0x1b, pid: VIDEO_PID }, { type: 0x0f, pid: AUDIO_PID }]),
    FFMPEG_PMT,
  );
});

const FFMPEG_PROGRAM: ProgramMap = {
  programNumber: 1,
  pmtPid: PMT_PID,
  pcrPid: VIDEO_PID,
  streams: [{ streamType: 0x1b, pid: VIDEO_PID }, { streamType: 0x0f, pid: AUDIO_PID }],
};

/** A PMT whose descriptors make it span three packets. */
const LONG_PMT = pmtSection([{ type: 0x1b, pid: VIDEO_PID, descriptorLength: 400 }, {
  type: 0x0f,
  pid: AUDIO_PID,
}]);

function corrupted(bytes: Uint8Array, index: number): Uint8Array {
  const copy = bytes.slice();
  copy[index] = copy[index]! ^ 0x01;
  return copy;
}

const tableCases: {
  name: string;
  messages: () => Uint8Array[];
  flags: number[];
  program: ProgramMap | undefined;
  /** How many packets programInfo() returns, 0 for undefined. */
  infoPackets: number;
  /** programInfoVersion at the end: 1 unless given, or 0 without program info. */
  version?: number;
}[] = [
  {
    name: "ffmpeg's PAT and PMT in one message",
    messages: () => [concat(...psiPackets(0, FFMPEG_PAT), ...psiPackets(PMT_PID, FFMPEG_PMT))],
    flags: [Pat | Pmt],
    program: FFMPEG_PROGRAM,
    infoPackets: 2,
  },
  {
    name: "a PAT and a PMT in separate messages",
    messages: () => [...psiPackets(0, FFMPEG_PAT), ...psiPackets(PMT_PID, FFMPEG_PMT)],
    flags: [Pat, Pmt],
    program: FFMPEG_PROGRAM,
    infoPackets: 2,
  },
  {
    name: "a PMT before any PAT as unknown until it repeats",
    messages: () => [
      ...psiPackets(PMT_PID, FFMPEG_PMT),
      ...psiPackets(0, FFMPEG_PAT),
      ...psiPackets(PMT_PID, FFMPEG_PMT, 1),
    ],
    flags: [0, Pat, Pmt],
    program: FFMPEG_PROGRAM,
    infoPackets: 2,
  },
  {
    name: "a PAT whose first program is the network PID entry (program 0)",
    messages: () => [
      concat(
        ...psiPackets(0, patSection([[0, 0x10], [7, 0x200]])),
        ...psiPackets(
          0x200,
          pmtSection([{ type: 0x24, pid: 0x201 }], { program: 7, pcrPid: 0x201 }),
        ),
      ),
    ],
    flags: [Pat | Pmt],
    program: {
      programNumber: 7,
      pmtPid: 0x200,
      pcrPid: 0x201,
      streams: [{ streamType: 0x24, pid: 0x201 }],
    },
    infoPackets: 2,
  },
  {
    name: "a PMT split over three packets in one message",
    messages: () => [concat(...psiPackets(0, FFMPEG_PAT), ...psiPackets(PMT_PID, LONG_PMT))],
    flags: [Pat | Pmt],
    program: { ...FFMPEG_PROGRAM },
    infoPackets: 4,
  },
  {
    name: "a PMT split over three messages, flagged on the last",
    messages: () => [...psiPackets(0, FFMPEG_PAT), ...psiPackets(PMT_PID, LONG_PMT)],
    flags: [Pat, 0, 0, Pmt],
    program: FFMPEG_PROGRAM,
    infoPackets: 4,
  },
  {
    name: "a PMT whose next packet is lost (continuity gap)",
    messages: () => {
      const pmt = psiPackets(PMT_PID, LONG_PMT);
      return [...psiPackets(0, FFMPEG_PAT), pmt[0]!, pmt[2]!];
    },
    flags: [Pat, 0, 0],
    program: undefined,
    infoPackets: 0,
  },
  {
    name: "a duplicated PMT packet as if sent once",
    messages: () => {
      const pmt = psiPackets(PMT_PID, LONG_PMT);
      return [...psiPackets(0, FFMPEG_PAT), pmt[0]!, pmt[1]!, pmt[1]!, pmt[2]!];
    },
    flags: [Pat, 0, 0, 0, Pmt],
    program: FFMPEG_PROGRAM,
    infoPackets: 4,
  },
  {
    name: "a PMT that starts after the end of the previous one (pointer_field > 0)",
    messages: () => {
      // The third packet carries the end of one PMT, then a whole second PMT.
      const data = concat(new Uint8Array([0]), LONG_PMT, FFMPEG_PMT);
      const firstTail = 1 + LONG_PMT.length - 2 * 184;
      const packet1 = tsPacket(PMT_PID, data.subarray(0, 184), { unitStart: true, counter: 0 });
      const packet2 = tsPacket(PMT_PID, data.subarray(184, 368), { counter: 1 });
      const rest = concat(new Uint8Array([firstTail]), data.subarray(368), filled(184, 0xff))
        .subarray(0, 184);
      const packet3 = tsPacket(PMT_PID, rest, { unitStart: true, counter: 2 });
      return [...psiPackets(0, FFMPEG_PAT), packet1, packet2, packet3];
    },
    // Both PMTs complete in the last packet; the newest (short) one is kept.
    flags: [Pat, 0, 0, Pmt],
    program: FFMPEG_PROGRAM,
    infoPackets: 2,
    version: 2,
  },
  {
    name: "a PAT with a bad CRC as absent",
    messages: () => [
      concat(...psiPackets(0, corrupted(FFMPEG_PAT, 15)), ...psiPackets(PMT_PID, FFMPEG_PMT)),
    ],
    flags: [0],
    program: undefined,
    infoPackets: 0,
  },
  {
    name: "a PMT with a bad CRC as absent",
    messages: () => [
      concat(...psiPackets(0, FFMPEG_PAT), ...psiPackets(PMT_PID, corrupted(FFMPEG_PMT, 13))),
    ],
    flags: [Pat],
    program: undefined,
    infoPackets: 0,
  },
  {
    name: "a PAT without section_syntax_indicator as absent",
    messages: () => {
      const pat = FFMPEG_PAT.slice();
      pat[1] = pat[1]! & 0x7f;
      new DataView(pat.buffer).setUint32(
        pat.length - 4,
        crc32Mpeg(pat.subarray(0, pat.length - 4)),
      );
      return [concat(...psiPackets(0, pat), ...psiPackets(PMT_PID, FFMPEG_PMT))];
    },
    flags: [0],
    program: undefined,
    infoPackets: 0,
  },
  {
    name: "a PAT with section_length over 1021 as absent, and the next PAT",
    messages: () => {
      const tooLong = tsPacket(0, concat(hex("00 00 b3ff 0001 c1 0000"), filled(174, 0x11)), {
        unitStart: true,
        counter: 0,
      });
      return [tooLong, concat(...psiPackets(0, FFMPEG_PAT, 1), ...psiPackets(PMT_PID, FFMPEG_PMT))];
    },
    flags: [0, Pat | Pmt],
    program: FFMPEG_PROGRAM,
    infoPackets: 2,
  },
  {
    name: "a PMT that is not yet current (current_next_indicator 0) as absent",
    messages: () => [
      concat(
        ...psiPackets(0, FFMPEG_PAT),
        ...psiPackets(
          PMT_PID,
          section(0x02, 1, FFMPEG_PMT.subarray(8, FFMPEG_PMT.length - 4), { current: false }),
        ),
      ),
    ],
    flags: [Pat],
    program: undefined,
    infoPackets: 0,
  },
  {
    name: "a PMT for another program on the PMT PID as absent",
    messages: () => [
      concat(
        ...psiPackets(0, FFMPEG_PAT),
        ...psiPackets(PMT_PID, pmtSection([{ type: 0x1b, pid: VIDEO_PID }], { program: 2 })),
      ),
    ],
    flags: [Pat],
    program: undefined,
    infoPackets: 0,
  },
  {
    name: "a PMT whose stream loop overruns the section as absent",
    messages: () => {
      const body = FFMPEG_PMT.subarray(8, FFMPEG_PMT.length - 4).slice();
      body[body.length - 1] = 9; // the last ES_info_length points past the CRC
      return [concat(...psiPackets(0, FFMPEG_PAT), ...psiPackets(PMT_PID, section(0x02, 1, body)))];
    },
    flags: [Pat],
    program: undefined,
    infoPackets: 0,
  },
];

for (const { name, messages: build, flags, program, infoPackets, version } of tableCases) {
  Deno.test(`TsInspector reads ${name}`, () => {
    const inspector = new TsInspector();
    assert.deepEqual(inspectAll(inspector, build()), flags);
    assert.deepEqual(inspector.program, program);
    assert.equal(inspector.programInfo()?.length ?? 0, infoPackets * TS_PACKET_SIZE);
    assert.equal(inspector.programInfoVersion, version ?? (infoPackets === 0 ? 0 : 1));
  });
}

Deno.test("TsInspector.programInfo() returns the PAT and PMT packets as received", () => {
  const inspector = new TsInspector();
  const pat = psiPackets(0, FFMPEG_PAT, 5)[0]!;
  const pmt = psiPackets(PMT_PID, LONG_PMT, 9);
  const message = concat(pat, ...pmt);
  inspector.inspect(message);
  const info = inspector.programInfo();
  assert.deepEqual(info, message);
  // A copy: neither the caller's later writes to the message nor to the result leak in.
  message.fill(0);
  info!.fill(0);
  assert.deepEqual(inspector.programInfo(), concat(pat, ...pmt));
});

Deno.test("TsInspector.programInfoVersion changes exactly when programInfo() would", () => {
  const inspector = new TsInspector();
  assert.equal(inspector.programInfoVersion, 0);
  inspector.inspect(psiPackets(0, FFMPEG_PAT)[0]!);
  assert.equal(inspector.programInfoVersion, 0, "a PAT alone gives no program info");
  inspector.inspect(psiPackets(PMT_PID, FFMPEG_PMT)[0]!);
  assert.equal(inspector.programInfoVersion, 1);
  // A duplicate of both packets (same continuity counter) is the same bytes.
  inspector.inspect(concat(psiPackets(0, FFMPEG_PAT)[0]!, psiPackets(PMT_PID, FFMPEG_PMT)[0]!));
  assert.equal(inspector.programInfoVersion, 1);
  // Repetitions differ in their continuity counters.
  inspector.inspect(
    concat(psiPackets(0, FFMPEG_PAT, 1)[0]!, psiPackets(PMT_PID, FFMPEG_PMT, 1)[0]!),
  );
  assert.equal(inspector.programInfoVersion, 3);
  const hevc = psiPackets(PMT_PID, pmtSection([{ type: 0x24, pid: VIDEO_PID }]), 2)[0]!;
  inspector.inspect(hevc);
  assert.equal(inspector.programInfoVersion, 4);
  assert.deepEqual(inspector.program?.streams, [{ streamType: 0x24, pid: VIDEO_PID }]);
  // A PAT that moves the program to another PMT PID drops the old PMT.
  inspector.inspect(psiPackets(0, patSection([[1, 0x1100]]), 2)[0]!);
  assert.equal(inspector.programInfoVersion, 5);
  assert.equal(inspector.programInfo(), undefined);
  assert.equal(inspector.program?.pmtPid, undefined);
  inspector.inspect(psiPackets(0x1100, FFMPEG_PMT)[0]!);
  assert.equal(inspector.programInfoVersion, 6);
  assert.equal(inspector.program?.pmtPid, 0x1100);
});

/** An H.264 elementary stream whose IDR start code 00 00 00 01 begins `split` bytes before the end of the first packet. */
function h264IdrAcrossPackets(split: number): Uint8Array {
  // The first packet holds 184 - 14 (PES header) = 170 bytes of elementary stream.
  const seiFill = 170 - split - H264_AUD.length - 5;
  return concat(H264_AUD, h264Sei(seiFill), hex("00000001 65 888400"));
}

const randomAccessCases: {
  name: string;
  videoType?: number;
  packets: () => Uint8Array[];
  /** Packets per message; 7 unless given. */
  perMessage?: number;
  /** Flags of the messages after the one with the PAT and PMT. */
  flags: number[];
  points: number;
  lag?: number;
}[] = [
  {
    name: "flags random_access_indicator on the video PID",
    packets: () => pesPackets(VIDEO_PID, H264_NON_IDR, { randomAccess: true }),
    flags: [RandomAccess],
    points: 1,
  },
  {
    name: "ignores random_access_indicator on the audio PID",
    packets: () => pesPackets(AUDIO_PID, hex("fff15080"), { randomAccess: true }),
    flags: [0],
    points: 0,
  },
  {
    name: "counts random_access_indicator and an IDR in one access unit once",
    packets: () => [
      ...pesPackets(VIDEO_PID, concat(H264_AUD, H264_SPS, H264_PPS, H264_IDR), {
        randomAccess: true,
      }),
      ...pesPackets(VIDEO_PID, concat(H264_AUD, H264_IDR), { randomAccess: true, counter: 1 }),
    ],
    perMessage: 1,
    flags: [RandomAccess, RandomAccess],
    points: 2,
  },
  {
    name: "flags an H.264 IDR after AUD, SPS and PPS",
    packets: () => pesPackets(VIDEO_PID, concat(H264_AUD, H264_SPS, H264_PPS, H264_IDR)),
    flags: [RandomAccess],
    points: 1,
  },
  {
    name: "flags an H.264 IDR with 3-byte start codes only",
    packets: () => pesPackets(VIDEO_PID, concat(hex("000001 09 f0"), H264_IDR)),
    flags: [RandomAccess],
    points: 1,
  },
  {
    name: "flags an H.264 IDR that starts in the second packet of a PES",
    packets: () => pesPackets(VIDEO_PID, concat(H264_AUD, h264Sei(200), H264_IDR)),
    flags: [RandomAccess],
    points: 1,
  },
  {
    name: "flags an H.264 IDR after a 700-byte SEI, in the fifth packet",
    packets: () =>
      pesPackets(VIDEO_PID, concat(H264_AUD, H264_SPS, H264_PPS, h264Sei(700), H264_IDR)),
    flags: [RandomAccess],
    points: 1,
  },
  {
    name: "flags an H.264 IDR in a later message than its PES start, with the lag",
    packets: () => pesPackets(VIDEO_PID, concat(H264_AUD, h264Sei(500), H264_IDR)),
    perMessage: 2,
    flags: [0, RandomAccess],
    points: 1,
    lag: 1,
  },
  {
    name: "ignores a non-IDR H.264 slice",
    packets: () => pesPackets(VIDEO_PID, concat(H264_AUD, H264_NON_IDR)),
    flags: [0],
    points: 0,
  },
  {
    name: "stops scanning an access unit at its first slice",
    packets: () => pesPackets(VIDEO_PID, concat(H264_AUD, H264_NON_IDR, H264_IDR)),
    flags: [0],
    points: 0,
  },
  {
    name: "skips the PES header data even when it looks like an IDR",
    packets: () =>
      pesPackets(VIDEO_PID, concat(H264_AUD, H264_NON_IDR), {
        headerData: hex("00000165 00000165"),
      }),
    flags: [0],
    points: 0,
  },
  {
    name: "gives up on an access unit after 64 KB without a slice",
    packets: () => pesPackets(VIDEO_PID, concat(H264_AUD, h264Sei(70_000), H264_IDR)),
    perMessage: 400,
    flags: [0],
    points: 0,
  },
  {
    name: "ignores an IDR in a packet without payload_unit_start_indicator after a lost PES start",
    packets: () => pesPackets(VIDEO_PID, concat(H264_AUD, h264Sei(200), H264_IDR)).slice(1),
    flags: [0],
    points: 0,
  },
  {
    name: "counts one point per access unit over consecutive IDRs",
    packets: () => [
      ...pesPackets(VIDEO_PID, concat(H264_AUD, H264_IDR)),
      ...pesPackets(VIDEO_PID, concat(H264_AUD, H264_NON_IDR), { counter: 1 }),
      ...pesPackets(VIDEO_PID, concat(H264_AUD, H264_IDR), { counter: 2 }),
    ],
    perMessage: 1,
    flags: [RandomAccess, 0, RandomAccess],
    points: 2,
  },
  ...[1, 2, 3, 4].map((split) => ({
    name: `flags an H.264 IDR whose start code is split ${split}/${5 - split} across packets`,
    packets: () => pesPackets(VIDEO_PID, h264IdrAcrossPackets(split)),
    flags: [RandomAccess],
    points: 1,
  })),
  ...[1, 2, 3, 4].map((split) => ({
    name: `flags an H.264 IDR whose start code is split ${split}/${5 - split} across messages`,
    packets: () => pesPackets(VIDEO_PID, h264IdrAcrossPackets(split)),
    perMessage: 1,
    flags: [0, RandomAccess],
    points: 1,
    lag: 1,
  })),
  ...[[19, "IDR_W_RADL"], [20, "IDR_N_LP"], [21, "CRA"], [16, "BLA_W_LP"]].map(([type, label]) => ({
    name: `flags an HEVC ${label} slice after AUD, VPS, SPS, PPS and SEI`,
    videoType: 0x24,
    packets: () =>
      pesPackets(
        VIDEO_PID,
        concat(HEVC_AUD, HEVC_PARAMETER_SETS, HEVC_PREFIX_SEI, hevcSlice(type as number)),
      ),
    flags: [RandomAccess],
    points: 1,
  })),
  ...[[1, "TRAIL_R"], [0, "TRAIL_N (header byte 00)"], [9, "RASL_R"]].map(([type, label]) => ({
    name: `ignores an HEVC ${label} slice`,
    videoType: 0x24,
    packets: () =>
      pesPackets(VIDEO_PID, concat(HEVC_AUD, hevcSlice(type as number), hevcSlice(21))),
    flags: [0],
    points: 0,
  })),
  {
    name: "reads H.264 NAL types as such, not as HEVC ones, on an H.264 PID",
    // 0x2a is HEVC CRA but H.264 type 10 (end of sequence); the slice after it is not an IDR.
    packets: () => pesPackets(VIDEO_PID, concat(hex("000001 2a"), H264_NON_IDR)),
    flags: [0],
    points: 0,
  },
];

for (
  const { name, videoType, packets, perMessage = 7, flags, points, lag = 0 } of randomAccessCases
) {
  Deno.test(`TsInspector ${name}`, () => {
    const inspector = new TsInspector();
    assert.equal(inspector.inspect(programMessage(videoType)), Pat | Pmt);
    assert.deepEqual(inspectAll(inspector, messages(packets(), perMessage)), flags);
    assert.equal(inspector.randomAccessPoints, points);
    assert.equal(inspector.randomAccessLag, lag);
  });
}

Deno.test("TsInspector trusts random_access_indicator on any PID before a PMT", () => {
  const inspector = new TsInspector();
  const audio = pesPackets(AUDIO_PID, hex("fff15080"), { randomAccess: true })[0]!;
  assert.equal(inspector.inspect(audio), RandomAccess);
  inspector.inspect(programMessage());
  assert.equal(
    inspector.inspect(
      pesPackets(AUDIO_PID, hex("fff15080"), { randomAccess: true, counter: 1 })[0]!,
    ),
    0,
  );
  assert.equal(inspector.randomAccessPoints, 1);
});

const notTransportStream: [string, Uint8Array][] = [
  ["an empty message", new Uint8Array(0)],
  ["a 1-byte message", hex("47")],
  ["a 187-byte packet", programMessage().subarray(0, 187)],
  ["189 bytes", concat(programMessage().subarray(0, 188), hex("47"))],
  ["1317 bytes", concat(programMessage(), filled(1317 - 376, 0x47))],
  ["1316 bytes of zeros", new Uint8Array(1316)],
  [
    "a PAT and a PMT whose second packet lacks the sync byte",
    (() => {
      const message = programMessage();
      message[188] = 0x48;
      return message;
    })(),
  ],
];

for (const [name, message] of notTransportStream) {
  Deno.test(`TsInspector returns 0 for ${name} and keeps no state from it`, () => {
    const inspector = new TsInspector();
    assert.equal(isTransportStream(message), false);
    assert.equal(inspector.inspect(message), 0);
    assert.equal(inspector.programInfo(), undefined);
    assert.equal(inspector.randomAccessPoints, 0);
  });
}

Deno.test("TsInspector handles messages of every whole number of packets up to 7", () => {
  for (let perMessage = 1; perMessage <= 7; perMessage++) {
    const inspector = new TsInspector();
    const packets = [
      ...psiPackets(0, FFMPEG_PAT),
      ...psiPackets(PMT_PID, LONG_PMT),
      ...pesPackets(VIDEO_PID, concat(H264_AUD, H264_SPS, H264_PPS, h264Sei(600), H264_IDR)),
    ];
    const all = inspectAll(inspector, messages(packets, perMessage)).reduce((a, b) => a | b, 0);
    assert.equal(all, Pat | Pmt | RandomAccess, `${perMessage} packets per message`);
    assert.equal(inspector.randomAccessPoints, 1);
    assert.equal(inspector.programInfo()?.length, 4 * TS_PACKET_SIZE);
  }
});

Deno.test("TsInspector ignores packets with transport_error_indicator set", () => {
  const inspector = new TsInspector();
  inspector.inspect(programMessage());
  const packet = pesPackets(VIDEO_PID, concat(H264_AUD, H264_IDR), { randomAccess: true })[0]!;
  packet[1] = packet[1]! | 0x80;
  assert.equal(inspector.inspect(packet), 0);
  assert.equal(inspector.randomAccessPoints, 0);
});

Deno.test("buildDiscontinuityPacket() sets only discontinuity_indicator in an adaptation field", () => {
  assert.deepEqual(
    buildDiscontinuityPacket(0x100, 7),
    concat(hex("47 0100 27  b7 80"), filled(182, 0xff)),
  );
  assert.deepEqual(
    buildDiscontinuityPacket(0x1ffe, 15).subarray(0, 6),
    hex("47 1ffe 2f  b7 80"),
  );
  assert.deepEqual(buildDiscontinuityPacket(0, 0).subarray(0, 6), hex("47 0000 20  b7 80"));
});

Deno.test("buildDiscontinuityPacket() rejects a PID or continuity counter out of range", () => {
  for (
    const [pid, counter] of [[0x2000, 0], [-1, 0], [1.5, 0], [0x100, 16], [0x100, -1], [
      0x100,
      Number.NaN,
    ]]
  ) {
    assert.throws(() => buildDiscontinuityPacket(pid!, counter!), RangeError);
  }
});

Deno.test("TsInspector finds the first key frame after a discontinuity packet", () => {
  const inspector = new TsInspector();
  inspector.inspect(programMessage());
  const first = pesPackets(VIDEO_PID, concat(H264_AUD, h264Sei(300), H264_IDR));
  // A new publisher resumes mid-stream: its counters start anywhere after the marker.
  const resumed = pesPackets(VIDEO_PID, concat(H264_AUD, h264Sei(300), H264_IDR), { counter: 9 });
  assert.equal(inspector.inspect(first[0]!), 0);
  assert.equal(inspector.inspect(buildDiscontinuityPacket(VIDEO_PID, 0)), 0);
  assert.deepEqual(inspectAll(inspector, messages(resumed)), [RandomAccess]);
});

/** Fixtures made by ffmpeg (see testdata/README.md). */
const fixtures: { file: string; bytes: Uint8Array; keyFrames: number; program: ProgramMap }[] = [
  {
    // ffprobe -v error -select_streams v -show_entries packet=flags -of csv=p=0 FILE | grep -c '^K' → 3
    file: "h264_aac_64x64.m2ts",
    bytes: H264_AAC_FIXTURE,
    keyFrames: 3,
    program: FFMPEG_PROGRAM,
  },
  {
    // Same command → 3 (an IDR_N_LP, then two CRAs).
    file: "hevc_64x64.m2ts",
    bytes: HEVC_FIXTURE,
    keyFrames: 3,
    program: {
      programNumber: 1,
      pmtPid: PMT_PID,
      pcrPid: VIDEO_PID,
      streams: [{ streamType: 0x24, pid: VIDEO_PID }],
    },
  },
];

/** Clears every random_access_indicator, so only the NAL scan can find key frames. */
function withoutRandomAccessIndicators(stream: Uint8Array): Uint8Array {
  const copy = stream.slice();
  for (let o = 0; o < copy.length; o += TS_PACKET_SIZE) {
    if ((copy[o + 3]! & 0x20) !== 0 && copy[o + 4]! > 0) copy[o + 5] = copy[o + 5]! & ~0x40;
  }
  return copy;
}

for (const { file, bytes, keyFrames, program } of fixtures) {
  for (const stripped of [false, true]) {
    const how = stripped ? "by NAL type alone (random_access_indicator cleared)" : "";
    Deno.test(
      `TsInspector counts the ${keyFrames} key frames of ${file} ${how}`.trimEnd(),
      () => {
        let stream = bytes;
        if (stripped) stream = withoutRandomAccessIndicators(stream);
        assert.equal(stream.length % TS_PACKET_SIZE, 0);
        const inspector = new TsInspector();
        let all = 0;
        let flagged = 0;
        for (let offset = 0; offset < stream.length; offset += 1316) {
          const flags = inspector.inspect(stream.subarray(offset, offset + 1316));
          all |= flags;
          if (flags & RandomAccess) flagged++;
        }
        assert.equal(all, RandomAccess | Pat | Pmt);
        assert.equal(inspector.randomAccessPoints, keyFrames);
        assert.equal(flagged, keyFrames);
        assert.deepEqual(inspector.program, program);
        const info = inspector.programInfo()!;
        assert.equal(info.length, 2 * TS_PACKET_SIZE);
        assert.deepEqual(info.subarray(5, 5 + FFMPEG_PAT.length), FFMPEG_PAT);
      },
    );
  }
}

Deno.test("TsInspector never throws on random and mutated messages", () => {
  // Seeded, so the fuzz run is the same every time.
  const random = new SeededRandom(0x5eed);
  const next = () => random.uint32();
  const real = [
    ...messages([...psiPackets(0, FFMPEG_PAT), ...psiPackets(PMT_PID, LONG_PMT)]),
    H264_AAC_FIXTURE,
    HEVC_FIXTURE,
  ];
  const pids = [0, PMT_PID, VIDEO_PID, AUDIO_PID, 0x1fff];
  const inspector = new TsInspector();
  for (let i = 0; i < 6000; i++) {
    let message: Uint8Array;
    const kind = i % 3;
    if (kind === 0) {
      // Random bytes, mostly shaped as packets on interesting PIDs so the parsers are reached.
      const length = next() % 8 === 0 ? next() % 1400 : TS_PACKET_SIZE * (1 + (next() % 7));
      message = new Uint8Array(length);
      for (let j = 0; j < length; j++) message[j] = next() & 0xff;
      for (let o = 0; o + TS_PACKET_SIZE <= length; o += TS_PACKET_SIZE) {
        const pid = pids[next() % pids.length]!;
        message[o] = 0x47;
        message[o + 1] = (message[o + 1]! & 0xe0) | (pid >> 8);
        message[o + 2] = pid & 0xff;
        if (next() % 2 === 0) message[o + 4] = next() % 8; // small pointer or adaptation length
      }
    } else {
      // A slice of a real stream with a few bytes flipped.
      const source = real[next() % real.length]!;
      const start = TS_PACKET_SIZE * (next() % Math.max(1, source.length / TS_PACKET_SIZE - 7));
      message = source.slice(start, start + TS_PACKET_SIZE * (1 + (next() % 7)));
      const flips = next() % 6;
      for (let j = 0; j < flips && message.length > 0; j++) {
        message[next() % message.length] = next() & 0xff;
      }
    }
    const flags = inspector.inspect(message);
    assert.equal(flags & ~(RandomAccess | Pat | Pmt), 0);
    const info = inspector.programInfo();
    if (info !== undefined) {
      assert.equal(info.length % TS_PACKET_SIZE, 0);
      assert.ok(info.length <= 16 * TS_PACKET_SIZE);
    }
  }
  assert.ok(inspector.randomAccessPoints > 0, "fuzzing never reached a random-access point");
  assert.ok(inspector.programInfoVersion > 0, "fuzzing never reached a PAT and PMT");
});

/** Two PES packets of `pid`, each one TS packet, after the PAT and a PMT of `streams`. */
function audioOnlyStream(
  streams: { type: number; pid: number; descriptors?: Uint8Array }[],
  pid = AUDIO_PID,
): Uint8Array[] {
  return [
    concat(
      ...psiPackets(0, FFMPEG_PAT),
      ...psiPackets(PMT_PID, pmtSection(streams, { pcrPid: streams[0]!.pid })),
    ),
    ...pesPackets(pid, hex("fff15080 0001"), { counter: 0 }),
    ...pesPackets(pid, hex("fff15080 0002"), { counter: 1 }),
  ];
}

const audioCases: {
  name: string;
  messages: () => Uint8Array[];
  flags: number[];
}[] = [
  ...[[0x0f, "AAC (ADTS)"], [0x11, "AAC (LATM)"], [0x03, "MPEG-1 audio"], [0x04, "MPEG-2 audio"], [
    0x81,
    "AC-3 (ATSC)",
  ], [0x87, "E-AC-3 (ATSC)"]].map(([type, label]) => ({
    name: `flags every PES start of ${label} alone`,
    messages: () => audioOnlyStream([{ type: type as number, pid: AUDIO_PID }]),
    flags: [Pat | Pmt, RandomAccess, RandomAccess],
  })),
  {
    name: "flags every PES start of private data with a DVB AC-3 descriptor",
    messages: () => audioOnlyStream([{ type: 0x06, pid: AUDIO_PID, descriptors: hex("6a 01 00") }]),
    flags: [Pat | Pmt, RandomAccess, RandomAccess],
  },
  {
    name: "flags every PES start of private data registered as Opus",
    messages: () =>
      audioOnlyStream([{
        type: 0x06,
        pid: AUDIO_PID,
        descriptors: hex("0a 04 656e6700  05 04 4f707573"),
      }]),
    flags: [Pat | Pmt, RandomAccess, RandomAccess],
  },
  {
    name: "flags no PES start of private data without an audio descriptor",
    messages: () =>
      audioOnlyStream([{ type: 0x06, pid: AUDIO_PID, descriptors: hex("05 04 4b4c5641") }]),
    flags: [Pat | Pmt, 0, 0],
  },
  {
    name: "flags no audio PES start when the program has video",
    messages: () =>
      audioOnlyStream([{ type: 0x1b, pid: VIDEO_PID }, { type: 0x0f, pid: AUDIO_PID }]),
    flags: [Pat | Pmt, 0, 0],
  },
  {
    name: "flags no audio PES start when the program has MPEG-2 video",
    messages: () =>
      audioOnlyStream([{ type: 0x0f, pid: AUDIO_PID }, { type: 0x02, pid: VIDEO_PID }]),
    flags: [Pat | Pmt, 0, 0],
  },
  {
    name: "flags the PES starts of the first audio stream only",
    messages: () => {
      const streams = [{ type: 0x0f, pid: AUDIO_PID }, { type: 0x03, pid: 0x102 }];
      return [...audioOnlyStream(streams), ...audioOnlyStream(streams, 0x102).slice(1)];
    },
    flags: [Pat | Pmt, RandomAccess, RandomAccess, 0, 0],
  },
  {
    name: "flags nothing in the middle of an audio PES",
    messages: () => {
      const [program, first] = audioOnlyStream([{ type: 0x0f, pid: AUDIO_PID }]);
      const long = pesPackets(AUDIO_PID, filled(400, 0x11), { counter: 2 });
      return [program!, first!, ...long];
    },
    flags: [Pat | Pmt, RandomAccess, RandomAccess, 0, 0],
  },
  {
    name: "stops flagging audio PES starts once a PMT adds video",
    messages: () => {
      const [program, first] = audioOnlyStream([{ type: 0x0f, pid: AUDIO_PID }]);
      const withVideo = psiPackets(
        PMT_PID,
        pmtSection([{ type: 0x0f, pid: AUDIO_PID }, { type: 0x1b, pid: VIDEO_PID }], {
          pcrPid: AUDIO_PID,
        }),
        1,
      );
      return [
        program!,
        first!,
        ...withVideo,
        pesPackets(AUDIO_PID, hex("fff1"), { counter: 1 })[0]!,
      ];
    },
    flags: [Pat | Pmt, RandomAccess, Pmt, 0],
  },
];

for (const { name, messages: build, flags } of audioCases) {
  Deno.test(`TsInspector ${name}`, () => {
    const inspector = new TsInspector();
    assert.deepEqual(inspectAll(inspector, build()), flags);
    const points = flags.filter((f) => (f & RandomAccess) !== 0).length;
    assert.equal(inspector.randomAccessPoints, points);
    assert.equal(inspector.randomAccessLag, 0);
  });
}

for (const stripped of [false, true]) {
  const how = stripped ? " by PES starts alone (random_access_indicator cleared)" : "";
  Deno.test(`TsInspector counts every audio PES of aac_16k.m2ts as a random-access point${how}`, () => {
    // ffprobe -v error -show_entries packet=pos FILE: 39 AAC frames, muxed into 6 PES packets.
    const stream = stripped ? withoutRandomAccessIndicators(AAC_FIXTURE) : AAC_FIXTURE;
    const inspector = new TsInspector();
    let flagged = 0;
    for (let offset = 0; offset < stream.length; offset += 1316) {
      if (inspector.inspect(stream.subarray(offset, offset + 1316)) & RandomAccess) flagged++;
    }
    assert.deepEqual(inspector.program?.streams, [{ streamType: 0x0f, pid: 0x100 }]);
    assert.equal(inspector.randomAccessPoints, 6);
    assert.ok(flagged >= 1 && flagged <= 6);
  });
}

const leadPidCases: {
  name: string;
  streams: { type: number; pid: number; descriptors?: Uint8Array }[];
  lead: number | undefined;
}[] = [
  {
    name: "the first video stream, wherever audio is listed",
    streams: [{ type: 0x0f, pid: AUDIO_PID }, { type: 0x1b, pid: VIDEO_PID }, {
      type: 0x24,
      pid: 0x102,
    }],
    lead: VIDEO_PID,
  },
  {
    name: "video that is neither H.264 nor HEVC",
    streams: [{ type: 0x0f, pid: AUDIO_PID }, { type: 0x02, pid: VIDEO_PID }],
    lead: VIDEO_PID,
  },
  {
    name: "the first audio stream of a program without video",
    streams: [{ type: 0x06, pid: 0x102 }, { type: 0x0f, pid: AUDIO_PID }, {
      type: 0x03,
      pid: 0x103,
    }],
    lead: AUDIO_PID,
  },
  {
    name: "nothing in a program of private data alone",
    streams: [{ type: 0x06, pid: 0x102 }],
    lead: undefined,
  },
];

for (const { name, streams, lead } of leadPidCases) {
  Deno.test(`TsInspector.leadPid is ${name}`, () => {
    const inspector = new TsInspector();
    assert.equal(inspector.leadPid, undefined);
    inspector.inspect(concat(...psiPackets(0, FFMPEG_PAT)));
    assert.equal(inspector.leadPid, undefined);
    inspector.inspect(
      concat(...psiPackets(PMT_PID, pmtSection(streams, { pcrPid: streams[0]!.pid }))),
    );
    assert.equal(inspector.leadPid, lead);
  });
}
