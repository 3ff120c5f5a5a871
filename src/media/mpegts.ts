/**
 * MPEG transport stream inspection for the publisher's child process.
 *
 * Every SRT message a publisher sends is inspected in order before it goes
 * into the shared ring: the inspector remembers the newest PAT and PMT packets
 * (sent verbatim to a viewer before anything else) and flags the messages that
 * hold a random-access point (where a joining viewer starts): a video key
 * frame, or in a program without video the start of each PES of its first
 * audio stream, since every audio frame can be decoded alone. It runs on every
 * message at up to 100 Mbit/s, so the common path reads bytes in place and
 * allocates nothing, and it never throws: a publisher can send anything.
 *
 * Layouts are those of ISO/IEC 13818-1 (packet header, adaptation field, PES
 * header, PAT and PMT sections), H.264 (nal_unit_type in the low 5 bits of the
 * NAL header) and H.265 (nal_unit_type in bits 1..6 of the first header byte).
 *
 * @module
 */

/** Size of one transport stream packet. */
export const TS_PACKET_SIZE = 188;
/** First byte of every transport stream packet. */
export const SYNC_BYTE = 0x47;

/** Bit flags describing one message. */
export const MessageFlags = { RandomAccess: 1, Pat: 2, Pmt: 4 } as const;

/** PIDs with a fixed meaning. */
export const Pid = { PAT: 0x0000, NULL: 0x1fff } as const;

/** Stream types (PMT stream_type) this module treats specially. */
export const StreamType = { H264: 0x1b, HEVC: 0x24 } as const;

/** One elementary stream listed in a PMT. */
export interface ElementaryStream {
  readonly streamType: number;
  readonly pid: number;
}

/** The program the inspector follows: the first one in the newest PAT, as its newest PMT describes it. */
export interface ProgramMap {
  readonly programNumber: number;
  readonly pmtPid: number;
  readonly pcrPid: number;
  readonly streams: readonly ElementaryStream[];
}

/** Stream types of video, whose random_access_indicator marks a key frame. */
const VIDEO_STREAM_TYPES: ReadonlySet<number> = new Set([
  0x01, // MPEG-1 video
  0x02, // MPEG-2 video
  0x10, // MPEG-4 part 2 video
  0x1b, // H.264
  0x1f, // H.264 SVC sub-bitstream
  0x20, // H.264 MVC sub-bitstream
  0x24, // HEVC
  0x33, // VVC
  0x42, // AVS
  0xd1, // Dirac
  0xea, // VC-1
]);

/**
 * Stream types of audio, every frame of which is a random-access point
 * (MPEG-1/2 audio, AAC in ADTS or LATM, MPEG-4 audio, ATSC AC-3 and E-AC-3).
 */
const AUDIO_STREAM_TYPES: ReadonlySet<number> = new Set([0x03, 0x04, 0x0f, 0x11, 0x1c, 0x81, 0x87]);

/** stream_type of PES private data, whose descriptors say what it carries. */
const STREAM_TYPE_PRIVATE_PES = 0x06;
/** Descriptors that make private data audio: DVB AC-3, enhanced AC-3 and DTS. */
const AUDIO_DESCRIPTOR_TAGS: ReadonlySet<number> = new Set([0x6a, 0x7a, 0x7b]);
const REGISTRATION_DESCRIPTOR_TAG = 0x05;
/** format_identifiers of a registration descriptor that make private data audio. */
const AUDIO_FORMAT_IDENTIFIERS: ReadonlySet<number> = new Set(
  ["AC-3", "EAC3", "Opus", "DTS1", "DTS2", "DTS3"].map((id) =>
    [...id].reduce((value, c) => (value << 8) | c.charCodeAt(0), 0) >>> 0
  ),
);

/** PAT and PMT sections are at most 1024 bytes long (section_length ≤ 1021). */
const MAX_SECTION_LENGTH = 1024;
/** A 1024-byte section fits in 7 packets; one more for padding-heavy muxers. */
const MAX_SECTION_PACKETS = 8;
/** Bytes of one access unit searched for its first slice before giving up. */
const NAL_SCAN_LIMIT = 64 * 1024;

const PID_COUNT = 0x2000;

const TABLE_ID_PAT = 0x00;
const TABLE_ID_PMT = 0x02;

/** What is known about a PID, in `TsInspector`'s per-PID table. */
const PidKind = { Other: 0, Video: 1, H264: 2, Hevc: 3, LeadAudio: 4 } as const;

const ContinuityStatus = { Ok: 0, Duplicate: 1, Gap: 2 } as const;

/** Where a `NalScanner` is in the current access unit. */
const ScanState = { Idle: 0, PesHeader: 1, SkipHeader: 2, Nal: 3 } as const;

/** MPEG-2 CRC-32 (polynomial 0x04C11DB7, no reflection, initial value all ones). */
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let bit = 0; bit < 8; bit++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    table[i] = c >>> 0;
  }
  return table;
})();

function crc32MpegRange(bytes: Uint8Array, start: number, end: number): number {
  let crc = 0xffffffff;
  for (let i = start; i < end; i++) {
    crc = (crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ bytes[i]!) & 0xff]!;
  }
  return crc >>> 0;
}

/**
 * The MPEG-2 CRC-32 that ends every PSI section. Over a whole section,
 * CRC field included, it is 0.
 */
export function crc32Mpeg(bytes: Uint8Array): number {
  return crc32MpegRange(bytes, 0, bytes.length);
}

/**
 * A 188-byte packet on `pid` carrying only an adaptation field with
 * discontinuity_indicator set (adaptation_field_control = 0b10, so the
 * continuity counter given is not incremented), which a viewer inserts
 * where it splices the stream, so players resync.
 *
 * The flag excuses this packet's own counter; the next payload packet on
 * `pid` must count on from it, so pass that packet's counter minus one.
 */
export function buildDiscontinuityPacket(pid: number, continuityCounter: number): Uint8Array {
  if (!Number.isInteger(pid) || pid < 0 || pid >= PID_COUNT) {
    throw new RangeError(`Cannot build a discontinuity packet: PID ${pid} is not in 0..8191`);
  }
  if (!Number.isInteger(continuityCounter) || continuityCounter < 0 || continuityCounter > 15) {
    throw new RangeError(
      `Cannot build a discontinuity packet: continuity counter ${continuityCounter} is not in 0..15`,
    );
  }
  const packet = new Uint8Array(TS_PACKET_SIZE).fill(0xff);
  packet[0] = SYNC_BYTE;
  packet[1] = pid >> 8;
  packet[2] = pid & 0xff;
  packet[3] = 0x20 | continuityCounter;
  packet[4] = TS_PACKET_SIZE - 5; // adaptation_field_length: the rest of the packet
  packet[5] = 0x80; // discontinuity_indicator; the rest is stuffing
  return packet;
}

/** Whether `message` is whole transport stream packets, each starting with the sync byte. */
export function isTransportStream(message: Uint8Array): boolean {
  const length = message.length;
  if (length === 0 || length % TS_PACKET_SIZE !== 0) return false;
  for (let offset = 0; offset < length; offset += TS_PACKET_SIZE) {
    if (message[offset] !== SYNC_BYTE) return false;
  }
  return true;
}

/**
 * Checks a packet's continuity counter against the previous one on its PID.
 * Packets without payload repeat the counter and are not checked.
 */
function continuity(last: number, counter: number, hasPayload: boolean, reset: boolean): number {
  if (!hasPayload || last < 0 || reset) return ContinuityStatus.Ok;
  if (counter === last) return ContinuityStatus.Duplicate;
  return counter === ((last + 1) & 0x0f) ? ContinuityStatus.Ok : ContinuityStatus.Gap;
}

/** One PSI section being put together from packets, with copies of those packets. */
class SectionAssembler {
  /** The section's bytes so far. */
  readonly section = new Uint8Array(MAX_SECTION_LENGTH);
  /** Copies of the packets that carried the section, in order. */
  readonly packets = new Uint8Array(MAX_SECTION_PACKETS * TS_PACKET_SIZE);
  packetCount = 0;
  length = 0;
  /** Header plus section_length once the first 3 bytes are in, else 0. */
  total = 0;
  collecting = false;
  lastContinuity = -1;

  reset(): void {
    this.collecting = false;
    this.length = 0;
    this.total = 0;
    this.packetCount = 0;
  }

  /** Starts a section in the packet at `packetOffset`. */
  begin(message: Uint8Array, packetOffset: number): void {
    this.reset();
    this.collecting = true;
    this.addPacket(message, packetOffset);
  }

  /** Keeps a copy of a packet that carries part of the section; false if there are too many. */
  addPacket(message: Uint8Array, packetOffset: number): boolean {
    if (this.packetCount >= MAX_SECTION_PACKETS) return false;
    for (let i = 0; i < TS_PACKET_SIZE; i++) {
      this.packets[this.packetCount * TS_PACKET_SIZE + i] = message[packetOffset + i]!;
    }
    this.packetCount++;
    return true;
  }

  /**
   * Appends bytes from `message[start..end)` up to the end of the section and
   * returns how many were taken. Stops collecting if the section is too long.
   */
  append(message: Uint8Array, start: number, end: number): number {
    let p = start;
    while (p < end && (this.total === 0 || this.length < this.total)) {
      this.section[this.length++] = message[p++]!;
      if (this.total === 0 && this.length === 3) {
        const total = 3 + (((this.section[1]! & 0x0f) << 8) | this.section[2]!);
        if (total > MAX_SECTION_LENGTH) {
          this.reset();
          return p - start;
        }
        this.total = total;
      }
    }
    return p - start;
  }

  get complete(): boolean {
    return this.collecting && this.total !== 0 && this.length === this.total;
  }
}

/** Per-PID search for the first slice of each access unit of H.264 or HEVC video. */
class NalScanner {
  state: number = ScanState.Idle;
  /** PES header bytes read so far (the fixed 9). */
  headerRead = 0;
  /** PES header data still to skip. */
  skip = 0;
  /** Consecutive zero bytes just seen, for start codes split anywhere. */
  zeros = 0;
  /** Whether the next byte is a NAL header. */
  atNalHeader = false;
  scanned = 0;
  /** The inspected message in which the current access unit started. */
  startMessage = 0;
  lastContinuity = -1;

  constructor(readonly hevc: boolean) {}

  /** A PES starts in this packet: a new access unit. */
  begin(messageIndex: number): void {
    this.state = ScanState.PesHeader;
    this.headerRead = 0;
    this.skip = 0;
    this.zeros = 0;
    this.atNalHeader = false;
    this.scanned = 0;
    this.startMessage = messageIndex;
  }

  /** Scans `message[start..end)`; true if the access unit's first slice makes it a random-access point. */
  feed(message: Uint8Array, start: number, end: number): boolean {
    let p = start;
    while (p < end) {
      switch (this.state) {
        case ScanState.Idle:
          return false;
        case ScanState.PesHeader: {
          const b = message[p++]!;
          const i = this.headerRead++;
          // packet_start_code_prefix, a stream_id with the optional header, its '10' marker.
          if (
            (i < 2 && b !== 0) || (i === 2 && b !== 1) ||
            (i === 3 && !hasPesHeaderExtension(b)) || (i === 6 && (b & 0xc0) !== 0x80)
          ) {
            this.state = ScanState.Idle;
          } else if (i === 8) {
            this.skip = b;
            this.state = b === 0 ? ScanState.Nal : ScanState.SkipHeader;
          }
          break;
        }
        case ScanState.SkipHeader: {
          const n = Math.min(this.skip, end - p);
          p += n;
          this.skip -= n;
          if (this.skip === 0) this.state = ScanState.Nal;
          break;
        }
        default: {
          const stop = Math.min(end, p + NAL_SCAN_LIMIT - this.scanned);
          const first = p;
          let zeros = this.zeros;
          let atNalHeader = this.atNalHeader;
          for (; p < stop; p++) {
            const b = message[p]!;
            if (atNalHeader) {
              atNalHeader = false;
              zeros = b === 0 ? 1 : 0;
              const verdict = this.hevc ? hevcVerdict(b) : h264Verdict(b);
              if (verdict !== 0) {
                this.state = ScanState.Idle;
                return verdict === 2;
              }
            } else if (b === 0) {
              zeros++;
            } else {
              if (b === 1 && zeros >= 2) atNalHeader = true;
              zeros = 0;
            }
          }
          this.zeros = zeros;
          this.atNalHeader = atNalHeader;
          this.scanned += p - first;
          if (this.scanned >= NAL_SCAN_LIMIT) this.state = ScanState.Idle;
          return false;
        }
      }
    }
    return false;
  }
}

/** stream_ids whose PES packets have the optional header (13818-1 table 2-21). */
function hasPesHeaderExtension(streamId: number): boolean {
  return streamId !== 0xbc && streamId !== 0xbe && streamId !== 0xbf && streamId !== 0xf0 &&
    streamId !== 0xf1 && streamId !== 0xf2 && streamId !== 0xf8 && streamId !== 0xff;
}

/** 0: not a slice, keep looking; 1: a slice that is no random-access point; 2: an IDR slice. */
function h264Verdict(header: number): number {
  if (header & 0x80) return 0; // forbidden_zero_bit: not a NAL header
  const type = header & 0x1f;
  if (type === 5) return 2;
  return type >= 1 && type <= 4 ? 1 : 0;
}

/** As `h264Verdict`, for HEVC: VCL types are 0..31, BLA/IDR/CRA are 16..21. */
function hevcVerdict(header: number): number {
  if (header & 0x80) return 0;
  const type = (header >> 1) & 0x3f;
  if (type >= 16 && type <= 21) return 2;
  return type <= 31 ? 1 : 0;
}

/**
 * Follows one transport stream message by message: its program tables and
 * its random-access points.
 */
export class TsInspector {
  readonly #pat = new SectionAssembler();
  readonly #pmt = new SectionAssembler();
  /** `PidKind` of every PID, from the newest PMT. */
  readonly #pidKind = new Uint8Array(PID_COUNT);
  /** 1 while the access unit now arriving on a PID has been counted as a random-access point. */
  readonly #counted = new Uint8Array(PID_COUNT);
  #scanners = new Map<number, NalScanner>();

  #programNumber = -1;
  #pmtPid = -1;
  #program: ProgramMap | undefined;
  #leadPid: number | undefined;
  #patPackets: Uint8Array | undefined;
  #pmtPackets: Uint8Array | undefined;
  #programInfoVersion = 0;
  #randomAccessPoints = 0;
  #randomAccessLag = 0;
  #messageIndex = 0;

  /**
   * Inspects one SRT message (n × 188 bytes) in order; returns MessageFlags bits. Never throws, whatever the bytes.
   *
   * RandomAccess is set once per key frame, on the first message that shows
   * it: a random_access_indicator, or else the key frame's first slice, which
   * may come a few messages after its PES started (see `randomAccessLag`).
   * A message that is not whole packets with sync bytes is ignored.
   */
  inspect(message: Uint8Array): number {
    const index = this.#messageIndex++;
    if (!isTransportStream(message)) return 0;
    let flags = 0;
    for (let o = 0; o < message.length; o += TS_PACKET_SIZE) {
      flags |= this.#inspectPacket(message, o, index);
    }
    return flags;
  }

  /** The newest complete PAT packet followed by the newest complete PMT packet(s) (188 × k bytes), or undefined until both were seen. A copy, not a view. */
  programInfo(): Uint8Array | undefined {
    const pat = this.#patPackets;
    const pmt = this.#pmtPackets;
    if (pat === undefined || pmt === undefined) return undefined;
    const info = new Uint8Array(pat.length + pmt.length);
    info.set(pat);
    info.set(pmt, pat.length);
    return info;
  }

  /**
   * Increments whenever programInfo() would return different bytes. 0 before any.
   *
   * The packets are kept as received, continuity counter included, so a
   * muxer that repeats an unchanged PAT bumps this on every repetition.
   */
  get programInfoVersion(): number {
    return this.#programInfoVersion;
  }

  /** Number of random-access points seen so far. */
  get randomAccessPoints(): number {
    return this.#randomAccessPoints;
  }

  /**
   * How many messages before the one it was flagged on the newest
   * random-access point's access unit started: 0 when its PES header is in
   * the flagged message; more when the key frame was recognised by its slice,
   * which came in a later message than the start of its PES.
   */
  get randomAccessLag(): number {
    return this.#randomAccessLag;
  }

  /** The program described by the newest PAT and PMT, or undefined until both were seen. */
  get program(): ProgramMap | undefined {
    return this.#program;
  }

  /**
   * The PID that paces the program: its first video stream, or in a program
   * without video its first audio stream (each of whose PES starts is a
   * random-access point). Undefined until a PMT was seen, and for a program
   * with neither.
   */
  get leadPid(): number | undefined {
    return this.#leadPid;
  }

  #inspectPacket(m: Uint8Array, o: number, messageIndex: number): number {
    const b1 = m[o + 1]!;
    if (b1 & 0x80) return 0; // transport_error_indicator: the demodulator says it is damaged
    const pid = ((b1 & 0x1f) << 8) | m[o + 2]!;
    if (pid === Pid.NULL) return 0;
    const b3 = m[o + 3]!;
    const adaptation = b3 & 0x20;
    const end = o + TS_PACKET_SIZE;
    let payload = o + 4;
    let randomAccess = false;
    let discontinuity = false;
    if (adaptation) {
      const adaptationLength = m[o + 4]!;
      if (adaptationLength > TS_PACKET_SIZE - 5) return 0;
      if (adaptationLength > 0) {
        const adaptationFlags = m[o + 5]!;
        discontinuity = (adaptationFlags & 0x80) !== 0;
        randomAccess = (adaptationFlags & 0x40) !== 0;
      }
      payload += 1 + adaptationLength;
    }
    const hasPayload = (b3 & 0x10) !== 0 && payload < end;
    const unitStart = (b1 & 0x40) !== 0 && hasPayload;
    const counter = b3 & 0x0f;

    if (pid === Pid.PAT || pid === this.#pmtPid) {
      const assembler = pid === Pid.PAT ? this.#pat : this.#pmt;
      const status = continuity(assembler.lastContinuity, counter, hasPayload, discontinuity);
      if (hasPayload) assembler.lastContinuity = counter;
      else if (discontinuity) assembler.lastContinuity = -1;
      if (status === ContinuityStatus.Gap) assembler.reset();
      if (status === ContinuityStatus.Duplicate || !hasPayload) return 0;
      return this.#feedSection(assembler, m, o, payload, unitStart);
    }

    const kind = this.#pidKind[pid]!;
    let flags = 0;
    if (unitStart) this.#counted[pid] = 0;
    if (randomAccess && (kind !== PidKind.Other || this.#program === undefined)) {
      flags |= this.#randomAccessPoint(pid, 0);
    }
    // Without video, every audio frame is a point to start at: each PES of
    // the program's first audio stream starts with one.
    if (kind === PidKind.LeadAudio && unitStart) flags |= this.#randomAccessPoint(pid, 0);
    if (kind === PidKind.H264 || kind === PidKind.Hevc) {
      const scanner = this.#scanners.get(pid);
      if (scanner === undefined) return flags;
      const status = continuity(scanner.lastContinuity, counter, hasPayload, discontinuity);
      if (hasPayload) scanner.lastContinuity = counter;
      else if (discontinuity) scanner.lastContinuity = -1;
      if (status === ContinuityStatus.Gap) scanner.state = ScanState.Idle;
      if (status === ContinuityStatus.Duplicate || !hasPayload) return flags;
      if (unitStart) scanner.begin(messageIndex);
      if (scanner.state !== ScanState.Idle && scanner.feed(m, payload, end)) {
        flags |= this.#randomAccessPoint(pid, messageIndex - scanner.startMessage);
      }
    }
    return flags;
  }

  /** Counts an access unit's random-access point once, and flags only the first message that shows it. */
  #randomAccessPoint(pid: number, lag: number): number {
    if (this.#counted[pid] !== 0) return 0;
    this.#counted[pid] = 1;
    this.#randomAccessPoints++;
    this.#randomAccessLag = lag;
    return MessageFlags.RandomAccess;
  }

  /** Feeds one packet's payload (from `p`) to a section assembler; returns flags for sections it completes. */
  #feedSection(
    assembler: SectionAssembler,
    m: Uint8Array,
    o: number,
    p: number,
    unitStart: boolean,
  ): number {
    const end = o + TS_PACKET_SIZE;
    let flags = 0;
    if (!unitStart) {
      if (!assembler.collecting) return 0;
      if (!assembler.addPacket(m, o)) {
        assembler.reset();
        return 0;
      }
      assembler.append(m, p, end);
      if (assembler.complete) flags |= this.#sectionComplete(assembler);
      return flags;
    }

    const pointer = m[p++]!;
    if (p + pointer > end) {
      assembler.reset();
      return 0;
    }
    if (assembler.collecting) {
      // The bytes before the pointer end the section begun in earlier packets.
      if (assembler.addPacket(m, o)) {
        assembler.append(m, p, p + pointer);
        if (assembler.complete) flags |= this.#sectionComplete(assembler);
      }
      assembler.reset();
    }
    p += pointer;
    // Further sections may follow one another in the packet until stuffing (0xff).
    while (p < end && m[p] !== 0xff) {
      assembler.begin(m, o);
      p += assembler.append(m, p, end);
      if (!assembler.complete) break;
      flags |= this.#sectionComplete(assembler);
      assembler.reset();
    }
    return flags;
  }

  #sectionComplete(assembler: SectionAssembler): number {
    const section = assembler.section;
    const total = assembler.total;
    assembler.collecting = false;
    // section_syntax_indicator, section_number 0 of 0 (PMTs have one section, and
    // the program we follow is the first of the PAT), current_next_indicator, CRC.
    if (total < 12 || (section[1]! & 0x80) === 0) return 0;
    if ((section[5]! & 0x01) === 0 || section[6] !== 0 || section[7] !== 0) return 0;
    if (crc32MpegRange(section, 0, total) !== 0) return 0;
    return assembler === this.#pat ? this.#onPat(assembler) : this.#onPmt(assembler);
  }

  #onPat({ section, total, packets, packetCount }: SectionAssembler): number {
    if (section[0] !== TABLE_ID_PAT) return 0;
    let programNumber = -1;
    let pmtPid = -1;
    for (let p = 8; p + 4 <= total - 4; p += 4) {
      const number = (section[p]! << 8) | section[p + 1]!;
      if (number === 0) continue; // the network PID
      programNumber = number;
      pmtPid = ((section[p + 2]! & 0x1f) << 8) | section[p + 3]!;
      break;
    }
    if (pmtPid <= Pid.PAT || pmtPid >= Pid.NULL) return 0;

    const before = this.programInfo();
    this.#patPackets = packets.slice(0, packetCount * TS_PACKET_SIZE);
    if (programNumber !== this.#programNumber || pmtPid !== this.#pmtPid) {
      // Another program: its PMT is still to come.
      this.#programNumber = programNumber;
      this.#pmtPid = pmtPid;
      this.#pmt.reset();
      this.#pmt.lastContinuity = -1;
      this.#pmtPackets = undefined;
      this.#setProgram(undefined);
    }
    this.#noteProgramInfo(before);
    return MessageFlags.Pat;
  }

  #onPmt({ section, total, packets, packetCount }: SectionAssembler): number {
    if (section[0] !== TABLE_ID_PMT) return 0;
    const programNumber = (section[3]! << 8) | section[4]!;
    if (programNumber !== this.#programNumber) return 0;
    const pcrPid = ((section[8]! & 0x1f) << 8) | section[9]!;
    const streamsEnd = total - 4;
    let p = 12 + (((section[10]! & 0x0f) << 8) | section[11]!);
    const streams: ElementaryStream[] = [];
    let leadAudio = -1;
    while (p + 5 <= streamsEnd) {
      const streamType = section[p]!;
      const pid = ((section[p + 1]! & 0x1f) << 8) | section[p + 2]!;
      const descriptors = p + 5;
      p = descriptors + (((section[p + 3]! & 0x0f) << 8) | section[p + 4]!);
      if (p > streamsEnd) return 0;
      if (leadAudio < 0 && isAudio(streamType, section, descriptors, p)) leadAudio = pid;
      streams.push({ streamType, pid });
    }
    if (p !== streamsEnd) return 0;

    const before = this.programInfo();
    this.#pmtPackets = packets.slice(0, packetCount * TS_PACKET_SIZE);
    this.#setProgram({ programNumber, pmtPid: this.#pmtPid, pcrPid, streams }, leadAudio);
    this.#noteProgramInfo(before);
    return MessageFlags.Pmt;
  }

  #noteProgramInfo(before: Uint8Array | undefined): void {
    const after = this.programInfo();
    if (!sameBytes(before, after)) this.#programInfoVersion++;
  }

  /**
   * Rebuilds the per-PID table; scanners of streams that stay are kept.
   * `leadAudio`: the PID of the program's first audio stream, or -1; its PES
   * starts are random-access points when the program has no video.
   */
  #setProgram(program: ProgramMap | undefined, leadAudio = -1): void {
    const old = this.#program;
    this.#program = program;
    if (old !== undefined) {
      for (const { pid } of old.streams) {
        this.#pidKind[pid] = PidKind.Other;
      }
    }
    const streams = program?.streams ?? [];
    this.#leadPid = undefined;
    if (leadAudio >= 0 && !streams.some(({ streamType }) => VIDEO_STREAM_TYPES.has(streamType))) {
      if (leadAudio !== Pid.PAT && leadAudio !== Pid.NULL && leadAudio !== this.#pmtPid) {
        this.#pidKind[leadAudio] = PidKind.LeadAudio;
        this.#leadPid = leadAudio;
      }
    }
    const scanners = new Map<number, NalScanner>();
    for (const { streamType, pid } of program?.streams ?? []) {
      if (pid === Pid.PAT || pid === Pid.NULL || pid === this.#pmtPid) continue;
      if (!VIDEO_STREAM_TYPES.has(streamType)) continue;
      const hevc = streamType === StreamType.HEVC;
      if (streamType === StreamType.H264 || hevc) {
        this.#pidKind[pid] = hevc ? PidKind.Hevc : PidKind.H264;
        const kept = this.#scanners.get(pid);
        scanners.set(pid, kept !== undefined && kept.hevc === hevc ? kept : new NalScanner(hevc));
      } else {
        this.#pidKind[pid] = PidKind.Video;
      }
      this.#leadPid ??= pid;
    }
    this.#scanners = scanners;
  }
}

/**
 * Whether a PMT entry is audio: by its stream type, or for private data by
 * its descriptors in `section[start..end)`.
 */
function isAudio(streamType: number, section: Uint8Array, start: number, end: number): boolean {
  if (AUDIO_STREAM_TYPES.has(streamType)) return true;
  if (streamType !== STREAM_TYPE_PRIVATE_PES) return false;
  for (let p = start; p + 2 <= end; p += 2 + section[p + 1]!) {
    const tag = section[p]!;
    if (AUDIO_DESCRIPTOR_TAGS.has(tag)) return true;
    if (tag === REGISTRATION_DESCRIPTOR_TAG && section[p + 1]! >= 4 && p + 6 <= end) {
      const id = ((section[p + 2]! << 24) | (section[p + 3]! << 16) | (section[p + 4]! << 8) |
        section[p + 5]!) >>> 0;
      if (AUDIO_FORMAT_IDENTIFIERS.has(id)) return true;
    }
  }
  return false;
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
