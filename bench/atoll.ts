/**
 * Atoll as the bench runs it (tests/support/atoll.ts does the work): info
 * logs, and a full pool of started children before anything is measured.
 *
 * @module
 */

import { Atoll } from "../tests/support/atoll.ts";

/** How long a bench Atoll gets to stop before it is killed (children too). */
export const STOP_GRACE_MS = 12_000;

/** Starts Atoll with `args` and waits until every prestarted child waits for a peer. */
export function startAtoll(args: string[] = []): Promise<Atoll> {
  return Atoll.start(args, { logLevel: "info", startTimeoutMs: 30_000, readyPool: true });
}
