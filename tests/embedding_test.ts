/**
 * End to end: Atoll embedded by another project. A script in a temporary
 * directory, outside this checkout and without its deno.json, imports
 * `mod.ts` by file URL, starts a server on loopback, asks `/healthz` and
 * `/api/stats`, and shuts down. Every run is bounded by a timeout.
 */

import assert from "node:assert/strict";
import { runDeno, type RunResult } from "./support/mod.ts";

/** The embedding script gets this long to start, answer and stop. */
const RUN_TIMEOUT_MS = 60_000;

const MOD_URL = new URL("../mod.ts", import.meta.url).href;

/** What the embedding project's script does with Atoll. */
const EMBED_SCRIPT = `import { AtollServer } from ${JSON.stringify(MOD_URL)};

await using server = await AtollServer.start({
  srtListen: { hostname: "127.0.0.1", port: 0 },
  httpListen: { hostname: "127.0.0.1", port: 0 },
  mediaListen: { hostname: "127.0.0.1", port: 0 },
});
const { hostname, port } = server.httpAddress;
const response = await fetch(\`http://\${hostname}:\${port}/healthz\`);
const body = await response.text();
const stats = await (await fetch(\`http://\${hostname}:\${port}/api/stats\`)).json();
console.log(JSON.stringify({
  status: response.status,
  body,
  srtPort: server.srtAddress.port,
  stats,
}));
`;

interface EmbedReport {
  status: number;
  body: string;
  srtPort: number;
  stats: Record<string, unknown>;
}

/** Runs `deno run -A ...args` in `cwd`, killing it after {@link RUN_TIMEOUT_MS}. */
function runIn(cwd: string, args: string[]): Promise<RunResult> {
  return runDeno(args, { cwd, timeoutMs: RUN_TIMEOUT_MS });
}

function assertEmbeddedRun(result: RunResult): EmbedReport {
  assert.equal(result.timedOut, false, `exits on its own: ${result.stderr}`);
  assert.equal(result.code, 0, result.stderr);
  const report: EmbedReport = JSON.parse(result.stdout.trim());
  assert.equal(report.status, 200, result.stderr);
  assert.equal(report.body, "ok\n");
  assert.ok(report.srtPort > 0, `an SRT port was bound: ${result.stdout}`);
  return report;
}

/** The README's part on `GET /api/stats`: its field table and the list of drop reasons. */
async function readmeStatsSection(): Promise<string> {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const start = readme.indexOf("`GET /api/stats` (a JSON object");
  const end = readme.indexOf("What each connection costs", start);
  assert.ok(start >= 0 && end > start, "the README has a section on the /api/stats fields");
  return readme.slice(start, end);
}

Deno.test("mod.ts runs from a project with a deno.json of its own that maps nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "atoll-embed-" });
  try {
    // Atoll's own flags are the only thing the embedding project must set.
    await Deno.writeTextFile(
      `${dir}/deno.json`,
      JSON.stringify({ unstable: ["net", "raw-imports"] }),
    );
    await Deno.writeTextFile(`${dir}/embed.ts`, EMBED_SCRIPT);
    assertEmbeddedRun(await runIn(dir, ["embed.ts"]));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mod.ts runs from a directory with no deno.json, given the unstable flags", async () => {
  const dir = await Deno.makeTempDir({ prefix: "atoll-embed-" });
  try {
    await Deno.writeTextFile(`${dir}/embed.ts`, EMBED_SCRIPT);
    assertEmbeddedRun(
      await runIn(dir, ["--unstable-net", "--unstable-raw-imports", "embed.ts"]),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("every field GET /api/stats answers, and every key of its counters, is in the README", async () => {
  const dir = await Deno.makeTempDir({ prefix: "atoll-embed-" });
  let report: EmbedReport;
  try {
    await Deno.writeTextFile(`${dir}/embed.ts`, EMBED_SCRIPT);
    report = assertEmbeddedRun(
      await runIn(dir, ["--unstable-net", "--unstable-raw-imports", "embed.ts"]),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const section = await readmeStatsSection();
  const fields = Object.keys(report.stats);
  assert.ok(fields.length >= 12, `a whole answer: ${fields.join(" ")}`);
  for (const [field, value] of Object.entries(report.stats)) {
    assert.ok(section.includes(`| \`${field}\``), `the README's table has a row for ${field}`);
    if (typeof value === "object" && value !== null) {
      for (const key of Object.keys(value)) {
        assert.ok(section.includes(`\`${key}\``), `the README names ${field}.${key}`);
      }
    }
  }
});
