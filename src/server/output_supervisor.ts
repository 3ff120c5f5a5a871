/**
 * The main process's side of the media output process (src/output/): it
 * starts it, sends it every stream buffer as the stream begins and says
 * when the stream ends, keeps what it reports of its HTTP clients (who
 * hold the streams' on-demand pulls: {@link OutputSupervisor.httpViewers}),
 * answers its `demand`s (a pull started for an HTTP request:
 * http_demand.ts), and starts it again when it dies, with a backoff (1 s, doubling to 30 s), on
 * the port it had, handing it every current stream again. The HTTP clients
 * it had are gone then; SRT connections never notice, as none passes
 * through it.
 *
 * The rules are tested with a fake process (`output_supervisor_test.ts`);
 * the real one is a `PairedProcess` (paired_process.ts).
 *
 * @module
 */

import type { Endpoint } from "../ipc/messages.ts";
import {
  DEFAULT_HLS_RULES,
  type HlsRules,
  MAX_DEMAND_WAIT_MS,
  type MediaAccessAnswer,
  type MediaAccessRequest,
  type MediaProtocol,
  type OutputCommand,
  type OutputReport,
  type OutputSettings,
  type OutputStreamStats,
} from "../ipc/output_messages.ts";
import type { HttpStreamInfo } from "./api_types.ts";
import { logger } from "./log.ts";
import type { ProcessEvents, SupervisedProcess } from "./paired_process.ts";
import { RestartBackoff, type RestartDelays } from "./restart_backoff.ts";

const log = logger("output");

/** How long the first start may take to listen. */
const START_TIMEOUT_MS = 20_000;

/** What the supervisor needs of the output process (the real one is a `PairedProcess`). */
export type OutputProcess = SupervisedProcess<OutputCommand>;

/** What the output process says, as events. */
export type OutputEvents<P> = ProcessEvents<P, OutputReport>;

/** One stream buffer, as the stream manager holds it. */
export interface StreamBufferRef {
  name: string;
  fd: number;
  bytes: number;
}

/** What the supervisor needs from the server. */
export interface OutputSupervisorDeps<P extends OutputProcess> {
  /** Starts the output process, whose reports go to `events`. */
  launch(events: OutputEvents<P>): P;
  /** Every stream buffer now, to hand a (re)started process. */
  streams(): StreamBufferRef[];
  /** Stream `name`'s HLS rules now; {@link DEFAULT_HLS_RULES} for every stream by default. */
  hlsRules?: (name: string) => HlsRules;
  /**
   * Decides whether an HTTP playback session may start
   * (src/server/media_access.ts); every one may by default.
   */
  decideAccess?: (request: MediaAccessRequest) => Promise<MediaAccessAnswer>;
  /**
   * Decides a `demand`: starts stream `name`'s pull if a rule can, and says
   * how long the request waits for the stream (http_demand.ts); 0 (nothing
   * pulls any stream) by default.
   */
  demand?: (name: string) => number;
  /** How long the output process waits for that answer; {@link DEFAULT_ACCESS_WAIT_MS} by default. */
  accessWaitMs?: () => number;
  /** Monotonic milliseconds; `performance.now()` by default. */
  now?: () => number;
  /** Restart delays; 1 s and 30 s by default (restart_backoff.ts). */
  restartDelayMs?: RestartDelays;
}

/** How long the output process waits for an access answer unless told otherwise. */
export const DEFAULT_ACCESS_WAIT_MS = 4000;
/** How long an answer is kept when no decider is given (every session is allowed). */
const OPEN_ACCESS_TTL_MS = 15_000;

/** What earlier output processes counted of a stream. */
type PastCounts = Pick<OutputStreamStats, "bytesSent" | "skips" | "hlsSegments" | "hlsBytesSent">;
const NO_COUNTS: PastCounts = { bytesSent: 0, skips: 0, hlsSegments: 0, hlsBytesSent: 0 };

export class OutputSupervisor<P extends OutputProcess> {
  #settings: OutputSettings;
  #deps: OutputSupervisorDeps<P>;
  #now: () => number;
  #backoff: RestartBackoff;
  #process: P | undefined;
  #listening = false;
  #address: Endpoint | undefined;
  #firstStart: PromiseWithResolvers<Endpoint> | undefined;
  #restartTimer: ReturnType<typeof setTimeout> | undefined;
  #stopping = false;
  /** What the running process last reported, per stream. */
  #current = new Map<string, OutputStreamStats>();
  /** What processes before it sent, per stream, so a stream's counts never go down. */
  #past = new Map<string, PastCounts>();
  /** Requests the running process refused for their client's rate of access asks, by protocol. */
  #rateLimited: Record<MediaProtocol, number> = { hls: 0, "http-ts": 0 };
  /** What processes before it refused so, so the counts never go down. */
  #pastRateLimited: Record<MediaProtocol, number> = { hls: 0, "http-ts": 0 };
  /** The HLS rules the running process was last sent, per stream, as JSON. */
  #sentRules = new Map<string, string>();
  /** Times it was started again after it died. */
  restarts = 0;
  /** Who may download recordings, and from where: sent at each start and on change. */
  #recordings: { token: string | null; dirs: string[] } = { token: null, dirs: [] };

  constructor(settings: OutputSettings, deps: OutputSupervisorDeps<P>) {
    this.#settings = settings;
    this.#deps = deps;
    this.#now = deps.now ?? (() => performance.now());
    this.#backoff = new RestartBackoff(deps.restartDelayMs, this.#now);
  }

  /** The address it listens on (the bound port), once it has listened. */
  get address(): Endpoint | undefined {
    return this.#address;
  }

  /** Whether a process runs and listens now. */
  get up(): boolean {
    return this.#listening;
  }

  /** The running process's pid, if one runs. */
  get pid(): number | undefined {
    return this.#process?.pid;
  }

  /**
   * Starts the process and resolves once it listens, to the bound address;
   * rejects with the reason when it cannot listen (then nothing is
   * restarted: the server does not start).
   */
  start(): Promise<Endpoint> {
    if (this.#firstStart !== undefined) return this.#firstStart.promise;
    this.#firstStart = Promise.withResolvers<Endpoint>();
    const timer = setTimeout(() => {
      this.#failFirstStart(`it did not listen within ${START_TIMEOUT_MS / 1000} s`);
      this.#process?.kill();
    }, START_TIMEOUT_MS);
    const settle = () => clearTimeout(timer);
    this.#firstStart.promise.then(settle, settle);
    this.#launch();
    return this.#firstStart.promise;
  }

  /** Stream `name` began: its buffer goes to the process. */
  streamCreated(name: string, fd: number, bytes: number): void {
    const process = this.#process;
    if (process === undefined) return; // a (re)start sends every stream
    if (!process.send(this.#streamCommand(name, bytes), fd)) this.#notReading(process);
  }

  /**
   * The config changed: the process drops the access answers it keeps, and
   * every live stream whose HLS rules differ from what the process was sent
   * gets the new ones (it applies them to its next segmenter, and the mode
   * at once).
   */
  rulesChanged(): void {
    const process = this.#process;
    if (process === undefined) return;
    if (!process.send(this.#accessRules())) {
      this.#notReading(process);
      return;
    }
    for (const { name } of this.#deps.streams()) {
      const hls = this.#hlsRules(name);
      const text = JSON.stringify(hls);
      if (this.#sentRules.get(name) === text) continue;
      this.#sentRules.set(name, text);
      if (!process.send({ type: "stream-rules", name, hls })) {
        this.#notReading(process);
        return;
      }
    }
  }

  /** The API token and record directories for downloads of recordings (recordings.ts). */
  setRecordings(token: string | null, dirs: string[]): void {
    this.#recordings = { token, dirs };
    const process = this.#process;
    if (process === undefined) return;
    if (!process.send({ type: "recordings", ...this.#recordings })) this.#notReading(process);
  }

  /** Stream `name` ended: the process lets its buffer go, and its figures are forgotten. */
  streamEnded(name: string): void {
    this.#current.delete(name);
    this.#past.delete(name);
    this.#sentRules.delete(name);
    const process = this.#process;
    if (process === undefined) return;
    if (!process.send({ type: "stream-ended", name })) this.#notReading(process);
  }

  /** Stream `name`'s HTTP-TS and HLS figures. */
  httpStats(name: string): HttpStreamInfo {
    const current = this.#current.get(name);
    const past = this.#past.get(name);
    return {
      clients: current?.clients ?? 0,
      bytesSent: (past?.bytesSent ?? 0) + (current?.bytesSent ?? 0),
      skips: (past?.skips ?? 0) + (current?.skips ?? 0),
      hlsClients: current?.hlsClients ?? 0,
      hlsSegments: (past?.hlsSegments ?? 0) + (current?.hlsSegments ?? 0),
      hlsBytesSent: (past?.hlsBytesSent ?? 0) + (current?.hlsBytesSent ?? 0),
    };
  }

  /**
   * How many HTTP clients watch stream `name` now, by the last report:
   * HTTP-TS connections and HLS clients of the last 30 s.
   */
  httpViewers(name: string): number {
    const current = this.#current.get(name);
    return (current?.clients ?? 0) + (current?.hlsClients ?? 0);
  }

  /**
   * HTTP media requests refused at once for their client's rate of access
   * asks (src/output/access.ts), by protocol, since the server started.
   */
  rateLimited(): Record<MediaProtocol, number> {
    return {
      hls: this.#pastRateLimited.hls + this.#rateLimited.hls,
      "http-ts": this.#pastRateLimited["http-ts"] + this.#rateLimited["http-ts"],
    };
  }

  /** Stops the process: a clean stop first, then SIGKILL after `timeoutMs`. */
  async stop(timeoutMs: number): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
    this.#failFirstStart("the server is stopping");
    const process = this.#process;
    if (process === undefined) return;
    if (!process.send({ type: "shutdown" })) process.kill("SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const exited = await Promise.race([
      process.done.then(() => true),
      new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), timeoutMs)),
    ]);
    clearTimeout(timer);
    if (!exited) process.kill("SIGKILL");
    await process.done;
  }

  #launch(): void {
    if (this.#stopping) return;
    let process: P;
    try {
      process = this.#deps.launch({
        onReport: (p, report) => this.#onReport(p, report),
        onOutput: (p, line) =>
          log.warning("Media output process {pid}: {line}", { pid: p.pid, line }),
        onExit: (p, status) => this.#onExit(p, status),
      });
    } catch (error) {
      const reason = `cannot start it: ${error instanceof Error ? error.message : error}`;
      if (this.#address === undefined) this.#failFirstStart(reason);
      else this.#scheduleRestart(reason);
      return;
    }
    this.#process = process;
    this.#backoff.started();
    // Commands queue in the socket pair until it reads them: settings first.
    const listen = this.#address ?? this.#settings.listen;
    let sent = process.send({ type: "settings", settings: { ...this.#settings, listen } });
    sent &&= process.send({ type: "recordings", ...this.#recordings });
    sent &&= process.send(this.#accessRules());
    this.#sentRules.clear();
    for (const { name, fd, bytes } of this.#deps.streams()) {
      sent &&= process.send(this.#streamCommand(name, bytes), fd);
    }
    if (!sent) this.#notReading(process);
  }

  #accessRules(): OutputCommand {
    return { type: "access-rules", waitMs: this.#deps.accessWaitMs?.() ?? DEFAULT_ACCESS_WAIT_MS };
  }

  /** Decides an access request and answers it, to that process if it still runs. */
  async #answerAccess(process: P, id: number, request: MediaAccessRequest): Promise<void> {
    let answer: MediaAccessAnswer;
    try {
      answer = await (this.#deps.decideAccess?.(request) ??
        Promise.resolve({ allowed: true as const, ttlMs: OPEN_ACCESS_TTL_MS }));
    } catch (error) {
      log.error("Cannot decide HTTP access to {stream}: {error}", {
        stream: request.stream,
        error,
      });
      return; // it answers 503 when its wait is over
    }
    if (process !== this.#process) return;
    if (!process.send({ type: "access-answer", id, answer })) this.#notReading(process);
  }

  #hlsRules(name: string): HlsRules {
    return this.#deps.hlsRules?.(name) ?? DEFAULT_HLS_RULES;
  }

  /** The `stream` command for stream `name`, its rules noted as sent. */
  #streamCommand(name: string, bytes: number): OutputCommand {
    const hls = this.#hlsRules(name);
    this.#sentRules.set(name, JSON.stringify(hls));
    return { type: "stream", name, bufferBytes: bytes, hls };
  }

  #onReport(process: P, report: OutputReport): void {
    if (process !== this.#process) return;
    switch (report.type) {
      case "listening": {
        this.#listening = true;
        const first = this.#address === undefined;
        this.#address = report.address;
        if (first) this.#firstStart?.resolve(report.address);
        else {
          log.info("Media output process {pid} is back, listening on {address}", {
            pid: process.pid,
            address: formatEndpoint(report.address),
          });
        }
        break;
      }
      case "listen-failed":
        if (this.#address === undefined) this.#failFirstStart(report.detail);
        else {
          log.error("Media output process {pid} cannot listen on {address}: {detail}", {
            pid: process.pid,
            address: formatEndpoint(this.#address),
            detail: report.detail,
          });
        }
        break;
      case "stats": {
        // A report sent before it read that a stream ended: that stream is gone.
        const live = new Set(this.#deps.streams().map((stream) => stream.name));
        const reported = report.streams.filter((stream) => live.has(stream.name));
        this.#current = new Map(reported.map((stream) => [stream.name, stream]));
        this.#rateLimited = { ...report.rateLimited };
        break;
      }
      case "access-request":
        void this.#answerAccess(process, report.id, report.request);
        break;
      case "demand": {
        let waitMs = 0;
        try {
          const asked = this.#deps.demand?.(report.stream) ?? 0;
          waitMs = Math.min(MAX_DEMAND_WAIT_MS, Math.max(0, Math.round(asked)));
        } catch (error) {
          log.error("Cannot decide a pull of {stream} for HTTP: {error}", {
            stream: report.stream,
            error,
          });
        }
        if (!process.send({ type: "demand-answer", id: report.id, waitMs })) {
          this.#notReading(process);
        }
        break;
      }
      case "log":
        log[report.level]("Media output: {message}", { message: report.message });
        break;
    }
  }

  #onExit(process: P, status: Deno.CommandStatus): void {
    if (process !== this.#process) return;
    this.#process = undefined;
    this.#listening = false;
    // Its counts stay the streams' own: the next process counts from 0.
    for (const [name, stats] of this.#current) {
      const past = this.#past.get(name) ?? NO_COUNTS;
      this.#past.set(name, {
        bytesSent: past.bytesSent + stats.bytesSent,
        skips: past.skips + stats.skips,
        hlsSegments: past.hlsSegments + stats.hlsSegments,
        hlsBytesSent: past.hlsBytesSent + stats.hlsBytesSent,
      });
    }
    this.#current.clear();
    this.#pastRateLimited = this.rateLimited();
    this.#rateLimited = { hls: 0, "http-ts": 0 };
    if (this.#stopping) return;
    const how = status.signal !== null ? `killed by ${status.signal}` : `exit code ${status.code}`;
    if (this.#address === undefined) {
      this.#failFirstStart(`it exited before it listened (${how})`);
      return;
    }
    this.#backoff.exited();
    this.#scheduleRestart(`process ${process.pid} exited (${how})`);
  }

  #scheduleRestart(reason: string): void {
    if (this.#stopping || this.#restartTimer !== undefined) return;
    const delayMs = this.#backoff.nextDelayMs();
    log.error(
      "Media output {reason}: its HTTP clients are cut off, SRT connections go on; starting it again in {seconds} s",
      { reason, seconds: delayMs / 1000 },
    );
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      this.restarts++;
      this.#launch();
    }, delayMs);
  }

  /** The process cannot take a command (its socket pair is full): it is stuck, and killed. */
  #notReading(process: P): void {
    log.error("Media output process {pid} does not read its commands: killing it", {
      pid: process.pid,
    });
    process.kill("SIGKILL");
  }

  #failFirstStart(reason: string): void {
    const first = this.#firstStart;
    if (first === undefined || this.#address !== undefined) return;
    this.#firstStart = undefined;
    first.reject(new Error(reason));
  }
}

function formatEndpoint(endpoint: Endpoint): string {
  return endpoint.hostname.includes(":")
    ? `[${endpoint.hostname}]:${endpoint.port}`
    : `${endpoint.hostname}:${endpoint.port}`;
}
