/**
 * Datagrams recorded between real libsrt 1.5.1 peers (srt-live-transmit) on
 * loopback, by name; how they were captured is in README.md beside this file.
 *
 * Loaded with JSON imports, so tests that use them need no permissions.
 * Each access returns a fresh copy: a test may change its bytes.
 *
 * @module
 */

import { bytesFromHex } from "../../ipc/hex.ts";
import ipv4 from "./ipv4.json" with { type: "json" };
import ipv4Passphrase from "./ipv4_passphrase.json" with { type: "json" };
import ipv4Pbkeylen32 from "./ipv4_pbkeylen32.json" with { type: "json" };
import ipv4WrongPassphrase from "./ipv4_wrong_passphrase.json" with { type: "json" };
import ipv4Rendezvous from "./ipv4_rendezvous.json" with { type: "json" };
import ipv6 from "./ipv6.json" with { type: "json" };

/** What scripts/capture_handshake.ts writes. */
interface Capture {
  datagrams: { direction: string; ms: number; hex: string }[];
  listenerSawPeer: string | null;
}

type Direction = "caller->listener" | "listener->caller";

/** An address as the listener's getnameinfo() printed it: the SYN cookie's input. */
export interface PeerName {
  hostname: string;
  port: number;
}

function datagram(capture: Capture, index: number, direction: Direction): Uint8Array<ArrayBuffer> {
  const recorded = capture.datagrams[index];
  if (recorded?.direction !== direction) {
    throw new Error(`Captured datagram ${index} is not ${direction}`);
  }
  return bytesFromHex(recorded.hex);
}

/** A caller's connection attempt through the relay: induction, response, conclusion. */
export class CapturedExchange {
  readonly #capture: Capture;
  /** Whom the listener saw send the induction (the relay): its SYN cookie is over this address. */
  readonly listenerSawPeer: PeerName;

  constructor(capture: Capture) {
    this.#capture = capture;
    const text = capture.listenerSawPeer ?? "";
    const colon = text.lastIndexOf(":");
    this.listenerSawPeer = {
      hostname: text.slice(0, colon).replace(/^\[|\]$/g, ""),
      port: Number(text.slice(colon + 1)),
    };
  }

  /** Datagram `index` of the capture, checked to have gone in `direction`. */
  protected datagram(index: number, direction: Direction): Uint8Array<ArrayBuffer> {
    return datagram(this.#capture, index, direction);
  }

  /** The caller's first induction (HSv4, cookie 0). */
  get callerInduction(): Uint8Array<ArrayBuffer> {
    return this.datagram(0, "caller->listener");
  }

  /** libsrt's induction response to it. */
  get listenerInductionResponse(): Uint8Array<ArrayBuffer> {
    return this.datagram(1, "listener->caller");
  }

  /** The caller's HSv5 conclusion, with the listener's cookie. */
  get callerConclusion(): Uint8Array<ArrayBuffer> {
    return this.datagram(2, "caller->listener");
  }

  /** The listener's answer to the conclusion. */
  get listenerConclusion(): Uint8Array<ArrayBuffer> {
    return this.datagram(3, "listener->caller");
  }
}

/** The whole of a connection that carried media. */
export class CapturedConnection extends CapturedExchange {
  /** The first data packet: 1316 bytes of 0x47 behind the 16-byte header. */
  get data(): Uint8Array<ArrayBuffer> {
    return this.datagram(4, "caller->listener");
  }

  /** The listener's ACK of it. */
  get ack(): Uint8Array<ArrayBuffer> {
    return this.datagram(5, "listener->caller");
  }

  /** The caller's ACKACK. */
  get ackack(): Uint8Array<ArrayBuffer> {
    return this.datagram(6, "caller->listener");
  }

  /** The caller's keepalive, once the media stopped. */
  get keepalive(): Uint8Array<ArrayBuffer> {
    return this.datagram(13, "caller->listener");
  }
}

/** IPv4, no passphrase: the whole connection, media and keepalives included. */
export const IPV4: CapturedConnection = new CapturedConnection(ipv4);

/** IPv4, passphrase on both sides, no key length set: the conclusions carry key material. */
export const IPV4_PASSPHRASE: CapturedExchange = new CapturedExchange(ipv4Passphrase);

/** IPv4, passphrase and `pbkeylen=32` on both sides. */
export const IPV4_PBKEYLEN_32: CapturedExchange = new CapturedExchange(ipv4Pbkeylen32);

/** IPv6 on ::1, no passphrase. */
export const IPV6: CapturedExchange = new CapturedExchange(ipv6);

/**
 * The caller's passphrase differs from the listener's: the listener's answer
 * to the conclusion ({@link CapturedExchange.listenerConclusion}) is a
 * rejection, handshake type 1000 + 10 (SRT_REJ_BADSECRET).
 */
export const IPV4_WRONG_PASSPHRASE: CapturedExchange = new CapturedExchange(ipv4WrongPassphrase);

/** A rendezvous peer's first wave-a-hand, sent to a port where nobody answered. */
export const IPV4_RENDEZVOUS = {
  get waveAHand(): Uint8Array<ArrayBuffer> {
    return datagram(ipv4Rendezvous, 0, "caller->listener");
  },
};
