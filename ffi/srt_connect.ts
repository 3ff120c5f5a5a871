/**
 * An outgoing SRT connection: a caller, or one side of a rendezvous, set up
 * and connected without blocking the JS thread.
 *
 * `srt_connect` on a non-blocking socket returns at once, and libsrt's own
 * threads run the handshake. An SRT epoll wait on a pool thread says when
 * it ended, in steps of at most {@link STOP_CHECK_MS}, so that a stop ends
 * a pending connect at once. A handshake that failed leaves the socket
 * BROKEN with its reason, which libsrt keeps per socket (unlike the last
 * error, kept per thread): `SRT_REJ_TIMEOUT` once `SRTO_CONNTIMEO` ran out,
 * anything else for a rejection (the peer's code of 1000 and up, or
 * libsrt's own, such as a wrong passphrase).
 *
 * @module
 */

import {
  SRT_EPOLL_ERR,
  SRT_EPOLL_OUT,
  SRT_REJ_TIMEOUT,
  SRT_REJ_UNKNOWN,
  SrtErrno,
  SrtError,
  SRTT_LIVE,
} from "./libsrt.ts";
import { encodeSockaddr, type Endpoint } from "./socket.ts";
import { SrtEpoll, SrtOption, SrtSocket, SrtState } from "./srt_socket.ts";

/** The longest a pending connect goes without looking at `stopRequested`. */
export const STOP_CHECK_MS = 100;

/**
 * How long after the connect timeout a handshake that libsrt has not ended
 * is given up all the same: libsrt ends it itself on time (reason
 * `SRT_REJ_TIMEOUT`); this only bounds the wait should it not.
 */
export const CONNECT_GRACE_MS = 250;

/** libsrt waits this many times SRTO_CONNTIMEO for a rendezvous. */
const RENDEZVOUS_TIMEOUT_FACTOR = 10;

export interface ConnectOptions {
  /** An IP address (v4 or v6, not a host name) and port. */
  remote: Endpoint;
  /** Sent as SRTO_STREAMID (at most 512 bytes). */
  streamId?: string | undefined;
  /** SRTO_PASSPHRASE: 10 to 79 characters. */
  passphrase?: string | undefined;
  /** SRTO_PBKEYLEN with a passphrase; 0 or none leaves libsrt's default. */
  pbkeylen?: 0 | 16 | 24 | 32 | undefined;
  /** SRTO_LATENCY: both directions' latency. */
  latencyMs: number;
  /** SRTO_PEERIDLETIMEO: how long the connected peer may be silent. */
  idleTimeoutMs?: number | undefined;
  /** How long the handshake may take, for a caller and a rendezvous alike. */
  timeoutMs: number;
  /**
   * Rendezvous instead of calling: bound to this local port on the wildcard
   * address of the remote's family (`0.0.0.0` or `::`), which the remote
   * must connect to.
   */
  rendezvousPort?: number | undefined;
  /** Looked at every {@link STOP_CHECK_MS} at most: true gives the attempt up. */
  stopRequested: () => boolean;
}

/** What came of {@link connectSrt}. */
export type ConnectResult =
  | {
    ok: true;
    /** Connected, non-blocking (SNDSYN and RCVSYN off); the caller closes it. */
    connection: SrtSocket;
    /** Milliseconds from the start of setup to the connection. */
    setupMs: number;
  }
  | { ok: false; reason: "timeout"; afterMs: number }
  /** `code`: what `srt_getrejectreason` gave, libsrt's own (below 1000) or the peer's. */
  | { ok: false; reason: "rejected"; code: number }
  /** A call that failed at once (a local port in use, say), or a failure libsrt gave no reason for. */
  | { ok: false; reason: "error"; error: SrtError }
  | { ok: false; reason: "stopped" };

/**
 * Connects to `options.remote` until the connection stands, the handshake
 * fails or times out, or a stop is requested. Never throws an
 * {@link SrtError}: what libsrt refuses is a result. Throws a TypeError for
 * a remote that is not an IP address.
 */
export async function connectSrt(options: ConnectOptions): Promise<ConnectResult> {
  const started = performance.now();
  const address = encodeSockaddr(options.remote);
  let socket: SrtSocket;
  try {
    socket = SrtSocket.create();
  } catch (error) {
    if (error instanceof SrtError) return { ok: false, reason: "error", error };
    throw error;
  }
  let connected = false;
  try {
    using epoll = new SrtEpoll();
    try {
      configure(socket, options);
      if (options.rendezvousPort !== undefined) {
        const family = options.remote.hostname.includes(":") ? "::" : "0.0.0.0";
        socket.bind(encodeSockaddr({ hostname: family, port: options.rendezvousPort }));
      }
      epoll.add(socket, SRT_EPOLL_OUT | SRT_EPOLL_ERR);
      socket.connect(address);
    } catch (error) {
      if (error instanceof SrtError) return { ok: false, reason: "error", error };
      throw error;
    }
    const deadline = started + options.timeoutMs + CONNECT_GRACE_MS;
    for (;;) {
      const state = socket.state;
      if (state === SrtState.CONNECTED) {
        connected = true;
        return { ok: true, connection: socket, setupMs: performance.now() - started };
      }
      if (state >= SrtState.BROKEN) return failure(socket, started);
      if (options.stopRequested()) return { ok: false, reason: "stopped" };
      const left = deadline - performance.now();
      if (left <= 0) {
        return { ok: false, reason: "timeout", afterMs: performance.now() - started };
      }
      await epoll.wait(Math.min(STOP_CHECK_MS, Math.ceil(left)));
    }
  } finally {
    if (!connected) socket.close();
  }
}

/** Sets what libsrt must know before connecting; TRANSTYPE first, as it resets others. */
function configure(socket: SrtSocket, options: ConnectOptions): void {
  socket.setInt(SrtOption.TRANSTYPE, SRTT_LIVE);
  socket.setInt(SrtOption.LATENCY, options.latencyMs);
  if (options.idleTimeoutMs !== undefined) {
    socket.setInt(SrtOption.PEERIDLETIMEO, options.idleTimeoutMs);
  }
  const rendezvous = options.rendezvousPort !== undefined;
  // libsrt waits ten times as long for a rendezvous: the attempt takes `timeoutMs` either way.
  const timeout = rendezvous
    ? Math.ceil(options.timeoutMs / RENDEZVOUS_TIMEOUT_FACTOR)
    : options.timeoutMs;
  socket.setInt(SrtOption.CONNTIMEO, timeout);
  if (options.streamId !== undefined) socket.setString(SrtOption.STREAMID, options.streamId);
  if (options.passphrase !== undefined) {
    socket.setString(SrtOption.PASSPHRASE, options.passphrase);
    if (options.pbkeylen) socket.setInt(SrtOption.PBKEYLEN, options.pbkeylen);
  }
  if (rendezvous) socket.setBoolean(SrtOption.RENDEZVOUS, true);
  socket.setBoolean(SrtOption.RCVSYN, false);
  socket.setBoolean(SrtOption.SNDSYN, false);
}

/** Why the handshake of a socket libsrt marked broken failed. */
function failure(socket: SrtSocket, started: number): ConnectResult {
  const code = socket.rejectReason;
  if (code === SRT_REJ_TIMEOUT) {
    return { ok: false, reason: "timeout", afterMs: performance.now() - started };
  }
  if (code !== SRT_REJ_UNKNOWN) return { ok: false, reason: "rejected", code };
  const error = new SrtError(
    "srt_connect",
    SrtErrno.ECONNSETUP,
    `the connection failed (socket state ${socket.state}) and libsrt gave no reason`,
  );
  return { ok: false, reason: "error", error };
}
