import assert from "node:assert/strict";
import { concat } from "./bytes.ts";

Deno.test("concat() joins its parts in order into a new array", () => {
  const first = new Uint8Array([1, 2]);
  const joined = concat(first, new Uint8Array([]), new Uint8Array([3]));
  assert.deepEqual([...joined], [1, 2, 3]);
  joined[0] = 9;
  assert.equal(first[0], 1, "a copy, not a view");
  assert.equal(concat().length, 0);
});
