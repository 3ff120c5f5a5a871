import assert from "node:assert/strict";
import {
  FIRST_RESTART_DELAY_MS,
  MAX_RESTART_DELAY_MS,
  RestartBackoff,
  STABLE_RUN_MS,
} from "./restart_backoff.ts";

Deno.test("RestartBackoff doubles the delay up to the max", () => {
  const backoff = new RestartBackoff({ first: 100, max: 700 }, () => 0);
  const delays = Array.from({ length: 5 }, () => backoff.nextDelayMs());
  assert.deepEqual(delays, [100, 200, 400, 700, 700]);
});

Deno.test("RestartBackoff uses 1 s to 30 s by default", () => {
  const backoff = new RestartBackoff(undefined, () => 0);
  assert.equal(backoff.nextDelayMs(), FIRST_RESTART_DELAY_MS);
  for (let i = 0; i < 10; i++) backoff.nextDelayMs();
  assert.equal(backoff.nextDelayMs(), MAX_RESTART_DELAY_MS);
});

Deno.test("RestartBackoff starts over after a stable run, not after a short one", () => {
  let now = 0;
  const backoff = new RestartBackoff({ first: 100, max: 10_000 }, () => now);
  backoff.started();
  backoff.nextDelayMs();
  backoff.nextDelayMs();
  now += STABLE_RUN_MS - 1;
  backoff.exited();
  assert.equal(backoff.nextDelayMs(), 400);
  backoff.started();
  now += STABLE_RUN_MS;
  backoff.exited();
  assert.equal(backoff.nextDelayMs(), 100);
});
