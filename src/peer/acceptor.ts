/**
 * The child's half of the handoff: turn a connected UDP socket into one
 * accepted SRT connection with libsrt (`srt_bind_acquire`, `srt_listen`,
 * `srt_accept`), optionally answering the caller's induction ourselves so the
 * caller does not wait for its retransmission (docs/design.md, "The fast path").
 *
 * @module
 */

import type { OwnedFd } from "../../ffi/owned_fd.ts";
import { encodeSockaddr, type Endpoint, nameOf, sendDatagram } from "../../ffi/socket.ts";
import {
  libsrt,
  rejectReasonText,
  SRT_EPOLL_ERR,
  SRT_EPOLL_IN,
  SRT_EPOLL_OUT,
  SRT_REJ_UNKNOWN,
  SRTT_LIVE,
} from "../../ffi/libsrt.ts";
import {
  type ConnectionRequest,
  ListenHook,
  SrtEpoll,
  SrtOption,
  SrtSocket,
  SrtState,
} from "../../ffi/srt_socket.ts";
import {
  advertisedKeyLength,
  buildInductionResponse,
  synCookie,
} from "../protocol/induction_response.ts";
import type { PeerSettings } from "../ipc/messages.ts";
import { redactStreamId } from "../protocol/stream_id.ts";
import { RejectCode } from "../protocol/reject_codes.ts";
import { CallerWatch } from "./caller_watch.ts";
import { CALLER_FRESH_MS, CALLER_SILENCE_MS } from "../protocol/caller_presence.ts";
import { PeerClock } from "./reports.ts";

/**
 * An accepted connection. The libsrt listener owns the multiplexer (the
 * acquired UDP socket) that the accepted socket shares: closing it early
 * silences the connection, so it lives until {@link close}, and with it its
 * listen callback, which libsrt may still call (a caller restarted from the
 * same port).
 */
export class AcceptedConnection {
  readonly connection: SrtSocket;
  /** Milliseconds from the start of setup to the accepted connection. */
  readonly setupMs: number;
  /** Owns the listener; none for rendezvous. */
  #hook: ListenHook | undefined;
  #closing: Promise<void> | undefined;

  constructor(connection: SrtSocket, setupMs: number, hook: ListenHook | undefined) {
    this.connection = connection;
    this.setupMs = setupMs;
    this.#hook = hook;
  }

  /**
   * Closes the connection (the peer is sent a shutdown), then the listener
   * off the JS thread ({@link ListenHook.close}); safe to call more than
   * once. Await it before `srt_cleanup`.
   */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      // Safe synchronously: while it waits for the listen callback, the
      // receive thread holds only m_LSLock, which this close does not take.
      this.connection.close();
      this.#closing = this.#hook?.close() ?? Promise.resolve();
    }
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * How long after a caller's conclusion reached the listen callback an
 * accepted connection must appear; libsrt accepts within microseconds, so
 * none by then means libsrt rejected it (a wrong or missing passphrase).
 */
export const REJECTION_GRACE_MS = 500;

export interface AcceptOptions {
  /** The connected UDP socket: libsrt takes it over (and closes it) once it is bound. */
  udpSocket: OwnedFd;
  /** As the listening socket saw it: a v4 peer on a dual-stack socket in its `::ffff:` form. */
  peer: Endpoint;
  /** The caller's induction (or wave-a-hand) as received by the main process. */
  handshake: Uint8Array<ArrayBuffer>;
  rendezvous: boolean;
  settings: PeerSettings;
  /** Checked between waits: true aborts setup. */
  stopRequested: () => boolean;
  /**
   * Called inside libsrt's listen callback (not for rendezvous) with the
   * caller's stream id, before libsrt accepts: `code` 0 accepts, anything
   * else rejects the caller with that code at once. It may set options on
   * `request.socketId` (a passphrase, the latency). After a refusal it is not
   * called again; after an acceptance it is, with a new socket, when libsrt
   * itself refused the caller (a wrong passphrase) and the caller retries.
   * While it waits, it may `sample()` `caller` and give up once
   * `caller.judge()` says the caller is gone.
   */
  decide?: (request: ConnectionRequest, caller: CallerWatch) => Verdict;
}

/** What {@link AcceptOptions.decide} says about a caller. */
export interface Verdict {
  /** 0 to accept, or a rejection code (1400-1599 for Atoll's decisions). */
  code: number;
  /** Why, for the log. */
  detail: string;
}

/**
 * How long the child stays after rejecting a caller itself, answering the
 * caller's retransmitted conclusions with the same rejection.
 */
export const REJECTION_LINGER_MS = 300;

/**
 * How long a rendezvous peer gets to complete its handshake. A wave-a-hand
 * proves nothing about its source address (docs/design.md, "Proving the
 * caller's address"), and libsrt answers it with a wave-a-hand every 250 ms:
 * this keeps what a forged one draws to 2 answers. A real peer that is
 * already waving completes well within it on any link up to about 100 ms of
 * round trip; its next wave-a-hand after a miss starts afresh.
 */
export const RENDEZVOUS_HANDSHAKE_MS = 400;

export type AcceptResult =
  | { ok: true; accepted: AcceptedConnection }
  | {
    ok: false;
    reason: "handshake-timeout" | "shutdown" | "rejected";
    detail: string;
  };

function configure(socket: SrtSocket, settings: PeerSettings): void {
  socket.setInt(SrtOption.TRANSTYPE, SRTT_LIVE);
  socket.setInt(SrtOption.LATENCY, settings.latencyMs);
  socket.setInt(SrtOption.PEERIDLETIMEO, settings.idleTimeoutMs);
  if (settings.passphrase !== undefined) {
    socket.setString(SrtOption.PASSPHRASE, settings.passphrase);
    if (settings.pbkeylen !== 0) socket.setInt(SrtOption.PBKEYLEN, settings.pbkeylen);
  }
  socket.setBoolean(SrtOption.RCVSYN, false);
  socket.setBoolean(SrtOption.SNDSYN, false);
}

/**
 * Runs the SRT handshake on `options.udpSocket` until a connection is
 * accepted, the handshake time runs out, or a stop is requested. libsrt
 * takes the fd over, which empties `udpSocket`: the caller's `close()` or
 * `using` then closes nothing, and only closes the fd when setup failed
 * before libsrt had it.
 */
export async function acceptConnection(options: AcceptOptions): Promise<AcceptResult> {
  const started = performance.now();
  let deadline = started +
    (options.rendezvous
      ? Math.min(options.settings.handshakeTimeoutMs, RENDEZVOUS_HANDSHAKE_MS)
      : options.settings.handshakeTimeoutMs);
  const socket = SrtSocket.create();
  using epoll = new SrtEpoll();
  let hook: ListenHook | undefined;
  let request: (ConnectionRequest & { at: number }) | undefined;
  let refused: Verdict | undefined;
  // Set when the caller gave up while its request was decided (a ghost).
  let gone: string | undefined;
  let handedOver = false;
  try {
    configure(socket, options.settings);
    if (options.rendezvous) socket.setBoolean(SrtOption.RENDEZVOUS, true);
    // The number stays valid for sending after libsrt took the fd.
    const udpFd = options.udpSocket.fd;
    const caller = new CallerWatch(udpFd);
    // When a packet from the caller last arrived, whoever read it (libsrt does).
    const arrivals = new PeerClock(udpFd, { silentMs: () => performance.now() - started });
    socket.bindAcquire(options.udpSocket);
    if (options.rendezvous) {
      epoll.add(socket, SRT_EPOLL_OUT | SRT_EPOLL_ERR);
      socket.connect(encodeSockaddr(options.peer));
    } else {
      hook = new ListenHook(socket, (incoming) => {
        // libsrt deletes a socket it (or we) rejected, so a caller's queued
        // retransmissions reach this callback again: a refusal stands
        // without asking again.
        if (refused !== undefined) return refused.code;
        const asked = performance.now();
        caller.start(asked);
        let verdict = options.decide?.(incoming, caller) ?? { code: 0, detail: "accepted" };
        // A caller that gave up while held must not be accepted: nobody
        // would read what it is sent (docs/design.md, "Ghost viewers"). After
        // a wait, it is accepted only once it has sent again.
        const waited = performance.now() - asked > CALLER_FRESH_MS;
        const judged = verdict.code === 0 && waited
          ? caller.confirm()
          : (caller.sample(), caller.judge());
        const answered = performance.now();
        if (judged.state === "gone") {
          gone = `the caller gave up waiting: nothing from it for ${
            Math.round(judged.silentMs)
          } ms of a ${Math.round(answered - asked)} ms wait${
            verdict.code === 0 ? ", so it is refused instead of accepted" : ""
          }`;
          verdict = { code: verdict.code === 0 ? RejectCode.NotFound : verdict.code, detail: gone };
        }
        // Time spent deciding (a held viewer, an authorization hook) is not
        // the caller's handshake taking long.
        deadline += answered - asked;
        request = { ...incoming, at: answered };
        if (verdict.code !== 0) refused = verdict;
        return verdict.code;
      });
      epoll.add(socket, SRT_EPOLL_IN | SRT_EPOLL_ERR);
      socket.listen(1);
      if (options.settings.fastHandshake) answerInduction(options, udpFd);
    }
    while (!options.stopRequested()) {
      const now = performance.now();
      if (
        refused !== undefined && request !== undefined && now - request.at > REJECTION_LINGER_MS
      ) {
        if (gone !== undefined) {
          // Its connect timeout ran out while it was held: for the caller,
          // the handshake timed out, and it did not refuse anything itself.
          return {
            ok: false,
            reason: "handshake-timeout",
            detail: `stream id ${JSON.stringify(redactStreamId(request.streamId))}: ${gone}`,
          };
        }
        return {
          ok: false,
          reason: "rejected",
          detail: `rejected stream id ${
            JSON.stringify(redactStreamId(request.streamId))
          } with ${refused.code}: ${refused.detail}`,
        };
      }
      if (request !== undefined && now - request.at > REJECTION_GRACE_MS) {
        // libsrt usually deletes the rejected socket at once, taking the
        // precise reason with it; the caller itself is told the real reason.
        const code = libsrt().srt_getrejectreason(request.socketId);
        const why = code === SRT_REJ_UNKNOWN
          ? "most likely a wrong or missing passphrase"
          : rejectReasonText(code);
        return {
          ok: false,
          reason: "rejected",
          detail: `libsrt rejected the handshake for stream id ${
            JSON.stringify(redactStreamId(request.streamId))
          }: ${why}`,
        };
      }
      if (now >= deadline) {
        return { ok: false, reason: "handshake-timeout", detail: timeoutDetail(options, socket) };
      }
      // A caller that gave up before its conclusion reached libsrt (it
      // timed out while it waited for a child) sends nothing more: free
      // this child now, not at the handshake timeout.
      if (
        request === undefined && !options.rendezvous && now - started > CALLER_SILENCE_MS &&
        arrivals.silentMs() > CALLER_SILENCE_MS
      ) {
        return {
          ok: false,
          reason: "handshake-timeout",
          detail:
            `the caller gave up: nothing from it for ${CALLER_SILENCE_MS} ms of its handshake`,
        };
      }
      await epoll.wait(Math.min(100, Math.ceil(deadline - now)));
      const connection = options.rendezvous ? connectedRendezvous(socket) : socket.accept();
      if (connection !== undefined) {
        handedOver = true;
        const setupMs = performance.now() - started;
        return options.rendezvous
          ? { ok: true, accepted: new AcceptedConnection(connection, setupMs, undefined) }
          : { ok: true, accepted: new AcceptedConnection(connection, setupMs, hook) };
      }
    }
    return { ok: false, reason: "shutdown", detail: "server shutting down during the handshake" };
  } finally {
    // With a listen callback, off the JS thread (ListenHook.close()): a
    // caller's conclusion may be waiting for the callback right now.
    if (!handedOver) await (hook?.close() ?? socket.close());
  }
}

function connectedRendezvous(socket: SrtSocket): SrtSocket | undefined {
  return socket.state === SrtState.CONNECTED ? socket : undefined;
}

function timeoutDetail(options: AcceptOptions, socket: SrtSocket): string {
  if (!options.rendezvous) {
    return `no SRT handshake completed within ${options.settings.handshakeTimeoutMs} ms`;
  }
  const ms = Math.min(options.settings.handshakeTimeoutMs, RENDEZVOUS_HANDSHAKE_MS);
  return `no rendezvous handshake completed within ${ms} ms (state ${socket.state}, reject reason: ${socket.rejectReasonText})`;
}

/**
 * Sends the listener's induction response ourselves, with libsrt's SYN
 * cookie for minute 0 of this listener (libsrt accepts minutes T and T-1).
 * The caller's handshake we were handed is its induction, or, when the main
 * process proved its address first, its conclusion: either way the caller
 * answers with a conclusion carrying libsrt's cookie. Only the first case
 * has a fallback (libsrt answers the caller's retransmitted induction), so
 * the main process proves addresses only when this path passed its
 * self-test.
 */
function answerInduction(options: AcceptOptions, udpFd: number): void {
  const name = nameOf(encodeSockaddr(options.peer));
  const response = buildInductionResponse(options.handshake, {
    cookie: synCookie(name.hostname, name.port, 0),
    pbkeylen: advertisedKeyLength(options.settings.passphrase, options.settings.pbkeylen),
  });
  sendDatagram(udpFd, new Uint8Array(response));
}
