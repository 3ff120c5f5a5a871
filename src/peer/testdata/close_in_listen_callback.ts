/**
 * For acceptor_test.ts: ends {@link acceptConnection} (a stop request) at
 * the worst moment, when libsrt's receive thread has taken a caller's
 * conclusion to the listen callback and waits for the JavaScript thread to
 * run it, holding the receive queue's listener lock (`CRcvQueue::m_LSLock`)
 * that closing the listener needs. A listener closed from the JavaScript
 * thread then never returns: the test sees this process hang and kills it.
 *
 * The moment is recognised without timing: libsrt makes the caller's new
 * socket (`CUDTUnited::newConnection`, which then calls the hook) while
 * holding that lock, and the hook cannot return before the JavaScript thread
 * runs it, so once that socket exists the lock stays held until the
 * callback has run. It is the one socket still in SRTS_INIT among the few
 * ids below the caller's (libsrt counts ids down; the listener listens).
 *
 * Prints one JSON line: the setup result, whether `decide` was asked, and
 * the reject reason the caller got. Exits 2 when the callback was never
 * entered (the scenario did not happen, which proves nothing).
 *
 * Usage: close_in_listen_callback.ts
 */

import { libsrt, SRTT_LIVE, unwrap } from "../../../ffi/libsrt.ts";
import { encodeSockaddr, openConnectedUdpSocket } from "../../../ffi/socket.ts";
import { SrtOption, SrtSocket, SrtState } from "../../../ffi/srt_socket.ts";
import { acceptConnection } from "../acceptor.ts";

/** How long to wait for the caller's conclusion to reach the callback: past 3 induction retransmissions. */
const ENTER_LIMIT_MS = 3000;
/** How long to wait for the caller to learn it was refused. */
const REFUSAL_LIMIT_MS = 3000;
/** How many ids below the caller's the listener and libsrt's new socket may take. */
const ID_SPAN = 8;

const srt = libsrt();
srt.srt_setloglevel(2);
unwrap("srt_startup", srt.srt_startup());
const local = { hostname: "127.0.0.1", port: 0 };
const listening = Deno.listenDatagram({ transport: "udp", ...local, reuseAddress: true });
const address = listening.addr as Deno.NetAddr;
const caller = SrtSocket.create();
caller.setInt(SrtOption.TRANSTYPE, SRTT_LIVE);
caller.setBoolean(SrtOption.RCVSYN, false);
caller.connect(encodeSockaddr({ hostname: address.hostname, port: address.port }));
const timer = setTimeout(() => listening.close(), ENTER_LIMIT_MS);
const [induction, peer] = await listening.receive();
clearTimeout(timer);
const udpSocket = openConnectedUdpSocket(
  { hostname: address.hostname, port: address.port },
  peer as Deno.NetAddr,
);
listening.close();

const sleeper = new Int32Array(new SharedArrayBuffer(4));
let entered = false;

/**
 * Blocks the JavaScript thread until libsrt made the caller's socket, which
 * means its receive thread is in, or on its way into, the listen callback.
 */
function callbackEntered(): boolean {
  const until = performance.now() + ENTER_LIMIT_MS;
  while (performance.now() < until) {
    for (let id = caller.id - 1; id >= caller.id - ID_SPAN; id--) {
      if (srt.srt_getsockstate(id) === SrtState.INIT) return true;
    }
    Atomics.wait(sleeper, 0, 0, 1);
  }
  return false;
}

let decided = 0;
const result = await acceptConnection({
  udpSocket,
  peer: peer as Deno.NetAddr,
  handshake: new Uint8Array(induction),
  rendezvous: false,
  settings: {
    latencyMs: 120,
    pbkeylen: 0,
    idleTimeoutMs: 5000,
    handshakeTimeoutMs: 10_000,
    fastHandshake: true,
    decisionTimeoutMs: 1000,
  },
  stopRequested: () => {
    entered ||= callbackEntered();
    return true;
  },
  decide: () => {
    decided++;
    return { code: 0, detail: "accepted" };
  },
});
if (result.ok) await result.accepted.close();

let callerState = caller.state;
const until = performance.now() + REFUSAL_LIMIT_MS;
while (callerState === SrtState.CONNECTING && performance.now() < until) {
  await new Promise((resolve) => setTimeout(resolve, 10));
  callerState = caller.state;
}
console.log(JSON.stringify({
  entered,
  reason: result.ok ? "accepted" : result.reason,
  decided,
  callerState,
  callerRejectReason: caller.rejectReason,
}));
caller.close();
srt.srt_cleanup();
Deno.exit(entered ? 0 : 2);
