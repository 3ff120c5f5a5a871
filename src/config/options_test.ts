import { STATE_DIR_DEFAULT } from "./cli.ts";
import assert from "node:assert/strict";
import {
  DEFAULT_OPTIONS,
  formatHostPort,
  type HostPort,
  OPTION_RULES,
  parseHostPort,
  resolveOptions,
  type ServerOptions,
} from "./options.ts";
import { readmeOptionDefaults } from "./testdata/readme_options.ts";

/** The flag that sets each option: how the README's table names it. */
const FLAGS: Record<keyof ServerOptions, string> = {
  srtListen: "--srt-listen",
  httpListen: "--http-listen",
  mediaListen: "--media-listen",
  mediaMaxConnections: "--media-max-connections",
  httpMaxConnections: "--http-max-connections",
  httpHeaderTimeoutMs: "--http-header-timeout",
  httpAllowedHosts: "--http-allowed-hosts",
  maxConnections: "--max-connections",
  maxHandshakes: "--max-handshakes",
  maxConnectionsPerIp: "--max-connections-per-ip",
  maxNewConnectionsPerIp: "--max-new-connections-per-ip",
  latencyMs: "--latency",
  passphrase: "--passphrase",
  pbkeylen: "--pbkeylen",
  idleTimeoutMs: "--idle-timeout",
  handshakeTimeoutMs: "--handshake-timeout",
  shutdownTimeoutMs: "--shutdown-timeout",
  poolSize: "--pool-size",
  poolMax: "--pool-max",
  poolMaxStarting: "--pool-max-starting",
  callerTimeoutMs: "--caller-timeout",
  childNice: "--child-nice",
  fastHandshake: "--no-fast-handshake",
  logLevel: "--log-level",
  logFormat: "--log-format",
  configPath: "--config",
  apiToken: "--api-token",
  pidFile: "--pid-file",
  stateDir: "--state-dir",
};

Deno.test("resolveOptions() raises the default pool maximum to a larger pool size", () => {
  assert.equal(resolveOptions({ poolSize: 40 }).poolMax, 40);
  assert.equal(resolveOptions({ poolSize: 4 }).poolMax, DEFAULT_OPTIONS.poolMax);
});

Deno.test("DEFAULT_OPTIONS holds the defaults of the README's option table", async () => {
  const table = await readmeOptionDefaults();
  const documented: Record<string, unknown> = {};
  for (const [option, flag] of Object.entries(FLAGS)) {
    const shown = table.get(flag);
    assert.ok(shown !== undefined, `the README's option table has no ${flag}`);
    if (flag.startsWith("--no-")) {
      assert.equal(shown, "", `${flag} is a switch`);
      documented[option] = true; // on unless the switch is given
    } else if (shown === "none" || shown === STATE_DIR_DEFAULT) {
      // Unset by default (the state directory is worked out at start).
    } else if (shown === "CPUs") {
      documented[option] = navigator.hardwareConcurrency;
    } else if (option === "srtListen" || option === "httpListen" || option === "mediaListen") {
      documented[option] = parseHostPort(shown, `default of ${flag}`);
    } else {
      documented[option] = /^[0-9]+$/.test(shown) ? Number(shown) : shown;
    }
  }
  assert.deepEqual(DEFAULT_OPTIONS, documented);
});

Deno.test("DEFAULT_OPTIONS is frozen, addresses included", () => {
  assert.ok(Object.isFrozen(DEFAULT_OPTIONS));
  assert.ok(Object.isFrozen(DEFAULT_OPTIONS.srtListen));
  assert.ok(Object.isFrozen(DEFAULT_OPTIONS.httpListen));
  assert.ok(Object.isFrozen(DEFAULT_OPTIONS.mediaListen));
});

Deno.test("DEFAULT_OPTIONS passes its own rules", () => {
  assert.deepEqual(resolveOptions(DEFAULT_OPTIONS), DEFAULT_OPTIONS);
});

Deno.test("resolveOptions() fills every default when given nothing", () => {
  assert.deepEqual(resolveOptions(), DEFAULT_OPTIONS);
  assert.deepEqual(resolveOptions({}), DEFAULT_OPTIONS);
  assert.ok(!("passphrase" in resolveOptions()));
});

Deno.test("resolveOptions() returns objects that share nothing with its input or the defaults", () => {
  const srtListen = { hostname: "::", port: 9001 };
  const options = resolveOptions({ srtListen });
  assert.notEqual(options.srtListen, srtListen);
  assert.notEqual(options.httpListen, DEFAULT_OPTIONS.httpListen);
  options.httpListen.port = 1;
  assert.equal(DEFAULT_OPTIONS.httpListen.port, 8080);
});

Deno.test("resolveOptions() treats undefined as not given", () => {
  const partial = { latencyMs: undefined, passphrase: undefined } as unknown as Partial<
    ServerOptions
  >;
  const options = resolveOptions(partial);
  assert.deepEqual(options, DEFAULT_OPTIONS);
  assert.ok(!("passphrase" in options));
});

const acceptedCases: { name: string; partial: Partial<ServerOptions> }[] = [
  { name: "an IPv6 SRT address", partial: { srtListen: { hostname: "::", port: 9000 } } },
  { name: "port 0 (any free port)", partial: { httpListen: { hostname: "::1", port: 0 } } },
  { name: "port 65535", partial: { srtListen: { hostname: "localhost", port: 65535 } } },
  { name: "latency 0", partial: { latencyMs: 0 } },
  { name: "latency 60000", partial: { latencyMs: 60_000 } },
  { name: "a 10-byte passphrase", partial: { passphrase: "0123456789" } },
  { name: "a 79-byte passphrase", partial: { passphrase: "p".repeat(79) } },
  { name: "pbkeylen 16", partial: { passphrase: "0123456789", pbkeylen: 16 } },
  { name: "pbkeylen 24", partial: { pbkeylen: 24 } },
  { name: "pbkeylen 32", partial: { pbkeylen: 32 } },
  { name: "idle timeout 1000", partial: { idleTimeoutMs: 1000 } },
  { name: "idle timeout 600000", partial: { idleTimeoutMs: 600_000 } },
  { name: "handshake timeout 100", partial: { handshakeTimeoutMs: 100 } },
  { name: "shutdown timeout 0", partial: { shutdownTimeoutMs: 0 } },
  { name: "pool size 0", partial: { poolSize: 0 } },
  { name: "pool size 64", partial: { poolSize: 64, poolMax: 64 } },
  { name: "a pool that never grows", partial: { poolSize: 4, poolMax: 4 } },
  { name: "one child starting at a time", partial: { poolMaxStarting: 1 } },
  { name: "callers that wait as long as it takes", partial: { callerTimeoutMs: 0 } },
  { name: "a state directory", partial: { stateDir: "/var/lib/atoll/state" } },
  { name: "callers that wait 15 s", partial: { callerTimeoutMs: 15_000 } },
  { name: "fast handshake off", partial: { fastHandshake: false } },
  { name: "log level debug", partial: { logLevel: "debug" } },
  { name: "log level warning", partial: { logLevel: "warning" } },
  { name: "JSON logs", partial: { logFormat: "json" } },
  { name: "no media output", partial: { mediaListen: false } },
  { name: "media on any address", partial: { mediaListen: { hostname: "::", port: 0 } } },
  { name: "one media connection at most", partial: { mediaMaxConnections: 1 } },
  { name: "one connection at most", partial: { maxConnections: 1, maxHandshakes: 1 } },
  {
    name: "per-IP limits",
    partial: { maxConnectionsPerIp: 5, maxNewConnectionsPerIp: 100_000 },
  },
];

for (const { name, partial } of acceptedCases) {
  Deno.test(`resolveOptions() accepts ${name}`, () => {
    assert.deepEqual(resolveOptions(partial), { ...DEFAULT_OPTIONS, ...partial });
  });
}

const rejectedCases: {
  name: string;
  partial: Record<string, unknown>;
  error: "TypeError" | "RangeError";
  message: string;
}[] = [
  {
    name: "media output turned on with true, not an address",
    partial: { mediaListen: true },
    error: "RangeError",
    message:
      'Invalid option "mediaListen": expected { hostname, port } with a host name or IP address and a port from 0 to 65535, or false for none, got true',
  },
  {
    name: "a media address given as text",
    partial: { mediaListen: "127.0.0.1:8081" },
    error: "TypeError",
    message:
      'Invalid option "mediaListen": expected { hostname, port } with a host name or IP address and a port from 0 to 65535, or false for none, got "127.0.0.1:8081"',
  },
  {
    name: "no media connection at all",
    partial: { mediaMaxConnections: 0 },
    error: "RangeError",
    message: 'Invalid option "mediaMaxConnections": expected an integer from 1 to 100000, got 0',
  },
  {
    name: "a negative latency",
    partial: { latencyMs: -1 },
    error: "RangeError",
    message: 'Invalid option "latencyMs": expected an integer from 0 to 60000, got -1',
  },
  {
    name: "a latency over 60000",
    partial: { latencyMs: 60_001 },
    error: "RangeError",
    message: 'Invalid option "latencyMs": expected an integer from 0 to 60000, got 60001',
  },
  {
    name: "a fractional latency",
    partial: { latencyMs: 1.5 },
    error: "RangeError",
    message: 'Invalid option "latencyMs": expected an integer from 0 to 60000, got 1.5',
  },
  {
    name: "a NaN latency",
    partial: { latencyMs: NaN },
    error: "RangeError",
    message: 'Invalid option "latencyMs": expected an integer from 0 to 60000, got NaN',
  },
  {
    name: "a latency given as a string",
    partial: { latencyMs: "120" },
    error: "TypeError",
    message: 'Invalid option "latencyMs": expected an integer from 0 to 60000, got "120"',
  },
  {
    name: "a pool maximum below the pool size",
    partial: { poolSize: 8, poolMax: 4 },
    error: "RangeError",
    message: 'Invalid option "poolMax": expected at least poolSize (8), got 4',
  },
  {
    name: "no child starting at all",
    partial: { poolMaxStarting: 0 },
    error: "RangeError",
    message: 'Invalid option "poolMaxStarting": expected an integer from 1 to 256, got 0',
  },
  {
    name: "a relative state directory",
    partial: { stateDir: "state" },
    error: "RangeError",
    message:
      'Invalid option "stateDir": expected an absolute directory path of at most 80 bytes, without commas, got "state"',
  },
  {
    name: "a state directory too long for its sockets' paths",
    partial: { stateDir: `/${"d".repeat(80)}` },
    error: "RangeError",
    message:
      `Invalid option "stateDir": expected an absolute directory path of at most 80 bytes, without commas, got "/${
        "d".repeat(80)
      }"`,
  },
  {
    name: "a caller timeout shorter than any caller's",
    partial: { callerTimeoutMs: 500 },
    error: "RangeError",
    message:
      'Invalid option "callerTimeoutMs": expected 0, or an integer from 1000 to 120000, got 500',
  },
  {
    name: "zero connections",
    partial: { maxConnections: 0 },
    error: "RangeError",
    message: 'Invalid option "maxConnections": expected an integer from 1 to 100000, got 0',
  },
  {
    name: "zero handshakes",
    partial: { maxHandshakes: 0 },
    error: "RangeError",
    message: 'Invalid option "maxHandshakes": expected an integer from 1 to 100000, got 0',
  },
  {
    name: "an infinite per-IP connection limit",
    partial: { maxConnectionsPerIp: Infinity },
    error: "RangeError",
    message:
      'Invalid option "maxConnectionsPerIp": expected an integer from 1 to 100000, got Infinity',
  },
  {
    name: "a zero per-IP rate",
    partial: { maxNewConnectionsPerIp: 0 },
    error: "RangeError",
    message: 'Invalid option "maxNewConnectionsPerIp": expected an integer from 1 to 100000, got 0',
  },
  {
    name: "an idle timeout under 1000",
    partial: { idleTimeoutMs: 999 },
    error: "RangeError",
    message: 'Invalid option "idleTimeoutMs": expected an integer from 1000 to 600000, got 999',
  },
  {
    name: "a handshake timeout under 100",
    partial: { handshakeTimeoutMs: 99 },
    error: "RangeError",
    message: 'Invalid option "handshakeTimeoutMs": expected an integer from 100 to 60000, got 99',
  },
  {
    name: "a negative shutdown timeout",
    partial: { shutdownTimeoutMs: -5 },
    error: "RangeError",
    message: 'Invalid option "shutdownTimeoutMs": expected an integer from 0 to 60000, got -5',
  },
  {
    name: "a pool of 65",
    partial: { poolSize: 65 },
    error: "RangeError",
    message: 'Invalid option "poolSize": expected an integer from 0 to 64, got 65',
  },
  {
    name: "a 9-byte passphrase, without showing it",
    partial: { passphrase: "123456789" },
    error: "RangeError",
    message: 'Invalid option "passphrase": expected 10 to 79 bytes, got a string of 9 bytes',
  },
  {
    name: "an 80-byte passphrase",
    partial: { passphrase: "p".repeat(80) },
    error: "RangeError",
    message: 'Invalid option "passphrase": expected 10 to 79 bytes, got a string of 80 bytes',
  },
  {
    name: "a passphrase of 40 characters but 80 bytes",
    partial: { passphrase: "é".repeat(40) },
    error: "RangeError",
    message: 'Invalid option "passphrase": expected 10 to 79 bytes, got a string of 80 bytes',
  },
  {
    name: "an empty passphrase",
    partial: { passphrase: "" },
    error: "RangeError",
    message: 'Invalid option "passphrase": expected 10 to 79 bytes, got a string of 0 bytes',
  },
  {
    name: "a numeric passphrase",
    partial: { passphrase: 1234567890 },
    error: "TypeError",
    message: 'Invalid option "passphrase": expected 10 to 79 bytes, got 1234567890',
  },
  {
    name: "pbkeylen 8",
    partial: { pbkeylen: 8 },
    error: "RangeError",
    message: 'Invalid option "pbkeylen": expected one of 0, 16, 24 or 32, got 8',
  },
  {
    name: "an unknown log level",
    partial: { logLevel: "warn" },
    error: "RangeError",
    message:
      'Invalid option "logLevel": expected one of "debug", "info", "warning" or "error", got "warn"',
  },
  {
    name: "an unknown log format",
    partial: { logFormat: "xml" },
    error: "RangeError",
    message: 'Invalid option "logFormat": expected one of "text" or "json", got "xml"',
  },
  {
    name: "fastHandshake given as a string",
    partial: { fastHandshake: "false" },
    error: "TypeError",
    message: 'Invalid option "fastHandshake": expected true or false, got "false"',
  },
  {
    name: "an address given as a string",
    partial: { srtListen: "0.0.0.0:9000" },
    error: "TypeError",
    message: 'Invalid option "srtListen": expected { hostname, port } with a host name or IP ' +
      'address and a port from 0 to 65535, got "0.0.0.0:9000"',
  },
  {
    name: "allowed hosts given as a string",
    partial: { httpAllowedHosts: "a.example" },
    error: "TypeError",
    message: 'Invalid option "httpAllowedHosts": expected a non-empty list of host names or IP ' +
      'addresses, or ["*"], got "a.example"',
  },
  {
    name: "an empty list of allowed hosts",
    partial: { httpAllowedHosts: [] },
    error: "RangeError",
    message: 'Invalid option "httpAllowedHosts": expected a non-empty list of host names or IP ' +
      'addresses, or ["*"], got []',
  },
  {
    name: "an allowed host with a port",
    partial: { httpAllowedHosts: ["a.example:8080"] },
    error: "RangeError",
    message: 'Invalid option "httpAllowedHosts": expected a non-empty list of host names or IP ' +
      'addresses, or ["*"], got ["a.example:8080"]',
  },
  {
    name: "no HTTP connections",
    partial: { httpMaxConnections: 0 },
    error: "RangeError",
    message: 'Invalid option "httpMaxConnections": expected an integer from 1 to 10000, got 0',
  },
  {
    name: "a null address",
    partial: { httpListen: null },
    error: "TypeError",
    message: 'Invalid option "httpListen": expected { hostname, port } with a host name or IP ' +
      "address and a port from 0 to 65535, got null",
  },
  {
    name: "an address with port 65536",
    partial: { srtListen: { hostname: "0.0.0.0", port: 65536 } },
    error: "RangeError",
    message: 'Invalid option "srtListen": expected { hostname, port } with a host name or IP ' +
      'address and a port from 0 to 65535, got {"hostname":"0.0.0.0","port":65536}',
  },
  {
    name: "an address with an empty hostname",
    partial: { httpListen: { hostname: "", port: 80 } },
    error: "RangeError",
    message: 'Invalid option "httpListen": expected { hostname, port } with a host name or IP ' +
      'address and a port from 0 to 65535, got {"hostname":"","port":80}',
  },
  {
    name: "an address with a bracketed IPv6 hostname",
    partial: { srtListen: { hostname: "[::]", port: 9000 } },
    error: "RangeError",
    message: 'Invalid option "srtListen": expected { hostname, port } with a host name or IP ' +
      'address and a port from 0 to 65535, got {"hostname":"[::]","port":9000}',
  },
  {
    name: "an address without a port",
    partial: { srtListen: { hostname: "0.0.0.0" } },
    error: "RangeError",
    message: 'Invalid option "srtListen": expected { hostname, port } with a host name or IP ' +
      'address and a port from 0 to 65535, got {"hostname":"0.0.0.0"}',
  },
  {
    name: "an unknown option",
    partial: { latency: 200 },
    error: "TypeError",
    message: 'Unknown option "latency"',
  },
];

for (const { name, partial, error, message } of rejectedCases) {
  Deno.test(`resolveOptions() rejects ${name}`, () => {
    assert.throws(() => resolveOptions(partial as Partial<ServerOptions>), {
      name: error,
      message,
    });
  });
}

Deno.test("resolveOptions() rejects options that are not an object", () => {
  assert.throws(() => resolveOptions(null as unknown as Partial<ServerOptions>), {
    name: "TypeError",
    message: "Invalid options: expected an object, got null",
  });
});

Deno.test("OPTION_RULES covers every option of DEFAULT_OPTIONS and the optional ones", () => {
  assert.deepEqual(
    Object.keys(OPTION_RULES).sort(),
    [
      ...Object.keys(DEFAULT_OPTIONS),
      "passphrase",
      "configPath",
      "apiToken",
      "httpAllowedHosts",
      "pidFile",
      "stateDir",
    ].sort(),
  );
});

Deno.test("resolveOptions() copies the allowed hosts", () => {
  const hosts = ["atoll.example"];
  const options = resolveOptions({ httpAllowedHosts: hosts });
  hosts.push("evil.example");
  assert.deepEqual(options.httpAllowedHosts, ["atoll.example"]);
  assert.ok(!("httpAllowedHosts" in resolveOptions()));
});

Deno.test("resolveOptions() checks an API token without showing it", () => {
  assert.equal(resolveOptions({ apiToken: "0123456789abcdef" }).apiToken, "0123456789abcdef");
  assert.ok(!("apiToken" in resolveOptions()));
  assert.throws(
    () => resolveOptions({ apiToken: "too-short" }),
    (error: Error) =>
      error instanceof RangeError && !error.message.includes("too-short") &&
      error.message.includes("16 to 256 visible ASCII characters"),
  );
  assert.throws(() => resolveOptions({ apiToken: "sixteen chars ok" }), RangeError);
});

Deno.test("resolveOptions() keeps a config path and refuses an empty one", () => {
  assert.equal(resolveOptions({ configPath: "/etc/atoll.yaml" }).configPath, "/etc/atoll.yaml");
  assert.ok(!("configPath" in resolveOptions()));
  assert.throws(() => resolveOptions({ configPath: "" }), RangeError);
});

Deno.test("resolveOptions() keeps a pid file path and refuses an empty one or a folder", () => {
  assert.equal(resolveOptions({ pidFile: "/run/atoll.pid" }).pidFile, "/run/atoll.pid");
  assert.equal(resolveOptions({ pidFile: "atoll.pid" }).pidFile, "atoll.pid");
  assert.ok(!("pidFile" in resolveOptions()));
  assert.throws(() => resolveOptions({ pidFile: "" }), {
    name: "RangeError",
    message: 'Invalid option "pidFile": expected a file path, got ""',
  });
  assert.throws(() => resolveOptions({ pidFile: "/run/" }), RangeError);
  assert.throws(() => resolveOptions({ pidFile: 1 as unknown as string }), TypeError);
});

const hostPortCases: { text: string; expected: HostPort }[] = [
  { text: "0.0.0.0:9000", expected: { hostname: "0.0.0.0", port: 9000 } },
  { text: "127.0.0.1:8080", expected: { hostname: "127.0.0.1", port: 8080 } },
  { text: "localhost:1935", expected: { hostname: "localhost", port: 1935 } },
  { text: "srt.example.com:443", expected: { hostname: "srt.example.com", port: 443 } },
  { text: ":9000", expected: { hostname: "0.0.0.0", port: 9000 } },
  { text: "[::]:9000", expected: { hostname: "::", port: 9000 } },
  { text: "[::1]:0", expected: { hostname: "::1", port: 0 } },
  { text: "[2001:db8::1]:65535", expected: { hostname: "2001:db8::1", port: 65535 } },
  { text: "[::ffff:127.0.0.1]:9000", expected: { hostname: "::ffff:127.0.0.1", port: 9000 } },
  { text: "0.0.0.0:0", expected: { hostname: "0.0.0.0", port: 0 } },
];

for (const { text, expected } of hostPortCases) {
  Deno.test(`parseHostPort() reads ${JSON.stringify(text)}`, () => {
    assert.deepEqual(parseHostPort(text, "address"), expected);
  });
}

const badHostPorts: { name: string; text: string }[] = [
  { name: "an empty string", text: "" },
  { name: "a host without a port", text: "localhost" },
  { name: "a bare port", text: "9000" },
  { name: "an empty port", text: "localhost:" },
  { name: "a lone colon", text: ":" },
  { name: "port 65536", text: "0.0.0.0:65536" },
  { name: "a six-digit port", text: "0.0.0.0:100000" },
  { name: "a negative port", text: "0.0.0.0:-1" },
  { name: "a signed port", text: "0.0.0.0:+80" },
  { name: "a port with letters", text: "0.0.0.0:80a" },
  { name: "a port in exponent notation", text: "0.0.0.0:1e3" },
  { name: "an unbracketed IPv6 address", text: "::1:9000" },
  { name: "empty brackets", text: "[]:9000" },
  { name: "brackets around an IPv4 address", text: "[127.0.0.1]:9000" },
  { name: "an unclosed bracket", text: "[::1:9000" },
  { name: "a space in the host", text: "my host:9000" },
  { name: "a URL", text: "srt://0.0.0.0:9000" },
  { name: "surrounding spaces", text: " 0.0.0.0:9000" },
];

for (const { name, text } of badHostPorts) {
  Deno.test(`parseHostPort() rejects ${name}`, () => {
    assert.throws(() => parseHostPort(text, "value for --srt-listen"), {
      name: "TypeError",
      message: "Invalid value for --srt-listen: expected HOST:PORT, [IPV6]:PORT or :PORT " +
        `with a port from 0 to 65535, got ${JSON.stringify(text)}`,
    });
  });
}

const formatCases: { hp: HostPort; expected: string }[] = [
  { hp: { hostname: "0.0.0.0", port: 9000 }, expected: "0.0.0.0:9000" },
  { hp: { hostname: "localhost", port: 0 }, expected: "localhost:0" },
  { hp: { hostname: "::", port: 9000 }, expected: "[::]:9000" },
  { hp: { hostname: "::ffff:127.0.0.1", port: 5000 }, expected: "[::ffff:127.0.0.1]:5000" },
];

for (const { hp, expected } of formatCases) {
  Deno.test(`formatHostPort() writes ${expected}`, () => {
    assert.equal(formatHostPort(hp), expected);
  });
}

Deno.test("formatHostPort() output is read back by parseHostPort()", () => {
  for (const { expected } of hostPortCases) {
    assert.deepEqual(parseHostPort(formatHostPort(expected), "address"), expected);
  }
});
