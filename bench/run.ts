/**
 * Atoll's benchmarks: `deno task bench` (`deno run -A bench/run.ts`).
 *
 *     deno task bench [--quick]
 *                     [--only connect,resources,many,streams,storms,child-start,idle,restart,relays,http,hls-latency]
 *                     [--callers N] [--compare-worker OTHER_CHECKOUT/workers/peer.ts]
 *                     [--atoll-main OTHER_CHECKOUT/main.ts]
 *
 * 1. connect time, sequential and simultaneous, async and blocking callers,
 *    against Atoll and single-process libsrt listeners;
 * 2. a child's private memory; 3. a child's CPU receiving a paced stream,
 *    against srt-live-transmit; 4. many simultaneous callers; 5. one 8
 *    Mbit/s publisher to 1, 10 and 50 viewers, against an srt-live-transmit
 *    relay; 6. bursts of callers with libsrt's default 3 s timeout, and
 *    storms of callers that retry every second, against a single-process
 *    libsrt listener; 7. what a child costs to start, against bare Deno
 *    processes (`--compare-worker`: another checkout's child beside this
 *    one's); 8. what a connection costs idle and at 5 Mbit/s, against a C
 *    program holding one libsrt connection; 9. a crash of the main process:
 *    the media gap its viewers see, how long a new main process takes to
 *    adopt the connected children, and what the orphans cost meanwhile; and
 *    upgrades (SIGUSR2) under a live fan-out of 10 viewers; 10. relays: the
 *    latency one relay hop adds (an Atoll edge pulling from an Atoll origin,
 *    against an srt-live-transmit edge in the same window, and
 *    srt-live-transmit chained alone), and the origin's CPU per edge; 11.
 *    HTTP outputs: HLS and HTTP-TS latency per frame, CPU per HTTP-TS and
 *    HLS client, and 200 HLS players on one stream, against ffmpeg's HLS
 *    muxer served by a static file server; and (`hls-latency`) HLS
 *    glass-to-glass in headless chromium with hls.js, against the same
 *    (`--atoll-main`: another checkout's Atoll in its place, a branch before
 *    it lands, say).
 *
 * Writes the raw results to `bench/results/<time>.json` (and `latest.json`)
 * and prints a Markdown summary. Everything runs on 127.0.0.1; every
 * process it starts is stopped on the way out, also on errors and Ctrl-C.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { formatSrtVersion, libsrt } from "../ffi/libsrt.ts";
import { killLeftoverChildren } from "../tests/support/atoll.ts";
import { stopAll } from "../tests/support/process.ts";
import { foreignProcesses } from "../tests/support/procfs.ts";
import { benchConnectTime } from "./connect_time.ts";
import { benchHttp, httpSection, type HttpSuite } from "./http.ts";
import { benchHlsLatency, hlsLatencySection, type HlsLatencySuite } from "./hls_latency.ts";
import { benchIdle, idleSection, type IdleSuite } from "./idle.ts";
import { benchManyCallers } from "./many_callers.ts";
import { type BenchResults, type Machine, renderSummary } from "./report.ts";
import { benchResources } from "./resources.ts";
import { benchRelays, relaysSection, type RelaysSuite } from "./relays.ts";
import { benchRestart, restartSection, type RestartSuite } from "./restart.ts";
import { startSrt } from "./srt.ts";
import { benchStorms } from "./storms.ts";
import { benchStreams } from "./streams.ts";
import { benchChildStart, childStartSection, type ChildStartSuite } from "./child_start.ts";

const SUITES = [
  "connect",
  "resources",
  "many",
  "streams",
  "storms",
  "child-start",
  "idle",
  "restart",
  "relays",
  "http",
  "hls-latency",
] as const;
type Suite = typeof SUITES[number];

const RESULTS_DIR = new URL("./results/", import.meta.url);

/** The commit measured, and the files outside bench/ changed since it. */
async function revision(): Promise<{ commit: string; changed: string[] }> {
  const git = async (...args: string[]) => {
    const out = await new Deno.Command("git", { args, cwd: new URL("..", import.meta.url) })
      .output().catch(() => undefined);
    return out?.success ? new TextDecoder().decode(out.stdout) : "";
  };
  const commit = (await git("rev-parse", "--short", "HEAD")).trim() || "unknown";
  const changed = (await git("status", "--porcelain")).split("\n")
    .filter((line) => line.trim() !== "" && !/ bench\/|BENCHMARKS\.md/.test(line));
  return { commit, changed };
}

async function machine(): Promise<Machine> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo");
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? "unknown";
  const slt = await new Deno.Command("srt-live-transmit", { args: ["-version"] }).output()
    .then((out) => new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr))
    .catch((error) => `not found: ${error}`);
  return {
    nproc: navigator.hardwareConcurrency,
    cpuModel: model.trim(),
    kernel: `${Deno.build.os} ${Deno.osRelease()} ${Deno.build.arch}`,
    deno: `${Deno.version.deno} (V8 ${Deno.version.v8})`,
    libsrt: formatSrtVersion(libsrt().srt_getversion()),
    srtLiveTransmit: /version:?\s*([\d.]+)/i.exec(slt)?.[1] ?? slt.trim().split("\n")[0] ?? "",
  };
}

function log(line: string): void {
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}`);
}

/** Stops everything the bench started; safe to call more than once. */
async function cleanUp(): Promise<void> {
  await stopAll(12_000);
  const killed = await killLeftoverChildren();
  if (killed > 0) log(`killed ${killed} Atoll child(ren) left behind`);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean", default: false },
      only: { type: "string" },
      callers: { type: "string" },
      "compare-worker": { type: "string" },
      "atoll-main": { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(
      `deno task bench [--quick] [--only ${SUITES}] [--callers N] [--compare-worker PATH] [--atoll-main PATH]`,
    );
    return 0;
  }
  const only = (values.only?.split(",") ?? [...SUITES]) as Suite[];
  for (const name of only) {
    if (!SUITES.includes(name)) throw new TypeError(`Unknown suite "${name}": one of ${SUITES}`);
  }
  const quick = values.quick;
  const callers = Number(values.callers ?? (quick ? 10 : 50));
  if (!Number.isInteger(callers) || callers < 1 || callers > 200) {
    throw new RangeError(`--callers must be 1 to 200, not ${values.callers}`);
  }

  startSrt();
  // Benchmark 6 is rendered here, after the others (bench/report.ts does not know it).
  const results: BenchResults & { childStart?: ChildStartSuite } = {
    startedAt: new Date().toISOString(),
    finishedAt: "",
    command: ["deno task bench", ...Deno.args].join(" "),
    quick,
    machine: await machine(),
    revision: await revision(),
    foreignProcesses: [],
  };
  const started = performance.now();
  const checkForeign = (when: string) => {
    const seen = foreignProcesses();
    results.foreignProcesses.push({ when, processes: seen });
    if (seen.length > 0) log(`warning: ${seen.length} other deno/SRT process(es) share the CPUs`);
  };
  checkForeign("start");
  // After each measurement (never during one): log it and look for company.
  const progress = (line: string) => {
    log(line);
    checkForeign(line);
  };
  if (only.includes("connect")) {
    log(`connect time: ${callers} callers per run`);
    results.connect = await benchConnectTime(
      { callers, kinds: ["async", "blocking"] },
      progress,
    );
  }
  if (only.includes("resources")) {
    log("memory and receive CPU");
    results.resources = await benchResources(
      { windowSeconds: quick ? 5 : 8, rates: [10, 100] },
      progress,
    );
  }
  if (only.includes("many")) {
    log("many simultaneous callers");
    results.many = await benchManyCallers(
      { callers: 200, connectTimeouts: quick ? [10_000] : [10_000, 3000] },
      progress,
    );
  }
  if (only.includes("streams")) {
    log("one publisher, many viewers");
    results.streams = await benchStreams(
      { viewerCounts: [1, 10, 50], windowSeconds: quick ? 5 : 8, mbps: 8 },
      progress,
    );
  }
  if (only.includes("storms")) {
    log("bursts and storms of callers");
    results.storms = await benchStorms(
      {
        ...(quick
          ? { bursts: [50, 150], storms: [200], callerNice: [0] }
          : { bursts: [50, 150, 300], storms: [200, 600], callerNice: [0, 10] }),
        stormDeadlineMs: 60_000,
        prestartedFrom: 150,
        prestartedPool: 48,
      },
      progress,
    );
  }
  if (only.includes("child-start")) {
    log("child start");
    const compareWorker = values["compare-worker"];
    results.childStart = await benchChildStart(
      { rounds: quick ? 10 : 30, ...(compareWorker === undefined ? {} : { compareWorker }) },
      progress,
    );
  }
  let idle: IdleSuite | undefined;
  if (only.includes("idle")) {
    log("idle connections against a C floor");
    idle = await benchIdle(
      {
        windowSeconds: quick ? 10 : 20,
        rounds: quick ? 2 : 3,
        manyIdle: quick ? [] : [100, 300],
        manyActive: quick ? 0 : 100,
      },
      progress,
    );
  }
  let restart: RestartSuite | undefined;
  if (only.includes("restart")) {
    log("a crash of the main process, a new one that adopts its children, and upgrades");
    restart = await benchRestart(
      {
        mbps: 4,
        viewers: 5,
        mediaRounds: quick ? 1 : 3,
        idleCounts: quick ? [20] : [50, 100, 200],
        upgradeViewers: 10,
        upgradeRounds: quick ? 2 : 4,
      },
      progress,
    );
  }
  let relays: RelaysSuite | undefined;
  if (only.includes("relays")) {
    log("relays: what a hop adds, against srt-live-transmit, and the origin's CPU per edge");
    relays = await benchRelays(
      {
        mbps: 8,
        windowSeconds: quick ? 5 : 15,
        edges: quick ? 3 : 5,
        warmupSeconds: quick ? 3 : 12,
      },
      progress,
    );
  }
  let http: HttpSuite | undefined;
  if (only.includes("http")) {
    log("HTTP outputs: HLS and HTTP-TS latency, CPU per client, 200 HLS players, against ffmpeg");
    http = await benchHttp(
      quick
        ? {
          mbps: 2,
          latencySeconds: 12,
          clientCounts: [0, 50],
          cpuWindowSeconds: 4,
          warmupSeconds: 2,
          crowd: 200,
          crowdSeconds: 10,
        }
        : {
          mbps: 2,
          latencySeconds: 60,
          clientCounts: [0, 10, 50],
          cpuWindowSeconds: 15,
          warmupSeconds: 5,
          crowd: 200,
          crowdSeconds: 20,
        },
      progress,
    );
  }
  let hlsLatency: HlsLatencySuite | undefined;
  if (only.includes("hls-latency")) {
    log("HLS glass-to-glass in chromium with hls.js, against ffmpeg's HLS muxer");
    const atollMain = values["atoll-main"];
    hlsLatency = await benchHlsLatency(
      {
        ...(quick
          ? { rounds: 1, warmupSeconds: 3, windowSeconds: 10 }
          : { rounds: 3, warmupSeconds: 5, windowSeconds: 20 }),
        ...(atollMain === undefined ? {} : { atollMain }),
      },
      progress,
    );
  }
  results.finishedAt = new Date().toISOString();
  log(`done in ${((performance.now() - started) / 1000).toFixed(0)} s`);

  await Deno.mkdir(RESULTS_DIR, { recursive: true });
  const json = `${
    JSON.stringify({ ...results, idle, restart, relays, http, hlsLatency }, null, 2)
  }\n`;
  const file = new URL(`${results.startedAt.replaceAll(":", "-")}.json`, RESULTS_DIR);
  await Deno.writeTextFile(file, json);
  await Deno.writeTextFile(new URL("latest.json", RESULTS_DIR), json);
  log(`raw results: ${file.pathname}`);
  console.log(renderSummary(results));
  if (results.childStart) {
    console.log(["", "## 7. Child start", "", childStartSection(results.childStart)].join("\n"));
  }
  if (idle !== undefined) {
    console.log(
      `\n## 8. Idle connections against a C floor\n\n- Atoll: \`${idle.atollCommand}\`` +
        `\n- floor: \`${idle.floorCommand}\`\n\n${idleSection(idle)}`,
    );
  }
  if (restart !== undefined) {
    console.log(`\n## 9. Restart: a crash of the main process\n\n${restartSection(restart)}`);
  }
  if (relays !== undefined) {
    console.log(`\n## 10. Relays\n\n${relaysSection(relays)}`);
  }
  if (http !== undefined) {
    console.log(`\n## 11. HTTP outputs\n\n${httpSection(http)}`);
  }
  if (hlsLatency !== undefined) {
    console.log(`\n## 11. HLS glass-to-glass\n\n${hlsLatencySection(hlsLatency)}`);
  }
  return 0;
}

if (import.meta.main) {
  const interrupt = () => {
    log("interrupted: stopping every process the bench started");
    cleanUp().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", interrupt);
  Deno.addSignalListener("SIGTERM", interrupt);
  let code = 1;
  try {
    code = await main();
  } catch (error) {
    log(`failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
  } finally {
    await cleanUp();
  }
  Deno.exit(code);
}
