/**
 * Building byte strings in tests. Pure (no `Deno.*`): tests that run without
 * permissions import it.
 *
 * @module
 */

/** `parts` one after another in a new array. */
export function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.length;
  }
  return bytes;
}
