import assert from "node:assert/strict";
import { backoffKey, REJECTION_BACKOFF, RejectionBackoff } from "./rejection_backoff.ts";

const KEY = backoffKey("192.0.2.7", "publish:live/cam1");

Deno.test("RejectionBackoff lets an unknown key through", () => {
  assert.deepEqual(new RejectionBackoff().check(KEY, 0), { drop: false });
});

Deno.test("RejectionBackoff drops a key's attempts for 1 s after a rejection, then lets one through", () => {
  const backoff = new RejectionBackoff();
  assert.equal(backoff.rejected(KEY, 10_000), 1000);
  assert.deepEqual(backoff.check(KEY, 10_000), {
    drop: true,
    first: true,
    rejections: 1,
    intervalMs: 1000,
    remainingMs: 1000,
  });
  assert.deepEqual(backoff.check(KEY, 10_999), {
    drop: true,
    first: false,
    rejections: 1,
    intervalMs: 1000,
    remainingMs: 1,
  });
  assert.deepEqual(backoff.check(KEY, 11_000), { drop: false });
});

Deno.test("RejectionBackoff doubles the interval with each rejection in a row, up to 30 s", () => {
  const backoff = new RejectionBackoff();
  const intervals = [];
  let now = 0;
  for (let i = 0; i < 8; i++) {
    const intervalMs = backoff.rejected(KEY, now);
    intervals.push(intervalMs);
    now += intervalMs;
    assert.equal(backoff.check(KEY, now).drop, false, "the first attempt after the interval");
  }
  assert.deepEqual(intervals, [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
});

Deno.test("RejectionBackoff marks only the first dropped attempt of each interval as the one to log", () => {
  const backoff = new RejectionBackoff();
  const firsts = [];
  let now = 0;
  for (let interval = 0; interval < 3; interval++) {
    const intervalMs = backoff.rejected(KEY, now);
    for (let t = 0; t < intervalMs; t += 100) {
      const verdict = backoff.check(KEY, now + t);
      assert.ok(verdict.drop);
      if (verdict.first) firsts.push(t);
    }
    now += intervalMs;
  }
  assert.deepEqual(firsts, [0, 0, 0]);
});

Deno.test("RejectionBackoff starts over after a success", () => {
  const backoff = new RejectionBackoff();
  backoff.rejected(KEY, 0);
  backoff.rejected(KEY, 1000);
  backoff.succeeded(KEY);
  assert.equal(backoff.size, 0);
  assert.equal(backoff.check(KEY, 1001).drop, false);
  assert.equal(backoff.rejected(KEY, 1001), 1000);
});

Deno.test("RejectionBackoff starts over after a quiet period, and forgets the key", () => {
  const backoff = new RejectionBackoff();
  backoff.rejected(KEY, 0);
  backoff.rejected(KEY, 1000); // 2 s, until 3000
  const quiet = 3000 + REJECTION_BACKOFF.quietMs;
  assert.equal(backoff.rejected(KEY, quiet - 1), 4000, "not quiet long enough: doubled");
  backoff.check(KEY, quiet - 1 + 4000 + REJECTION_BACKOFF.quietMs);
  assert.equal(backoff.size, 0, "a check after the quiet period forgets the key");
  assert.equal(backoff.rejected(KEY, 10 * REJECTION_BACKOFF.quietMs), 1000);
});

Deno.test("RejectionBackoff keys on both the source IP and the stream id", () => {
  const backoff = new RejectionBackoff();
  backoff.rejected(KEY, 0);
  assert.equal(backoff.check(backoffKey("192.0.2.7", "publish:live/cam2"), 0).drop, false);
  assert.equal(backoff.check(backoffKey("192.0.2.8", "publish:live/cam1"), 0).drop, false);
  assert.equal(backoff.check(backoffKey("192.0.2.7", ""), 0).drop, false);
});

Deno.test("RejectionBackoff holds at most maxKeys keys and evicts the oldest rejection first", () => {
  const backoff = new RejectionBackoff({ ...REJECTION_BACKOFF, maxKeys: 3 });
  for (const [i, name] of ["a", "b", "c"].entries()) backoff.rejected(backoffKey("ip", name), i);
  backoff.rejected(backoffKey("ip", "a"), 3); // a is now the newest
  backoff.rejected(backoffKey("ip", "d"), 4);
  assert.equal(backoff.size, 3);
  assert.equal(backoff.check(backoffKey("ip", "b"), 5).drop, false, "b was the oldest");
  for (const name of ["a", "c", "d"]) assert.ok(backoff.check(backoffKey("ip", name), 5).drop);
});

Deno.test("RejectionBackoff stays bounded under many keys", () => {
  const backoff = new RejectionBackoff();
  for (let i = 0; i < 3 * REJECTION_BACKOFF.maxKeys; i++) {
    backoff.rejected(backoffKey("ip", `${i}`), i);
  }
  assert.equal(backoff.size, REJECTION_BACKOFF.maxKeys);
});
