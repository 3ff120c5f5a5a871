import assert from "node:assert/strict";
import { StopFlag } from "./stop_flag.ts";

Deno.test("StopFlag.sleep() forgets a sleeper once its timer fires", async () => {
  const stop = new StopFlag();
  for (let i = 0; i < 50; i++) await stop.sleep(0);
  await Promise.all([stop.sleep(1), stop.sleep(2), stop.sleep(0)]);
  assert.equal(stop.sleepers, 0);
  assert.equal(stop.stopped, false);
});

Deno.test("StopFlag.stop() wakes every sleeper at once and clears its timers", async () => {
  const stop = new StopFlag();
  const started = performance.now();
  const sleeping = [stop.sleep(60_000), stop.sleep(60_000)];
  assert.equal(stop.sleepers, 2);
  stop.stop();
  await Promise.all(sleeping);
  assert.ok(performance.now() - started < 1000);
  assert.equal(stop.sleepers, 0);
  // The sanitizer fails this test if a 60 s timer were left running.
});

Deno.test("StopFlag.sleep() returns at once once stopped", async () => {
  const stop = new StopFlag();
  stop.stop("replaced");
  stop.stop("second reason is ignored");
  await stop.sleep(60_000);
  assert.equal(stop.stopped, true);
  assert.equal(stop.detail, "replaced");
  assert.equal(stop.sleepers, 0);
});

Deno.test("StopFlag.whenStopped() resolves on stop(), and at once once stopped", async () => {
  const stop = new StopFlag();
  let woken = 0;
  const waiting = [stop.whenStopped(), stop.whenStopped()].map((p) => p.then(() => woken++));
  await Promise.resolve();
  assert.equal(woken, 0);
  stop.stop();
  await Promise.all(waiting);
  assert.equal(woken, 2);
  await stop.whenStopped();
  assert.equal(stop.sleepers, 0);
});

Deno.test("StopFlag.until() gives the work's value when it settles first", async () => {
  const stop = new StopFlag();
  const waited = await stop.until(Promise.resolve(7), 60_000);
  assert.deepEqual(waited, { done: true, value: 7 });
  assert.equal(stop.sleepers, 0);
  // The sanitizer fails this test if the 60 s timer were left running.
});

Deno.test("StopFlag.until() gives up after its timeout, and the work can be waited for again", async () => {
  const stop = new StopFlag();
  const { promise: work, resolve } = Promise.withResolvers<string>();
  const started = performance.now();
  assert.deepEqual(await stop.until(work, 20), { done: false });
  assert.ok(performance.now() - started >= 15, "waited for its timeout");
  assert.equal(stop.sleepers, 0);
  const again = stop.until(work, Infinity);
  resolve("later");
  assert.deepEqual(await again, { done: true, value: "later" });
  assert.equal(stop.sleepers, 0);
});

Deno.test("StopFlag.until() without a timeout ends at once on a stop", async () => {
  const stop = new StopFlag();
  const never = new Promise<number>(() => {});
  const waiting = stop.until(never, Infinity);
  assert.equal(stop.sleepers, 1);
  stop.stop("kicked");
  assert.deepEqual(await waiting, { done: false });
  assert.equal(stop.sleepers, 0);
  assert.deepEqual(await stop.until(never, Infinity), { done: false }, "already stopped");
});

Deno.test("StopFlag.until() passes the work's failure on", async () => {
  const stop = new StopFlag();
  await assert.rejects(stop.until(Promise.reject(new Error("boom")), 60_000), /boom/);
  assert.equal(stop.sleepers, 0);
});
