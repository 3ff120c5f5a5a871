/**
 * End to end: the command line as a user meets it. Each test runs
 * `deno run -A main.ts ...` itself and checks exit codes, stdout and stderr;
 * every run is bounded by a timeout.
 */

import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import {
  childrenOf,
  isAlive,
  isStartupLine,
  type LogLine,
  LOOPBACK_ARGS,
  MAIN,
  ManagedProcess,
  parseLogLine,
  runDeno,
  type RunResult,
  waitFor,
} from "./support/mod.ts";

/** Exit code for anything the user can fix (bad flags, port in use, libsrt missing). */
const EXIT_USAGE = 2;

/** A run that should end on its own gets this long before it is killed. */
const RUN_TIMEOUT_MS = 20_000;

/** Runs Atoll to completion with `args`, killing it after {@link RUN_TIMEOUT_MS}. */
function runAtoll(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return runDeno([MAIN, ...args], { env, timeoutMs: RUN_TIMEOUT_MS });
}

function assertUsageError(result: RunResult): string {
  assert.equal(result.timedOut, false, "exits on its own");
  assert.equal(result.code, EXIT_USAGE, result.stderr);
  assert.equal(result.stdout, "");
  assert.match(result.stderr, /^atoll: [^\n]+\n$/, "exactly one line, prefixed `atoll: `");
  return result.stderr.trimEnd();
}

/** Atoll started with exactly `args`, left running; its standard error is kept line by line. */
function startAtoll(args: string[]): ManagedProcess {
  return ManagedProcess.start("atoll", Deno.execPath(), ["run", "-A", MAIN, ...args], {
    stdout: "null",
  });
}

/** The JSON startup line, which names the bound SRT and HTTP addresses, once it is there. */
function startupLine(atoll: ManagedProcess): Promise<LogLine> {
  return waitFor("the startup line", () => atoll.lines.map(parseLogLine).find(isStartupLine), {
    timeoutMs: 20_000,
  });
}

/** Pids of the running (not zombie) processes whose parent is `pid`. */
function childPids(pid: number): number[] {
  return childrenOf(pid).filter(isAlive);
}

Deno.test("--help exits 0 and lists every flag the README documents", async () => {
  const result = await runAtoll(["--help"]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stderr, "");
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const table = readme.split("\n").filter((line) => line.startsWith("| `-"));
  const flags = table.flatMap((line) =>
    [...line.matchAll(/`(--?[A-Za-z][a-z-]*)/g)].map((m) => m[1]!)
  );
  // 16 flags with a value or none, and two spellings each of help and version.
  assert.ok(flags.length >= 20, `the README's table lists only ${flags.join(" ")}`);
  for (const flag of flags) {
    // Whole flags only: --max-connections must not be found in --max-connections-per-ip.
    const whole = new RegExp(`(^|[\\s,])${flag}(?=[\\s,]|$)`, "m");
    assert.match(result.stdout, whole, `--help lists ${flag}`);
  }
  // A few defaults a user looks for.
  assert.match(result.stdout, /0\.0\.0\.0:9000/);
  assert.match(result.stdout, /127\.0\.0\.1:8080/);
  assert.equal((await runAtoll(["-h"])).stdout, result.stdout, "-h is --help");
});

Deno.test("--version and -V print `atoll` and the version in deno.json, and exit 0", async () => {
  for (const flag of ["--version", "-V"]) {
    const result = await runAtoll([flag]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `atoll ${denoJson.version}\n`);
    assert.equal(result.stderr, "");
  }
});

const badCommandLines: { name: string; args: string[]; mentions: string }[] = [
  { name: "an unknown flag", args: ["--bogus"], mentions: "--bogus" },
  { name: "an unknown short flag", args: ["-x"], mentions: "-x" },
  { name: "a non-numeric value", args: ["--latency", "abc"], mentions: "--latency" },
  { name: "a value out of range", args: ["--pool-size", "65"], mentions: "--pool-size" },
  { name: "a bad address", args: ["--srt-listen", "nowhere"], mentions: "--srt-listen" },
  { name: "a bad port", args: ["--http-listen", "127.0.0.1:70000"], mentions: "--http-listen" },
  { name: "an unknown log level", args: ["--log-level", "verbose"], mentions: "--log-level" },
  { name: "a missing value", args: ["--latency"], mentions: "--latency" },
  { name: "a value for a boolean flag", args: ["--no-fast-handshake=1"], mentions: "--no-fast" },
  { name: "a positional argument", args: ["serve"], mentions: "serve" },
  {
    name: "a positional argument after valid flags",
    args: ["--latency", "200", "extra"],
    mentions: "extra",
  },
];

for (const { name, args, mentions } of badCommandLines) {
  Deno.test(`${name} (${args.join(" ")}) exits 2 with one stderr line naming it`, async () => {
    const line = assertUsageError(await runAtoll(args));
    assert.ok(line.includes(mentions), `${JSON.stringify(line)} mentions ${mentions}`);
  });
}

Deno.test("an SRT port already in use exits 2 with one line naming the address", async (t) => {
  // libsrt binds with SO_REUSEADDR, so the holder that matters most sets it too.
  for (const reuseAddress of [true, false]) {
    await t.step(`held by a socket with reuseAddress ${reuseAddress}`, async () => {
      const holder = Deno.listenDatagram({
        transport: "udp",
        hostname: "127.0.0.1",
        port: 0,
        reuseAddress,
      });
      try {
        const port = (holder.addr as Deno.NetAddr).port;
        const line = assertUsageError(
          await runAtoll(["--srt-listen", `127.0.0.1:${port}`, "--http-listen", "127.0.0.1:0"]),
        );
        assert.ok(line.includes(`127.0.0.1:${port}`), line);
        assert.match(line, /already in use/);
      } finally {
        holder.close();
      }
    });
  }
});

Deno.test("an HTTP port already in use exits 2 with one line naming the address", async () => {
  const holder = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (holder.addr as Deno.NetAddr).port;
    const line = assertUsageError(
      await runAtoll(["--srt-listen", "127.0.0.1:0", "--http-listen", `127.0.0.1:${port}`]),
    );
    assert.ok(line.includes(`127.0.0.1:${port}`), line);
    assert.match(line, /already in use/);
  } finally {
    holder.close();
  }
});

Deno.test("a missing libsrt exits 2 with one line naming the package libsrt1.5-openssl", async () => {
  const line = assertUsageError(
    await runAtoll([...LOOPBACK_ARGS], {
      ATOLL_LIBSRT: "/nonexistent",
    }),
  );
  assert.match(line, /libsrt1\.5-openssl/);
  assert.match(line, /\/nonexistent/, "names the path it tried");
});

Deno.test("a bad config file exits 2 with one line naming the file and the key", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "atoll_config_" });
  try {
    const cases = [
      {
        name: "a value out of range",
        file: "bad.yaml",
        text: "streams:\n  - prefix: live\n    maxViewers: -1\n",
        expected: /bad\.yaml: streams\[0\]\.maxViewers: expected a positive integer/,
      },
      {
        name: "an unknown key",
        file: "typo.json",
        text: '{"graceMS": 1000}',
        expected: /typo\.json: graceMS: unknown key \(did you mean "graceMs"\?\)/,
      },
      { name: "a missing file", file: "absent.yaml", text: undefined, expected: /absent\.yaml/ },
    ];
    for (const { name, file, text, expected } of cases) {
      await t.step(name, async () => {
        const path = `${dir}/${file}`;
        if (text !== undefined) await Deno.writeTextFile(path, text);
        const line = assertUsageError(
          await runAtoll([...LOOPBACK_ARGS, "--config", path]),
        );
        assert.match(line, expected);
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("port 0 picks free ports, and the startup log line shows the bound ones", async () => {
  await using atoll = startAtoll([...LOOPBACK_ARGS, "--log-format", "json"]);
  const startup = await startupLine(atoll);
  const srtPort = Number(String(startup.properties.srt).match(/^127\.0\.0\.1:(\d+)$/)?.[1]);
  const httpPort = Number(String(startup.properties.http).match(/^127\.0\.0\.1:(\d+)$/)?.[1]);
  assert.ok(srtPort > 0 && srtPort < 65536, `SRT port ${startup.properties.srt}`);
  assert.ok(httpPort > 0 && httpPort < 65536, `HTTP port ${startup.properties.http}`);
  assert.ok(startup.message.includes(`127.0.0.1:${srtPort}`), startup.message);
  assert.ok(startup.message.includes(`127.0.0.1:${httpPort}`), startup.message);

  // Those really are the ports Atoll holds.
  const health = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
  assert.equal(health.status, 200);
  await health.body?.cancel();
  assert.throws(
    () => Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: srtPort }),
    Deno.errors.AddrInUse,
  );

  atoll.signal("SIGTERM");
  assert.equal((await atoll.exit()).code, 0);
});

Deno.test("SIGINT the instant the startup line appears still shuts down cleanly, exit code 0", async () => {
  // main.ts once added its signal listeners only after this line, so a
  // signal sent at once met Deno's default action (exit code 130).
  for (let attempt = 1; attempt <= 3; attempt++) {
    await using atoll = startAtoll([...LOOPBACK_ARGS, "--log-format", "json"]);
    await atoll.waitForLine(
      "the startup line",
      (line) => isStartupLine(parseLogLine(line)),
      20_000,
    );
    atoll.signal("SIGINT");
    const status = await atoll.exit();
    assert.equal(status.code, 0, `attempt ${attempt}: ${atoll.tail()}`);
  }
});

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test(`${signal} with no connections exits 0 within 3 s and leaves no child running`, async () => {
    // A shutdown that fell back to killing children would take 10 s.
    await using atoll = startAtoll([
      ...LOOPBACK_ARGS,
      "--log-format",
      "json",
      "--shutdown-timeout",
      "10000",
    ]);
    await startupLine(atoll);
    // The prestarted pool (2 children by default) is running.
    const children = await waitFor("the pool children", () => {
      const pids = childPids(atoll.pid);
      return pids.length >= 2 && pids;
    });

    const started = performance.now();
    atoll.signal(signal);
    const status = await atoll.exit();
    const elapsed = performance.now() - started;
    assert.equal(status.code, 0, atoll.lines.join("\n"));
    assert.equal(status.signal, null);
    assert.ok(elapsed < 3000, `exited after ${elapsed.toFixed(0)} ms`);
    assert.ok(atoll.lines.some((line) => line.includes('"Stopped"')), atoll.lines.join("\n"));
    assert.ok(!atoll.lines.some((line) => line.includes("Killing")), "no child needed killing");
    await waitFor("the children to be gone", () => children.every((pid) => !isAlive(pid)), {
      timeoutMs: 3000,
    });
  });
}
