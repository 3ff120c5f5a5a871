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

const NAMES: Readonly<Record<number, string>> = {
  1400: "bad request",
  1401: "unauthorized",
  1402: "overloaded",
  1403: "forbidden",
  1404: "not found",
  1409: "conflict",
  1500: "internal server error",
  1503: "service down",
};

/** `1409 conflict`, or just the number for a code Atoll does not send. */
export function describeRejectCode(code: number): string {
  const name = NAMES[code];
  return name === undefined ? String(code) : `${code} ${name}`;
}
