/**
 * Splits a byte stream into text lines: the framing of the JSON messages on a
 * child's stdin and stdout.
 *
 * @module
 */

/** Yields each non-empty line of `stream` (UTF-8), without its newline. */
export async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let pending = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    for (let newline; (newline = pending.indexOf("\n")) >= 0;) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      if (line.length > 0) yield line;
    }
  }
  if (pending.length > 0) yield pending;
}
