/**
 * Signed media URLs: the HTTP counterpart of a stream's `readPassphrase`.
 * A URL `/NAME.ts?expires=UNIX_SECONDS&sig=HEX` (or the playlist's, and its
 * segments') is good until `expires` when
 * `sig = hex(HMAC-SHA256(key, NAME + "\n" + EXPIRES))` with
 * `key = SHA-256("atoll-media-url\n" + readPassphrase)`: anyone who knows
 * the passphrase can mint one, and a URL never carries the passphrase
 * itself. The signature is compared in constant time. Pure (WebCrypto).
 *
 * @module
 */

const encoder = new TextEncoder();

/** The HMAC key of a stream with read passphrase `passphrase`. */
async function signingKey(passphrase: string): Promise<CryptoKey> {
  const raw = await crypto.subtle.digest(
    "SHA-256",
    encoder.encode(`atoll-media-url\n${passphrase}`),
  );
  return await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
}

/** The signature of stream `name`'s URLs good until `expires` (Unix seconds), as hex. */
export async function signMediaUrl(
  passphrase: string,
  name: string,
  expires: number,
): Promise<string> {
  const key = await signingKey(passphrase);
  const mac = await crypto.subtle.sign("HMAC", key, encoder.encode(`${name}\n${expires}`));
  return Array.from(new Uint8Array(mac), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** The `expires` and `sig` of a request's query, as given; undefined when absent. */
export interface MediaSignature {
  expires: string;
  sig: string;
}

/** Why a signature does not let its holder watch, or undefined when it does. */
export type SignatureRefusal = "malformed" | "expired" | "wrong";

/**
 * Checks `signature` for stream `name` at `nowSeconds` (Unix): undefined
 * when good, else why not.
 */
export async function checkMediaSignature(
  passphrase: string,
  name: string,
  signature: MediaSignature,
  nowSeconds: number,
): Promise<SignatureRefusal | undefined> {
  if (
    !/^(0|[1-9][0-9]{0,14})$/.test(signature.expires) || !/^[0-9a-fA-F]{64}$/.test(signature.sig)
  ) {
    return "malformed";
  }
  const expires = Number(signature.expires);
  const expected = await signMediaUrl(passphrase, name, expires);
  if (!sameText(expected, signature.sig.toLowerCase())) return "wrong";
  return expires <= nowSeconds ? "expired" : undefined;
}

/** Compares without an early exit, so the time taken does not tell how much matched. */
export function sameText(a: string, b: string): boolean {
  const left = encoder.encode(a);
  const right = encoder.encode(b);
  let difference = left.length ^ right.length;
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    difference |= (left[i] ?? 0) ^ (right[i] ?? 0);
  }
  return difference === 0;
}
