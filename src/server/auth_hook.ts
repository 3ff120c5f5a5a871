/**
 * The authorization hook: before a publisher or viewer is accepted, Atoll
 * can ask an HTTP service of the operator's. It POSTs what the caller asked
 * for as JSON; a 2xx answer allows, 401 rejects with 1401 (unauthorized),
 * and anything else, a network error or no answer within the timeout
 * rejects with 1403 (forbidden). When Atoll itself is out of file
 * descriptors and cannot open a connection to the hook, the caller is
 * refused with 1402 (overloaded): it may try again later.
 *
 * @module
 */

import { RejectCode } from "../protocol/reject_codes.ts";
import { fileShortageText } from "./file_shortage.ts";

/** Where and how long to ask (config `authHook`). */
export interface AuthHookSettings {
  url: string;
  timeoutMs: number;
}

/** The JSON body the hook receives. */
export interface AuthRequest {
  action: "publish" | "play";
  stream: string;
  /** The stream id exactly as the caller sent it. */
  streamId: string;
  /** `u=` of an SRT Access Control stream id, or the user of `MODE:NAME:USER:PASSWORD`. */
  user: string | null;
  /** The password of `MODE:NAME:USER:PASSWORD` (MediaMTX's form). */
  password: string | null;
  /** `s=` of an SRT Access Control stream id. */
  session: string | null;
  /**
   * Every other key of an SRT Access Control stream id, and the `key=value`
   * pairs of the query.
   */
  params: Record<string, string>;
  /**
   * The query as given: after `?` in the stream name (`r=live/cam?secret=...`,
   * as SRS reads it), or the last part of `MODE:NAME:QUERY` or
   * `MODE:NAME:USER:PASSWORD:QUERY`.
   */
  query: string | null;
  /** The caller's address, `host:port`. */
  peer: string;
  connectionId: string;
}

/**
 * The JSON body the hook receives for an HTTP playback session (HLS or
 * HTTP-TS; src/server/media_access.ts). `action` is `read`, not `play`, so a
 * hook tells HTTP viewers from SRT ones.
 */
export interface MediaAuthRequest {
  action: "read";
  protocol: "hls" | "http-ts";
  stream: string;
  /** The request's query after `?`, as given; null when none. */
  query: string | null;
  /** Its `key=value` pairs. */
  params: Record<string, string>;
  /** Whether the URL carried a good signature (streams with a `readPassphrase`). */
  signed: boolean;
  /** The caller's address, `host:port`. */
  peer: string;
}

export type AuthDecision =
  | { allowed: true; detail: string }
  | { allowed: false; code: RejectCode; detail: string };

/** Asks the hook about `request`; never throws. */
export async function authorize(
  hook: AuthHookSettings,
  request: AuthRequest | MediaAuthRequest,
  fetchImpl: typeof fetch = fetch,
): Promise<AuthDecision> {
  const started = performance.now();
  const took = () => `${Math.round(performance.now() - started)} ms`;
  let response: Response;
  try {
    response = await fetchImpl(hook.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(request),
      // A redirect is not an answer: only the hook's own 2xx allows.
      redirect: "manual",
      signal: AbortSignal.timeout(hook.timeoutMs),
    });
  } catch (error) {
    const shortage = fileShortageText(error);
    if (shortage !== undefined) {
      // Atoll's own shortage, not the caller's fault: refused as overloaded,
      // which does not count toward the caller's backoff.
      return {
        allowed: false,
        code: RejectCode.Overload,
        detail: `the authorization hook could not be asked: ${shortage}`,
      };
    }
    const timedOut = error instanceof DOMException && error.name === "TimeoutError";
    return {
      allowed: false,
      code: RejectCode.Forbidden,
      detail: timedOut
        ? `the authorization hook did not answer within ${hook.timeoutMs} ms`
        : `the authorization hook could not be reached: ${messageWithCause(error)}`,
    };
  }
  // The body is not used; read it so the connection can be reused.
  await response.body?.cancel().catch(() => {});
  if (response.ok) return { allowed: true, detail: `HTTP ${response.status} in ${took()}` };
  return {
    allowed: false,
    code: response.status === 401 ? RejectCode.Unauthorized : RejectCode.Forbidden,
    detail: `the authorization hook answered HTTP ${response.status} in ${took()}`,
  };
}

/** `fetch failed: connection refused`: fetch's own message says nothing without its cause. */
function messageWithCause(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const cause = error instanceof Error ? error.cause : undefined;
  return cause instanceof Error ? `${message}: ${cause.message}` : message;
}
