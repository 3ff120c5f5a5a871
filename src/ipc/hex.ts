/**
 * Hex text and bytes: the caller's first handshake crosses to its child as
 * hex, and test vectors are written in it.
 *
 * @module
 */

/**
 * Bytes from hex digits; whitespace is ignored, so vectors can be written a
 * word at a time.
 *
 * @throws {TypeError} for an odd number of digits or a non-hex character
 */
export function bytesFromHex(text: string): Uint8Array<ArrayBuffer> {
  const digits = text.replace(/\s+/g, "");
  if (digits.length % 2 !== 0) throw new TypeError(`Odd number of hex digits: ${digits.length}`);
  const bytes = new Uint8Array(digits.length / 2);
  for (let i = 0; i < bytes.length; i++) {
    const pair = digits.slice(2 * i, 2 * i + 2);
    if (!/^[0-9a-fA-F]{2}$/.test(pair)) throw new TypeError(`Bad hex digits at ${2 * i}`);
    bytes[i] = Number.parseInt(pair, 16);
  }
  return bytes;
}

/** Lower-case hex digits of `bytes`, two a byte. */
export function hexFromBytes(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}
