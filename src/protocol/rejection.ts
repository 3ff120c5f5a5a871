/**
 * The main process's own SRT rejection: an answer to a caller's handshake
 * that refuses it with a code, without a child. libsrt's caller reads the
 * handshake type of every response first, and a type of 1000 or more ends
 * its connect at once with reject reason `type - 1000`
 * (`CUDT::processConnectResponse`); srt-live-transmit and ffmpeg print it.
 *
 * The answer is what libsrt's own listener sends when it refuses
 * (`CUDT::processConnectRequest`): the caller's 64-byte handshake with w3
 * set to the caller's socket id and w9 to 1000 + the code. libsrt's listener
 * puts a socket id of its own in w10; the main process has no socket, so it
 * puts 0 there, which no caller reads from a rejection.
 *
 * @module
 */

import { classifyDatagram } from "./classify.ts";
import { HANDSHAKE_LENGTH, HandshakeOffset, HandshakeType, HeaderOffset } from "./packet.ts";

/** The codes a rejection may carry: libsrt's own (below 1000) or Access Control's (1000 to 2999). */
const MAX_REJECT_CODE = 2999;

/**
 * Builds the answer that refuses `handshake` (an induction or a conclusion)
 * with `code`.
 *
 * @throws {RangeError} when `handshake` is not an induction or a conclusion,
 *   or `code` is not a reject reason
 */
export function buildRejection(handshake: Uint8Array, code: number): Uint8Array {
  if (!Number.isInteger(code) || code < 1 || code > MAX_REJECT_CODE) {
    throw new RangeError(`Cannot build rejection: ${code} is not a reject reason`);
  }
  const kind = classifyDatagram(handshake).kind;
  if (kind !== "induction" && kind !== "conclusion") {
    throw new RangeError(
      `Cannot build rejection: expected an induction or a conclusion, got ${kind}`,
    );
  }
  const answer = handshake.slice(0, HANDSHAKE_LENGTH);
  const view = new DataView(answer.buffer);
  view.setUint32(HeaderOffset.DESTINATION_SOCKET_ID, view.getUint32(HandshakeOffset.SRT_SOCKET_ID));
  view.setUint32(HandshakeOffset.HANDSHAKE_TYPE, HandshakeType.REJECTION_BASE + code);
  view.setUint32(HandshakeOffset.SRT_SOCKET_ID, 0);
  return answer;
}
