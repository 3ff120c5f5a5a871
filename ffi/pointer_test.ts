import assert from "node:assert/strict";
import { pointerTo, settledWith } from "./pointer.ts";

Deno.test("pointerTo(null) is the null pointer", () => {
  assert.equal(pointerTo(null), null);
});

Deno.test("pointerTo() of a view points at its first byte, offsets included", () => {
  const bytes = new Uint8Array(4096);
  const base = Deno.UnsafePointer.value(pointerTo(bytes));
  assert.equal(Deno.UnsafePointer.value(pointerTo(bytes.subarray(100))), BigInt(base) + 100n);
  const words = new Int32Array(bytes.buffer, 8, 2);
  assert.equal(Deno.UnsafePointer.value(pointerTo(words)), BigInt(base) + 8n);
});

Deno.test("pointerTo() of a small typed array stays valid while the heap churns", () => {
  // V8 may keep an array this small inside its heap, where collections move it.
  const small = new Uint8Array(8);
  const pointer = pointerTo(small);
  if (pointer === null) throw new Error("pointerTo() gave no pointer");
  let churn: unknown[] = [];
  for (let round = 0; round < 200; round++) {
    churn = Array.from({ length: 1000 }, (_, i) => ({ i, text: `${round}-${i}` }));
    small[round % 8] = round & 0xff;
    const view: Deno.UnsafePointerView = new Deno.UnsafePointerView(pointer);
    assert.equal(view.getUint8(round % 8), round & 0xff, `round ${round}`);
  }
  assert.equal(churn.length, 1000);
});

Deno.test("settledWith() gives the call's result and its failure", async () => {
  const bytes = new Uint8Array(16);
  assert.equal(await settledWith(Promise.resolve(7), bytes), 7);
  await assert.rejects(settledWith(Promise.reject(new Error("failed")), bytes), /failed/);
});
