/**
 * The main process's table of peers that have a child, with the admission
 * limits. Pure: time is passed in, so the limits are tested without clocks.
 *
 * A peer enters as `handshaking` when its first handshake datagram is
 * admitted, becomes `connected` when its child reports the SRT connection,
 * and leaves when its child exits.
 *
 * @module
 */

export interface AdmissionLimits {
  /** Peers with a child, in any state. */
  maxConnections: number;
  /** Peers whose handshake has not completed yet. */
  maxHandshakes: number;
  maxConnectionsPerIp: number;
  /** New peers admitted per second per source IP (a token bucket holding one second's worth). */
  maxNewConnectionsPerIp: number;
}

/** Why a new peer was not admitted; each is a counter in the stats. */
export type Refusal =
  | "max-connections"
  | "max-handshakes"
  | "max-connections-per-ip"
  | "rate-per-ip";

export const REFUSALS: readonly Refusal[] = [
  "max-connections",
  "max-handshakes",
  "max-connections-per-ip",
  "rate-per-ip",
];

export type PeerState = "handshaking" | "connected";

export interface PeerEntry<T> {
  readonly key: string;
  readonly ip: string;
  state: PeerState;
  readonly value: T;
}

export type Admission<T> = { ok: true; entry: PeerEntry<T> } | { ok: false; refusal: Refusal };

interface Bucket {
  tokens: number;
  updatedMs: number;
}

/** Source IPs with rate state kept at most; bounds memory under spoofed floods. */
export const MAX_TRACKED_SOURCES = 16384;

export class PeerTable<T> {
  #limits: AdmissionLimits;
  #peers = new Map<string, PeerEntry<T>>();
  #perIp = new Map<string, number>();
  #buckets = new Map<string, Bucket>();
  #handshakes = 0;

  constructor(limits: AdmissionLimits) {
    this.#limits = limits;
  }

  get size(): number {
    return this.#peers.size;
  }

  get handshakes(): number {
    return this.#handshakes;
  }

  /** Source IPs whose rate state is held (at most {@link MAX_TRACKED_SOURCES}). */
  get trackedSources(): number {
    return this.#buckets.size;
  }

  get(key: string): PeerEntry<T> | undefined {
    return this.#peers.get(key);
  }

  values(): IterableIterator<PeerEntry<T>> {
    return this.#peers.values();
  }

  /**
   * Admits a new peer as `handshaking`, or names the limit that refuses it.
   * `create` makes the entry's value only once the peer is admitted; if it
   * throws, nothing is added.
   */
  admit(key: string, ip: string, nowMs: number, create: () => T): Admission<T> {
    if (this.#peers.has(key)) throw new Error(`Peer ${key} already has a child`);
    const limits = this.#limits;
    if (this.#peers.size >= limits.maxConnections) return { ok: false, refusal: "max-connections" };
    if (this.#handshakes >= limits.maxHandshakes) return { ok: false, refusal: "max-handshakes" };
    if ((this.#perIp.get(ip) ?? 0) >= limits.maxConnectionsPerIp) {
      return { ok: false, refusal: "max-connections-per-ip" };
    }
    if (!this.#takeToken(ip, nowMs)) return { ok: false, refusal: "rate-per-ip" };
    const entry: PeerEntry<T> = { key, ip, state: "handshaking", value: create() };
    this.#peers.set(key, entry);
    this.#perIp.set(ip, (this.#perIp.get(ip) ?? 0) + 1);
    this.#handshakes++;
    return { ok: true, entry };
  }

  /** The peer's SRT connection is up: it no longer counts as a handshake. */
  markConnected(key: string): void {
    const entry = this.#peers.get(key);
    if (entry === undefined || entry.state === "connected") return;
    entry.state = "connected";
    this.#handshakes--;
  }

  /** The peer's child is gone: frees its slot. */
  remove(key: string): PeerEntry<T> | undefined {
    const entry = this.#peers.get(key);
    if (entry === undefined) return undefined;
    this.#peers.delete(key);
    if (entry.state === "handshaking") this.#handshakes--;
    const count = (this.#perIp.get(entry.ip) ?? 1) - 1;
    if (count > 0) this.#perIp.set(entry.ip, count);
    else this.#perIp.delete(entry.ip);
    return entry;
  }

  #takeToken(ip: string, nowMs: number): boolean {
    const rate = this.#limits.maxNewConnectionsPerIp;
    const bucket = this.#buckets.get(ip) ?? { tokens: rate, updatedMs: nowMs };
    bucket.tokens = Math.min(rate, bucket.tokens + ((nowMs - bucket.updatedMs) * rate) / 1000);
    bucket.updatedMs = nowMs;
    if (!this.#buckets.has(ip)) {
      if (this.#buckets.size >= MAX_TRACKED_SOURCES) this.#forgetFullBuckets(nowMs);
      this.#buckets.set(ip, bucket);
    }
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** A bucket that has refilled is the same as no bucket. */
  #forgetFullBuckets(nowMs: number): void {
    const rate = this.#limits.maxNewConnectionsPerIp;
    for (const [ip, bucket] of this.#buckets) {
      if (bucket.tokens + ((nowMs - bucket.updatedMs) * rate) / 1000 >= rate) {
        this.#buckets.delete(ip);
      }
    }
    // Still full of active sources: drop the oldest rather than grow.
    for (const ip of this.#buckets.keys()) {
      if (this.#buckets.size < MAX_TRACKED_SOURCES) break;
      this.#buckets.delete(ip);
    }
  }
}
