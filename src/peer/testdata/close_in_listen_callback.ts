/**
 * For acceptor_test.ts: closes the listener of {@link acceptConnection} at
 * the worst moment, when libsrt's receive thread has taken a caller's
 * conclusion to the listen callback and waits for the JavaScript thread to
 * run it, holding the receive queue's listener lock (`CRcvQueue::m_LSLock`)
 * that closing the listener needs. A listener closed from the JavaScript
 * thread then never returns: the test sees this process hang and kills it.
 *
 * - `handshake`: a stop request ends the setup while the caller's
 *   conclusion waits for the callback.
 * - `accepted`: once a first caller is accepted, a second one from the same
 *   address and port (a caller restarted on a fixed port) reaches the
 *   callback, and the accepted connection is closed meanwhile.
 *
 * The moment is recognised without timing: libsrt makes the caller's new
 * socket (`CUDTUnited::newConnection`, which then calls the hook) while
 * holding that lock, and the hook cannot return before the JavaScript thread
 * runs it, so once that socket exists the lock stays held until the
 * callback has run. It is the one socket in SRTS_INIT among the few ids
 * below the caller's (libsrt counts ids down; the listener listens, an
 * accepted socket is connected).
 *
 * Prints one JSON line: the setup result, how often `decide` was asked, and
 * the state and reject reason of the caller that came during the close.
 * Exits 2 when that caller never reached the callback (the scenario did not
 * happen, which proves nothing).
 *
 * Usage: close_in_listen_callback.ts handshake|accepted
 */

import { libsrt, SRTT_LIVE, unwrap } from "../../../ffi/libsrt.ts";
import { encodeSockaddr, type Endpoint, openConnectedUdpSocket } from "../../../ffi/socket.ts";
import { SrtOption, SrtSocket, SrtState } from "../../../ffi/srt_socket.ts";
import { acceptConnection } from "../acceptor.ts";

/** How long to wait for a caller's conclusion to reach the callback: past 3 induction retransmissions. */
const ENTER_LIMIT_MS = 3000;
/** How long to wait for the caller to learn it was refused. */
const REFUSAL_LIMIT_MS = 3000;
/** How many ids below the caller's the listener and libsrt's new sockets may take. */
const ID_SPAN = 8;

const mode = Deno.args[0];
if (mode !== "handshake" && mode !== "accepted") {
  throw new TypeError(`Invalid mode: ${mode} (handshake or accepted)`);
}
const srt = libsrt();
srt.srt_setloglevel(2);
unwrap("srt_startup", srt.srt_startup());

function newCaller(server: Endpoint, local?: Endpoint): SrtSocket {
  const caller = SrtSocket.create();
  caller.setInt(SrtOption.TRANSTYPE, SRTT_LIVE);
  caller.setBoolean(SrtOption.RCVSYN, false);
  // The same address as another caller: libsrt shares that caller's UDP socket.
  if (local !== undefined) caller.bind(encodeSockaddr(local));
  caller.connect(encodeSockaddr(server));
  return caller;
}

const listening = Deno.listenDatagram({
  transport: "udp",
  hostname: "127.0.0.1",
  port: 0,
  reuseAddress: true,
});
const server = listening.addr as Deno.NetAddr;
const first = newCaller(server);
const timer = setTimeout(() => listening.close(), ENTER_LIMIT_MS);
const [induction, from] = await listening.receive();
clearTimeout(timer);
const peer = from as Deno.NetAddr;
const udpSocket = openConnectedUdpSocket(server, peer);
listening.close();

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * Blocks the JavaScript thread until libsrt made a socket for `caller`,
 * which means its receive thread is in, or on its way into, the listen
 * callback.
 */
function callbackEntered(caller: SrtSocket): boolean {
  const until = performance.now() + ENTER_LIMIT_MS;
  while (performance.now() < until) {
    for (let id = caller.id - 1; id >= caller.id - ID_SPAN; id--) {
      if (srt.srt_getsockstate(id) === SrtState.INIT) return true;
    }
    Atomics.wait(sleeper, 0, 0, 1);
  }
  return false;
}

let entered = false;
let decided = 0;
let second: SrtSocket | undefined;
const result = await acceptConnection({
  udpSocket,
  peer,
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
    if (mode === "accepted") return false;
    entered ||= callbackEntered(first);
    return true;
  },
  decide: () => {
    decided++;
    return { code: 0, detail: "accepted" };
  },
});
if (result.ok) {
  if (mode === "accepted") {
    // The first caller's connect() bound it to the wildcard address.
    second = newCaller(server, { hostname: "0.0.0.0", port: peer.port });
    entered = callbackEntered(second);
  }
  await result.accepted.close();
}

const refused = mode === "accepted" ? second : first;
let callerState = refused?.state ?? SrtState.NONEXIST;
const until = performance.now() + REFUSAL_LIMIT_MS;
while (callerState === SrtState.CONNECTING && performance.now() < until) {
  await new Promise((resolve) => setTimeout(resolve, 10));
  callerState = refused!.state;
}
console.log(JSON.stringify({
  entered,
  result: result.ok ? "accepted" : result.reason,
  decided,
  callerState,
  callerRejectReason: refused?.rejectReason,
}));
first.close();
second?.close();
srt.srt_cleanup();
Deno.exit(entered ? 0 : 2);
