/**
 * The command line: flags to {@link ServerOptions}, help and version.
 *
 * Each flag's text is checked against the option's rule from `options.ts`,
 * so ranges are defined once and errors name the flag the user typed.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { describeValue } from "./validation.ts";
import {
  DEFAULT_OPTIONS,
  formatHostPort,
  OPTION_RULES,
  parseHostPort,
  resolveOptions,
  type ServerOptions,
} from "./options.ts";

/** What the command line asks for. */
export type CommandLine =
  | { kind: "serve"; options: ServerOptions }
  | { kind: "help"; text: string }
  | { kind: "version"; text: string };

/** A command line that cannot be used; the message is one line for the user. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Where environment variables are read; `Deno.env` fits. */
export interface Environment {
  get(name: string): string | undefined;
}

/** The environment variable the passphrase can come from when the flag is not given. */
export const PASSPHRASE_ENV = "ATOLL_PASSPHRASE";
/** The environment variable the API token can come from when the flag is not given. */
export const API_TOKEN_ENV = "ATOLL_API_TOKEN";
/** The environment variable naming the libsrt library to load. */
export const LIBSRT_ENV = "ATOLL_LIBSRT";

/** Turns a flag's text into the option's value; `undefined` when it cannot. */
type Convert = (text: string) => unknown;

const integer: Convert = (text) => /^[0-9]+$/.test(text) ? Number(text) : undefined;
const string: Convert = (text) => text;
const list: Convert = (text) => text.split(",").map((item) => item.trim());

/** The flags that take a value, in the order help lists them. */
const VALUE_FLAGS: readonly {
  flag: string;
  placeholder: string;
  option: keyof ServerOptions;
  convert: Convert | "host-port" | "host-port-or-off";
  help: string;
}[] = [
  {
    flag: "srt-listen",
    placeholder: "HOST:PORT",
    option: "srtListen",
    convert: "host-port",
    help: "SRT (UDP) address to listen on",
  },
  {
    flag: "http-listen",
    placeholder: "HOST:PORT",
    option: "httpListen",
    convert: "host-port",
    help: "HTTP API and metrics address",
  },
  {
    flag: "media-listen",
    placeholder: "HOST:PORT",
    option: "mediaListen",
    convert: "host-port-or-off",
    help: "HTTP media (HTTP-TS) address, or off",
  },
  {
    flag: "media-max-connections",
    placeholder: "N",
    option: "mediaMaxConnections",
    convert: integer,
    help: "HTTP media connections at once, 1 to 100000",
  },
  {
    flag: "http-max-connections",
    placeholder: "N",
    option: "httpMaxConnections",
    convert: integer,
    help: "HTTP connections at once, 1 to 10000",
  },
  {
    flag: "http-header-timeout",
    placeholder: "MS",
    option: "httpHeaderTimeoutMs",
    convert: integer,
    help: "Close a slow or idle HTTP connection",
  },
  {
    flag: "http-allowed-hosts",
    placeholder: "H,H",
    option: "httpAllowedHosts",
    convert: list,
    help: "More Host names for the API, or *",
  },
  {
    flag: "max-connections",
    placeholder: "N",
    option: "maxConnections",
    convert: integer,
    help: "Connections at once",
  },
  {
    flag: "max-handshakes",
    placeholder: "N",
    option: "maxHandshakes",
    convert: integer,
    help: "Handshakes in progress at once",
  },
  {
    flag: "max-connections-per-ip",
    placeholder: "N",
    option: "maxConnectionsPerIp",
    convert: integer,
    help: "Connections at once per source IP",
  },
  {
    flag: "max-new-connections-per-ip",
    placeholder: "N",
    option: "maxNewConnectionsPerIp",
    convert: integer,
    help: "New connections a second per source IP",
  },
  {
    flag: "latency",
    placeholder: "MS",
    option: "latencyMs",
    convert: integer,
    help: "SRT latency, 0 to 60000",
  },
  {
    flag: "passphrase",
    placeholder: "P",
    option: "passphrase",
    convert: string,
    help: "Encryption passphrase, 10 to 79 bytes",
  },
  {
    flag: "pbkeylen",
    placeholder: "N",
    option: "pbkeylen",
    convert: integer,
    help: "Key length 16, 24 or 32; 0: libsrt's choice",
  },
  {
    flag: "idle-timeout",
    placeholder: "MS",
    option: "idleTimeoutMs",
    convert: integer,
    help: "Drop a silent peer, 1000 to 600000",
  },
  {
    flag: "handshake-timeout",
    placeholder: "MS",
    option: "handshakeTimeoutMs",
    convert: integer,
    help: "Give up on a handshake, 100 to 60000",
  },
  {
    flag: "shutdown-timeout",
    placeholder: "MS",
    option: "shutdownTimeoutMs",
    convert: integer,
    help: "Time to close on exit, 0 to 60000",
  },
  {
    flag: "pool-size",
    placeholder: "N",
    option: "poolSize",
    convert: integer,
    help: "Children started ahead, 0 to 64",
  },
  {
    flag: "pool-max",
    placeholder: "N",
    option: "poolMax",
    convert: integer,
    help: "Children kept ahead after bursts, pool-size to 1024",
  },
  {
    flag: "pool-max-starting",
    placeholder: "N",
    option: "poolMaxStarting",
    convert: integer,
    help: "Children starting at once (one per CPU), 1 to 256",
  },
  {
    flag: "caller-timeout",
    placeholder: "MS",
    option: "callerTimeoutMs",
    convert: integer,
    help: "Callers' assumed connect timeout; 0: shed none",
  },
  {
    flag: "child-nice",
    placeholder: "N",
    option: "childNice",
    convert: integer,
    help: "Children's nice steps below the main process, 0 to 19",
  },
  {
    flag: "state-dir",
    placeholder: "DIR",
    option: "stateDir",
    convert: string,
    help: "Where children wait to be adopted (see README)",
  },
  {
    flag: "api-token",
    placeholder: "T",
    option: "apiToken",
    convert: string,
    help: "HTTP API bearer token, 16-256 chars",
  },
  {
    flag: "config",
    placeholder: "PATH",
    option: "configPath",
    convert: string,
    help: "Stream rules, JSON or YAML (see README)",
  },
  {
    flag: "pid-file",
    placeholder: "PATH",
    option: "pidFile",
    convert: string,
    help: "Write the main process's pid here",
  },
  {
    flag: "log-level",
    placeholder: "LEVEL",
    option: "logLevel",
    convert: string,
    help: "debug, info, warning or error",
  },
  {
    flag: "log-format",
    placeholder: "FORMAT",
    option: "logFormat",
    convert: string,
    help: "text or json",
  },
];

/** Every flag, as `parseArgs` wants it. */
const PARSE_ARGS_OPTIONS: Readonly<
  Record<string, { type: "string" | "boolean"; short?: string }>
> = {
  ...Object.fromEntries(VALUE_FLAGS.map(({ flag }) => [flag, { type: "string" } as const])),
  "no-fast-handshake": { type: "boolean" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
};

/** How the help and the README show the default of an option whose default is worked out at start. */
export const STATE_DIR_DEFAULT = "per SRT port";

function formatDefault(option: keyof ServerOptions): string {
  if (option === "stateDir") return STATE_DIR_DEFAULT;
  const value = DEFAULT_OPTIONS[option];
  if (value === undefined) return "none";
  if (Array.isArray(value)) return value.join(",");
  if (value === false) return "off";
  if (typeof value === "object") return formatHostPort(value);
  return String(value);
}

function helpLine(left: string, right: string): string {
  return `  ${left.padEnd(32)}${right}`;
}

/** The text `--help` prints. */
export const HELP_TEXT: string = [
  "Usage: atoll [options]",
  "",
  "An SRT media server: encoders publish streams, players play them.",
  "",
  "Options:",
  ...VALUE_FLAGS.map(({ flag, placeholder, option, help }) =>
    helpLine(`--${flag} ${placeholder}`, `${help} (default: ${formatDefault(option)})`)
  ),
  helpLine("--no-fast-handshake", "Let libsrt answer the first handshake (slower)"),
  helpLine("-h, --help", "Show this help and exit"),
  helpLine("-V, --version", "Show the version and exit"),
  "",
  "Environment:",
  helpLine(LIBSRT_ENV, "Path of libsrt (default: the usual library names)"),
  helpLine(PASSPHRASE_ENV, "Passphrase when --passphrase is not given"),
  helpLine(API_TOKEN_ENV, "API token when --api-token is not given"),
  "",
].join("\n");

/**
 * Parses the command line.
 *
 * @param args the arguments after the program name
 * @param version what `--version` reports
 * @param env where {@link PASSPHRASE_ENV} is read; the flag wins over it
 * @throws {UsageError} when the command line cannot be used
 */
export function parseCommandLine(
  args: readonly string[],
  version: string,
  env: Environment = { get: () => undefined },
): CommandLine {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: [...args],
      options: PARSE_ARGS_OPTIONS,
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new UsageError(describeArgsError(args, error));
  }

  if (values.help) return { kind: "help", text: HELP_TEXT };
  if (values.version) return { kind: "version", text: `atoll ${version}` };

  const partial: Record<string, unknown> = {};
  for (const { flag, option, convert } of VALUE_FLAGS) {
    const text = values[flag];
    if (typeof text !== "string") continue;
    partial[option] = convertValue(`--${flag}`, option, convert, text);
  }
  if (partial.passphrase === undefined) {
    const text = env.get(PASSPHRASE_ENV);
    if (text !== undefined && text !== "") {
      partial.passphrase = convertValue(PASSPHRASE_ENV, "passphrase", string, text);
    }
  }
  if (partial.apiToken === undefined) {
    const text = env.get(API_TOKEN_ENV);
    if (text !== undefined && text !== "") {
      partial.apiToken = convertValue(API_TOKEN_ENV, "apiToken", string, text);
    }
  }
  if (values["no-fast-handshake"]) partial.fastHandshake = false;

  try {
    return { kind: "serve", options: resolveOptions(partial as Partial<ServerOptions>) };
  } catch (error) {
    // Every value was checked above; this is a backstop, not an expected path.
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

function convertValue(
  source: string,
  option: keyof ServerOptions,
  convert: Convert | "host-port" | "host-port-or-off",
  text: string,
): unknown {
  if (convert === "host-port-or-off" && text === "off") return false;
  if (convert === "host-port" || convert === "host-port-or-off") {
    try {
      return parseHostPort(text, `value for ${source}`);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      // The one address that may be turned off says so.
      throw new UsageError(
        convert === "host-port" ? message : message.replace(/, got /, ', or "off", got '),
      );
    }
  }
  const rule = OPTION_RULES[option];
  const value = convert(text);
  if (value === undefined || !rule.isValid(value)) {
    throw new UsageError(
      `Invalid value for ${source}: expected ${rule.expected}, got ${
        describeValue(text, rule.secret)
      }`,
    );
  }
  return value;
}

/**
 * Turns a `parseArgs` failure into one line. `parseArgs` found the problem;
 * its messages span lines and quote with `'`, so the arguments are tokenized
 * again without strictness to say which one it is.
 */
function describeArgsError(args: readonly string[], error: unknown): string {
  const { tokens } = parseArgs({
    args: [...args],
    options: PARSE_ARGS_OPTIONS,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  for (const token of tokens) {
    if (token.kind === "positional") return `Unexpected argument ${JSON.stringify(token.value)}`;
    if (token.kind !== "option") continue;
    const known = Object.hasOwn(PARSE_ARGS_OPTIONS, token.name)
      ? PARSE_ARGS_OPTIONS[token.name]
      : undefined;
    if (known === undefined) return `Unknown option ${JSON.stringify(token.rawName)}`;
    if (known.type === "boolean" && token.inlineValue) {
      return `Option ${token.rawName} takes no value`;
    }
    if (known.type === "string") {
      if (token.value === undefined) return `Missing value for ${token.rawName}`;
      if (!token.inlineValue && token.value.startsWith("-")) {
        return `Missing value for ${token.rawName} (for a value starting with "-", ` +
          `write ${token.rawName}=VALUE)`;
      }
    }
  }
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n", 1)[0] ?? message;
}
