/**
 * Who may watch a stream over HTTP (HLS or HTTP-TS): the main process
 * decides, as for SRT, when the media output process asks at the start of
 * a playback session (src/output/access.ts keeps the answer for a while).
 *
 * In order:
 * 1. the stream's rule must allow `play` (else 403);
 * 2. `Authorization: Bearer API_TOKEN` is the operator's: it allows any
 *    stream that may be played, and the hook is not asked (a wrong token
 *    is 403);
 * 3. a stream with a `readPassphrase` needs a signed URL
 *    (src/http/media_signature.ts): none is 401, a malformed, wrong or
 *    expired one 403;
 * 4. the authorization hook, when configured, is asked with
 *    `action: "read"` and `protocol`; its refusal is 403.
 * A stream without a `readPassphrase`, with no hook, is open to anyone.
 * `maxViewers` does not apply: HLS clients hold no connection to count.
 *
 * @module
 */

import { type AtollConfig, rulesFor } from "../config/config_file.ts";
import type { MediaAccessAnswer, MediaAccessRequest } from "../ipc/output_messages.ts";
import { checkMediaSignature, sameText } from "../http/media_signature.ts";
import { type AuthDecision, authorize, type MediaAuthRequest } from "./auth_hook.ts";
import { RejectCode } from "../protocol/reject_codes.ts";

/** How long the output process keeps an answer (a signed URL's grant ends at its `expires`). */
export const ACCESS_TTL_MS = 15_000;
/** Beyond the hook's own timeout, how long the output process waits for an answer. */
export const ACCESS_WAIT_MARGIN_MS = 2000;
/** A refusal of one reason on one stream is logged once in this long. */
export const REFUSAL_LOG_INTERVAL_MS = 60_000;

/** What the decision needs besides the request. */
export interface MediaAccessContext {
  config: AtollConfig;
  /** The API token (`--api-token`), if any. */
  apiToken: string | undefined;
  /** Unix seconds now. */
  nowSeconds: number;
  /** Asks the hook; {@link authorize} by default. */
  ask?: (hook: { url: string; timeoutMs: number }, body: MediaAuthRequest) => Promise<AuthDecision>;
}

/** The answer, and for a refusal a short reason to log by. */
export interface MediaAccessDecision {
  answer: MediaAccessAnswer;
  /** Allowed by: `open`, `token`, `signature`, `hook`; refused for: the others. */
  reason: string;
}

/** Decides `request`; never throws. */
export async function decideMediaAccess(
  request: MediaAccessRequest,
  context: MediaAccessContext,
): Promise<MediaAccessDecision> {
  const { stream } = request;
  const quoted = JSON.stringify(stream);
  const refuse = (status: 401 | 403, reason: string, message: string, ttlMs = ACCESS_TTL_MS) => ({
    answer: { allowed: false as const, status, message, ttlMs },
    reason,
  });
  const rules = rulesFor(context.config, stream);
  if (!rules.modes.includes("play")) {
    return refuse(403, "mode", `play is not allowed on stream ${quoted}`);
  }
  if (request.bearer !== null) {
    if (context.apiToken === undefined) {
      return refuse(403, "token", "No API token is configured: a bearer token cannot be checked");
    }
    if (!sameText(request.bearer, context.apiToken)) {
      return refuse(403, "token", "Wrong API token");
    }
    return { answer: { allowed: true, ttlMs: ACCESS_TTL_MS }, reason: "token" };
  }
  const params = new URLSearchParams(request.query);
  let ttlMs = ACCESS_TTL_MS;
  let signed = false;
  if (rules.readPassphrase !== undefined) {
    const expires = params.get("expires");
    const sig = params.get("sig");
    if (expires === null || sig === null) {
      return refuse(
        401,
        "unsigned",
        `Stream ${quoted} needs a signed URL (?expires=…&sig=…): mint one with ` +
          `POST /api/streams/${stream}/media-url and the API token, or send ` +
          "Authorization: Bearer API_TOKEN",
      );
    }
    const refused = await checkMediaSignature(
      rules.readPassphrase,
      stream,
      { expires, sig },
      context.nowSeconds,
    );
    switch (refused) {
      case "malformed":
        return refuse(403, "malformed", "Malformed signed URL: expires=UNIX_SECONDS&sig=64 HEX");
      case "wrong":
        return refuse(403, "wrong", `Wrong signature for stream ${quoted}`);
      case "expired":
        return refuse(403, "expired", `The signed URL expired at ${expires} (Unix seconds)`);
    }
    signed = true;
    ttlMs = Math.min(ttlMs, (Number(expires) - context.nowSeconds) * 1000);
  }
  const hook = context.config.authHook;
  if (hook !== undefined) {
    const body: MediaAuthRequest = {
      action: "read",
      protocol: request.protocol,
      stream,
      query: request.query === "" ? null : request.query,
      params: Object.fromEntries(params),
      signed,
      peer: request.peer,
    };
    const decision = await (context.ask ?? authorize)(hook, body);
    if (!decision.allowed) {
      // Atoll's own shortage: not kept, the next request asks again.
      const keep = decision.code === RejectCode.Overload ? 0 : ttlMs;
      return refuse(403, "hook", `Refused by the authorization hook: ${decision.detail}`, keep);
    }
    return { answer: { allowed: true, ttlMs }, reason: "hook" };
  }
  return { answer: { allowed: true, ttlMs }, reason: signed ? "signature" : "open" };
}

/** Says which refusals to log: one per stream and reason per interval. */
export class RefusalLog {
  #last = new Map<string, number>();
  #intervalMs: number;

  constructor(intervalMs = REFUSAL_LOG_INTERVAL_MS) {
    this.#intervalMs = intervalMs;
  }

  /** Whether to log a refusal of `stream` for `reason` at `nowMs`. */
  shouldLog(stream: string, reason: string, nowMs: number): boolean {
    const key = `${stream}\n${reason}`;
    const last = this.#last.get(key);
    if (last !== undefined && nowMs - last < this.#intervalMs) return false;
    // Bounded: many names refused at once forget the oldest.
    if (this.#last.size >= 10_000) this.#last.clear();
    this.#last.set(key, nowMs);
    return true;
  }
}
