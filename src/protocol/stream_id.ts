/**
 * The stream id grammar: what a caller asks for, and on which stream.
 *
 * Encoders differ in what they let users type, and users bring ids written
 * for other servers, so several forms are read:
 * - SRT Access Control: `#!::r=live/test,m=publish,u=alice,s=1234` (keys in
 *   any order; `m=request`, or no `m`, means play);
 * - short forms: `publish:live/test`, `play:live/test`, `read:live/test`,
 *   optionally followed by `:QUERY`, `:USER:PASSWORD` or
 *   `:USER:PASSWORD:QUERY` (MediaMTX's form);
 * - a bare name, `live/test`, meaning play;
 * - in each, a query on the stream name, `live/test?secret=1234` (as SRS
 *   reads `r=`): its `key=value` pairs join {@link StreamId.params};
 * - any of these URL-encoded as a whole, as OBS users often paste them;
 * - the empty id, meaning publish to the default stream.
 *
 * Passwords (and MediaMTX's user, the other half of its credential),
 * sessions, tokens and query values are credentials: errors and
 * {@link redactStreamId} never show them. `u=` of the Access Control form
 * names a user and is shown.
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
  /** `u=` of the SRT Access Control form, or the user of `MODE:NAME:USER:PASSWORD`. */
  user?: string;
  /** The password of `MODE:NAME:USER:PASSWORD`. */
  password?: string;
  /** `s=` of the SRT Access Control form. */
  session?: string;
  /**
   * Every other key of the SRT Access Control form (such as `h` or `t`), and
   * the `key=value` pairs of the query, kept as given.
   */
  params: Record<string, string>;
  /** The query as given: after `?` in the stream name, or the last part of `MODE:NAME:...:QUERY`. */
  query?: string;
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
const MASK = "***";

/** Short-form prefixes (before the first `:`) and the mode each asks for. */
const SHORT_FORM_MODES: Readonly<Record<string, StreamMode>> = {
  publish: "publish",
  play: "play",
  read: "play",
};

/** The most `:`-separated parts of a short form: `MODE:NAME:USER:PASSWORD:QUERY`. */
const MAX_SHORT_FORM_PARTS = 5;

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
  // Errors reach logs and callers: no credential of the id goes with them,
  // so no detail echoes text of the id that redactStreamId() would hide.
  const fail = (detail: string): never => {
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

  const parts = text.split(":");
  if (parts.length === 1) {
    return withResource({ mode: "play", name: "", params: {}, raw }, text, fail);
  }
  const [prefix = "", resource = "", ...rest] = parts;
  const mode = Object.hasOwn(SHORT_FORM_MODES, prefix) ? SHORT_FORM_MODES[prefix] : undefined;
  if (mode === undefined) return fail(`unknown mode: expected "publish:", "play:" or "read:"`);
  if (parts.length > MAX_SHORT_FORM_PARTS) {
    return fail(
      `expected MODE:NAME, MODE:NAME:QUERY, MODE:NAME:USER:PASSWORD or ` +
        `MODE:NAME:USER:PASSWORD:QUERY, got ${parts.length} ":"-separated parts`,
    );
  }
  const id = withResource({ mode, name: "", params: {}, raw }, resource, fail);
  const [first, second, third] = rest;
  if (second !== undefined) {
    id.user = first!;
    id.password = second;
  }
  const query = second === undefined ? first : third;
  if (query !== undefined) {
    if (id.query !== undefined) fail(`two queries: after "?" and as the last ":"-separated part`);
    addQuery(id, query, fail);
  }
  return id;
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

/** `id` with its name (and query) taken from `resource`, `NAME` or `NAME?QUERY`. */
function withResource(
  id: StreamId,
  resource: string,
  fail: (detail: string) => never,
): StreamId {
  const question = resource.indexOf("?");
  id.name = checkName(question < 0 ? resource : resource.slice(0, question), fail);
  if (question >= 0) addQuery(id, resource.slice(question + 1), fail);
  return id;
}

/** Sets `id.query` and adds its `key=value` pairs (`&`-separated) to `id.params`. */
function addQuery(id: StreamId, query: string, fail: (detail: string) => never): void {
  id.query = query;
  const params = new Map(Object.entries(id.params));
  for (const pair of query.split("&")) {
    const equals = pair.indexOf("=");
    // A bare token is no key: it reaches the hook in `query` only.
    if (equals <= 0) continue;
    const key = pair.slice(0, equals);
    if (params.has(key)) fail(`duplicate key ${JSON.stringify(key)}`);
    params.set(key, pair.slice(equals + 1));
  }
  // Object.fromEntries defines own properties, so a key like "__proto__" stays a plain key.
  id.params = Object.fromEntries(params);
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
      return fail(`unknown mode: expected m=publish or m=request`);
    }
    mode = known;
  }

  // Object.fromEntries defines own properties, so a key like "__proto__" stays a plain key.
  const params = Object.fromEntries([...entries].filter(([key]) => !FIELD_KEYS.has(key)));
  const id: StreamId = { mode, name: "", params, raw };
  const resource = entries.get("r");
  if (resource === undefined) id.name = defaultName();
  else withResource(id, resource, fail);
  const user = entries.get("u");
  if (user !== undefined) id.user = user;
  const session = entries.get("s");
  if (session !== undefined) id.session = session;
  return id;
}

/** Returns `name` when it is a valid stream name, else calls `fail` (never with the name). */
function checkName(name: string, fail: (detail: string) => never): string {
  if (name === "") return fail("empty stream name");
  const bytes = new TextEncoder().encode(name).length;
  if (bytes > MAX_STREAM_NAME_BYTES) {
    return fail(`stream name is ${bytes} bytes long, at most ${MAX_STREAM_NAME_BYTES} allowed`);
  }
  for (const segment of name.split("/")) {
    if (!NAME_SEGMENT.test(segment) || segment === "." || segment === "..") {
      // Not echoed: text that is no name may be a credential typed in the wrong place.
      return fail(
        `invalid stream name: expected "/"-separated segments of A-Z a-z 0-9 . _ ~ - ` +
          `(not "." or "..")`,
      );
    }
  }
  return name;
}

/** Whether `name` is a valid stream name (`/`-separated segments, at most 255 bytes). */
export function isStreamName(name: string): boolean {
  return isName(name);
}

function isName(name: string): boolean {
  try {
    checkName(name, (detail) => {
      throw new TypeError(detail);
    });
    return true;
  } catch {
    return false;
  }
}

/**
 * The stream id as it may be shown (API, logs, dashboard), in any form and
 * whether it parses or not. Shown as given: the mode (a known mode word),
 * the stream name (if it is a valid name), `u=` or the user of
 * `MODE:NAME:USER:PASSWORD`, and the keys of Access Control pairs and of
 * `key=value` query pairs. Everything else becomes `***`: passwords, `s=`
 * and every other Access Control value, query values and bare query tokens,
 * text that is no valid name, unknown modes, and the whole id after an
 * unknown short-form mode or when its percent-encoding is malformed.
 */
export function redactStreamId(raw: string): string {
  let text = raw;
  if (text.includes("%")) {
    try {
      text = decodeURIComponent(text);
    } catch {
      return raw.startsWith(ACCESS_CONTROL_PREFIX) ? `${ACCESS_CONTROL_PREFIX}${MASK}` : MASK;
    }
  }
  if (text.startsWith("#!")) {
    if (!text.startsWith(ACCESS_CONTROL_PREFIX)) return MASK;
    const body = text.slice(ACCESS_CONTROL_PREFIX.length);
    const entries = body.split(",").map((entry) => {
      if (entry === "") return "";
      const equals = entry.indexOf("=");
      if (equals <= 0) return MASK;
      const key = entry.slice(0, equals);
      const value = entry.slice(equals + 1);
      switch (key) {
        case "r":
          return `r=${redactResource(value)}`;
        case "m":
          return Object.hasOwn(ACCESS_CONTROL_MODES, value) || value === "bidirectional"
            ? entry
            : `m=${MASK}`;
        case "u":
          return entry;
        default:
          return `${key}=${MASK}`;
      }
    });
    return `${ACCESS_CONTROL_PREFIX}${entries.join(",")}`;
  }
  const parts = text.split(":");
  const [prefix = "", resource = "", ...rest] = parts;
  if (parts.length === 1) return redactResource(prefix);
  // An unknown mode word may be anything, a password included: so may what follows it.
  if (!Object.hasOwn(SHORT_FORM_MODES, prefix)) return MASK;
  const shown = [prefix, redactResource(resource)];
  if (parts.length > MAX_SHORT_FORM_PARTS) shown.push(MASK);
  else if (rest.length === 1) shown.push(redactQuery(rest[0]!));
  else if (rest.length >= 2) {
    // MediaMTX's user and password are one credential: neither is shown.
    shown.push(MASK, MASK);
    if (rest.length === 3) shown.push(redactQuery(rest[2]!));
  }
  return shown.join(":");
}

/** `NAME` or `NAME?QUERY` as it may be shown: a valid (or empty) name and the query's keys. */
function redactResource(resource: string): string {
  const question = resource.indexOf("?");
  const name = question < 0 ? resource : resource.slice(0, question);
  const shownName = name === "" || isName(name) ? name : MASK;
  return question < 0 ? shownName : `${shownName}?${redactQuery(resource.slice(question + 1))}`;
}

/** A query with only the keys of its `key=value` pairs shown. */
function redactQuery(query: string): string {
  return query.split("&").map((pair) => {
    if (pair === "") return "";
    const equals = pair.indexOf("=");
    return equals > 0 ? `${pair.slice(0, equals)}=${MASK}` : MASK;
  }).join("&");
}
