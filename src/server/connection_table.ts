/**
 * The main process's one table of connections: every fact about a
 * connection (its peer, its child, its phase, its stream and mode, its link
 * statistics and viewer figures, why it closed) is stored here once, and
 * changed only through this table's methods. The API, the metrics and the
 * log lines all read these records, so they cannot disagree.
 *
 * The table also holds the admission limits, because they count its
 * records: connections in all, handshakes in progress, connections per
 * source IP, and a per-IP token bucket for new connections.
 *
 * Pure: no process, socket or clock is touched (time comes from the
 * {@link Clock}), so the rules are tested without either.
 *
 * A connection's life:
 * - {@link ConnectionTable.refusal}: no limit refuses its first handshake
 *   datagram (callers waiting for a child count toward the limits too).
 * - {@link ConnectionTable.add}: it was handed to a child; phase
 *   `handshaking`.
 * - {@link ConnectionTable.requested}: its child forwarded the caller's
 *   stream id (the mode is known from it from now on).
 * - {@link ConnectionTable.placed}: the stream manager put it on a stream,
 *   as publisher, viewer or held viewer. The stream stays its stream until
 *   the record is removed, even if the stream ends first.
 * - {@link ConnectionTable.connected}: libsrt accepted it; phase
 *   `connected`, and it no longer counts as a handshake.
 * - {@link ConnectionTable.reported}: link statistics, once a second.
 * - {@link ConnectionTable.sampled}: its child's CPU and memory, as the
 *   main process reads them from /proc.
 * - {@link ConnectionTable.closing}: its child said why it is closing.
 * - {@link ConnectionTable.remove}: its child exited; every slot is freed.
 *
 * A relay's attempt (src/server/relay_manager.ts) is a connection too, added
 * with {@link ConnectionTable.addRelay}: Atoll calls out, so it is nobody's
 * admission, counts toward none of the limits (which guard against
 * callers), and is not found by its peer's address (several relays may call
 * the same remote; the listener never sees their datagrams).
 *
 * @module
 */

import type { Hello } from "../ipc/adoption.ts";
import type {
  Endpoint,
  LinkStats,
  RelayDirection,
  StreamMode,
  ViewerStats,
} from "../ipc/messages.ts";
import { emptyLinkStats } from "../ipc/messages.ts";
import type { CloseReason } from "../ipc/messages.ts";
import { describeMode } from "../protocol/stream_id.ts";
import { formatHostPort } from "../config/options.ts";
import { TokenBucket } from "./token_bucket.ts";

export interface AdmissionLimits {
  /** Connections in any phase. */
  maxConnections: number;
  /** Connections whose handshake has not completed yet. */
  maxHandshakes: number;
  maxConnectionsPerIp: number;
  /** New connections admitted per second per source IP (a token bucket holding one second's worth). */
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

export type Phase = "handshaking" | "connected";

/** What an adopted child says of its connection: the part of its hello the table keeps. */
export type AdoptedRecord = Pick<
  Hello,
  | "connectionId"
  | "peer"
  | "streamId"
  | "mode"
  | "stream"
  | "encrypted"
  | "handshakeMs"
  | "connectedAt"
  | "stats"
  | "viewer"
>;

/** What a relay's connection is: where it calls and which way the media goes. */
export interface RelayLink {
  /** The relay it is an attempt of. */
  readonly relayId: string;
  readonly direction: RelayDirection;
  /** The remote's URL, passphrase hidden. */
  readonly url: string;
}

/** Callers admitted but not yet handed to a child: they count toward the limits. */
export interface WaitingCallers {
  readonly size: number;
  fromIp(ip: string): number;
}

const NO_WAITING: WaitingCallers = { size: 0, fromIp: () => 0 };

/** Where the table reads the time. */
export interface Clock {
  /** Monotonic milliseconds (`performance.now()`), for durations and rates. */
  monotonicMs(): number;
  /** Wall-clock milliseconds (`Date.now()`), for the times the API shows. */
  wallMs(): number;
}

export const SYSTEM_CLOCK: Clock = {
  monotonicMs: () => performance.now(),
  wallMs: () => Date.now(),
};

/** What a connection's child process costs, as last read from /proc; null until read. */
export interface ResourceUsage {
  /** CPU time over the last sampling interval, in % of one core. */
  readonly cpuPercent: number | null;
  /** `Private_Dirty` of its child's `smaps_rollup`, in bytes. */
  readonly privateDirtyBytes: number | null;
  /** `Pss` of its child's `smaps_rollup`, in bytes. */
  readonly pssBytes: number | null;
}

/** One connection. Read it anywhere; change it only through {@link ConnectionTable}. */
export interface Connection<C> {
  readonly id: string;
  readonly child: C;
  readonly peer: Readonly<Endpoint>;
  /** `host:port` of the peer (IPv6 in brackets): the key the listener looks it up by. */
  readonly peerKey: string;
  /** The source IP the per-IP limits count (a v4-mapped address is its IPv4 address). */
  readonly ip: string;
  /** What its refusals count against (source, stream id, key material), when it came with a conclusion. */
  readonly backoffKey: string | undefined;
  readonly phase: Phase;
  /** Wall-clock ms when it was admitted. */
  readonly startedAt: number;
  /** Monotonic ms of its first admitted handshake: a wait for a child counts toward its handshake. */
  readonly admittedAt: number;
  /** Monotonic ms when its peer was handed to its child. */
  readonly handedOverAt: number;
  /** Wall-clock ms when libsrt accepted it. */
  readonly connectedAt: number | undefined;
  /** From its first admitted handshake (a wait for a child included) to the accepted connection, in ms, to 0.1 ms. */
  readonly handshakeMs: number | undefined;
  /** The caller's stream id, once its child forwarded it (raw: redact before showing). */
  readonly streamId: string | undefined;
  readonly mode: StreamMode;
  readonly encrypted: boolean;
  /** The stream it publishes, plays or waits for, once the stream manager placed it. */
  readonly stream: string | undefined;
  readonly stats: Readonly<LinkStats>;
  /** A viewer's skips and server-added latency, from its child's reports. */
  readonly viewer: Readonly<ViewerStats> | undefined;
  /** Its child's CPU and memory, from the resource sampler. */
  readonly resources: ResourceUsage;
  /** The code Atoll refused it with in its access decision, if it did. */
  readonly refusal: number | undefined;
  /** Why its child says it closed, once it said so. */
  readonly closed: { readonly reason: CloseReason; readonly detail: string } | undefined;
  /** Set when Atoll called out (a relay's attempt), not a caller. */
  readonly relay: RelayLink | undefined;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Source IPs with rate state kept at most; bounds memory under spoofed floods. */
export const MAX_TRACKED_SOURCES = 16384;

export class ConnectionTable<C> {
  #limits: AdmissionLimits;
  #clock: Clock;
  #byId = new Map<string, Mutable<Connection<C>>>();
  #byPeer = new Map<string, Mutable<Connection<C>>>();
  #byChild = new Map<C, Mutable<Connection<C>>>();
  #perIp = new Map<string, number>();
  #buckets = new Map<string, TokenBucket>();
  #handshakes = 0;
  /** Relays' attempts among the connections: they count toward no limit. */
  #relays = 0;

  constructor(limits: AdmissionLimits, clock: Clock = SYSTEM_CLOCK) {
    this.#limits = limits;
    this.#clock = clock;
  }

  get size(): number {
    return this.#byId.size;
  }

  /** Connections still in their handshake. */
  get handshakes(): number {
    return this.#handshakes;
  }

  /** Source IPs whose rate state is held (at most {@link MAX_TRACKED_SOURCES}). */
  get trackedSources(): number {
    return this.#buckets.size;
  }

  get(id: string): Connection<C> | undefined {
    return this.#byId.get(id);
  }

  /** The connection of the peer at `host:port` (see {@link formatHostPort}). */
  byPeer(peerKey: string): Connection<C> | undefined {
    return this.#byPeer.get(peerKey);
  }

  byChild(child: C): Connection<C> | undefined {
    return this.#byChild.get(child);
  }

  values(): IterableIterator<Connection<C>> {
    return this.#byId.values();
  }

  /**
   * The limit that refuses a new peer now, counting `waiting` callers (those
   * admitted but still waiting for a child) as handshakes in progress; when
   * none does, the peer's source IP spends one token of its rate. A peer let
   * in here is then {@link add}ed, without another check.
   */
  refusal(peer: Endpoint, waiting: WaitingCallers = NO_WAITING): Refusal | undefined {
    const peerKey = formatHostPort(peer);
    if (this.#byPeer.has(peerKey)) throw new Error(`Peer ${peerKey} already has a child`);
    const ip = ipOf(peer.hostname);
    const limits = this.#limits;
    const callers = this.#byId.size - this.#relays;
    if (callers + waiting.size >= limits.maxConnections) return "max-connections";
    if (this.#handshakes + waiting.size >= limits.maxHandshakes) return "max-handshakes";
    if ((this.#perIp.get(ip) ?? 0) + waiting.fromIp(ip) >= limits.maxConnectionsPerIp) {
      return "max-connections-per-ip";
    }
    const nowMs = this.#clock.monotonicMs();
    if (!this.#takeToken(ip, nowMs)) return "rate-per-ip";
    return undefined;
  }

  /**
   * Adds a peer that {@link refusal} let in, as `handshaking`. `create`
   * hands the peer to a child only now, and returns the new connection's id
   * and child; if it throws, nothing is added and nothing is counted.
   */
  add(
    peer: Endpoint,
    create: () => { id: string; child: C },
    backoffKey?: string,
    admittedAt = this.#clock.monotonicMs(),
  ): Connection<C> {
    const peerKey = formatHostPort(peer);
    if (this.#byPeer.has(peerKey)) throw new Error(`Peer ${peerKey} already has a child`);
    const ip = ipOf(peer.hostname);
    const { id, child } = create();
    if (this.#byId.has(id)) throw new Error(`Connection ${id} exists already`);
    const connection = this.#record(id, child, peer, { backoffKey, admittedAt });
    this.#byId.set(id, connection);
    this.#byPeer.set(peerKey, connection);
    this.#byChild.set(child, connection);
    this.#perIp.set(ip, (this.#perIp.get(ip) ?? 0) + 1);
    this.#handshakes++;
    return connection;
  }

  /**
   * A connection a main process before this one made, whose child this one
   * adopted (src/ipc/adoption.ts): it comes in connected, with what its
   * child says of it. It counts toward every limit from now on.
   */
  adopt(child: C, record: AdoptedRecord): Connection<C> {
    const peerKey = formatHostPort(record.peer);
    if (this.#byPeer.has(peerKey)) throw new Error(`Peer ${peerKey} already has a child`);
    if (this.#byId.has(record.connectionId)) {
      throw new Error(`Connection ${record.connectionId} exists already`);
    }
    const ip = ipOf(record.peer.hostname);
    const connection = this.#record(record.connectionId, child, record.peer, {
      phase: "connected",
      startedAt: record.connectedAt,
      connectedAt: record.connectedAt,
      handshakeMs: record.handshakeMs,
      streamId: record.streamId,
      mode: record.mode,
      encrypted: record.encrypted,
      stream: record.stream,
      stats: record.stats ?? emptyLinkStats(),
      viewer: record.viewer,
    });
    this.#byId.set(connection.id, connection);
    this.#byPeer.set(peerKey, connection);
    this.#byChild.set(child, connection);
    this.#perIp.set(ip, (this.#perIp.get(ip) ?? 0) + 1);
    return connection;
  }

  /**
   * A relay's attempt, handed to `child` as connection `id`: it calls
   * `remote` to pull (`publish` into the stream) or push (`play` from it).
   * Phase `handshaking` until its child reports it connected.
   */
  addRelay(child: C, id: string, remote: Endpoint, link: RelayLink): Connection<C> {
    if (this.#byId.has(id)) throw new Error(`Connection ${id} exists already`);
    const connection = this.#record(id, child, remote, {
      mode: link.direction === "pull" ? "publish" : "play",
      relay: { ...link },
    });
    this.#byId.set(id, connection);
    this.#byChild.set(child, connection);
    this.#relays++;
    return connection;
  }

  /** Its child forwarded the caller's stream id; the mode is known from it (a held viewer is a viewer). */
  requested(id: string, streamId: string): void {
    const connection = this.#byId.get(id);
    if (connection === undefined) return;
    connection.streamId = streamId;
    connection.mode = describeMode(streamId);
  }

  /** The stream manager put it on `stream` (as publisher, viewer or held viewer). */
  placed(id: string, stream: string): void {
    const connection = this.#byId.get(id);
    if (connection !== undefined) connection.stream = stream;
  }

  /** Atoll's access decision refused it with `code`. */
  refused(id: string, code: number): void {
    const connection = this.#byId.get(id);
    if (connection !== undefined) connection.refusal = code;
  }

  /**
   * libsrt accepted it: it is `connected` and no longer counts as a
   * handshake. Returns the handshake time from its first admitted handshake,
   * in ms (so a wait for a child, or for the access decision, counts too), or
   * undefined for an unknown or already connected id.
   */
  connected(
    id: string,
    report: { streamId: string; mode: StreamMode; encrypted: boolean },
  ): number | undefined {
    const connection = this.#byId.get(id);
    if (connection === undefined || connection.phase === "connected") return undefined;
    connection.phase = "connected";
    if (connection.relay === undefined) this.#handshakes--;
    connection.connectedAt = this.#clock.wallMs();
    connection.streamId = report.streamId;
    connection.mode = report.mode;
    connection.encrypted = report.encrypted;
    const handshakeMs = Math.round((this.#clock.monotonicMs() - connection.admittedAt) * 10) / 10;
    connection.handshakeMs = handshakeMs;
    return handshakeMs;
  }

  /**
   * Its child's periodic report. Returns whether it received bytes since
   * the last report (a publisher's sign of life).
   */
  reported(id: string, stats: LinkStats, viewer?: ViewerStats): boolean {
    const connection = this.#byId.get(id);
    if (connection === undefined) return false;
    const grew = stats.bytesReceived > connection.stats.bytesReceived;
    connection.stats = stats;
    if (viewer !== undefined) connection.viewer = viewer;
    return grew;
  }

  /**
   * Its child's CPU or memory was read from /proc: the figures given replace
   * the ones held, the others stay.
   */
  sampled(id: string, usage: Partial<ResourceUsage>): void {
    const connection = this.#byId.get(id);
    if (connection === undefined) return;
    connection.resources = { ...connection.resources, ...usage };
  }

  /** Its child said why it is closing, with its last statistics (null: none could be read). */
  closing(id: string, reason: CloseReason, detail: string, stats: LinkStats | null): void {
    const connection = this.#byId.get(id);
    if (connection === undefined) return;
    connection.closed = { reason, detail };
    if (stats !== null) connection.stats = stats;
  }

  /** Its child is gone: frees every slot it held and returns its last record. */
  remove(id: string): Connection<C> | undefined {
    const connection = this.#byId.get(id);
    if (connection === undefined) return undefined;
    this.#byId.delete(id);
    this.#byChild.delete(connection.child);
    if (connection.relay !== undefined) {
      this.#relays--;
      return connection;
    }
    this.#byPeer.delete(connection.peerKey);
    if (connection.phase === "handshaking") this.#handshakes--;
    const count = (this.#perIp.get(connection.ip) ?? 1) - 1;
    if (count > 0) this.#perIp.set(connection.ip, count);
    else this.#perIp.delete(connection.ip);
    return connection;
  }

  /**
   * A new record for `child`'s connection with `peer`: handshaking, nothing
   * known of it yet but what `known` says.
   */
  #record(
    id: string,
    child: C,
    peer: Endpoint,
    known: Partial<Connection<C>> = {},
  ): Mutable<Connection<C>> {
    const nowMs = this.#clock.monotonicMs();
    return {
      id,
      child,
      peer: { hostname: peer.hostname, port: peer.port },
      peerKey: formatHostPort(peer),
      ip: ipOf(peer.hostname),
      backoffKey: undefined,
      phase: "handshaking",
      startedAt: this.#clock.wallMs(),
      admittedAt: nowMs,
      handedOverAt: nowMs,
      connectedAt: undefined,
      handshakeMs: undefined,
      streamId: undefined,
      // Until the stream id says otherwise.
      mode: "publish",
      encrypted: false,
      stream: undefined,
      stats: emptyLinkStats(),
      viewer: undefined,
      resources: { cpuPercent: null, privateDirtyBytes: null, pssBytes: null },
      refusal: undefined,
      closed: undefined,
      relay: undefined,
      ...known,
    };
  }

  #takeToken(ip: string, nowMs: number): boolean {
    let bucket = this.#buckets.get(ip);
    if (bucket === undefined) {
      if (this.#buckets.size >= MAX_TRACKED_SOURCES) this.#forgetFullBuckets(nowMs);
      bucket = new TokenBucket(this.#limits.maxNewConnectionsPerIp, nowMs);
      this.#buckets.set(ip, bucket);
    }
    return bucket.take(nowMs);
  }

  /** A bucket that has refilled is the same as no bucket. */
  #forgetFullBuckets(nowMs: number): void {
    for (const [ip, bucket] of this.#buckets) {
      if (bucket.isFull(nowMs)) this.#buckets.delete(ip);
    }
    // Still full of active sources: drop the oldest rather than grow.
    for (const ip of this.#buckets.keys()) {
      if (this.#buckets.size < MAX_TRACKED_SOURCES) break;
      this.#buckets.delete(ip);
    }
  }
}

/** The source IP a limit applies to: a v4-mapped address is its IPv4 address. */
export function ipOf(hostname: string): string {
  return hostname.startsWith("::ffff:") && hostname.includes(".") ? hostname.slice(7) : hostname;
}
