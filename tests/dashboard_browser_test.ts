/**
 * The dashboard at `/` in a real browser: headless Debian chromium, driven by
 * playwright-core from tests/browser/dashboard_check.mjs (run with Node),
 * against a real Atoll with a live ffmpeg publisher.
 */

import assert from "node:assert/strict";
import { Atoll, ffmpegPublisher, waitFor } from "./support/mod.ts";

const TOKEN = "dashboard-token-0123456789";
const CHECK = new URL("./browser/dashboard_check.mjs", import.meta.url).pathname;
const PLAYWRIGHT =
  new URL("../toolchain/node_modules/playwright-core/package.json", import.meta.url)
    .pathname;
const CHROMIUM = "/usr/bin/chromium";
/** The check's own budget for every wait; the process gets a little more before it is killed. */
const CHECK_TIMEOUT_MS = 20_000;

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Runs the browser check, bounded in time; its last stdout line is a JSON report. */
async function runCheck(port: number, stream: string): Promise<{
  code: number;
  report: Record<string, unknown>;
  stderr: string;
}> {
  const child = new Deno.Command("node", {
    args: [
      CHECK,
      "--port",
      String(port),
      "--stream",
      stream,
      "--timeout-ms",
      `${CHECK_TIMEOUT_MS}`,
    ],
    // The token goes by environment, not argv, where ps would show it.
    env: { ATOLL_API_TOKEN: TOKEN },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // SIGTERM first: playwright then closes chromium on its way out.
  const terminate = setTimeout(() => child.kill("SIGTERM"), CHECK_TIMEOUT_MS + 10_000);
  const kill = setTimeout(() => child.kill("SIGKILL"), CHECK_TIMEOUT_MS + 15_000);
  try {
    const output = await child.output();
    const lines = new TextDecoder().decode(output.stdout).trim().split("\n");
    let report: Record<string, unknown>;
    try {
      report = JSON.parse(lines.at(-1) ?? "");
    } catch {
      report = { unparsed: lines.join("\n") };
    }
    return { code: output.code, report, stderr: new TextDecoder().decode(output.stderr) };
  } finally {
    clearTimeout(terminate);
    clearTimeout(kill);
  }
}

Deno.test("the dashboard at / shows a live publisher, plots its bitrate and kicks it", async () => {
  const needed = { "Debian chromium": CHROMIUM, "playwright-core": PLAYWRIGHT };
  for (const [what, path] of Object.entries(needed)) {
    assert.ok(await exists(path), `${what} is missing (${path}): run scripts/setup.sh --test`);
  }
  await using atoll = await Atoll.start(["--api-token", TOKEN]);
  await using publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${atoll.srtPort}?streamid=publish:live/dashboard`,
  );
  const connection = await waitFor(
    "the publisher sending",
    async () =>
      (await atoll.connections()).find((c) =>
        c.stream === "live/dashboard" && c.mode === "publish" && c.bytesReceived > 0
      ),
    { timeoutMs: 15_000 },
  );

  const { code, report, stderr } = await runCheck(atoll.httpPort, "live/dashboard");
  const seen = JSON.stringify(report, null, 2);
  assert.equal(code, 0, `the browser check failed: ${seen}\n${stderr}`);
  assert.equal(report.ok, true, seen);
  const { id, cells } = report.publisher as { id: string; cells: string[] };
  assert.equal(id, connection.id, "the page showed the publisher's connection");
  // CPU %, private and PSS MiB: a dash until the server has sampled the process, then a number.
  for (const value of cells.slice(12, 15)) assert.match(value, /^(\u2013|\d+\.\d)$/, seen);
  const plot = report.plot as { points: number[]; recentMbps: number[]; redrawn: boolean };
  assert.ok(plot.points[1]! > plot.points[0]! && plot.points[0]! >= 3, seen);
  assert.ok(new Set(plot.recentMbps).size >= 2, seen);

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
