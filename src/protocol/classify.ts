/**
 * Classification of datagrams that reach the listening socket.
 *
 * The main process answers nothing itself: it only needs to know whether a
 * datagram from an unknown peer starts a connection (a caller's induction or
 * a rendezvous wave-a-hand) or is to be dropped and counted. The layout is
 * the SRT handshake table in DESIGN.md; classification never throws, because
 * anything at all can arrive on a public UDP port.
 *
 * @module
 */

/** What a datagram is, as far as the main process cares. */
export type DatagramKind =
  | "induction"
  | "wave-a-hand"
  | "conclusion"
  | "agreement"
  | "rejection"
  | "handshake-other"
  | "control"
  | "data"
  | "short";

/** A classified datagram with the fields its kind makes meaningful. */
export type Datagram =
  | { kind: "induction" | "wave-a-hand"; version: number; socketId: number; handshakeType: number }
  | { kind: "conclusion" | "agreement" | "rejection" | "handshake-other"; handshakeType: number }
  | { kind: "control"; controlType: number }
  | { kind: "data" }
  | { kind: "short"; length: number };

/** Every kind, in a fixed order, for counters. */
export const DATAGRAM_KINDS: readonly DatagramKind[] = Object.freeze([
  "induction",
  "wave-a-hand",
  "conclusion",
  "agreement",
  "rejection",
  "handshake-other",
  "control",
  "data",
  "short",
]);

/** Every SRT packet starts with a header of four 32-bit words. */
export const SRT_HEADER_LENGTH = 16;
/** Header plus the handshake CIF up to the end of the peer IP address. */
export const HANDSHAKE_LENGTH = 64;

/** Word 0 of a handshake control packet: control bit set, type 0, subtype 0. */
const HANDSHAKE_W0 = 0x80000000;

/** Handshake types (word 9 of a handshake, bytes 36..39). */
export const HandshakeType = {
  WAVE_A_HAND: 0,
  INDUCTION: 1,
  CONCLUSION: 0xffffffff,
  AGREEMENT: 0xfffffffe,
  /** Values from here up are rejections (1000 + reject reason). */
  REJECTION_BASE: 1000,
} as const;

const VERSION_OFFSET = 16; // w4
const HANDSHAKE_TYPE_OFFSET = 36; // w9
const SOCKET_ID_OFFSET = 40; // w10

/** Handshake versions a caller's induction may carry (4 in practice; 5 accepted). */
const INDUCTION_VERSIONS: readonly number[] = [4, 5];

/**
 * Classifies one datagram received on the listening socket.
 *
 * Never throws, whatever the input.
 */
export function classifyDatagram(bytes: Uint8Array): Datagram {
  if (bytes.length < SRT_HEADER_LENGTH) return { kind: "short", length: bytes.length };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const w0 = view.getUint32(0);
  if ((w0 & 0x80000000) === 0) return { kind: "data" };
  if (w0 !== HANDSHAKE_W0) return { kind: "control", controlType: (w0 >>> 16) & 0x7fff };
  if (bytes.length < HANDSHAKE_LENGTH) return { kind: "short", length: bytes.length };

  const handshakeType = view.getUint32(HANDSHAKE_TYPE_OFFSET);
  const version = view.getUint32(VERSION_OFFSET);
  const socketId = view.getUint32(SOCKET_ID_OFFSET);
  switch (handshakeType) {
    case HandshakeType.INDUCTION:
      if (!INDUCTION_VERSIONS.includes(version)) return { kind: "handshake-other", handshakeType };
      return { kind: "induction", version, socketId, handshakeType };
    case HandshakeType.WAVE_A_HAND:
      return { kind: "wave-a-hand", version, socketId, handshakeType };
    case HandshakeType.CONCLUSION:
      return { kind: "conclusion", handshakeType };
    case HandshakeType.AGREEMENT:
      return { kind: "agreement", handshakeType };
  }
  if (handshakeType >= HandshakeType.REJECTION_BASE) return { kind: "rejection", handshakeType };
  return { kind: "handshake-other", handshakeType };
}

/** Whether a datagram from an unknown peer may start a new connection. */
export function startsConnection(d: Datagram): boolean {
  return d.kind === "induction" || d.kind === "wave-a-hand";
}
