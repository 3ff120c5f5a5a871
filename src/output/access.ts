/**
 * The output process's side of HTTP access (the main process decides:
 * src/server/media_access.ts). Each request for a stream's media asks
 * {@link AccessGate.check}; the first of a playback session goes to the
 * main process as an `access-request`, and its answer is kept for the
 * `ttlMs` it comes with (15 s at most by default), per stream, client
 * address and credential (query and bearer token), so an HLS player's
 * playlist and segment requests do not each ask. Requests alike that come
 * while one is asked wait for the same answer. No answer within the wait
 * is `"unanswered"` (the server answers 503); a reload drops every kept
 * answer.
 *
 * A fresh ask (not answered from a kept answer, not joining a waiting one)
 * costs its client a token: {@link ASK_BURST} at once, then
 * {@link ASK_RATE_PER_SECOND}. A client that varies its query or token
 * would otherwise make every request a decision in the main process (and a
 * call of the authorization hook), and crowd out everyone else's; over its
 * limit it is answered {@link AccessLimited} at once (the server answers
 * 429), and nobody else notices. A client is an IPv4 address or an IPv6
 * /64 ({@link clientOf}). Time is passed in.
 *
 * @module
 */

import type {
  MediaAccessAnswer,
  MediaAccessRequest,
  MediaProtocol,
} from "../ipc/output_messages.ts";
import { PendingAsks } from "./pending_asks.ts";

/** Asks waiting at once; more are answered `"unanswered"` at once. */
export const MAX_PENDING_ACCESS = 1000;
/** Answers kept at once; more drop the oldest. */
export const MAX_KEPT_ACCESS = 10_000;
/** The wait before the main process first says (`access-rules`). */
export const DEFAULT_ACCESS_WAIT_MS = 4000;
/**
 * Fresh asks a client may make at once. A player asks once per stream and
 * credential every 15 s (the answer's ttl); a page that opens a score of
 * streams at once, or a few viewers behind one NAT, each with a signed URL
 * of their own, fit in it.
 */
export const ASK_BURST = 20;
/**
 * Fresh asks a client may make a second once its burst is spent: 15
 * players with their own credential each, asking every 15 s. One client
 * costs the main process (and the hook) at most this.
 */
export const ASK_RATE_PER_SECOND = 1;
/** Clients whose asks are counted at once; more forget the one that asked least lately. */
export const MAX_COUNTED_CLIENTS = 10_000;

/** Over its client's limit of fresh asks: not asked (answered 429), worth retrying after this long. */
export interface AccessLimited {
  limited: true;
  retryAfterSeconds: number;
}

export type AccessVerdict = MediaAccessAnswer | AccessLimited | "unanswered";

export class AccessGate {
  #send: (id: number, request: MediaAccessRequest) => void;
  #now: () => number;
  #waitMs = DEFAULT_ACCESS_WAIT_MS;
  #kept = new Map<string, { answer: MediaAccessAnswer; until: number }>();
  #asks = new PendingAsks<MediaAccessAnswer>(MAX_PENDING_ACCESS);
  /** Each client's tokens and when they were counted; least recently asked first. */
  #buckets = new Map<string, { tokens: number; at: number }>();
  #limited: Record<MediaProtocol, number> = { hls: 0, "http-ts": 0 };

  /** `send` carries an `access-request` to the main process; `now` is monotonic milliseconds. */
  constructor(
    send: (id: number, request: MediaAccessRequest) => void,
    now: () => number = () => performance.now(),
  ) {
    this.#send = send;
    this.#now = now;
  }

  /** Answers kept now (for tests). */
  get kept(): number {
    return this.#kept.size;
  }

  /** Requests answered {@link AccessLimited} since start, by protocol. */
  get limited(): Readonly<Record<MediaProtocol, number>> {
    return { ...this.#limited };
  }

  /** May `request`'s client watch? A kept answer, or the main process's. */
  check(request: MediaAccessRequest): Promise<AccessVerdict> {
    const host = hostOf(request.peer);
    const key = [request.stream, request.protocol, host, request.query, request.bearer ?? ""]
      .join("\n");
    const kept = this.#kept.get(key);
    if (kept !== undefined) {
      if (this.#now() < kept.until) return Promise.resolve(kept.answer);
      this.#kept.delete(key);
    }
    const joined = this.#asks.joined(key);
    if (joined !== undefined) return joined;
    if (this.#asks.full) return Promise.resolve("unanswered");
    const retryAfterSeconds = this.#take(clientOf(request.peer));
    if (retryAfterSeconds !== undefined) {
      this.#limited[request.protocol]++;
      return Promise.resolve({ limited: true, retryAfterSeconds });
    }
    return this.#asks.start(key, this.#waitMs, (id) => this.#send(id, request));
  }

  /** The main process answered `id` (an unknown or late id is ignored). */
  answered(id: number, answer: MediaAccessAnswer): void {
    const asked = this.#asks.answer(id, answer);
    if (asked?.current && answer.ttlMs > 0) {
      if (this.#kept.size >= MAX_KEPT_ACCESS) this.#dropOldest();
      this.#kept.set(asked.key, { answer, until: this.#now() + answer.ttlMs });
    }
  }

  /** The rules may have changed: kept answers go; later asks wait up to `waitMs`. */
  reset(waitMs: number): void {
    this.#waitMs = waitMs;
    this.#asks.reset();
    this.#kept.clear();
  }

  /** Every waiting ask ends unanswered (the process stops). */
  close(): void {
    this.#asks.close();
  }

  /** Takes one of `client`'s tokens; when it has none, the seconds until it has one. */
  #take(client: string): number | undefined {
    const now = this.#now();
    const bucket = this.#buckets.get(client);
    let tokens = ASK_BURST;
    if (bucket !== undefined) {
      tokens = Math.min(ASK_BURST, bucket.tokens + (now - bucket.at) * ASK_RATE_PER_SECOND / 1000);
      this.#buckets.delete(client); // set again below, as the latest
    } else if (this.#buckets.size >= MAX_COUNTED_CLIENTS) {
      // The one that asked least lately has most likely refilled: forgetting it costs nothing.
      for (const oldest of this.#buckets.keys()) {
        this.#buckets.delete(oldest);
        break;
      }
    }
    if (tokens < 1) {
      this.#buckets.set(client, { tokens, at: now });
      return Math.max(1, Math.ceil((1 - tokens) / ASK_RATE_PER_SECOND));
    }
    this.#buckets.set(client, { tokens: tokens - 1, at: now });
    return undefined;
  }

  #dropOldest(): void {
    const now = this.#now();
    for (const [key, entry] of this.#kept) if (entry.until <= now) this.#kept.delete(key);
    // Still full: the oldest kept go (a Map keeps insertion order).
    for (const key of this.#kept.keys()) {
      if (this.#kept.size < MAX_KEPT_ACCESS) break;
      this.#kept.delete(key);
    }
  }
}

/** A peer's address without its port (`[…]` kept around IPv6). */
function hostOf(peer: string): string {
  return peer.replace(/:[0-9]+$/, "");
}

/**
 * Whose asks count together: a peer's IPv4 address, or its IPv6
 * address's /64 (one subscriber's network, where a client may take any
 * address it likes). An IPv4-mapped IPv6 address is its IPv4 one.
 */
export function clientOf(peer: string): string {
  const host = hostOf(peer);
  if (!host.startsWith("[")) return host;
  const address = host.slice(1, -1).replace(/%.*$/, "").toLowerCase();
  const mapped = /^::ffff:([0-9.]+)$/.exec(address);
  if (mapped !== null) return mapped[1]!;
  const prefix = ipv6Prefix(address);
  return prefix === undefined ? host : `${prefix}::/64`;
}

/** The first four groups of an IPv6 address, without leading zeros; undefined when it is not one. */
function ipv6Prefix(address: string): string | undefined {
  const halves = address.split("::");
  if (halves.length > 2) return undefined;
  const [head = [], tail] = halves.map((half) => half === "" ? [] : half.split(":"));
  // An IPv4 address at the end stands for two groups.
  const width = (groups: string[]) => groups.length + (groups.at(-1)?.includes(".") ? 1 : 0);
  const known = width(head) + width(tail ?? []);
  if (tail === undefined ? known !== 8 : known > 7) return undefined;
  const groups = [...head, ...Array(8 - known).fill("0"), ...(tail ?? [])];
  const first = groups.slice(0, 4);
  if (!first.every((group) => /^[0-9a-f]{1,4}$/.test(group))) return undefined;
  return first.map((group) => parseInt(group, 16).toString(16)).join(":");
}
