/**
 * Which web pages may read the media port's HLS with a script (CORS). The
 * dashboard's preview plays HLS with hls.js, which fetches the playlist and
 * segments from the media port: another port, so another origin, and the
 * browser hands the answers to the page only when they name its origin in
 * `access-control-allow-origin`.
 *
 * A page may when it comes from the host the request names (any port: the
 * dashboard is on the API's), or when both are loopback names. Never `*`:
 * any web site the viewer's browser opens could then read a stream that is
 * only reachable from the viewer's machine or network, and send it away.
 *
 * @module
 */

import { hostName, LOOPBACK_HOSTS } from "./request.ts";

/**
 * The value for `access-control-allow-origin` when the page at `origin`
 * (the request's `Origin`) may read an answer to a request for `host` (its
 * `Host`), else undefined.
 */
export function allowedOrigin(origin: string | null, host: string | null): string | undefined {
  if (origin === null || host === null) return undefined;
  const match = /^https?:\/\/(\[[0-9a-f:.]+\]|[a-z0-9._-]+)(?::[0-9]{1,5})?$/.exec(origin);
  if (match === null) return undefined;
  const page = hostName(match[1]!);
  const served = hostName(host);
  if (page === undefined || served === undefined) return undefined;
  const loopback = LOOPBACK_HOSTS.includes(page) && LOOPBACK_HOSTS.includes(served);
  return page === served || loopback ? origin : undefined;
}
