import assert from "node:assert/strict";
import {
  type OutputCommand,
  type OutputReport,
  parseOutputCommand,
  parseOutputReport,
} from "./output_messages.ts";

const SETTINGS = {
  listen: { hostname: "127.0.0.1", port: 8081 },
  maxConnections: 1000,
  headerTimeoutMs: 10_000,
  allowedHosts: ["media.example"],
};

Deno.test("parseOutputCommand() reads back every command", () => {
  const commands: OutputCommand[] = [
    { type: "settings", settings: SETTINGS },
    { type: "stream", name: "live/cam1", bufferBytes: 10_487_808 },
    { type: "stream-ended", name: "live/cam1" },
    { type: "shutdown" },
  ];
  for (const command of commands) {
    assert.deepEqual(parseOutputCommand(JSON.stringify(command)), command);
  }
});

Deno.test("parseOutputCommand() refuses what the main process never sends", () => {
  const cases: [string, unknown][] = [
    ["an unknown type", { type: "restart" }],
    ["settings without a port", { type: "settings", settings: { ...SETTINGS, listen: {} } }],
    ["settings with no connection allowed", {
      type: "settings",
      settings: { ...SETTINGS, maxConnections: 0 },
    }],
    ["settings with a host that is no string", {
      type: "settings",
      settings: { ...SETTINGS, allowedHosts: [1] },
    }],
    ["a stream whose name has a .. segment", { type: "stream", name: "live/..", bufferBytes: 9 }],
    ["a stream without a size", { type: "stream", name: "live/cam1" }],
    ["an ended stream without a name", { type: "stream-ended" }],
  ];
  for (const [name, value] of cases) {
    assert.throws(() => parseOutputCommand(JSON.stringify(value)), TypeError, name);
  }
  assert.throws(() => parseOutputCommand("not json"), /Invalid output command: not JSON/);
  assert.throws(() => parseOutputCommand("[]"), /Invalid output command: not an object/);
});

Deno.test("parseOutputReport() reads back every report", () => {
  const reports: OutputReport[] = [
    { type: "listening", address: { hostname: "127.0.0.1", port: 40123 } },
    { type: "listen-failed", detail: "address in use" },
    { type: "stats", streams: [{ name: "live/cam1", clients: 2, bytesSent: 1316, skips: 1 }] },
    { type: "stats", streams: [] },
    { type: "log", level: "warning", message: "HTTP cannot accept connections" },
  ];
  for (const report of reports) assert.deepEqual(parseOutputReport(JSON.stringify(report)), report);
});

Deno.test("parseOutputReport() refuses a report that is not whole", () => {
  const cases: [string, unknown][] = [
    ["a listening report without an address", { type: "listening" }],
    ["stats with a negative count", {
      type: "stats",
      streams: [{ name: "a", clients: -1, bytesSent: 0, skips: 0 }],
    }],
    ["stats with a fractional count", {
      type: "stats",
      streams: [{ name: "a", clients: 0, bytesSent: 0.5, skips: 0 }],
    }],
    ["stats of an invalid stream name", {
      type: "stats",
      streams: [{ name: "", clients: 0, bytesSent: 0, skips: 0 }],
    }],
    ["a log of an unknown level", { type: "log", level: "fatal", message: "x" }],
  ];
  for (const [name, value] of cases) {
    assert.throws(() => parseOutputReport(JSON.stringify(value)), TypeError, name);
  }
});
