import assert from "node:assert/strict";
import { backoffKey, REJECTION_BACKOFF, RejectionBackoff } from "./rejection_backoff.ts";

/** A key for source "ip" and `streamId`, without key material. */
const keyOf = (streamId: string) => backoffKey("ip", { streamId, keyMaterial: false });

const KEY = backoffKey("192.0.2.7", { streamId: "publish:live/cam1", keyMaterial: false });

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

Deno.test("RejectionBackoff keys on the source IP, the stream id and whether there is key material", () => {
  const backoff = new RejectionBackoff();
  backoff.rejected(KEY, 0);
  assert.equal(
    backoff.check(backoffKey("192.0.2.7", { streamId: "publish:live/cam2", keyMaterial: false }), 0)
      .drop,
    false,
  );
  assert.equal(
    backoff.check(backoffKey("192.0.2.8", { streamId: "publish:live/cam1", keyMaterial: false }), 0)
      .drop,
    false,
  );
  assert.equal(
    backoff.check(backoffKey("192.0.2.7", { streamId: "", keyMaterial: false }), 0).drop,
    false,
  );
  assert.equal(
    backoff.check(backoffKey("192.0.2.7", { streamId: "publish:live/cam1", keyMaterial: true }), 0)
      .drop,
    false,
    "a caller that adds a passphrase",
  );
});

Deno.test("RejectionBackoff holds at most maxKeys keys and evicts the oldest first", () => {
  const backoff = new RejectionBackoff({ ...REJECTION_BACKOFF, maxKeys: 3 });
  for (const [i, name] of ["a", "b", "c", "d"].entries()) {
    backoff.rejected(keyOf(name), i);
  }
  assert.equal(backoff.size, 3);
  assert.equal(
    backoff.check(backoffKey("ip", { streamId: "a", keyMaterial: false }), 5).drop,
    false,
    "a was the oldest",
  );
  for (const name of ["b", "c", "d"]) assert.ok(backoff.check(keyOf(name), 5).drop);
});

Deno.test("RejectionBackoff counts one rejection per interval", () => {
  const backoff = new RejectionBackoff();
  // Attempts admitted together, or before the first rejection was known, are refused during it.
  assert.equal(backoff.rejected(KEY, 0), 1000);
  assert.equal(backoff.rejected(KEY, 10), 1000);
  assert.equal(backoff.rejected(KEY, 999), 1000);
  assert.equal(backoff.check(KEY, 1000).drop, false);
  assert.equal(backoff.rejected(KEY, 1000), 2000, "the one after the interval doubles it");
});

Deno.test("RejectionBackoff lets one attempt through after the interval and holds the rest until it is decided", () => {
  const backoff = new RejectionBackoff();
  backoff.rejected(KEY, 0);
  assert.equal(backoff.check(KEY, 1000).drop, false);
  backoff.admitted(KEY);
  assert.deepEqual(backoff.check(KEY, 1001), {
    drop: true,
    first: true,
    rejections: 1,
    intervalMs: 1000,
    remainingMs: 0,
  });
  // It timed out: the next one may try.
  backoff.settled(KEY);
  assert.equal(backoff.check(KEY, 1002).drop, false);
  backoff.admitted(KEY);
  assert.ok(backoff.check(KEY, 1003).drop);
  // It was refused: the next interval.
  assert.equal(backoff.rejected(KEY, 1004), 2000);
  assert.ok(backoff.check(KEY, 3003).drop);
  assert.equal(backoff.check(KEY, 3004).drop, false);
  backoff.admitted(KEY);
  backoff.succeeded(KEY);
  assert.equal(backoff.check(KEY, 3005).drop, false, "it got in: everyone may");
});

Deno.test("RejectionBackoff admits freely a key without rejections", () => {
  const backoff = new RejectionBackoff();
  backoff.admitted(KEY);
  backoff.admitted(KEY);
  assert.equal(backoff.size, 0);
  assert.equal(backoff.check(KEY, 0).drop, false);
});

Deno.test("RejectionBackoff stays bounded under many keys", () => {
  const backoff = new RejectionBackoff();
  for (let i = 0; i < 3 * REJECTION_BACKOFF.maxKeys; i++) {
    backoff.rejected(backoffKey("ip", { streamId: `${i}`, keyMaterial: false }), i);
  }
  assert.equal(backoff.size, REJECTION_BACKOFF.maxKeys);
});
