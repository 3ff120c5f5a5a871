/**
 * The HTTP/1.1 listener the API is served on: Atoll's own accept loop over
 * `Deno.listen` (src/net/accept_loop.ts), so that no HTTP client can take
 * the main process down.
 *
 * `Deno.serve` hides its accept loop, and when `accept()` fails with EMFILE
 * its promise rejects unhandled and the whole process exits, taking every
 * stream with it; it has no header timeout and no connection cap either.
 * Here every accept error is caught and retried with a backoff (logged once
 * per episode), connections over {@link HttpLimits.maxConnections} are
 * answered 503 and closed at once, a connection that has not sent a whole
 * request (headers and body) within {@link HttpLimits.headerTimeoutMs}, or
 * idles that long between requests, is closed, and a body over
 * {@link HttpLimits.maxBodyBytes} gets 413 unread. The API needs nothing
 * else of HTTP: no chunked request bodies, no upgrades, small responses.
 *
 * @module
 */

import { acceptConnections, ConnectionTimeout } from "../net/accept_loop.ts";
import { describeFailure } from "./file_shortage.ts";
import { logger } from "./log.ts";
import {
  BadRequest,
  headerEnd,
  MAX_HEADER_BYTES,
  parseRequestHead,
  type RequestHead,
  STATUS_TEXT,
} from "../http/request.ts";

const log = logger("http");

/** What one client may take of the listener. */
export interface HttpLimits {
  /** Connections open at once; more are answered 503 and closed. */
  maxConnections: number;
  /** A request's headers and body must arrive within this long, and a kept-alive connection idles no longer. */
  headerTimeoutMs: number;
  /** A request body larger than this gets 413. */
  maxBodyBytes: number;
}

/** A running listener: where it is bound, and how to stop it. */
export interface HttpListener {
  readonly addr: Deno.NetAddr;
  /** Connections open now. */
  readonly connections: number;
  /** Stops accepting, lets requests in progress finish (briefly), closes every connection. */
  shutdown(): Promise<void>;
}

/** Answers one request; an exception is answered 500. */
export type HttpHandler = (request: Request, peer: Deno.NetAddr) => Promise<Response>;

const encoder = new TextEncoder();

/** The bytes of a whole response: status line, headers, body. */
async function serialize(response: Response, head: boolean, close: boolean): Promise<Uint8Array> {
  const body = new Uint8Array(await response.arrayBuffer());
  let text = `HTTP/1.1 ${response.status} ${STATUS_TEXT[response.status] ?? "Status"}\r\n`;
  for (const [name, value] of response.headers) {
    if (name === "content-length" || name === "connection" || name === "transfer-encoding") {
      continue;
    }
    text += `${name}: ${value}\r\n`;
  }
  text += `content-length: ${body.length}\r\n`;
  if (close) text += "connection: close\r\n";
  text += "\r\n";
  const headBytes = encoder.encode(text);
  if (head) return headBytes;
  const bytes = new Uint8Array(headBytes.length + body.length);
  bytes.set(headBytes);
  bytes.set(body, headBytes.length);
  return bytes;
}

function errorResponse(status: number, message: string): Response {
  return new Response(`${JSON.stringify({ error: message }, null, 2)}\n`, {
    status,
    headers: { "content-type": "application/json; charset=utf-8" },
  });
}

/**
 * Listens on `address` and serves `handler` on every connection.
 *
 * @throws whatever `Deno.listen` throws when the address cannot be bound
 */
export function listenHttp(
  address: { hostname: string; port: number },
  limits: HttpLimits,
  handler: HttpHandler,
): HttpListener {
  const listener = Deno.listen({
    transport: "tcp",
    hostname: address.hostname,
    port: address.port,
  });
  /** Connections answering a request now: shutdown lets them finish, briefly. */
  const busy = new Set<Deno.Conn>();
  const loop = acceptConnections(listener, {
    maxConnections: limits.maxConnections,
    serve: serveConnection,
    refuse,
    onAcceptFailing: (error) =>
      log.warning("HTTP cannot accept connections, retrying: {error}", {
        error: describeFailure(error),
      }),
    onAcceptRecovered: (failures) =>
      log.info("HTTP accepts connections again after {failures} failed accepts", { failures }),
    onServeError: (error) => log.debug("HTTP connection failed: {error}", { error: String(error) }),
    onLoopEnded: (error) => log.error("HTTP accept loop ended: {error}", { error: String(error) }),
  });

  /** Over the cap: a 503 the client can read; never waits long. */
  async function refuse(conn: Deno.Conn): Promise<void> {
    using timeout = new ConnectionTimeout(conn, limits.headerTimeoutMs);
    timeout.arm();
    try {
      const response = errorResponse(
        503,
        `Too many HTTP connections: at most ${limits.maxConnections} at once`,
      );
      await writeAll(conn, await serialize(response, false, true));
    } catch {
      // The client went away; nothing to tell it.
    }
  }

  async function serveConnection(conn: Deno.Conn): Promise<void> {
    const peer = conn.remoteAddr as Deno.NetAddr;
    let buffered: Uint8Array = new Uint8Array(0);
    const chunk = new Uint8Array(16 * 1024);
    using timeout = new ConnectionTimeout(conn, limits.headerTimeoutMs);
    const arm = () => timeout.arm();
    /** Reads more bytes; false at the end of the stream (or when closed by the timer). */
    const fill = async (): Promise<boolean> => {
      let n: number | null;
      try {
        n = await conn.read(chunk);
      } catch (error) {
        if (timeout.expired || loop.stopping) return false;
        throw error;
      }
      if (n === null) return false;
      const next = new Uint8Array(buffered.length + n);
      next.set(buffered);
      next.set(chunk.subarray(0, n), buffered.length);
      buffered = next;
      return true;
    };
    const send = async (response: Response, head: boolean, close: boolean) => {
      arm(); // a client that does not read its answer is cut off too
      await writeAll(conn, await serialize(response, head, close));
    };

    while (!loop.stopping) {
      arm();
      let end = headerEnd(buffered);
      while (end === -1) {
        if (buffered.length > MAX_HEADER_BYTES) {
          await send(
            errorResponse(431, `Request headers too large: at most ${MAX_HEADER_BYTES} bytes`),
            false,
            true,
          );
          return;
        }
        if (!await fill()) return;
        end = headerEnd(buffered);
      }
      if (end > MAX_HEADER_BYTES) {
        await send(
          errorResponse(431, `Request headers too large: at most ${MAX_HEADER_BYTES} bytes`),
          false,
          true,
        );
        return;
      }
      const headText = new TextDecoder("latin1").decode(buffered.subarray(0, end - 4));
      let head: RequestHead;
      try {
        head = parseRequestHead(headText, limits.maxBodyBytes);
      } catch (error) {
        if (!(error instanceof BadRequest)) throw error;
        await send(errorResponse(error.status, error.message), false, true);
        return;
      }
      buffered = buffered.subarray(end);
      while (buffered.length < head.contentLength) {
        if (!await fill()) return;
      }
      const body = buffered.slice(0, head.contentLength);
      buffered = buffered.subarray(head.contentLength);
      timeout.clear();

      const close = loop.stopping || head.version === "1.0" ||
        /(^|,)\s*close\s*(,|$)/i.test(head.headers.get("connection") ?? "");
      const isHead = head.method === "HEAD";
      let request: Request;
      try {
        // The target is appended, not resolved: `//a/b` is the path `//a/b`, not host `a`.
        const host = head.headers.get("host") ?? "localhost";
        if (!/^[A-Za-z0-9._~:[\]-]+$/.test(host)) throw new TypeError("Malformed Host");
        request = new Request(`http://${host}${head.target}`, {
          method: head.method,
          headers: head.headers,
          ...(body.length > 0 && !isHead && head.method !== "GET" ? { body } : {}),
        });
      } catch {
        await send(errorResponse(400, "Malformed request target or Host"), false, true);
        return;
      }
      busy.add(conn);
      let response: Response;
      try {
        response = await handler(request, peer);
      } catch (error) {
        log.error("HTTP handler failed: {error}", { error: String(error) });
        response = errorResponse(500, "Internal error");
      } finally {
        busy.delete(conn);
      }
      await send(response, isHead, close || loop.stopping);
      if (close || loop.stopping) return;
    }
  }

  return {
    addr: listener.addr as Deno.NetAddr,
    get connections() {
      return loop.connections;
    },
    // Idle connections close at once; one answering a request finishes it first (briefly).
    shutdown: () => loop.shutdown({ spare: (conn) => busy.has(conn), graceMs: 1000 }),
  };
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}
