import assert from "node:assert/strict";
import { BATCH_BYTES, FollowerBatch } from "./follower_batch.ts";

const bytes = (length: number, value: number) => new Uint8Array(length).fill(value);

Deno.test("FollowerBatch puts a message's program info before its packets", () => {
  const batch = new FollowerBatch();
  batch.append({ programInfo: undefined, packets: Uint8Array.of(1, 2) });
  batch.append({ programInfo: Uint8Array.of(9), packets: Uint8Array.of(3) });
  assert.deepEqual(batch.bytes, Uint8Array.of(1, 2, 9, 3));
  assert.equal(batch.length, 4);
  assert.equal(batch.full, false);
});

Deno.test("FollowerBatch is full at BATCH_BYTES and grows for a longer message", () => {
  const batch = new FollowerBatch();
  batch.append({ programInfo: undefined, packets: bytes(BATCH_BYTES - 10, 1) });
  assert.equal(batch.full, false);
  batch.append({ programInfo: bytes(5, 2), packets: bytes(188, 3) });
  assert.equal(batch.full, true);
  assert.equal(batch.length, BATCH_BYTES - 10 + 5 + 188);
  const gathered = batch.bytes;
  assert.equal(gathered[0], 1);
  assert.equal(gathered[BATCH_BYTES - 10], 2);
  assert.equal(gathered.at(-1), 3);
});

Deno.test("FollowerBatch.clear() empties it for the next batch", () => {
  const batch = new FollowerBatch();
  batch.append({ programInfo: undefined, packets: bytes(3 * BATCH_BYTES, 7) });
  batch.clear();
  assert.equal(batch.length, 0);
  assert.deepEqual(batch.bytes, new Uint8Array());
  batch.append({ programInfo: undefined, packets: Uint8Array.of(5) });
  assert.deepEqual(batch.bytes, Uint8Array.of(5));
});
