import assert from "node:assert/strict";
import { sleep, waitFor } from "./wait.ts";

Deno.test("waitFor() returns the first value other than undefined or false", async () => {
  let calls = 0;
  const value = await waitFor("the third call", () => ++calls >= 3 && calls, { intervalMs: 1 });
  assert.equal(value, 3);
  assert.equal(await waitFor("zero", () => 0), 0, "0 is a value");
});

Deno.test("waitFor() awaits an async check", async () => {
  assert.equal(await waitFor("a promise", async () => await Promise.resolve("done")), "done");
});

Deno.test("waitFor() throws after timeoutMs, naming what it waited for", async () => {
  const started = performance.now();
  await assert.rejects(
    waitFor("Godot", () => false, { timeoutMs: 30, intervalMs: 5 }),
    /^Error: Timed out after 30 ms waiting for Godot$/,
  );
  assert.ok(performance.now() - started >= 30);
});

Deno.test("sleep() resolves after at least the given time", async () => {
  const started = performance.now();
  await sleep(20);
  assert.ok(performance.now() - started >= 19);
});
