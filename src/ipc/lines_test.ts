import assert from "node:assert/strict";
import { type ByteReader, readLines } from "./lines.ts";

function streamOf(...chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return ReadableStream.from(chunks.map((chunk) => encoder.encode(chunk)));
}

Deno.test("readLines() joins lines split across chunks and skips empty ones", async () => {
  const lines = await Array.fromAsync(readLines(streamOf('{"a":', '1}\n\n{"b"', ":2}\nlast")));
  assert.deepEqual(lines, ['{"a":1}', '{"b":2}', "last"]);
});

Deno.test("readLines() keeps a multi-byte character split between chunks", async () => {
  const bytes = new TextEncoder().encode("é\n");
  const stream = ReadableStream.from([bytes.subarray(0, 1), bytes.subarray(1)]);
  assert.deepEqual(await Array.fromAsync(readLines(stream)), ["é"]);
});

/** A byte stream, like a child's pipe, that hands out `bytes` in pieces of at most `piece`. */
function byteStreamOf(bytes: Uint8Array, piece: number): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    type: "bytes",
    pull(controller) {
      const request = controller.byobRequest!;
      const view = request.view as Uint8Array;
      const length = Math.min(piece, view.byteLength, bytes.byteLength - offset);
      if (length === 0) {
        controller.close();
        request.respond(0);
        return;
      }
      view.set(bytes.subarray(offset, offset + length));
      offset += length;
      request.respond(length);
    },
  });
}

Deno.test("readLines() reads a byte stream through its small buffer, lines longer than it included", async () => {
  const long = "x".repeat(10_000);
  const text = `ü-first\n${long}\n€ last`;
  for (const piece of [1, 3, 4096, 65536]) {
    const lines = await Array.fromAsync(
      readLines(byteStreamOf(new TextEncoder().encode(text), piece)),
    );
    assert.deepEqual(lines, ["ü-first", long, "€ last"], `pieces of ${piece}`);
  }
});

/** A `Deno.stdin`-like reader that hands out `bytes` in pieces of at most `piece`. */
function readerOf(bytes: Uint8Array, piece: number): ByteReader {
  let offset = 0;
  return {
    read(buffer) {
      const length = Math.min(piece, buffer.byteLength, bytes.byteLength - offset);
      if (length === 0) return Promise.resolve(null);
      buffer.set(bytes.subarray(offset, offset + length));
      offset += length;
      return Promise.resolve(length);
    },
  };
}

Deno.test("readLines() reads a plain reader, lines longer than its buffer and split characters included", async () => {
  const long = "y".repeat(10_000);
  const text = `{"type":"shutdown"}\n\nü-second\n${long}\n€ last`;
  for (const piece of [1, 3, 4096, 65536]) {
    const lines = await Array.fromAsync(readLines(readerOf(new TextEncoder().encode(text), piece)));
    assert.deepEqual(
      lines,
      ['{"type":"shutdown"}', "ü-second", long, "€ last"],
      `pieces of ${piece}`,
    );
  }
});

Deno.test("readLines() cuts a line that is too long and drops the rest of it", async () => {
  const cases: [string, string[], string[]][] = [
    ["a line over the limit within one chunk", ["abcdefgh\nok\n"], ["abcde", "ok"]],
    ["a line over the limit across chunks", ["abc", "defg", "hij", "\nok"], ["abcde", "ok"]],
    ["a line without an end", ["abcdefghijkl"], ["abcde"]],
    ["lines at the limit", ["abcde\nfghij"], ["abcde", "fghij"]],
  ];
  for (const [name, chunks, lines] of cases) {
    assert.deepEqual(await Array.fromAsync(readLines(streamOf(...chunks), 5)), lines, name);
  }
  // A writer that never ends its line: what is held stays under the limit plus a chunk.
  const endless = new ReadableStream<Uint8Array>({
    start(controller) {
      const chunk = new TextEncoder().encode("x".repeat(1000));
      for (let i = 0; i < 1000; i++) controller.enqueue(chunk);
      controller.enqueue(new TextEncoder().encode("\nafter\n"));
      controller.close();
    },
  });
  const lines = await Array.fromAsync(readLines(endless, 4096));
  assert.deepEqual(lines.map((line) => line.length), [4096, 5]);
});
