/**
 * The fast-path induction response (docs/design.md, "The fast path").
 *
 * A child that has just been handed a caller's connection answers the
 * caller's induction itself instead of waiting for the retransmission that
 * libsrt would answer (250 ms to 1 s later). The answer must be exactly what
 * libsrt would have sent, SYN cookie included, so this depends on libsrt
 * internals: it is only used with {@link FAST_HANDSHAKE_VERSIONS}.
 *
 * @module
 */

import { md5 } from "./md5.ts";
import { classifyDatagram } from "./classify.ts";
import {
  HANDSHAKE_LENGTH,
  HandshakeOffset,
  HandshakeType,
  HandshakeVersion,
  HeaderOffset,
  SRT_MAGIC,
} from "./packet.ts";

/** `srt_getversion()` values whose induction response and SYN cookie match this module. */
export const FAST_HANDSHAKE_VERSIONS: readonly number[] = Object.freeze([
  0x010501,
  0x010502,
  0x010503,
  0x010504,
]);

/**
 * libsrt 1.5.x SYN cookie: first 4 bytes of MD5("<host>:<port>:<minutes>") read as little-endian int32.
 *
 * `host` and `port` are the peer's numeric address as `getnameinfo` prints
 * it; `minutes` counts whole minutes since the listener's bind (0 for a
 * child that has just bound). Returns a signed int32, as libsrt keeps it.
 */
export function synCookie(host: string, port: number, minutes: number): number {
  const digest = md5(new TextEncoder().encode(`${host}:${port}:${minutes}`));
  return new DataView(digest.buffer).getInt32(0, true);
}

/** What the induction response carries besides the caller's own fields. */
export interface InductionResponseOptions {
  /** The SYN cookie, from {@link synCookie}. */
  cookie: number;
  /** The key length the listener advertises: 0 without a passphrase. */
  pbkeylen: 0 | 16 | 24 | 32;
}

/** The key length a listener advertises in its induction response: 0 without a passphrase. */
export function advertisedKeyLength(
  passphrase: string | undefined,
  pbkeylen: 0 | 16 | 24 | 32,
): 0 | 16 | 24 | 32 {
  if (passphrase === undefined) return 0;
  return pbkeylen === 0 ? 16 : pbkeylen;
}

/**
 * Builds the listener's answer to a caller's induction.
 *
 * The answer is the first 64 bytes of the caller's handshake with w3 set to
 * the caller's socket id, w4 to version 5, w5 to the SRT magic and key
 * length, w9 to induction and w11 to the cookie.
 *
 * The caller's handshake may also be its conclusion: a libsrt caller that
 * has already sent its conclusion takes a new induction response's cookie
 * and sends its conclusion again with it (docs/design.md, "Proving the
 * caller's address"). That is how a child takes over a caller whose address
 * the main process has proved with a cookie of its own.
 *
 * @throws {RangeError} when `handshake` is not a 64-byte (or longer) induction or conclusion
 */
export function buildInductionResponse(
  handshake: Uint8Array,
  options: InductionResponseOptions,
): Uint8Array {
  if (handshake.length < HANDSHAKE_LENGTH) {
    throw new RangeError(
      `Cannot build induction response: expected a ${HANDSHAKE_LENGTH}-byte induction, got ${handshake.length} bytes`,
    );
  }
  const kind = classifyDatagram(handshake).kind;
  if (kind !== "induction" && kind !== "conclusion") {
    throw new RangeError(
      `Cannot build induction response: expected an induction or a conclusion, got ${kind}`,
    );
  }
  const response = handshake.slice(0, HANDSHAKE_LENGTH);
  const view = new DataView(response.buffer);
  view.setUint32(HandshakeOffset.HANDSHAKE_TYPE, HandshakeType.INDUCTION);
  view.setUint32(
    HeaderOffset.DESTINATION_SOCKET_ID,
    view.getUint32(HandshakeOffset.SRT_SOCKET_ID),
  );
  view.setUint32(HandshakeOffset.VERSION, HandshakeVersion.SRT);
  view.setUint16(HandshakeOffset.ENCRYPTION_FIELD, options.pbkeylen / 8);
  view.setUint16(HandshakeOffset.EXTENSION_FIELD, SRT_MAGIC);
  view.setInt32(HandshakeOffset.SYN_COOKIE, options.cookie | 0);
  return response;
}
