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

/** Yields each non-empty line of `stream` (UTF-8), without its newline. */
export async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const bytes of readChunks(stream)) {
    pending += decoder.decode(bytes, { stream: true });
    for (let newline; (newline = pending.indexOf("\n")) >= 0;) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      if (line.length > 0) yield line;
    }
  }
  pending += decoder.decode();
  if (pending.length > 0) yield pending;
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
