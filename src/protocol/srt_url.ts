/**
 * SRT URLs, `srt://HOST:PORT?KEY=VALUE&...`: where a relay calls out to and
 * how. A stream rule's `source` (pull) and `push` destinations are SRT URLs.
 *
 * The query keys are spelled as ffmpeg and srt-live-transmit spell them:
 * `streamid`, `passphrase`, `pbkeylen`, `latency` (milliseconds),
 * `connect_timeout` or `conntimeo` (milliseconds), `mode` (`caller`, the
 * default, or `rendezvous`) and, for rendezvous only, the local port as
 * `port` or `localport`.
 *
 * Parsed by hand, not with `new URL()`: a stream id in SRT's Access Control
 * form starts with `#!::`, and a URL parser would cut it off as a fragment.
 * Here `#` is an ordinary character, written as is or as `%23`. Everything
 * after the first `?` is the query: `&`-separated `key=value` pairs, each
 * value percent-decoded (`+` stays `+`), so a `&` or `%` inside a value is
 * written `%26` or `%25`.
 *
 * `{name}` in the value of `streamid` stands for a stream's name, so that one
 * rule relays a whole tree of streams; it may appear nowhere else.
 *
 * Passphrases, and the credentials a stream id may carry, never appear in
 * errors: they show the URL as {@link redactSrtUrl} does.
 *
 * @module
 */

import { MAX_STREAM_NAME_BYTES, redactStreamId } from "./stream_id.ts";

/** A parsed SRT URL. Optional fields are absent when the URL does not set them. */
export interface SrtUrl {
  /** A host name or an IP address; an IPv6 address without its brackets. */
  hostname: string;
  /** 1 to 65535. */
  port: number;
  /** `streamid`, percent-decoded: at most 512 bytes. */
  streamId?: string;
  /** `passphrase`, percent-decoded: 10 to 79 bytes. */
  passphrase?: string;
  /** `pbkeylen`: the key length in bytes. */
  pbkeylen?: 0 | 16 | 24 | 32;
  /** `latency`, in milliseconds: 0 to 60000, as the server's `--latency`. */
  latencyMs?: number;
  /** `connect_timeout` or `conntimeo`, in milliseconds: 100 to 120000. */
  connectTimeoutMs?: number;
  /** `mode`: `caller` unless the URL says `rendezvous`. */
  mode: "caller" | "rendezvous";
  /** The local port of a rendezvous (`port` or `localport`, else `port`); set exactly then. */
  localPort?: number;
}

/**
 * An SRT URL that cannot be used. The message is one line,
 * `Invalid SRT URL "<url>": <detail>`, and never shows a passphrase.
 */
export class SrtUrlError extends TypeError {
  override name = "SrtUrlError";
  /** The URL as {@link redactSrtUrl} shows it. */
  readonly url: string;
  /** What is wrong with it, such as `missing port: expected srt://HOST:PORT`. */
  readonly detail: string;

  constructor(text: string, detail: string) {
    const url = redactSrtUrl(text);
    super(`Invalid SRT URL ${JSON.stringify(url)}: ${detail}`);
    this.url = url;
    this.detail = detail;
  }
}

/** Options for {@link parseSrtUrl}. */
export interface ParseSrtUrlOptions {
  /**
   * The stream name that `{name}` stands for. Without it, `{name}` is left
   * as it is in {@link SrtUrl.streamId}, and the URL is checked as if it
   * stood for a name of the longest length allowed: a URL that parses
   * without a name parses with any valid stream name.
   */
  name?: string;
}

/** What stands for the stream's name in a URL. */
const PLACEHOLDER = "{name}";
/** SRT's bounds on a passphrase (SRTO_PASSPHRASE), in bytes. */
const MIN_PASSPHRASE_BYTES = 10;
const MAX_PASSPHRASE_BYTES = 79;
/** SRT's longest stream id (SRTO_STREAMID), in bytes. */
const MAX_STREAM_ID_BYTES = 512;
/** The bound of the server's `--latency` (src/config checks that the two agree). */
const MAX_LATENCY_MS = 60_000;
/**
 * A connection attempt shorter than 100 ms fails before a distant peer can
 * answer; longer than two minutes, a dead remote goes unnoticed too long.
 * libsrt's default is 3 s (7.5 s for rendezvous).
 */
const MIN_CONNECT_TIMEOUT_MS = 100;
const MAX_CONNECT_TIMEOUT_MS = 120_000;
const KEY_LENGTHS = [0, 16, 24, 32] as const;
const MASK = "***";

/** The query keys, in the order errors list them. */
const KEYS = [
  "streamid",
  "passphrase",
  "pbkeylen",
  "latency",
  "connect_timeout",
  "conntimeo",
  "mode",
  "port",
  "localport",
] as const;
type Key = typeof KEYS[number];

/** Keys whose values may be shown, when they look like a number or a mode ({@link shownValue}). */
const SHOWN_KEYS: ReadonlySet<string> = new Set<Key>(
  KEYS.filter((key) => key !== "streamid" && key !== "passphrase"),
);

/** Pairs of keys that name one setting. */
const SYNONYMS: readonly (readonly [Key, Key])[] = [
  ["connect_timeout", "conntimeo"],
  ["port", "localport"],
];

/**
 * Parses an SRT URL, with `{name}` in its stream id standing for
 * `options.name` (see {@link ParseSrtUrlOptions.name}).
 *
 * @throws {SrtUrlError} when the text is not an SRT URL that a relay can call
 */
export function parseSrtUrl(text: string, options: ParseSrtUrlOptions = {}): SrtUrl {
  const fail = (detail: string): never => {
    throw new SrtUrlError(text, detail);
  };

  if (hasControlCharacter(text)) fail("it contains a control character");
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(text);
  if (scheme === null) return fail("expected srt://HOST:PORT");
  if (scheme[1]!.toLowerCase() !== "srt") {
    fail(`expected the srt:// scheme, got ${JSON.stringify(`${scheme[1]}://`)}`);
  }
  const rest = text.slice(scheme[0].length);
  const question = rest.indexOf("?");
  const address = question < 0 ? rest : rest.slice(0, question);
  if (address.includes(PLACEHOLDER)) {
    fail(`${PLACEHOLDER} may only appear in the value of streamid, not in the host or port`);
  }
  const { hostname, port } = parseAddress(address, fail);
  const query = question < 0 ? new Map<Key, string>() : parseQuery(rest.slice(question + 1), fail);

  const decoded = (key: Key, value: string): string => {
    let result: string;
    try {
      result = decodeURIComponent(value);
    } catch {
      return fail(`${key}: malformed percent-encoding`);
    }
    if (hasControlCharacter(result)) fail(`${key}: it contains a control character`);
    return result;
  };
  const integer = (key: Key, min: number, max: number, unit = ""): number | undefined => {
    const value = query.get(key);
    if (value === undefined) return undefined;
    const number = /^[0-9]+$/.test(value) ? Number(value) : NaN;
    if (!(number >= min && number <= max)) {
      fail(`${key}: expected an integer from ${min} to ${max}${unit}, got ${describe(key, value)}`);
    }
    return number;
  };

  const url: SrtUrl = { hostname, port, mode: "caller" };

  const streamIdText = query.get("streamid");
  if (streamIdText !== undefined) {
    const given = options.name;
    // Percent-encoded so that a name is taken literally, whatever it holds.
    const name = encodeURIComponent(given ?? "a".repeat(MAX_STREAM_NAME_BYTES));
    const streamId = decoded("streamid", streamIdText.replaceAll(PLACEHOLDER, () => name));
    const bytes = utf8Length(streamId);
    if (bytes === 0) fail(`streamid: expected 1 to ${MAX_STREAM_ID_BYTES} bytes, got none`);
    if (bytes > MAX_STREAM_ID_BYTES) {
      const template = given === undefined && streamIdText.includes(PLACEHOLDER)
        ? ` with ${PLACEHOLDER} standing for a stream name of ${MAX_STREAM_NAME_BYTES} bytes ` +
          "(the longest allowed)"
        : "";
      fail(`streamid: expected at most ${MAX_STREAM_ID_BYTES} bytes, got ${bytes}${template}`);
    }
    url.streamId = given === undefined ? decoded("streamid", streamIdText) : streamId;
  }

  const passphraseText = query.get("passphrase");
  if (passphraseText !== undefined) {
    const passphrase = decoded("passphrase", passphraseText);
    const bytes = utf8Length(passphrase);
    if (bytes < MIN_PASSPHRASE_BYTES || bytes > MAX_PASSPHRASE_BYTES) {
      fail(
        `passphrase: expected ${MIN_PASSPHRASE_BYTES} to ${MAX_PASSPHRASE_BYTES} bytes, got ${bytes}`,
      );
    }
    url.passphrase = passphrase;
  }

  const keyLengthText = query.get("pbkeylen");
  if (keyLengthText !== undefined) {
    const keyLength = KEY_LENGTHS.find((length) => String(length) === keyLengthText);
    if (keyLength === undefined) {
      return fail(`pbkeylen: expected 0, 16, 24 or 32, got ${describe("pbkeylen", keyLengthText)}`);
    }
    url.pbkeylen = keyLength;
  }

  const latencyMs = integer("latency", 0, MAX_LATENCY_MS, " (milliseconds)");
  if (latencyMs !== undefined) url.latencyMs = latencyMs;

  const timeoutKey = query.has("conntimeo") ? "conntimeo" : "connect_timeout";
  const connectTimeoutMs = integer(
    timeoutKey,
    MIN_CONNECT_TIMEOUT_MS,
    MAX_CONNECT_TIMEOUT_MS,
    " (milliseconds)",
  );
  if (connectTimeoutMs !== undefined) url.connectTimeoutMs = connectTimeoutMs;

  const modeText = query.get("mode");
  if (modeText !== undefined) {
    const mode = decoded("mode", modeText);
    if (mode === "listener" || mode === "server") {
      fail(
        `mode: ${JSON.stringify(mode)} is not supported: Atoll listens on its own port, ` +
          "and a relay calls out (caller or rendezvous)",
      );
    }
    if (mode !== "caller" && mode !== "rendezvous") {
      return fail(`mode: expected "caller" or "rendezvous", got ${describe("mode", modeText)}`);
    }
    url.mode = mode;
  }

  const localPortKey = query.has("localport") ? "localport" : "port";
  const localPort = integer(localPortKey, 1, 65_535);
  if (url.mode === "rendezvous") url.localPort = localPort ?? port;
  else if (localPort !== undefined) {
    fail(
      `${localPortKey}: a local port is only for mode=rendezvous ` +
        "(a caller's is chosen by the system)",
    );
  }
  return url;
}

/** `template` with every `{name}` replaced by `name`. */
export function expandName(template: string, name: string): string {
  // A function, so that `$&` and the like in `name` are not replacement patterns.
  return template.replaceAll(PLACEHOLDER, () => name);
}

/**
 * The URL as it may be shown (logs, the API, errors), whether it parses or
 * not; never throws. Shown as given: the scheme, host and port, the known
 * keys, and the values of those that hold a number or a mode when they look
 * like one (digits, or a known mode word). The stream id is shown as
 * {@link redactStreamId} shows it (passwords, sessions, query values and
 * text that is no valid stream name hidden), with `{name}` kept. Everything
 * else becomes `***`: the passphrase, values of unknown keys (one may be a
 * misspelt `passphrase`), bare query tokens that are no key, unknown keys
 * that do not look like one (letters, digits, `_` and `-`), and user info
 * before an `@`.
 */
export function redactSrtUrl(text: string): string {
  if (typeof text !== "string") return MASK;
  const question = text.indexOf("?");
  const address = redactUserInfo(question < 0 ? text : text.slice(0, question));
  if (question < 0) return address;
  const pairs = text.slice(question + 1).split("&").map((pair) => {
    if (pair === "") return "";
    const equals = pair.indexOf("=");
    if (equals < 0) return isKey(pair) ? pair : MASK;
    const key = pair.slice(0, equals);
    if (key === "streamid") return `streamid=${redactStreamIdValue(pair.slice(equals + 1))}`;
    if (SHOWN_KEYS.has(key)) return `${key}=${shownValue(key, pair.slice(equals + 1))}`;
    return `${looksLikeKey(key) ? key : MASK}=${MASK}`;
  });
  return `${address}?${pairs.join("&")}`;
}

/** The words of `mode` that may be shown. */
const MODE_WORDS: readonly string[] = ["caller", "rendezvous", "listener", "server", "client"];

/**
 * A value of a key in {@link SHOWN_KEYS} as it may be shown: numbers and
 * known modes only, for it may be a secret pasted in the wrong place.
 */
function shownValue(key: string, value: string): string {
  if (key === "mode") return MODE_WORDS.includes(value) ? value : MASK;
  return /^[-+.0-9]*$/.test(value) ? value : MASK;
}

/** A value for an error message: quoted when it may be shown. */
function describe(key: Key, value: string): string {
  const shown = shownValue(key, value);
  return shown === MASK
    ? (key === "mode" ? "an unknown mode" : "no number")
    : JSON.stringify(shown);
}

/** `srt://user:password@host:port` as `srt://***@host:port`. */
function redactUserInfo(address: string): string {
  const at = address.lastIndexOf("@");
  if (at < 0) return address;
  const scheme = address.indexOf("://");
  const start = scheme >= 0 && scheme < at ? scheme + 3 : 0;
  return `${address.slice(0, start)}${MASK}${address.slice(at)}`;
}

/** A valid stream name segment that stands for `{name}` while a stream id is redacted. */
const NAME_MARK = "atoll-name-placeholder";

/** The value of `streamid`, as given when it hides nothing, else redacted. */
function redactStreamIdValue(value: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(value);
  } catch {
    return MASK;
  }
  // `{name}` is no valid stream name, so redactStreamId() would hide it.
  const marked = decoded.replaceAll(PLACEHOLDER, NAME_MARK);
  const shown = redactStreamId(marked);
  if (shown === marked) return value;
  // Kept readable, and kept from looking like more query pairs.
  return shown.replaceAll(NAME_MARK, PLACEHOLDER).replace(/[%&\s]/g, encodeURIComponent);
}

/** HOST:PORT, `[IPV6]:PORT`, with an optional trailing `/`. */
function parseAddress(
  address: string,
  fail: (detail: string) => never,
): { hostname: string; port: number } {
  if (address.includes("@")) {
    fail(
      'unexpected user info before "@": SRT has none ' +
        "(give a passphrase as ?passphrase=, or credentials in the streamid)",
    );
  }
  const slash = address.indexOf("/");
  if (slash >= 0 && slash !== address.length - 1) {
    fail("unexpected path after the port: an SRT URL has none (give the stream as ?streamid=)");
  }
  const hostPort = slash < 0 ? address : address.slice(0, slash);

  let hostname: string;
  let portText: string | undefined;
  if (hostPort.startsWith("[")) {
    const close = hostPort.indexOf("]");
    if (close < 0) return fail('expected "]" after an IPv6 address');
    hostname = hostPort.slice(1, close);
    if (!isIpv6(hostname)) fail(`invalid IPv6 address ${JSON.stringify(hostname)}`);
    const after = hostPort.slice(close + 1);
    if (after !== "" && !after.startsWith(":")) fail('expected ":PORT" after "]"');
    portText = after === "" ? undefined : after.slice(1);
  } else {
    const colon = hostPort.indexOf(":");
    if (colon >= 0 && hostPort.includes(":", colon + 1)) {
      fail("an IPv6 address must be in brackets, as in srt://[::1]:9000");
    }
    hostname = colon < 0 ? hostPort : hostPort.slice(0, colon);
    portText = colon < 0 ? undefined : hostPort.slice(colon + 1);
    if (hostname === "") fail("missing host: expected srt://HOST:PORT");
    if (!isHostname(hostname)) {
      fail(`invalid host ${JSON.stringify(hostname)}: expected a host name or an IP address`);
    }
  }
  if (portText === undefined || portText === "") {
    return fail("missing port: expected srt://HOST:PORT");
  }
  const port = /^[0-9]{1,5}$/.test(portText) ? Number(portText) : 0;
  if (port < 1 || port > 65_535) {
    fail(`invalid port ${JSON.stringify(portText)}: expected an integer from 1 to 65535`);
  }
  return { hostname, port };
}

/** The query's `key=value` pairs, values as given; each key known and given once. */
function parseQuery(query: string, fail: (detail: string) => never): Map<Key, string> {
  const values = new Map<Key, string>();
  for (const pair of query.split("&")) {
    // A stray "&" (or a lone "?") sets nothing and hides nothing.
    if (pair === "") continue;
    const equals = pair.indexOf("=");
    // Not echoed: a bare token may be a passphrase that lost its key.
    if (equals < 0) fail(`expected key=value pairs after "?", got one without "="`);
    const key = pair.slice(0, equals);
    if (!isKey(key)) {
      const lower = KEYS.find((known) => known === key.toLowerCase());
      const hint = lower === undefined ? "" : ` (did you mean ${JSON.stringify(lower)}?)`;
      const shown = looksLikeKey(key) ? ` ${JSON.stringify(key)}` : "";
      fail(`unknown key${shown}${hint}: expected one of ${KEYS.join(", ")}`);
    }
    if (values.has(key)) fail(`${key} is given twice`);
    const value = pair.slice(equals + 1);
    if (key !== "streamid" && value.includes(PLACEHOLDER)) {
      fail(`${PLACEHOLDER} may only appear in the value of streamid, not of ${key}`);
    }
    values.set(key, value);
  }
  for (const [one, other] of SYNONYMS) {
    if (values.has(one) && values.has(other)) {
      fail(`${one} and ${other} name the same setting: give one`);
    }
  }
  return values;
}

/** Whether an unknown key may be shown: text of other shapes may be a secret in the wrong place. */
function looksLikeKey(text: string): boolean {
  return /^[A-Za-z0-9_-]*$/.test(text);
}

function isKey(text: string): text is Key {
  return (KEYS as readonly string[]).includes(text);
}

/** A host name: dot-separated labels of letters, digits, `-` and `_`; or an IPv4 address. */
function isHostname(text: string): boolean {
  if (/^[0-9.]+$/.test(text)) return isIpv4(text);
  const name = text.endsWith(".") ? text.slice(0, -1) : text;
  return name.length > 0 && name.length <= 253 &&
    name.split(".").every((label) =>
      /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(label)
    );
}

/** Dotted decimal, each of four parts 0 to 255 without leading zeros. */
function isIpv4(text: string): boolean {
  const parts = text.split(".");
  return parts.length === 4 &&
    parts.every((part) => /^(?:0|[1-9][0-9]{0,2})$/.test(part) && Number(part) <= 255);
}

/** Eight groups of hex, `::` for a run of zero groups, optionally an IPv4 address last; no zone. */
function isIpv6(text: string): boolean {
  let groupsText = text;
  const embedded = /^(.*:)([0-9]+(?:\.[0-9]+){3})$/.exec(text);
  if (embedded !== null) {
    if (!isIpv4(embedded[2]!)) return false;
    // The IPv4 address takes the place of two groups.
    groupsText = `${embedded[1]}0:0`;
  }
  const halves = groupsText.split("::");
  if (halves.length > 2) return false;
  const groups = halves.flatMap((half) => half === "" ? [] : half.split(":"));
  if (!groups.every((group) => /^[0-9A-Fa-f]{1,4}$/.test(group))) return false;
  return halves.length === 2 ? groups.length <= 7 : groups.length === 8;
}

/** Whether `text` holds an ASCII control character: a line break pasted along, a decoded `%00`. */
function hasControlCharacter(text: string): boolean {
  // deno-lint-ignore no-control-regex
  return /[\x00-\x1f\x7f]/.test(text);
}

function utf8Length(text: string): number {
  return new TextEncoder().encode(text).length;
}
