/**
 * The child's half of the handoff: turn a connected UDP socket into one
 * accepted SRT connection with libsrt (`srt_bind_acquire`, `srt_listen`,
 * `srt_accept`), optionally answering the caller's induction ourselves so the
 * caller does not wait for its retransmission (DESIGN.md, "Fast path").
 *
 * @module
 */

import { encodeSockaddr, type Endpoint, nameOf, sendDatagram } from "../ffi/socket.ts";
import { SRT_EPOLL_ERR, SRT_EPOLL_IN, SRT_EPOLL_OUT, SRTT_LIVE } from "../ffi/libsrt.ts";
import { SrtEpoll, SrtOption, SrtSocket, SrtState } from "../ffi/srt_socket.ts";
import { buildInductionResponse, synCookie } from "./handshake.ts";
import type { PeerSettings } from "./messages.ts";

/** An accepted connection, and the listener that must outlive it. */
export interface AcceptedConnection {
  /**
   * The libsrt listener owns the multiplexer (the acquired UDP socket) that
   * the accepted socket shares: closing it early silences the connection, so
   * it is closed together with the connection.
   */
  listener: SrtSocket | undefined;
  connection: SrtSocket;
  /** Milliseconds from the start of setup to the accepted connection. */
  setupMs: number;
}

export interface AcceptOptions {
  udpFd: number;
  /** As the listening socket saw it: a v4 peer on a dual-stack socket in its `::ffff:` form. */
  peer: Endpoint;
  /** The caller's induction (or wave-a-hand) as received by the main process. */
  handshake: Uint8Array<ArrayBuffer>;
  rendezvous: boolean;
  settings: PeerSettings;
  /** Checked between waits: true aborts setup. */
  stopRequested: () => boolean;
}

export type AcceptResult =
  | { ok: true; accepted: AcceptedConnection }
  | { ok: false; reason: "handshake-timeout" | "shutdown"; detail: string };

/** The key length libsrt advertises in its induction response. */
function advertisedKeyLength(settings: PeerSettings): 0 | 16 | 24 | 32 {
  if (settings.passphrase === undefined) return 0;
  return settings.pbkeylen === 0 ? 16 : settings.pbkeylen;
}

function configure(socket: SrtSocket, settings: PeerSettings): void {
  socket.setInt(SrtOption.TRANSTYPE, SRTT_LIVE, "TRANSTYPE");
  socket.setInt(SrtOption.LATENCY, settings.latencyMs, "LATENCY");
  socket.setInt(SrtOption.PEERIDLETIMEO, settings.idleTimeoutMs, "PEERIDLETIMEO");
  if (settings.passphrase !== undefined) {
    socket.setString(SrtOption.PASSPHRASE, settings.passphrase, "PASSPHRASE");
    if (settings.pbkeylen !== 0) socket.setInt(SrtOption.PBKEYLEN, settings.pbkeylen, "PBKEYLEN");
  }
  socket.setBoolean(SrtOption.RCVSYN, false, "RCVSYN");
  socket.setBoolean(SrtOption.SNDSYN, false, "SNDSYN");
}

/**
 * Runs the SRT handshake on `options.udpFd` until a connection is accepted,
 * the handshake time runs out, or a stop is requested. libsrt takes the fd
 * over: the caller must not close it.
 */
export async function acceptConnection(options: AcceptOptions): Promise<AcceptResult> {
  const started = performance.now();
  const deadline = started + options.settings.handshakeTimeoutMs;
  const socket = SrtSocket.create();
  using epoll = new SrtEpoll();
  let handedOver = false;
  try {
    configure(socket, options.settings);
    if (options.rendezvous) socket.setBoolean(SrtOption.RENDEZVOUS, true, "RENDEZVOUS");
    socket.bindAcquire(options.udpFd);
    if (options.rendezvous) {
      epoll.add(socket, SRT_EPOLL_OUT | SRT_EPOLL_ERR);
      socket.connect(encodeSockaddr(options.peer));
    } else {
      epoll.add(socket, SRT_EPOLL_IN | SRT_EPOLL_ERR);
      socket.listen(1);
      if (options.settings.fastHandshake) answerInduction(options);
    }
    while (!options.stopRequested()) {
      const remaining = deadline - performance.now();
      if (remaining <= 0) {
        return { ok: false, reason: "handshake-timeout", detail: timeoutDetail(options, socket) };
      }
      await epoll.wait(Math.min(100, Math.ceil(remaining)));
      const connection = options.rendezvous ? connectedRendezvous(socket) : socket.accept();
      if (connection !== undefined) {
        handedOver = true;
        return {
          ok: true,
          accepted: {
            listener: options.rendezvous ? undefined : socket,
            connection,
            setupMs: performance.now() - started,
          },
        };
      }
    }
    return { ok: false, reason: "shutdown", detail: "server shutting down during the handshake" };
  } finally {
    if (!handedOver) socket.close();
  }
}

function connectedRendezvous(socket: SrtSocket): SrtSocket | undefined {
  return socket.state === SrtState.CONNECTED ? socket : undefined;
}

function timeoutDetail(options: AcceptOptions, socket: SrtSocket): string {
  const limit = `no SRT handshake completed within ${options.settings.handshakeTimeoutMs} ms`;
  if (!options.rendezvous) return limit;
  return `${limit} (state ${socket.state}, reject reason: ${socket.rejectReasonText})`;
}

/**
 * Sends the listener's induction response ourselves, with libsrt's SYN
 * cookie for minute 0 of this listener (libsrt accepts minutes T and T-1).
 * A mistake here costs only speed: the caller's retransmitted induction is
 * answered by libsrt itself.
 */
function answerInduction(options: AcceptOptions): void {
  const name = nameOf(encodeSockaddr(options.peer));
  const response = buildInductionResponse(options.handshake, {
    cookie: synCookie(name.hostname, name.port, 0),
    pbkeylen: advertisedKeyLength(options.settings),
  });
  sendDatagram(options.udpFd, new Uint8Array(response));
}
