/**
 * The main process, wired together: the {@link SrtListener} on the public
 * SRT port, the {@link Supervisor} that admits peers, hands each to a child
 * of its own and keeps the one {@link ConnectionTable}, and the HTTP API,
 * which reads what they hold.
 *
 * All state changes happen on this one JS thread: datagrams, child reports
 * and child exits are events handled here in turn.
 *
 * @module
 */

import { closeOnExecAbove, raiseFileLimit } from "../../ffi/socket.ts";
import { formatSrtVersion, libsrt } from "../../ffi/libsrt.ts";
import {
  type AtollConfig,
  ConfigError,
  DEFAULT_CONFIG,
  loadConfig,
  reloadRefusal,
  rulesFor,
} from "../config/config_file.ts";
import { formatHostPort, resolveOptions, type ServerOptions } from "../config/options.ts";
import type { Endpoint } from "../ipc/messages.ts";
import { AddressCookies } from "../protocol/address_cookie.ts";
import { advertisedKeyLength } from "../protocol/induction_response.ts";
import { RejectCode } from "../protocol/reject_codes.ts";
import { type ApiAccess, type ApiServer, type ReloadResult, serveHttp } from "./api.ts";
import type { HttpListener } from "./http_listener.ts";
import type {
  ConnectionInfo,
  MediaUrls,
  RecordingFileInfo,
  RecordingList,
  ServerCounters,
  ServerStats,
  SignedMediaUrls,
  StreamInfo,
} from "./api_types.ts";
import type { Connection } from "./connection_table.ts";
import { connectionInfo } from "./api_view.ts";
import {
  buildChildCommand,
  buildOutputCommand,
  buildRecorderCommand,
  type ChildRuntime,
  isChildCommandLine,
} from "./child_command.ts";
import { OutputSupervisor } from "./output_supervisor.ts";
import {
  type OutputCommand,
  type OutputReport,
  parseOutputReport,
} from "../ipc/output_messages.ts";
import { PairedProcess } from "./paired_process.ts";
import { RecorderSupervisor } from "./recorder_supervisor.ts";
import {
  parseRecorderReport,
  type RecorderCommand,
  type RecorderReport,
} from "../ipc/recorder_messages.ts";
import { compareRecordings, parseRecordingFileName } from "../ipc/recording_files.ts";
import { mediaPaths } from "../http/media_paths.ts";
import { childNiceValue, parseNice, udpSocketInodes } from "./procfs.ts";
import { ChildHandle } from "./child_handle.ts";
import { AdoptedChild, type Orphan, reachOrphan } from "./adoption.ts";
import { pidOfSocketName } from "../ipc/adoption.ts";
import { defaultStateDir, type OrphanSocket, StateDir } from "./state_dir.ts";
import {
  joinUpgrade,
  offerUpgrade,
  type Successor,
  successorCommand,
  UPGRADE_ENV,
  type UpgradeOutcome,
} from "./upgrade.ts";
import { decideFastHandshake } from "./fast_handshake.ts";
import { fileLimitProblem } from "./file_budget.ts";
import { type AddressProof, SrtListener } from "./listener.ts";
import { logger } from "./log.ts";
import { ACCESS_WAIT_MARGIN_MS, decideMediaAccess, RefusalLog } from "./media_access.ts";
import { signMediaUrl } from "../http/media_signature.ts";
import { type MetricsSnapshot, renderMetrics } from "./metrics.ts";
import { ResourceSampler } from "./resource_sampler.ts";
import { StartupError } from "./startup_error.ts";
import { newCounters, Supervisor } from "./supervisor.ts";
import { parseRelayRequest, type RelayInfo } from "./relay_manager.ts";
import { decideHttpDemand } from "./http_demand.ts";

export { StartupError };
export { DROP_REASONS } from "./api_types.ts";
export type { ConnectionInfo, DropReason, ServerCounters, ServerStats } from "./api_types.ts";

const log = logger("server");

/** Source-mode child: workers/peer.ts, beside src/. */
const WORKER_URL = new URL("../../workers/peer.ts", import.meta.url);
/** Source-mode media output process: workers/output.ts. */
const OUTPUT_WORKER_URL = new URL("../../workers/output.ts", import.meta.url);
/** Source-mode recorder process: workers/recorder.ts. */
const RECORDER_WORKER_URL = new URL("../../workers/recorder.ts", import.meta.url);
/** How long recorders get to finish their files before they are killed. */
const RECORDER_STOP_MS = 2000;
/** How long the media output process gets to stop cleanly before it is killed. */
const OUTPUT_STOP_MS = 2000;

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
  /**
   * The pid of the main process this one takes over from (upgrade.ts): it
   * is asked to hand over once this one has started as far as it can
   * without the ports.
   */
  upgradeFrom?: number;
  /**
   * Whether `start` logs the line saying the server is up (default true).
   * main.ts logs it itself, with {@link AtollServer.announce}, once the pid
   * file is in place: whoever waits for that line can read the file.
   */
  announce?: boolean;
}

/** A running Atoll server. Start one with {@link AtollServer.start}. */
export class AtollServer implements ApiServer {
  readonly options: ServerOptions;
  readonly srtVersion: number;
  /** Whether the fast handshake is in use (asked for, known version, self-test passed). */
  readonly fastHandshake: boolean;
  readonly counters: ServerCounters;
  #listener: SrtListener;
  #supervisor: Supervisor<ChildHandle | AdoptedChild>;
  #stateDir: StateDir | undefined;
  #resources: ResourceSampler;
  #http: HttpListener | undefined;
  /** Which HTTP access refusals were logged lately (one per stream and reason a minute). */
  #refusals = new RefusalLog();
  /** HTTP media access refusals since start, by protocol and reason, for /metrics. */
  #mediaRefusals = new Map<string, { protocol: string; reason: string; count: number }>();
  /** The media output process's supervisor; undefined with `--media-listen off`. */
  #output: OutputSupervisor<PairedProcess<OutputCommand, OutputReport>> | undefined;
  /** One recorder process per recorded stream. */
  #recorders: RecorderSupervisor<PairedProcess<RecorderCommand, RecorderReport>>;
  #config: AtollConfig;
  #stopping = false;
  #upgrading = false;
  #handedOver = false;
  /** Watches for orphans that come after the start (see {@link #watchOrphans}). */
  #orphanWatch: Deno.FsWatcher | undefined;
  /** Pids of orphans being reached now. */
  #reaching = new Set<number>();
  #finished = Promise.withResolvers<void>();

  private constructor(
    options: ServerOptions,
    srtVersion: number,
    fastHandshake: boolean,
    runtime: ChildRuntime,
    listener: SrtListener,
    counters: ServerCounters,
    config: AtollConfig,
    stateDir: StateDir | undefined,
  ) {
    this.options = options;
    this.srtVersion = srtVersion;
    this.fastHandshake = fastHandshake;
    this.counters = counters;
    this.#config = config;
    this.#listener = listener;
    this.#stateDir = stateDir;
    const media = options.mediaListen;
    if (media !== false) {
      this.#output = new OutputSupervisor({
        listen: media,
        maxConnections: options.mediaMaxConnections,
        headerTimeoutMs: options.httpHeaderTimeoutMs,
        allowedHosts: options.httpAllowedHosts ?? [],
      }, {
        launch: (events) =>
          PairedProcess.spawn(
            (controlFd) =>
              buildOutputCommand(runtime, OUTPUT_WORKER_URL, {
                listenHost: media.hostname,
                args: ["--control-fd", String(controlFd)],
              }),
            parseOutputReport,
            events,
          ),
        streams: () => this.#supervisor.streams.buffers(),
        decideAccess: async (request) => {
          const { answer, reason } = await decideMediaAccess(request, {
            config: this.#config,
            apiToken: this.access.token,
            nowSeconds: Math.floor(Date.now() / 1000),
          });
          if (!answer.allowed) {
            const key = `${request.protocol}\n${reason}`;
            const counted = this.#mediaRefusals.get(key) ??
              { protocol: request.protocol, reason, count: 0 };
            counted.count++;
            this.#mediaRefusals.set(key, counted);
          }
          if (
            !answer.allowed && this.#refusals.shouldLog(request.stream, reason, performance.now())
          ) {
            log.info("HTTP {protocol} of {stream} refused to {peer} ({status}): {message}", {
              protocol: request.protocol,
              stream: request.stream,
              peer: request.peer,
              status: answer.status,
              message: answer.message,
            });
          }
          return answer;
        },
        demand: (name) =>
          decideHttpDemand(name, {
            config: this.#config,
            exists: (stream) => this.#supervisor.streams.audience(stream) !== undefined,
            pull: (stream, holdMs) => this.#supervisor.relays.demand(stream, holdMs),
          }),
        accessWaitMs: () => (this.#config.authHook?.timeoutMs ?? 0) + ACCESS_WAIT_MARGIN_MS,
        hlsRules: (name) => {
          const rules = rulesFor(this.#config, name);
          return {
            mode: rules.hls,
            segmentMs: rules.hlsSegmentMs,
            window: rules.hlsWindow,
            // A part target over half the segments' is taken as half (README, "HLS").
            partMs: Math.min(rules.hlsPartMs, Math.floor(rules.hlsSegmentMs / 2)),
          };
        },
      });
    }
    this.#recorders = new RecorderSupervisor(config, {
      launch: (dir, events) =>
        PairedProcess.spawn(
          (controlFd) =>
            buildRecorderCommand(runtime, RECORDER_WORKER_URL, {
              dir,
              args: ["--control-fd", String(controlFd)],
            }),
          parseRecorderReport,
          events,
        ),
      // Asynchronous: a hung record disk must not stop the main process's event loop.
      makeDirectory: (dir) => Deno.mkdir(dir, { recursive: true }),
    });
    this.#output?.setRecordings(this.access.token ?? null, recordDirs(config));
    // Below this process on the CPU (README, "Processes and the CPU").
    const childNice = options.childNice === 0
      ? undefined
      : childNiceValue(ownNice(), options.childNice);
    this.#supervisor = new Supervisor<ChildHandle | AdoptedChild>({
      options,
      config,
      srtAddress: listener.address,
      fastHandshake,
      counters,
      ...(stateDir === undefined ? {} : { stateDir: stateDir.path }),
    }, {
      launch: (events) =>
        ChildHandle.spawn(
          (controlFd) =>
            buildChildCommand(runtime, ["--control-fd", String(controlFd)], stateDir?.path),
          events,
          childNice === undefined ? {} : { nice: childNice },
        ),
      openPeerSocket: (peer) => listener.openPeerSocket(peer),
      refuse: (peer, handshake, reason) => listener.refuse(peer, handshake, reason),
      httpViewers: (name) => this.#output?.httpViewers(name) ?? 0,
      streamBuffers: {
        created: (name, fd, bytes) => {
          this.#output?.streamCreated(name, fd, bytes);
          this.#recorders.streamCreated(name, fd, bytes);
        },
        dropped: (name) => {
          this.#recorders.streamEnded(name);
          this.#output?.streamEnded(name);
        },
      },
    });
    this.#resources = new ResourceSampler(this.#supervisor.table);
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
    checkFileLimit(options);
    const srtVersion = loadLibsrtVersion();
    const fastHandshake = await decideFastHandshake(options, srtVersion, runtime);
    const counters = newCounters();
    // Orphans of a main process before this one hold the SRT port too: they
    // are found, and checked, before it is bound.
    const { port } = options.srtListen;
    let expected: number[] = [];
    if (startOptions.upgradeFrom !== undefined) {
      if (port === 0) {
        throw new StartupError("Cannot upgrade a server whose SRT port was picked at start (0)");
      }
      expected = await joinUpgrade(stateDirPath(options, port), startOptions.upgradeFrom);
    }
    let stateDir = port === 0 ? undefined : StateDir.open(stateDirPath(options, port));
    let orphans: Orphan[] = [];
    let listener: SrtListener | undefined;
    try {
      if (stateDir !== undefined) orphans = await reachOrphans(stateDir, port, expected);
      listener = SrtListener.bind(options, counters, orphans.length > 0, () => {
        const holders = childrenHoldingPort(port);
        if (holders === undefined) return false;
        log.warning(
          "SRT port {port} is held by connections of Atoll children that were not adopted ({pids}): they go on, and this main process listens beside them",
          { port, pids: holders.join(", ") },
        );
        return true;
      });
      // Port 0: a port nobody had, so nothing to adopt; its directory is known now.
      stateDir ??= StateDir.open(stateDirPath(options, listener.address.port));
    } catch (error) {
      for (const orphan of orphans) closeOrphan(orphan);
      await listener?.close();
      // Nothing was started: what this start made goes (orphans' sockets stay).
      stateDir?.close({ tidy: true });
      throw error;
    }
    const server = new AtollServer(
      options,
      srtVersion,
      fastHandshake,
      runtime,
      listener,
      counters,
      config,
      stateDir,
    );
    const supervisor = server.#supervisor;
    for (const orphan of orphans) server.#adopt(orphan);
    try {
      server.#http = serveHttp(server, options);
      await server.#startOutput();
    } catch (error) {
      // The adopted children wait for the next main process, as before.
      if (orphans.length > 0) supervisor.release();
      await listener.close();
      await server.#http?.shutdown();
      stateDir.close({ tidy: true });
      throw error;
    }
    listener.start({
      hasPeer: (peerKey) => supervisor.hasPeer(peerKey),
      admit: (peer, handshake, rendezvous) => supervisor.admit(peer, handshake, rendezvous),
    }, addressProof(options, fastHandshake));
    supervisor.start();
    server.#resources.start();
    server.#watchOrphans();
    server.#warnAboutIgnoredToken();
    if (startOptions.announce !== false) server.announce();
    return server;
  }

  /**
   * Logs the line that says the server is up (its addresses, libsrt's
   * version): what operators and scripts wait for. {@link AtollServer.start}
   * logs it unless told not to.
   */
  announce(): void {
    const media = this.mediaAddress;
    log.info(
      "SRT listening on {srt}, HTTP on {http}, media on {media}; libsrt {version}, fast handshake {fast}",
      {
        srt: formatHostPort(this.srtAddress),
        http: formatHostPort(this.httpAddress),
        media: media === undefined ? "off" : formatHostPort(media),
        version: formatSrtVersion(this.srtVersion),
        fast: this.fastHandshake ? "on" : "off",
      },
    );
  }

  /**
   * Starts the media output process and waits until it listens; a
   * {@link StartupError} when it cannot (the port is in use, say).
   */
  async #startOutput(): Promise<void> {
    const output = this.#output;
    if (output === undefined || this.options.mediaListen === false) return;
    try {
      await output.start();
    } catch (error) {
      await output.stop(OUTPUT_STOP_MS);
      const reason = error instanceof Error ? error.message : String(error);
      throw new StartupError(
        `Cannot listen for media on ${formatHostPort(this.options.mediaListen)}: ${reason}`,
      );
    }
  }

  /** Takes `orphan` over; logs why not when it cannot (it then serves on, unadopted). */
  #adopt(orphan: Orphan): void {
    const { hello, conn, lines, buffer } = orphan;
    try {
      this.#supervisor.adopt(
        hello,
        buffer,
        (events) => new AdoptedChild(hello.pid, conn, lines, events),
      );
    } catch (error) {
      conn.close();
      log.warning("Cannot adopt child {pid}: {error}", { pid: hello.pid, error: String(error) });
    }
  }

  /**
   * Adopts orphans that appear after the start: a child whose handshake
   * completed just after its main process died, or one an upgrading
   * predecessor let go of late. The kernel says when a socket appears
   * (inotify); nothing is polled.
   */
  #watchOrphans(): void {
    const stateDir = this.#stateDir;
    if (stateDir === undefined) return;
    try {
      this.#orphanWatch = Deno.watchFs(stateDir.childrenDir, { recursive: false });
    } catch (error) {
      log.warning("Cannot watch {dir} for orphans: {error}", {
        dir: stateDir.childrenDir,
        error: String(error),
      });
      return;
    }
    const scope = { stateDir: stateDir.path, srtPort: this.#listener.address.port };
    (async () => {
      for await (const event of this.#orphanWatch!) {
        for (const path of event.paths) {
          const pid = pidOfSocketName(path.slice(path.lastIndexOf("/") + 1));
          if (pid === undefined || this.#reaching.has(pid) || this.#supervisor.hasChild(pid)) {
            continue;
          }
          this.#reaching.add(pid);
          reachOrphan({ pid, path }, scope).then((result) => {
            if (this.#stopping) {
              if ("hello" in result) closeOrphan(result);
            } else if ("hello" in result) this.#adopt(result);
            else if (result.kind !== "stale") logNotAdopted(pid, result.detail);
          }).catch((error) => {
            log.warning("Cannot adopt child {pid}: {error}", { pid, error: String(error) });
          }).finally(() => this.#reaching.delete(pid));
        }
      }
    })().catch(() => {});
  }

  /** The state directory this server uses. */
  get stateDir(): string {
    return this.#stateDir!.path;
  }

  /** The bound SRT address (the real port when 0 was asked for). */
  get srtAddress(): Endpoint {
    return this.#listener.address;
  }

  /** The bound media address (the real port when 0 was asked for); undefined with no media output. */
  get mediaAddress(): Endpoint | undefined {
    return this.#output?.address;
  }

  /** The media output process's pid while it runs. */
  get outputPid(): number | undefined {
    return this.#output?.pid;
  }

  get httpAddress(): Endpoint {
    const addr = this.#http?.addr;
    return addr ? { hostname: addr.hostname, port: addr.port } : this.options.httpListen;
  }

  /** True while the SRT port is bound and the server is not stopping. */
  get healthy(): boolean {
    return !this.#stopping;
  }

  /**
   * Whether it stopped by handing its connections over to a successor (an
   * upgrade): the pid file is then the successor's to replace, not this
   * process's to remove.
   */
  get handedOver(): boolean {
    return this.#handedOver;
  }

  /** Resolves once the server has shut down. */
  get finished(): Promise<void> {
    return this.#finished.promise;
  }

  /** Pids of the prestarted children ready for a connection (libsrt loaded). */
  get idleChildren(): number[] {
    return this.#supervisor.idleChildren.map((child) => child.pid);
  }

  /** Prestarted children still starting up. */
  get startingChildren(): number {
    return this.#supervisor.startingChildren;
  }

  /** Who may use the HTTP API: the token from the options, else the config's. */
  get access(): ApiAccess {
    return {
      token: this.options.apiToken ?? this.#config.apiToken,
      protectReads: this.#config.apiTokenForReads,
    };
  }

  connections(): ConnectionInfo[] {
    return [...this.#supervisor.table.values()].map((c) => this.#connectionInfo(c));
  }

  /** One connection as `/api/connections` shows it, if there is one with this id. */
  connection(id: string): ConnectionInfo | undefined {
    const connection = this.#supervisor.table.get(id);
    return connection === undefined ? undefined : this.#connectionInfo(connection);
  }

  #connectionInfo(connection: Connection<{ readonly pid: number }>): ConnectionInfo {
    return connectionInfo(connection, {
      waiting: this.#supervisor.streams.isWaiting(connection.id),
      relay: this.#supervisor.relays.ofConnection(connection.id),
    });
  }

  /**
   * The live streams, as `GET /api/streams` shows them. `host` is the name
   * the API request came to (its `Host`): the URLs name it when the media
   * address is a wildcard (0.0.0.0, ::), which no client can connect to.
   */
  streams(host?: string): StreamInfo[] {
    const output = this.#output;
    return this.#supervisor.streamInfo().map((stream) => ({
      ...stream,
      http: output === undefined ? null : output.httpStats(stream.name),
      urls: this.#mediaUrls(stream.name, host),
      recording: this.#recorders.info(stream.name),
    }));
  }

  /** `http://HOST:PORT` of the media port, as a client reaching the API by `host` can use it. */
  mediaOrigin(host?: string): string | undefined {
    const address = this.mediaAddress;
    if (address === undefined) return undefined;
    const wildcard = address.hostname === "0.0.0.0" || address.hostname === "::";
    const hostname = wildcard
      ? host ?? (address.hostname === "::" ? "::1" : "127.0.0.1")
      : address.hostname;
    return `http://${formatHostPort({ hostname, port: address.port })}`;
  }

  /** The pid of stream `name`'s recorder process, while one runs. */
  recorderPid(name: string): number | undefined {
    return this.#recorders.pidOf(name);
  }

  /**
   * `GET /api/recordings`: every recording file in the record directories
   * of the rules in use (directory metadata only: no media is read here),
   * oldest first, each with its download URL on the media port.
   */
  async recordings(host?: string): Promise<RecordingList> {
    const origin = this.mediaOrigin(host);
    const writing = new Set(
      this.streams().flatMap((stream) =>
        stream.recording?.file ? [`${stream.recording.dir}/${stream.recording.file}`] : []
      ),
    );
    const files: RecordingFileInfo[] = [];
    for (const dir of recordDirs(this.#config)) {
      let entries: Deno.DirEntry[];
      try {
        entries = await Array.fromAsync(Deno.readDir(dir));
      } catch {
        continue; // not made yet, or unreadable: nothing to list
      }
      for (const entry of entries) {
        const name = parseRecordingFileName(entry.name);
        if (!entry.isFile || name === undefined) continue;
        let bytes: number;
        try {
          bytes = (await Deno.lstat(`${dir}/${entry.name}`)).size;
        } catch {
          continue; // deleted meanwhile
        }
        files.push({
          stream: name.stream,
          file: entry.name,
          dir,
          bytes,
          startedAt: new Date(name.startMs).toISOString(),
          writing: writing.has(`${dir}/${entry.name}`),
          url: origin === undefined ? null : `${origin}/recordings/${entry.name}`,
        });
      }
    }
    files.sort((a, b) =>
      compareRecordings(parseRecordingFileName(a.file)!, parseRecordingFileName(b.file)!) ||
      a.dir.localeCompare(b.dir)
    );
    return { downloads: origin !== undefined, files };
  }

  /**
   * Stream `name`'s media URLs for `POST /api/streams/NAME/media-url`:
   * signed to last `seconds` when its rule has a `readPassphrase`.
   */
  async mediaUrl(
    name: string,
    seconds: number,
    host?: string,
  ): Promise<SignedMediaUrls | undefined> {
    const urls = this.#mediaUrls(name, host);
    if (urls === null) return undefined;
    const passphrase = rulesFor(this.#config, name).readPassphrase;
    if (passphrase === undefined) return { ...urls, expires: null };
    const expires = Math.floor(Date.now() / 1000) + seconds;
    const query = `?expires=${expires}&sig=${await signMediaUrl(passphrase, name, expires)}`;
    return { ts: urls.ts + query, hls: urls.hls + query, expires };
  }

  #mediaUrls(name: string, host: string | undefined): MediaUrls | null {
    const origin = this.mediaOrigin(host);
    if (origin === undefined) return null;
    const paths = mediaPaths(name);
    return { ts: origin + paths.ts, hls: origin + paths.hls };
  }

  /** What `GET /api/stats` shows. */
  stats(): ServerStats {
    const pace = this.#supervisor.childReadyPaceMs;
    return {
      srtVersion: this.srtVersion,
      fastHandshake: this.fastHandshake,
      idleChildren: this.idleChildren.length,
      startingChildren: this.startingChildren,
      poolFloor: this.#supervisor.poolFloor,
      waitingCallers: this.#supervisor.waitingCallers,
      longestWaitMs: Math.round(this.#supervisor.longestWaitMs),
      childStartMs: toTenth(this.#supervisor.childStartMs),
      childReadyPaceMs: pace === undefined ? null : toTenth(pace),
      connections: this.#supervisor.table.size,
      mainMemory: mainMemory(),
      ...this.counters,
    };
  }

  /** Everything `GET /metrics` shows, at this moment. */
  metricsSnapshot(): MetricsSnapshot {
    // Every code Atoll can send, so a counter exists before its first increment.
    const rejections: Record<string, number> = Object.fromEntries(
      Object.values(RejectCode).map((code) => [String(code), 0]),
    );
    return {
      counters: this.counters,
      rejections: { ...rejections, ...this.#supervisor.streams.rejections() },
      childStartSeconds: this.#supervisor.childStartSeconds.snapshot(),
      handshakeSeconds: this.#supervisor.handshakeSeconds.snapshot(),
      connections: this.connections(),
      streams: this.streams(),
      idleChildren: this.idleChildren.length,
      startingChildren: this.startingChildren,
      poolFloor: this.#supervisor.poolFloor,
      waitingCallers: this.#supervisor.waitingCallers,
      relays: this.relays(),
      relayCounts: { ...this.#supervisor.relays.counts },
      mediaRefusals: [
        ...[...this.#mediaRefusals.values()].map((refusal) => ({ ...refusal })),
        // Refused in the output process, before any decision (src/output/access.ts).
        ...Object.entries(this.#output?.rateLimited() ?? {})
          .filter(([, count]) => count > 0)
          .map(([protocol, count]) => ({ protocol, reason: "rate-limited", count })),
      ],
      output: this.#output === undefined
        ? null
        : { up: this.#output.up, restarts: this.#output.restarts },
      recordingFailures: [...this.#recorders.failures].flatMap(([stream, counts]) =>
        [...counts].map(([reason, count]) => ({ stream, reason, count }))
      ),
    };
  }

  /** `GET /metrics`: the Prometheus text exposition. */
  metrics(): string {
    return renderMetrics(this.metricsSnapshot());
  }

  /** Asks the connection's child to close it (the peer is told at once); false when unknown. */
  closeConnection(id: string): boolean {
    return this.#supervisor.closeConnection(id);
  }

  /** Closes the stream's publisher and viewers; false when there is no such stream. */
  endStream(name: string): boolean {
    return this.#supervisor.endStream(name);
  }

  /** `GET /api/relays`: every relay, configured or added through the API. */
  relays(): RelayInfo[] {
    return this.#supervisor.relays.list();
  }

  /** `POST /api/relays`: adds a relay; a message for the user when the request is not usable. */
  addRelay(body: unknown): { ok: true; relay: RelayInfo } | { ok: false; error: string } {
    try {
      const relay = this.#supervisor.relays.add(parseRelayRequest(body));
      log.info("Relay {id} added through the API: {direction} of {stream}, {url}", { ...relay });
      return { ok: true, relay };
    } catch (error) {
      if (!(error instanceof TypeError)) throw error;
      return { ok: false, error: error.message };
    }
  }

  /** `DELETE /api/relays/ID`: stops a relay for good; false when unknown. */
  removeRelay(id: string): boolean {
    return this.#supervisor.relays.remove(id);
  }

  /**
   * Reads the config file again and uses it for every later decision;
   * connections already up are not touched. An invalid file, or one that
   * {@link reloadRefusal} refuses (it sets nothing, or takes protection from
   * streams that have callers), changes nothing and says why.
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
    const refusal = reloadRefusal(this.#config, config, {
      source: path,
      liveStreams: this.streams().map((stream) => stream.name),
    });
    if (refusal !== undefined) {
      log.error("Config not reloaded, the old one stays: {error}", { error: refusal });
      return { ok: false, error: refusal };
    }
    this.#config = config;
    this.#supervisor.setConfig(config);
    this.#recorders.setConfig(config, this.#supervisor.streams.buffers());
    this.#output?.setRecordings(this.access.token ?? null, recordDirs(config));
    this.#output?.rulesChanged();
    log.info("Config reloaded from {path}", { path });
    this.#warnAboutIgnoredToken();
    return { ok: true, source: path };
  }

  /**
   * Stops accepting, asks every child to close its connection (peers see a
   * shutdown, not a timeout), waits up to the shutdown timeout, kills what
   * remains, then closes the HTTP server.
   */
  async shutdown(): Promise<void> {
    if (this.#stopping) return this.#finished.promise;
    this.#stopping = true;
    this.#orphanWatch?.close();
    await this.#listener.close();
    await this.#resources.stop();
    // HTTP media clients and recorders go first: the streams they follow are about to end.
    await this.#recorders.stop(RECORDER_STOP_MS);
    await this.#output?.stop(OUTPUT_STOP_MS);
    await this.#supervisor.shutdown(this.options.shutdownTimeoutMs);
    await this.#http?.shutdown();
    // Every child is gone: a clean stop leaves nothing in the state directory.
    this.#stateDir?.close({ tidy: true });
    log.info("Stopped");
    this.#finished.resolve();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }

  /**
   * Hands every connection over to a new main process started from this
   * one's command line (SIGUSR2; upgrade.ts), and stops without touching
   * them. When the new one cannot take over (it fails to start, or speaks
   * another adoption protocol), this one goes on as before and says why.
   */
  async upgrade(): Promise<UpgradeOutcome> {
    const refuse = (reason: string): UpgradeOutcome => {
      log.warning("Upgrade refused: {reason}; this main process goes on", { reason });
      return { ok: false, reason };
    };
    if (this.#stopping) return refuse("the server is stopping");
    if (this.#upgrading) return refuse("an upgrade is under way");
    if (this.options.srtListen.port === 0) {
      return refuse("the SRT port was picked at start (0): a new main process could not find it");
    }
    const command = successorCommand(Deno.readTextFileSync("/proc/self/cmdline"));
    if (command === undefined) return refuse("this process's command line cannot be read");
    this.#upgrading = true;
    this.#supervisor.pausePool(true);
    log.info("Upgrading: starting a new main process ({command})", {
      command: [command.command, ...command.args].join(" "),
    });
    const outcome = await offerUpgrade({
      stateDir: this.stateDir,
      spawn: () => spawnSuccessor(command),
      handOver: () => this.#handOver(),
    });
    if (!outcome.ok) {
      this.#upgrading = false;
      this.#supervisor.pausePool(false);
      return refuse(outcome.reason);
    }
    log.info("Handed {count} connection(s) over to process {pid}; exiting", {
      count: outcome.children.length,
      pid: outcome.successor,
    });
    this.#handedOver = true;
    this.#finished.resolve();
    return outcome;
  }

  /** Lets go of the ports, the children and the lock, for the successor. */
  async #handOver(): Promise<number[]> {
    this.#stopping = true;
    this.#orphanWatch?.close();
    await this.#listener.close();
    await this.#resources.stop();
    // The successor starts its own media output on the same port, and its
    // own recorders (new files): this one lets go of them.
    await this.#recorders.stop(RECORDER_STOP_MS);
    await this.#output?.stop(OUTPUT_STOP_MS);
    const children = this.#supervisor.release();
    await this.#http?.shutdown();
    this.#stateDir?.close();
    return children;
  }

  /** Says so when the config's apiToken is set but the command line's wins. */
  #warnAboutIgnoredToken(): void {
    if (this.options.apiToken !== undefined && this.#config.apiToken !== undefined) {
      log.warning(
        "apiToken in the config file is ignored: --api-token or ATOLL_API_TOKEN is set and wins",
      );
    }
  }
}

/** The record directories of every rule of `config`, once each. */
function recordDirs(config: AtollConfig): string[] {
  const rules = [config.streamDefaults, ...config.streams.map((entry) => entry.rules)];
  return [...new Set(rules.flatMap((rule) => rule.record ? [rule.record.dir] : []))];
}

/** Starts the successor of an upgrade: this process's command line, in its directory. */
function spawnSuccessor(command: { command: string; args: string[] }): Successor {
  const child = new Deno.Command(command.command, {
    args: command.args,
    cwd: Deno.cwd(),
    env: { ...Deno.env.toObject(), [UPGRADE_ENV]: String(Deno.pid) },
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  // This process exits once it has handed over; the successor lives on.
  child.unref();
  return {
    pid: child.pid,
    status: child.status,
    kill: (signal) => {
      try {
        child.kill(signal);
      } catch {
        // Gone already.
      }
    },
  };
}

/** The state directory for SRT port `port`: the one asked for, else the default. */
function stateDirPath(options: ServerOptions, port: number): string {
  const env = { XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") };
  return options.stateDir ?? defaultStateDir(port, env, Deno.uid());
}

/** Orphans reached at once at start. */
const ORPHANS_REACHED_AT_ONCE = 16;

/** How long a successor waits for the children its predecessor let go of to wait for it. */
const RELEASED_CHILDREN_WAIT_MS = 5000;

/**
 * Finds the orphans waiting in `stateDir` and checks each; logs what it
 * leaves alone, and removes the sockets of children that exited. In an
 * upgrade, first gives each child in `expected` (let go of just now) time
 * to open its socket.
 */
async function reachOrphans(
  stateDir: StateDir,
  srtPort: number,
  expected: number[] = [],
): Promise<Orphan[]> {
  const deadline = performance.now() + RELEASED_CHILDREN_WAIT_MS;
  const waitingFor = () => {
    const present = new Set(stateDir.orphanSockets().map((socket) => socket.pid));
    return expected.filter((pid) => !present.has(pid) && isRunning(pid));
  };
  for (let missing = waitingFor(); missing.length > 0; missing = waitingFor()) {
    if (performance.now() > deadline) {
      log.warning("Children {pids} did not wait to be adopted within {ms} ms", {
        pids: missing.join(", "),
        ms: RELEASED_CHILDREN_WAIT_MS,
      });
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const reached: Orphan[] = [];
  const sockets = stateDir.orphanSockets();
  // A few at a time: each waits for its child's hello, and the port is bound only after.
  const reach = async (socket: OrphanSocket) => {
    const result = await reachOrphan(socket, { stateDir: stateDir.path, srtPort });
    if ("hello" in result) {
      reached.push(result);
      return;
    }
    if (result.kind === "stale") {
      try {
        Deno.removeSync(socket.path);
      } catch {
        // Gone already.
      }
    } else logNotAdopted(socket.pid, result.detail);
  };
  const workers = Array.from({ length: ORPHANS_REACHED_AT_ONCE }, async () => {
    for (let socket; (socket = sockets.shift()) !== undefined;) await reach(socket);
  });
  await Promise.all(workers);
  return reached;
}

/**
 * The pids holding UDP sockets on `port`, when every one of them is one of
 * Atoll's children (their connected sockets outlived a main process);
 * undefined when the port is free, or anything else holds it, or a holder
 * cannot be seen.
 */
function childrenHoldingPort(port: number): number[] | undefined {
  const sockets = new Set<string>();
  for (const table of ["/proc/net/udp", "/proc/net/udp6"]) {
    try {
      for (const inode of udpSocketInodes(Deno.readTextFileSync(table), port)) {
        sockets.add(`socket:[${inode}]`);
      }
    } catch {
      // No IPv6 table, say.
    }
  }
  if (sockets.size === 0) return undefined;
  const found = new Set<string>();
  const holders: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    const pid = Number(entry.name);
    if (!Number.isInteger(pid) || pid === Deno.pid) continue;
    let holds = false;
    try {
      for (const fd of Deno.readDirSync(`/proc/${pid}/fd`)) {
        const target = Deno.readLinkSync(`/proc/${pid}/fd/${fd.name}`);
        if (sockets.has(target)) {
          found.add(target);
          holds = true;
        }
      }
      if (holds && !isChildCommandLine(Deno.readTextFileSync(`/proc/${pid}/cmdline`))) {
        return undefined;
      }
    } catch {
      // Gone, or another user's: if it holds the port, it is never found below.
    }
    if (holds) holders.push(pid);
  }
  return found.size === sockets.size ? holders : undefined;
}

/** An orphan this main process leaves alone, and why. */
function logNotAdopted(pid: number, detail: string): void {
  log.warning("Not adopting child {pid}: {detail}; it keeps its connection", { pid, detail });
}

/** Whether process `pid` runs: it exists and is no zombie (an orphan's parent may not reap it). */
function isRunning(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

function closeOrphan(orphan: Orphan): void {
  orphan.conn.close();
  orphan.buffer.close();
}

/**
 * Raises the soft open-file limit to the hard one, and checks that the hard
 * one holds `--max-connections` at their worst (file_budget.ts): a warning
 * that says what it allows when it does not, a {@link StartupError} when not
 * even one connection fits. Past the limit, new work is refused, never the
 * process ended.
 */
function checkFileLimit(options: ServerOptions): void {
  const files = raiseFileLimit();
  const problem = fileLimitProblem({
    hardLimit: files.hard,
    openAtStart: openFileCount(files.hard),
    maxConnections: options.maxConnections,
    poolMax: options.poolMax,
    httpMaxConnections: options.httpMaxConnections,
    mediaOutput: options.mediaListen !== false,
  });
  if (problem === undefined) return;
  if (problem.refuse) throw new StartupError(problem.message);
  // The whole line is ours and has no `{`: no placeholder to fill, nothing quoted.
  log.warning(problem.message);
}

/**
 * Descriptors this process has open (the runtime's, stdio, an embedding
 * program's); `limit` when not even the listing could be opened.
 */
function openFileCount(limit: number): number {
  let count = 0;
  try {
    for (const _ of Deno.readDirSync("/proc/self/fd")) count++;
  } catch {
    return limit;
  }
  return count - 1; // the listing's own
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

/**
 * Callers prove their address before they cost a process, when children can
 * take over a proven caller: that needs the fast handshake (docs/design.md,
 * "Proving the caller's address").
 */
function addressProof(options: ServerOptions, fastHandshake: boolean): AddressProof | undefined {
  if (!fastHandshake) {
    log.warning(
      "Callers do not prove their address before a child is started for them: the fast handshake is off",
    );
    return undefined;
  }
  return {
    cookies: AddressCookies.random(),
    pbkeylen: advertisedKeyLength(options.passphrase, options.pbkeylen),
  };
}

/** This process's nice value; 0 (with a warning) if /proc cannot tell. */
function ownNice(): number {
  try {
    return parseNice(Deno.readTextFileSync("/proc/self/stat"));
  } catch (error) {
    log.warning("Own nice value unknown, taken as 0: {error}", { error: String(error) });
    return 0;
  }
}

/** libsrt's version, or a StartupError naming the package to install. */
function loadLibsrtVersion(): number {
  try {
    return libsrt().srt_getversion();
  } catch (error) {
    throw new StartupError(error instanceof Error ? error.message : String(error));
  }
}

export { resolveOptions };

/** `ms` rounded to a tenth of a millisecond. */
function toTenth(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/** The main process's memory, as `/api/stats` shows it. */
function mainMemory(): ServerStats["mainMemory"] {
  const usage = Deno.memoryUsage();
  return { rssBytes: usage.rss, heapUsedBytes: usage.heapUsed, heapTotalBytes: usage.heapTotal };
}
