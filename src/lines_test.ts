import assert from "node:assert/strict";
import { readLines } from "./lines.ts";

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
