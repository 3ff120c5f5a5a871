import assert from "node:assert/strict";
import { MAX_WAITING_LINES, ReportWriter } from "./reports.ts";

/** A sink that holds each write until the test lets it through. */
function heldSink() {
  const lines: string[] = [];
  let release = Promise.withResolvers<void>();
  return {
    lines,
    sink: async (bytes: Uint8Array) => {
      await release.promise;
      lines.push(new TextDecoder().decode(bytes).trimEnd());
    },
    release() {
      release.resolve();
      release = Promise.withResolvers<void>();
    },
    open() {
      release.resolve();
      release = { ...release, promise: Promise.resolve() };
    },
  };
}

const STATS = {
  clients: 1,
  bytesSent: 2,
  skips: 0,
  hlsClients: 1,
  hlsSegments: 3,
  hlsBytesSent: 4,
};

Deno.test("ReportWriter writes JSON lines in order, keeping only the newest stats while it waits", async () => {
  const held = heldSink();
  const writer = new ReportWriter(held.sink);
  writer.send({ type: "log", level: "info", message: "first" });
  writer.send({ type: "stats", streams: [], rateLimited: { hls: 0, "http-ts": 0 } });
  writer.send({ type: "log", level: "warning", message: "second" });
  writer.send({
    type: "stats",
    streams: [{ ...STATS, name: "live/a" }],
    rateLimited: { hls: 1, "http-ts": 0 },
  });
  held.open();
  await writer.flushed();
  assert.deepEqual(held.lines.map((line) => JSON.parse(line)), [
    { type: "log", level: "info", message: "first" },
    { type: "log", level: "warning", message: "second" },
    {
      type: "stats",
      streams: [{ ...STATS, name: "live/a" }],
      rateLimited: { hls: 1, "http-ts": 0 },
    },
  ]);
});

Deno.test("ReportWriter keeps a bounded queue for a main process that does not read", async () => {
  const held = heldSink();
  const writer = new ReportWriter(held.sink);
  for (let n = 0; n < MAX_WAITING_LINES + 10; n++) {
    writer.send({ type: "log", level: "info", message: `log ${n}` });
  }
  // The first went to the sink at once; of the rest, the oldest were dropped.
  assert.equal(writer.dropped, 9);
  held.open();
  await writer.flushed();
  assert.equal(held.lines.length, MAX_WAITING_LINES + 1);
  assert.equal(JSON.parse(held.lines.at(-1)!).message, `log ${MAX_WAITING_LINES + 9}`);
});

Deno.test("ReportWriter drops everything once stdout is gone", async () => {
  let writes = 0;
  const writer = new ReportWriter(() => {
    writes++;
    return Promise.reject(new Error("broken pipe"));
  });
  writer.send({ type: "log", level: "info", message: "lost" });
  await writer.flushed();
  writer.send({ type: "log", level: "info", message: "never tried" });
  await writer.flushed();
  assert.equal(writes, 1);
});
