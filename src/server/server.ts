/**
 * The main process: owns the public SRT port, classifies every datagram,
 * hands each new peer's connected UDP socket to a child of its own, keeps a
 * pool of prestarted children, and serves the HTTP API.
 *
 * All state changes happen on this one JS thread: datagrams, child reports
 * and child exits are events handled here in turn, and {@link PeerTable} is
 * changed nowhere else.
 *
 * @module
 */

import {
  closeOnExecAbove,
  openConnectedUdpSocket,
  type QueuedDatagram,
  raiseFileLimit,
  takeQueuedDatagrams,
} from "../../ffi/socket.ts";
import { formatSrtVersion, libsrt } from "../../ffi/libsrt.ts";
import { classifyDatagram, DATAGRAM_KINDS, startsConnection } from "../protocol/classify.ts";
import { buildChildCommand, type ChildRuntime } from "./child_command.ts";
import { FAST_HANDSHAKE_VERSIONS } from "../protocol/induction_response.ts";
import { RejectCode } from "../protocol/reject_codes.ts";
import { describeMode, redactStreamId } from "../protocol/stream_id.ts";
import { hexFromBytes } from "../ipc/hex.ts";
import { logger } from "./log.ts";
import {
  type ChildMessage,
  CLOSE_REASONS,
  type CloseReason,
  emptyLinkStats,
  type Endpoint,
  type LinkStats,
  type PeerSettings,
  type StreamMode,
  type ViewerStats,
} from "../ipc/messages.ts";
import { formatHostPort, resolveOptions, type ServerOptions } from "../config/options.ts";
import { PeerTable, REFUSALS } from "./peer_table.ts";
import { type ChildEvents, ChildHandle } from "./child_handle.ts";
import { type ApiAccess, type ApiServer, type ReloadResult, serveHttp } from "./api.ts";
import {
  type AtollConfig,
  ConfigError,
  DEFAULT_CONFIG,
  loadConfig,
} from "../config/config_file.ts";
import { type StreamInfo, StreamManager } from "./stream_manager.ts";
import {
  CHILD_START_BUCKETS,
  HANDSHAKE_BUCKETS,
  Histogram,
  type MetricsSnapshot,
  renderMetrics,
} from "./metrics.ts";
import { bindError, StartupError } from "./startup_error.ts";
import type { ConnectionInfo, DropReason, ServerCounters, ServerStats } from "./api_types.ts";

export { StartupError };
export type { ConnectionInfo, DropReason, ServerCounters, ServerStats } from "./api_types.ts";

export const DROP_REASONS: readonly DropReason[] = [
  "not-connection-start",
  "peer-has-child",
  "shutting-down",
  "handoff-failed",
  ...REFUSALS,
];

interface Connection {
  id: string;
  child: ChildHandle;
  peer: Endpoint;
  startedAt: number;
  /** performance.now() when the peer was handed to its child. */
  handedOverAt: number;
  connectedAt?: number;
  handshakeMs?: number;
  streamId?: string;
  mode: StreamMode;
  encrypted: boolean;
  stats: LinkStats;
  viewer?: ViewerStats;
  /** The stream, once the access decision accepted the connection. */
  stream?: string;
  closed?: { reason: CloseReason; detail: string };
}

const log = logger("server");

/** Descriptors the main process holds per connection: three pipes and the socket pair. */
const FILES_PER_CONNECTION = 4;

/** How much longer than the play wait a child waits for its decision. */
const DECISION_SLACK_MS = 5000;

function countersOf<K extends string>(keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((key) => [key, 0])) as Record<K, number>;
}

/** Source-mode child: this module's sibling workers/peer.ts. */
const WORKER_URL = new URL("../../workers/peer.ts", import.meta.url);

function defaultRuntime(): ChildRuntime {
  return {
    execPath: Deno.execPath(),
    standalone: Deno.build.standalone,
    workerUrl: WORKER_URL,
    env: Deno.env.toObject(),
  };
}

export interface StartOptions {
  /** How children are started; defaults to this process re-executing itself. */
  runtime?: ChildRuntime;
  /** Stream rules; otherwise read from `options.configPath`, or the built-in defaults. */
  config?: AtollConfig;
}

/** A running Atoll server. Start one with {@link AtollServer.start}. */
export class AtollServer implements ApiServer {
  readonly options: ServerOptions;
  readonly srtVersion: number;
  /** Whether the fast handshake is in use (asked for, known version, self-test passed). */
  readonly fastHandshake: boolean;
  readonly counters: ServerCounters = {
    datagrams: countersOf(DATAGRAM_KINDS),
    dropped: countersOf(DROP_REASONS),
    childrenStarted: 0,
    childrenCrashed: 0,
    connectionsAccepted: 0,
    connectionsClosed: countersOf([...CLOSE_REASONS, "crashed"]),
  };
  #runtime: ChildRuntime;
  #udp: Deno.DatagramConn;
  #http: Deno.HttpServer<Deno.NetAddr> | undefined;
  #srtAddress: Endpoint;
  #peers: PeerTable<Connection>;
  #connectionsByChild = new Map<ChildHandle, Connection>();
  #connectionsById = new Map<string, Connection>();
  #streams: StreamManager;
  #config: AtollConfig;
  #childStartSeconds = new Histogram(CHILD_START_BUCKETS);
  #handshakeSeconds = new Histogram(HANDSHAKE_BUCKETS);
  #pool: ChildHandle[] = [];
  #poolFailures = 0;
  #poolRefill: ReturnType<typeof setTimeout> | undefined;
  #stopping = false;
  /** Other peers' datagrams caught by a new socket before its connect(). */
  #strays: QueuedDatagram[] = [];
  #finished = Promise.withResolvers<void>();
  #receiveLoop: Promise<void>;

  private constructor(
    options: ServerOptions,
    srtVersion: number,
    fastHandshake: boolean,
    runtime: ChildRuntime,
    udp: Deno.DatagramConn,
    config: AtollConfig,
  ) {
    this.options = options;
    this.#config = config;
    this.#streams = new StreamManager(config, {
      answer: (id, decision, fd) => {
        const connection = this.#connectionsById.get(id);
        if (connection === undefined) return;
        if (decision.type === "accept") connection.stream = decision.stream;
        connection.child.answer(decision, fd);
      },
      close: (id, detail) => this.#connectionsById.get(id)?.child.requestShutdown(detail),
      alive: (id) => this.#connectionsById.get(id)?.child.exited === false,
      log: (level, what, id) => {
        const connection = this.#connectionsById.get(id);
        if (connection === undefined) log[level]("Connection {id}: {what}", { id, what });
        else log[level]("Connection {id} from {peer}: {what}", { ...logContext(connection), what });
      },
    });
    this.srtVersion = srtVersion;
    this.fastHandshake = fastHandshake;
    this.#runtime = runtime;
    this.#udp = udp;
    const addr = udp.addr as Deno.NetAddr;
    this.#srtAddress = { hostname: addr.hostname, port: addr.port };
    this.#peers = new PeerTable(options);
    this.#receiveLoop = this.#receive();
  }

  /**
   * Checks libsrt, runs the fast-handshake self-test, binds the SRT and HTTP
   * ports and prestarts the child pool. Throws {@link StartupError} for
   * problems a user can fix.
   */
  static async start(
    partial: Partial<ServerOptions> = {},
    startOptions: StartOptions = {},
  ): Promise<AtollServer> {
    const options = resolveOptions(partial);
    if (Deno.build.os !== "linux") {
      throw new StartupError(
        `Atoll runs on Linux only (it shares connected UDP sockets with libsrt), not on ${Deno.build.os}`,
      );
    }
    const runtime = startOptions.runtime ?? defaultRuntime();
    const config = startOptions.config ?? await readConfig(options.configPath);
    // Children must inherit nothing but their own control socket.
    closeOnExecAbove(3);
    const wantedFiles = options.maxConnections * FILES_PER_CONNECTION + 256;
    const files = raiseFileLimit(wantedFiles);
    if (files.soft < wantedFiles) {
      log.warning(
        "Open-file limit {limit} is below the {wanted} that {max} connections need; raise the hard limit (ulimit -Hn)",
        { limit: files.soft, wanted: wantedFiles, max: options.maxConnections },
      );
    }
    const srtVersion = loadLibsrtVersion();
    const fastHandshake = await decideFastHandshake(options, srtVersion, runtime);
    const udp = listenSrt(options);
    const server = new AtollServer(options, srtVersion, fastHandshake, runtime, udp, config);
    try {
      server.#http = serveHttp(server, options.httpListen);
    } catch (error) {
      udp.close();
      throw error;
    }
    server.#fillPool();
    server.#warnAboutIgnoredToken();
    log.info("SRT listening on {srt}, HTTP on {http}; libsrt {version}, fast handshake {fast}", {
      srt: formatHostPort(server.srtAddress),
      http: formatHostPort(server.httpAddress),
      version: formatSrtVersion(srtVersion),
      fast: fastHandshake ? "on" : "off",
    });
    return server;
  }

  /** The bound SRT address (the real port when 0 was asked for). */
  get srtAddress(): Endpoint {
    return this.#srtAddress;
  }

  get httpAddress(): Endpoint {
    const addr = this.#http?.addr;
    return addr ? { hostname: addr.hostname, port: addr.port } : this.options.httpListen;
  }

  /** True while the SRT port is bound and the server is not stopping. */
  get healthy(): boolean {
    return !this.#stopping;
  }

  /** Resolves once the server has shut down. */
  get finished(): Promise<void> {
    return this.#finished.promise;
  }

  /** Pids of the prestarted children ready for a connection (libsrt loaded). */
  get idleChildren(): number[] {
    return this.#pool.filter((child) => child.ready).map((child) => child.pid);
  }

  /** Prestarted children still starting up. */
  get startingChildren(): number {
    return this.#pool.filter((child) => !child.ready).length;
  }

  /** Who may use the HTTP API: the token from the options, else the config's. */
  get access(): ApiAccess {
    return {
      token: this.options.apiToken ?? this.#config.apiToken,
      protectReads: this.#config.apiTokenForReads,
    };
  }

  /** One connection as `/api/connections` shows it, if there is one with this id. */
  connection(id: string): ConnectionInfo | undefined {
    const connection = this.#connectionsById.get(id);
    const entry = connection && this.#peers.get(formatHostPort(connection.peer));
    return entry === undefined ? undefined : this.#info(entry.value, entry.state);
  }

  /** What `GET /api/stats` shows. */
  stats(): ServerStats {
    return {
      srtVersion: this.srtVersion,
      fastHandshake: this.fastHandshake,
      idleChildren: this.idleChildren.length,
      startingChildren: this.startingChildren,
      connections: this.#peers.size,
      ...this.counters,
    };
  }

  /** Says so when the config's apiToken is set but the command line's wins. */
  #warnAboutIgnoredToken(): void {
    if (this.options.apiToken !== undefined && this.#config.apiToken !== undefined) {
      log.warning(
        "apiToken in the config file is ignored: --api-token or ATOLL_API_TOKEN is set and wins",
      );
    }
  }

  /** Everything `GET /metrics` shows, at this moment. */
  metricsSnapshot(): MetricsSnapshot {
    // Every code Atoll can send, so a counter exists before its first increment.
    const rejections: Record<string, number> = Object.fromEntries(
      Object.values(RejectCode).map((code) => [String(code), 0]),
    );
    return {
      counters: this.counters,
      rejections: { ...rejections, ...this.#streams.rejections() },
      childStartSeconds: this.#childStartSeconds.snapshot(),
      handshakeSeconds: this.#handshakeSeconds.snapshot(),
      connections: this.connections(),
      streams: this.streams(),
      idleChildren: this.idleChildren.length,
      startingChildren: this.startingChildren,
    };
  }

  /** `GET /metrics`: the Prometheus text exposition. */
  metrics(): string {
    return renderMetrics(this.metricsSnapshot());
  }

  /** Asks the connection's child to close it (the peer is told at once); false when unknown. */
  closeConnection(id: string): boolean {
    const connection = this.#connectionsById.get(id);
    if (connection === undefined) return false;
    log.info("Connection {id} from {peer}: closing, asked through the API", logContext(connection));
    // A caller still waiting for its decision is told no, or its child could not listen.
    this.#streams.cancel(id, RejectCode.Forbidden, "closed through the API");
    connection.child.requestShutdown("closed through the API");
    return true;
  }

  /** Closes the stream's publisher and viewers; false when there is no such stream. */
  endStream(name: string): boolean {
    const ended = this.#streams.endStream(name, "ended through the API");
    if (ended) log.info("Stream {stream} ended through the API", { stream: JSON.stringify(name) });
    return ended;
  }

  /**
   * Reads the config file again and uses it for every later decision;
   * connections already up are not touched. An invalid file changes
   * nothing and says why.
   */
  async reload(): Promise<ReloadResult> {
    const path = this.options.configPath;
    if (path === undefined) {
      return {
        ok: false,
        error: "Atoll was started without --config, so there is no file to read",
      };
    }
    let config: AtollConfig;
    try {
      config = await loadConfig(path);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      log.error("Config not reloaded, the old one stays: {error}", { error: message });
      return { ok: false, error: message };
    }
    this.#config = config;
    this.#streams.setConfig(config);
    log.info("Config reloaded from {path}", { path });
    this.#warnAboutIgnoredToken();
    return { ok: true, source: path };
  }

  connections(): ConnectionInfo[] {
    return [...this.#peers.values()].map(({ state, value }) => this.#info(value, state));
  }

  /** One connection as the API shows it. */
  #info(c: Connection, state: ConnectionInfo["state"]): ConnectionInfo {
    return {
      id: c.id,
      pid: c.child.pid,
      peer: formatHostPort(c.peer),
      // Without credentials a caller may have put in it (s=, tokens).
      streamId: c.streamId === undefined ? null : redactStreamId(c.streamId),
      stream: this.#streams.streamOf(c.id),
      mode: c.mode,
      state,
      encrypted: c.encrypted,
      startedAt: new Date(c.startedAt).toISOString(),
      connectedAt: c.connectedAt === undefined ? null : new Date(c.connectedAt).toISOString(),
      handshakeMs: c.handshakeMs ?? null,
      viewer: c.viewer ?? null,
      ...c.stats,
    };
  }

  /** The live streams, as `GET /api/streams` shows them. */
  streams(): StreamInfo[] {
    return this.#streams.streams();
  }

  /**
   * Stops accepting, asks every child to close its connection (peers see a
   * shutdown, not a timeout), waits up to the shutdown timeout, kills what
   * remains, then closes the HTTP server.
   */
  async shutdown(): Promise<void> {
    if (this.#stopping) return this.#finished.promise;
    this.#stopping = true;
    clearTimeout(this.#poolRefill);
    this.#udp.close();
    await this.#receiveLoop;
    const children = [...this.#pool, ...this.#connectionsByChild.keys()];
    log.info("Shutting down: closing {count} connection(s)", { count: this.#peers.size });
    // Children blocked waiting for a decision cannot read their stdin: answer them first.
    this.#streams.cancelAll(RejectCode.Down, "the server is shutting down");
    for (const child of children) child.requestShutdown();
    const all = Promise.all(children.map((child) => child.done));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), this.options.shutdownTimeoutMs);
    });
    if (await Promise.race([all, deadline]) === "timeout") {
      const left = children.filter((child) => !child.exited);
      log.warning("Killing {count} child(ren) still running after {ms} ms", {
        count: left.length,
        ms: this.options.shutdownTimeoutMs,
      });
      for (const child of left) child.kill("SIGKILL");
      await all;
    }
    clearTimeout(timer);
    this.#streams.close();
    await this.#http?.shutdown();
    log.info("Stopped");
    this.#finished.resolve();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }

  async #receive(): Promise<void> {
    const buffer = new Uint8Array(2048);
    for (;;) {
      let bytes: Uint8Array;
      let from: Deno.Addr;
      try {
        [bytes, from] = await this.#udp.receive(buffer);
      } catch (error) {
        if (this.#stopping) return;
        log.error("SRT socket failed: {error}", { error: String(error) });
        continue;
      }
      try {
        this.#handleDatagram(bytes, from as Deno.NetAddr);
        // Handing over may have caught other peers' datagrams: classify them
        // as if the listening socket had received them (bounded: each
        // hand-over takes at most 256).
        for (let stray; (stray = this.#strays.shift()) !== undefined;) {
          this.#handleDatagram(stray.bytes, { transport: "udp", ...stray.from });
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

  #handleDatagram(bytes: Uint8Array, from: Deno.NetAddr): void {
    const datagram = classifyDatagram(bytes);
    this.counters.datagrams[datagram.kind]++;
    if (!startsConnection(datagram)) return this.#drop("not-connection-start");
    const peer = { hostname: from.hostname, port: from.port };
    const key = formatHostPort(peer);
    if (this.#peers.get(key) !== undefined) return this.#drop("peer-has-child");
    if (this.#stopping) return this.#drop("shutting-down");
    let admission;
    try {
      admission = this.#peers.admit(
        key,
        ipOf(peer.hostname),
        performance.now(),
        () => this.#handOver(peer, bytes, datagram.kind === "wave-a-hand"),
      );
    } catch (error) {
      log.error("Cannot hand {peer} to a child: {error}", { peer: key, error: String(error) });
      return this.#drop("handoff-failed");
    } finally {
      this.#fillPool();
    }
    if (!admission.ok) {
      log.debug("Refused {peer}: {refusal}", { peer: key, refusal: admission.refusal });
      return this.#drop(admission.refusal);
    }
    const { child, id } = admission.entry.value;
    log.debug("Peer {peer} handed to child {pid} as connection {id}", {
      peer: key,
      pid: child.pid,
      id,
    });
  }

  /**
   * Gives `peer` its own connected UDP socket and a child to drive it. From
   * the socket's `connect()` on, the kernel delivers the peer's datagrams to
   * it, not to the listening socket.
   */
  #handOver(peer: Endpoint, handshake: Uint8Array, rendezvous: boolean): Connection {
    const udpFd = openConnectedUdpSocket(this.#srtAddress, peer);
    const peerKey = formatHostPort(peer);
    for (const queued of takeQueuedDatagrams(udpFd.fd)) {
      // The peer's own queued datagrams are induction retransmissions, which
      // the child answers anyway; anyone else's go back to the classifier.
      if (formatHostPort(queued.from) === peerKey) this.#drop("peer-has-child");
      else this.#strays.push(queued);
    }
    let child: ChildHandle | undefined;
    try {
      child = this.#takeChild();
      const connection: Connection = {
        id: crypto.randomUUID(),
        child,
        peer,
        startedAt: Date.now(),
        handedOverAt: performance.now(),
        mode: "publish",
        encrypted: false,
        stats: emptyLinkStats(),
      };
      child.assign({
        type: "assign",
        connectionId: connection.id,
        local: this.#srtAddress,
        peer,
        handshake: hexFromBytes(handshake.subarray(0, 64)),
        rendezvous,
        settings: peerSettings(this.options, this.fastHandshake, this.#config),
      }, udpFd.fd);
      this.#connectionsByChild.set(child, connection);
      this.#connectionsById.set(connection.id, connection);
      return connection;
    } catch (error) {
      child?.kill();
      throw error;
    } finally {
      // The child holds its own copy now (or none, on failure).
      udpFd.close();
    }
  }

  #drop(reason: DropReason): void {
    this.counters.dropped[reason]++;
  }

  /** An idle prestarted child, or a new one when the pool is empty. */
  /** A ready prestarted child, else one still starting, else a new one. */
  #takeChild(): ChildHandle {
    const ready = this.#pool.findIndex((child) => child.ready);
    if (ready >= 0) return this.#pool.splice(ready, 1)[0]!;
    return this.#pool.shift() ?? this.#spawn();
  }

  #spawn(): ChildHandle {
    const child = ChildHandle.spawn(
      (controlFd) => buildChildCommand(this.#runtime, ["--control-fd", String(controlFd)]),
      this.#childEvents,
    );
    this.counters.childrenStarted++;
    return child;
  }

  /** Tops the pool up to its size, backing off while children die young. */
  #fillPool(): void {
    if (this.#stopping || this.#poolRefill !== undefined) return;
    try {
      while (this.#pool.length < this.options.poolSize) this.#pool.push(this.#spawn());
    } catch (error) {
      log.error("Cannot start a child: {error}", { error: String(error) });
      this.#schedulePoolRefill();
    }
  }

  #schedulePoolRefill(): void {
    if (this.#stopping || this.#poolRefill !== undefined) return;
    const delay = Math.min(30_000, 250 * 2 ** Math.min(this.#poolFailures, 7));
    this.#poolRefill = setTimeout(() => {
      this.#poolRefill = undefined;
      this.#fillPool();
    }, delay);
  }

  #childEvents: ChildEvents = {
    onMessage: (child, message) => this.#onChildMessage(child, message),
    onOutput: (child, line) => {
      const connection = this.#connectionsByChild.get(child);
      if (connection === undefined) log.warning("Child {pid}: {line}", { pid: child.pid, line });
      else {
        log.warning("Connection {id} from {peer}: its child wrote: {line}", {
          ...logContext(connection),
          line,
        });
      }
    },
    onExit: (child, status) => this.#onChildExit(child, status),
  };

  #onChildMessage(child: ChildHandle, message: ChildMessage): void {
    const connection = this.#connectionsByChild.get(child);
    if (message.type === "ready") {
      this.#poolFailures = 0;
      this.#childStartSeconds.observe((performance.now() - child.startedAt) / 1000);
      return;
    }
    if (connection === undefined) return;
    const context = logContext(connection);
    switch (message.type) {
      case "request":
        connection.streamId = message.streamId;
        // Known from the stream id already: a held viewer is a viewer.
        connection.mode = describeMode(message.streamId);
        if (this.#stopping) {
          child.answer({ type: "reject", code: RejectCode.Down, reason: "server shutting down" });
        } else {
          this.#streams.request(connection.id, message.streamId, formatHostPort(connection.peer))
            .catch((error) => {
              log.error("Connection {id}: deciding its request failed: {error}", {
                ...context,
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
      case "connected":
        connection.connectedAt = Date.now();
        connection.streamId = message.streamId;
        connection.mode = message.mode;
        connection.encrypted = message.encrypted;
        // From the handover, so a wait for a child to start (or for the
        // access decision) counts too; the child's own figure is in the log.
        connection.handshakeMs = Math.round((performance.now() - connection.handedOverAt) * 10) /
          10;
        this.#handshakeSeconds.observe(connection.handshakeMs / 1000);
        this.#peers.markConnected(formatHostPort(connection.peer));
        this.counters.connectionsAccepted++;
        log.info(
          "Connection {id} from {peer} up in {handshakeMs} ms ({childMs} ms in its child): {mode} {streamId}, {encryption}",
          {
            ...context,
            handshakeMs: connection.handshakeMs,
            childMs: message.handshakeMs,
            streamId: JSON.stringify(redactStreamId(message.streamId)),
            mode: message.mode,
            encryption: message.encrypted ? "encrypted" : "unencrypted",
          },
        );
        break;
      case "stats":
        connection.stats = message.stats;
        this.#streams.publisherBytes(connection.id, message.stats.bytesReceived);
        if (message.viewer !== undefined) {
          connection.viewer = message.viewer;
          this.#streams.viewerSkips(connection.id, message.viewer.skips);
        }
        break;
      case "log":
        log[message.level]("Connection {id} from {peer}: {message}", {
          ...context,
          message: message.message,
        });
        break;
      case "closed":
        connection.closed = { reason: message.reason, detail: message.detail };
        if (message.stats !== null) connection.stats = message.stats;
        break;
    }
  }

  #onChildExit(child: ChildHandle, status: Deno.CommandStatus): void {
    const poolIndex = this.#pool.indexOf(child);
    if (poolIndex >= 0) {
      this.#pool.splice(poolIndex, 1);
      if (!this.#stopping) {
        this.counters.childrenCrashed++;
        this.#poolFailures++;
        log.error("Idle child {pid} exited ({status})", {
          pid: child.pid,
          status: describeExit(status),
        });
        this.#schedulePoolRefill();
      }
      return;
    }
    const connection = this.#connectionsByChild.get(child);
    if (connection === undefined) return;
    this.#connectionsByChild.delete(child);
    this.#connectionsById.delete(connection.id);
    this.#streams.release(connection.id);
    this.#peers.remove(formatHostPort(connection.peer));
    const crashed = connection.closed === undefined || !status.success;
    if (crashed) this.counters.childrenCrashed++;
    const reason = connection.closed?.reason ?? "crashed";
    this.counters.connectionsClosed[crashed && reason !== "error" ? "crashed" : reason]++;
    const detail = connection.closed?.detail ?? `child ${describeExit(status)}`;
    const seconds = connection.connectedAt === undefined
      ? 0
      : (Date.now() - connection.connectedAt) / 1000;
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
 * What every log line about a connection carries, so lines can be found by
 * connection, peer or stream (`stream` is null until the connection is
 * accepted for one).
 */
function logContext(connection: Connection): Record<string, string | number | null> {
  return {
    id: connection.id,
    peer: formatHostPort(connection.peer),
    stream: connection.stream ?? null,
    pid: connection.child.pid,
  };
}

/** The stream rules from `path`, or the built-in ones; a bad file is a {@link StartupError}. */
async function readConfig(path: string | undefined): Promise<AtollConfig> {
  if (path === undefined) return DEFAULT_CONFIG;
  try {
    return await loadConfig(path);
  } catch (error) {
    if (error instanceof ConfigError) throw new StartupError(error.message);
    throw error;
  }
}

/** What a child needs of the server's options to set up libsrt. */
function peerSettings(
  options: ServerOptions,
  fastHandshake: boolean,
  config: AtollConfig,
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
  };
}

function describeExit(status: Deno.CommandStatus): string {
  return status.signal !== null ? `killed by ${status.signal}` : `exit code ${status.code}`;
}

/** The source IP a rate limit applies to: a v4-mapped address is its IPv4 address. */
function ipOf(hostname: string): string {
  return hostname.startsWith("::ffff:") && hostname.includes(".") ? hostname.slice(7) : hostname;
}

/** libsrt's version, or a StartupError naming the package to install. */
function loadLibsrtVersion(): number {
  try {
    return libsrt().srt_getversion();
  } catch (error) {
    throw new StartupError(error instanceof Error ? error.message : String(error));
  }
}

/**
 * Binds the public SRT port. SO_REUSEADDR is needed so children can bind
 * their connected sockets to it, but it would also let us share a port that
 * another SO_REUSEADDR socket holds; a bind without it first tells whether
 * the port is really free.
 */
function listenSrt(options: ServerOptions): Deno.DatagramConn {
  const { hostname, port } = options.srtListen;
  const where = formatHostPort(options.srtListen);
  try {
    const probe = Deno.listenDatagram({ transport: "udp", hostname, port });
    const bound = (probe.addr as Deno.NetAddr).port;
    probe.close();
    return Deno.listenDatagram({ transport: "udp", hostname, port: bound, reuseAddress: true });
  } catch (error) {
    throw bindError("SRT", where, error);
  }
}

/** Fast handshake only for known libsrt versions whose self-test passes. */
async function decideFastHandshake(
  options: ServerOptions,
  srtVersion: number,
  runtime: ChildRuntime,
): Promise<boolean> {
  if (!options.fastHandshake) return false;
  if (!FAST_HANDSHAKE_VERSIONS.includes(srtVersion)) {
    log.warning("Fast handshake off: not known to work with libsrt {version}", {
      version: formatSrtVersion(srtVersion),
    });
    return false;
  }
  const result = await runSelfTestChild(options, runtime);
  if (result.passed) {
    log.debug("Fast handshake self-test passed in {ms} ms", { ms: result.setupMs.toFixed(1) });
  } else {
    log.warning("Fast handshake off: self-test failed: {detail}", { detail: result.detail });
  }
  return result.passed;
}

type SelfTestMessage = Extract<ChildMessage, { type: "self-test" }>;

async function runSelfTestChild(
  options: ServerOptions,
  runtime: ChildRuntime,
): Promise<SelfTestMessage> {
  let result: SelfTestMessage | undefined;
  const output: string[] = [];
  const child = ChildHandle.spawn(() => buildChildCommand(runtime, ["--self-test"]), {
    onMessage: (_child, message) => {
      if (message.type === "self-test") result = message;
      if (message.type === "closed") output.push(message.detail);
    },
    onOutput: (_child, line) => output.push(line),
    onExit: () => {},
  });
  child.writeLine(JSON.stringify(peerSettings(options, true, DEFAULT_CONFIG)));
  const timer = setTimeout(() => child.kill(), 10_000);
  const status = await child.done;
  clearTimeout(timer);
  return result ?? {
    type: "self-test",
    passed: false,
    setupMs: 0,
    detail: `self-test child ${describeExit(status)}${
      output.length ? `: ${output.join(" | ")}` : ""
    }`,
  };
}

export { resolveOptions };
