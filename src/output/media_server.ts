/**
 * The media port: an HTTP/1.1 server of its own over `Deno.listen`, with
 * the API's accept loop (src/net/accept_loop.ts) and a streaming answer.
 * `GET /NAME.ts` answers the stream's MPEG-TS for as long as the client
 * takes it (ts_stream.ts); `GET /NAME/index.m3u8` its HLS media playlist
 * and `GET /NAME/seg,N.ts` its segments (hls.ts); anything else 404, 405
 * or 421. An HTTP-TS or playlist request for a stream it has no buffer of
 * asks the main process to pull the stream (demand.ts) and waits as long
 * as it says for the stream to begin; nothing pulls it: 404 at once, as
 * for an unknown stream. A first playlist request waits for the stream's first segment,
 * briefly, and is answered 503 with `retry-after` when none came in time
 * (the stream exists, so 404 would be wrong, and players retry a 503).
 *
 * Who may watch is the main process's to say (access.ts asks it, and
 * keeps its answers a while): a refusal is 401 or 403 with its reason, no
 * answer in time 503, a client over its rate of new queries or tokens 429
 * with `retry-after`. A playlist's segment URIs carry the query it was
 * asked with (a signed URL's `expires` and `sig`), so players fetch the
 * segments with it.
 *
 * No client can take the process down or make it buffer: every accept
 * error is caught and retried with a backoff, connections over the cap are
 * answered 503 and closed, a request must arrive whole within the header
 * timeout, a request body is never read, a response is written only as
 * fast as its client reads (into a kernel send buffer of a fixed 512 KiB),
 * and one that takes nothing for 30 s is closed.
 * A client can only cost the other HTTP clients of this process some CPU:
 * SRT peers have processes of their own.
 *
 * @module
 */

import { limitAcceptedSendBuffer } from "../../ffi/socket.ts";
import { acceptConnections, closeQuietly, ConnectionTimeout } from "../net/accept_loop.ts";
import {
  MAX_ACCESS_TEXT,
  type MediaAccessRequest,
  type OutputSettings,
} from "../ipc/output_messages.ts";
import { type AccessVerdict, ASK_BURST, ASK_RATE_PER_SECOND } from "./access.ts";
import type { DemandVerdict } from "./demand.ts";
import {
  BadRequest,
  headerEnd,
  isAllowedHost,
  MAX_HEADER_BYTES,
  parseRequestHead,
  STATUS_TEXT,
} from "../http/request.ts";
import {
  type BlockingReload,
  type MediaRoute,
  routeMediaPath,
  splitDeliveryDirectives,
} from "../http/media_paths.ts";
import { allowedOrigin } from "../http/cors.ts";
import type { FeedTable } from "./feeds.ts";
import type { HlsTable, PlaylistAnswer } from "./hls.ts";
import { STALL_TIMEOUT_MS, streamTs, writeAll } from "./ts_stream.ts";
import {
  openRecording,
  type RecordingAccess,
  recordingOfTarget,
  sendFile,
  tokenRefusal,
} from "./recordings.ts";

/** How long an error answer may take to write. */
const ANSWER_TIMEOUT_MS = 5000;
/**
 * Each connection's kernel send buffer, as set (the kernel keeps twice as
 * much): 512 KiB in all, about 1 s of a 4 Mbit/s stream, enough for 40
 * Mbit/s over 100 ms of round trip. Left to itself the kernel grows it up
 * to 4 MB per connection, and a client that stops reading would hold that
 * much stale media in it before it fell behind in the stream's buffer.
 */
export const SEND_BUFFER_BYTES = 256 * 1024;

/** What the server tells the process: log lines. */
export type MediaLog = (level: "info" | "warning" | "error", message: string) => void;

/** A running media server. */
export interface MediaServer {
  readonly addr: Deno.NetAddr;
  /** Connections open now. */
  readonly connections: number;
  /** Stops accepting and closes every connection. */
  shutdown(): Promise<void>;
}

const encoder = new TextEncoder();

/** An answer's head: status line and headers, `connection: close` always. */
function head(status: number, headers: Record<string, string>): string {
  let text = `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? "Status"}\r\n`;
  for (const [name, value] of Object.entries(headers)) text += `${name}: ${value}\r\n`;
  return `${text}connection: close\r\n\r\n`;
}

/** A whole error answer: JSON `{error}`, as the API answers. */
export function errorAnswer(
  status: number,
  message: string,
  options: { head?: boolean; headers?: Record<string, string> } = {},
): Uint8Array {
  const body = `${JSON.stringify({ error: message }, null, 2)}\n`;
  const bytes = encoder.encode(body);
  const text = head(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": String(bytes.length),
    ...options.headers,
  });
  return encoder.encode(options.head ? text : text + body);
}

/** The head of an HTTP-TS answer: no length, the stream ends when the connection does. */
export const TS_HEAD = encoder.encode(
  head(200, { "content-type": "video/mp2t", "cache-control": "no-cache, no-store" }),
);

/** A playlist changes with every segment: players must ask again each time. */
const PLAYLIST_HEADERS = {
  "content-type": "application/vnd.apple.mpegurl",
  "cache-control": "no-cache",
};
/** A segment's URL never names other bytes (hls.ts), so it may be cached for long. */
const SEGMENT_HEADERS = {
  "content-type": "video/mp2t",
  "cache-control": "public, max-age=86400, immutable",
};
/** Fetched with the API token: for that client alone. */
const PRIVATE_SEGMENT_HEADERS = {
  ...SEGMENT_HEADERS,
  "cache-control": "private, max-age=86400, immutable",
};

/** Asks whether a playback session may start (AccessGate.check); none: every stream is open. */
export type AccessCheck = (request: MediaAccessRequest) => Promise<AccessVerdict>;

/**
 * Asks the main process to pull a stream this process has no buffer of
 * (DemandGate.ask): how long to wait for it, 0 when nothing will pull it.
 * None: a stream without a buffer is unknown at once.
 */
export type DemandCheck = (stream: string) => Promise<DemandVerdict>;

/** What {@link serveMedia} tells and asks besides its settings and feeds. */
export interface MediaServerOptions {
  /** Where its log lines go. */
  log: MediaLog;
  /** Which recordings it serves, to whom; none by default. */
  recordings?: RecordingAccess;
  /** Who may watch; none: every stream is open. */
  access?: AccessCheck;
  /** Pulls a stream it has no buffer of; none: such a stream is unknown at once. */
  demand?: DemandCheck;
}

/**
 * Listens on `settings.listen` and serves the streams in `feeds`, and the
 * recordings `options.recordings` allows (recordings.ts).
 *
 * @throws whatever `Deno.listen` throws when the address cannot be bound
 */
export function serveMedia(
  settings: OutputSettings,
  feeds: FeedTable,
  options: MediaServerOptions,
): MediaServer {
  const { log, recordings = { token: null, dirs: [] }, access, demand } = options;
  const listener = Deno.listen({
    transport: "tcp",
    hostname: settings.listen.hostname,
    port: settings.listen.port,
  });
  try {
    const port = (listener.addr as Deno.NetAddr).port;
    if (limitAcceptedSendBuffer(port, SEND_BUFFER_BYTES) === undefined) {
      throw new Error("no listening socket on its port");
    }
  } catch (error) {
    log(
      "warning",
      `Cannot limit the media connections' send buffers, the kernel's defaults stay: ${error}`,
    );
  }
  const loop = acceptConnections(listener, {
    maxConnections: settings.maxConnections,
    serve: serveConnection,
    refuse: (conn) =>
      answer(
        conn,
        errorAnswer(
          503,
          `Too many HTTP media connections: at most ${settings.maxConnections} at once`,
        ),
      ),
    onAcceptFailing: (error) =>
      log("warning", `HTTP media cannot accept connections, retrying: ${error}`),
    onAcceptRecovered: (failures) =>
      log("info", `HTTP media accepts connections again after ${failures} failed accepts`),
    onLoopEnded: (error) => log("error", `HTTP media accept loop ended: ${error}`),
  });

  /** Reads the request head within the header timeout; undefined when the client went first. */
  async function readHead(conn: Deno.Conn): Promise<Uint8Array | "timeout" | undefined> {
    let buffered = new Uint8Array(0);
    const chunk = new Uint8Array(4096);
    using timeout = new ConnectionTimeout(conn, settings.headerTimeoutMs);
    timeout.arm();
    while (headerEnd(buffered) === -1 && buffered.length <= MAX_HEADER_BYTES) {
      let n: number | null;
      try {
        n = await conn.read(chunk);
      } catch {
        n = null;
      }
      if (n === null) return timeout.expired ? "timeout" : undefined;
      const next = new Uint8Array(buffered.length + n);
      next.set(buffered);
      next.set(chunk.subarray(0, n), buffered.length);
      buffered = next;
    }
    return buffered;
  }

  async function serveConnection(conn: Deno.Conn): Promise<void> {
    const buffered = await readHead(conn);
    if (buffered === undefined || buffered === "timeout") return;
    const end = headerEnd(buffered);
    if (end === -1 || end > MAX_HEADER_BYTES) {
      await answer(
        conn,
        errorAnswer(431, `Request headers too large: at most ${MAX_HEADER_BYTES} bytes`),
      );
      return;
    }
    let request;
    try {
      request = parseRequestHead(
        new TextDecoder("latin1").decode(buffered.subarray(0, end - 4)),
        Number.MAX_SAFE_INTEGER, // a body is never read: the connection closes after the answer
      );
    } catch (error) {
      if (!(error instanceof BadRequest)) throw error;
      await answer(conn, errorAnswer(error.status, error.message));
      return;
    }
    const isHead = request.method === "HEAD";
    const host = request.headers.get("host");
    if (!isAllowedHost(host, settings.listen.hostname, settings.allowedHosts)) {
      const message = host === null
        ? "Missing Host header"
        : `Host not allowed: ${JSON.stringify(host.slice(0, 255))}; ` +
          "add it with --http-allowed-hosts to serve it";
      await answer(conn, errorAnswer(host === null ? 400 : 421, message, { head: isHead }));
      return;
    }
    const recording = recordingOfTarget(request.target);
    if (recording !== undefined) {
      await serveRecording(conn, recording, request.method, request.headers, recordings);
      return;
    }
    const route = routeMediaPath(request.target);
    if (route === undefined) {
      await answer(
        conn,
        errorAnswer(404, "Not a stream's media: ask for /NAME.ts or /NAME/index.m3u8", {
          head: isHead,
        }),
      );
      return;
    }
    if (request.method !== "GET" && !isHead) {
      await answer(
        conn,
        errorAnswer(405, `Method ${request.method} not allowed: GET or HEAD`, {
          headers: { allow: "GET, HEAD" },
        }),
      );
      return;
    }
    // The dashboard's preview (hls.js, on the API's port) reads HLS, and its refusals, from this
    // other origin.
    const origin = allowedOrigin(request.headers.get("origin"), host);
    const cors: Record<string, string> = route.kind === "ts"
      ? {}
      : origin === undefined
      ? { vary: "origin" }
      : { "access-control-allow-origin": origin, vary: "origin" };
    const directives = splitDeliveryDirectives(queryOf(request.target));
    if ("error" in directives) {
      await answer(conn, errorAnswer(400, directives.error, { head: isHead, headers: cors }));
      return;
    }
    const credential = {
      query: directives.query,
      bearer: bearerOf(request.headers.get("authorization")),
    };
    if (
      access !== undefined &&
      !await allowed(conn, route, credential, access, { head: isHead, cors })
    ) return;
    if (
      demand !== undefined && (route.kind === "ts" || route.kind === "hls") &&
      feeds.get(route.name) === undefined &&
      !await pulled(conn, route.name, feeds, demand, { head: isHead, cors })
    ) return;
    if (route.kind !== "ts") {
      await serveHls(conn, route, isHead, feeds.hls, { cors, credential, block: directives.block });
      return;
    }
    const feed = feeds.get(route.name);
    if (feed === undefined) {
      await answer(
        conn,
        errorAnswer(404, `No stream ${JSON.stringify(route.name)}`, { head: isHead }),
      );
      return;
    }
    if (isHead) {
      await answer(conn, TS_HEAD);
      return;
    }
    const client = { gone: false, end: () => closeQuietly(conn) };
    // What the client sends from now on is read and dropped: its end tells that it went.
    const reading = (async () => {
      const sink = new Uint8Array(4096);
      try {
        while (await conn.read(sink) !== null);
      } catch {
        // Closed by us, or reset by the client.
      }
      client.gone = true;
    })();
    feed.clients.add(client);
    try {
      if (!await writeAll(conn, TS_HEAD, ANSWER_TIMEOUT_MS)) return;
      await streamTs(conn, feed, client);
    } finally {
      feed.clients.delete(client);
      closeQuietly(conn);
      await reading;
    }
  }

  return {
    addr: listener.addr as Deno.NetAddr,
    get connections() {
      return loop.connections;
    },
    shutdown: () => loop.shutdown(),
  };
}

/** `GET /recordings/FILE`: the file, to a client with the API token. */
async function serveRecording(
  conn: Deno.Conn,
  target: { file: string } | "invalid",
  method: string,
  headers: Headers,
  access: RecordingAccess,
): Promise<void> {
  const isHead = method === "HEAD";
  if (method !== "GET" && !isHead) {
    await answer(
      conn,
      errorAnswer(405, `Method ${method} not allowed: GET or HEAD`, {
        headers: { allow: "GET, HEAD" },
      }),
    );
    return;
  }
  const refused = tokenRefusal(access, headers.get("authorization"));
  if (refused !== undefined) {
    await answer(
      conn,
      errorAnswer(refused.status, refused.message, {
        head: isHead,
        headers: refused.challenge ? { "www-authenticate": 'Bearer realm="atoll"' } : {},
      }),
    );
    return;
  }
  const opened = target === "invalid" ? undefined : await openRecording(access.dirs, target.file);
  if (opened === undefined) {
    await answer(conn, errorAnswer(404, "No such recording", { head: isHead }));
    return;
  }
  using file = opened.file;
  const text = head(200, {
    "content-type": "video/mp2t",
    "content-length": String(opened.bytes),
    "cache-control": "no-store",
  });
  if (isHead) await answer(conn, encoder.encode(text));
  else await sendFile(conn, encoder.encode(text), file, opened.bytes);
}

/** A request target's query, after `?` and before any `#`; "" when none. */
export function queryOf(target: string): string {
  const start = target.indexOf("?");
  if (start < 0) return "";
  const end = target.indexOf("#", start);
  return target.slice(start + 1, end < 0 ? undefined : end);
}

/** The token of `Authorization: Bearer TOKEN`; null for none or another scheme. */
function bearerOf(header: string | null): string | null {
  if (header === null) return null;
  return /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] ?? null;
}

/**
 * Asks `access` about a request; answers the refusal and returns false when
 * it may not go on. `cors` are the headers that let the page that asked
 * read the refusal of an HLS request (as serveHls answers).
 */
async function allowed(
  conn: Deno.Conn,
  route: MediaRoute,
  credential: { query: string; bearer: string | null },
  access: AccessCheck,
  { head: isHead, cors }: { head: boolean; cors: Record<string, string> },
): Promise<boolean> {
  if (
    credential.query.length > MAX_ACCESS_TEXT ||
    (credential.bearer?.length ?? 0) > MAX_ACCESS_TEXT
  ) {
    await answer(
      conn,
      errorAnswer(403, "Query or token too long", { head: isHead, headers: cors }),
    );
    return false;
  }
  const remote = conn.remoteAddr as Deno.NetAddr;
  const host = remote.hostname.includes(":") ? `[${remote.hostname}]` : remote.hostname;
  const verdict = await access({
    stream: route.name,
    protocol: route.kind === "ts" ? "http-ts" : "hls",
    peer: `${host}:${remote.port}`,
    ...credential,
  });
  if (verdict !== "unanswered" && "limited" in verdict) {
    await answer(
      conn,
      errorAnswer(
        429,
        "Too many access checks from this address: at most " +
          `${ASK_BURST} requests with a new query or token at once, then ` +
          `${ASK_RATE_PER_SECOND} a second; retry in ${verdict.retryAfterSeconds} s`,
        {
          head: isHead,
          headers: { ...cors, "retry-after": String(verdict.retryAfterSeconds) },
        },
      ),
    );
    return false;
  }
  if (verdict === "unanswered") {
    await answer(
      conn,
      errorAnswer(
        503,
        "Cannot tell whether this client may watch: the server did not say in time",
        {
          head: isHead,
          headers: { ...cors, "retry-after": "2" },
        },
      ),
    );
    return false;
  }
  if (verdict.allowed) return true;
  await answer(
    conn,
    errorAnswer(verdict.status, verdict.message, {
      head: isHead,
      headers: verdict.status === 401
        ? { ...cors, "www-authenticate": 'Bearer realm="atoll"' }
        : cors,
    }),
  );
  return false;
}

/**
 * For an allowed HTTP-TS or playlist request of stream `name`, which has no
 * buffer here: asks the main process to pull it and waits as long as it
 * says for the stream to begin. False when the request got its answer (503:
 * the main process did not say in time, or the pull did not begin within
 * the wait; players retry a 503); true when it goes on, with the stream
 * begun or with nothing pulling it (then as for any stream not here).
 */
async function pulled(
  conn: Deno.Conn,
  name: string,
  feeds: FeedTable,
  demand: DemandCheck,
  { head: isHead, cors }: { head: boolean; cors: Record<string, string> },
): Promise<boolean> {
  const verdict = await demand(name);
  if (verdict === 0) return true;
  const quoted = JSON.stringify(name);
  const message = verdict === "unanswered"
    ? `Cannot tell whether stream ${quoted} can be pulled: the server did not say in time`
    : `Stream ${quoted} is being pulled, and did not begin within ${verdict} ms`;
  if (verdict !== "unanswered" && await feeds.arrival(name, verdict) !== undefined) return true;
  await answer(
    conn,
    errorAnswer(503, message, { head: isHead, headers: { ...cors, "retry-after": "2" } }),
  );
  return false;
}

/** Answers an HLS playlist, segment or part request. */
async function serveHls(
  conn: Deno.Conn,
  route: Exclude<MediaRoute, { kind: "ts" }>,
  isHead: boolean,
  hls: HlsTable,
  { cors, credential, block }: {
    cors: Record<string, string>;
    credential: { query: string; bearer: string | null };
    block: BlockingReload | undefined;
  },
): Promise<void> {
  const client = (conn.remoteAddr as Deno.NetAddr).hostname;
  let body: Uint8Array;
  let headers: Record<string, string>;
  if (route.kind === "hls") {
    const query = new URLSearchParams(credential.query).toString();
    const playlist = await hls.playlist(route.name, { client, query, ...(block && { block }) });
    if (playlist.kind !== "playlist") {
      await answer(conn, playlistRefusal(route.name, playlist, { head: isHead, cors }));
      return;
    }
    body = encoder.encode(playlist.text);
    headers = PLAYLIST_HEADERS;
  } else {
    const media = route.kind === "segment"
      ? hls.segment(route.name, route.sequence, client)
      : await hls.part(route.name, route.sequence, route.part, client);
    if (media === undefined) {
      const what = route.kind === "segment"
        ? `segment ${route.sequence}`
        : `part ${route.part} of segment ${route.sequence}`;
      await answer(
        conn,
        errorAnswer(
          404,
          `No ${what} of stream ${JSON.stringify(route.name)}: ` +
            "gone, not made yet, or no such stream",
          { head: isHead, headers: cors },
        ),
      );
      return;
    }
    body = media.bytes;
    headers = credential.bearer === null ? SEGMENT_HEADERS : PRIVATE_SEGMENT_HEADERS;
  }
  const text = head(200, { ...headers, ...cors, "content-length": String(body.length) });
  if (!await writeAll(conn, encoder.encode(text), ANSWER_TIMEOUT_MS) || isHead) return;
  // As for HTTP-TS, only a client that takes nothing for that long is cut off.
  if (await writeAll(conn, body, STALL_TIMEOUT_MS)) hls.countSent(route.name, body.length);
}

/** The answer to a playlist request that gets no playlist. */
function playlistRefusal(
  name: string,
  playlist: Exclude<PlaylistAnswer, { kind: "playlist" }>,
  { head, cors }: { head: boolean; cors: Record<string, string> },
): Uint8Array {
  switch (playlist.kind) {
    case "unknown":
      return errorAnswer(404, `No stream ${JSON.stringify(name)}`, { head, headers: cors });
    case "too-far":
      return errorAnswer(400, playlist.message, { head, headers: cors });
    case "not-ready":
      return errorAnswer(
        503,
        `No HLS segment of stream ${JSON.stringify(name)} in time: it has no key frame ` +
          "or no publisher now",
        { head, headers: { ...cors, "retry-after": String(playlist.retryAfterSeconds) } },
      );
  }
}

/** Writes a whole answer, briefly; the caller closes the connection. */
async function answer(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  await writeAll(conn, bytes, ANSWER_TIMEOUT_MS);
}
