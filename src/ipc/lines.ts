/**
 * Splits a byte stream into text lines: the framing of the JSON messages on a
 * child's stdin and stdout.
 *
 * @module
 */

/**
 * Bytes read at a time. The main process keeps a read pending on two pipes of
 * every child; with the streams' default 64 KiB chunks that alone cost about
 * 128 KiB per connection, and report lines are short.
 */
const READ_BYTES = 4096;

/**
 * What `Deno.stdin` is without its `readable`: reading it this way keeps a
 * child from loading Deno's web streams, which cost each one about 2 ms of
 * CPU at start (BENCHMARKS.md, "Child start").
 */
export interface ByteReader {
  /** Fills the start of `buffer`; resolves to the count, or null at the end. */
  read(buffer: Uint8Array): Promise<number | null>;
}

/**
 * The longest line kept, in UTF-16 code units: far more than any message
 * (the media output's stats of a thousand streams are some 200 KB), and a
 * bound on what a process that writes without a newline can make its
 * reader hold.
 */
export const MAX_LINE_LENGTH = 4 * 1024 * 1024;

/**
 * Yields each non-empty line of `source` (UTF-8), without its newline. A
 * line longer than `maxLength` is cut there: its start is yielded and the
 * rest, up to the next newline, is dropped.
 */
export async function* readLines(
  source: ReadableStream<Uint8Array> | ByteReader,
  maxLength = MAX_LINE_LENGTH,
): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let pending = "";
  /** Dropping the rest of a line that was too long. */
  let dropping = false;
  // Not `instanceof ReadableStream`: naming that global is what loads the streams.
  const chunks = "getReader" in source ? readChunks(source) : readFrom(source);
  for await (const bytes of chunks) {
    pending += decoder.decode(bytes, { stream: true });
    for (let newline; (newline = pending.indexOf("\n")) >= 0;) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      if (dropping) dropping = false;
      else if (line.length > 0) yield line.slice(0, maxLength);
    }
    if (pending.length > maxLength) {
      if (!dropping) yield pending.slice(0, maxLength);
      dropping = true;
      pending = "";
    }
  }
  pending += decoder.decode();
  if (pending.length > 0 && !dropping) yield pending.slice(0, maxLength);
}

/** The reader's bytes, read into one small reused buffer. */
async function* readFrom(reader: ByteReader): AsyncGenerator<Uint8Array> {
  const buffer = new Uint8Array(READ_BYTES);
  for (let count; (count = await reader.read(buffer)) !== null;) {
    yield buffer.subarray(0, count);
  }
}

/** The stream's bytes, read into one small reused buffer when it is a byte stream. */
async function* readChunks(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  let reader: ReadableStreamBYOBReader;
  try {
    reader = stream.getReader({ mode: "byob" });
  } catch {
    // Not a byte stream (a test's ReadableStream.from, say): read it as it comes.
    yield* stream;
    return;
  }
  let buffer = new ArrayBuffer(READ_BYTES);
  try {
    for (;;) {
      const { value, done } = await reader.read(new Uint8Array(buffer));
      if (done || value === undefined) return;
      yield value;
      // The read transferred the buffer; the view holds it now.
      buffer = value.buffer;
    }
  } finally {
    reader.releaseLock();
  }
}
