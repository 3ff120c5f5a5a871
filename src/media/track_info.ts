/**
 * What a publisher's stream carries, track by track: the codec from the PMT
 * stream type (private data by its first bytes), for video the picture size
 * and frame rate from the SPS (H.264 and HEVC; cropping applied; the frame
 * rate from the VUI timing when present, else estimated from the PES PTS
 * deltas), for audio the sample rate and channels from the first frame
 * header (ADTS AAC, MPEG audio, AC-3). Pure; never throws on bad bytes.
 *
 * @module
 */

import { type ProgramMap, TS_PACKET_SIZE } from "./mpegts.ts";
import { VideoCodec } from "./parameter_sets.ts";

/** One elementary stream of a publisher's program, as `/api/streams` shows it. */
export interface TrackInfo {
  pid: number;
  kind: "video" | "audio" | "other";
  /** "H.264", "HEVC", "AAC", "MP2", "AC-3", …; "stream type 0xNN" when unknown. */
  codec: string;
  width: number | null;
  height: number | null;
  /** Frames a second, to 3 decimals. */
  frameRate: number | null;
  sampleRate: number | null;
  channels: number | null;
}

/** What an SPS says of the picture. */
export interface VideoFormat {
  width: number;
  height: number;
  /** From the VUI timing info; null when the SPS has none. */
  frameRate: number | null;
}

/** What an audio frame header says. */
export interface AudioFormat {
  codec: string;
  sampleRate: number;
  channels: number;
}

const CODECS: ReadonlyMap<number, [TrackInfo["kind"], string]> = new Map([
  [0x01, ["video", "MPEG-1 video"]],
  [0x02, ["video", "MPEG-2 video"]],
  [0x03, ["audio", "MPEG audio"]],
  [0x04, ["audio", "MPEG audio"]],
  [0x0f, ["audio", "AAC"]],
  [0x10, ["video", "MPEG-4 video"]],
  [0x11, ["audio", "AAC (LATM)"]],
  [0x1b, ["video", "H.264"]],
  [0x1c, ["audio", "MPEG-4 audio"]],
  [0x24, ["video", "HEVC"]],
  [0x33, ["video", "VVC"]],
  [0x81, ["audio", "AC-3"]],
  [0x87, ["audio", "E-AC-3"]],
  [0xea, ["video", "VC-1"]],
]);

const STREAM_TYPE_PRIVATE_PES = 0x06;

/** Reads bits MSB first, with exp-Golomb codes; past the end it reads zeros and sets `overrun`. */
class BitReader {
  #bit = 0;
  overrun = false;
  constructor(readonly bytes: Uint8Array) {}

  bit(): number {
    const byte = this.#bit >> 3;
    if (byte >= this.bytes.length) {
      this.overrun = true;
      return 0;
    }
    const value = (this.bytes[byte]! >> (7 - (this.#bit & 7))) & 1;
    this.#bit++;
    return value;
  }

  bits(n: number): number {
    let value = 0;
    for (let i = 0; i < n; i++) value = value * 2 + this.bit();
    return value;
  }

  skip(n: number): void {
    this.#bit += n;
    if (this.#bit > this.bytes.length * 8) this.overrun = true;
  }

  /** ue(v); at most 32 leading zeros. */
  ue(): number {
    let zeros = 0;
    while (this.bit() === 0) {
      if (++zeros > 32 || this.overrun) {
        this.overrun = true;
        return 0;
      }
    }
    return 2 ** zeros - 1 + this.bits(zeros);
  }

  se(): number {
    const k = this.ue();
    return k % 2 === 1 ? (k + 1) / 2 : -k / 2;
  }
}

/** The RBSP of a NAL unit: emulation-prevention bytes (00 00 03) removed. */
export function unescapeRbsp(nal: Uint8Array): Uint8Array {
  const out = new Uint8Array(nal.length);
  let n = 0;
  let zeros = 0;
  for (const byte of nal) {
    if (zeros >= 2 && byte === 3) {
      zeros = 0;
      continue;
    }
    zeros = byte === 0 ? zeros + 1 : 0;
    out[n++] = byte;
  }
  return out.subarray(0, n);
}

const H264_HIGH_PROFILES: ReadonlySet<number> = new Set([
  100,
  110,
  122,
  244,
  44,
  83,
  86,
  118,
  128,
  138,
  139,
  134,
  135,
]);

function skipScalingList(r: BitReader, size: number): void {
  let last = 8;
  let next = 8;
  for (let j = 0; j < size && !r.overrun; j++) {
    if (next !== 0) next = (last + r.se() + 256) % 256;
    last = next === 0 ? last : next;
  }
}

function roundRate(rate: number): number | null {
  return Number.isFinite(rate) && rate > 0 && rate < 1000 ? Math.round(rate * 1000) / 1000 : null;
}

/** Both codecs' levels stop well short of 16384 pixels a side (H.264 level 6.2: 8192×4320). */
const MAX_PICTURE_SIDE = 16384;

function plausibleSize(width: number, height: number): boolean {
  return width > 0 && height > 0 && width <= MAX_PICTURE_SIDE && height <= MAX_PICTURE_SIDE;
}

/** Parses an H.264 SPS NAL unit (header byte included); undefined when it is not one. */
export function parseH264Sps(nal: Uint8Array): VideoFormat | undefined {
  if (nal.length < 4 || (nal[0]! & 0x1f) !== 7) return undefined;
  const r = new BitReader(unescapeRbsp(nal.subarray(1)));
  const profile = r.bits(8);
  r.skip(16); // constraint flags, level_idc
  r.ue(); // seq_parameter_set_id
  let chromaFormat = 1;
  let separateColourPlanes = 0;
  if (H264_HIGH_PROFILES.has(profile)) {
    chromaFormat = r.ue();
    if (chromaFormat === 3) separateColourPlanes = r.bit();
    r.ue(); // bit_depth_luma_minus8
    r.ue(); // bit_depth_chroma_minus8
    r.bit(); // qpprime_y_zero_transform_bypass_flag
    if (r.bit() === 1) {
      for (let i = 0; i < (chromaFormat !== 3 ? 8 : 12); i++) {
        if (r.bit() === 1) skipScalingList(r, i < 6 ? 16 : 64);
      }
    }
  }
  r.ue(); // log2_max_frame_num_minus4
  const pocType = r.ue();
  if (pocType === 0) r.ue();
  else if (pocType === 1) {
    r.bit();
    r.se();
    r.se();
    const cycle = r.ue();
    for (let i = 0; i < cycle && i < 256; i++) r.se();
  }
  r.ue(); // max_num_ref_frames
  r.bit(); // gaps_in_frame_num_value_allowed_flag
  const widthInMbs = r.ue() + 1;
  const heightInMapUnits = r.ue() + 1;
  const frameMbsOnly = r.bit();
  if (frameMbsOnly === 0) r.bit();
  r.bit(); // direct_8x8_inference_flag
  let crop = [0, 0, 0, 0];
  if (r.bit() === 1) crop = [r.ue(), r.ue(), r.ue(), r.ue()];
  const chromaArrayType = separateColourPlanes ? 0 : chromaFormat;
  const subWidth = chromaArrayType === 1 || chromaArrayType === 2 ? 2 : 1;
  const subHeight = chromaArrayType === 1 ? 2 : 1;
  const cropX = chromaArrayType === 0 ? 1 : subWidth;
  const cropY = (chromaArrayType === 0 ? 1 : subHeight) * (2 - frameMbsOnly);
  const width = widthInMbs * 16 - cropX * (crop[0]! + crop[1]!);
  const height = (2 - frameMbsOnly) * heightInMapUnits * 16 - cropY * (crop[2]! + crop[3]!);
  let frameRate: number | null = null;
  if (r.bit() === 1) {
    if (r.bit() === 1 && r.bits(8) === 255) r.skip(32); // aspect_ratio_idc, Extended_SAR
    if (r.bit() === 1) r.bit(); // overscan
    if (r.bit() === 1) {
      r.skip(4); // video_format, video_full_range_flag
      if (r.bit() === 1) r.skip(24); // colour description
    }
    if (r.bit() === 1) {
      r.ue();
      r.ue();
    }
    if (r.bit() === 1) {
      const unitsInTick = r.bits(32);
      const timeScale = r.bits(32);
      if (!r.overrun && unitsInTick > 0) frameRate = roundRate(timeScale / (2 * unitsInTick));
    }
  }
  if (r.overrun || !plausibleSize(width, height)) return undefined;
  return { width, height, frameRate };
}

/** Parses an HEVC SPS NAL unit (2-byte header included). */
export function parseHevcSps(nal: Uint8Array): VideoFormat | undefined {
  if (nal.length < 4 || ((nal[0]! >> 1) & 0x3f) !== 33) return undefined;
  const r = new BitReader(unescapeRbsp(nal.subarray(2)));
  r.skip(4); // sps_video_parameter_set_id
  const maxSubLayers = r.bits(3);
  r.skip(1);
  r.skip(96); // general profile, tier and level
  const present: [number, number][] = [];
  for (let i = 0; i < maxSubLayers; i++) present.push([r.bit(), r.bit()]);
  if (maxSubLayers > 0) r.skip(2 * (8 - maxSubLayers));
  for (const [profile, level] of present) r.skip(profile * 88 + level * 8);
  r.ue(); // sps_seq_parameter_set_id
  const chromaFormat = r.ue();
  const separateColourPlanes = chromaFormat === 3 ? r.bit() : 0;
  let width = r.ue();
  let height = r.ue();
  if (r.bit() === 1) {
    const chromaArrayType = separateColourPlanes ? 0 : chromaFormat;
    const subWidth = chromaArrayType === 1 || chromaArrayType === 2 ? 2 : 1;
    const subHeight = chromaArrayType === 1 ? 2 : 1;
    width -= subWidth * (r.ue() + r.ue());
    height -= subHeight * (r.ue() + r.ue());
  }
  if (r.overrun || !plausibleSize(width, height)) return undefined;
  return { width, height, frameRate: hevcVuiFrameRate(r, maxSubLayers) };
}

/** The rest of an HEVC SPS, after the conformance window, to the VUI timing; null without. */
function hevcVuiFrameRate(r: BitReader, maxSubLayers: number): number | null {
  r.ue(); // bit_depth_luma_minus8
  r.ue(); // bit_depth_chroma_minus8
  const pocLsbBits = r.ue() + 4;
  const orderingForAll = r.bit();
  for (let i = orderingForAll ? 0 : maxSubLayers; i <= maxSubLayers; i++) {
    r.ue();
    r.ue();
    r.ue();
  }
  for (let i = 0; i < 6; i++) r.ue(); // block sizes and transform hierarchy depths
  if (r.bit() === 1 && r.bit() === 1) {
    // scaling_list_data()
    for (let sizeId = 0; sizeId < 4; sizeId++) {
      for (let matrixId = 0; matrixId < 6; matrixId += sizeId === 3 ? 3 : 1) {
        if (r.bit() === 0) r.ue();
        else {
          if (sizeId > 1) r.se();
          const coefficients = Math.min(64, 1 << (4 + (sizeId << 1)));
          for (let k = 0; k < coefficients && !r.overrun; k++) r.se();
        }
      }
    }
  }
  r.skip(2); // amp_enabled_flag, sample_adaptive_offset_enabled_flag
  if (r.bit() === 1) {
    r.skip(8);
    r.ue();
    r.ue();
    r.skip(1);
  }
  const sets = r.ue();
  if (sets > 64) return null;
  const deltaPocs: number[] = [];
  for (let i = 0; i < sets && !r.overrun; i++) {
    if (i !== 0 && r.bit() === 1) {
      // Predicted from the set before: a flag or two per picture of that set.
      r.bit();
      r.ue();
      let count = 0;
      for (let j = 0; j <= deltaPocs[i - 1]!; j++) {
        if (r.bit() === 1 || r.bit() === 1) count++;
      }
      deltaPocs.push(count);
    } else {
      const negative = r.ue();
      const positive = r.ue();
      if (negative + positive > 32) return null;
      for (let k = 0; k < negative + positive; k++) {
        r.ue();
        r.bit();
      }
      deltaPocs.push(negative + positive);
    }
  }
  if (r.bit() === 1) {
    const longTerm = r.ue();
    if (longTerm > 32) return null;
    for (let i = 0; i < longTerm; i++) r.skip(pocLsbBits + 1);
  }
  r.skip(2); // sps_temporal_mvp_enabled_flag, strong_intra_smoothing_enabled_flag
  if (r.bit() === 0) return null;
  if (r.bit() === 1 && r.bits(8) === 255) r.skip(32); // aspect ratio
  if (r.bit() === 1) r.bit(); // overscan
  if (r.bit() === 1) {
    r.skip(4);
    if (r.bit() === 1) r.skip(24);
  }
  if (r.bit() === 1) {
    r.ue();
    r.ue();
  }
  r.skip(3); // neutral_chroma_indication_flag, field_seq_flag, frame_field_info_present_flag
  if (r.bit() === 1) {
    r.ue();
    r.ue();
    r.ue();
    r.ue();
  }
  if (r.bit() === 0) return null;
  const unitsInTick = r.bits(32);
  const timeScale = r.bits(32);
  return r.overrun || unitsInTick === 0 ? null : roundRate(timeScale / unitsInTick);
}

const ADTS_SAMPLE_RATES = [
  96000,
  88200,
  64000,
  48000,
  44100,
  32000,
  24000,
  22050,
  16000,
  12000,
  11025,
  8000,
  7350,
];
const MPEG_AUDIO_SAMPLE_RATES = [44100, 48000, 32000];
const AC3_SAMPLE_RATES = [48000, 44100, 32000];
const AC3_CHANNELS = [2, 1, 2, 3, 3, 4, 4, 5];

/** Parses an audio frame header at `b[o..]`: ADTS, MPEG audio or AC-3; undefined if none. */
export function parseAudioHeader(b: Uint8Array, o: number): AudioFormat | undefined {
  if (o + 7 > b.length) return undefined;
  const b0 = b[o]!, b1 = b[o + 1]!, b2 = b[o + 2]!, b3 = b[o + 3]!;
  if (b0 === 0x0b && b1 === 0x77) {
    const fscod = b[o + 4]! >> 6;
    const bsid = b[o + 5]! >> 3;
    if (bsid > 10) {
      // E-AC-3: fscod, then numblkscod or fscod2, acmod, lfeon.
      const b4 = b[o + 4]!;
      const sampleRate = fscod === 3
        ? [24000, 22050, 16000][(b4 >> 4) & 3]
        : AC3_SAMPLE_RATES[fscod];
      if (sampleRate === undefined) return undefined;
      const acmod = (b4 >> 1) & 7;
      return { codec: "E-AC-3", sampleRate, channels: AC3_CHANNELS[acmod]! + (b4 & 1) };
    }
    const sampleRate = AC3_SAMPLE_RATES[fscod];
    if (sampleRate === undefined) return undefined;
    const r = new BitReader(b.subarray(o + 6, o + 8));
    const acmod = r.bits(3);
    if ((acmod & 1) !== 0 && acmod !== 1) r.skip(2);
    if ((acmod & 4) !== 0) r.skip(2);
    if (acmod === 2) r.skip(2);
    return { codec: "AC-3", sampleRate, channels: AC3_CHANNELS[acmod]! + r.bit() };
  }
  if (b0 !== 0xff) return undefined;
  if ((b1 & 0xf6) === 0xf0) {
    const sampleRate = ADTS_SAMPLE_RATES[(b2 >> 2) & 0x0f];
    const config = ((b2 & 1) << 2) | (b3 >> 6);
    if (sampleRate === undefined || config === 0) return undefined;
    return { codec: "AAC", sampleRate, channels: config === 7 ? 8 : config };
  }
  if ((b1 & 0xe0) === 0xe0) {
    const version = (b1 >> 3) & 3; // 0: MPEG-2.5, 2: MPEG-2, 3: MPEG-1
    const layer = 4 - ((b1 >> 1) & 3);
    const base = MPEG_AUDIO_SAMPLE_RATES[(b2 >> 2) & 3];
    if (version === 1 || layer === 4 || base === undefined || (b2 >> 4) === 15) return undefined;
    const sampleRate = version === 3 ? base : version === 2 ? base / 2 : base / 4;
    return { codec: `MP${layer}`, sampleRate, channels: (b3 >> 6) === 3 ? 1 : 2 };
  }
  return undefined;
}

/** The first NAL unit of the given type in Annex B bytes (start codes of 3 or 4 bytes). */
function findNal(es: Uint8Array, codec: VideoCodec): Uint8Array | undefined {
  const starts: number[] = [];
  for (let i = 0; i + 2 < es.length; i++) {
    if (es[i] === 0 && es[i + 1] === 0 && es[i + 2] === 1) starts.push(i + 3);
  }
  for (const [k, start] of starts.entries()) {
    const header = es[start];
    if (header === undefined) continue;
    const type = codec === VideoCodec.H264 ? header & 0x1f : (header >> 1) & 0x3f;
    if (type !== (codec === VideoCodec.H264 ? 7 : 33)) continue;
    let end = starts[k + 1] === undefined ? es.length : starts[k + 1]! - 3;
    while (end > start && es[end - 1] === 0) end--;
    return es.subarray(start, end);
  }
  return undefined;
}

/** PTS deltas before a frame-rate estimate is given, and after which it is final. */
const PTS_SAMPLES_FIRST = 16;
const PTS_SAMPLES_LAST = 64;

interface TrackState {
  info: TrackInfo;
  /** Still looking at PES starts: an audio header, or PTS for the frame rate. */
  sniff: boolean;
  /** PTS of the video's first PES starts, in 90 kHz units. */
  pts: number[];
  vuiRate: boolean;
}

/**
 * Follows a publisher's program and learns its tracks. `setProgram()` on
 * every new PMT, `feed()` with each message of whole packets, and
 * `setParameterSets()` with the video's newest parameter sets; each returns
 * whether {@link tracks} changed.
 */
export class TrackInfoCollector {
  #tracks = new Map<number, TrackState>();
  #program: ProgramMap | undefined;

  tracks(): TrackInfo[] {
    return [...this.#tracks.values()].map(({ info }) => ({ ...info }));
  }

  setProgram(program: ProgramMap | undefined): boolean {
    if (program === this.#program) return false;
    const same = program !== undefined && this.#program !== undefined &&
      program.streams.length === this.#program.streams.length &&
      program.streams.every((s, i) =>
        s.pid === this.#program!.streams[i]!.pid &&
        s.streamType === this.#program!.streams[i]!.streamType
      );
    this.#program = program;
    if (same) return false;
    const old = this.#tracks;
    this.#tracks = new Map();
    for (const { pid, streamType } of program?.streams ?? []) {
      const kept = old.get(pid);
      const [kind, codec] = CODECS.get(streamType) ??
        (streamType === STREAM_TYPE_PRIVATE_PES
          ? ["other", "private data"]
          : ["other", `stream type 0x${streamType.toString(16).padStart(2, "0")}`]);
      if (kept !== undefined && kept.info.kind === kind && kept.info.codec.startsWith(codec)) {
        this.#tracks.set(pid, kept);
        continue;
      }
      this.#tracks.set(pid, {
        info: {
          pid,
          kind,
          codec,
          width: null,
          height: null,
          frameRate: null,
          sampleRate: null,
          channels: null,
        },
        sniff: kind !== "other" || streamType === STREAM_TYPE_PRIVATE_PES,
        pts: [],
        vuiRate: false,
      });
    }
    return true;
  }

  /** Takes the SPS from the video's parameter sets (Annex B). */
  setParameterSets(pid: number, codec: VideoCodec, sets: Uint8Array): boolean {
    const track = this.#tracks.get(pid);
    const sps = findNal(sets, codec);
    if (track === undefined || sps === undefined) return false;
    const format = codec === VideoCodec.H264 ? parseH264Sps(sps) : parseHevcSps(sps);
    if (format === undefined) return false;
    const info = track.info;
    const before = JSON.stringify(info);
    info.width = format.width;
    info.height = format.height;
    track.vuiRate = format.frameRate !== null;
    if (format.frameRate !== null) info.frameRate = format.frameRate;
    return JSON.stringify(info) !== before;
  }

  /** Looks at the PES starts of the tracks still to learn. */
  feed(message: Uint8Array): boolean {
    let changed = false;
    for (let o = 0; o + TS_PACKET_SIZE <= message.length; o += TS_PACKET_SIZE) {
      if (message[o] !== 0x47 || (message[o + 1]! & 0x40) === 0) continue;
      const track = this.#tracks.get(((message[o + 1]! & 0x1f) << 8) | message[o + 2]!);
      if (track === undefined || !track.sniff) continue;
      const b3 = message[o + 3]!;
      if ((b3 & 0x10) === 0) continue;
      const p = (b3 & 0x20) === 0 ? o + 4 : o + 5 + message[o + 4]!;
      const end = o + TS_PACKET_SIZE;
      if (p + 9 > end || message[p] !== 0 || message[p + 1] !== 0 || message[p + 2] !== 1) {
        continue;
      }
      if ((message[p + 6]! & 0xc0) !== 0x80) continue;
      const data = p + 9 + message[p + 8]!;
      if (data > end) continue;
      if (track.info.kind === "video") changed = this.#notePts(track, message, p) || changed;
      else changed = this.#noteAudio(track, message.subarray(data, end)) || changed;
    }
    return changed;
  }

  #noteAudio(track: TrackState, es: Uint8Array): boolean {
    for (let i = 0; i + 7 <= es.length; i++) {
      const format = parseAudioHeader(es, i);
      if (format === undefined) continue;
      track.sniff = false;
      Object.assign(track.info, {
        kind: "audio",
        codec: format.codec,
        sampleRate: format.sampleRate,
        channels: format.channels,
      });
      return true;
    }
    return false;
  }

  #notePts(track: TrackState, m: Uint8Array, p: number): boolean {
    if ((m[p + 7]! & 0x80) === 0 || m[p + 8]! < 5) return false;
    const pts = (m[p + 9]! >> 1 & 7) * 2 ** 30 + (m[p + 10]! << 22 | (m[p + 11]! >> 1) << 15) +
      (m[p + 12]! << 7 | m[p + 13]! >> 1);
    track.pts.push(pts);
    if (track.pts.length >= PTS_SAMPLES_LAST) track.sniff = false;
    if (track.pts.length < PTS_SAMPLES_FIRST || track.vuiRate) return false;
    // In presentation order, neighbours are one frame apart, whatever the B-frame reordering.
    const sorted = [...track.pts].sort((a, b) => a - b);
    let frame = Infinity;
    for (let i = 1; i < sorted.length; i++) {
      const delta = sorted[i]! - sorted[i - 1]!;
      if (delta > 0 && delta < frame) frame = delta;
    }
    if (frame === Infinity) return false;
    const before = track.info.frameRate;
    track.info.frameRate = roundRate(90000 / frame);
    return track.info.frameRate !== before;
  }
}
