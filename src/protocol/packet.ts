/**
 * The SRT packet layout Atoll reads and writes: header and handshake field
 * offsets, control types, handshake types and the SRT magic, named after the
 * tables of the SRT protocol specification (draft-sharabayko-srt, section 3,
 * "Packet Structure"). One definition for the classifier and the fast-path
 * induction response; docs/design.md, "The handshake packet", has the table.
 *
 * Pure: constants only.
 *
 * @module
 */

/** Every SRT packet starts with a header of four 32-bit big-endian words. */
export const HEADER_LENGTH = 16;

/** Byte offsets of the header's words (spec, "SRT Packet Structure"). */
export const HeaderOffset = {
  /** w0: packet type flag F (1 bit); for control packets, control type (15) and subtype (16). */
  FIRST_WORD: 0,
  /** w1: type-specific information. */
  TYPE_SPECIFIC_INFORMATION: 4,
  /** w2: microseconds since the sender's socket started. */
  TIMESTAMP: 8,
  /** w3: the receiver's socket id; 0 in a caller's first induction. */
  DESTINATION_SOCKET_ID: 12,
} as const;

/** The packet type flag F in w0: set for control packets, clear for data packets. */
export const CONTROL_FLAG = 0x80000000;

/** Control types, bits 1-15 of w0 (spec, "Control Types" table). */
export const ControlType = {
  HANDSHAKE: 0x0000,
  KEEPALIVE: 0x0001,
  ACK: 0x0002,
  NAK: 0x0003,
  CONGESTION_WARNING: 0x0004,
  SHUTDOWN: 0x0005,
  ACKACK: 0x0006,
  DROPREQ: 0x0007,
  PEERERROR: 0x0008,
  USER_DEFINED: 0x7fff,
} as const;

/** The control type of a control packet's w0. */
export function controlTypeOf(firstWord: number): number {
  return (firstWord >>> 16) & 0x7fff;
}

/** w0 of a handshake: F set, control type HANDSHAKE, subtype 0. */
export const HANDSHAKE_FIRST_WORD = (CONTROL_FLAG | (ControlType.HANDSHAKE << 16)) >>> 0;

/**
 * Byte offsets of the handshake control information field (CIF), which
 * follows the header (spec, "Handshake" figure).
 */
export const HandshakeOffset = {
  /** w4: handshake version, see {@link HandshakeVersion}. */
  VERSION: 16,
  /** High half of w5 (16 bits): the key length in bytes / 8 a listener advertises, 0 for none. */
  ENCRYPTION_FIELD: 20,
  /**
   * Low half of w5 (16 bits): 2 in a caller's HSv4 induction, {@link SRT_MAGIC} in the
   * listener's induction response, extension flags in HSv5 conclusions.
   */
  EXTENSION_FIELD: 22,
  /** w6 */
  INITIAL_PACKET_SEQUENCE_NUMBER: 24,
  /** w7: maximum transmission unit size, 1500 at most. */
  MAXIMUM_TRANSMISSION_UNIT_SIZE: 28,
  /** w8 */
  MAXIMUM_FLOW_WINDOW_SIZE: 32,
  /** w9: see {@link HandshakeType}. */
  HANDSHAKE_TYPE: 36,
  /** w10: the sender's own socket id. */
  SRT_SOCKET_ID: 40,
  /** w11: 0 in a caller's induction; the listener's cookie from then on. */
  SYN_COOKIE: 44,
  /** w12-w15: 128 bits; libsrt writes each 32-bit word of it little-endian. */
  PEER_IP_ADDRESS: 48,
} as const;

/** Header plus the handshake CIF up to the end of the peer IP address: the shortest handshake. */
export const HANDSHAKE_LENGTH = 64;

/** Handshake types, w9 (spec, "Handshake Type" table). */
export const HandshakeType = {
  WAVE_A_HAND: 0,
  INDUCTION: 1,
  CONCLUSION: 0xffffffff,
  AGREEMENT: 0xfffffffe,
  /** In the spec's table but in no capture here; being ≥ 1000, it classifies as a rejection. */
  DONE: 0xfffffffd,
  /** Values from here up are rejections: 1000 + the reject reason. */
  REJECTION_BASE: 1000,
} as const;

/** Handshake versions, w4. */
export const HandshakeVersion = {
  /** HSv4 (UDT): what a libsrt caller puts in its first induction. */
  UDT: 4,
  /** HSv5: the listener's induction response and everything after it. */
  SRT: 5,
} as const;

/** The SRT magic code a listener puts in the extension field of its induction response. */
export const SRT_MAGIC = 0x4a17;
