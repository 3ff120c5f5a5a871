/**
 * HTTP/1.1 requests as Atoll's two small servers read them: the API's in
 * the main process (src/server/http_listener.ts) and the media output's
 * (src/output/). Pure: the request head's grammar, the status texts, and
 * which `Host` names a server answers to (against DNS rebinding).
 *
 * @module
 */

/** A request line and headers larger than this get 431. */
export const MAX_HEADER_BYTES = 16 * 1024;

/** The reason phrases of the statuses Atoll answers with. */
export const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: "OK",
  202: "Accepted",
  204: "No Content",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  411: "Length Required",
  413: "Content Too Large",
  421: "Misdirected Request",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
};

/** The names every Atoll HTTP server answers to, whatever is configured. */
export const LOOPBACK_HOSTS: readonly string[] = ["localhost", "127.0.0.1", "::1"];

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** A request that cannot be served; answered with `status` and the connection closed. */
export class BadRequest extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** A parsed request head. */
export interface RequestHead {
  method: string;
  target: string;
  version: "1.0" | "1.1";
  headers: Headers;
  contentLength: number;
}

/** The index just past the blank line ending the headers, or -1. */
export function headerEnd(bytes: Uint8Array): number {
  for (let i = 3; i < bytes.length; i++) {
    if (bytes[i] === 10 && bytes[i - 1] === 13 && bytes[i - 2] === 10 && bytes[i - 3] === 13) {
      return i + 1;
    }
  }
  return -1;
}

/**
 * Parses a request line and headers (without the blank line).
 *
 * @throws {BadRequest} for anything these servers do not accept
 */
export function parseRequestHead(text: string, maxBodyBytes: number): RequestHead {
  const lines = text.split("\r\n");
  const match = /^([^ ]+) ([^ ]+) HTTP\/1\.([01])$/.exec(lines[0] ?? "");
  if (match === null || !TOKEN.test(match[1]!)) {
    throw new BadRequest(400, "Malformed request line");
  }
  const [, method, target, minor] = match as unknown as [string, string, string, string];
  if (!target.startsWith("/")) throw new BadRequest(400, "Request target must be a path");
  const headers = new Headers();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    const name = line.slice(0, colon);
    if (colon <= 0 || !TOKEN.test(name)) {
      throw new BadRequest(400, `Malformed header line: ${JSON.stringify(line.slice(0, 64))}`);
    }
    try {
      headers.append(name, line.slice(colon + 1).trim());
    } catch {
      throw new BadRequest(400, `Malformed header value: ${name}`);
    }
  }
  if (headers.has("transfer-encoding")) {
    throw new BadRequest(411, "Transfer-Encoding is not accepted: send a Content-Length");
  }
  const lengthText = headers.get("content-length");
  let contentLength = 0;
  if (lengthText !== null) {
    if (!/^[0-9]{1,15}$/.test(lengthText)) {
      throw new BadRequest(400, `Malformed Content-Length: ${JSON.stringify(lengthText)}`);
    }
    contentLength = Number(lengthText);
  }
  if (contentLength > maxBodyBytes) {
    throw new BadRequest(413, `Request body too large: at most ${maxBodyBytes} bytes`);
  }
  return { method, target, version: minor === "1" ? "1.1" : "1.0", headers, contentLength };
}

/** The host name of a `Host` header, without port or brackets, lower case; undefined when malformed. */
export function hostName(header: string): string | undefined {
  const text = header.trim().toLowerCase();
  const bracketed = /^\[([0-9a-f:.]+)\](?::[0-9]{1,5})?$/.exec(text);
  if (bracketed !== null) return bracketed[1];
  const plain = /^([a-z0-9._-]+)(?::[0-9]{1,5})?$/.exec(text);
  return plain?.[1];
}

/**
 * Whether a server bound to `bound` answers a request whose `Host` header
 * is `header`: a loopback name, the bound address, or one of `allowed`
 * (`*` allows any, a missing header none).
 */
export function isAllowedHost(
  header: string | null,
  bound: string,
  allowed: readonly string[] = [],
): boolean {
  if (allowed.includes("*")) return true;
  if (header === null) return false;
  const name = hostName(header);
  const names = [...LOOPBACK_HOSTS, bound, ...allowed].map((host) =>
    host.replace(/^\[(.*)\]$/, "$1").toLowerCase()
  );
  return name !== undefined && names.includes(name);
}
