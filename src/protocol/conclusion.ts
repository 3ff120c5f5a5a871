/**
 * Reads what a caller's HSv5 conclusion says about it before any child
 * runs: its stream id, and whether it offers key material (it has a
 * passphrase). The rejection backoff is keyed on these.
 *
 * After the 64-byte handshake, an HSv5 conclusion carries extension blocks:
 * a 16-bit type and a 16-bit length in 32-bit words, then the block. The
 * stream id is block type 5 (SRT_CMD_SID). libsrt stores its text in 32-bit
 * words that it byte-swaps like numbers, so on the wire every group of 4
 * characters is reversed (`#!::` arrives as `::!#`), and the last word is
 * padded with zero bytes. Checked against real conclusions in
 * `testdata/ipv4_stream_id.json` and `testdata/ipv4_passphrase_stream_id.json`.
 *
 * Pure, and never throws: anything at all can arrive on a public port.
 *
 * @module
 */

import { HANDSHAKE_LENGTH, HandshakeOffset, HandshakeType, HandshakeVersion } from "./packet.ts";

/** Extension block types of an HSv5 handshake (spec, "Handshake Extension Type" table). */
export const ExtensionType = {
  HSREQ: 1,
  HSRSP: 2,
  KMREQ: 3,
  KMRSP: 4,
  SID: 5,
  CONGESTION: 6,
  FILTER: 7,
  GROUP: 8,
} as const;

const decoder = new TextDecoder();

/** What an HSv5 conclusion's extensions say. */
export interface ConclusionFacts {
  /**
   * The SID extension's text, up to its first zero byte; `""` without one
   * (libsrt then gives the listener an empty stream id).
   */
  streamId: string;
  /** Whether it carries a KMREQ extension: the caller has a passphrase. */
  keyMaterial: boolean;
}

/**
 * The facts of an HSv5 conclusion, or undefined when `bytes` is no HSv5
 * conclusion or its extension blocks do not fit in it.
 */
export function readConclusion(bytes: Uint8Array): ConclusionFacts | undefined {
  if (bytes.byteLength < HANDSHAKE_LENGTH) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(HandshakeOffset.HANDSHAKE_TYPE) !== HandshakeType.CONCLUSION) return undefined;
  if (view.getUint32(HandshakeOffset.VERSION) !== HandshakeVersion.SRT) return undefined;
  let streamId = "";
  let keyMaterial = false;
  // Each block takes at least 4 bytes, so this ends.
  for (let offset = HANDSHAKE_LENGTH; offset < bytes.byteLength;) {
    if (offset + 4 > bytes.byteLength) return undefined;
    const type = view.getUint16(offset);
    const length = view.getUint16(offset + 2) * 4;
    const start = offset + 4;
    if (start + length > bytes.byteLength) return undefined;
    if (type === ExtensionType.SID) streamId = textOfWords(bytes.subarray(start, start + length));
    if (type === ExtensionType.KMREQ) keyMaterial = true;
    offset = start + length;
  }
  return { streamId, keyMaterial };
}

/** Undoes libsrt's per-word byte swap and cuts the text at its first zero byte. */
function textOfWords(words: Uint8Array): string {
  const text = new Uint8Array(words.byteLength);
  for (let i = 0; i < words.byteLength; i += 4) {
    text[i] = words[i + 3]!;
    text[i + 1] = words[i + 2]!;
    text[i + 2] = words[i + 1]!;
    text[i + 3] = words[i]!;
  }
  const end = text.indexOf(0);
  return decoder.decode(end === -1 ? text : text.subarray(0, end));
}
