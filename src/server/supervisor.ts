/**
 * The main process's lifecycle rules for connections: admission, hand-over
 * of a peer to a child, what each child report changes, a child's exit, a
 * kick through the API, and shutdown. It owns the {@link ConnectionTable},
 * the {@link ChildPool} and the {@link StreamManager}, and decides; the
 * children carry the media.
 *
 * Everything that touches the system comes in through
 * {@link SupervisorDeps}: how a child is started and how a peer's connected
 * socket is made. The rules are therefore tested with fake children, no
 * processes and no sockets (`supervisor_test.ts`).
 *
 * @module
 */

import type { AtollConfig } from "../config/config_file.ts";
import { formatHostPort, type ServerOptions } from "../config/options.ts";
import { hexFromBytes } from "../ipc/hex.ts";
import {
  type AccessDecision,
  type Assignment,
  type ChildMessage,
  CLOSE_REASONS,
  type Endpoint,
  type PeerSettings,
  type RelayAssignment,
  type RelayRemote,
} from "../ipc/messages.ts";
import { readConclusion } from "../protocol/conclusion.ts";
import { HandshakeOffset } from "../protocol/packet.ts";
import { RejectCode } from "../protocol/reject_codes.ts";
import { redactStreamId } from "../protocol/stream_id.ts";
import {
  DROP_REASONS,
  type DropReason,
  REFUSED_AT_ONCE,
  type ServerCounters,
  type StreamState,
} from "./api_types.ts";
import { logContext } from "./api_view.ts";
import type { ChildEvents } from "./child_handle.ts";
import type { Hello } from "../ipc/adoption.ts";
import type { OwnedFd } from "../../ffi/owned_fd.ts";
import {
  AdmissionQueue,
  RecentRefusals,
  StartEstimate,
  type WaitingCaller,
  wouldMissDeadline,
} from "./admission_queue.ts";
import { ChildPool } from "./child_pool.ts";
import {
  type Clock,
  type Connection,
  ConnectionTable,
  ipOf,
  SYSTEM_CLOCK,
} from "./connection_table.ts";
import { describeFailure } from "./file_shortage.ts";
import { logger } from "./log.ts";
import { CHILD_START_BUCKETS, HANDSHAKE_BUCKETS, Histogram } from "./metrics.ts";
import { backoffKey, countsTowardBackoff, RejectionBackoff } from "./rejection_backoff.ts";
import { StreamManager } from "./stream_manager.ts";
import { RelayManager, type RelaySpec } from "./relay_manager.ts";
import { resolveHost } from "./resolve_host.ts";
import { DATAGRAM_KINDS } from "../protocol/classify.ts";

/** What the supervisor needs of a child process (the real one is a ChildHandle). */
export interface SupervisedChild {
  readonly pid: number;
  readonly ready: boolean;
  readonly exited: boolean;
  /** performance.now() when it was started. */
  readonly startedAt: number;
  /** Resolves once it has exited and its reports are delivered. */
  readonly done: Promise<unknown>;
  /** Hands it its connection: a caller's assignment with the peer's socket attached, or a relay's. */
  assign(assignment: Assignment | RelayAssignment, udpFd?: number): void;
  /** Answers its access request; false when it is gone. */
  answer(decision: AccessDecision, bufferFd?: number): boolean;
  /** Asks it to close its connection cleanly and exit. */
  requestShutdown(detail?: string): void;
  /**
   * Lets go of it without a word (an upgrade): connected, it keeps its
   * connection and waits for the next main process; else it exits.
   */
  release(): void;
  kill(signal?: Deno.Signal): void;
}

/** A peer's connected socket, as the main process holds it (an OwnedFd). */
export interface PeerSocket {
  readonly fd: number;
  close(): void;
}

/** What the supervisor needs from the system. */
export interface SupervisorDeps<C extends SupervisedChild> {
  /** Starts one child whose reports go to `events`. */
  launch(events: ChildEvents<C>): C;
  /** A UDP socket bound to the SRT address and connected to `peer`; the caller closes it. */
  openPeerSocket(peer: Endpoint): PeerSocket;
  /**
   * Answers a caller that waited for a child and will not get one, with the
   * rejection for `reason` (the listener's own answer to an admission it
   * refuses at once).
   */
  refuse?(peer: Endpoint, handshake: Uint8Array, reason: DropReason): void;
  clock?: Clock;
  /** New connection ids; random UUIDs by default. */
  newId?: () => string;
  /** The address a relay calls for a host name; the system's resolver by default. */
  resolve?: (hostname: string) => Promise<string>;
  /**
   * How many HTTP clients watch stream `name` now (the media output's last
   * report): they hold its on-demand pull as SRT viewers do. None by default.
   */
  httpViewers?: (name: string) => number;
  /** Told when a stream's buffer is made and when it goes (the media output serves it). */
  streamBuffers?: {
    created(name: string, fd: number, bytes: number): void;
    dropped(name: string): void;
  };
}

const log = logger("server");

/**
 * A backed-off attempt whose interval ends within this long is dropped
 * silently rather than refused: a default caller (3 s) still retransmits
 * after the interval, and gets in if it fixed its settings.
 */
const BACKOFF_HELD_MS = 2000;

/** How often the callers waiting for a child are checked while there are any. */
const QUEUE_CHECK_MS = 250;

/** How often relays are brought in line with the streams, the config and their backoff. */
const RELAY_CHECK_MS = 1000;

/** How much longer than the play wait a child waits for its decision. */
const DECISION_SLACK_MS = 5000;

/** A fresh set of counters, every key at 0. */
export function newCounters(): ServerCounters {
  return {
    datagrams: countersOf(DATAGRAM_KINDS),
    dropped: countersOf(DROP_REASONS),
    inductionsAnswered: 0,
    callersRejected: 0,
    childrenStarted: 0,
    childrenCrashed: 0,
    connectionsAccepted: 0,
    connectionsClosed: countersOf([...CLOSE_REASONS, "crashed"]),
  };
}

function countersOf<K extends string>(keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((key) => [key, 0])) as Record<K, number>;
}

export interface SupervisorOptions {
  options: ServerOptions;
  config: AtollConfig;
  /** The public SRT address, which every peer socket is bound to. */
  srtAddress: Endpoint;
  fastHandshake: boolean;
  counters: ServerCounters;
  /** The state directory, where connected children wait for an adopter if this process dies. */
  stateDir?: string;
}

export class Supervisor<C extends SupervisedChild> {
  readonly table: ConnectionTable<C>;
  readonly streams: StreamManager;
  readonly relays: RelayManager;
  readonly childStartSeconds = new Histogram(CHILD_START_BUCKETS);
  readonly handshakeSeconds = new Histogram(HANDSHAKE_BUCKETS);
  #options: ServerOptions;
  #config: AtollConfig;
  #srtAddress: Endpoint;
  #fastHandshake: boolean;
  #stateDir: string | undefined;
  #counters: ServerCounters;
  #deps: SupervisorDeps<C>;
  #clock: Clock;
  #newId: () => string;
  #pool: ChildPool<C>;
  /** Callers admitted while no child was ready, first in, first out. */
  #queue = new AdmissionQueue();
  /** Callers refused lately: their stale retransmissions are refused again, never admitted. */
  #refused = new RecentRefusals();
  /** How long children take to start: decides which callers are shed. */
  #starts = new StartEstimate();
  #queueCheck: ReturnType<typeof setTimeout> | undefined;
  /** Hand-overs that failed in a row: the first is logged as an error, the rest quietly. */
  #handoffFailures = 0;
  /** Source IPs and stream ids refused in a row: their callers wait before the next child. */
  #backoff = new RejectionBackoff();
  #relayCheck: ReturnType<typeof setInterval> | undefined;
  #stopping = false;

  constructor(setup: SupervisorOptions, deps: SupervisorDeps<C>) {
    this.#options = setup.options;
    this.#config = setup.config;
    this.#srtAddress = setup.srtAddress;
    this.#fastHandshake = setup.fastHandshake;
    this.#stateDir = setup.stateDir;
    this.#counters = setup.counters;
    this.#deps = deps;
    this.#clock = deps.clock ?? SYSTEM_CLOCK;
    this.#newId = deps.newId ?? (() => crypto.randomUUID());
    this.table = new ConnectionTable<C>(setup.options, this.#clock);
    this.#pool = new ChildPool(
      {
        size: setup.options.poolSize,
        max: setup.options.poolMax,
        maxStarting: setup.options.poolMaxStarting,
      },
      () => this.#launch(),
      { waiting: () => this.#queue.size, now: () => this.#clock.monotonicMs() },
    );
    this.streams = new StreamManager(setup.config, {
      answer: (id, decision, fd) => {
        // A refusal counts toward the caller's backoff at once, not only
        // once its child has lingered and exited.
        if (decision.type === "reject") {
          this.table.refused(id, decision.code);
          const key = this.table.get(id)?.backoffKey;
          if (key !== undefined && countsTowardBackoff(decision.code)) {
            this.#backoff.rejected(key, this.#clock.monotonicMs());
          }
        }
        return this.table.get(id)?.child.answer(decision, fd);
      },
      close: (id, detail) => this.table.get(id)?.child.requestShutdown(detail),
      alive: (id) => this.table.get(id)?.child.exited === false,
      placed: (id, stream) => this.table.placed(id, stream),
      skipsOf: (id) => this.table.get(id)?.viewer?.skips ?? 0,
      sourceOf: (id) => this.table.get(id)?.ip,
      demand: (name) => this.relays.demand(name),
      bufferCreated: (name, fd, bytes) => deps.streamBuffers?.created(name, fd, bytes),
      bufferDropped: (name) => deps.streamBuffers?.dropped(name),
      log: (level, what, id) => {
        const connection = this.table.get(id);
        if (connection === undefined) log[level]("Connection {id}: {what}", { id, what });
        else log[level]("Connection {id} from {peer}: {what}", { ...logContext(connection), what });
      },
    });
    const resolve = deps.resolve ?? resolveHost;
    this.relays = new RelayManager(setup.config, {
      start: (relayId, spec, remote) => this.#startRelay(relayId, spec, remote),
      stop: (id, detail) => this.table.get(id)?.child.requestShutdown(detail),
      audience: (name) => this.streams.audience(name),
      streamNames: () => this.streams.names(),
      httpViewers: (name) => deps.httpViewers?.(name) ?? 0,
      resolve,
      monotonicMs: () => this.#clock.monotonicMs(),
      wallMs: () => this.#clock.wallMs(),
      random: Math.random,
      log: (level, what, relay) =>
        log[level]("Relay {id} ({direction} of {stream}, {url}): {what}", { ...relay, what }),
    });
  }

  /** False once shutdown began. */
  get running(): boolean {
    return !this.#stopping;
  }

  /** Prestarted children ready for a connection. */
  get idleChildren(): C[] {
    return this.#pool.idle;
  }

  /** Prestarted children still starting up. */
  get startingChildren(): number {
    return this.#pool.starting;
  }

  /** Idle children the pool keeps now: `--pool-size`, more after bursts. */
  get poolFloor(): number {
    return this.#pool.floor;
  }

  /** Callers admitted and waiting for a child. */
  get waitingCallers(): number {
    return this.#queue.size;
  }

  /** How long the caller waiting longest has waited, in ms. */
  get longestWaitMs(): number {
    return this.#queue.longestWaitMs(this.#clock.monotonicMs());
  }

  /** The moving average of child start times (spawn to ready), in ms. */
  get childStartMs(): number {
    return this.#starts.averageMs;
  }

  /**
   * The ms between two children becoming ready over the last second: the
   * pace a queue is served at; undefined when too few became ready in it.
   */
  get childReadyPaceMs(): number | undefined {
    return this.#starts.paceMs(this.#clock.monotonicMs());
  }

  /** Whether the child `pid` serves one of this supervisor's connections. */
  hasChild(pid: number): boolean {
    for (const connection of this.table.values()) if (connection.child.pid === pid) return true;
    return false;
  }

  /** Whether `peerKey` has a connection (its datagrams go to its own socket). */
  hasPeer(peerKey: string): boolean {
    return this.table.byPeer(peerKey) !== undefined;
  }

  /**
   * Takes over a connected child of a main process before this one
   * (adoption.ts): `makeChild` makes the handle whose reports go to this
   * supervisor. Its connection and its place on its stream are as its hello
   * says; `buffer` is the stream's buffer, opened from the child, now the
   * stream manager's. Throws when the connection cannot be taken (its id or
   * peer is here already), having closed `buffer`.
   */
  adopt(hello: Hello, buffer: OwnedFd, makeChild: (events: ChildEvents<C>) => C): Connection<C> {
    let connection: Connection<C>;
    try {
      connection = this.table.adopt(makeChild(this.#events), hello);
    } catch (error) {
      buffer.close();
      throw error;
    }
    this.streams.adopt(connection.id, {
      stream: hello.stream,
      mode: hello.mode,
      connectedAtMs: hello.connectedAt,
      memory: buffer,
      bytes: hello.bufferBytes,
      tracks: hello.tracks,
    });
    log.info("Connection {id} from {peer} adopted from child {pid}: {mode} {streamId}", {
      ...logContext(connection),
      pid: connection.child.pid,
      mode: hello.mode,
      streamId: JSON.stringify(redactStreamId(hello.streamId)),
    });
    return connection;
  }

  /** Starts the prestarted children, and the relays the config asks for. */
  start(): void {
    this.#pool.fill();
    this.relays.tick();
    this.#relayCheck = setInterval(() => this.relays.tick(), RELAY_CHECK_MS);
  }

  /** Uses `config` for every later connection and decision, and for the relays. */
  setConfig(config: AtollConfig): void {
    this.#config = config;
    this.streams.setConfig(config);
    this.relays.setConfig(config);
  }

  /**
   * A connection-starting handshake from `peer` (a conclusion that proved
   * its address, or its first datagram when none is proved: an induction or
   * a wave-a-hand): hands it to a ready child, or queues it for the next
   * one, or says why not (and the listener answers with a rejection). A
   * caller already waiting for a child is only refreshed: it is still there.
   */
  admit(peer: Endpoint, handshake: Uint8Array, rendezvous: boolean): DropReason | undefined {
    if (this.#stopping) return "shutting-down";
    const nowMs = this.#clock.monotonicMs();
    const peerKey = formatHostPort(peer);
    const attempt = attemptKey(peerKey, handshake);
    if (this.#refused.has(attempt, nowMs)) return "already-refused";
    const reason = this.#consider(peer, peerKey, handshake, rendezvous, nowMs);
    // A rendezvous peer is not answered, and may still wave when it can be served.
    if (reason !== undefined && !rendezvous && REFUSED_AT_ONCE.includes(reason)) {
      this.#refused.add(attempt, nowMs);
    }
    return reason;
  }

  /** {@link admit}'s decision for a caller not refused just before. */
  #consider(
    peer: Endpoint,
    peerKey: string,
    handshake: Uint8Array,
    rendezvous: boolean,
    nowMs: number,
  ): DropReason | undefined {
    if (this.#queue.has(peerKey)) {
      // slice(): the listener reuses its receive buffer.
      this.#queue.refresh(peerKey, handshake.slice(), nowMs);
      return undefined;
    }
    // Only a conclusion names its stream id before a child runs: an
    // induction or a wave-a-hand is not backed off.
    const conclusion = readConclusion(handshake);
    const ip = ipOf(peer.hostname);
    let key: string | undefined;
    if (conclusion !== undefined) {
      key = backoffKey(ip, conclusion);
      const backoff = this.#backingOff(key, ip, conclusion.streamId);
      if (backoff !== undefined) return backoff;
    }
    const refusal = this.table.refusal(peer, this.#queue);
    if (refusal !== undefined) return refusal;
    const caller: WaitingCaller = {
      peer,
      peerKey,
      ip,
      handshake: handshake.slice(),
      rendezvous,
      backoffKey: key,
      since: nowMs,
      lastSeen: nowMs,
    };
    if (this.#queue.size === 0 && this.#pool.idle.length > 0) return this.#handOver(caller);
    // No child is ready: wait for one, unless it would come too late.
    const position = this.#queue.size + 1;
    const concurrency = this.#options.poolMaxStarting;
    // Told at once only on a current estimate; otherwise the queue's next
    // check (within 250 ms, with the starts of this burst seen) decides.
    const late = wouldMissDeadline(
      this.#starts,
      { position, concurrency, waitedMs: 0, nowMs },
      this.#options.callerTimeoutMs,
    );
    if (late && this.#starts.fresh(nowMs)) return "shed";
    this.#queue.push(caller);
    this.#pool.outpaced();
    this.#pool.fill();
    this.#checkQueueSoon();
    return undefined;
  }

  /**
   * Hands waiting callers to ready children, first in, first out; drops
   * those that fell silent (they gave up: a child would be wasted on them).
   */
  serveQueue(): void {
    const nowMs = this.#clock.monotonicMs();
    for (const gone of this.#queue.dropSilent(nowMs)) {
      this.#counters.dropped["caller-gone"]++;
      log.debug("Caller {peer} gave up after {ms} ms waiting for a child", {
        peer: gone.peerKey,
        ms: Math.round(nowMs - gone.since),
      });
    }
    while (this.#queue.size > 0 && this.#pool.idle.length > 0) {
      const caller = this.#queue.shift()!;
      const refused = this.#handOver(caller);
      if (refused !== undefined) this.#refuseWaiting(caller, refused, nowMs);
    }
    // The queue's tail may have become too late as starts slowed: tell them now.
    const concurrency = this.#options.poolMaxStarting;
    const timeoutMs = this.#options.callerTimeoutMs;
    for (const late of this.#queue.dropLate(nowMs, this.#starts, concurrency, timeoutMs)) {
      this.#refuseWaiting(late, "shed", nowMs);
    }
    this.#pool.fill();
    this.#checkQueueSoon();
  }

  /** Answers a caller taken out of the queue with the rejection for `reason`. */
  #refuseWaiting(caller: WaitingCaller, reason: DropReason, nowMs: number): void {
    this.#counters.dropped[reason]++;
    if (!caller.rendezvous) this.#refused.add(attemptKey(caller.peerKey, caller.handshake), nowMs);
    this.#deps.refuse?.(caller.peer, caller.handshake, reason);
  }

  #checkQueueSoon(): void {
    if (this.#queue.size === 0 || this.#queueCheck !== undefined || this.#stopping) return;
    this.#queueCheck = setTimeout(() => {
      this.#queueCheck = undefined;
      this.serveQueue();
    }, QUEUE_CHECK_MS);
  }

  /** Gives `caller` a ready child and its own socket; a drop reason when that fails. */
  #handOver(caller: WaitingCaller): DropReason | undefined {
    let connection;
    try {
      connection = this.table.add(
        caller.peer,
        () => this.#assign(caller),
        caller.backoffKey,
        caller.since,
      );
    } catch (error) {
      this.#handoffFailures++;
      const level = this.#handoffFailures === 1 ? "error" : "debug";
      log[level]("Cannot hand {peer} to a child: {error} (logged again once one succeeds)", {
        peer: caller.peerKey,
        error: describeFailure(error),
      });
      return "handoff-failed";
    } finally {
      this.#pool.fill();
    }
    const { child, id, peerKey } = connection;
    if (this.#handoffFailures > 0) {
      log.info("Hand-overs work again, after {count} failed", { count: this.#handoffFailures });
      this.#handoffFailures = 0;
    }
    if (caller.backoffKey !== undefined) this.#backoff.admitted(caller.backoffKey);
    log.debug("Peer {peer} handed to child {pid} as connection {id}", {
      peer: peerKey,
      pid: child.pid,
      id,
    });
    return undefined;
  }

  /**
   * How `key`'s attempt is dropped now, if it is; logs the first one
   * dropped in each interval. When the interval ends soon enough for a
   * default caller to retransmit after it (a caller that fixed its settings
   * then gets in within its own wait), the attempt is dropped silently
   * (`rejection-backoff-held`); else it is refused at once with 1402
   * (`rejection-backoff`), and the caller retries on its own schedule.
   */
  #backingOff(key: string, ip: string, streamId: string): DropReason | undefined {
    const verdict = this.#backoff.check(key, this.#clock.monotonicMs());
    if (!verdict.drop) return undefined;
    if (verdict.first) {
      log.warning(
        "Dropping attempts from {ip} for stream id {streamId} for {ms} ms: refused {rejections} time(s) in a row",
        {
          ip,
          streamId: JSON.stringify(redactStreamId(streamId)),
          ms: Math.ceil(verdict.remainingMs),
          rejections: verdict.rejections,
        },
      );
    }
    return verdict.remainingMs <= BACKOFF_HELD_MS ? "rejection-backoff-held" : "rejection-backoff";
  }

  /**
   * Asks the connection's child to close it (the peer is told at once); a
   * caller still waiting for its decision is refused first. False when
   * there is no such connection.
   */
  closeConnection(id: string): boolean {
    const connection = this.table.get(id);
    if (connection === undefined) return false;
    log.info("Connection {id} from {peer}: closing, asked through the API", logContext(connection));
    // A caller still waiting for its decision is told no, or its child could not listen.
    this.streams.cancel(id, RejectCode.Forbidden, "closed through the API");
    connection.child.requestShutdown("closed through the API");
    return true;
  }

  /** Closes the stream's publisher and viewers; false when there is no such stream. */
  endStream(name: string): boolean {
    const ended = this.streams.endStream(name, "ended through the API");
    if (ended) log.info("Stream {stream} ended through the API", { stream: JSON.stringify(name) });
    return ended;
  }

  streamInfo(): StreamState[] {
    return this.streams.streams();
  }

  /**
   * Stops starting children, answers every undecided caller with 1503, asks
   * every child to close its connection (peers see a shutdown, not a
   * timeout), waits up to `timeoutMs`, then kills what is left.
   */
  async shutdown(timeoutMs: number): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#stopRelays();
    clearTimeout(this.#queueCheck);
    this.#queueCheck = undefined;
    for (const caller of this.#queue.clear()) {
      this.#deps.refuse?.(caller.peer, caller.handshake, "shutting-down");
    }
    const children = [...this.#pool.stop(), ...[...this.table.values()].map((c) => c.child)];
    log.info("Shutting down: closing {count} connection(s)", { count: this.table.size });
    // Children blocked waiting for a decision cannot read their stdin: answer them first.
    this.streams.cancelAll(RejectCode.Down, "the server is shutting down");
    for (const child of children) child.requestShutdown();
    const all = Promise.all(children.map((child) => child.done));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    if (await Promise.race([all, deadline]) === "timeout") {
      const left = children.filter((child) => !child.exited);
      log.warning("Killing {count} child(ren) still running after {ms} ms", {
        count: left.length,
        ms: timeoutMs,
      });
      for (const child of left) child.kill("SIGKILL");
      await all;
    }
    clearTimeout(timer);
    this.streams.close();
  }

  /**
   * Starts no child for the pool while `paused` (an upgrade prepares:
   * idle children will be stopped at the hand-over); starts what it lacks
   * when resumed.
   */
  pausePool(paused: boolean): void {
    this.#pool.paused = paused;
    if (!paused) this.#pool.fill();
  }

  /**
   * Lets go of every child without closing a connection (an upgrade hands
   * them to the next main process): admissions stop, callers waiting for a
   * child are forgotten (they retransmit to the next one), undecided callers
   * are refused with 1503, idle children are stopped, and connected ones
   * released, to wait for their adopter. Returns the pids of the connected
   * ones.
   */
  release(): number[] {
    this.#stopping = true;
    this.#stopRelays();
    clearTimeout(this.#queueCheck);
    this.#queueCheck = undefined;
    this.#queue.clear();
    this.streams.cancelAll(RejectCode.Down, "the server is upgrading");
    for (const child of this.#pool.stop()) child.requestShutdown();
    const connected: number[] = [];
    for (const connection of this.table.values()) {
      // A relay is not adopted: the next main process starts it again from its config.
      if (connection.phase === "connected" && connection.relay === undefined) {
        connected.push(connection.child.pid);
        connection.child.release();
      } else connection.child.requestShutdown("the server is upgrading");
    }
    log.info("Handing {count} connection(s) over to the next main process", {
      count: connected.length,
    });
    return connected;
  }

  #stopRelays(): void {
    this.relays.stop();
    clearInterval(this.#relayCheck);
    this.#relayCheck = undefined;
  }

  /**
   * Starts an attempt of relay `relayId` on a ready child: its connection
   * in the table, its assignment, and at once its decision (a relay has no
   * stream id to wait for). Undefined when no child is ready: the pool
   * starts one, and the relay manager tries again when it is.
   */
  #startRelay(relayId: string, spec: RelaySpec, remote: RelayRemote): string | undefined {
    if (this.#stopping) return undefined;
    const child = this.#pool.take();
    if (child === undefined) {
      this.#pool.outpaced();
      this.#pool.fill();
      return undefined;
    }
    const id = this.#newId();
    try {
      child.assign({
        type: "relay",
        connectionId: id,
        direction: spec.direction,
        remote,
        settings: this.peerSettings(),
      });
    } catch (error) {
      child.kill();
      throw error;
    } finally {
      this.#pool.fill();
    }
    this.table.addRelay(child, id, remote, {
      relayId,
      direction: spec.direction,
      url: remote.url,
    });
    this.streams.requestRelay(id, spec.stream, spec);
    return id;
  }

  /** Settings for a child's libsrt: the server's options and the config's waits. */
  peerSettings(): PeerSettings {
    return peerSettings(this.#options, this.#fastHandshake, this.#config, this.#stateDir);
  }

  /**
   * Gives the caller its own connected UDP socket and a ready child to
   * drive it. From the socket's `connect()` on, the kernel delivers the
   * peer's datagrams to it, not to the listening socket.
   */
  #assign(caller: WaitingCaller): { id: string; child: C } {
    const child = this.#pool.take();
    if (child === undefined) throw new Error("no child is ready");
    let socket: PeerSocket | undefined;
    try {
      socket = this.#deps.openPeerSocket(caller.peer);
      const id = this.#newId();
      child.assign({
        type: "assign",
        connectionId: id,
        local: this.#srtAddress,
        peer: caller.peer,
        handshake: hexFromBytes(caller.handshake.subarray(0, 64)),
        rendezvous: caller.rendezvous,
        settings: this.peerSettings(),
      }, socket.fd);
      return { id, child };
    } catch (error) {
      child.kill();
      throw error;
    } finally {
      // The child holds its own copy now (or none, on failure).
      socket?.close();
    }
  }

  #launch(): C {
    const child = this.#deps.launch(this.#events);
    this.#counters.childrenStarted++;
    return child;
  }

  #events: ChildEvents<C> = {
    onMessage: (child, message) => this.#onMessage(child, message),
    onOutput: (child, line) => {
      const connection = this.table.byChild(child);
      if (connection === undefined) log.warning("Child {pid}: {line}", { pid: child.pid, line });
      else {
        log.warning("Connection {id} from {peer}: its child wrote: {line}", {
          ...logContext(connection),
          line,
        });
      }
    },
    onExit: (child, status) => this.#onExit(child, status),
  };

  #onMessage(child: C, message: ChildMessage): void {
    if (message.type === "ready") {
      this.#pool.childReady();
      const startMs = this.#clock.monotonicMs() - child.startedAt;
      this.childStartSeconds.observe(startMs / 1000);
      this.#starts.observe(startMs, this.#clock.monotonicMs());
      this.serveQueue();
      // Callers first: a relay waiting for a child takes the next one left.
      if (this.#pool.idle.length > 0) this.relays.tick();
      return;
    }
    const connection = this.table.byChild(child);
    if (connection === undefined) return;
    const id = connection.id;
    switch (message.type) {
      case "request":
        this.table.requested(id, message.streamId);
        if (this.#stopping) {
          child.answer({ type: "reject", code: RejectCode.Down, reason: "server shutting down" });
        } else {
          this.streams.request(id, message.streamId, connection.peerKey).catch((error) => {
            log.error("Connection {id}: deciding its request failed: {error}", {
              ...logContext(connection),
              error: String(error),
            });
            child.answer({
              type: "reject",
              code: RejectCode.InternalError,
              reason: String(error),
            });
          });
        }
        break;
      case "connected": {
        const handshakeMs = this.table.connected(id, message);
        if (handshakeMs === undefined) break;
        this.handshakeSeconds.observe(handshakeMs / 1000);
        this.#counters.connectionsAccepted++;
        log.info(
          "Connection {id} from {peer} up in {handshakeMs} ms ({childMs} ms in its child): {mode} {streamId}, {encryption}",
          {
            ...logContext(connection),
            handshakeMs,
            childMs: message.handshakeMs,
            streamId: JSON.stringify(redactStreamId(message.streamId)),
            mode: message.mode,
            encryption: message.encrypted ? "encrypted" : "unencrypted",
          },
        );
        // Only now, with its passphrase accepted, does it take its place on the stream.
        this.streams.connected(id);
        if (connection.relay !== undefined) this.relays.connected(id);
        if (connection.backoffKey !== undefined) this.#backoff.succeeded(connection.backoffKey);
        break;
      }
      case "stats":
        if (this.table.reported(id, message.stats, message.viewer)) {
          this.streams.publisherActive(id);
        }
        break;
      case "log":
        log[message.level]("Connection {id} from {peer}: {message}", {
          ...logContext(connection),
          message: message.message,
        });
        break;
      case "tracks":
        this.streams.setTracks(id, message.tracks);
        break;
      case "closed":
        this.table.closing(id, message.reason, message.detail, message.stats);
        break;
    }
  }

  #onExit(child: C, status: Deno.CommandStatus): void {
    if (this.#pool.childExited(child)) {
      if (!this.#stopping) {
        this.#counters.childrenCrashed++;
        log.error("Idle child {pid} exited ({status})", {
          pid: child.pid,
          status: describeExit(status),
        });
      }
      return;
    }
    const connection = this.table.byChild(child);
    if (connection === undefined) return;
    // The stream manager reads the viewer's skips from the table: release first.
    this.streams.release(connection.id);
    this.table.remove(connection.id);
    if (connection.relay !== undefined) this.relays.ended(connection.id, connection.closed);
    const key = connection.backoffKey;
    if (key !== undefined) {
      // libsrt refusing a passphrase is known only here; Atoll's own
      // refusals were judged when they were made.
      const libsrtRefused = connection.closed?.reason === "rejected" &&
        connection.refusal === undefined;
      if (libsrtRefused && status.success) {
        this.#backoff.rejected(key, this.#clock.monotonicMs());
      } else this.#backoff.settled(key);
    }
    this.#logClosed(connection, status);
  }

  #logClosed(connection: Connection<C>, status: Deno.CommandStatus): void {
    const crashed = connection.closed === undefined || !status.success;
    if (crashed) this.#counters.childrenCrashed++;
    const reason = connection.closed?.reason ?? "crashed";
    this.#counters.connectionsClosed[crashed && reason !== "error" ? "crashed" : reason]++;
    const detail = connection.closed?.detail ?? `child ${describeExit(status)}`;
    const seconds = connection.connectedAt === undefined
      ? 0
      : (this.#clock.wallMs() - connection.connectedAt) / 1000;
    const s = connection.stats;
    log[crashed ? "error" : "info"](
      "Connection {id} from {peer} closed ({reason}: {detail}): stream {streamId}, {duration} s, " +
        "{bytesIn} bytes in, {bytesOut} bytes out, {lost} lost, {retransmitted} retransmitted",
      {
        ...logContext(connection),
        reason: crashed && reason !== "error" ? "crashed" : reason,
        detail,
        streamId: JSON.stringify(
          connection.streamId === undefined ? null : redactStreamId(connection.streamId),
        ),
        duration: seconds.toFixed(1),
        bytesIn: s.bytesReceived,
        bytesOut: s.bytesSent,
        lost: s.packetsLost,
        retransmitted: s.packetsRetransmitted,
      },
    );
  }
}

/**
 * Which connection attempt a handshake belongs to: its peer and the caller's
 * SRT socket id (w10), which libsrt draws anew for each attempt and keeps in
 * its retransmissions. A caller that binds a fixed local port, refused,
 * tries again with a new id and is judged afresh.
 */
export function attemptKey(peerKey: string, handshake: Uint8Array): string {
  if (handshake.byteLength < HandshakeOffset.SRT_SOCKET_ID + 4) return peerKey;
  const view = new DataView(handshake.buffer, handshake.byteOffset, handshake.byteLength);
  return `${peerKey}#${view.getUint32(HandshakeOffset.SRT_SOCKET_ID)}`;
}

/** What a child needs of the server's options to set up libsrt. */
export function peerSettings(
  options: ServerOptions,
  fastHandshake: boolean,
  config: AtollConfig,
  stateDir?: string,
): PeerSettings {
  return {
    // A held viewer waits for the play wait, after the hook; the rest is
    // slack for a busy main process.
    decisionTimeoutMs: config.playWaitMs + (config.authHook?.timeoutMs ?? 0) + DECISION_SLACK_MS,
    latencyMs: options.latencyMs,
    ...(options.passphrase === undefined ? {} : { passphrase: options.passphrase }),
    pbkeylen: options.pbkeylen,
    idleTimeoutMs: options.idleTimeoutMs,
    handshakeTimeoutMs: options.handshakeTimeoutMs,
    fastHandshake,
    ...(stateDir === undefined ? {} : { stateDir }),
  };
}

export function describeExit(status: Deno.CommandStatus): string {
  return status.signal !== null ? `killed by ${status.signal}` : `exit code ${status.code}`;
}
