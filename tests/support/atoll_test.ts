import assert from "node:assert/strict";
import { Atoll, isStartupLine, parseLogLine } from "./atoll.ts";
import { isAlive } from "./procfs.ts";

Deno.test("Atoll.start() listens on free loopback ports; its logs, API and children are readable", async () => {
  await using atoll = await Atoll.start(["--pool-size", "1"], { readyPool: true });
  assert.ok(atoll.srtPort > 0 && atoll.httpPort > 0 && atoll.srtPort !== atoll.httpPort);
  assert.ok(atoll.logs.some(isStartupLine), atoll.output.join("\n"));
  const stats = await atoll.stats();
  assert.equal(stats.idleChildren, 1);
  assert.deepEqual(await atoll.connections(), []);
  assert.deepEqual(await atoll.streams(), []);
  assert.equal((await atoll.idleChildPids()).length, 1);
  assert.match(
    atoll.commandLine,
    /^deno run -A main\.ts --srt-listen 127\.0\.0\.1:0 .* --pool-size 1$/,
  );
});

Deno.test("Atoll.start() returns only once a signal is handled, and stop() leaves no child", async () => {
  // main.ts adds its signal listeners after logging the startup line.
  for (let i = 0; i < 3; i++) {
    const atoll = await Atoll.start();
    const children = atoll.childPids();
    atoll.signal("SIGINT");
    const status = await atoll.exit();
    assert.equal(status.code, 0, atoll.output.join("\n"));
    await atoll.stop();
    assert.ok(children.every((pid) => !isAlive(pid)));
  }
});

Deno.test("parseLogLine() reads a JSON log line and nothing else", () => {
  assert.deepEqual(parseLogLine('{"level":"INFO","message":"hi","properties":{"a":1}}'), {
    level: "INFO",
    message: "hi",
    properties: { a: 1 },
  });
  assert.deepEqual(parseLogLine('{"level":"INFO","message":"hi"}')?.properties, {});
  assert.equal(parseLogLine("Usage: atoll [options]"), undefined);
});
