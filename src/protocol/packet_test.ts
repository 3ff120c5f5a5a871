import assert from "node:assert/strict";
import {
  CONTROL_FLAG,
  ControlType,
  controlTypeOf,
  HANDSHAKE_FIRST_WORD,
  HANDSHAKE_LENGTH,
  HandshakeOffset,
  HandshakeType,
  HandshakeVersion,
  HEADER_LENGTH,
  HeaderOffset,
  SRT_MAGIC,
} from "./packet.ts";
import { IPV4, IPV4_PBKEYLEN_32, IPV4_WRONG_PASSPHRASE, IPV6 } from "./testdata/captured.ts";

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

Deno.test("packet offsets are the spec's 32-bit words in order, w0 to w12", () => {
  const offsets = [
    ...Object.values(HeaderOffset),
    HandshakeOffset.VERSION,
    HandshakeOffset.ENCRYPTION_FIELD,
    HandshakeOffset.INITIAL_PACKET_SEQUENCE_NUMBER,
    HandshakeOffset.MAXIMUM_TRANSMISSION_UNIT_SIZE,
    HandshakeOffset.MAXIMUM_FLOW_WINDOW_SIZE,
    HandshakeOffset.HANDSHAKE_TYPE,
    HandshakeOffset.SRT_SOCKET_ID,
    HandshakeOffset.SYN_COOKIE,
    HandshakeOffset.PEER_IP_ADDRESS,
  ];
  assert.deepEqual(offsets, offsets.map((_, word) => 4 * word));
  assert.equal(HandshakeOffset.EXTENSION_FIELD, HandshakeOffset.ENCRYPTION_FIELD + 2);
  assert.equal(HEADER_LENGTH, HandshakeOffset.VERSION);
  assert.equal(HANDSHAKE_LENGTH, HandshakeOffset.PEER_IP_ADDRESS + 16);
});

Deno.test("HANDSHAKE_FIRST_WORD is w0 of a real handshake, unsigned", () => {
  assert.equal(HANDSHAKE_FIRST_WORD, 0x80000000);
  assert.equal(view(IPV4.callerInduction).getUint32(HeaderOffset.FIRST_WORD), HANDSHAKE_FIRST_WORD);
});

Deno.test("controlTypeOf() reads the control type of real control packets", () => {
  const packets: [Uint8Array, number][] = [
    [IPV4.callerInduction, ControlType.HANDSHAKE],
    [IPV4.keepalive, ControlType.KEEPALIVE],
    [IPV4.ack, ControlType.ACK],
    [IPV4.ackack, ControlType.ACKACK],
  ];
  for (const [bytes, type] of packets) {
    const w0 = view(bytes).getUint32(HeaderOffset.FIRST_WORD);
    assert.ok((w0 & CONTROL_FLAG) !== 0);
    assert.equal(controlTypeOf(w0), type);
  }
  assert.equal(view(IPV4.data).getUint32(HeaderOffset.FIRST_WORD) & CONTROL_FLAG, 0);
});

Deno.test("HandshakeOffset reads a real caller induction and listener response", () => {
  const induction = view(IPV4.callerInduction);
  assert.equal(induction.getUint32(HandshakeOffset.VERSION), HandshakeVersion.UDT);
  assert.equal(induction.getUint32(HandshakeOffset.HANDSHAKE_TYPE), HandshakeType.INDUCTION);
  assert.equal(induction.getUint32(HandshakeOffset.MAXIMUM_TRANSMISSION_UNIT_SIZE), 1500);
  assert.equal(induction.getUint32(HandshakeOffset.MAXIMUM_FLOW_WINDOW_SIZE), 8192);
  assert.equal(induction.getUint32(HandshakeOffset.SYN_COOKIE), 0);
  assert.equal(induction.getUint32(HeaderOffset.DESTINATION_SOCKET_ID), 0);
  // 127.0.0.1, each 32-bit word in host (little-endian) order.
  assert.equal(induction.getUint32(HandshakeOffset.PEER_IP_ADDRESS, true), 0x7f000001);

  const response = view(IPV4_PBKEYLEN_32.listenerInductionResponse);
  assert.equal(response.getUint32(HandshakeOffset.VERSION), HandshakeVersion.SRT);
  assert.equal(response.getUint16(HandshakeOffset.EXTENSION_FIELD), SRT_MAGIC);
  assert.equal(response.getUint16(HandshakeOffset.ENCRYPTION_FIELD), 32 / 8);
  assert.equal(
    response.getUint32(HeaderOffset.DESTINATION_SOCKET_ID),
    view(IPV4_PBKEYLEN_32.callerInduction).getUint32(HandshakeOffset.SRT_SOCKET_ID),
  );
});

Deno.test("HandshakeOffset.PEER_IP_ADDRESS holds ::1 in a real IPv6 induction", () => {
  const induction = view(IPV6.callerInduction);
  const words = [0, 4, 8, 12].map((i) =>
    induction.getUint32(HandshakeOffset.PEER_IP_ADDRESS + i, true)
  );
  assert.deepEqual(words, [0, 0, 0, 1]);
});

Deno.test("HandshakeType.REJECTION_BASE plus the reason is a real rejection's type", () => {
  const rejection = view(IPV4_WRONG_PASSPHRASE.listenerConclusion);
  const SRT_REJ_BADSECRET = 10;
  assert.equal(
    rejection.getUint32(HandshakeOffset.HANDSHAKE_TYPE),
    HandshakeType.REJECTION_BASE + SRT_REJ_BADSECRET,
  );
  const conclusion = view(IPV4.callerConclusion);
  assert.equal(conclusion.getUint32(HandshakeOffset.HANDSHAKE_TYPE), HandshakeType.CONCLUSION);
});
