/**
 * Classification of datagrams that reach the listening socket.
 *
 * The main process answers nothing itself: it only needs to know whether a
 * datagram from an unknown peer starts a connection (a caller's induction or
 * a rendezvous wave-a-hand) or is to be dropped and counted. The layout is
 * packet.ts (docs/design.md, "The handshake packet"); classification never
 * throws, because anything at all can arrive on a public UDP port.
 *
 * @module
 */

import {
  CONTROL_FLAG,
  controlTypeOf,
  HANDSHAKE_FIRST_WORD,
  HANDSHAKE_LENGTH,
  HandshakeOffset,
  HandshakeType,
  HandshakeVersion,
  HEADER_LENGTH,
} from "./packet.ts";

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

/** Handshake versions a caller's induction may carry (4 in practice; 5 accepted). */
const INDUCTION_VERSIONS: readonly number[] = [HandshakeVersion.UDT, HandshakeVersion.SRT];

/**
 * Classifies one datagram received on the listening socket.
 *
 * Never throws, whatever the input.
 */
export function classifyDatagram(bytes: Uint8Array): Datagram {
  if (bytes.length < HEADER_LENGTH) return { kind: "short", length: bytes.length };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const w0 = view.getUint32(0);
  if ((w0 & CONTROL_FLAG) === 0) return { kind: "data" };
  if (w0 !== HANDSHAKE_FIRST_WORD) return { kind: "control", controlType: controlTypeOf(w0) };
  if (bytes.length < HANDSHAKE_LENGTH) return { kind: "short", length: bytes.length };

  const handshakeType = view.getUint32(HandshakeOffset.HANDSHAKE_TYPE);
  const version = view.getUint32(HandshakeOffset.VERSION);
  const socketId = view.getUint32(HandshakeOffset.SRT_SOCKET_ID);
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
