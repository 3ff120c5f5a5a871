/**
 * The public SRT port: one UDP socket the main process reads itself. Every
 * datagram is classified; only a connection-starting handshake (an
 * induction, or a rendezvous wave-a-hand) from a peer that has no child yet
 * goes on to admission, and everything else is counted by kind and drop
 * reason, never answered.
 *
 * It also makes each admitted peer's own socket (bound to the same address
 * and port, `connect()`ed to the peer): from then on the kernel delivers
 * that peer's datagrams there, not here.
 *
 * @module
 */

import type { OwnedFd } from "../../ffi/owned_fd.ts";
import {
  openConnectedUdpSocket,
  type QueuedDatagram,
  takeQueuedDatagrams,
} from "../../ffi/socket.ts";
import { formatHostPort, type ServerOptions } from "../config/options.ts";
import type { Endpoint } from "../ipc/messages.ts";
import type { AddressCookies } from "../protocol/address_cookie.ts";
import { classifyDatagram, type DatagramKind, startsConnection } from "../protocol/classify.ts";
import { buildInductionResponse } from "../protocol/induction_response.ts";
import { HandshakeOffset } from "../protocol/packet.ts";
import { buildRejection } from "../protocol/rejection.ts";
import { describeRejectCode, RejectCode } from "../protocol/reject_codes.ts";
import { type DropReason, REFUSED_AT_ONCE, type ServerCounters } from "./api_types.ts";
import { logger } from "./log.ts";
import { TokenBucket } from "./token_bucket.ts";
import { bindError } from "./startup_error.ts";

/**
 * How the listener proves a caller's address before it costs a process:
 * the main process answers each induction itself with a cookie of its own,
 * and only a conclusion that carries it back starts a connection.
 */
export interface AddressProof {
  cookies: AddressCookies;
  /** The key length the answer advertises, as the child's libsrt would. */
  pbkeylen: 0 | 16 | 24 | 32;
}

/** Induction answers per second at most, in all: bounds what spoofed inductions can reflect. */
export const INDUCTION_ANSWERS_PER_SECOND = 10_000;

/** How often at most the listener logs the callers it refused, per reason. */
const REFUSAL_LOG_INTERVAL_MS = 10_000;

/**
 * The code the main process refuses a caller with: 1503 while shutting
 * down, else 1402, the SRT Access Control code for an overloaded server
 * (full, too many handshakes, a per-IP limit, shed, backing off).
 */
export function refusalCode(reason: DropReason): RejectCode {
  return reason === "shutting-down" ? RejectCode.Down : RejectCode.Overload;
}

/** What may lead to a connection when callers prove their address: the induction is answered here. */
const STARTS_WITH_PROOF: readonly DatagramKind[] = ["induction", "conclusion", "wave-a-hand"];

/** Where the listener sends a connection-starting handshake. */
export interface ConnectionStarts {
  /** Whether the peer at `peerKey` has a child already (its datagrams are retransmissions). */
  hasPeer(peerKey: string): boolean;
  /** Admits the peer and hands it to a child; a drop reason when it is not admitted. */
  admit(peer: Endpoint, handshake: Uint8Array, rendezvous: boolean): DropReason | undefined;
}

const log = logger("server");

export class SrtListener {
  readonly address: Endpoint;
  #udp: Deno.DatagramConn;
  #counters: ServerCounters;
  /** Set by {@link start}, before the first datagram is read. */
  #starts: ConnectionStarts | undefined;
  #proof: AddressProof | undefined;
  /** Tokens for induction answers, refilled at {@link INDUCTION_ANSWERS_PER_SECOND}. */
  #answers = new TokenBucket(INDUCTION_ANSWERS_PER_SECOND, performance.now());
  /** Callers refused since each reason was last logged, and when that was. */
  #refusals = new Map<DropReason, { count: number; loggedAt: number }>();
  /** Other peers' datagrams caught by a new socket before its connect(). */
  #strays: QueuedDatagram[] = [];
  #closing = false;
  #loop: Promise<void> | undefined;

  private constructor(udp: Deno.DatagramConn, counters: ServerCounters) {
    this.#udp = udp;
    this.#counters = counters;
    const addr = udp.addr as Deno.NetAddr;
    this.address = { hostname: addr.hostname, port: addr.port };
  }

  /**
   * Binds the public SRT port. SO_REUSEADDR is needed so children can bind
   * their connected sockets to it, but it would also let us share a port
   * that another SO_REUSEADDR socket holds; a bind without it first tells
   * whether the port is really free. With `adopting`, the port is known to
   * be held by the connected sockets of children being adopted, and the
   * probe is skipped. A port in use is used anyway when `heldByOurs` says
   * only Atoll's own children hold it (ones not adopted, of another state
   * directory or version: they keep their connections).
   */
  static bind(
    options: ServerOptions,
    counters: ServerCounters,
    adopting = false,
    heldByOurs: () => boolean = () => false,
  ): SrtListener {
    const { hostname, port } = options.srtListen;
    const where = formatHostPort(options.srtListen);
    try {
      let bound = port;
      if (!adopting) {
        try {
          const probe = Deno.listenDatagram({ transport: "udp", hostname, port });
          bound = (probe.addr as Deno.NetAddr).port;
          probe.close();
        } catch (error) {
          if (!(error instanceof Deno.errors.AddrInUse) || !heldByOurs()) throw error;
        }
      }
      const udp = Deno.listenDatagram({
        transport: "udp",
        hostname,
        port: bound,
        reuseAddress: true,
      });
      return new SrtListener(udp, counters);
    } catch (error) {
      throw bindError("SRT", where, error);
    }
  }

  /**
   * Starts reading datagrams; connection starts go to `starts`. With
   * `proof`, a caller must prove its address with a conclusion before it is
   * admitted; without, its first induction is (the fast handshake is off,
   * and only a child can answer it: see docs/design.md).
   */
  start(starts: ConnectionStarts, proof?: AddressProof): void {
    this.#starts = starts;
    this.#proof = proof;
    this.#loop ??= this.#receive();
  }

  /** Closes the port and waits for the receive loop to end. */
  async close(): Promise<void> {
    if (this.#closing) return await this.#loop;
    this.#closing = true;
    this.#udp.close();
    await this.#loop;
  }

  /**
   * A UDP socket bound to the SRT address and connected to `peer`, for its
   * child. Datagrams it caught before its `connect()` are sorted: the
   * peer's own are induction retransmissions, which the child answers
   * anyway; anyone else's go back to the classifier.
   */
  openPeerSocket(peer: Endpoint): OwnedFd {
    const socket = openConnectedUdpSocket(this.address, peer);
    try {
      const peerKey = formatHostPort(peer);
      for (const queued of takeQueuedDatagrams(socket.fd)) {
        if (formatHostPort(queued.from) === peerKey) this.#drop("peer-has-child");
        else this.#strays.push(queued);
      }
    } catch (error) {
      socket.close();
      throw error;
    }
    return socket;
  }

  async #receive(): Promise<void> {
    const buffer = new Uint8Array(2048);
    for (;;) {
      let bytes: Uint8Array;
      let from: Deno.Addr;
      try {
        [bytes, from] = await this.#udp.receive(buffer);
      } catch (error) {
        if (this.#closing) return;
        log.error("SRT socket failed: {error}", { error: String(error) });
        continue;
      }
      try {
        this.#handle(bytes, from as Deno.NetAddr);
        // Handing over may have caught other peers' datagrams: classify them
        // as if the listening socket had received them (bounded: each
        // hand-over takes at most 256).
        for (let stray; (stray = this.#strays.shift()) !== undefined;) {
          this.#handle(stray.bytes, { transport: "udp", ...stray.from });
        }
      } catch (error) {
        // Nothing a peer sends may stop the server: log and go on.
        log.error("Datagram from {peer} not handled: {error}", {
          peer: formatHostPort(from as Deno.NetAddr),
          error: String(error),
        });
      }
    }
  }

  #handle(bytes: Uint8Array, from: Deno.NetAddr): void {
    const datagram = classifyDatagram(bytes);
    this.#counters.datagrams[datagram.kind]++;
    const proof = this.#proof;
    const wanted = proof === undefined
      ? startsConnection(datagram)
      : STARTS_WITH_PROOF.includes(datagram.kind);
    if (!wanted) return this.#drop("not-connection-start");
    const peer = { hostname: from.hostname, port: from.port };
    const peerKey = formatHostPort(peer);
    if (this.#starts!.hasPeer(peerKey)) return this.#drop("peer-has-child");
    if (proof === undefined) return this.#admit(peer, bytes, datagram.kind === "wave-a-hand");
    switch (datagram.kind) {
      case "induction":
        return this.#answerInduction(proof, bytes, from, peerKey);
      case "conclusion": {
        const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        const cookie = view.getInt32(HandshakeOffset.SYN_COOKIE);
        if (!proof.cookies.verify(peerKey, cookie, Date.now())) return this.#drop("bad-cookie");
        return this.#admit(peer, bytes, false);
      }
      default:
        // A rendezvous peer has no cookie to echo: see docs/design.md.
        return this.#admit(peer, bytes, true);
    }
  }

  /**
   * Answers an induction with the main process's own cookie: no child, no
   * socket and no state, so a spoofed one costs an HMAC and 64 bytes.
   */
  #answerInduction(
    proof: AddressProof,
    bytes: Uint8Array,
    from: Deno.NetAddr,
    peerKey: string,
  ): void {
    const answered = this.#answer(from, () =>
      buildInductionResponse(bytes, {
        cookie: proof.cookies.cookieFor(peerKey, Date.now()),
        pbkeylen: proof.pbkeylen,
      }));
    if (answered) this.#counters.inductionsAnswered++;
    else this.#drop("induction-rate");
  }

  #admit(peer: Endpoint, bytes: Uint8Array, rendezvous: boolean): void {
    const refused = this.#starts!.admit(peer, bytes, rendezvous);
    if (refused !== undefined) {
      this.#drop(refused);
      this.refuse(peer, bytes, refused);
    }
  }

  /**
   * Answers a caller's induction or conclusion refused for `reason` with an
   * SRT rejection ({@link refusalCode}), so it knows at once and retries on
   * its own schedule; no child is started. A rendezvous peer is not
   * answered. Answers share the induction answers' rate cap, and each
   * reason is logged once per {@link REFUSAL_LOG_INTERVAL_MS}.
   */
  refuse(peer: Endpoint, handshake: Uint8Array, reason: DropReason): void {
    if (!REFUSED_AT_ONCE.includes(reason)) return;
    const kind = classifyDatagram(handshake).kind;
    if (kind !== "induction" && kind !== "conclusion") return;
    const code = refusalCode(reason);
    this.#logRefusal(peer, reason, code);
    if (this.#closing) return;
    if (this.#answer(peer, () => buildRejection(handshake, code))) this.#counters.callersRejected++;
  }

  /**
   * Sends one of the main process's own answers to `to`, built only within
   * {@link INDUCTION_ANSWERS_PER_SECOND}: what spoofed handshakes can make
   * it send is bounded. False when over the cap (nothing sent).
   */
  #answer(to: Endpoint, build: () => Uint8Array): boolean {
    if (!this.#answers.take(performance.now())) return false;
    this.#udp.send(build(), { transport: "udp", ...to }).catch((error) => {
      log.debug("Cannot answer {peer}: {error}", {
        peer: formatHostPort(to),
        error: String(error),
      });
    });
    return true;
  }

  #logRefusal(peer: Endpoint, reason: DropReason, code: RejectCode): void {
    const now = performance.now();
    const seen = this.#refusals.get(reason);
    if (seen !== undefined && now - seen.loggedAt < REFUSAL_LOG_INTERVAL_MS) {
      seen.count++;
      return;
    }
    const before = seen?.count ?? 0;
    this.#refusals.set(reason, { count: 0, loggedAt: now });
    log.info("Refused {peer} with {code}: {reason}{more}", {
      peer: formatHostPort(peer),
      code: describeRejectCode(code),
      reason,
      more: before > 0 ? ` (and ${before} more caller(s) for this reason before)` : "",
    });
  }

  #drop(reason: DropReason): void {
    this.#counters.dropped[reason]++;
  }
}
