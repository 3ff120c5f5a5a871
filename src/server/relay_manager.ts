/**
 * Relays: streams Atoll pulls from another SRT listener, and streams it
 * pushes to one (issue 12). The main process decides which relays should
 * run and when; each attempt is a child process in caller (or rendezvous)
 * mode that carries the media itself (src/peer/relay.ts), so a relay, like
 * any peer, can only harm its own connection.
 *
 * Which relays run:
 * - a stream rule's `source` with `sourceMode: always` (a `name` entry):
 *   always;
 * - a `source` with `sourceMode: on-demand`: from the moment a viewer waits
 *   for the stream until `sourceLingerMs` after the last viewer left; SRT
 *   viewers and HTTP ones alike (HTTP-TS clients, HLS clients of the last
 *   30 s, as the media output reports them: {@link RelayHost.httpViewers});
 * - a `backup` source only while no other publisher holds the stream (it
 *   yields at once to one that comes: stream_table.ts);
 * - each of a stream rule's `push` URLs: while the stream has a publisher;
 * - relays added through the API, until they are removed.
 *
 * A relay that fails, or whose connection ends while it should run, tries
 * again after an exponential backoff with jitter; it logs a state change
 * (connected, lost, failing for a new reason), not each attempt.
 *
 * Pure decisions over a {@link RelayHost}: time comes from its clock, and
 * the server calls {@link RelayManager.tick}; tested without processes.
 *
 * @module
 */

import { type AtollConfig, rulesFor, type StreamRules } from "../config/config_file.ts";
import type { CloseReason, RelayDirection, RelayRemote } from "../ipc/messages.ts";
import { expandName, parseSrtUrl, redactSrtUrl, type SrtUrl } from "../protocol/srt_url.ts";
import type { RelayRole } from "./stream_table.ts";
import { isStreamName } from "../protocol/stream_id.ts";

/** Where a relay is in its life. */
export type RelayState =
  /** Not needed now (an on-demand source nobody watches, a backup while a publisher is on, a push without publisher). */
  | "idle"
  /** An attempt is under way: resolving the host, waiting for a child, or in the handshake. */
  | "connecting"
  | "connected"
  /** The last attempt failed or the connection ended: the next one is at `retryAt`. */
  | "retrying"
  /** Removed through the API: it never runs again. */
  | "stopped";

export const RELAY_STATES: readonly RelayState[] = [
  "idle",
  "connecting",
  "connected",
  "retrying",
  "stopped",
];

/** What a relay is: from a stream rule (`config`) or added through the API (`api`). */
export interface RelaySpec {
  readonly direction: RelayDirection;
  readonly stream: string;
  /** The remote's URL, `{name}` expanded; it may hold a passphrase: never shown. */
  readonly url: string;
  readonly origin: "config" | "api";
  /** For a pull: when it runs. Pushes run while the stream has a publisher. */
  readonly sourceMode: "always" | "on-demand";
  readonly role: RelayRole;
  readonly lingerMs: number;
}

/** A relay as the API shows it. */
export interface RelayInfo {
  id: string;
  direction: RelayDirection;
  stream: string;
  /** Passphrase hidden. */
  url: string;
  origin: "config" | "api";
  sourceMode: "always" | "on-demand";
  role: RelayRole;
  state: RelayState;
  /** Failed attempts since it last stayed connected. */
  retries: number;
  attempts: number;
  /** The connection of the attempt under way or connected. */
  connectionId: string | null;
  /** Why the last attempt or connection ended. */
  lastError: string | null;
  /** Wall-clock ms of its last state change. */
  since: number;
  /** Ms until the next attempt, while retrying. */
  retryInMs: number | null;
}

/** What the relay manager needs from the server. */
export interface RelayHost {
  /**
   * Starts an attempt of `relayId`: a ready child, a connection in the
   * table, and the stream manager's decision. The connection's id, or
   * undefined when no child is ready yet (the pool is told to start one).
   */
  start(relayId: string, spec: RelaySpec, remote: RelayRemote): string | undefined;
  /** Asks the attempt's child to close its connection and exit. */
  stop(connectionId: string, detail: string): void;
  /** Who publishes and watches stream `name`; undefined when the stream does not exist. */
  audience(
    name: string,
  ): { publisher: string | null; viewers: string[]; waiting: number } | undefined;
  /** Names of the streams that exist now. */
  streamNames(): string[];
  /**
   * How many HTTP clients watch stream `name` now (HTTP-TS connections and
   * HLS clients of the last 30 s, by the media output's last report); none
   * when absent.
   */
  httpViewers?(name: string): number;
  /** The address to call for `hostname` (an IP literal is its own). */
  resolve(hostname: string): Promise<string>;
  monotonicMs(): number;
  wallMs(): number;
  /** A number in [0, 1), for jitter. */
  random(): number;
  log(level: "debug" | "info" | "warning", message: string, relay: RelayInfo): void;
}

/** The first retry's delay; each failure in a row doubles it, up to {@link RETRY_MAX_MS}. */
export const RETRY_FIRST_MS = 1000;
export const RETRY_MAX_MS = 30_000;
/** ± this share of the delay, so that relays failing together do not retry together. */
export const RETRY_JITTER = 0.2;
/** A connection that lasted this long resets the backoff: its end is a new failure, not one more. */
export const RETRY_RESET_MS = 10_000;
/**
 * Pulls held for HTTP requests alone (nobody watching them yet) at once; an
 * HTTP request past them that would start another is not served (404).
 */
export const MAX_HTTP_HELD = 64;
/** How long a relay's attempt may wait for a child before it counts as failed. */
const CHILD_WAIT_MS = 5000;
/** The connect timeout when the URL sets none: libsrt's default. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 3000;

interface Relay {
  readonly id: string;
  spec: RelaySpec;
  /** The parsed URL. */
  readonly target: SrtUrl;
  state: RelayState;
  retries: number;
  attempts: number;
  connectionId: string | undefined;
  /** Monotonic ms the current connection came up. */
  connectedAtMs: number | undefined;
  /** Monotonic ms the attempt began (waiting for a child counts). */
  attemptAtMs: number | undefined;
  /** The attempt's resolved address, while it waits for a child. */
  address: string | undefined;
  lastError: string | undefined;
  /** The failure last logged at warning: the same one again is logged at debug. */
  loggedError: string | undefined;
  retryAtMs: number | undefined;
  sinceMs: number;
  /** Monotonic ms a viewer last watched or waited (on-demand sources). */
  demandAtMs: number | undefined;
  /** Monotonic ms until which it runs whatever its viewers (an HTTP demand not reported yet). */
  heldUntilMs: number | undefined;
  /** Its attempt is being closed because it is no longer wanted (not a failure). */
  stopping: boolean;
}

export class RelayManager {
  #host: RelayHost;
  #config: AtollConfig;
  #relays = new Map<string, Relay>();
  #byConnection = new Map<string, Relay>();
  /** Configured relays stopped through the API: they stay stopped until the config is reloaded. */
  #stopped = new Set<string>();
  #running = true;
  /** Counters since start, for /metrics. */
  readonly counts = { attempts: 0, failures: 0 };

  constructor(config: AtollConfig, host: RelayHost) {
    this.#config = config;
    this.#host = host;
  }

  /** Every relay, as the API shows it. */
  list(): RelayInfo[] {
    return [...this.#relays.values()].map((relay) => this.#info(relay));
  }

  /** The relay whose attempt `connectionId` is. */
  ofConnection(connectionId: string): RelayInfo | undefined {
    const relay = this.#byConnection.get(connectionId);
    return relay === undefined ? undefined : this.#info(relay);
  }

  /** Uses `config` from now on: relays it no longer names stop, new ones start, unchanged ones go on. */
  setConfig(config: AtollConfig): void {
    this.#config = config;
    this.#stopped.clear();
    this.tick();
  }

  /**
   * Adds a relay through the API; throws a TypeError with a message for the
   * user when the URL or stream is not usable, or the same relay exists.
   */
  add(request: RelayRequest): RelayInfo {
    const url = expandName(request.url, request.stream);
    const target = parseSrtUrl(url);
    const spec: RelaySpec = {
      direction: request.direction,
      stream: request.stream,
      url,
      origin: "api",
      sourceMode: request.sourceMode ?? "always",
      role: "primary",
      lingerMs: rulesFor(this.#config, request.stream).sourceLingerMs,
    };
    const id = relayId(spec);
    if (this.#relays.has(id)) throw new TypeError(`Relay ${id} exists already`);
    const source = spec.direction === "pull"
      ? (this.#sourceRule(spec.stream) ??
        [...this.#relays.values()].find((relay) =>
          relay.spec.direction === "pull" && relay.spec.stream === spec.stream
        )?.spec)
      : undefined;
    if (source !== undefined) {
      throw new TypeError(
        `Stream "${spec.stream}" has a source already: ${redactSrtUrl(source.url)}`,
      );
    }
    const relay = this.#create(id, spec, target);
    if (spec.sourceMode === "on-demand") relay.demandAtMs = this.#host.monotonicMs();
    this.tick();
    return this.#info(relay);
  }

  /**
   * Stops relay `id` (closing its connection); false when there is none. An
   * API relay is gone; a configured one stays stopped until the config is
   * reloaded (or Atoll restarts).
   */
  remove(id: string): boolean {
    const relay = this.#relays.get(id);
    if (relay === undefined) return false;
    if (relay.spec.origin === "config") this.#stopped.add(id);
    this.#retire(relay, "info", "stopped through the API");
    return true;
  }

  /**
   * A viewer waits for stream `name`: an on-demand source starts now, and
   * runs at least `holdMs` whatever the viewers then (an HTTP viewer is
   * counted only once the media output reports it). Whether a source of the
   * stream runs now: false when no rule or API relay pulls it, its relay was
   * stopped through the API, or the server is stopping.
   */
  demand(name: string, holdMs = 0): boolean {
    if (!this.#running) return false;
    const nowMs = this.#host.monotonicMs();
    // Any name an edge's rule covers can be asked for over HTTP: pulls held for HTTP requests
    // alone, before anyone watches, are few at once, or made-up names would each start one.
    if (holdMs > 0 && !this.#pulling(name) && this.#heldForHttpAlone(nowMs) >= MAX_HTTP_HELD) {
      return false;
    }
    const relay = this.#ensureSource(name);
    if (relay === undefined) return false;
    relay.demandAtMs = nowMs;
    if (holdMs > 0) relay.heldUntilMs = Math.max(relay.heldUntilMs ?? 0, nowMs + holdMs);
    this.#run(relay, nowMs);
    return this.#wanted(relay, nowMs);
  }

  /** Relay `connectionId`'s child says it is connected. */
  connected(connectionId: string): void {
    const relay = this.#byConnection.get(connectionId);
    if (relay === undefined || relay.connectionId !== connectionId) return;
    relay.connectedAtMs = this.#host.monotonicMs();
    const after = relay.retries === 0 ? "" : ` after ${relay.retries} failed attempt(s)`;
    relay.lastError = undefined;
    relay.loggedError = undefined;
    this.#setState(relay, "connected", "info", `connected${after}`);
  }

  /**
   * Relay attempt `connectionId` is over (its child exited), with what its
   * child said of its end. A relay still wanted retries after its backoff.
   */
  ended(
    connectionId: string,
    closed: { reason: CloseReason; detail: string } | undefined,
  ): void {
    const relay = this.#byConnection.get(connectionId);
    this.#byConnection.delete(connectionId);
    if (relay === undefined || relay.connectionId !== connectionId) return;
    const nowMs = this.#host.monotonicMs();
    const lasted = relay.connectedAtMs === undefined ? undefined : nowMs - relay.connectedAtMs;
    relay.connectionId = undefined;
    relay.connectedAtMs = undefined;
    relay.attemptAtMs = undefined;
    const why = closed === undefined
      ? "its child exited without saying why"
      : `${closed.reason}: ${closed.detail}`;
    if (relay.state === "stopped") return;
    // Refused before it ever connected (no such stream there, say): an HTTP request's hold
    // does not keep retrying it; viewers waiting, or a recent demand, still do.
    if (lasted === undefined && closed?.reason === "rejected") relay.heldUntilMs = undefined;
    if (relay.stopping || !this.#wanted(relay, nowMs)) {
      relay.stopping = false;
      this.#setState(relay, "idle", "info", lasted === undefined ? "idle" : `closed (${why})`);
      this.#dropIfUnneeded(relay);
      return;
    }
    if (lasted !== undefined && lasted >= RETRY_RESET_MS) relay.retries = 0;
    this.#fail(
      relay,
      lasted === undefined ? why : `lost after ${Math.round(lasted / 1000)} s (${why})`,
    );
  }

  /**
   * Brings every relay in line with the config, the streams and the clock:
   * starts what should run, stops what should not, retries what is due.
   */
  tick(): void {
    if (!this.#running) return;
    const nowMs = this.#host.monotonicMs();
    const configured = new Map(
      this.#configured().map((spec) => [relayId(spec), spec] as const).filter(([id]) =>
        !this.#stopped.has(id)
      ),
    );
    for (const [id, spec] of configured) {
      const existing = this.#relays.get(id);
      if (existing === undefined) this.#createFromConfig(id, spec);
      else existing.spec = spec;
    }
    // Viewers without a publisher (adopted after a restart, or whose pull was lost) are demand too.
    for (const name of this.#host.streamNames()) {
      const audience = this.#host.audience(name);
      if (audience === undefined || audience.publisher !== null) continue;
      const watched = audience.waiting > 0 || (this.#host.httpViewers?.(name) ?? 0) > 0 ||
        audience.viewers.some((viewer) => !this.#byConnection.has(viewer));
      const source = watched ? this.#ensureSource(name) : undefined;
      if (source !== undefined) source.demandAtMs = nowMs;
    }
    for (const relay of [...this.#relays.values()]) {
      if (relay.spec.origin === "config" && !configured.has(relay.id) && !this.#onDemand(relay)) {
        this.#retire(relay, "debug", "stopped: its rule no longer asks for it");
      } else this.#run(relay, nowMs);
    }
  }

  /** Whether `relay` is its stream's on-demand source by the rules in use now. */
  #onDemand(relay: Relay): boolean {
    const rule = this.#sourceRule(relay.spec.stream);
    return rule !== undefined && rule.sourceMode === "on-demand" && relayId(rule) === relay.id;
  }

  /** Starts no attempt from now on (the server is stopping or handing over). */
  stop(): void {
    this.#running = false;
  }

  /** The relays for every stream rule as they apply now (on-demand sources only once asked). */
  #configured(): RelaySpec[] {
    const specs: RelaySpec[] = [];
    for (const entry of this.#config.streams) {
      if (entry.name === undefined) continue;
      const rules = rulesFor(this.#config, entry.name);
      if (rules.source !== undefined && rules.sourceMode === "always") {
        specs.push(sourceSpec(entry.name, rules));
      }
    }
    for (const name of this.#host.streamNames()) {
      const audience = this.#host.audience(name);
      if (audience === undefined) continue;
      const pushes = rulesFor(this.#config, name).push ?? [];
      // Pushes follow the stream's publisher; one connected goes on through the grace period.
      for (const url of pushes) {
        const spec: RelaySpec = {
          direction: "push",
          stream: name,
          url: expandName(url, name),
          origin: "config",
          sourceMode: "always",
          role: "primary",
          lingerMs: 0,
        };
        const running = this.#relays.get(relayId(spec))?.connectionId !== undefined;
        if (audience.publisher !== null || running) specs.push(spec);
      }
    }
    return specs;
  }

  /** Stream `name`'s source rule as a relay, `{name}` expanded; undefined when it has none. */
  #sourceRule(name: string): RelaySpec | undefined {
    const rules = rulesFor(this.#config, name);
    return rules.source === undefined ? undefined : sourceSpec(name, rules);
  }

  /** Stream `name`'s source relay, made if its rule has one; undefined when it has none. */
  #ensureSource(name: string): Relay | undefined {
    const spec = this.#sourceRule(name);
    if (spec === undefined) {
      return [...this.#relays.values()].find((relay) =>
        relay.spec.origin === "api" && relay.spec.direction === "pull" &&
        relay.spec.stream === name && relay.state !== "stopped"
      );
    }
    const id = relayId(spec);
    if (this.#stopped.has(id)) return undefined;
    return this.#relays.get(id) ?? this.#createFromConfig(id, spec);
  }

  #createFromConfig(id: string, spec: RelaySpec): Relay | undefined {
    let target: SrtUrl;
    try {
      target = parseSrtUrl(spec.url);
    } catch {
      // The config was validated when it was loaded: a stream name that makes the URL invalid.
      return undefined;
    }
    return this.#create(id, spec, target);
  }

  #create(id: string, spec: RelaySpec, target: SrtUrl): Relay {
    const relay: Relay = {
      id,
      spec,
      target,
      state: "idle",
      retries: 0,
      attempts: 0,
      connectionId: undefined,
      connectedAtMs: undefined,
      attemptAtMs: undefined,
      address: undefined,
      lastError: undefined,
      loggedError: undefined,
      retryAtMs: undefined,
      sinceMs: this.#host.monotonicMs(),
      demandAtMs: undefined,
      heldUntilMs: undefined,
      stopping: false,
    };
    this.#relays.set(id, relay);
    return relay;
  }

  /** Does for `relay` what its state and the streams call for now. */
  #run(relay: Relay, nowMs = this.#host.monotonicMs()): void {
    if (!this.#running || relay.state === "stopped") return;
    const audience = this.#host.audience(relay.spec.stream);
    if (relay.spec.direction === "pull" && relay.spec.sourceMode === "on-demand") {
      const watchers = (audience?.viewers.filter((id) => !this.#byConnection.has(id)).length ?? 0) +
        (audience?.waiting ?? 0) + (this.#host.httpViewers?.(relay.spec.stream) ?? 0);
      if (watchers > 0) relay.demandAtMs = nowMs;
    }
    const wanted = this.#wanted(relay, nowMs);
    if (relay.connectionId !== undefined) {
      if (!wanted && !relay.stopping) {
        relay.stopping = true;
        this.#host.stop(relay.connectionId, this.#whyNotWanted(relay));
      } else if (relay.state === "connecting" && relay.attemptAtMs !== undefined) {
        // A child that neither connects nor gives up within its own timeout is stuck: closed, it fails.
        const limitMs = (relay.target.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS) +
          2 * CHILD_WAIT_MS;
        if (nowMs - relay.attemptAtMs > limitMs) {
          this.#host.stop(relay.connectionId, `no connection within ${limitMs} ms`);
        }
      }
      return;
    }
    if (!wanted) {
      if (relay.state !== "idle") this.#setState(relay, "idle", "debug", this.#whyNotWanted(relay));
      relay.retryAtMs = undefined;
      this.#dropIfUnneeded(relay);
      return;
    }
    if (relay.state === "connecting") {
      // Resolved, and waiting for a child: try again (still resolving: nothing to do).
      if (relay.address !== undefined) this.#launch(relay, relay.attempts, relay.address);
      return;
    }
    if (relay.state === "retrying" && (relay.retryAtMs ?? 0) > nowMs) return;
    this.#attempt(relay, nowMs);
  }

  /** Whether a pull of stream `name` is under way (connecting, connected or retrying). */
  #pulling(name: string): boolean {
    for (const relay of this.#relays.values()) {
      if (
        relay.spec.direction === "pull" && relay.spec.stream === name &&
        relay.state !== "idle" && relay.state !== "stopped"
      ) return true;
    }
    return false;
  }

  /** Pulls wanted now only for an HTTP request's hold: nobody watches them yet. */
  #heldForHttpAlone(nowMs: number): number {
    let count = 0;
    for (const relay of this.#relays.values()) {
      if (relay.heldUntilMs === undefined || nowMs >= relay.heldUntilMs) continue;
      const name = relay.spec.stream;
      const audience = this.#host.audience(name);
      const watched = (audience?.waiting ?? 0) + (audience?.viewers.length ?? 0) +
        (this.#host.httpViewers?.(name) ?? 0);
      if (watched === 0) count++;
    }
    return count;
  }

  /** Whether `relay` should be connected now. */
  #wanted(relay: Relay, nowMs: number): boolean {
    if (!this.#running || relay.state === "stopped") return false;
    const { spec } = relay;
    const audience = this.#host.audience(spec.stream);
    if (spec.direction === "push") {
      return audience !== undefined &&
        (audience.publisher !== null || relay.connectionId !== undefined);
    }
    if (
      spec.role === "backup" && audience?.publisher != null &&
      audience.publisher !== relay.connectionId
    ) {
      return false;
    }
    if (spec.sourceMode === "always") return true;
    if (relay.heldUntilMs !== undefined && nowMs < relay.heldUntilMs) return true;
    return relay.demandAtMs !== undefined && nowMs - relay.demandAtMs <= spec.lingerMs;
  }

  #whyNotWanted(relay: Relay): string {
    const { spec } = relay;
    if (!this.#running) return "the server is stopping";
    if (spec.direction === "push") return `stream "${spec.stream}" has no publisher`;
    if (spec.role === "backup") return `a publisher holds stream "${spec.stream}"`;
    return `nobody watched stream "${spec.stream}" for ${spec.lingerMs} ms`;
  }

  /** Starts an attempt: resolves the host, then asks the host for a child. */
  #attempt(relay: Relay, nowMs: number): void {
    relay.attempts++;
    this.counts.attempts++;
    relay.attemptAtMs = nowMs;
    relay.retryAtMs = undefined;
    this.#setState(relay, "connecting", "debug", `attempt ${relay.attempts}`);
    const attempt = relay.attempts;
    this.#host.resolve(relay.target.hostname).then(
      (address) => this.#launch(relay, attempt, address),
      (error) => {
        if (relay.attempts !== attempt || relay.state !== "connecting") return;
        this.#fail(relay, `cannot resolve "${relay.target.hostname}": ${messageOf(error)}`);
      },
    );
  }

  /** Hands the resolved attempt to a child; while none is ready, tries again at each tick. */
  #launch(relay: Relay, attempt: number, address: string): void {
    if (relay.attempts !== attempt || relay.state !== "connecting" || !this.#running) return;
    if (relay.connectionId !== undefined) return;
    let connectionId: string | undefined;
    try {
      connectionId = this.#host.start(relay.id, relay.spec, this.#remote(relay, address));
    } catch (error) {
      this.#fail(relay, `cannot start its child: ${messageOf(error)}`);
      return;
    }
    if (connectionId === undefined) {
      const waited = this.#host.monotonicMs() - (relay.attemptAtMs ?? 0);
      if (waited > CHILD_WAIT_MS) {
        this.#fail(relay, `no child was ready within ${CHILD_WAIT_MS} ms`);
      } else relay.address = address;
      return;
    }
    relay.address = undefined;
    relay.connectionId = connectionId;
    this.#byConnection.set(connectionId, relay);
  }

  #remote(relay: Relay, address: string): RelayRemote {
    const { target, spec } = relay;
    const latencyMs = target.latencyMs ?? rulesFor(this.#config, spec.stream).latencyMs;
    return {
      url: redactSrtUrl(spec.url),
      hostname: address,
      port: target.port,
      ...(target.streamId === undefined ? {} : { streamId: target.streamId }),
      ...(target.passphrase === undefined ? {} : { passphrase: target.passphrase }),
      ...(target.pbkeylen === undefined ? {} : { pbkeylen: target.pbkeylen }),
      ...(latencyMs === undefined ? {} : { latencyMs }),
      connectTimeoutMs: target.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      ...(target.mode === "rendezvous"
        ? { rendezvous: { localPort: target.localPort ?? target.port } }
        : {}),
    };
  }

  /** The attempt failed or the connection was lost: retry after the backoff. */
  #fail(relay: Relay, why: string): void {
    this.counts.failures++;
    relay.retries++;
    relay.lastError = why;
    relay.attemptAtMs = undefined;
    relay.address = undefined;
    const delayMs = retryDelayMs(relay.retries, this.#host.random());
    relay.retryAtMs = this.#host.monotonicMs() + delayMs;
    const seconds = (delayMs / 1000).toFixed(1);
    const level = relay.loggedError === why ? "debug" : "warning";
    relay.loggedError = why;
    const quiet = level === "warning" && relay.retries === 1
      ? " (the same failure again is logged at debug level)"
      : "";
    this.#setState(relay, "retrying", level, `${why}; retrying in ${seconds} s${quiet}`);
  }

  #closeAttempt(relay: Relay, detail: string): void {
    if (relay.connectionId === undefined) return;
    relay.stopping = true;
    this.#host.stop(relay.connectionId, detail);
  }

  /** An idle on-demand source of a config rule is dropped: it is made again on demand. */
  #dropIfUnneeded(relay: Relay): void {
    const { spec } = relay;
    if (spec.origin !== "config" || relay.connectionId !== undefined) return;
    const onDemand = spec.direction === "pull" && spec.sourceMode === "on-demand";
    const pushWithoutStream = spec.direction === "push" &&
      this.#host.audience(spec.stream)?.publisher == null;
    if ((onDemand || pushWithoutStream) && relay.state === "idle") this.#relays.delete(relay.id);
  }

  /** Ends `relay` for good: its attempt is closed, and it is forgotten. */
  #retire(relay: Relay, level: "debug" | "info", why: string): void {
    this.#setState(relay, "stopped", level, why);
    relay.retryAtMs = undefined;
    this.#closeAttempt(relay, `the relay was ${why}`);
    this.#relays.delete(relay.id);
  }

  #setState(
    relay: Relay,
    state: RelayState,
    level: "debug" | "info" | "warning",
    what: string,
  ): void {
    const changed = relay.state !== state;
    relay.state = state;
    if (changed) relay.sinceMs = this.#host.monotonicMs();
    if (changed || level !== "debug") {
      this.#host.log(changed ? level : "debug", what, this.#info(relay));
    }
  }

  #info(relay: Relay): RelayInfo {
    const nowMs = this.#host.monotonicMs();
    return {
      id: relay.id,
      direction: relay.spec.direction,
      stream: relay.spec.stream,
      url: redactSrtUrl(relay.spec.url),
      origin: relay.spec.origin,
      sourceMode: relay.spec.sourceMode,
      role: relay.spec.role,
      state: relay.state,
      retries: relay.retries,
      attempts: relay.attempts,
      connectionId: relay.connectionId ?? null,
      lastError: relay.lastError ?? null,
      since: Math.round(this.#host.wallMs() - (nowMs - relay.sinceMs)),
      retryInMs: relay.state === "retrying" && relay.retryAtMs !== undefined
        ? Math.max(0, Math.round(relay.retryAtMs - nowMs))
        : null,
    };
  }
}

/**
 * A relay's id: which way, which stream, and where: a hash of the URL as
 * shown, without its secrets (a hash of a passphrase would let anyone who
 * reads the API test guesses of it).
 */
export function relayId(spec: Pick<RelaySpec, "direction" | "stream" | "url">): string {
  return `${spec.direction}:${spec.stream}@${shortHash(redactSrtUrl(spec.url))}`;
}

/** The delay before retry number `retries` (1 for the first): doubling, capped, with jitter. */
export function retryDelayMs(retries: number, random: number): number {
  const base = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** Math.max(0, retries - 1));
  return Math.round(base * (1 - RETRY_JITTER + 2 * RETRY_JITTER * random));
}

function sourceSpec(name: string, rules: StreamRules): RelaySpec {
  return {
    direction: "pull",
    stream: name,
    url: expandName(rules.source!, name),
    origin: "config",
    sourceMode: rules.sourceMode,
    role: rules.sourceRole,
    lingerMs: rules.sourceLingerMs,
  };
}

/** FNV-1a, 32 bits, as 8 hex digits: tells URLs apart in ids without showing them. */
function shortHash(text: string): string {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) {
    hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A relay to add through the API (`POST /api/relays`). */
export interface RelayRequest {
  direction: RelayDirection;
  stream: string;
  url: string;
  sourceMode?: "always" | "on-demand";
}

const RELAY_REQUEST_KEYS = ["direction", "stream", "url", "sourceMode"];

/** Checks a `POST /api/relays` body; throws a TypeError that says what is wrong. */
export function parseRelayRequest(body: unknown): RelayRequest {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new TypeError("Expected a JSON object: {direction, stream, url}");
  }
  const record = body as Record<string, unknown>;
  const unknown = Object.keys(record).find((key) => !RELAY_REQUEST_KEYS.includes(key));
  if (unknown !== undefined) {
    throw new TypeError(`Unknown key "${unknown}": expected ${RELAY_REQUEST_KEYS.join(", ")}`);
  }
  const { direction, stream, url, sourceMode } = record;
  if (direction !== "pull" && direction !== "push") {
    throw new TypeError(`"direction" must be "pull" or "push", got ${JSON.stringify(direction)}`);
  }
  if (typeof stream !== "string" || !isStreamName(stream)) {
    throw new TypeError(
      `"stream" must be a stream name ("/"-separated segments of A-Z a-z 0-9 . _ ~ -), got ${
        JSON.stringify(stream)?.slice(0, 80)
      }`,
    );
  }
  if (typeof url !== "string") throw new TypeError(`"url" must be an srt:// URL`);
  if (sourceMode !== undefined) {
    if (direction !== "pull") throw new TypeError(`"sourceMode" is for a pull only`);
    if (sourceMode !== "always" && sourceMode !== "on-demand") {
      throw new TypeError(`"sourceMode" must be "always" or "on-demand"`);
    }
  }
  return { direction, stream, url, ...(sourceMode === undefined ? {} : { sourceMode }) };
}
