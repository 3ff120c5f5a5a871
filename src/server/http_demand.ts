/**
 * HTTP viewers as demand for a pulled stream (README, "Relays"). The media
 * output process has a stream's buffer only while the stream exists; an
 * allowed HTTP-TS or HLS playlist request for a stream it has none of asks
 * the main process (a `demand`, src/output/demand.ts), which decides here:
 * a stream a pull rule covers (or a pull added through the API) has its
 * pull started, exactly as an SRT viewer's wait starts it
 * (RelayManager.demand), and the request waits for the stream up to
 * `playWaitMs`, the hold an SRT viewer gets for the same pull. Any other
 * stream gets 0: the request is answered at once, `404`, as before.
 *
 * Once served, HTTP viewers hold the pull through the media output's
 * reports (RelayManager's `httpViewers`); until the first report that
 * counts them, the demand itself holds it ({@link demandHoldMs}).
 *
 * Access is decided before (media_access.ts): the output process asks only
 * for a request that was allowed. Pure.
 *
 * @module
 */

import { type AtollConfig, rulesFor } from "../config/config_file.ts";
import { OUTPUT_STATS_INTERVAL_MS } from "../ipc/output_messages.ts";

/** What the decision needs of the server. */
export interface HttpDemandContext {
  config: AtollConfig;
  /** Whether stream `name` exists now (its buffer is on its way to the media output). */
  exists(name: string): boolean;
  /** Starts stream `name`'s pull, held at least `holdMs`; whether a pull of it runs now. */
  pull(name: string, holdMs: number): boolean;
}

/**
 * How long a pull started for an HTTP request runs at least: the request's
 * wait for the stream, then one report interval of the media output before
 * its client is counted, and one more for the relays' check and slack. A
 * `sourceLingerMs` shorter than that would otherwise stop the pull before
 * its first HTTP viewer is known.
 */
export function demandHoldMs(waitMs: number): number {
  return waitMs + 2 * OUTPUT_STATS_INTERVAL_MS;
}

/**
 * How long an HTTP request for stream `name`, of which the media output has
 * no buffer, waits for the stream to begin; 0 when nothing will pull it (or
 * its rule allows no `play`, or `playWaitMs` is 0, when an SRT viewer does
 * not wait either).
 */
export function decideHttpDemand(name: string, context: HttpDemandContext): number {
  const waitMs = context.config.playWaitMs;
  if (waitMs <= 0 || !rulesFor(context.config, name).modes.includes("play")) return 0;
  const pulling = context.pull(name, demandHoldMs(waitMs));
  return pulling || context.exists(name) ? waitMs : 0;
}
