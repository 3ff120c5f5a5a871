/**
 * The address a relay calls: a host name resolved the way the system does
 * (`/etc/hosts`, then DNS, as getaddrinfo does, so a container's or a
 * Kubernetes service's name works), or an IP literal as it is. Resolved
 * anew for each attempt: a service's address may change between them.
 *
 * @module
 */

import { lookup } from "node:dns/promises";
import { isIP } from "node:net";

/** The first address `hostname` resolves to; an IP literal is its own. */
export async function resolveHost(hostname: string): Promise<string> {
  if (isIP(hostname) !== 0) return hostname;
  const { address } = await lookup(hostname);
  return address;
}
