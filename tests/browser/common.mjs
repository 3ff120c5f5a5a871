// What the browser checks (dashboard_check.mjs, preview_check.mjs) share:
// their common options (--host, --port, --stream, --token or
// ATOLL_API_TOKEN, --screenshot, --timeout-ms, --chromium), the report
// printed as one JSON line at exit (exit 2 on a usage error), and a
// browser session (also hls_glass.mjs's): the steps timed against one
// deadline with a watchdog past it, and headless Debian chromium launched
// through playwright-core with a throwaway profile, collecting page errors
// and Content Security Policy violations.

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

/**
 * Parses the command line (`extraOptions` besides the common ones;
 * `validate` throws for a bad value) and starts the clock and the watchdog.
 */
export function startBrowserCheck({ extraOptions = {}, validate = () => {} } = {}) {
  const report = { ok: false };
  const finish = (code) => {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    process.exit(code);
  };

  let options;
  try {
    ({ values: options } = parseArgs({
      options: {
        host: { type: "string", default: "127.0.0.1" },
        port: { type: "string" },
        stream: { type: "string" },
        token: { type: "string", default: process.env.ATOLL_API_TOKEN ?? "" },
        screenshot: { type: "string" },
        "timeout-ms": { type: "string", default: "20000" },
        chromium: { type: "string", default: "/usr/bin/chromium" },
        ...extraOptions,
      },
    }));
    if (!/^\d+$/.test(options.port ?? "")) throw new Error("--port PORT is required");
    if (!options.stream) throw new Error("--stream NAME is required");
    if (!options.token) throw new Error("--token or ATOLL_API_TOKEN is required");
    if (!(Number(options["timeout-ms"]) > 0)) throw new Error("--timeout-ms must be positive");
    validate(options);
  } catch (error) {
    report.reason = `Usage: ${error.message}`;
    finish(2);
  }

  const url = `http://${options.host}:${options.port}/`;
  report.url = url;
  return { report, options, url, ...browserSession(report, options, finish), finish };
}

/**
 * A browser session against one deadline (`options["timeout-ms"]` from
 * now): `step` notes each step in `report`, a watchdog past the deadline
 * closes the browser and calls `finish(1)`, `launch` starts
 * `options.chromium`, `close` stops the watchdog and the browser.
 */
export function browserSession(report, options, finish) {
  const deadline = Date.now() + Number(options["timeout-ms"]);
  /** What is left of the overall budget, for one wait. */
  const remaining = () => Math.max(1, deadline - Date.now());
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

  /**
   * Launches chromium (with `args` besides the usual flags) and returns its
   * page and the problems it reports as they come.
   */
  async function launch({ args = [], viewport }) {
    const { chromium } = require("playwright-core");
    userDataDir = await mkdtemp(join(tmpdir(), "atoll_chromium_"));
    step("launch chromium");
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: options.chromium,
      headless: true,
      args: [...CHROMIUM_ARGS, ...args],
      viewport,
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
    return { page, problems };
  }

  /** Stops the watchdog and closes the browser. */
  async function close() {
    clearTimeout(watchdog);
    await cleanUp();
  }

  return { deadline, remaining, step, launch, close };
}
