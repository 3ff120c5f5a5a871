import assert from "node:assert/strict";
import { parseRecorderCommand, parseRecorderReport } from "./recorder_messages.ts";

const SETTINGS = {
  stream: "live/a",
  dir: "/var/rec",
  rotateSeconds: 60,
  quotaBytes: 1 << 20,
  bufferBytes: 1 << 20,
};

Deno.test("parseRecorderCommand() takes record and shutdown", () => {
  const record = { type: "record", settings: SETTINGS };
  assert.deepEqual(parseRecorderCommand(JSON.stringify(record)), record);
  assert.deepEqual(parseRecorderCommand('{"type":"shutdown"}'), { type: "shutdown" });
});

Deno.test("parseRecorderCommand() refuses bad settings", () => {
  for (
    const settings of [
      { ...SETTINGS, stream: "../x" },
      { ...SETTINGS, dir: "relative" },
      { ...SETTINGS, rotateSeconds: 0 },
      { ...SETTINGS, quotaBytes: -1 },
      { ...SETTINGS, bufferBytes: 1.5 },
    ]
  ) {
    assert.throws(
      () => parseRecorderCommand(JSON.stringify({ type: "record", settings })),
      TypeError,
    );
  }
  assert.throws(() => parseRecorderCommand('{"type":"other"}'), TypeError);
  assert.throws(() => parseRecorderCommand("nope"), TypeError);
});

Deno.test("parseRecorderReport() takes stats, stopped and log, and nothing else", () => {
  const stats = {
    type: "stats",
    stats: { file: "a_20250102T030405Z.ts", bytesWritten: 5, files: 1, skips: 0, deleted: 0 },
  };
  assert.deepEqual(parseRecorderReport(JSON.stringify(stats)), stats);
  const stopped = { type: "stopped", reason: "disk-full", detail: "No space left on device" };
  assert.deepEqual(parseRecorderReport(JSON.stringify(stopped)), stopped);
  const log = { type: "log", level: "info", message: "x" };
  assert.deepEqual(parseRecorderReport(JSON.stringify(log)), log);
  for (
    const bad of [
      { type: "stats", stats: { ...stats.stats, files: -1 } },
      { type: "stopped", reason: "bored", detail: "" },
      { type: "log", level: "loud", message: "x" },
    ]
  ) {
    assert.throws(() => parseRecorderReport(JSON.stringify(bad)), TypeError);
  }
});
