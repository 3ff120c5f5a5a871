// Drives Atoll's dashboard in headless Debian chromium through playwright-core:
// enters the API token, waits for a live publisher's stream row and for its
// bitrate plot to move, clicks its Kick button and waits until the connection
// is gone from the page. Prints one JSON line with what it saw; exits 0 when
// everything held, 1 with a reason when not, 2 on a usage error.
//
//   node tests/browser/dashboard_check.mjs --port PORT --stream NAME [--token TOKEN]
//     [--host 127.0.0.1] [--timeout-ms 20000] [--chromium /usr/bin/chromium]
//
// The token may come from ATOLL_API_TOKEN instead of --token (kept out of ps).

import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

// playwright-core lives in toolchain/ (scripts/setup.sh installs it), not next to this file.
const require = createRequire(new URL("../../toolchain/package.json", import.meta.url));

/** Flags for Debian's chromium in a container: no sandbox, GPU, first-run or background traffic. */
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const report = { ok: false };

function finish(code) {
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.exit(code);
}

let options;
try {
  ({ values: options } = parseArgs({
    options: {
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string" },
      stream: { type: "string" },
      token: { type: "string", default: process.env.ATOLL_API_TOKEN ?? "" },
      "timeout-ms": { type: "string", default: "20000" },
      chromium: { type: "string", default: "/usr/bin/chromium" },
    },
  }));
  if (!/^\d+$/.test(options.port ?? "")) throw new Error("--port PORT is required");
  if (!options.stream) throw new Error("--stream NAME is required");
  if (!options.token) throw new Error("--token or ATOLL_API_TOKEN is required");
  if (!(Number(options["timeout-ms"]) > 0)) throw new Error("--timeout-ms must be positive");
} catch (error) {
  report.reason = `Usage: ${error.message}`;
  finish(2);
}

const url = `http://${options.host}:${options.port}/`;
const deadline = Date.now() + Number(options["timeout-ms"]);
/** What is left of the overall budget, for one wait. */
const remaining = () => Math.max(1, deadline - Date.now());
report.url = url;
report.steps = [];

let context;
let userDataDir;

async function cleanUp() {
  await context?.close().catch(() => {});
  if (userDataDir) await rm(userDataDir, { recursive: true, force: true }).catch(() => {});
}

// A last resort should a wait not honour its timeout: close the browser and fail.
const watchdog = setTimeout(async () => {
  report.reason = `Gave up after ${options["timeout-ms"]} ms (+5 s) at step ${report.step}`;
  await cleanUp();
  finish(1);
}, Number(options["timeout-ms"]) + 5000);

function step(name) {
  report.step = name;
  report.steps.push({ name, atMs: Number(options["timeout-ms"]) - (deadline - Date.now()) });
}

/** The publisher's plot: its data- attributes and a picture of it. */
function readPlot(page, id) {
  return page.evaluate((id) => {
    const canvas = [...document.querySelectorAll("canvas")].find((c) =>
      c.dataset.connectionId === id
    );
    if (!canvas) return null;
    return {
      points: Number(canvas.dataset.points),
      lastMbps: Number(canvas.dataset.lastMbps),
      lastRttMs: Number(canvas.dataset.lastRttMs),
      recentMbps: (canvas.dataset.recentMbps ?? "").split(" ").filter(Boolean).map(Number),
      label: canvas.getAttribute("aria-label"),
      image: canvas.toDataURL(),
    };
  }, id);
}

try {
  const { chromium } = require("playwright-core");
  userDataDir = await mkdtemp(join(tmpdir(), "atoll_chromium_"));
  step("launch chromium");
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: options.chromium,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: remaining(),
  });
  report.browser = context.browser()?.version() ?? null;
  const page = context.pages()[0] ?? await context.newPage();
  const problems = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (/Content.Security.Policy/i.test(message.text())) {
      problems.push(`CSP violation: ${message.text()}`);
    }
  });

  step("open the page");
  const response = await page.goto(url, { waitUntil: "load", timeout: remaining() });
  report.page = {
    status: response?.status() ?? null,
    contentType: response?.headers()["content-type"] ?? null,
    csp: response?.headers()["content-security-policy"] ?? null,
    title: await page.title(),
  };
  if (response?.status() !== 200) throw new Error(`GET / answered ${response?.status()}`);

  step("enter the API token");
  await page.getByLabel("API token").fill(options.token, { timeout: remaining() });
  await page.getByRole("button", { name: "Use token" }).click({ timeout: remaining() });

  step("wait for the stream row");
  const streamRow = await page.waitForFunction(
    (name) => {
      const row = [...document.querySelectorAll("#streams-body tr")].find((r) =>
        r.dataset.stream === name
      );
      return row && [...row.cells].map((c) => c.textContent);
    },
    options.stream,
    { timeout: remaining(), polling: 100 },
  );
  report.streamRow = await streamRow.jsonValue();

  step("wait for the publisher's connection row");
  const publisher = await page.waitForFunction(
    (name) => {
      const row = [...document.querySelectorAll("#connections-body tr")].find((r) =>
        r.cells[1]?.textContent === "publisher" && r.cells[2]?.textContent === name
      );
      return row &&
        { id: row.dataset.connectionId, cells: [...row.cells].map((c) => c.textContent) };
    },
    options.stream,
    { timeout: remaining(), polling: 100 },
  );
  const { id, cells } = await publisher.jsonValue();
  report.publisher = { id, cells };
  // Atoll's ids are UUIDs; anything else would not be safe in the selectors below.
  if (!/^[\w-]+$/.test(id ?? "")) throw new Error(`Unexpected connection id ${JSON.stringify(id)}`);
  if (!report.streamRow[1] || !id.startsWith(report.streamRow[1])) {
    throw new Error(`The stream row names publisher ${report.streamRow[1]}, not ${id}`);
  }

  step("wait for the bitrate plot to move");
  await page.waitForFunction(
    (id) => {
      const canvas = [...document.querySelectorAll("canvas")].find((c) =>
        c.dataset.connectionId === id
      );
      if (!canvas || Number(canvas.dataset.points) < 3) return false;
      const recent = (canvas.dataset.recentMbps ?? "").split(" ").filter(Boolean).map(Number);
      return new Set(recent).size >= 2 && Math.max(...recent) > 0;
    },
    id,
    { timeout: remaining(), polling: 100 },
  );
  const before = await readPlot(page, id);
  await page.waitForFunction(
    ([id, points]) =>
      [...document.querySelectorAll("canvas")].some((c) =>
        c.dataset.connectionId === id && Number(c.dataset.points) !== points
      ),
    [id, before.points],
    { timeout: remaining(), polling: 100 },
  );
  const after = await readPlot(page, id);
  report.plot = {
    points: [before.points, after.points],
    lastMbps: [before.lastMbps, after.lastMbps],
    recentMbps: after.recentMbps,
    lastRttMs: after.lastRttMs,
    label: after.label,
    redrawn: before.image !== after.image,
  };
  if (!report.plot.redrawn) throw new Error("The plot's pixels did not change with a new sample");

  step("click Kick");
  const kickedAt = Date.now();
  await page.locator(`#connections-body tr[data-connection-id="${id}"] button`, {
    hasText: "Kick",
  }).click({ timeout: remaining() });

  step("wait for the connection to leave the page");
  await page.locator(`#connections-body tr[data-connection-id="${id}"]`).waitFor({
    state: "detached",
    timeout: remaining(),
  });
  report.kick = {
    goneAfterMs: Date.now() - kickedAt,
    message: await page.locator("#action-message").textContent(),
    readMessage: await page.locator("#read-message").textContent(),
  };
  if (problems.length > 0) throw new Error(problems.join("; "));
  step("done");
  report.ok = true;
} catch (error) {
  report.reason = `${report.step}: ${error.message.split("\n")[0]}`;
} finally {
  clearTimeout(watchdog);
  await cleanUp();
}
finish(report.ok ? 0 : 1);
