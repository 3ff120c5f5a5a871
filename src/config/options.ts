/**
 * Server options: their defaults and their validation, in one place for both
 * the command line and the embedding API.
 *
 * Every option has a rule in {@link OPTION_RULES} saying what it accepts, so
 * the command line can check a flag's text against the same rule and report
 * it under the flag's name, while {@link resolveOptions} reports it under the
 * option's name.
 *
 * @module
 */

import { describeValue, utf8Length } from "./validation.ts";

/** An address to listen on. */
export interface HostPort {
  hostname: string;
  port: number;
}

/** How much to log. */
export type LogLevel = "debug" | "info" | "warning" | "error";
/** How log lines are written. */
export type LogFormat = "text" | "json";

/** Everything that configures an Atoll server. */
export interface ServerOptions {
  /** Where SRT callers connect (UDP). */
  srtListen: HostPort;
  /** Where the HTTP API and metrics are served. */
  httpListen: HostPort;
  /**
   * Where the media output process serves streams over HTTP (HTTP-TS, and
   * HLS once it lands), apart from the API; `false`: no media output.
   */
  mediaListen: HostPort | false;
  /** HTTP media connections open at once; more are answered 503 and closed. */
  mediaMaxConnections: number;
  /** HTTP connections open at once; more are answered 503 and closed. */
  httpMaxConnections: number;
  /** An HTTP request must arrive whole within this long, and a kept-alive connection may idle no longer, in milliseconds. */
  httpHeaderTimeoutMs: number;
  /**
   * Host header names the HTTP API answers besides the loopback names and the
   * bound address (against DNS rebinding); `["*"]` answers any.
   */
  httpAllowedHosts?: string[];
  /** Connections open at once, handshakes included. */
  maxConnections: number;
  /** Handshakes in progress at once. */
  maxHandshakes: number;
  /** Connections open at once from one source IP address. */
  maxConnectionsPerIp: number;
  /** New connections per second from one source IP address (token bucket rate). */
  maxNewConnectionsPerIp: number;
  /** SRT latency, in milliseconds. */
  latencyMs: number;
  /** Encrypts every connection with this passphrase when set: 10 to 79 bytes. */
  passphrase?: string;
  /** Key length in bytes; 0 leaves libsrt's default. */
  pbkeylen: 0 | 16 | 24 | 32;
  /** A peer silent this long is dropped, in milliseconds. */
  idleTimeoutMs: number;
  /** A handshake not done within this long is abandoned, in milliseconds. */
  handshakeTimeoutMs: number;
  /** On shutdown, how long connections get to close, in milliseconds. */
  shutdownTimeoutMs: number;
  /** Child processes started ahead of time, waiting for a connection. */
  poolSize: number;
  /** Prestarted children kept at most, after bursts of callers grew the pool. */
  poolMax: number;
  /** Children starting at once at most; callers beyond wait first in, first out, or are shed. */
  poolMaxStarting: number;
  /**
   * The connect timeout callers are assumed to use, in milliseconds: a
   * caller that cannot get a child within it is refused at once (shed). 0:
   * callers wait as long as it takes, and none is shed.
   */
  callerTimeoutMs: number;
  /**
   * How many nice steps below the main process children run (0 to 19; their
   * nice value stops at 19): the main process gets the CPU before any of
   * them, within the one session they share (README, "Processes and the
   * CPU"). 0: level with the main process.
   */
  childNice: number;
  /** Whether children answer a caller's induction themselves (docs/design.md, "The fast path"). */
  fastHandshake: boolean;
  logLevel: LogLevel;
  logFormat: LogFormat;
  /**
   * Where connected children wait to be adopted when the main process dies,
   * and the lock that keeps a second main process off it (state_dir.ts);
   * one per SRT port under /run/atoll (root), `$XDG_RUNTIME_DIR/atoll` or
   * /tmp/atoll-UID when unset.
   */
  stateDir?: string;
  /** The configuration file with the stream rules (JSON or YAML); built-in defaults when unset. */
  configPath?: string;
  /** The HTTP API's bearer token (wins over the config file's); changes are refused without one. */
  apiToken?: string;
  /**
   * Where the command line (main.ts) writes the main process's pid once it
   * listens, and removes it on exit. `AtollServer` does not read it: a
   * program that embeds Atoll owns its process, and its pid file.
   */
  pidFile?: string;
}

/**
 * Children that start at once by default: one per CPU. A start is mostly
 * CPU (the runtime, then libsrt), so more at once only finish later.
 */
function defaultMaxStarting(): number {
  return Math.max(1, navigator.hardwareConcurrency || 1);
}

/** The options a server runs with when given none. */
export const DEFAULT_OPTIONS: Readonly<ServerOptions> = Object.freeze({
  srtListen: Object.freeze({ hostname: "0.0.0.0", port: 9000 }),
  httpListen: Object.freeze({ hostname: "127.0.0.1", port: 8080 }),
  mediaListen: Object.freeze({ hostname: "127.0.0.1", port: 8081 }),
  mediaMaxConnections: 1000,
  httpMaxConnections: 100,
  httpHeaderTimeoutMs: 10_000,
  maxConnections: 1000,
  maxHandshakes: 100,
  maxConnectionsPerIp: 1000,
  maxNewConnectionsPerIp: 50,
  latencyMs: 120,
  pbkeylen: 0,
  idleTimeoutMs: 5000,
  handshakeTimeoutMs: 5000,
  shutdownTimeoutMs: 5000,
  poolSize: 2,
  poolMax: 16,
  poolMaxStarting: defaultMaxStarting(),
  callerTimeoutMs: 3000,
  childNice: 10,
  fastHandshake: true,
  logLevel: "info",
  logFormat: "text",
});

/** What `typeof` says of an option's value. */
export type OptionType = "number" | "string" | "boolean" | "object";

/** What one option accepts. */
export interface OptionRule {
  /** The JavaScript type the value must have (one of them); any other type is a TypeError. */
  type: OptionType | readonly OptionType[];
  /** What is accepted, for error messages: "an integer from 0 to 60000". */
  expected: string;
  /** Whether a value of the right type is acceptable; false is a RangeError. */
  isValid(value: unknown): boolean;
  /** Whether the value must not appear in messages. */
  secret?: boolean;
}

/** Passphrase length limits, in bytes, set by libsrt (SRTO_PASSPHRASE). */
const PASSPHRASE_MIN_BYTES = 10;
const PASSPHRASE_MAX_BYTES = 79;

const HOSTNAME = /^[A-Za-z0-9._-]+$/;
const IPV6_ADDRESS = /^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*$/;

function integerRule(min: number, max: number): OptionRule {
  return {
    type: "number",
    expected: `an integer from ${min} to ${max}`,
    isValid: (value) =>
      typeof value === "number" && Number.isInteger(value) && value >= min && value <= max,
  };
}

function oneOfRule(type: "number" | "string", values: readonly unknown[]): OptionRule {
  const shown = values.map((v) => JSON.stringify(v));
  return {
    type,
    expected: `one of ${shown.slice(0, -1).join(", ")} or ${shown.at(-1)}`,
    isValid: (value) => values.includes(value),
  };
}

const HOST_PORT_RULE: OptionRule = {
  type: "object",
  expected: "{ hostname, port } with a host name or IP address and a port from 0 to 65535",
  isValid: (value) => {
    if (value === null || typeof value !== "object") return false;
    const { hostname, port } = value as Partial<Record<keyof HostPort, unknown>>;
    return typeof hostname === "string" && isValidHostname(hostname) && isValidPort(port);
  },
};

/** What every option accepts. */
export const OPTION_RULES: { readonly [K in keyof ServerOptions]-?: OptionRule } = {
  srtListen: HOST_PORT_RULE,
  httpListen: HOST_PORT_RULE,
  mediaListen: {
    type: ["object", "boolean"],
    expected: `${HOST_PORT_RULE.expected}, or false for none`,
    isValid: (value) => value === false || HOST_PORT_RULE.isValid(value),
  },
  mediaMaxConnections: integerRule(1, 100_000),
  httpMaxConnections: integerRule(1, 10_000),
  httpHeaderTimeoutMs: integerRule(100, 600_000),
  httpAllowedHosts: {
    type: "object",
    expected: 'a non-empty list of host names or IP addresses, or ["*"]',
    isValid: (value) =>
      Array.isArray(value) && value.length > 0 && value.length <= 100 &&
      value.every((host) => typeof host === "string" && isAllowedHostEntry(host)),
  },
  maxConnections: integerRule(1, 100_000),
  maxHandshakes: integerRule(1, 100_000),
  maxConnectionsPerIp: integerRule(1, 100_000),
  maxNewConnectionsPerIp: integerRule(1, 100_000),
  latencyMs: integerRule(0, 60_000),
  passphrase: {
    type: "string",
    expected: `${PASSPHRASE_MIN_BYTES} to ${PASSPHRASE_MAX_BYTES} bytes`,
    isValid: (value) => {
      if (typeof value !== "string") return false;
      const bytes = utf8Length(value);
      return bytes >= PASSPHRASE_MIN_BYTES && bytes <= PASSPHRASE_MAX_BYTES;
    },
    secret: true,
  },
  pbkeylen: oneOfRule("number", [0, 16, 24, 32]),
  idleTimeoutMs: integerRule(1000, 600_000),
  handshakeTimeoutMs: integerRule(100, 60_000),
  shutdownTimeoutMs: integerRule(0, 60_000),
  poolSize: integerRule(0, 64),
  poolMax: integerRule(0, 1024),
  poolMaxStarting: integerRule(1, 256),
  callerTimeoutMs: {
    type: "number",
    expected: "0, or an integer from 1000 to 120000",
    isValid: (value) =>
      Number.isInteger(value) &&
      (value === 0 || ((value as number) >= 1000 && (value as number) <= 120_000)),
  },
  childNice: integerRule(0, 19),
  fastHandshake: { type: "boolean", expected: "true or false", isValid: () => true },
  logLevel: oneOfRule("string", ["debug", "info", "warning", "error"]),
  logFormat: oneOfRule("string", ["text", "json"]),
  configPath: {
    type: "string",
    expected: "a file path",
    isValid: (value) => typeof value === "string" && value !== "",
  },
  stateDir: {
    type: "string",
    expected: "an absolute directory path of at most 80 bytes, without commas",
    isValid: (value) =>
      typeof value === "string" && value.startsWith("/") && utf8Length(value) <= 80 &&
      !value.includes(","),
  },
  pidFile: {
    type: "string",
    expected: "a file path",
    isValid: (value) => typeof value === "string" && value !== "" && !value.endsWith("/"),
  },
  apiToken: {
    type: "string",
    expected: "16 to 256 visible ASCII characters",
    isValid: (value) =>
      typeof value === "string" && value.length >= 16 && value.length <= 256 &&
      /^[\x21-\x7e]+$/.test(value),
    secret: true,
  },
};

const OPTION_NAMES = Object.keys(OPTION_RULES) as (keyof ServerOptions)[];

/**
 * Fills in defaults and validates every option.
 *
 * An option given as `undefined` takes its default (for `passphrase`: none).
 * The result is a new object, sharing nothing with `partial`.
 *
 * @throws {TypeError} for an unknown option or a value of the wrong type
 * @throws {RangeError} for a value of the right type out of its range
 */
export function resolveOptions(partial: Partial<ServerOptions> = {}): ServerOptions {
  if (partial === null || typeof partial !== "object") {
    throw new TypeError(`Invalid options: expected an object, got ${describeValue(partial)}`);
  }
  for (const name of Object.keys(partial)) {
    if (!Object.hasOwn(OPTION_RULES, name)) {
      throw new TypeError(`Unknown option ${JSON.stringify(name)}`);
    }
  }
  const given = partial as Partial<Record<keyof ServerOptions, unknown>>;
  for (const name of OPTION_NAMES) {
    const value = given[name];
    if (value !== undefined) checkOption(name, value);
  }

  const options: ServerOptions = {
    srtListen: copyHostPort(partial.srtListen ?? DEFAULT_OPTIONS.srtListen),
    httpListen: copyHostPort(partial.httpListen ?? DEFAULT_OPTIONS.httpListen),
    mediaListen: partial.mediaListen === false
      ? false
      : copyHostPort(partial.mediaListen ?? DEFAULT_OPTIONS.mediaListen as HostPort),
    mediaMaxConnections: partial.mediaMaxConnections ?? DEFAULT_OPTIONS.mediaMaxConnections,
    httpMaxConnections: partial.httpMaxConnections ?? DEFAULT_OPTIONS.httpMaxConnections,
    httpHeaderTimeoutMs: partial.httpHeaderTimeoutMs ?? DEFAULT_OPTIONS.httpHeaderTimeoutMs,
    maxConnections: partial.maxConnections ?? DEFAULT_OPTIONS.maxConnections,
    maxHandshakes: partial.maxHandshakes ?? DEFAULT_OPTIONS.maxHandshakes,
    maxConnectionsPerIp: partial.maxConnectionsPerIp ?? DEFAULT_OPTIONS.maxConnectionsPerIp,
    maxNewConnectionsPerIp: partial.maxNewConnectionsPerIp ??
      DEFAULT_OPTIONS.maxNewConnectionsPerIp,
    latencyMs: partial.latencyMs ?? DEFAULT_OPTIONS.latencyMs,
    pbkeylen: partial.pbkeylen ?? DEFAULT_OPTIONS.pbkeylen,
    idleTimeoutMs: partial.idleTimeoutMs ?? DEFAULT_OPTIONS.idleTimeoutMs,
    handshakeTimeoutMs: partial.handshakeTimeoutMs ?? DEFAULT_OPTIONS.handshakeTimeoutMs,
    shutdownTimeoutMs: partial.shutdownTimeoutMs ?? DEFAULT_OPTIONS.shutdownTimeoutMs,
    poolSize: partial.poolSize ?? DEFAULT_OPTIONS.poolSize,
    poolMax: partial.poolMax ?? Math.max(DEFAULT_OPTIONS.poolMax, partial.poolSize ?? 0),
    poolMaxStarting: partial.poolMaxStarting ?? DEFAULT_OPTIONS.poolMaxStarting,
    callerTimeoutMs: partial.callerTimeoutMs ?? DEFAULT_OPTIONS.callerTimeoutMs,
    childNice: partial.childNice ?? DEFAULT_OPTIONS.childNice,
    fastHandshake: partial.fastHandshake ?? DEFAULT_OPTIONS.fastHandshake,
    logLevel: partial.logLevel ?? DEFAULT_OPTIONS.logLevel,
    logFormat: partial.logFormat ?? DEFAULT_OPTIONS.logFormat,
  };
  if (options.poolMax < options.poolSize) {
    throw new RangeError(
      `Invalid option "poolMax": expected at least poolSize (${options.poolSize}), got ${options.poolMax}`,
    );
  }
  if (partial.passphrase !== undefined) options.passphrase = partial.passphrase;
  if (partial.configPath !== undefined) options.configPath = partial.configPath;
  if (partial.apiToken !== undefined) options.apiToken = partial.apiToken;
  if (partial.pidFile !== undefined) options.pidFile = partial.pidFile;
  if (partial.stateDir !== undefined) options.stateDir = partial.stateDir.replace(/(.)\/+$/, "$1");
  if (partial.httpAllowedHosts !== undefined) {
    options.httpAllowedHosts = [...partial.httpAllowedHosts];
  }
  return options;
}

/**
 * Parses `HOST:PORT`, `[IPV6]:PORT` or `:PORT` (meaning `0.0.0.0:PORT`).
 *
 * Port 0 asks the system for a free port.
 *
 * @param what how the text is named in the error, e.g. `value for --srt-listen`
 * @throws {TypeError} when the text is none of these forms
 */
export function parseHostPort(text: string, what: string): HostPort {
  const fail = (): never => {
    throw new TypeError(
      `Invalid ${what}: expected HOST:PORT, [IPV6]:PORT or :PORT with a port from 0 to 65535, ` +
        `got ${JSON.stringify(text)}`,
    );
  };
  const colon = text.lastIndexOf(":");
  if (colon === -1) return fail();
  const host = text.slice(0, colon);
  const portText = text.slice(colon + 1);
  if (!/^[0-9]{1,5}$/.test(portText)) return fail();
  const port = Number(portText);
  if (!isValidPort(port)) return fail();

  if (host === "") return { hostname: "0.0.0.0", port };
  if (host.startsWith("[") && host.endsWith("]")) {
    const address = host.slice(1, -1);
    if (!IPV6_ADDRESS.test(address)) return fail();
    return { hostname: address, port };
  }
  if (!HOSTNAME.test(host)) return fail();
  return { hostname: host, port };
}

/** Formats an address as `HOST:PORT`, with IPv6 addresses in brackets. */
export function formatHostPort(hp: HostPort): string {
  return hp.hostname.includes(":") ? `[${hp.hostname}]:${hp.port}` : `${hp.hostname}:${hp.port}`;
}

function checkOption(name: keyof ServerOptions, value: unknown): void {
  const rule = OPTION_RULES[name];
  const type = value === null ? "null" : typeof value;
  const types: readonly string[] = typeof rule.type === "string" ? [rule.type] : rule.type;
  const rightType = types.includes(type);
  if (rightType && rule.isValid(value)) return;
  const message = `Invalid option ${JSON.stringify(name)}: expected ${rule.expected}, got ${
    describeValue(value, rule.secret)
  }`;
  throw rightType ? new RangeError(message) : new TypeError(message);
}

function copyHostPort(hp: HostPort): HostPort {
  return { hostname: hp.hostname, port: hp.port };
}

function isValidHostname(hostname: string): boolean {
  return hostname.includes(":") ? IPV6_ADDRESS.test(hostname) : HOSTNAME.test(hostname);
}

/** `*`, a host name, an IPv4 address, or an IPv6 address with or without brackets. */
function isAllowedHostEntry(host: string): boolean {
  if (host === "*") return true;
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  return isValidHostname(bare);
}

function isValidPort(port: unknown): boolean {
  return typeof port === "number" && Number.isInteger(port) && port >= 0 && port <= 65535;
}
