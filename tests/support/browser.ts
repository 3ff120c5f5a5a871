/**
 * Runs a browser check from tests/browser/ (dashboard_check.mjs,
 * preview_check.mjs) with Node: headless Debian chromium driven by
 * playwright-core, bounded in time, its last stdout line a JSON report.
 *
 * @module
 */

import assert from "node:assert/strict";

const PLAYWRIGHT =
  new URL("../../toolchain/node_modules/playwright-core/package.json", import.meta.url)
    .pathname;
const CHROMIUM = "/usr/bin/chromium";
/** The check's own budget for every wait; the process gets a little more before it is killed. */
export const CHECK_TIMEOUT_MS = 20_000;

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Fails unless chromium and playwright-core are installed (scripts/setup.sh --test). */
export async function assertBrowserTools(): Promise<void> {
  const needed = { "Debian chromium": CHROMIUM, "playwright-core": PLAYWRIGHT };
  for (const [what, path] of Object.entries(needed)) {
    assert.ok(await exists(path), `${what} is missing (${path}): run scripts/setup.sh --test`);
  }
}

/** What a browser check said. */
export interface BrowserCheckResult {
  code: number;
  report: Record<string, unknown>;
  stderr: string;
}

/**
 * Runs tests/browser/`script` with `args` (and `--timeout-ms`), the API
 * token passed by environment, not argv, where ps would show it.
 */
export async function runBrowserCheck(
  script: string,
  options: { args: string[]; token: string },
): Promise<BrowserCheckResult> {
  const check = new URL(`../browser/${script}`, import.meta.url).pathname;
  const child = new Deno.Command("node", {
    args: [check, ...options.args, "--timeout-ms", `${CHECK_TIMEOUT_MS}`],
    env: { ATOLL_API_TOKEN: options.token },
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
