import assert from "node:assert/strict";
import {
  type OutputCommand,
  type OutputReport,
  parseOutputCommand,
  parseOutputReport,
} from "./output_messages.ts";

const HLS = { mode: "on-demand", segmentMs: 2000, window: 6, partMs: 400 } as const;
const COUNTS = { clients: 2, bytesSent: 1316, skips: 1, hlsClients: 3, hlsSegments: 9 };
const STATS = { name: "live/cam1", ...COUNTS, hlsBytesSent: 4096 };

const ACCESS = {
  stream: "live/cam1",
  protocol: "hls",
  peer: "192.0.2.1:40000",
  query: "expires=1800000000&sig=00",
  bearer: null,
} as const;

const SETTINGS = {
  listen: { hostname: "127.0.0.1", port: 8081 },
  maxConnections: 1000,
  headerTimeoutMs: 10_000,
  allowedHosts: ["media.example"],
};

Deno.test("parseOutputCommand() reads back every command", () => {
  const commands: OutputCommand[] = [
    { type: "settings", settings: SETTINGS },
    { type: "stream", name: "live/cam1", bufferBytes: 10_487_808, hls: HLS },
    {
      type: "stream-rules",
      name: "live/cam1",
      hls: { mode: "always", segmentMs: 10_000, window: 3, partMs: 0 },
    },
    { type: "stream-ended", name: "live/cam1" },
    { type: "access-rules", waitMs: 3000 },
    { type: "access-answer", id: 7, answer: { allowed: true, ttlMs: 15_000 } },
    {
      type: "access-answer",
      id: 8,
      answer: { allowed: false, status: 403, message: "Expired", ttlMs: 0 },
    },
    { type: "demand-answer", id: 9, waitMs: 2500 },
    { type: "demand-answer", id: 10, waitMs: 0 },
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
    ["a stream whose name has a .. segment", {
      type: "stream",
      name: "live/..",
      bufferBytes: 9,
      hls: HLS,
    }],
    ["a stream without a size", { type: "stream", name: "live/cam1", hls: HLS }],
    ["a stream without HLS rules", { type: "stream", name: "live/cam1", bufferBytes: 9 }],
    ["HLS rules of an unknown mode", {
      type: "stream-rules",
      name: "live/cam1",
      hls: { ...HLS, mode: "off" },
    }],
    ["HLS segments under a second", {
      type: "stream-rules",
      name: "live/cam1",
      hls: { ...HLS, segmentMs: 999 },
    }],
    ["HLS parts longer than half a segment", {
      type: "stream-rules",
      name: "live/cam1",
      hls: { ...HLS, segmentMs: 1000, partMs: 600 },
    }],
    ["HLS parts of 199 ms", {
      type: "stream-rules",
      name: "live/cam1",
      hls: { ...HLS, partMs: 199 },
    }],
    ["HLS rules without a part target", {
      type: "stream-rules",
      name: "live/cam1",
      hls: { mode: "on-demand", segmentMs: 2000, window: 6 },
    }],
    ["an HLS window of 31", {
      type: "stream-rules",
      name: "live/cam1",
      hls: { ...HLS, window: 31 },
    }],
    ["an ended stream without a name", { type: "stream-ended" }],
    ["an access wait of 0", { type: "access-rules", waitMs: 0 }],
    ["an answer without an id", { type: "access-answer", answer: { allowed: true, ttlMs: 1 } }],
    ["a demand answer without a wait", { type: "demand-answer", id: 1 }],
    ["a demand answer with a negative wait", { type: "demand-answer", id: 1, waitMs: -1 }],
    ["a demand answer with a wait over ten minutes", {
      type: "demand-answer",
      id: 1,
      waitMs: 600_001,
    }],
    ["an answer kept too long", {
      type: "access-answer",
      id: 1,
      answer: { allowed: true, ttlMs: 3_600_000 },
    }],
    ["a refusal of status 500", {
      type: "access-answer",
      id: 1,
      answer: { allowed: false, status: 500, message: "x", ttlMs: 0 },
    }],
    ["a refusal without a message", {
      type: "access-answer",
      id: 1,
      answer: { allowed: false, status: 403, ttlMs: 0 },
    }],
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
    { type: "stats", streams: [STATS], rateLimited: { hls: 3, "http-ts": 0 } },
    { type: "stats", streams: [], rateLimited: { hls: 0, "http-ts": 0 } },
    { type: "access-request", id: 3, request: ACCESS },
    { type: "access-request", id: 4, request: { ...ACCESS, query: "", bearer: "token" } },
    { type: "demand", id: 5, stream: "live/cam1" },
    { type: "log", level: "warning", message: "HTTP cannot accept connections" },
  ];
  for (const report of reports) assert.deepEqual(parseOutputReport(JSON.stringify(report)), report);
});

Deno.test("parseOutputReport() refuses a report that is not whole", () => {
  const cases: [string, unknown][] = [
    ["a listening report without an address", { type: "listening" }],
    ["stats with a negative count", {
      type: "stats",
      rateLimited: { hls: 0, "http-ts": 0 },
      streams: [{ ...STATS, clients: -1 }],
    }],
    ["stats with a fractional count", {
      type: "stats",
      rateLimited: { hls: 0, "http-ts": 0 },
      streams: [{ ...STATS, bytesSent: 0.5 }],
    }],
    ["stats of an invalid stream name", {
      type: "stats",
      rateLimited: { hls: 0, "http-ts": 0 },
      streams: [{ ...STATS, name: "" }],
    }],
    ["stats without the HLS figures", {
      type: "stats",
      rateLimited: { hls: 0, "http-ts": 0 },
      streams: [{ name: "a", clients: 0, bytesSent: 0, skips: 0 }],
    }],
    ["stats without the rate-limited counts", { type: "stats", streams: [] }],
    ["stats with a rate-limited count missing", {
      type: "stats",
      streams: [],
      rateLimited: { hls: 1 },
    }],
    ["stats with a negative rate-limited count", {
      type: "stats",
      streams: [],
      rateLimited: { hls: -1, "http-ts": 0 },
    }],
    ["a log of an unknown level", { type: "log", level: "fatal", message: "x" }],
    ["an access request of another protocol", {
      type: "access-request",
      id: 1,
      request: { ...ACCESS, protocol: "rtmp" },
    }],
    ["an access request of an invalid stream name", {
      type: "access-request",
      id: 1,
      request: { ...ACCESS, stream: "a/../b" },
    }],
    ["an access request with a long query", {
      type: "access-request",
      id: 1,
      request: { ...ACCESS, query: "x".repeat(2049) },
    }],
    ["an access request without an id", { type: "access-request", request: ACCESS }],
    ["a demand without an id", { type: "demand", stream: "live/cam1" }],
    ["a demand of an invalid stream name", { type: "demand", id: 1, stream: "a/../b" }],
    ["a demand without a stream", { type: "demand", id: 1 }],
  ];
  for (const [name, value] of cases) {
    assert.throws(() => parseOutputReport(JSON.stringify(value)), TypeError, name);
  }
});
