/**
 * The dashboard at `/` in a real browser: headless Debian chromium, driven by
 * playwright-core from tests/browser/dashboard_check.mjs (run with Node),
 * against a real Atoll with two live ffmpeg publishers and a viewer held for
 * a stream that has none.
 */

import assert from "node:assert/strict";
import {
  assertBrowserTools,
  ffmpegPublisher,
  runBrowserCheck,
  srtLiveTransmitViewer,
  startWithConfig,
  waitFor,
} from "./support/mod.ts";

const TOKEN = "dashboard-token-0123456789";

/** Runs dashboard_check.mjs against the API on `port`. */
function runCheck(port: number, streams: { live: string; held: string; end: string }) {
  return runBrowserCheck("dashboard_check.mjs", {
    args: [
      "--port",
      String(port),
      "--stream",
      streams.live,
      "--held-stream",
      streams.held,
      "--end-stream",
      streams.end,
    ],
    token: TOKEN,
  });
}

Deno.test("the dashboard at / fits 1280 px, shows a held viewer as waiting, ends a stream and kicks a publisher", async () => {
  await assertBrowserTools();
  // The held viewer must still be waiting when the page looks (the default wait is 2.5 s), and
  // its caller with it: one whose connect timeout (3 s by default) ran out is let go.
  await using atoll = await startWithConfig("playWaitMs: 120000\n", ["--api-token", TOKEN]);
  const srt = (streamId: string) => `srt://127.0.0.1:${atoll.srtPort}?streamid=${streamId}`;
  // A long name, to see that it wraps rather than widens the tables.
  const ending = "live/a-stream-with-a-rather-long-name-that-the-dashboard-ends";
  await using publisher = await ffmpegPublisher(srt("publish:live/dashboard"));
  await using endingPublisher = await ffmpegPublisher(srt(`publish:${ending}`));
  await using _heldViewer = srtLiveTransmitViewer(
    atoll.srtPort,
    "play:live/held&conntimeo=125000",
    "/dev/null",
  );
  const sending = (stream: string) => async () =>
    (await atoll.connections()).find((c) =>
      c.stream === stream && c.mode === "publish" && c.bytesReceived > 0
    );
  const connection = await waitFor("the publisher sending", sending("live/dashboard"), {
    timeoutMs: 15_000,
  });
  const endingConnection = await waitFor("the second publisher sending", sending(ending), {
    timeoutMs: 15_000,
  });
  const held = await waitFor(
    "the viewer held",
    async () => (await atoll.connections()).find((c) => c.stream === "live/held"),
    { timeoutMs: 15_000 },
  );
  // The API says it is held; its handshake is not done, so its state stays handshaking.
  assert.equal(held.waiting, true);
  assert.equal(held.state, "handshaking");
  assert.equal(held.mode, "play");
  assert.equal(connection.waiting, false);

  const { code, report, stderr } = await runCheck(atoll.httpPort, {
    live: "live/dashboard",
    held: "live/held",
    end: ending,
  });
  const seen = JSON.stringify(report, null, 2);
  assert.equal(code, 0, `the browser check failed: ${seen}\n${stderr}`);
  assert.equal(report.ok, true, seen);
  // The publisher sends the sample: H.264 320x240 at 25 fps, no audio.
  assert.match(
    String(report.tracksLine),
    /^H\.264 320\u00d7240 25 fps \u00b7 \d+\.\d\d Mbit\/s$/,
    seen,
  );
  const { id, fields } = report.publisher as { id: string; fields: Record<string, string> };
  assert.equal(id, connection.id, "the page showed the publisher's connection");
  // CPU %, private and PSS MiB: a dash until the server has sampled the process, then a number.
  for (const field of ["cpu", "privateDirty", "pss"]) {
    assert.match(fields[field] ?? "", /^(\u2013|\d+\.\d)$/, `${field}: ${seen}`);
  }
  const plot = report.plot as { points: number[]; recentMbps: number[]; redrawn: boolean };
  assert.ok(plot.points[1]! > plot.points[0]! && plot.points[0]! >= 3, seen);
  assert.ok(new Set(plot.recentMbps).size >= 2, seen);

  // At 1280x800 nothing is cut off, and the plots are large enough to read.
  const layout = report.layout as {
    innerWidth: number;
    clientWidth: number;
    scrollWidth: number;
    cells: number;
    plots: [number, number][];
    cut: string[];
  };
  assert.equal(layout.innerWidth, 1280, seen);
  assert.ok(layout.scrollWidth <= layout.clientWidth, seen);
  assert.deepEqual(layout.cut, [], seen);
  assert.ok(layout.cells > 0, seen);
  assert.equal(layout.plots.length, 3, `a plot per connection: ${seen}`);
  for (const [width, height] of layout.plots) assert.ok(width >= 300 && height >= 60, seen);

  // The held viewer shows as waiting, not as handshaking.
  assert.deepEqual(report.held, { id: held.id, mode: "viewer", state: "waiting" }, seen);

  // End stream asked before it ended anything; ended, its publisher's ffmpeg ends at once.
  const endStream = report.endStream as { confirmation: string };
  assert.ok(endStream.confirmation.includes(ending), seen);
  await endingPublisher.exit(10_000);
  assert.ok(!(await atoll.streams()).some((s) => s.name === ending));
  const ended = await waitFor(
    "the ended publisher's closing log line",
    () => atoll.findLog((l) => l.properties.id === endingConnection.id && "reason" in l.properties),
  );
  assert.equal(ended.properties.reason, "shutdown");
  assert.equal(ended.properties.detail, "ended through the API");

  // Kicked, ffmpeg ends at once; the server logs why.
  await publisher.exit(10_000);
  assert.ok(!(await atoll.connections()).some((c) => c.id === connection.id));
  const closed = await waitFor(
    "the closing log line",
    () => atoll.findLog((l) => l.properties.id === connection.id && "reason" in l.properties),
  );
  assert.equal(closed.properties.reason, "shutdown");
  assert.equal(closed.properties.detail, "closed through the API");
});
