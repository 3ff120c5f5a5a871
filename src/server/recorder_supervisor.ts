/**
 * The main process's side of recording: one recorder process
 * (src/recorder/) per stream whose rules have a `record` key, while the
 * stream has a buffer. It makes the record directory, starts the recorder
 * with the buffer and its settings, stops it when the stream ends or the
 * rule goes (a reload), and starts it again when it dies, with a backoff
 * (1 s, doubling to 30 s; back to 1 s after a minute's good run). A
 * recorder told to stop that is still there {@link END_TIMEOUT_MS} later
 * (a hung disk) is killed; {@link RecorderSupervisor.stop} waits for every
 * recorder still running, those finishing an ended stream's file too. A
 * recording that stopped by itself because the disk is full (or a write
 * failed) is `failed` and not started again until a reload changes its
 * rule or the stream begins again: restarting would only fill the log.
 * No media passes through here; SRT connections never notice a recorder.
 *
 * The rules are tested with a fake process (`recorder_supervisor_test.ts`).
 *
 * @module
 */

import { type AtollConfig, recordingOf, type RecordRule, rulesFor } from "../config/config_file.ts";
import {
  RECORDER_EXIT_STOPPED,
  type RecorderCommand,
  type RecorderReport,
  type RecorderSettings,
  type RecorderStats,
  type RecordingStopReason,
} from "../ipc/recorder_messages.ts";
import type { RecordingInfo } from "./api_types.ts";
import { logger } from "./log.ts";
import type { ProcessEvents, SupervisedProcess } from "./paired_process.ts";
import { RestartBackoff, type RestartDelays } from "./restart_backoff.ts";

const log = logger("recorder");

/** How long a recorder told to stop may take to finish its file before it is killed. */
export const END_TIMEOUT_MS = 10_000;

/** What the supervisor needs of a recorder process (the real one is a `PairedProcess`). */
export type RecorderProcess = SupervisedProcess<RecorderCommand>;

/** What a recorder says, as events. */
export type RecorderEvents<P> = ProcessEvents<P, RecorderReport>;

export interface RecorderSupervisorDeps<P extends RecorderProcess> {
  /** Starts a recorder that writes in `dir`, whose reports go to `events`. */
  launch(dir: string, events: RecorderEvents<P>): P;
  /**
   * Makes the record directory unless it exists; throws (or rejects) when
   * it cannot. Better asynchronous: a hung disk then holds a pool thread,
   * not the main process's event loop.
   */
  makeDirectory(dir: string): void | Promise<void>;
  now?: () => number;
  /** Restart delays; 1 s and 30 s by default (restart_backoff.ts). */
  restartDelayMs?: RestartDelays;
  /** How long a recorder told to stop may take before it is killed ({@link END_TIMEOUT_MS}). */
  endTimeoutMs?: number;
}

type State = "recording" | "stopped" | "failed";

/** Why a recording is not going, as the API and metrics say it. */
export type RecordingFailure = RecordingStopReason | "no-directory";

interface Recording {
  name: string;
  rule: RecordRule;
  fd: number;
  bytes: number;
  process: RecorderProcess | undefined;
  state: State;
  reason: RecordingFailure | undefined;
  backoff: RestartBackoff;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** What the running recorder reported. */
  current: RecorderStats | undefined;
  /** What recorders before it wrote. */
  past: { bytesWritten: number; files: number };
  /** Whether its last start is logged as back (once it reported). */
  restarted: boolean;
}

export class RecorderSupervisor<Q extends RecorderProcess> {
  #config: AtollConfig;
  #deps: RecorderSupervisorDeps<Q>;
  #now: () => number;
  #recordings = new Map<string, Recording>();
  /**
   * Every recorder started that has not exited, those no longer in
   * {@link #recordings} (told to stop, finishing their files) too, with the
   * timer that kills them when they were told to stop and do not.
   */
  #running = new Map<RecorderProcess, ReturnType<typeof setTimeout> | undefined>();
  #stopping = false;
  /** Recordings that stopped by themselves, by stream and reason, since start. */
  readonly failures = new Map<string, Map<RecordingFailure, number>>();
  /** Times a recorder was started again after it died. */
  restarts = 0;

  constructor(config: AtollConfig, deps: RecorderSupervisorDeps<Q>) {
    this.#config = config;
    this.#deps = deps;
    this.#now = deps.now ?? (() => performance.now());
  }

  /** The record rules of every stream, for the listing: the directories in use. */
  get config(): AtollConfig {
    return this.#config;
  }

  /** Stream `name` has a buffer: it is recorded if its rules say so. */
  streamCreated(name: string, fd: number, bytes: number): void {
    this.#end(name);
    const rule = recordingOf(rulesFor(this.#config, name));
    if (rule === undefined || this.#stopping) return;
    const recording: Recording = {
      name,
      rule,
      fd,
      bytes,
      process: undefined,
      state: "stopped",
      reason: undefined,
      backoff: new RestartBackoff(this.#deps.restartDelayMs, this.#now),
      timer: undefined,
      current: undefined,
      past: { bytesWritten: 0, files: 0 },
      restarted: false,
    };
    this.#recordings.set(name, recording);
    this.#launch(recording);
  }

  /** Stream `name` ended: its recorder finishes its file and stops. */
  streamEnded(name: string): void {
    this.#end(name);
  }

  /**
   * A reload: recordings start, stop or start again (a changed rule, or one
   * that had failed) as the new rules say, for the streams that have
   * buffers now (`buffers`).
   */
  setConfig(config: AtollConfig, buffers: { name: string; fd: number; bytes: number }[]): void {
    this.#config = config;
    for (const { name, fd, bytes } of buffers) {
      const rule = recordingOf(rulesFor(config, name));
      const recording = this.#recordings.get(name);
      if (rule === undefined) {
        if (recording !== undefined) {
          log.info("Recording of {stream} stops: its rules no longer record it", { stream: name });
        }
        this.#end(name);
        continue;
      }
      if (
        recording !== undefined && recording.state !== "failed" &&
        JSON.stringify(recording.rule) === JSON.stringify(rule)
      ) continue;
      this.streamCreated(name, fd, bytes);
    }
  }

  /** Stream `name`'s recording as the API shows it; null when it is not recorded. */
  info(name: string): RecordingInfo | null {
    const recording = this.#recordings.get(name);
    if (recording === undefined) return null;
    const current = recording.current;
    return {
      state: recording.state,
      dir: recording.rule.dir,
      file: current?.file ?? null,
      bytesWritten: recording.past.bytesWritten + (current?.bytesWritten ?? 0),
      files: recording.past.files + (current?.files ?? 0),
      ...(recording.reason === undefined ? {} : { reason: recording.reason }),
    };
  }

  /** The pid of stream `name`'s recorder, while one runs. */
  pidOf(name: string): number | undefined {
    return this.#recordings.get(name)?.process?.pid;
  }

  /** Stops every recorder: a clean stop first, SIGKILL after `timeoutMs`. */
  async stop(timeoutMs: number): Promise<void> {
    this.#stopping = true;
    for (const name of [...this.#recordings.keys()]) this.#end(name);
    // Those ended before (still finishing a file) as well as those just told to.
    const processes = [...this.#running.keys()];
    let timer: ReturnType<typeof setTimeout> | undefined;
    const all = Promise.all(processes.map((p) => p.done));
    const exited = await Promise.race([
      all.then(() => true),
      new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), timeoutMs)),
    ]);
    clearTimeout(timer);
    if (!exited) { for (const process of processes) process.kill("SIGKILL"); }
    await all;
  }

  #end(name: string): void {
    const recording = this.#recordings.get(name);
    if (recording === undefined) return;
    this.#recordings.delete(name);
    clearTimeout(recording.timer);
    const process = recording.process;
    if (process === undefined || !this.#running.has(process)) return;
    if (!process.send({ type: "shutdown" })) process.kill("SIGTERM");
    const timeoutMs = this.#deps.endTimeoutMs ?? END_TIMEOUT_MS;
    this.#running.set(
      process,
      setTimeout(() => {
        log.error(
          "Recorder of {stream} ({pid}) did not stop within {seconds} s: killing it; its last file may end short",
          { stream: name, pid: process.pid, seconds: timeoutMs / 1000 },
        );
        process.kill("SIGKILL");
      }, timeoutMs),
    );
  }

  /** Makes the record directory, then starts the recorder, unless the recording ended meanwhile. */
  #launch(recording: Recording): void {
    if (this.#stopping || this.#recordings.get(recording.name) !== recording) return;
    const dir = recording.rule.dir;
    const cannotMake = (error: unknown) => {
      if (this.#stopping || this.#recordings.get(recording.name) !== recording) return;
      this.#fail(recording, "no-directory", `cannot make ${dir}: ${describe(error)}`);
    };
    let made: void | Promise<void>;
    try {
      made = this.#deps.makeDirectory(dir);
    } catch (error) {
      cannotMake(error);
      return;
    }
    if (made instanceof Promise) made.then(() => this.#spawn(recording), cannotMake);
    else this.#spawn(recording);
  }

  #spawn(recording: Recording): void {
    if (this.#stopping || this.#recordings.get(recording.name) !== recording) return;
    const { name, rule } = recording;
    let process: Q;
    try {
      process = this.#deps.launch(rule.dir, {
        onReport: (p, report) => this.#onReport(recording, p, report),
        onOutput: (p, line) =>
          log.warning("Recorder of {stream} ({pid}): {line}", { stream: name, pid: p.pid, line }),
        onExit: (p, status) => this.#onExit(recording, p, status),
      });
    } catch (error) {
      this.#scheduleRestart(recording, `cannot start: ${describe(error)}`);
      return;
    }
    this.#running.set(process, undefined);
    recording.process = process;
    recording.state = "recording";
    recording.reason = undefined;
    recording.backoff.started();
    const settings: RecorderSettings = {
      stream: name,
      dir: rule.dir,
      rotateSeconds: rule.rotateSeconds,
      quotaBytes: rule.quotaBytes,
      bufferBytes: recording.bytes,
    };
    if (!process.send({ type: "record", settings }, recording.fd)) process.kill("SIGKILL");
  }

  #onReport(recording: Recording, process: Q, report: RecorderReport): void {
    if (recording.process !== process) return;
    switch (report.type) {
      case "stats":
        recording.current = report.stats;
        if (recording.restarted) {
          recording.restarted = false;
          log.info("Recorder of {stream} is back ({pid}), writing {file}", {
            stream: recording.name,
            pid: process.pid,
            file: report.stats.file ?? "nothing yet",
          });
        }
        break;
      case "stopped":
        this.#fail(
          recording,
          report.reason,
          report.reason === "disk-full"
            ? `the disk is full (${report.detail})`
            : `a write failed (${report.detail})`,
        );
        break;
      case "log":
        log[report.level]("Recorder of {stream}: {message}", {
          stream: recording.name,
          message: report.message,
        });
        break;
    }
  }

  #onExit(recording: Recording, process: Q, status: Deno.CommandStatus): void {
    clearTimeout(this.#running.get(process));
    this.#running.delete(process);
    if (recording.process !== process) return;
    recording.process = undefined;
    const current = recording.current;
    if (current !== undefined) {
      recording.past.bytesWritten += current.bytesWritten;
      recording.past.files += current.files;
      recording.current = undefined;
    }
    if (this.#recordings.get(recording.name) !== recording) return; // stopped on purpose
    if (recording.state === "failed") return;
    if (status.code === RECORDER_EXIT_STOPPED && status.signal === null) {
      // It said why on stdout, unless that was lost: failed all the same.
      this.#fail(recording, "write-error", "it stopped by itself");
      return;
    }
    const how = status.signal !== null ? `killed by ${status.signal}` : `exit code ${status.code}`;
    recording.backoff.exited();
    this.#scheduleRestart(recording, `process ${process.pid} exited (${how})`);
  }

  #scheduleRestart(recording: Recording, reason: string): void {
    if (this.#stopping || recording.timer !== undefined) return;
    recording.state = "stopped";
    const delayMs = recording.backoff.nextDelayMs();
    log.error(
      "Recorder of {stream} {reason}: the stream goes on unrecorded; starting it again in {seconds} s",
      { stream: recording.name, reason, seconds: delayMs / 1000 },
    );
    recording.timer = setTimeout(() => {
      recording.timer = undefined;
      this.restarts++;
      recording.restarted = true;
      this.#launch(recording);
    }, delayMs);
  }

  #fail(recording: Recording, reason: RecordingFailure, detail: string): void {
    if (recording.state === "failed") return;
    recording.state = "failed";
    recording.reason = reason;
    const counts = this.failures.get(recording.name) ?? new Map<RecordingFailure, number>();
    counts.set(reason, (counts.get(reason) ?? 0) + 1);
    this.failures.set(recording.name, counts);
    log.error(
      "Recording of {stream} stopped: {detail}; the stream goes on, and it is not recorded again until a reload or the stream begins again",
      { stream: recording.name, detail },
    );
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
