import assert from "node:assert/strict";
import { type Environment, HELP_TEXT, parseCommandLine, UsageError } from "./cli.ts";
import { DEFAULT_OPTIONS, type ServerOptions } from "./options.ts";
import { readmeOptionDefaults } from "./testdata/readme_options.ts";

const VERSION = "0.1.0";

/** An environment holding only the given variables. */
function envOf(variables: Record<string, string>): Environment {
  return { get: (name) => Object.hasOwn(variables, name) ? variables[name] : undefined };
}

const serveCases: {
  name: string;
  args: string[];
  env?: Record<string, string>;
  expected: Partial<ServerOptions>;
}[] = [
  { name: "no arguments as the defaults", args: [], expected: {} },
  {
    name: "--srt-listen",
    args: ["--srt-listen", "[::]:9001"],
    expected: { srtListen: { hostname: "::", port: 9001 } },
  },
  {
    name: "--srt-listen with only a port",
    args: ["--srt-listen=:7000"],
    expected: { srtListen: { hostname: "0.0.0.0", port: 7000 } },
  },
  {
    name: "--http-listen with port 0",
    args: ["--http-listen", "127.0.0.1:0"],
    expected: { httpListen: { hostname: "127.0.0.1", port: 0 } },
  },
  {
    name: "--media-listen and --media-max-connections",
    args: ["--media-listen", "[::]:8090", "--media-max-connections", "50"],
    expected: { mediaListen: { hostname: "::", port: 8090 }, mediaMaxConnections: 50 },
  },
  { name: "--media-listen off", args: ["--media-listen", "off"], expected: { mediaListen: false } },
  {
    name: "--http-max-connections and --http-header-timeout",
    args: ["--http-max-connections", "7", "--http-header-timeout", "2500"],
    expected: { httpMaxConnections: 7, httpHeaderTimeoutMs: 2500 },
  },
  {
    name: "--http-allowed-hosts as a comma-separated list",
    args: ["--http-allowed-hosts", "atoll.example, 10.0.0.5,[fd00::1]"],
    expected: { httpAllowedHosts: ["atoll.example", "10.0.0.5", "[fd00::1]"] },
  },
  {
    name: "--http-allowed-hosts *",
    args: ["--http-allowed-hosts=*"],
    expected: { httpAllowedHosts: ["*"] },
  },
  {
    name: "--max-connections",
    args: ["--max-connections", "20"],
    expected: { maxConnections: 20 },
  },
  { name: "--max-handshakes", args: ["--max-handshakes", "5"], expected: { maxHandshakes: 5 } },
  {
    name: "--max-connections-per-ip",
    args: ["--max-connections-per-ip", "3"],
    expected: { maxConnectionsPerIp: 3 },
  },
  {
    name: "--max-new-connections-per-ip",
    args: ["--max-new-connections-per-ip", "10"],
    expected: { maxNewConnectionsPerIp: 10 },
  },
  { name: "--latency", args: ["--latency", "2000"], expected: { latencyMs: 2000 } },
  { name: "--latency 0", args: ["--latency=0"], expected: { latencyMs: 0 } },
  {
    name: "--latency with leading zeros",
    args: ["--latency", "0120"],
    expected: { latencyMs: 120 },
  },
  {
    name: "--config",
    args: ["--config", "/etc/atoll.yaml"],
    expected: { configPath: "/etc/atoll.yaml" },
  },
  {
    name: "--pid-file",
    args: ["--pid-file", "/run/atoll.pid"],
    expected: { pidFile: "/run/atoll.pid" },
  },
  {
    name: "--passphrase",
    args: ["--passphrase", "correct horse"],
    expected: { passphrase: "correct horse" },
  },
  {
    name: "--passphrase starting with a dash, given inline",
    args: ["--passphrase=-secret-phrase"],
    expected: { passphrase: "-secret-phrase" },
  },
  { name: "--pbkeylen", args: ["--pbkeylen", "32"], expected: { pbkeylen: 32 } },
  { name: "--idle-timeout", args: ["--idle-timeout", "30000"], expected: { idleTimeoutMs: 30000 } },
  {
    name: "--handshake-timeout",
    args: ["--handshake-timeout", "1000"],
    expected: { handshakeTimeoutMs: 1000 },
  },
  {
    name: "--shutdown-timeout",
    args: ["--shutdown-timeout", "0"],
    expected: { shutdownTimeoutMs: 0 },
  },
  { name: "--pool-size", args: ["--pool-size", "0"], expected: { poolSize: 0 } },
  { name: "--pool-max", args: ["--pool-max", "40"], expected: { poolMax: 40 } },
  {
    name: "--pool-max-starting",
    args: ["--pool-max-starting", "3"],
    expected: { poolMaxStarting: 3 },
  },
  {
    name: "--state-dir",
    args: ["--state-dir", "/run/atoll-a/"],
    expected: { stateDir: "/run/atoll-a" },
  },
  {
    name: "--caller-timeout",
    args: ["--caller-timeout", "15000"],
    expected: { callerTimeoutMs: 15_000 },
  },
  {
    name: "--no-fast-handshake",
    args: ["--no-fast-handshake"],
    expected: { fastHandshake: false },
  },
  { name: "--log-level", args: ["--log-level", "debug"], expected: { logLevel: "debug" } },
  { name: "--log-format", args: ["--log-format", "json"], expected: { logFormat: "json" } },
  {
    name: "the last of a repeated flag",
    args: ["--latency", "100", "--latency", "200"],
    expected: { latencyMs: 200 },
  },
  {
    name: "the passphrase from ATOLL_PASSPHRASE",
    args: [],
    env: { ATOLL_PASSPHRASE: "from the environment" },
    expected: { passphrase: "from the environment" },
  },
  {
    name: "--passphrase over ATOLL_PASSPHRASE",
    args: ["--passphrase", "from the command line"],
    env: { ATOLL_PASSPHRASE: "from the environment" },
    expected: { passphrase: "from the command line" },
  },
  {
    name: "an empty ATOLL_PASSPHRASE as unset",
    args: [],
    env: { ATOLL_PASSPHRASE: "" },
    expected: {},
  },
  {
    name: "every flag at once",
    args: [
      "--srt-listen=0.0.0.0:10000",
      "--http-listen=[::1]:8081",
      "--max-connections=500",
      "--max-handshakes=50",
      "--max-connections-per-ip=10",
      "--max-new-connections-per-ip=5",
      "--latency=500",
      "--passphrase=0123456789",
      "--pbkeylen=16",
      "--idle-timeout=10000",
      "--handshake-timeout=2000",
      "--shutdown-timeout=1000",
      "--pool-size=4",
      "--no-fast-handshake",
      "--log-level=warning",
      "--log-format=json",
    ],
    expected: {
      srtListen: { hostname: "0.0.0.0", port: 10000 },
      httpListen: { hostname: "::1", port: 8081 },
      maxConnections: 500,
      maxHandshakes: 50,
      maxConnectionsPerIp: 10,
      maxNewConnectionsPerIp: 5,
      latencyMs: 500,
      passphrase: "0123456789",
      pbkeylen: 16,
      idleTimeoutMs: 10000,
      handshakeTimeoutMs: 2000,
      shutdownTimeoutMs: 1000,
      poolSize: 4,
      fastHandshake: false,
      logLevel: "warning",
      logFormat: "json",
    },
  },
];

for (const { name, args, env, expected } of serveCases) {
  Deno.test(`parseCommandLine() reads ${name}`, () => {
    assert.deepEqual(parseCommandLine(args, VERSION, envOf(env ?? {})), {
      kind: "serve",
      options: { ...DEFAULT_OPTIONS, ...expected },
    });
  });
}

Deno.test("parseCommandLine() works without an environment", () => {
  assert.deepEqual(parseCommandLine([], VERSION), { kind: "serve", options: DEFAULT_OPTIONS });
});

const infoCases: { name: string; args: string[]; expected: string }[] = [
  { name: "--help", args: ["--help"], expected: "help" },
  { name: "-h", args: ["-h"], expected: "help" },
  { name: "--help after other flags", args: ["--latency", "100", "--help"], expected: "help" },
  { name: "--help before a bad value", args: ["--help", "--latency=abc"], expected: "help" },
  { name: "--help over --version", args: ["--version", "--help"], expected: "help" },
  { name: "--version", args: ["--version"], expected: "version" },
  { name: "-V", args: ["-V"], expected: "version" },
];

for (const { name, args, expected } of infoCases) {
  Deno.test(`parseCommandLine() answers ${name} with ${expected}`, () => {
    const result = parseCommandLine(args, VERSION);
    assert.equal(result.kind, expected);
    if (result.kind === "help") assert.equal(result.text, HELP_TEXT);
    if (result.kind === "version") assert.equal(result.text, `atoll ${VERSION}`);
  });
}

const usageErrorCases: {
  name: string;
  args: string[];
  env?: Record<string, string>;
  message: string;
}[] = [
  { name: "an unknown option", args: ["--foo"], message: 'Unknown option "--foo"' },
  { name: "an unknown short option", args: ["-x"], message: 'Unknown option "-x"' },
  {
    name: "an unknown option grouped with -h",
    args: ["-hx"],
    message: 'Unknown option "-x"',
  },
  {
    name: "--fast-handshake (only the negative exists)",
    args: ["--fast-handshake"],
    message: 'Unknown option "--fast-handshake"',
  },
  { name: "a positional argument", args: ["serve"], message: 'Unexpected argument "serve"' },
  {
    name: "a positional argument after --",
    args: ["--", "--latency"],
    message: 'Unexpected argument "--latency"',
  },
  { name: "a flag without its value", args: ["--latency"], message: "Missing value for --latency" },
  {
    name: "a flag followed by another flag",
    args: ["--latency", "--pool-size", "3"],
    message: 'Missing value for --latency (for a value starting with "-", write --latency=VALUE)',
  },
  {
    name: "a negative number given as a separate argument",
    args: ["--latency", "-1"],
    message: 'Missing value for --latency (for a value starting with "-", write --latency=VALUE)',
  },
  {
    name: "a value for a boolean flag",
    args: ["--no-fast-handshake=yes"],
    message: "Option --no-fast-handshake takes no value",
  },
  {
    name: "a non-numeric latency",
    args: ["--latency", "abc"],
    message: 'Invalid value for --latency: expected an integer from 0 to 60000, got "abc"',
  },
  {
    name: "a latency in exponent notation",
    args: ["--latency", "1e3"],
    message: 'Invalid value for --latency: expected an integer from 0 to 60000, got "1e3"',
  },
  {
    name: "a latency with trailing letters",
    args: ["--latency", "12abc"],
    message: 'Invalid value for --latency: expected an integer from 0 to 60000, got "12abc"',
  },
  {
    name: "an empty latency",
    args: ["--latency="],
    message: 'Invalid value for --latency: expected an integer from 0 to 60000, got ""',
  },
  {
    name: "a negative latency given inline",
    args: ["--latency=-1"],
    message: 'Invalid value for --latency: expected an integer from 0 to 60000, got "-1"',
  },
  {
    name: "a fractional latency",
    args: ["--latency", "1.5"],
    message: 'Invalid value for --latency: expected an integer from 0 to 60000, got "1.5"',
  },
  {
    name: "a hexadecimal latency",
    args: ["--latency", "0x10"],
    message: 'Invalid value for --latency: expected an integer from 0 to 60000, got "0x10"',
  },
  {
    name: "a latency with spaces",
    args: ["--latency", " 120"],
    message: 'Invalid value for --latency: expected an integer from 0 to 60000, got " 120"',
  },
  {
    name: "a latency out of range",
    args: ["--latency", "60001"],
    message: 'Invalid value for --latency: expected an integer from 0 to 60000, got "60001"',
  },
  {
    name: "zero connections",
    args: ["--max-connections", "0"],
    message: 'Invalid value for --max-connections: expected an integer from 1 to 100000, got "0"',
  },
  {
    name: "a pool of 65",
    args: ["--pool-size", "65"],
    message: 'Invalid value for --pool-size: expected an integer from 0 to 64, got "65"',
  },
  {
    name: "an idle timeout under its minimum",
    args: ["--idle-timeout", "999"],
    message: 'Invalid value for --idle-timeout: expected an integer from 1000 to 600000, got "999"',
  },
  {
    name: "pbkeylen 8",
    args: ["--pbkeylen", "8"],
    message: 'Invalid value for --pbkeylen: expected one of 0, 16, 24 or 32, got "8"',
  },
  {
    name: "a short passphrase, without showing it",
    args: ["--passphrase", "secret"],
    message: "Invalid value for --passphrase: expected 10 to 79 bytes, got a string of 6 bytes",
  },
  {
    name: "a short ATOLL_PASSPHRASE, without showing it",
    args: [],
    env: { ATOLL_PASSPHRASE: "secret" },
    message: "Invalid value for ATOLL_PASSPHRASE: expected 10 to 79 bytes, got a string of 6 bytes",
  },
  {
    name: "an empty pid file path",
    args: ["--pid-file="],
    message: 'Invalid value for --pid-file: expected a file path, got ""',
  },
  {
    name: "a pid file path naming a folder",
    args: ["--pid-file", "/run/"],
    message: 'Invalid value for --pid-file: expected a file path, got "/run/"',
  },
  {
    name: "--pid-file without its value",
    args: ["--pid-file"],
    message: "Missing value for --pid-file",
  },
  {
    name: "an unknown log level",
    args: ["--log-level", "warn"],
    message: 'Invalid value for --log-level: expected one of "debug", "info", "warning" or ' +
      '"error", got "warn"',
  },
  {
    name: "an unknown log format",
    args: ["--log-format", "yaml"],
    message: 'Invalid value for --log-format: expected one of "text" or "json", got "yaml"',
  },
  {
    name: "an SRT address without a port",
    args: ["--srt-listen", "0.0.0.0"],
    message: "Invalid value for --srt-listen: expected HOST:PORT, [IPV6]:PORT or :PORT " +
      'with a port from 0 to 65535, got "0.0.0.0"',
  },
  {
    name: "an HTTP address with an unbracketed IPv6 host",
    args: ["--http-listen", "::1:8080"],
    message: "Invalid value for --http-listen: expected HOST:PORT, [IPV6]:PORT or :PORT " +
      'with a port from 0 to 65535, got "::1:8080"',
  },
  {
    name: "a media address without a port",
    args: ["--media-listen", "127.0.0.1"],
    message: "Invalid value for --media-listen: expected HOST:PORT, [IPV6]:PORT or :PORT " +
      'with a port from 0 to 65535, or "off", got "127.0.0.1"',
  },
  {
    name: "no media connections at all",
    args: ["--media-max-connections", "0"],
    message: "Invalid value for --media-max-connections: expected an integer from 1 to " +
      '100000, got "0"',
  },
  {
    name: "no HTTP connections at all",
    args: ["--http-max-connections", "0"],
    message: "Invalid value for --http-max-connections: expected an integer from 1 to 10000, got " +
      '"0"',
  },
  {
    name: "an HTTP header timeout below 100 ms",
    args: ["--http-header-timeout", "99"],
    message: "Invalid value for --http-header-timeout: expected an integer from 100 to 600000, " +
      'got "99"',
  },
  {
    name: "an allowed host with a slash",
    args: ["--http-allowed-hosts", "a.example,evil/x"],
    message: "Invalid value for --http-allowed-hosts: expected a non-empty list of host names " +
      'or IP addresses, or ["*"], got "a.example,evil/x"',
  },
  {
    name: "an empty allowed host",
    args: ["--http-allowed-hosts", "a.example,"],
    message: "Invalid value for --http-allowed-hosts: expected a non-empty list of host names " +
      'or IP addresses, or ["*"], got "a.example,"',
  },
];

for (const { name, args, env, message } of usageErrorCases) {
  Deno.test(`parseCommandLine() rejects ${name}`, () => {
    assert.throws(() => parseCommandLine(args, VERSION, envOf(env ?? {})), (error) => {
      assert.ok(error instanceof UsageError);
      assert.equal(error.name, "UsageError");
      assert.equal(error.message, message);
      return true;
    });
  });
}

Deno.test("parseCommandLine() keeps every usage error on one line", () => {
  for (const { args, env } of usageErrorCases) {
    try {
      parseCommandLine(args, VERSION, envOf(env ?? {}));
    } catch (error) {
      assert.ok(error instanceof Error && !error.message.includes("\n"), String(error));
    }
  }
});

Deno.test("HELP_TEXT starts with the usage line", () => {
  assert.ok(HELP_TEXT.startsWith("Usage: atoll [options]\n"));
});

const helpMentions: string[] = [
  "--srt-listen HOST:PORT",
  "--http-listen HOST:PORT",
  "--http-max-connections N",
  "--http-header-timeout MS",
  "--http-allowed-hosts H,H",
  "--media-listen HOST:PORT",
  "--media-max-connections N",
  "--max-connections N",
  "--max-handshakes N",
  "--max-connections-per-ip N",
  "--max-new-connections-per-ip N",
  "--latency MS",
  "--passphrase P",
  "--pbkeylen N",
  "--idle-timeout MS",
  "--handshake-timeout MS",
  "--shutdown-timeout MS",
  "--pool-size N",
  "--pool-max N",
  "--pool-max-starting N",
  "--caller-timeout MS",
  "--state-dir DIR",
  "--no-fast-handshake",
  "--pid-file PATH",
  "--log-level LEVEL",
  "--log-format FORMAT",
  "-h, --help",
  "-V, --version",
  "ATOLL_LIBSRT",
  "ATOLL_PASSPHRASE",
];

for (const text of helpMentions) {
  Deno.test(`HELP_TEXT mentions ${text}`, () => {
    assert.ok(HELP_TEXT.includes(text));
  });
}

Deno.test("HELP_TEXT shows each default the README's option table documents", async () => {
  const table = await readmeOptionDefaults();
  // 16 flags with a value or none.
  assert.ok(table.size >= 16, `the README's table lists only ${[...table.keys()].join(" ")}`);
  for (const [flag, shown] of table) {
    const line = HELP_TEXT.split("\n").find((l) => l.trimStart().startsWith(`${flag} `));
    assert.ok(line !== undefined, `no line for ${flag}`);
    if (shown === "") assert.ok(!line.includes("(default:"), line);
    else if (shown === "CPUs") {
      assert.ok(line.endsWith(`(default: ${navigator.hardwareConcurrency})`), line);
    } else assert.ok(line.endsWith(`(default: ${shown})`), line);
  }
});
