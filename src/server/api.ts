/**
 * The HTTP API: health, connections, streams and relays to read,
 * connections and streams to close, relays to add and stop, a config reload
 * and metrics, behind an optional bearer token; and the dashboard at `/`.
 *
 * Every mutating call needs `Authorization: Bearer TOKEN` (401 without a
 * token, 403 with a wrong one, 403 when no token is configured at all, so
 * a server started without one cannot be changed over HTTP). Reads need it
 * too when so configured; `/healthz`, the dashboard page and its hls.js never do.
 *
 * A request whose `Host` is not a loopback name, the bound address or a
 * configured name is refused with 421 before any of that: a web page whose
 * DNS name was rebound to 127.0.0.1 could otherwise read the open endpoints.
 *
 * @module
 */

import { dashboardCsp, dashboardResponse, HLS_JS_PATH, hlsScriptResponse } from "./dashboard.ts";
import { METRICS_CONTENT_TYPE } from "./metrics.ts";
import { formatHostPort, type ServerOptions } from "../config/options.ts";
import { bindError } from "./startup_error.ts";
import { type HttpListener, listenHttp } from "./http_listener.ts";
import { hostName, isAllowedHost } from "../http/request.ts";
import { sameText } from "../http/media_signature.ts";
import { isStreamName } from "../protocol/stream_id.ts";

/** A minted media URL's life unless the body says: `{seconds}`, from 60 s to 7 days. */
export const MEDIA_URL_SECONDS = { default: 3600, min: 60, max: 7 * 86_400 } as const;

/** A request body larger than this gets 413 (only `POST /api/relays` takes one). */
export const MAX_BODY_BYTES = 64 * 1024;

/** Who may use the API. */
export interface ApiAccess {
  /** The bearer token; none means mutating calls are refused. */
  token?: string | undefined;
  /** Whether reads need the token as well. */
  protectReads: boolean;
}

/** The outcome of a config reload. */
export type ReloadResult = { ok: true; source: string } | { ok: false; error: string };

/** What the API needs of the server (AtollServer implements it). */
export interface ApiServer {
  readonly healthy: boolean;
  readonly access: ApiAccess;
  connections(): object[];
  /** One connection, or undefined when there is none with that id. */
  connection(id: string): object | undefined;
  /** The streams; `host` is the name the request came to (its `Host`), for their media URLs. */
  streams(host?: string): object[];
  stats(): object;
  /** The recording files; `host` as for {@link streams}. */
  recordings(host?: string): Promise<object>;
  /** `http://HOST:PORT` of the media port, `host` as for {@link streams}; none without one. */
  mediaOrigin(host?: string): string | undefined;
  /** The Prometheus text exposition. */
  metrics(): string;
  /** Asks the connection's child to close it cleanly; false when there is no such connection. */
  closeConnection(id: string): boolean;
  /** Closes a stream's publisher and viewers; false when there is no such stream. */
  endStream(name: string): boolean;
  reload(): Promise<ReloadResult>;
  relays(): object[];
  /** Adds a relay from a request body; a message for the user when it cannot be added. */
  addRelay(body: unknown): { ok: true; relay: object } | { ok: false; error: string };
  /** Stops a relay for good; false when there is no such relay. */
  removeRelay(id: string): boolean;
  /**
   * Stream `name`'s media URLs, signed to last `seconds` when its rule has a
   * `readPassphrase`; undefined without a media output. `host` as for {@link streams}.
   */
  mediaUrl(name: string, seconds: number, host?: string): Promise<object | undefined>;
}

function json(body: unknown, status = 200): Response {
  return new Response(`${JSON.stringify(body, null, 2)}\n`, {
    status,
    headers: { "content-type": "application/json; charset=utf-8" },
  });
}

function error(status: number, message: string, headers: Record<string, string> = {}): Response {
  const response = json({ error: message }, status);
  for (const [name, value] of Object.entries(headers)) response.headers.set(name, value);
  return response;
}

/** A 401/403 response when `request` may not do this, else undefined. */
function refusal(access: ApiAccess, request: Request, mutating: boolean): Response | undefined {
  if (!mutating && !access.protectReads) return undefined;
  if (access.token === undefined) {
    return error(403, "The API is read-only: start Atoll with --api-token to allow changes");
  }
  const header = request.headers.get("authorization");
  const challenge = { "www-authenticate": 'Bearer realm="atoll"' };
  if (header === null) return error(401, "Missing Authorization: Bearer token", challenge);
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (match === null) return error(401, "Authorization must be: Bearer TOKEN", challenge);
  return sameText(match[1]!, access.token) ? undefined : error(403, "Wrong API token");
}

type Route = {
  method: "GET" | "DELETE" | "POST";
  /** Matches the path; returns the captured name (decoded) or true, else undefined. */
  match: (path: string) => string | true | undefined;
  handle: (server: ApiServer, name: string, request: Request) => Response | Promise<Response>;
};

const exact = (path: string) => (candidate: string) => candidate === path ? true : undefined;
const under = (prefix: string) => (candidate: string) => {
  if (!candidate.startsWith(prefix) || candidate.length === prefix.length) return undefined;
  try {
    return decodeURIComponent(candidate.slice(prefix.length));
  } catch {
    return undefined;
  }
};

/** `/api/streams/NAME/media-url`: NAME, decoded. */
const mediaUrlPath = (candidate: string) => {
  const prefix = "/api/streams/";
  const suffix = "/media-url";
  if (!candidate.startsWith(prefix) || !candidate.endsWith(suffix)) return undefined;
  if (candidate.length <= prefix.length + suffix.length) return undefined;
  try {
    return decodeURIComponent(candidate.slice(prefix.length, -suffix.length));
  } catch {
    return undefined;
  }
};

const ROUTES: readonly Route[] = [
  // The page itself is public; what it shows comes from the API, token rules included.
  {
    method: "GET",
    match: exact("/"),
    // Its policy lets the preview read HLS from the media port, as this client reaches it.
    handle: (s, _name, request) =>
      dashboardResponse(s.mediaOrigin(hostName(request.headers.get("host") ?? ""))),
  },
  // The preview's player (hls.js): public code, like the page.
  { method: "GET", match: exact(HLS_JS_PATH), handle: () => hlsScriptResponse() },
  {
    method: "GET",
    match: exact("/healthz"),
    handle: (server) =>
      server.healthy
        ? new Response("ok\n", { headers: { "content-type": "text/plain" } })
        : new Response("stopping\n", { status: 503, headers: { "content-type": "text/plain" } }),
  },
  { method: "GET", match: exact("/api/connections"), handle: (s) => json(s.connections()) },
  {
    method: "GET",
    match: under("/api/connections/"),
    handle: (s, id) => {
      const connection = s.connection(id);
      return connection === undefined ? error(404, `No connection ${id}`) : json(connection);
    },
  },
  {
    method: "DELETE",
    match: under("/api/connections/"),
    handle: (s, id) =>
      s.closeConnection(id) ? json({ closing: id }, 202) : error(404, `No connection ${id}`),
  },
  {
    method: "GET",
    match: exact("/api/streams"),
    // The name the client reached the API by: the media URLs use it for a wildcard address.
    handle: (s, _name, request) => json(s.streams(hostName(request.headers.get("host") ?? ""))),
  },
  {
    method: "DELETE",
    match: under("/api/streams/"),
    handle: (s, name) =>
      s.endStream(name) ? json({ ending: name }, 202) : error(404, `No stream ${name}`),
  },
  {
    method: "POST",
    match: mediaUrlPath,
    handle: async (s, name, request) => {
      if (!isStreamName(name)) return error(400, `Not a stream name: ${JSON.stringify(name)}`);
      let seconds: number = MEDIA_URL_SECONDS.default;
      const text = await request.text();
      if (text.trim() !== "") {
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          return error(400, "The body must be JSON: {seconds} or nothing");
        }
        const given = (body as { seconds?: unknown } | null)?.seconds;
        if (
          given !== undefined &&
          !(Number.isInteger(given) && (given as number) >= MEDIA_URL_SECONDS.min &&
            (given as number) <= MEDIA_URL_SECONDS.max)
        ) {
          return error(
            400,
            `seconds must be an integer from ${MEDIA_URL_SECONDS.min} to ${MEDIA_URL_SECONDS.max}`,
          );
        }
        if (given !== undefined) seconds = given as number;
      }
      const urls = await s.mediaUrl(name, seconds, hostName(request.headers.get("host") ?? ""));
      return urls === undefined
        ? error(404, "No media output: Atoll runs with --media-listen off")
        : json(urls);
    },
  },
  { method: "GET", match: exact("/api/stats"), handle: (s) => json(s.stats()) },
  {
    method: "GET",
    match: exact("/api/recordings"),
    handle: async (s, _name, request) =>
      json(await s.recordings(hostName(request.headers.get("host") ?? ""))),
  },
  {
    method: "GET",
    match: exact("/metrics"),
    handle: (s) => new Response(s.metrics(), { headers: { "content-type": METRICS_CONTENT_TYPE } }),
  },
  { method: "GET", match: exact("/api/relays"), handle: (s) => json(s.relays()) },
  {
    method: "POST",
    match: exact("/api/relays"),
    handle: async (s, _name, request) => {
      let body: unknown;
      try {
        body = await request.json();
      } catch {
        return error(400, "The body must be JSON: {direction, stream, url}");
      }
      const added = s.addRelay(body);
      return added.ok ? json(added.relay, 201) : error(400, added.error);
    },
  },
  {
    method: "DELETE",
    match: under("/api/relays/"),
    handle: (s, id) =>
      s.removeRelay(id) ? json({ stopped: id }, 202) : error(404, `No relay ${id}`),
  },
  {
    method: "POST",
    match: exact("/api/reload"),
    handle: async (s) => {
      const result = await s.reload();
      return result.ok
        ? json({ reloaded: result.source })
        : error(400, `Config not reloaded, the old one stays: ${result.error}`);
    },
  },
];

/** Routes one request. */
export async function handleRequest(server: ApiServer, request: Request): Promise<Response> {
  const { pathname } = new URL(request.url);
  const method = request.method === "HEAD" ? "GET" : request.method;
  const matching = ROUTES.filter((route) => route.match(pathname) !== undefined);
  if (matching.length === 0) return error(404, `No such endpoint: ${pathname}`);
  const route = matching.find((candidate) => candidate.method === method);
  if (route === undefined) {
    const allowed: string[] = [...new Set(matching.map((candidate) => candidate.method))];
    if (allowed.includes("GET")) allowed.push("HEAD");
    return error(405, `Method ${request.method} not allowed on ${pathname}`, {
      allow: allowed.join(", "),
    });
  }
  if (pathname !== "/healthz" && pathname !== "/" && pathname !== HLS_JS_PATH) {
    const refused = refusal(server.access, request, method !== "GET");
    if (refused !== undefined) return refused;
  }
  const name = route.match(pathname);
  return await route.handle(server, typeof name === "string" ? name : "", request);
}

/**
 * A 400/421 response when the request's `Host` is not one the API answers
 * to: a loopback name, `bound` (the listening address), or one of `allowed`
 * (`*` allows any). Undefined when it may pass.
 */
export function hostRefusal(
  request: Request,
  bound: string,
  allowed: readonly string[] = [],
): Response | undefined {
  const header = request.headers.get("host");
  if (isAllowedHost(header, bound, allowed)) return undefined;
  if (header === null) return error(400, "Missing Host header");
  return error(
    421,
    `Host not allowed: ${JSON.stringify(header.slice(0, 255))}; ` +
      "add it with --http-allowed-hosts to serve it",
  );
}

/** What {@link serveHttp} needs of the server options. */
export type HttpOptions = Pick<
  ServerOptions,
  "httpListen" | "httpMaxConnections" | "httpHeaderTimeoutMs" | "httpAllowedHosts"
>;

/** Starts the HTTP server; throws StartupError when the address cannot be bound. */
export function serveHttp(server: ApiServer, options: HttpOptions): HttpListener {
  const address = options.httpListen;
  // The dashboard's hashes once, now, rather than on its first request.
  dashboardCsp();
  try {
    return listenHttp(address, {
      maxConnections: options.httpMaxConnections,
      headerTimeoutMs: options.httpHeaderTimeoutMs,
      maxBodyBytes: MAX_BODY_BYTES,
    }, (request) => {
      const refused = hostRefusal(request, address.hostname, options.httpAllowedHosts);
      return refused === undefined ? handleRequest(server, request) : Promise.resolve(refused);
    });
  } catch (cause) {
    throw bindError("HTTP", formatHostPort(address), cause);
  }
}
