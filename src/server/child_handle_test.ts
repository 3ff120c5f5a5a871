/**
 * ChildHandle reads each child's stdout and stderr with readLines(): here on
 * a real pipe, which needs a process. (src/ipc/lines_test.ts covers the
 * rest; src/ipc's tests run without permissions.)
 */

import assert from "node:assert/strict";
import { readLines } from "../ipc/lines.ts";

Deno.test("readLines() reads a real pipe: a child's output", async () => {
  const output = new Deno.Command("sh", {
    args: ["-c", "printf 'one\\ntwo\\n'; printf 'three'"],
    stdout: "piped",
  }).spawn();
  assert.deepEqual(await Array.fromAsync(readLines(output.stdout)), ["one", "two", "three"]);
  await output.status;
});
