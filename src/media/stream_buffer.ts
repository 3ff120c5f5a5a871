/**
 * One live stream's messages in shared memory: a single publisher process
 * writes each SRT message once into a ring of fixed-size slots, and every
 * viewer process reads them from there, at its own pace, without ever
 * slowing the publisher down (readers only read the memory).
 *
 * Pure logic over an `ArrayBuffer`: the main process creates the memory
 * (`ffi/shm.ts`), lays it out with {@link initializeStreamBuffer} and hands
 * the fd to children, which map it and attach a {@link StreamWriter} or a
 * {@link StreamReader}. Time is passed in. Sleeping and waking go through the
 * futex word at {@link WAKE_WORD_OFFSET}, which the caller drives:
 *
 * ```ts
 * // publisher, per message (or per batch)
 * writer.write(message, flags, nowUs);
 * futexWake(mapping, WAKE_WORD_OFFSET);
 * // viewer
 * const seen = reader.wakeValue; // before read(): a later commit changes it
 * const result = reader.read(into);
 * if (result.kind === "none") {
 *   await futexWait(mapping, WAKE_WORD_OFFSET, { expected: seen, timeoutMs: 100 });
 * }
 * ```
 *
 * ## Layout (layout version 1)
 *
 * Native byte order, which is little-endian on every platform Atoll runs on.
 * Words marked *atomic* are only accessed with `Atomics`; the rest are plain
 * stores, published by the atomic store that follows them.
 *
 * Header ({@link HEADER_BYTES} bytes):
 *
 * | offset | size | field | |
 * |---:|---:|---|---|
 * | 0 | 4 | magic `0x42535441` ("ATSB") | written last by `initialize` |
 * | 4 | 4 | layout version (1) | |
 * | 8 | 4 | slot count (a power of two) | |
 * | 12 | 4 | slot size in bytes (slot header + payload, 8-aligned) | |
 * | 16 | 4 | slot payload capacity | |
 * | 20 | 4 | header size (2048) | |
 * | 24 | 4 | writer generation: +1 per attached writer | atomic |
 * | 28 | 4 | wake word: +1 after each commit; the futex word | atomic |
 * | 32 | 4 | write count: messages committed, mod 2^32 | atomic |
 * | 36 | 4 | number of the newest random-access message | atomic |
 * | 40 | 4 | program info sequence: odd while being written | atomic |
 * | 44 | 4 | program info length | |
 * | 48 | 8 | bytes in (all writers) | atomic, 64-bit |
 * | 56 | 8 | messages in (all writers; never wraps) | atomic, 64-bit |
 * | 64 | 8 | random access points in; 0 means offset 36 is meaningless | atomic, 64-bit |
 * | 72 | 8 | bytes discarded (all writers): received, but not whole MPEG-TS packets | atomic, 64-bit |
 * | 80 | 4 | parameter sets sequence: odd while being written | atomic |
 * | 84 | 4 | parameter sets length; 0 for none | |
 * | 88 | 4 | parameter sets PID | |
 * | 92 | 4 | parameter sets codec (`VideoCodec`: 1 H.264, 2 HEVC) | |
 * | 96 | 32 | reserved (zero) | |
 * | 128 | 1504 | program info: up to 8 TS packets (PAT, PMT) | |
 * | 1632 | 416 | parameter sets of the video stream (Annex B, 4-byte start codes) | |
 *
 * The parameter-set fields took reserved bytes that `initialize` zeroes, and
 * zero length means none, so the layout version stayed 1.
 *
 * Slot `i` starts at `2048 + i × slot size`:
 *
 * | offset | size | field | |
 * |---:|---:|---|---|
 * | 0 | 4 | sequence: `number × 2` once committed, `number × 2 + 1` while written (mod 2^32) | atomic |
 * | 4 | 4 | payload length | |
 * | 8 | 4 | {@link MessageFlags} | |
 * | 12 | 4 | writer generation that wrote it | |
 * | 16 | 8 | receive time, µs of the writer's monotonic clock (f64) | |
 * | 24 | … | payload | |
 *
 * ## Message numbers and the 32-bit wrap
 *
 * Message numbers are 32-bit and wrap (after ~5 days at 10 000 messages/s).
 * Message `n` lives in slot `n & (slots - 1)`; a power-of-two slot count keeps
 * that mapping continuous across the wrap. Distances are computed modulo 2^32
 * (`(a - b) >>> 0`), which is exact as long as a reader is fewer than 2^31
 * messages behind. The slot sequence keeps the low 31 bits of the number: a
 * reader would mistake one message for another only if 2^31 messages were
 * written while it copied one payload.
 *
 * ## Why nothing torn is ever delivered
 *
 * Each slot is a sequence lock. The writer stores the odd sequence, writes
 * the payload with plain stores, stores the even sequence, then the write
 * count. A reader reads message `n` only when the write count is past it,
 * checks that the slot holds `n`'s even sequence, copies, and checks the
 * sequence again: if the writer came round meanwhile, the copy is dropped and
 * the reader counts itself lapped. A writer killed mid-write leaves its slot
 * odd and the write count short of it, so no reader ever reads that slot; the
 * next writer starts at the same number and overwrites it.
 *
 * One writer at a time: the main process must make sure a stale publisher is
 * gone before attaching a new one. A writer notices it was superseded (the
 * generation moved) on its next write and throws, as a backstop.
 *
 * @module
 */

/** Bits of a message's flags. */
export const MessageFlags = {
  /** The message starts a point where decoding can begin (a keyframe). */
  RandomAccess: 1,
  /** The message carries a PAT. */
  Pat: 2,
  /** The message carries a PMT. */
  Pmt: 4,
  /** The first message of a newly attached writer; set by {@link StreamWriter}. */
  Discontinuity: 8,
} as const;

/** `"RandomAccess|Pat"`-style text for logs; `"none"` for 0. */
export function describeMessageFlags(flags: number): string {
  const names = Object.entries(MessageFlags)
    .filter(([, bit]) => (flags & bit) !== 0)
    .map(([name]) => name);
  const unknown = (flags >>> 0) & ~Object.values(MessageFlags).reduce((all, bit) => all | bit, 0);
  if (unknown !== 0) names.push(`0x${(unknown >>> 0).toString(16)}`);
  return names.length === 0 ? "none" : names.join("|");
}

export const STREAM_BUFFER_MAGIC = 0x42535441;
export const STREAM_BUFFER_VERSION = 1;
export const HEADER_BYTES = 2048;
export const SLOT_HEADER_BYTES = 24;
/** 8 MPEG-TS packets: room for a PAT and its PMTs. */
export const PROGRAM_INFO_CAPACITY = 8 * 188;
/** Bytes of parameter sets (SPS, PPS, VPS) the header holds. */
export const PARAMETER_SETS_CAPACITY = 416;
/** An SRT message is at most 1500 bytes (usually 1316: 7 TS packets). */
export const DEFAULT_SLOT_PAYLOAD = 1500;
export const MIN_SLOTS = 2;
export const MAX_SLOTS = 1 << 20;
export const MAX_SLOT_PAYLOAD = 65536;
/** The payload {@link StreamBuffer.layoutForDuration} assumes every message carries. */
export const TYPICAL_MESSAGE_BYTES = 1316;

/** Byte offsets of the header fields (see the module doc). */
export const HeaderOffset = {
  magic: 0,
  version: 4,
  slotCount: 8,
  slotSize: 12,
  slotPayload: 16,
  headerBytes: 20,
  writerGeneration: 24,
  wakeWord: 28,
  writeCount: 32,
  newestRandomAccess: 36,
  programInfoSequence: 40,
  programInfoLength: 44,
  bytesIn: 48,
  messagesIn: 56,
  randomAccessPoints: 64,
  bytesDiscarded: 72,
  parameterSetsSequence: 80,
  parameterSetsLength: 84,
  parameterSetsPid: 88,
  parameterSetsCodec: 92,
  programInfo: 128,
  parameterSets: 1632,
} as const;

/** Byte offsets inside a slot (see the module doc). */
export const SlotOffset = {
  sequence: 0,
  length: 4,
  flags: 8,
  generation: 12,
  timeUs: 16,
  payload: 24,
} as const;

/** The futex word readers sleep on: bumped after every commit. */
export const WAKE_WORD_OFFSET = HeaderOffset.wakeWord;

// Indexes into the Int32Array / BigInt64Array views.
const I32 = {
  magic: HeaderOffset.magic >> 2,
  version: HeaderOffset.version >> 2,
  slotCount: HeaderOffset.slotCount >> 2,
  slotSize: HeaderOffset.slotSize >> 2,
  slotPayload: HeaderOffset.slotPayload >> 2,
  headerBytes: HeaderOffset.headerBytes >> 2,
  writerGeneration: HeaderOffset.writerGeneration >> 2,
  wakeWord: HeaderOffset.wakeWord >> 2,
  writeCount: HeaderOffset.writeCount >> 2,
  newestRandomAccess: HeaderOffset.newestRandomAccess >> 2,
  programInfoSequence: HeaderOffset.programInfoSequence >> 2,
  programInfoLength: HeaderOffset.programInfoLength >> 2,
  parameterSetsSequence: HeaderOffset.parameterSetsSequence >> 2,
  parameterSetsLength: HeaderOffset.parameterSetsLength >> 2,
  parameterSetsPid: HeaderOffset.parameterSetsPid >> 2,
  parameterSetsCodec: HeaderOffset.parameterSetsCodec >> 2,
} as const;
const I64 = {
  bytesIn: HeaderOffset.bytesIn >> 3,
  messagesIn: HeaderOffset.messagesIn >> 3,
  randomAccessPoints: HeaderOffset.randomAccessPoints >> 3,
  bytesDiscarded: HeaderOffset.bytesDiscarded >> 3,
} as const;

/** Sequence word of slot holding message `number` while it is being written. */
function writingSequence(number: number): number {
  return (number << 1) | 1;
}

/** Sequence word of slot holding message `number` once committed. */
function committedSequence(number: number): number {
  return number << 1;
}

/** How far `later` is ahead of `earlier`, modulo 2^32. */
function distance(later: number, earlier: number): number {
  return (later - earlier) >>> 0;
}

/** The sizes of a stream buffer. */
export interface StreamBufferLayout {
  /** Number of slots: a power of two. */
  readonly slots: number;
  /** Largest message a slot holds. */
  readonly slotPayload: number;
  /** Bytes per slot, header included. */
  readonly slotSize: number;
  /** Bytes of the whole buffer: the size of the memory to create. */
  readonly bytes: number;
}

export interface LayoutOptions {
  /** A power of two from {@link MIN_SLOTS} to {@link MAX_SLOTS}. */
  slots: number;
  /** Defaults to {@link DEFAULT_SLOT_PAYLOAD}. */
  slotPayload?: number;
}

function layout(options: LayoutOptions): StreamBufferLayout {
  const { slots, slotPayload = DEFAULT_SLOT_PAYLOAD } = options;
  if (!Number.isInteger(slots) || slots < MIN_SLOTS || slots > MAX_SLOTS || (slots & (slots - 1))) {
    throw new RangeError(
      `Cannot lay out stream buffer: slots must be a power of two from ${MIN_SLOTS} to ${MAX_SLOTS}, got ${slots}`,
    );
  }
  if (!Number.isInteger(slotPayload) || slotPayload < 1 || slotPayload > MAX_SLOT_PAYLOAD) {
    throw new RangeError(
      `Cannot lay out stream buffer: slot payload must be from 1 to ${MAX_SLOT_PAYLOAD} bytes, got ${slotPayload}`,
    );
  }
  const slotSize = SLOT_HEADER_BYTES + Math.ceil(slotPayload / 8) * 8;
  return Object.freeze({ slots, slotPayload, slotSize, bytes: HEADER_BYTES + slots * slotSize });
}

/**
 * A layout that holds at least `seconds` of a stream of at most
 * `maxBitrateBps` (bits per second of MPEG-TS, as SRT carries it), assuming
 * every message carries {@link TYPICAL_MESSAGE_BYTES}: a sender that sends
 * smaller messages fills the ring sooner, so it then holds proportionally
 * less time. Slots round up to a power of two (at least 16).
 */
function layoutForDuration(seconds: number, maxBitrateBps: number): StreamBufferLayout {
  if (!(seconds > 0) || !(maxBitrateBps > 0) || !Number.isFinite(seconds * maxBitrateBps)) {
    throw new RangeError(
      `Cannot size stream buffer for ${seconds} s at ${maxBitrateBps} bit/s: both must be positive`,
    );
  }
  const messages = Math.ceil((seconds * maxBitrateBps) / 8 / TYPICAL_MESSAGE_BYTES);
  const slots = 2 ** Math.ceil(Math.log2(Math.max(16, messages)));
  if (slots > MAX_SLOTS) {
    throw new RangeError(
      `Cannot size stream buffer for ${seconds} s at ${maxBitrateBps} bit/s: needs ${slots} slots, at most ${MAX_SLOTS}`,
    );
  }
  return layout({ slots });
}

/** The bytes of memory {@link layoutForDuration} needs. */
export function bytesForDuration(seconds: number, maxBitrateBps: number): number {
  return layoutForDuration(seconds, maxBitrateBps).bytes;
}

/**
 * The layout with the most slots (a power of two) of `slotPayload` bytes
 * that fits in `bytes`: for memory sized in bytes rather than seconds.
 */
function layoutForBytes(bytes: number, slotPayload = DEFAULT_SLOT_PAYLOAD): StreamBufferLayout {
  const slotSize = layout({ slots: MIN_SLOTS, slotPayload }).slotSize;
  const fitting = Math.floor((bytes - HEADER_BYTES) / slotSize);
  if (!(fitting >= MIN_SLOTS)) {
    throw new RangeError(
      `Cannot lay out stream buffer in ${bytes} bytes: ${MIN_SLOTS} slots of ${slotPayload} bytes need ${
        HEADER_BYTES + MIN_SLOTS * slotSize
      }`,
    );
  }
  return layout({ slots: Math.min(MAX_SLOTS, 2 ** Math.floor(Math.log2(fitting))), slotPayload });
}

/** Typed views over one buffer, and the layout its header describes. */
class Views {
  readonly int32: Int32Array;
  readonly int64: BigInt64Array;
  readonly float64: Float64Array;
  readonly bytes: Uint8Array;
  readonly layout: StreamBufferLayout;
  readonly mask: number;

  constructor(buffer: ArrayBuffer, layout: StreamBufferLayout) {
    this.int32 = new Int32Array(buffer, 0, layout.bytes >> 2);
    this.int64 = new BigInt64Array(buffer, 0, layout.bytes >> 3);
    this.float64 = new Float64Array(buffer, 0, layout.bytes >> 3);
    this.bytes = new Uint8Array(buffer, 0, layout.bytes);
    this.layout = layout;
    this.mask = layout.slots - 1;
  }

  /** Byte offset of the slot holding message `number`. */
  slotOffset(number: number): number {
    return HEADER_BYTES + (number & this.mask) * this.layout.slotSize;
  }
}

function same(a: StreamBufferLayout, b: StreamBufferLayout): boolean {
  return a.slots === b.slots && a.slotPayload === b.slotPayload && a.slotSize === b.slotSize;
}

function describe(layout: StreamBufferLayout): string {
  return `${layout.slots} slots of ${layout.slotPayload} bytes`;
}

/**
 * Validates the header of `buffer` and returns views over it. Throws a
 * TypeError naming the mismatch.
 */
function attachViews(buffer: ArrayBuffer, expected: StreamBufferLayout | undefined): Views {
  const fail = (why: string) => new TypeError(`Cannot attach to stream buffer: ${why}`);
  if (buffer.byteLength < HEADER_BYTES) {
    throw fail(`${buffer.byteLength} bytes is smaller than the ${HEADER_BYTES}-byte header`);
  }
  const header = new Int32Array(buffer, 0, HEADER_BYTES >> 2);
  const magic = Atomics.load(header, I32.magic) >>> 0;
  if (magic !== STREAM_BUFFER_MAGIC) {
    throw fail(
      `magic 0x${magic.toString(16).padStart(8, "0")} is not 0x${
        STREAM_BUFFER_MAGIC.toString(16)
      } (not initialized?)`,
    );
  }
  const version = header[I32.version]! >>> 0;
  if (version !== STREAM_BUFFER_VERSION) {
    throw fail(`layout version ${version} is not ${STREAM_BUFFER_VERSION}`);
  }
  let described: StreamBufferLayout;
  try {
    described = layout({ slots: header[I32.slotCount]!, slotPayload: header[I32.slotPayload]! });
  } catch (error) {
    throw fail(`corrupt header: ${(error as Error).message}`);
  }
  if (header[I32.slotSize] !== described.slotSize || header[I32.headerBytes] !== HEADER_BYTES) {
    throw fail(
      `corrupt header: slot size ${header[I32.slotSize]} and header size ${
        header[I32.headerBytes]
      } do not match ${describe(described)}`,
    );
  }
  if (expected !== undefined && !same(expected, described)) {
    throw fail(`it holds ${describe(described)}, expected ${describe(expected)}`);
  }
  if (buffer.byteLength < described.bytes) {
    throw fail(
      `${buffer.byteLength} bytes is smaller than the ${described.bytes} bytes its header describes`,
    );
  }
  return new Views(buffer, described);
}

/**
 * Lays out `buffer` as an empty stream buffer (main process, once, before any
 * child attaches), by default with as many slots as fit. Only the header is
 * written; slot contents from an earlier use are harmless, since readers
 * only read messages committed since.
 */
export function initializeStreamBuffer(
  buffer: ArrayBuffer,
  bufferLayout: StreamBufferLayout = layoutForBytes(buffer.byteLength),
): StreamBufferLayout {
  const checked = layout(bufferLayout);
  if (!same(checked, bufferLayout)) {
    throw new TypeError(`Cannot initialize stream buffer: inconsistent layout`);
  }
  if (buffer.byteLength < checked.bytes) {
    throw new RangeError(
      `Cannot initialize stream buffer: ${buffer.byteLength} bytes is smaller than ${checked.bytes} for ${
        describe(checked)
      }`,
    );
  }
  const header = new Int32Array(buffer, 0, HEADER_BYTES >> 2);
  Atomics.store(header, I32.magic, 0);
  new Uint8Array(buffer, 4, HEADER_BYTES - 4).fill(0);
  header[I32.version] = STREAM_BUFFER_VERSION;
  header[I32.slotCount] = checked.slots;
  header[I32.slotSize] = checked.slotSize;
  header[I32.slotPayload] = checked.slotPayload;
  header[I32.headerBytes] = HEADER_BYTES;
  Atomics.store(header, I32.magic, STREAM_BUFFER_MAGIC | 0);
  return checked;
}

/**
 * Counters of a stream buffer, for stats. A writer killed in the middle of a
 * commit may leave the 64-bit counters one message short of `writeCount`.
 */
export interface StreamBufferCounters {
  /** Writers attached so far. */
  generation: number;
  /** Messages committed, mod 2^32: the number of the next message. */
  writeCount: number;
  /** Number of the newest random-access message, if any was written. */
  newestRandomAccess: number | undefined;
  bytesIn: number;
  messagesIn: number;
  randomAccessPoints: number;
  /** Bytes publishers sent that were not whole MPEG-TS packets, discarded. */
  bytesDiscarded: number;
}

/** Reads the counters of an initialized stream buffer (throws a TypeError otherwise). */
export function readBufferCounters(buffer: ArrayBuffer): StreamBufferCounters {
  const { int32, int64 } = attachViews(buffer, undefined);
  const randomAccessPoints = Number(Atomics.load(int64, I64.randomAccessPoints));
  return {
    generation: Atomics.load(int32, I32.writerGeneration) >>> 0,
    writeCount: Atomics.load(int32, I32.writeCount) >>> 0,
    newestRandomAccess: randomAccessPoints === 0
      ? undefined
      : Atomics.load(int32, I32.newestRandomAccess) >>> 0,
    bytesIn: Number(Atomics.load(int64, I64.bytesIn)),
    messagesIn: Number(Atomics.load(int64, I64.messagesIn)),
    randomAccessPoints,
    bytesDiscarded: Number(Atomics.load(int64, I64.bytesDiscarded)),
  };
}

/**
 * Sizing, initializing and inspecting a stream buffer (main process); the
 * functions also exported on their own are the same ones.
 */
export const StreamBuffer = Object.freeze({
  layout,
  layoutForDuration,
  layoutForBytes,
  bytesForDuration,
  initialize: initializeStreamBuffer,
  counters: readBufferCounters,
});

/**
 * Test hooks at the two moments that matter: between a reader's copy and its
 * re-check of the sequence (a test plays a writer that comes round right
 * then), and inside a write, with the slot odd (a test writer dies there).
 */
export const _internals = {
  afterSlotCopy(_slot: number): void {},
  afterProgramInfoCopy(): void {},
  beforeSlotCommit(_slot: number): void {},
};

/** The publisher's side: appends messages to the ring. */
export class StreamWriter {
  #views: Views;
  #generation: number;
  #next: number;
  #first = true;
  #bytesIn: bigint;
  #messagesIn: bigint;
  #randomAccessPoints: bigint;
  #bytesDiscarded: bigint;

  private constructor(views: Views) {
    const { int32, int64 } = views;
    this.#views = views;
    this.#generation = (Atomics.add(int32, I32.writerGeneration, 1) + 1) >>> 0;
    // Resume after the last committed message; a predecessor that died
    // mid-write left that slot odd, and it is overwritten first.
    this.#next = Atomics.load(int32, I32.writeCount) >>> 0;
    this.#bytesIn = Atomics.load(int64, I64.bytesIn);
    this.#messagesIn = Atomics.load(int64, I64.messagesIn);
    this.#randomAccessPoints = Atomics.load(int64, I64.randomAccessPoints);
    this.#bytesDiscarded = Atomics.load(int64, I64.bytesDiscarded);
    const programInfo = Atomics.load(int32, I32.programInfoSequence);
    if (programInfo & 1) {
      // A predecessor died updating the program info: drop what it left.
      int32[I32.programInfoLength] = 0;
      Atomics.store(int32, I32.programInfoSequence, programInfo + 1);
    }
    // A new publisher's parameter sets may differ from its predecessor's;
    // an odd sequence (a predecessor died mid-update) becomes even too.
    const parameterSets = Atomics.load(int32, I32.parameterSetsSequence);
    Atomics.store(int32, I32.parameterSetsSequence, parameterSets | 1);
    int32[I32.parameterSetsLength] = 0;
    Atomics.store(int32, I32.parameterSetsSequence, ((parameterSets | 1) + 1) | 0);
  }

  /**
   * Attaches to an initialized buffer as its new writer. Throws a TypeError
   * when the buffer does not hold a stream buffer of this layout version (or
   * of `expected`, when given).
   */
  static attach(buffer: ArrayBuffer, expected?: StreamBufferLayout): StreamWriter {
    return new StreamWriter(attachViews(buffer, expected));
  }

  get layout(): StreamBufferLayout {
    return this.#views.layout;
  }

  /** This writer's generation: 1 for the first writer of the buffer. */
  get generation(): number {
    return this.#generation;
  }

  /** Number the next message gets. */
  get position(): number {
    return this.#next;
  }

  /** Whether a newer writer has attached (a publisher took the stream over). */
  get replaced(): boolean {
    return (Atomics.load(this.#views.int32, I32.writerGeneration) >>> 0) !== this.#generation;
  }

  #checkCurrent(): void {
    const now = Atomics.load(this.#views.int32, I32.writerGeneration) >>> 0;
    if (now !== this.#generation) {
      throw new Error(
        `Stream buffer writer ${this.#generation} was superseded by writer ${now}`,
      );
    }
  }

  /**
   * Commits one message with its {@link MessageFlags} and receive time (µs,
   * monotonic) and returns its number. The caller then wakes readers
   * (`futexWake` on {@link WAKE_WORD_OFFSET}). The first message of each
   * writer carries {@link MessageFlags.Discontinuity}.
   */
  write(message: Uint8Array, flags: number, timeUs: number): number {
    const views = this.#views;
    const { int32, int64, float64, bytes } = views;
    if (message.byteLength > views.layout.slotPayload) {
      throw new RangeError(
        `Cannot write a ${message.byteLength}-byte message: slots hold ${views.layout.slotPayload}`,
      );
    }
    this.#checkCurrent();
    const number = this.#next;
    const stored = this.#first ? flags | MessageFlags.Discontinuity : flags;
    const base = views.slotOffset(number);
    const word = base >> 2;
    Atomics.store(int32, word, writingSequence(number));
    bytes.set(message, base + SlotOffset.payload);
    int32[word + 1] = message.byteLength;
    int32[word + 2] = stored;
    int32[word + 3] = this.#generation;
    float64[(base + SlotOffset.timeUs) >> 3] = timeUs;
    _internals.beforeSlotCommit(number & views.mask);
    Atomics.store(int32, word, committedSequence(number));
    this.#next = (number + 1) >>> 0;
    this.#first = false;
    Atomics.store(int32, I32.writeCount, this.#next);
    if (flags & MessageFlags.RandomAccess) {
      Atomics.store(int32, I32.newestRandomAccess, number);
      Atomics.store(int64, I64.randomAccessPoints, ++this.#randomAccessPoints);
    }
    this.#bytesIn += BigInt(message.byteLength);
    Atomics.store(int64, I64.bytesIn, this.#bytesIn);
    Atomics.store(int64, I64.messagesIn, ++this.#messagesIn);
    Atomics.add(int32, I32.wakeWord, 1);
    return number;
  }

  /**
   * Flags the committed message `number` as a random-access point after the
   * fact: a key frame found by its slice, messages after its PES began.
   * Joining readers then start there. Returns false when the writer has
   * already overwritten that message.
   */
  markRandomAccess(number: number): boolean {
    this.#checkCurrent();
    const views = this.#views;
    const { int32, int64 } = views;
    if (distance(this.#next, number) > views.layout.slots || distance(this.#next, number) === 0) {
      return false;
    }
    const word = views.slotOffset(number) >> 2;
    if (Atomics.load(int32, word) !== committedSequence(number)) return false;
    Atomics.or(int32, word + 2, MessageFlags.RandomAccess);
    Atomics.store(int32, I32.newestRandomAccess, number);
    Atomics.store(int64, I64.randomAccessPoints, ++this.#randomAccessPoints);
    return true;
  }

  /**
   * Counts `bytes` the publisher sent that never became a message (not
   * whole MPEG-TS packets), for the main process's statistics.
   */
  countDiscarded(bytes: number): void {
    if (bytes <= 0) return;
    this.#checkCurrent();
    this.#bytesDiscarded += BigInt(bytes);
    Atomics.store(this.#views.int64, I64.bytesDiscarded, this.#bytesDiscarded);
  }

  /** Replaces the program info (PAT and PMT packets) that joining readers start with. */
  setProgramInfo(info: Uint8Array): void {
    if (info.byteLength > PROGRAM_INFO_CAPACITY) {
      throw new RangeError(
        `Cannot store ${info.byteLength} bytes of program info: at most ${PROGRAM_INFO_CAPACITY}`,
      );
    }
    this.#checkCurrent();
    const { int32, bytes } = this.#views;
    const sequence = Atomics.load(int32, I32.programInfoSequence);
    Atomics.store(int32, I32.programInfoSequence, sequence + 1);
    bytes.set(info, HeaderOffset.programInfo);
    int32[I32.programInfoLength] = info.byteLength;
    Atomics.store(int32, I32.programInfoSequence, sequence + 2);
  }

  /**
   * Replaces the parameter sets (Annex B SPS, PPS, VPS) of the video on
   * `pid`, which joining readers send when their first key frame lacks them.
   */
  setParameterSets(pid: number, codec: number, parameterSets: Uint8Array): void {
    if (parameterSets.byteLength > PARAMETER_SETS_CAPACITY) {
      throw new RangeError(
        `Cannot store ${parameterSets.byteLength} bytes of parameter sets: at most ${PARAMETER_SETS_CAPACITY}`,
      );
    }
    this.#checkCurrent();
    const { int32, bytes } = this.#views;
    const sequence = Atomics.load(int32, I32.parameterSetsSequence);
    Atomics.store(int32, I32.parameterSetsSequence, sequence + 1);
    bytes.set(parameterSets, HeaderOffset.parameterSets);
    int32[I32.parameterSetsLength] = parameterSets.byteLength;
    int32[I32.parameterSetsPid] = pid;
    int32[I32.parameterSetsCodec] = codec;
    Atomics.store(int32, I32.parameterSetsSequence, sequence + 2);
  }
}

/** The newest parameter sets of a stream's video, from {@link StreamReader.parameterSets}. */
export interface StoredParameterSets {
  readonly pid: number;
  /** 1 for H.264, 2 for HEVC (`VideoCodec`). */
  readonly codec: number;
  /** SPS, PPS (and VPS) NAL units, each after a 4-byte start code. */
  readonly bytes: Uint8Array;
}

/** What {@link StreamReader.read} found. */
export type ReadResult =
  | {
    kind: "message";
    /** The message's number (mod 2^32). */
    number: number;
    /** Bytes copied to the front of `into`. */
    length: number;
    flags: number;
    timeUs: number;
    /** Generation of the writer that wrote it. */
    generation: number;
  }
  | { kind: "none" }
  | { kind: "skipped"; count: number };

const NONE: ReadResult = Object.freeze({ kind: "none" });

/** How often programInfo() retries while the writer is updating it. */
const PROGRAM_INFO_ATTEMPTS = 64;

/** A viewer's side: follows the ring at its own pace, never touching it. */
export class StreamReader {
  #views: Views;
  #next: number;

  private constructor(views: Views) {
    this.#views = views;
    this.#next = 0;
    this.joinAtNewestRandomAccess();
  }

  /**
   * Attaches to an initialized buffer and joins at its newest random-access
   * point (see {@link joinAtNewestRandomAccess}). Throws a TypeError like
   * {@link StreamWriter.attach}.
   */
  static attach(buffer: ArrayBuffer, expected?: StreamBufferLayout): StreamReader {
    return new StreamReader(attachViews(buffer, expected));
  }

  get layout(): StreamBufferLayout {
    return this.#views.layout;
  }

  /** Number of the next message {@link read} returns. */
  get position(): number {
    return this.#next;
  }

  /** The futex word's value: read it before {@link read}, wait on it after `none`. */
  get wakeValue(): number {
    return Atomics.load(this.#views.int32, I32.wakeWord);
  }

  /**
   * Where a reader should start, given the write count: the newest
   * random-access message still in the ring, else the newest message, else
   * (nothing written yet) the first one to come.
   */
  #joinTarget(written: number): number {
    const { int32, int64, layout } = this.#views;
    if (Atomics.load(int64, I64.randomAccessPoints) > 0n) {
      const newest = Atomics.load(int32, I32.newestRandomAccess) >>> 0;
      // 0 when it was committed after `written` was read: next in line.
      if (distance(written, newest) <= layout.slots) return newest;
    }
    return Atomics.load(int64, I64.messagesIn) === 0n ? written : (written - 1) >>> 0;
  }

  /** Moves to the newest random-access message (or the newest message if none); returns its number. */
  joinAtNewestRandomAccess(): number {
    this.#next = this.#joinTarget(Atomics.load(this.#views.int32, I32.writeCount) >>> 0);
    return this.#next;
  }

  /** The writer came round over the next message: jump ahead and say how far. */
  #skip(): ReadResult {
    const from = this.#next;
    let target = this.#joinTarget(Atomics.load(this.#views.int32, I32.writeCount) >>> 0);
    // Always make progress, even over a slot that does not hold what it should.
    if (((target - from) | 0) <= 0) target = (from + 1) >>> 0;
    this.#next = target;
    return { kind: "skipped", count: distance(target, from) };
  }

  /**
   * Copies the next message into `into` (at least the layout's slot payload
   * long). Returns `none` when caught up, and `skipped` when the writer
   * lapped this reader: it then continues from the newest random-access
   * point, and the caller counts the skipped messages. Never blocks.
   */
  read(into: Uint8Array): ReadResult {
    const views = this.#views;
    const { int32, float64, bytes, layout } = views;
    if (into.byteLength < layout.slotPayload) {
      throw new RangeError(
        `Cannot read into ${into.byteLength} bytes: messages may have ${layout.slotPayload}`,
      );
    }
    const number = this.#next;
    const written = Atomics.load(int32, I32.writeCount) >>> 0;
    const behind = distance(written, number);
    if (behind === 0) return NONE;
    if (behind > layout.slots) return this.#skip();
    const base = views.slotOffset(number);
    const word = base >> 2;
    const sequence = committedSequence(number);
    if (Atomics.load(int32, word) !== sequence) return this.#skip();
    const length = int32[word + 1]! >>> 0;
    const flags = int32[word + 2]! >>> 0;
    const generation = int32[word + 3]! >>> 0;
    const timeUs = float64[(base + SlotOffset.timeUs) >> 3]!;
    const payload = base + SlotOffset.payload;
    into.set(bytes.subarray(payload, payload + Math.min(length, layout.slotPayload)));
    _internals.afterSlotCopy(number & views.mask);
    if (Atomics.load(int32, word) !== sequence) return this.#skip();
    if (length > layout.slotPayload) {
      throw new Error(`Stream buffer is corrupt: message ${number} claims ${length} bytes`);
    }
    this.#next = (number + 1) >>> 0;
    return { kind: "message", number, length, flags, timeUs, generation };
  }

  /**
   * A copy of the program info (PAT and PMT packets), or undefined when there
   * is none yet or the writer is updating it right now (ask again later).
   */
  programInfo(): Uint8Array | undefined {
    const { int32, bytes } = this.#views;
    for (let attempt = 0; attempt < PROGRAM_INFO_ATTEMPTS; attempt++) {
      const sequence = Atomics.load(int32, I32.programInfoSequence);
      if (sequence & 1) continue;
      const length = int32[I32.programInfoLength]! >>> 0;
      const start = HeaderOffset.programInfo;
      const copy = bytes.slice(start, start + Math.min(length, PROGRAM_INFO_CAPACITY));
      _internals.afterProgramInfoCopy();
      if (Atomics.load(int32, I32.programInfoSequence) !== sequence) continue;
      return length === 0 || length > PROGRAM_INFO_CAPACITY ? undefined : copy;
    }
    return undefined;
  }

  /**
   * A copy of the newest parameter sets, or undefined when there are none
   * or the writer is updating them right now.
   */
  parameterSets(): StoredParameterSets | undefined {
    const { int32, bytes } = this.#views;
    for (let attempt = 0; attempt < PROGRAM_INFO_ATTEMPTS; attempt++) {
      const sequence = Atomics.load(int32, I32.parameterSetsSequence);
      if (sequence & 1) continue;
      const length = int32[I32.parameterSetsLength]! >>> 0;
      const pid = int32[I32.parameterSetsPid]!;
      const codec = int32[I32.parameterSetsCodec]!;
      const start = HeaderOffset.parameterSets;
      const copy = bytes.slice(start, start + Math.min(length, PARAMETER_SETS_CAPACITY));
      if (Atomics.load(int32, I32.parameterSetsSequence) !== sequence) continue;
      return length === 0 || length > PARAMETER_SETS_CAPACITY
        ? undefined
        : { pid, codec, bytes: copy };
    }
    return undefined;
  }
}
