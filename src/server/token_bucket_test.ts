import assert from "node:assert/strict";
import { TokenBucket } from "./token_bucket.ts";

Deno.test("TokenBucket gives one second's worth at once, then refills at its rate", () => {
  const bucket = new TokenBucket(2, 0);
  assert.equal(bucket.isFull(0), true);
  assert.equal(bucket.take(0), true);
  assert.equal(bucket.take(0), true);
  assert.equal(bucket.take(0), false);
  assert.equal(bucket.take(499), false);
  assert.equal(bucket.take(500), true, "one token back after half a second at 2/s");
  assert.equal(bucket.isFull(1000), false);
  assert.equal(bucket.isFull(1500), true);
});
