/**
 * The SRT Access Control rejection codes Atoll answers with (libsrt's
 * `access_control.h`, `SRT_REJX_*`). A caller sees the code at once:
 * srt-live-transmit and ffmpeg print it.
 *
 * @module
 */

export const RejectCode = {
  /** SRT_REJX_BAD_REQUEST: the stream id cannot be parsed. */
  BadRequest: 1400,
  /** SRT_REJX_UNAUTHORIZED: an authorization hook said no. */
  Unauthorized: 1401,
  /** SRT_REJX_OVERLOAD: the stream has its maximum number of viewers. */
  Overload: 1402,
  /** SRT_REJX_FORBIDDEN: the mode is not allowed on this stream. */
  Forbidden: 1403,
  /** SRT_REJX_NOTFOUND: no publisher arrived within the play wait. */
  NotFound: 1404,
  /** SRT_REJX_CONFLICT: the stream already has a live publisher. */
  Conflict: 1409,
  /** SRT_REJX_ISE: Atoll failed while deciding. */
  InternalError: 1500,
  /** SRT_REJX_DOWN: the server is shutting down. */
  Down: 1503,
} as const;

export type RejectCode = typeof RejectCode[keyof typeof RejectCode];

/**
 * Each code's name in `access_control.h`, for `ffi/structs_test.ts`, which
 * checks the numbers against the installed header. A code without a name
 * here does not type-check.
 */
export const REJECT_CODE_C_NAMES = {
  BadRequest: "SRT_REJX_BAD_REQUEST",
  Unauthorized: "SRT_REJX_UNAUTHORIZED",
  Overload: "SRT_REJX_OVERLOAD",
  Forbidden: "SRT_REJX_FORBIDDEN",
  NotFound: "SRT_REJX_NOTFOUND",
  Conflict: "SRT_REJX_CONFLICT",
  InternalError: "SRT_REJX_ISE",
  Down: "SRT_REJX_DOWN",
} as const satisfies Record<keyof typeof RejectCode, `SRT_REJX_${string}`>;

/**
 * The standard codes of `access_control.h`: Atoll's own, and those another
 * server may answer a relay's call with.
 */
const NAMES: Readonly<Record<number, string>> = {
  1000: "fallback",
  1001: "stream id key not supported",
  1002: "bad file path",
  1003: "host not found",
  1400: "bad request",
  1401: "unauthorized",
  1402: "overloaded",
  1403: "forbidden",
  1404: "not found",
  1405: "bad mode",
  1406: "unacceptable",
  1409: "conflict",
  1415: "media type not supported",
  1423: "locked",
  1424: "failed dependency",
  1500: "internal server error",
  1501: "unimplemented",
  1502: "gateway error",
  1503: "service down",
  1505: "version not supported",
  1507: "no room",
};

/** `1409 conflict`, or just the number for a code Atoll does not know. */
export function describeRejectCode(code: number): string {
  const name = NAMES[code];
  return name === undefined ? String(code) : `${code} ${name}`;
}

/**
 * libsrt's own reject reasons (`SRT_REJECT_REASON` in srt.h, below 1000),
 * by their C names without the `SRT_REJ_` prefix: what a caller is told
 * when libsrt refused the handshake itself (a wrong passphrase, a timeout).
 * `ffi/structs_test.ts` checks the numbers against the installed header.
 */
export const LibsrtRejectReason = {
  UNKNOWN: 0,
  SYSTEM: 1,
  PEER: 2,
  RESOURCE: 3,
  ROGUE: 4,
  BACKLOG: 5,
  IPE: 6,
  CLOSE: 7,
  VERSION: 8,
  RDVCOOKIE: 9,
  BADSECRET: 10,
  UNSECURE: 11,
  MESSAGEAPI: 12,
  CONGESTION: 13,
  FILTER: 14,
  GROUP: 15,
  TIMEOUT: 16,
} as const;

/** What each of libsrt's reasons means (srt.h's comments, in words a log reader knows). */
const LIBSRT_MEANINGS = {
  UNKNOWN: "unknown",
  SYSTEM: "system error",
  PEER: "rejected by the peer",
  RESOURCE: "resource allocation failed",
  ROGUE: "bad handshake data",
  BACKLOG: "listener backlog full",
  IPE: "internal program error",
  CLOSE: "socket closing",
  VERSION: "peer's SRT version too old",
  RDVCOOKIE: "rendezvous cookie collision",
  BADSECRET: "wrong passphrase",
  UNSECURE: "passphrase required or unexpected",
  MESSAGEAPI: "stream or message API mismatch",
  CONGESTION: "congestion control mismatch",
  FILTER: "packet filter mismatch",
  GROUP: "group settings mismatch",
  TIMEOUT: "connection timeout",
} as const satisfies Record<keyof typeof LibsrtRejectReason, string>;

const LIBSRT_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(LibsrtRejectReason).map((
    [key, code],
  ) => [code, LIBSRT_MEANINGS[key as keyof typeof LibsrtRejectReason]]),
);

/**
 * Any reason `srt_getrejectreason` may give, in words: libsrt's own (`10
 * wrong passphrase`), the standard server codes (`1403 forbidden`), and
 * what is left by its range (`2001 (application-defined)`).
 */
export function describeRejectReason(code: number): string {
  const name = code < 1000 ? LIBSRT_NAMES[code] : NAMES[code];
  if (name !== undefined) return `${code} ${name}`;
  if (code < 1000) return `${code} (libsrt)`;
  return code < 2000 ? `${code} (server-defined)` : `${code} (application-defined)`;
}
