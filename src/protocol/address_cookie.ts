/**
 * The main process's own SYN cookie: proof that a caller receives at the
 * address it sends from, before Atoll spends a process on it.
 *
 * The main process answers a caller's induction itself, with a cookie made
 * from a secret only it knows, the caller's address and the minute. Only a
 * conclusion that carries that cookie back gets a child. Unlike libsrt's own
 * cookie (MD5 of the address and the minutes since the listener started,
 * which anyone can compute), this one cannot be forged by a sender that
 * spoofs its source address and never sees the answer.
 *
 * Stateless: nothing is kept per caller, so an induction flood costs one
 * HMAC and one 64-byte answer each. Pure; the time is passed in.
 *
 * @module
 */

import { createHmac } from "node:crypto";

/** How long one cookie value lasts; the previous minute's is still accepted. */
export const COOKIE_PERIOD_MS = 60_000;

/** The first 4 bytes of HMAC-SHA256(`secret`, `message`), as a signed 32-bit integer. */
export function hmacCookie(secret: Uint8Array, message: string): number {
  const digest = createHmac("sha256", secret).update(message).digest();
  return digest.readInt32BE(0);
}

export class AddressCookies {
  readonly #secret: Uint8Array;

  /** `secret`: at least 16 random bytes, kept for the life of the process. */
  constructor(secret: Uint8Array) {
    if (secret.length < 16) {
      throw new RangeError(
        `Cannot make address cookies: expected a secret of 16 bytes or more, got ${secret.length}`,
      );
    }
    this.#secret = secret.slice();
  }

  /** A new instance with a fresh random secret. */
  static random(): AddressCookies {
    return new AddressCookies(crypto.getRandomValues(new Uint8Array(32)));
  }

  /** The cookie for `peerKey` (`host:port`) at `nowMs` (wall-clock ms). */
  cookieFor(peerKey: string, nowMs: number): number {
    return this.#cookie(peerKey, Math.floor(nowMs / COOKIE_PERIOD_MS));
  }

  /** Whether `cookie` is this or the previous minute's cookie for `peerKey`. */
  verify(peerKey: string, cookie: number, nowMs: number): boolean {
    const period = Math.floor(nowMs / COOKIE_PERIOD_MS);
    return cookie === this.#cookie(peerKey, period) || cookie === this.#cookie(peerKey, period - 1);
  }

  #cookie(peerKey: string, period: number): number {
    return hmacCookie(this.#secret, `${peerKey}/${period}`);
  }
}
