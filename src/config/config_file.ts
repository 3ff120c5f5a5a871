/**
 * The configuration file (`--config PATH`): per-stream rules and the timeouts
 * of publishing and playing, in JSON or YAML.
 *
 * Every key is optional; an empty file or `{}` gives {@link DEFAULT_CONFIG}.
 * A reload is stricter than startup: {@link reloadRefusal} says when a new
 * file must not replace the one in use.
 *
 * ```yaml
 * defaultStream: live/default  # the stream for encoders that send no stream id
 * playWaitMs: 2500             # how long a viewer may wait for a publisher
 * publisherTimeoutMs: 2000     # a publisher silent this long may be taken over
 * graceMs: 10000               # viewers stay this long after their publisher left
 * streamDefaults:              # rules for streams no entry sets them for
 *   modes: [publish, play]
 *   buffer: { seconds: 4 }
 * streams:
 *   - prefix: live             # "live" and "live/…", not "lively"
 *     publishPassphrase: "at least 10 bytes"
 *     readPassphrase: "another passphrase"
 *     modes: [publish, play]
 *     maxViewers: 50
 *     latencyMs: 200
 *     buffer: { bytes: 8388608 }
 *   - name: studio/main        # this stream only; wins over any prefix
 *     modes: [play]
 *   - prefix: edge             # pulled from the origin while it has viewers
 *     source: "srt://origin.example:9000?streamid=#!::r={name},m=request"
 *   - name: events/keynote     # kept pulled, and pushed on to a CDN
 *     source: "srt://192.0.2.10:9000?streamid=keynote&passphrase=0123456789"
 *     sourceMode: always
 *     push: ["srt://cdn.example:9000?streamid=#!::r={name},m=publish"]
 *     hls: always              # HLS segments made even while nobody watches over HLS
 *     hlsSegmentMs: 4000       # their target duration (default 2000)
 *     hlsWindow: 10            # segments the playlist lists at least (default 6)
 *     hlsPartMs: 0             # no low-latency HLS parts (default 400)
 * ```
 *
 * Validation is pure and strict: an unknown key, a value of the wrong type or
 * out of range, or two entries for the same name or prefix is a
 * {@link ConfigError} naming the file and the key path. Only
 * {@link loadConfig} touches the file system.
 *
 * @module
 */

// Full specifier, not the import map: projects that embed Atoll do not have its deno.json.
// deno-lint-ignore no-import-prefix
import { parseDocument } from "npm:yaml@^2";
import { OPTION_RULES } from "./options.ts";
import { describeSecret, messageOf, nearestKey } from "./validation.ts";
import { isStreamName, MAX_STREAM_NAME_BYTES, type StreamMode } from "../protocol/stream_id.ts";
import { parseSrtUrl, type SrtUrl, SrtUrlError } from "../protocol/srt_url.ts";

/** How much of a stream is kept for viewers that join: a duration or a size. */
export type BufferSize = { readonly seconds: number } | { readonly bytes: number };

/** When a stream with a `source` is pulled: all the time, or while it has viewers. */
export type SourceMode = "always" | "on-demand";

/**
 * Who publishes a stream with a `source`: the pull only (`primary`), or the
 * pull while no caller publishes (`backup`).
 */
export type SourceRole = "primary" | "backup";

/** When a stream's HLS segments are made: while someone watches over HLS, or all the time. */
export type HlsMode = "on-demand" | "always";

/** What callers of one stream may do, and what they get. */
export interface StreamRules {
  /** Publishers must use this passphrase (10 to 79 bytes); none when unset. */
  readonly publishPassphrase?: string;
  /** Viewers must use this passphrase (10 to 79 bytes); none when unset. */
  readonly readPassphrase?: string;
  /** What callers may do with the stream: publish, play or both. */
  readonly modes: readonly StreamMode[];
  /** Viewers at once; no limit when unset. */
  readonly maxViewers?: number;
  /** SRT latency for the stream's callers, in milliseconds; the server's when unset. */
  readonly latencyMs?: number;
  /** How much of the stream is kept for viewers that join. */
  readonly buffer: BufferSize;
  /**
   * An `srt://` URL to pull the stream from (src/protocol/srt_url.ts), where
   * `{name}` in the stream id stands for the stream's name; none when unset.
   */
  readonly source?: string;
  /**
   * Whether the source is pulled all the time (`always`: only in an entry
   * with a `name`, and only with a source) or while the stream has viewers
   * (`on-demand`). Without a source, it means nothing.
   */
  readonly sourceMode: SourceMode;
  /** How long an on-demand pull stays connected after the last viewer left, in milliseconds. */
  readonly sourceLingerMs: number;
  /**
   * `primary`: the source is the stream's only publisher, and callers may not
   * publish to it; `backup`: a caller publishing wins, and the source is
   * pulled only while none does. Without a source, it means nothing.
   */
  readonly sourceRole: SourceRole;
  /**
   * `srt://` URLs to push the stream to while it has a publisher, `{name}`
   * as in `source`; none when unset or empty.
   */
  readonly push?: readonly string[];
  /**
   * HLS segments are made while someone fetched the stream's playlist or a
   * segment lately (`on-demand`), or all the time (`always`).
   */
  readonly hls: HlsMode;
  /** HLS segments' target duration, in milliseconds (1000 to 10000). */
  readonly hlsSegmentMs: number;
  /** Segments the HLS playlist lists at least (3 to 30). */
  readonly hlsWindow: number;
  /**
   * Low-latency HLS: the parts' target duration, in milliseconds (100 to
   * 5000; at most half `hlsSegmentMs`, a larger one is taken as half); 0:
   * no parts, a plain HLS playlist.
   */
  readonly hlsPartMs: number;
  /**
   * Record the stream to MPEG-TS files while it has a buffer; `false` turns
   * off a recording set by `streamDefaults` or a prefix entry. None when
   * unset.
   */
  readonly record?: RecordRule | false;
}

/** Where and how a stream is recorded (the `record` rule key). */
export interface RecordRule {
  /** The directory the files go in: an absolute path. */
  readonly dir: string;
  /** A new file starts at the first key frame after this many seconds. */
  readonly rotateSeconds: number;
  /** The stream's files in `dir` take at most this many bytes: the oldest go first. */
  readonly quotaBytes: number;
}

/** The stream's recording, if its rules record it. */
export function recordingOf(rules: StreamRules): RecordRule | undefined {
  return rules.record === false ? undefined : rules.record;
}

/** One entry of `streams`: the rules of one stream, or of every stream under a prefix. */
export interface StreamEntry {
  /** The stream this entry is for; exactly one of `name` and `prefix` is set. */
  readonly name?: string;
  /**
   * The streams this entry is for: this name and every name under it, at
   * `/` boundaries. Stored without a trailing `/`.
   */
  readonly prefix?: string;
  /** Only the rules the entry sets; {@link rulesFor} fills in the rest. */
  readonly rules: Partial<StreamRules>;
}

/** A validated configuration file. Deeply frozen. */
export interface AtollConfig {
  /** The stream encoders that send no stream id publish to; none when unset. */
  readonly defaultStream?: string;
  /** The HTTP API's bearer token when neither `--api-token` nor `ATOLL_API_TOKEN` gives one. */
  readonly apiToken?: string;
  /** Whether reading the API needs the token too (changing always does). */
  readonly apiTokenForReads: boolean;
  /** An HTTP service asked before each publisher or viewer is accepted; none when unset. */
  readonly authHook?: { readonly url: string; readonly timeoutMs: number };
  /** How long a viewer may wait for a publisher to appear, in milliseconds. */
  readonly playWaitMs: number;
  /** A publisher silent this long may be taken over by a new one, in milliseconds. */
  readonly publisherTimeoutMs: number;
  /** How long viewers stay connected after their publisher left, in milliseconds. */
  readonly graceMs: number;
  /** The rules of streams that no entry sets them for, built-in defaults filled in. */
  readonly streamDefaults: StreamRules;
  /** Per-stream rules, in file order. */
  readonly streams: readonly StreamEntry[];
  /**
   * Whether a reload may apply this file even though it takes protection
   * from streams that have callers (see {@link reloadRefusal}).
   */
  readonly allowUnprotected: boolean;
}

/** A configuration file that cannot be used; the message is one line for the user. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** The rules of a stream when the file sets none. */
const BUILT_IN_RULES: StreamRules = {
  modes: ["publish", "play"],
  buffer: { seconds: 4 },
  sourceMode: "on-demand",
  sourceLingerMs: 10_000,
  sourceRole: "primary",
  hls: "on-demand",
  hlsSegmentMs: 2000,
  hlsWindow: 6,
  hlsPartMs: 400,
};

/** How long the authorization hook may take when the file does not say. */
export const DEFAULT_AUTH_HOOK_TIMEOUT_MS = 2000;

/** The configuration used without `--config`, and what an empty file gives. */
export const DEFAULT_CONFIG: AtollConfig = deepFreeze({
  playWaitMs: 2_500,
  publisherTimeoutMs: 2000,
  graceMs: 10_000,
  apiTokenForReads: false,
  streamDefaults: BUILT_IN_RULES,
  streams: [],
  allowUnprotected: false,
});

/** Upper bound of `playWaitMs`, `publisherTimeoutMs` and `graceMs`: ten minutes. */
const MAX_TIMEOUT_MS = 600_000;
const MIN_BUFFER_SECONDS = 0.5;
const MAX_BUFFER_SECONDS = 120;
const MIN_BUFFER_BYTES = 64 * 1024;
const MAX_BUFFER_BYTES = 1024 * 1024 * 1024;
const MODES: readonly StreamMode[] = ["publish", "play"];
/** Default `record.rotateSeconds`: ten minutes. */
export const DEFAULT_ROTATE_SECONDS = 600;
const MAX_ROTATE_SECONDS = 86_400;
/** The smallest `record.quotaBytes`: 1 MiB. */
const MIN_QUOTA_BYTES = 1024 * 1024;
/** Upper bound of `sourceLingerMs`: an hour. */
const MAX_SOURCE_LINGER_MS = 3_600_000;
/** The most `push` URLs of one rule. */
const MAX_PUSH_URLS = 16;
/** The range of `hlsSegmentMs` (the output process checks the same: src/ipc/output_messages.ts). */
export const HLS_SEGMENT_MS = { min: 1000, max: 10_000 } as const;
/** The range of `hlsWindow`. */
export const HLS_WINDOW = { min: 3, max: 30 } as const;
/** The range of `hlsPartMs` when not 0. */
export const HLS_PART_MS = { min: 200, max: 5000 } as const;
const TIMEOUT_KEYS = ["playWaitMs", "publisherTimeoutMs", "graceMs"] as const;
const TOP_LEVEL_KEYS = [
  "defaultStream",
  ...TIMEOUT_KEYS,
  "apiToken",
  "apiTokenForReads",
  "authHook",
  "streamDefaults",
  "streams",
  "allowUnprotected",
];

/** A problem at a key path; the file's name is added by {@link toConfig}. */
class Invalid extends Error {
  constructor(keyPath: string, detail: string) {
    super(keyPath === "" ? detail : `${keyPath}: ${detail}`);
  }
}

/** Text that is not JSON or YAML; the file's name is added by {@link toConfig}. */
class SyntaxProblem extends Error {
  constructor(readonly detail: string, format?: "JSON" | "YAML", cause?: unknown) {
    super(format === undefined ? detail : `${format} syntax error: ${detail}`, { cause });
  }
}

/**
 * Checks one value. `streamName` is the stream an entry with a `name` is
 * for; undefined for `streamDefaults` and `prefix` entries, whose rules are
 * for streams not known in advance.
 */
type Check<T> = (value: unknown, path: string, streamName?: string) => T;
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const RULE_CHECKS: { readonly [K in keyof StreamRules]-?: Check<StreamRules[K]> } = {
  publishPassphrase: checkPassphrase,
  readPassphrase: checkPassphrase,
  modes: checkModes,
  maxViewers: (value, path) =>
    check(value, path, "a positive integer", Number.isSafeInteger(value) && Number(value) >= 1),
  latencyMs: (value, path) =>
    check(value, path, OPTION_RULES.latencyMs.expected, OPTION_RULES.latencyMs.isValid(value)),
  buffer: checkBuffer,
  source: (value, path, streamName) => {
    checkSrtUrl(value, path, streamName);
    return value as string;
  },
  sourceMode: (value, path, streamName) => {
    const mode = check<SourceMode>(
      value,
      path,
      '"always" or "on-demand"',
      value === "always" || value === "on-demand",
    );
    if (mode === "always" && streamName === undefined) {
      throw new Invalid(
        path,
        '"always" is only allowed in an entry with a "name", the stream to keep pulled',
      );
    }
    return mode;
  },
  sourceLingerMs: (value, path) =>
    check(
      value,
      path,
      `an integer from 0 to ${MAX_SOURCE_LINGER_MS}`,
      Number.isInteger(value) && Number(value) >= 0 && Number(value) <= MAX_SOURCE_LINGER_MS,
    ),
  sourceRole: (value, path) =>
    check(value, path, '"primary" or "backup"', value === "primary" || value === "backup"),
  push: checkPush,
  record: checkRecordRule,
  hls: (value, path) =>
    check(value, path, '"on-demand" or "always"', value === "on-demand" || value === "always"),
  hlsSegmentMs: (value, path) => checkInteger(value, path, HLS_SEGMENT_MS),
  hlsWindow: (value, path) => checkInteger(value, path, HLS_WINDOW),
  hlsPartMs: (value, path) =>
    value === 0 ? value : checkInteger(value, path, HLS_PART_MS, "0 (no parts) or "),
};
const RULE_KEYS = Object.keys(RULE_CHECKS) as (keyof StreamRules)[];
const ENTRY_KEYS = ["name", "prefix", ...RULE_KEYS];

/**
 * Parses and validates a configuration file's text.
 *
 * @param source how the file is named in errors, usually its path
 * @throws {ConfigError} when the text cannot be parsed or is not a valid configuration
 */
export function parseConfig(text: string, format: "json" | "yaml", source: string): AtollConfig {
  return toConfig(source, () => format === "json" ? parseJson(text) : parseYaml(text));
}

/**
 * Reads and validates a configuration file.
 *
 * The format follows the extension: `.json`, or `.yaml` and `.yml`. A file
 * named otherwise is read as JSON, else as YAML.
 *
 * @throws {ConfigError} when the file cannot be read or parsed, or is not a valid configuration
 */
export async function loadConfig(path: string): Promise<AtollConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    const detail = error instanceof Deno.errors.NotFound ? "file not found" : messageOf(error);
    throw new ConfigError(`Cannot read config ${path}: ${detail}`, { cause: error });
  }

  if (/\.json$/i.test(path)) return parseConfig(text, "json", path);
  if (/\.ya?ml$/i.test(path)) return parseConfig(text, "yaml", path);
  return toConfig(path, () => {
    try {
      return parseJson(text);
    } catch (jsonProblem) {
      try {
        return parseYaml(text);
      } catch (yamlProblem) {
        if (!(jsonProblem instanceof SyntaxProblem && yamlProblem instanceof SyntaxProblem)) {
          throw yamlProblem;
        }
        throw new SyntaxProblem(
          `neither JSON (${jsonProblem.detail}) nor YAML (${yamlProblem.detail}); ` +
            "name the file .json, .yaml or .yml to choose",
        );
      }
    }
  });
}

/**
 * The rules of one stream.
 *
 * An entry naming the stream wins over the entry with the longest prefix
 * matching it; a prefix matches at `/` boundaries (`live` matches `live` and
 * `live/x`, not `lively`). What the entry does not set comes from
 * `streamDefaults`, which holds the built-in defaults where the file sets none.
 */
export function rulesFor(config: AtollConfig, streamName: string): StreamRules {
  let match: StreamEntry | undefined;
  for (const entry of config.streams) {
    if (entry.name === streamName) {
      match = entry;
      break;
    }
    const prefix = entry.prefix;
    if (prefix === undefined || (match?.prefix?.length ?? -1) >= prefix.length) continue;
    if (streamName === prefix || streamName.startsWith(`${prefix}/`)) match = entry;
  }
  return Object.freeze({ ...config.streamDefaults, ...match?.rules });
}

/** How many losses a refused reload lists before it only counts the rest. */
const MAX_LOSSES_SHOWN = 5;

/**
 * Why a reload must not replace `previous` with `next`, or undefined when it
 * may. A config fails closed: a truncated write followed by a reload must not
 * open streams that callers are using now.
 *
 * Refused: a file that sets nothing (empty, only comments, `null` or `{}`),
 * always; and unless `next` sets `allowUnprotected: true`, a file under
 * which a stream of `options.liveStreams` (one with a publisher or viewers)
 * loses its `publishPassphrase` or `readPassphrase`, gains a mode or loses
 * its `maxViewers`, or which removes the `authHook` while any stream is live.
 * A changed passphrase or a different limit is a decision, not a loss; so
 * is any change to the relay keys (`source`, `sourceMode`, `sourceLingerMs`,
 * `sourceRole`, `push`), which protect nothing.
 *
 * @param options.source how the file is named in the reason, usually its path
 * @param options.liveStreams the names of the streams that have callers now
 */
export function reloadRefusal(
  previous: AtollConfig,
  next: AtollConfig,
  options: { readonly source: string; readonly liveStreams: Iterable<string> },
): string | undefined {
  const refusing = `Refusing config ${options.source}`;
  if (next === DEFAULT_CONFIG) {
    return `${refusing}: it sets nothing (empty or only comments), which is more likely a ` +
      "truncated write than a wish to drop every rule; to use the built-in defaults, write " +
      "allowUnprotected: true in it";
  }
  if (next.allowUnprotected) return undefined;
  const losses = protectionLosses(previous, next, options.liveStreams);
  if (losses.length === 0) return undefined;
  const shown = losses.slice(0, MAX_LOSSES_SHOWN).join(", ");
  const more = losses.length > MAX_LOSSES_SHOWN
    ? ` and ${losses.length - MAX_LOSSES_SHOWN} more`
    : "";
  return `${refusing}: it takes protection from streams that have callers: ${shown}${more}; ` +
    "to mean that, add allowUnprotected: true to it";
}

/** What each live stream would lose going from `previous` to `next`, one phrase each. */
function protectionLosses(
  previous: AtollConfig,
  next: AtollConfig,
  liveStreams: Iterable<string>,
): string[] {
  const losses: string[] = [];
  const names = [...new Set(liveStreams)];
  if (names.length > 0 && previous.authHook !== undefined && next.authHook === undefined) {
    losses.push("the authHook is removed");
  }
  for (const name of names) {
    const before = rulesFor(previous, name);
    const after = rulesFor(next, name);
    const stream = JSON.stringify(name);
    for (const key of ["publishPassphrase", "readPassphrase", "maxViewers"] as const) {
      if (before[key] !== undefined && after[key] === undefined) {
        losses.push(`${stream} loses its ${key}`);
      }
    }
    for (const mode of after.modes) {
      if (!before.modes.includes(mode)) losses.push(`${stream} gains mode ${mode}`);
    }
  }
  return losses;
}

/** Parses, validates, and turns the problems found into {@link ConfigError}. */
function toConfig(source: string, parse: () => unknown): AtollConfig {
  try {
    return validateConfig(parse());
  } catch (error) {
    if (!(error instanceof Invalid || error instanceof SyntaxProblem)) throw error;
    throw new ConfigError(`Invalid config ${source}: ${error.message}`, { cause: error.cause });
  }
}

function parseJson(text: string): unknown {
  const body = stripByteOrderMark(text);
  if (body.trim() === "") return null;
  try {
    return JSON.parse(body);
  } catch (error) {
    throw new SyntaxProblem(messageOf(error), "JSON", error);
  }
}

function parseYaml(text: string): unknown {
  // Warnings (such as an unknown tag) are errors too: the file would not mean what it says.
  const document = parseDocument(stripByteOrderMark(text), { prettyErrors: true });
  const problem = document.errors[0] ?? document.warnings[0];
  if (problem !== undefined) {
    // The first line says what and where ("... at line 2, column 1:"); the rest quotes the text.
    throw new SyntaxProblem(firstLine(problem.message).replace(/:$/, ""), "YAML", problem);
  }
  try {
    return document.toJS({ maxAliasCount: 100 });
  } catch (error) {
    // An alias before its anchor, or too many aliases.
    throw new SyntaxProblem(messageOf(error), "YAML", error);
  }
}

function validateConfig(document: unknown): AtollConfig {
  if (document === null) return DEFAULT_CONFIG;
  const top = checkRecord(document, "", "an object at the top level", TOP_LEVEL_KEYS);
  // The very object, so that reloadRefusal() can tell a file that sets nothing.
  if (Object.keys(top).length === 0) return DEFAULT_CONFIG;

  const config: Mutable<AtollConfig> = {
    playWaitMs: DEFAULT_CONFIG.playWaitMs,
    publisherTimeoutMs: DEFAULT_CONFIG.publisherTimeoutMs,
    graceMs: DEFAULT_CONFIG.graceMs,
    apiTokenForReads: DEFAULT_CONFIG.apiTokenForReads,
    streamDefaults: BUILT_IN_RULES,
    streams: [],
    allowUnprotected: DEFAULT_CONFIG.allowUnprotected,
  };
  if (Object.hasOwn(top, "defaultStream")) {
    config.defaultStream = checkStreamName(top.defaultStream, "defaultStream");
  }
  if (Object.hasOwn(top, "apiToken")) {
    const token = top.apiToken;
    // Like passphrases, the value itself never appears in an error.
    if (!OPTION_RULES.apiToken.isValid(token)) {
      throw new Invalid(
        "apiToken",
        `expected ${OPTION_RULES.apiToken.expected}, got ${
          typeof token === "string" ? `a string of ${token.length}` : typeof token
        }`,
      );
    }
    config.apiToken = token as string;
  }
  if (Object.hasOwn(top, "authHook")) {
    const hook = checkRecord(top.authHook, "authHook", "an object", ["url", "timeoutMs"]);
    if (!Object.hasOwn(hook, "url")) throw new Invalid("authHook", 'expected a "url"');
    const url = check<string>(
      hook.url,
      "authHook.url",
      "an http:// or https:// URL",
      typeof hook.url === "string" && /^https?:\/\/[^\s]+$/.test(hook.url) &&
        URL.canParse(hook.url),
    );
    const timeoutMs = Object.hasOwn(hook, "timeoutMs")
      ? check<number>(
        hook.timeoutMs,
        "authHook.timeoutMs",
        "an integer from 100 to 60000",
        Number.isInteger(hook.timeoutMs) && Number(hook.timeoutMs) >= 100 &&
          Number(hook.timeoutMs) <= 60_000,
      )
      : DEFAULT_AUTH_HOOK_TIMEOUT_MS;
    config.authHook = { url, timeoutMs };
  }
  if (Object.hasOwn(top, "apiTokenForReads")) {
    config.apiTokenForReads = check<boolean>(
      top.apiTokenForReads,
      "apiTokenForReads",
      "true or false",
      typeof top.apiTokenForReads === "boolean",
    );
  }
  if (Object.hasOwn(top, "allowUnprotected")) {
    config.allowUnprotected = check<boolean>(
      top.allowUnprotected,
      "allowUnprotected",
      "true or false",
      typeof top.allowUnprotected === "boolean",
    );
  }
  for (const key of TIMEOUT_KEYS) {
    if (!Object.hasOwn(top, key)) continue;
    const value = top[key];
    config[key] = check(
      value,
      key,
      `an integer from 0 to ${MAX_TIMEOUT_MS}`,
      Number.isInteger(value) && Number(value) >= 0 && Number(value) <= MAX_TIMEOUT_MS,
    );
  }
  if (Object.hasOwn(top, "streamDefaults")) {
    const record = checkRecord(top.streamDefaults, "streamDefaults", "an object", RULE_KEYS);
    config.streamDefaults = { ...BUILT_IN_RULES, ...checkRules(record, "streamDefaults") };
  }
  if (Object.hasOwn(top, "streams")) config.streams = checkStreams(top.streams, "streams");

  config.streams.forEach((entry, index) => {
    // Pulled all the time from nowhere: more likely a forgotten source than a wish.
    if (entry.name === undefined || entry.rules.sourceMode !== "always") return;
    if (rulesFor(config, entry.name).source === undefined) {
      throw new Invalid(
        `streams[${index}].sourceMode`,
        '"always" needs a source, in this entry or in streamDefaults',
      );
    }
  });
  if (config.defaultStream !== undefined) {
    const { modes } = rulesFor(config, config.defaultStream);
    if (!modes.includes("publish")) {
      throw new Invalid(
        "defaultStream",
        `${JSON.stringify(config.defaultStream)} does not allow publish (its modes are ${
          JSON.stringify(modes)
        })`,
      );
    }
  }
  return deepFreeze(config);
}

function checkStreams(value: unknown, path: string): StreamEntry[] {
  if (!Array.isArray(value)) throw expected(path, "a list of stream entries", value);
  const entries: StreamEntry[] = [];
  const names = new Map<string, string>();
  const prefixes = new Map<string, string>();
  value.forEach((item: unknown, index) => {
    const entryPath = `${path}[${index}]`;
    const record = checkRecord(item, entryPath, "an object", ENTRY_KEYS);
    const hasName = Object.hasOwn(record, "name");
    const hasPrefix = Object.hasOwn(record, "prefix");
    if (hasName === hasPrefix) {
      throw new Invalid(
        entryPath,
        `expected exactly one of "name" or "prefix", got ${hasName ? "both" : "neither"}`,
      );
    }
    const key = hasName ? "name" : "prefix";
    const keyPath = `${entryPath}.${key}`;
    const given = record[key];
    // "live/" means the same as "live".
    const text = !hasName && typeof given === "string" && given.endsWith("/")
      ? given.slice(0, -1)
      : given;
    const streamName = checkStreamName(text, keyPath, given);
    const seen = hasName ? names : prefixes;
    const earlier = seen.get(streamName);
    if (earlier !== undefined) {
      throw new Invalid(keyPath, `${JSON.stringify(given)} duplicates ${earlier}`);
    }
    seen.set(streamName, keyPath);
    const rules = checkRules(record, entryPath, hasName ? streamName : undefined);
    entries.push(hasName ? { name: streamName, rules } : { prefix: streamName, rules });
  });
  return entries;
}

/** The rule keys present in `record`, checked; `streamName` as for {@link Check}. */
function checkRules(
  record: Record<string, unknown>,
  path: string,
  streamName?: string,
): Partial<StreamRules> {
  const rules: Record<string, unknown> = {};
  for (const key of RULE_KEYS) {
    if (!Object.hasOwn(record, key)) continue;
    rules[key] = RULE_CHECKS[key](record[key], `${path}.${key}`, streamName);
  }
  return rules as Partial<StreamRules>;
}

function checkPassphrase(value: unknown, path: string): string {
  const rule = OPTION_RULES.passphrase;
  if (typeof value === "string" && rule.isValid(value)) return value;
  // A passphrase is described by its length or type only: messages end up in logs.
  const got = typeof value === "string"
    ? describeSecret(value)
    : value === null || typeof value === "object"
    ? describe(value)
    : `a ${typeof value}`;
  throw new Invalid(path, `expected a string of ${rule.expected}, got ${got}`);
}

function checkModes(value: unknown, path: string): StreamMode[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw expected(path, `a non-empty list of "publish" and "play"`, value);
  }
  const modes: StreamMode[] = [];
  value.forEach((item: unknown, index) => {
    const itemPath = `${path}[${index}]`;
    const mode = MODES.find((known) => known === item);
    if (mode === undefined) throw expected(itemPath, `"publish" or "play"`, item);
    if (modes.includes(mode)) {
      throw new Invalid(itemPath, `${JSON.stringify(mode)} is listed twice`);
    }
    modes.push(mode);
  });
  return modes;
}

function checkBuffer(value: unknown, path: string): BufferSize {
  const record = checkRecord(value, path, `an object with "seconds" or "bytes"`, [
    "seconds",
    "bytes",
  ]);
  const hasSeconds = Object.hasOwn(record, "seconds");
  if (hasSeconds === Object.hasOwn(record, "bytes")) {
    throw new Invalid(
      path,
      `expected exactly one of "seconds" or "bytes", got ${hasSeconds ? "both" : "neither"}`,
    );
  }
  if (hasSeconds) {
    const seconds = record.seconds;
    return {
      seconds: check(
        seconds,
        `${path}.seconds`,
        `a number from ${MIN_BUFFER_SECONDS} to ${MAX_BUFFER_SECONDS}`,
        typeof seconds === "number" && seconds >= MIN_BUFFER_SECONDS &&
          seconds <= MAX_BUFFER_SECONDS,
      ),
    };
  }
  const bytes = record.bytes;
  return {
    bytes: check(
      bytes,
      `${path}.bytes`,
      `an integer from ${MIN_BUFFER_BYTES} (64 KiB) to ${MAX_BUFFER_BYTES} (1 GiB)`,
      Number.isInteger(bytes) && Number(bytes) >= MIN_BUFFER_BYTES &&
        Number(bytes) <= MAX_BUFFER_BYTES,
    ),
  };
}

function checkRecordRule(value: unknown, path: string): RecordRule | false {
  if (value === false) return false;
  const record = checkRecord(
    value,
    path,
    'an object with "dir" and "quotaBytes", or false',
    ["dir", "rotateSeconds", "quotaBytes"],
  );
  for (const key of ["dir", "quotaBytes"]) {
    if (!Object.hasOwn(record, key)) throw new Invalid(path, `expected a "${key}"`);
  }
  // No comma: Deno's --allow-write, which a recorder run from source gets its directory in,
  // splits its list at commas, with no way to escape one.
  const dir = check<string>(
    record.dir,
    `${path}.dir`,
    "an absolute path without a comma",
    typeof record.dir === "string" && record.dir.startsWith("/") && !/[\0,]/.test(record.dir),
  );
  const rotateSeconds = Object.hasOwn(record, "rotateSeconds")
    ? check<number>(
      record.rotateSeconds,
      `${path}.rotateSeconds`,
      `an integer from 1 to ${MAX_ROTATE_SECONDS}`,
      Number.isInteger(record.rotateSeconds) && Number(record.rotateSeconds) >= 1 &&
        Number(record.rotateSeconds) <= MAX_ROTATE_SECONDS,
    )
    : DEFAULT_ROTATE_SECONDS;
  const quotaBytes = check<number>(
    record.quotaBytes,
    `${path}.quotaBytes`,
    `an integer of at least ${MIN_QUOTA_BYTES} (1 MiB)`,
    Number.isSafeInteger(record.quotaBytes) && Number(record.quotaBytes) >= MIN_QUOTA_BYTES,
  );
  return { dir, rotateSeconds, quotaBytes };
}

function checkPush(value: unknown, path: string, streamName?: string): string[] {
  if (!Array.isArray(value)) throw expected(path, "a list of srt:// URLs", value);
  if (value.length > MAX_PUSH_URLS) {
    throw new Invalid(path, `expected at most ${MAX_PUSH_URLS} URLs, got ${value.length}`);
  }
  const destinations = new Map<string, string>();
  return value.map((item: unknown, index) => {
    const itemPath = `${path}[${index}]`;
    const url = checkSrtUrl(item, itemPath, streamName);
    // Other settings aside, these say where the stream goes: twice there is once too many.
    const destination = JSON.stringify([url.hostname.toLowerCase(), url.port, url.streamId]);
    const earlier = destinations.get(destination);
    if (earlier !== undefined) {
      throw new Invalid(itemPath, `the same host, port and streamid as ${earlier}`);
    }
    destinations.set(destination, itemPath);
    return item as string;
  });
}

/** Checks an `srt://` URL with `{name}` standing for `streamName`, or for any stream name. */
function checkSrtUrl(value: unknown, path: string, streamName?: string): SrtUrl {
  if (typeof value !== "string") throw expected(path, "an srt:// URL", value);
  try {
    return parseSrtUrl(value, streamName === undefined ? {} : { name: streamName });
  } catch (error) {
    if (!(error instanceof SrtUrlError)) throw error;
    // The URL as shown, never a passphrase.
    throw new Invalid(path, `invalid SRT URL ${JSON.stringify(error.url)}: ${error.detail}`);
  }
}

/**
 * Checks a stream name with the stream id grammar's own rules.
 *
 * @param shown what the error quotes, when not `value` itself
 */
function checkStreamName(value: unknown, path: string, shown: unknown = value): string {
  if (typeof value === "string" && isStreamName(value)) return value;
  const got = typeof shown === "string" && shown.length > MAX_STREAM_NAME_BYTES
    ? `a string of ${new TextEncoder().encode(shown).length} bytes`
    : describe(shown);
  throw new Invalid(
    path,
    `expected a stream name ("/"-separated segments of A-Z a-z 0-9 . _ ~ -, not "." or "..", ` +
      `at most ${MAX_STREAM_NAME_BYTES} bytes), got ${got}`,
  );
}

/** Checks that `value` is a plain object with no keys but `known`. */
function checkRecord(
  value: unknown,
  path: string,
  what: string,
  known: readonly string[],
): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw expected(path, what, value);
  }
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const near = nearestKey(key, known);
    const hint = near === undefined ? "" : ` (did you mean ${JSON.stringify(near)}?)`;
    const keyPath = path === "" ? key : `${path}.${key}`;
    throw new Invalid(keyPath, `unknown key${hint}`);
  }
  return value as Record<string, unknown>;
}

function check<T>(value: unknown, path: string, what: string, valid: boolean): T {
  if (!valid) throw expected(path, what, value);
  return value as T;
}

function checkInteger(
  value: unknown,
  path: string,
  range: { readonly min: number; readonly max: number },
  alternative = "",
): number {
  const valid = Number.isInteger(value) && Number(value) >= range.min && Number(value) <= range.max;
  return check(value, path, `${alternative}an integer from ${range.min} to ${range.max}`, valid);
}

function expected(path: string, what: string, value: unknown): Invalid {
  return new Invalid(path, `expected ${what}, got ${describe(value)}`);
}

/**
 * Describes a value for an error message. Lists and objects are named, not
 * shown: they may hold passphrases.
 */
function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return value.length === 0 ? "an empty list" : "a list";
  if (value !== null && typeof value === "object") return "an object";
  return String(value);
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object") {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

function stripByteOrderMark(text: string): string {
  return text.startsWith("\uFEFF") ? text.slice(1) : text;
}

function firstLine(text: string): string {
  return text.split("\n", 1)[0] ?? text;
}
