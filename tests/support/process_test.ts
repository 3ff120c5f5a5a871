import assert from "node:assert/strict";
import { ManagedProcess, type StartOptions, stopAll } from "./process.ts";
import { isAlive } from "./procfs.ts";
import { waitFor } from "./wait.ts";

/**
 * `sh -c script`. A script that ends waiting does so with `exec sleep`, so
 * that killing the process kills the sleep, which holds the output pipes.
 */
function sh(script: string, options: StartOptions = {}) {
  return ManagedProcess.start("sh", "sh", ["-c", script], options);
}

Deno.test("ManagedProcess keeps stdout and stderr as lines, and the text as it came", async () => {
  await using process = sh("printf 'one\\ntwo\\n'; printf 'err\\n' >&2; printf 'last'");
  assert.equal((await process.done).code, 0);
  assert.deepEqual([...process.lines].sort(), ["err", "last", "one", "two"]);
  for (const part of ["one\ntwo\n", "err\n", "last"]) {
    assert.ok(process.text.includes(part), JSON.stringify(process.text));
  }
  assert.equal(process.text.length, "one\ntwo\nerr\nlast".length);
  assert.equal(process.exited, true);
});

Deno.test("ManagedProcess.text shows a line before it ends", async () => {
  await using process = sh("printf 'prompt: '; exec sleep 5");
  await waitFor("the prompt", () => process.text.includes("prompt: "));
  assert.deepEqual(process.lines, []);
});

Deno.test("ManagedProcess.waitForLine() finds a line already seen or still to come", async () => {
  await using process = sh("echo ready; sleep 0.1; echo later; exec sleep 5");
  assert.equal(await process.waitForLine("later", (line) => line === "later", 5000), "later");
  assert.equal(await process.waitForLine("ready", (line) => line === "ready", 10), "ready");
});

Deno.test("ManagedProcess.waitForLine() fails on a timeout or an exit, with the output", async () => {
  await using slow = sh("echo nothing; exec sleep 5");
  await assert.rejects(slow.waitForLine("a word", (line) => line === "word", 50), /no a word/);
  await using quick = sh("echo bye");
  await assert.rejects(
    quick.waitForLine("a word", (line) => line === "word", 5000),
    /sh exited before a word:\nbye/,
  );
});

Deno.test("ManagedProcess stdin and a stdout file", async () => {
  const path = await Deno.makeTempFile();
  try {
    await using process = sh("cat", { stdin: "piped", stdout: { file: path } });
    await process.write(new TextEncoder().encode("through\n"));
    await process.closeStdin();
    assert.equal((await process.exit()).code, 0);
    assert.equal(await Deno.readTextFile(path), "through\n");
    assert.deepEqual(process.lines, []);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("ManagedProcess.stop() sends SIGKILL once the grace time is over", async () => {
  await using process = sh("trap '' TERM; echo trapped; exec sleep 30");
  await process.waitForLine("the trap", (line) => line === "trapped", 5000);
  const status = await process.stop(100);
  assert.equal(status.signal, "SIGKILL");
  assert.equal(process.signal("SIGTERM"), undefined, "signalling an exited process is harmless");
});

Deno.test("stopAll() stops every process still running", async () => {
  const processes = [sh("exec sleep 30"), sh("exec sleep 30")];
  await stopAll(1000);
  for (const process of processes) {
    assert.equal(process.exited, true);
    assert.equal(isAlive(process.pid), false);
  }
});
