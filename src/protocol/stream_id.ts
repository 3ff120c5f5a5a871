/**
 * The stream id grammar: what a caller asks for, and on which stream.
 *
 * Encoders differ in what they let users type, so several forms are read:
 * - SRT Access Control: `#!::r=live/test,m=publish,u=alice,s=1234` (keys in
 *   any order; `m=request`, or no `m`, means play);
 * - short forms: `publish:live/test`, `play:live/test`, `read:live/test`;
 * - a bare name, `live/test`, meaning play;
 * - any of these URL-encoded as a whole, as OBS users often paste them;
 * - the empty id, meaning publish to the default stream.
 *
 * @module
 */

/** Whether a caller sends media to a stream or receives it. */
export type StreamMode = "publish" | "play";

/** A parsed stream id. */
export interface StreamId {
  mode: StreamMode;
  /** The stream's name: `/`-separated segments of `[A-Za-z0-9._~-]`. */
  name: string;
  /** `u=` of the SRT Access Control form. */
  user?: string;
  /** `s=` of the SRT Access Control form. */
  session?: string;
  /** Every other key of the SRT Access Control form (such as `h` or `t`), kept as given. */
  params: Record<string, string>;
  /** The stream id exactly as received, before any URL decoding. */
  raw: string;
}

/** Options for {@link parseStreamId}. */
export interface ParseStreamIdOptions {
  /** The stream used when the id names none (empty id, or `#!::` without `r`). */
  defaultStream?: string;
}

/** The longest stream name, in bytes. */
export const MAX_STREAM_NAME_BYTES = 255;

const ACCESS_CONTROL_PREFIX = "#!::";
const NAME_SEGMENT = /^[A-Za-z0-9._~-]+$/;

/** Short-form prefixes (before the first `:`) and the mode each asks for. */
const SHORT_FORM_MODES: Readonly<Record<string, StreamMode>> = {
  publish: "publish",
  play: "play",
  read: "play",
};

/** Values of `m=` in the SRT Access Control form. */
const ACCESS_CONTROL_MODES: Readonly<Record<string, StreamMode>> = {
  publish: "publish",
  request: "play",
};

/** Keys of the SRT Access Control form that have their own field in {@link StreamId}. */
const FIELD_KEYS = new Set(["r", "m", "u", "s"]);

/**
 * Parses a stream id.
 *
 * @throws {TypeError} when the id is malformed, names an unknown or
 * unsupported mode, or names no valid stream
 */
export function parseStreamId(raw: string, options: ParseStreamIdOptions = {}): StreamId {
  const fail = (detail: string): never => {
    // Errors reach logs and callers: no credential of the id goes with them.
    throw new TypeError(`Cannot parse stream id ${JSON.stringify(redactStreamId(raw))}: ${detail}`);
  };
  const defaultName = (): string => {
    if (options.defaultStream === undefined) return fail("no stream id and no default stream");
    return checkName(options.defaultStream, (detail) => fail(`default stream: ${detail}`));
  };

  if (raw === "") return { mode: "publish", name: defaultName(), params: {}, raw };

  let text = raw;
  if (text.includes("%")) {
    try {
      text = decodeURIComponent(text);
    } catch {
      fail("malformed percent-encoding");
    }
  }

  if (text.startsWith("#!")) {
    if (!text.startsWith(ACCESS_CONTROL_PREFIX)) fail(`unsupported syntax: expected "#!::"`);
    return parseAccessControl(text.slice(ACCESS_CONTROL_PREFIX.length), raw, fail, defaultName);
  }

  const colon = text.indexOf(":");
  if (colon === -1) return { mode: "play", name: checkName(text, fail), params: {}, raw };
  const prefix = text.slice(0, colon);
  const mode = Object.hasOwn(SHORT_FORM_MODES, prefix) ? SHORT_FORM_MODES[prefix] : undefined;
  if (mode === undefined) return fail(`unknown mode ${JSON.stringify(prefix)}`);
  return { mode, name: checkName(text.slice(colon + 1), fail), params: {}, raw };
}

/**
 * The mode a stream id asks for; never throws.
 *
 * `"publish"` when the id says nothing (empty) or cannot be parsed.
 */
export function describeMode(raw: string): StreamMode {
  try {
    // Any valid name will do: only the mode is wanted.
    return parseStreamId(raw, { defaultStream: "default" }).mode;
  } catch {
    return "publish";
  }
}

/** The part after `#!::`: comma-separated `key=value` pairs. */
function parseAccessControl(
  body: string,
  raw: string,
  fail: (detail: string) => never,
  defaultName: () => string,
): StreamId {
  const entries = new Map<string, string>();
  for (const entry of body.split(",")) {
    if (entry === "") fail("empty key-value pair");
    const equals = entry.indexOf("=");
    // Not echoed: a malformed pair may still hold a credential.
    if (equals < 0) fail(`expected key=value, got a pair without "="`);
    if (equals === 0) fail(`expected key=value, got a pair with an empty key`);
    const key = entry.slice(0, equals);
    if (entries.has(key)) fail(`duplicate key ${JSON.stringify(key)}`);
    entries.set(key, entry.slice(equals + 1));
  }

  const modeText = entries.get("m");
  let mode: StreamMode = "play";
  if (modeText !== undefined) {
    const known = Object.hasOwn(ACCESS_CONTROL_MODES, modeText)
      ? ACCESS_CONTROL_MODES[modeText]
      : undefined;
    if (known === undefined) {
      if (modeText === "bidirectional") fail(`unsupported mode "bidirectional"`);
      return fail(`unknown mode ${JSON.stringify(modeText)}`);
    }
    mode = known;
  }

  const resource = entries.get("r");
  const name = resource === undefined ? defaultName() : checkName(resource, fail);
  // Object.fromEntries defines own properties, so a key like "__proto__" stays a plain key.
  const params = Object.fromEntries([...entries].filter(([key]) => !FIELD_KEYS.has(key)));
  const id: StreamId = { mode, name, params, raw };
  const user = entries.get("u");
  if (user !== undefined) id.user = user;
  const session = entries.get("s");
  if (session !== undefined) id.session = session;
  return id;
}

/** Returns `name` when it is a valid stream name, else calls `fail`. */
function checkName(name: string, fail: (detail: string) => never): string {
  if (name === "") return fail("empty stream name");
  const bytes = new TextEncoder().encode(name).length;
  if (bytes > MAX_STREAM_NAME_BYTES) {
    return fail(`stream name is ${bytes} bytes long, at most ${MAX_STREAM_NAME_BYTES} allowed`);
  }
  for (const segment of name.split("/")) {
    if (!NAME_SEGMENT.test(segment) || segment === "." || segment === "..") {
      return fail(
        `invalid stream name ${
          JSON.stringify(name)
        }: expected "/"-separated segments of A-Z a-z 0-9 . _ ~ - (not "." or "..")`,
      );
    }
  }
  return name;
}

/** Keys of the SRT Access Control form shown as given; every other value may be a credential. */
const VISIBLE_KEYS = new Set(["r", "m", "u"]);

/**
 * The stream id as it may be shown (API, logs, dashboard): in the SRT Access
 * Control form, the values of every key but `r`, `m` and `u` (the session
 * `s=`, tokens, ...) are replaced with `***`. Other forms carry no such keys
 * and come back unchanged, as does an id that does not parse.
 */
export function redactStreamId(raw: string): string {
  let text = raw;
  if (text.includes("%")) {
    try {
      text = decodeURIComponent(text);
    } catch {
      return raw.startsWith("#!::") ? "#!::***" : raw;
    }
  }
  if (!text.startsWith(ACCESS_CONTROL_PREFIX)) return raw;
  const body = text.slice(ACCESS_CONTROL_PREFIX.length);
  const entries = body.split(",").map((entry) => {
    const equals = entry.indexOf("=");
    if (entry === "") return "";
    if (equals <= 0) return "***";
    const key = entry.slice(0, equals);
    return VISIBLE_KEYS.has(key) ? entry : `${key}=***`;
  });
  return `${ACCESS_CONTROL_PREFIX}${entries.join(",")}`;
}
