/**
 * The HTTP API: health, the live connections and the live streams.
 *
 * @module
 */

import type { AtollServer } from "./server.ts";
import { formatHostPort, type HostPort } from "./options.ts";
import { bindError } from "./startup_error.ts";

function json(body: unknown, status = 200): Response {
  return new Response(`${JSON.stringify(body, null, 2)}\n`, {
    status,
    headers: { "content-type": "application/json; charset=utf-8" },
  });
}

function notFound(path: string): Response {
  return json({ error: `No such endpoint: ${path}` }, 404);
}

/** Routes one request. */
export function handleRequest(server: AtollServer, request: Request): Response {
  const { pathname } = new URL(request.url);
  if (request.method !== "GET" && request.method !== "HEAD") {
    return json({ error: `Method ${request.method} not allowed on ${pathname}` }, 405);
  }
  switch (pathname) {
    case "/healthz":
      return server.healthy
        ? new Response("ok\n", { headers: { "content-type": "text/plain" } })
        : new Response("stopping\n", { status: 503, headers: { "content-type": "text/plain" } });
    case "/api/connections":
      return json(server.connections());
    case "/api/streams":
      return json(server.streams());
    case "/api/stats":
      return json({
        srtVersion: server.srtVersion,
        fastHandshake: server.fastHandshake,
        idleChildren: server.idleChildren.length,
        startingChildren: server.startingChildren,
        connections: server.connections().length,
        ...server.counters,
      });
    default:
      return notFound(pathname);
  }
}

/** Starts the HTTP server; throws StartupError when the address cannot be bound. */
export function serveHttp(
  server: AtollServer,
  address: HostPort,
): Deno.HttpServer<Deno.NetAddr> {
  let http: Deno.HttpServer<Deno.NetAddr>;
  try {
    http = Deno.serve({
      hostname: address.hostname,
      port: address.port,
      onListen: () => {},
      onError: (error) => json({ error: String(error) }, 500),
    }, (request) => handleRequest(server, request));
  } catch (error) {
    throw bindError("HTTP", formatHostPort(address), error);
  }
  return http;
}
