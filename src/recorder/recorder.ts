/**
 * One stream's recording: follows its buffer with a {@link StreamFollower}
 * and writes what a viewer would get to MPEG-TS files in the record
 * directory, named by src/ipc/recording_files.ts.
 *
 * - Each file starts at a key frame with the PAT and PMT (and the video's
 *   parameter sets) first, so it plays on its own.
 * - A new file starts at the first key frame received `rotateSeconds` or
 *   more after the file's first message, by the receive times the messages
 *   carry (`timeUs`), not by when they are read: a recorder that fell
 *   behind, or reads a backlog, cuts the same files as one that kept up.
 *   And when a new publisher takes the stream over (at its first key frame).
 * - After a file starts, the stream's files in the directory are kept to
 *   `quotaBytes`, the oldest deleted first; never the one being written,
 *   nor another's modified in the last {@link RECENT_WRITE_MS} (see there).
 * - Writes go straight to the file, at most a batch at a time
 *   (src/media/follower_batch.ts): memory stays bounded. A disk slower
 *   than the stream makes the recorder fall behind in the ring, and it
 *   skips ahead to the newest key frame, counted, like a slow viewer.
 * - Told to stop, it writes what the buffer still holds (a stream's last
 *   messages), then closes the file.
 * - A write that fails ends the recording with a {@link RecordingStopped}:
 *   `disk-full` for ENOSPC and EDQUOT, `write-error` otherwise.
 *
 * @module
 */

import { FollowerBatch } from "../media/follower_batch.ts";
import { StreamFollower } from "../media/stream_follower.ts";
import {
  parseRecordingFileName,
  recordingFileName,
  recordingsOverQuota,
} from "../ipc/recording_files.ts";
import type {
  RecorderSettings,
  RecorderStats,
  RecordingStopReason,
} from "../ipc/recorder_messages.ts";

/** The recording cannot go on: the disk is full, or a write failed otherwise. */
export class RecordingStopped extends Error {
  override name = "RecordingStopped";
  constructor(readonly reason: RecordingStopReason, readonly detail: string) {
    super(detail);
  }
}

/** What a recording needs from around it. */
export interface RecordingDeps {
  /**
   * Resolves once the buffer may have changed since its wake word read
   * `seen` (or a while passed).
   */
  changed(seen: number): Promise<void>;
  /**
   * Whether to stop now: what the buffer holds is written, the file
   * closed, and {@link record} returns.
   */
  stopping(): boolean;
  /** A file started, or the figures changed. */
  onStats?(stats: RecorderStats): void;
  /** A line for the main process's log. */
  log?(level: "info" | "warning", message: string): void;
}

/**
 * A file of the stream modified this recently (ms, either way on the system
 * clock that stamps mtimes) is not deleted to keep the quota, unless this
 * recorder wrote it: another recorder may still be writing it. After a
 * reload that changed the rule, or a stream that began again at once, the
 * old recorder finishes its file (the supervisor gives it 10 s) while the
 * new one starts; after an upgrade the old main process's recorders do (2
 * s). Deleting such a file would lose what is still written to it, unseen.
 * A recorder writes each time messages come, so its file stays this fresh
 * while its stream flows; one closed since is deleted at a later start.
 * Done here rather than by the supervisor starting the new recorder only
 * once the old one exited: that would leave the stream unrecorded
 * meanwhile (up to 10 s on a hung disk), and could not cover an upgrade.
 */
export const RECENT_WRITE_MS = 30_000;

/**
 * Records the stream buffer `buffer` per `settings` until `deps.stopping()`,
 * then writes what the buffer still holds and closes the file; throws
 * {@link RecordingStopped} when it cannot go on. `stats` is updated as it
 * goes.
 */
export async function record(
  buffer: ArrayBuffer,
  settings: RecorderSettings,
  deps: RecordingDeps,
  stats: RecorderStats = { file: null, bytesWritten: 0, files: 0, skips: 0, deleted: 0 },
): Promise<RecorderStats> {
  const follower = StreamFollower.attach(buffer);
  const writer = new FileWriter(settings, deps, stats);
  const batch = new FollowerBatch();
  const rotateUs = settings.rotateSeconds * 1_000_000;
  /** The receive time of the file's first message (µs). */
  let fileStartUs = 0;
  /** The receive time of the last message read, undefined after a skip. */
  let lastUs: number | undefined;
  /**
   * The longest gap between two messages in a row of this file (at most
   * rotateUs): a pause of the stream marks key frames early in its own file only.
   */
  let longestGapUs = 0;
  /** The next key frame comes with the PAT and PMT, to start a file at. */
  let marked = false;
  // Once told to stop, what the buffer holds is still written, so a stream's
  // last messages are not lost; at most one ring's worth, as a publisher may
  // still be writing.
  let left = Number.POSITIVE_INFINITY;
  try {
    for (;;) {
      if (left === Number.POSITIVE_INFINITY && deps.stopping()) left = follower.layout.slots;
      const seen = follower.wakeValue;
      let read = 0;
      let caughtUp = false;
      while (!batch.full && read < left) {
        const step = follower.next();
        if (step.kind === "none") {
          caughtUp = true;
          break;
        }
        read++;
        if (step.kind === "skipped") lastUs = undefined;
        if (step.kind !== "message") continue;
        const timeUs = step.timeUs;
        if (lastUs !== undefined && !step.newPublisher) {
          longestGapUs = Math.min(rotateUs, Math.max(longestGapUs, timeUs - lastUs));
        }
        lastUs = timeUs;
        // The follower gives the PAT and PMT with a marked key frame (or at a start).
        if (step.programInfo !== undefined) marked = false;
        const due = timeUs - fileStartUs >= rotateUs;
        const rotate = writer.file === undefined || step.newPublisher ||
          (due && step.programInfo !== undefined && step.randomAccess);
        if (rotate) {
          await writer.write(batch.bytes);
          batch.clear();
          await writer.open(timeUs / 1000);
          fileStartUs = timeUs;
          longestGapUs = 0;
        }
        batch.append(step);
        // A key frame can start a file only if marked before it is read, and
        // the next message's time is not known until then: mark once it may be
        // due, coming at most the longest gap of this file so far after this
        // one. (Marking every key frame would put a PAT and PMT before each,
        // and before every audio frame of a stream without video.) A key frame
        // that comes after a longer pause than any before in its file, just as
        // rotation falls due, is missed: the next one starts the file.
        if (!marked && timeUs + longestGapUs >= fileStartUs + rotateUs) {
          follower.markNextKeyFrame();
          marked = true;
        }
      }
      left -= read;
      stats.skips = follower.skips;
      const wrote = batch.length > 0;
      if (wrote) {
        await writer.write(batch.bytes);
        batch.clear();
      }
      if (left !== Number.POSITIVE_INFINITY) {
        if (caughtUp || left <= 0) break;
      } else if (!wrote && read === 0 && follower.wakeValue === seen) {
        // Read the wake word before reading the buffer: a write since then has changed it.
        await deps.changed(seen);
      }
    }
  } finally {
    writer.close();
  }
  return stats;
}

/** The file being written, and the quota kept after each one starts. */
class FileWriter {
  file: Deno.FsFile | undefined;
  /** The files this recorder started, that are still in the directory as far as it knows. */
  readonly #own = new Set<string>();
  readonly #settings: RecorderSettings;
  readonly #deps: RecordingDeps;
  readonly #stats: RecorderStats;

  constructor(settings: RecorderSettings, deps: RecordingDeps, stats: RecorderStats) {
    this.#settings = settings;
    this.#deps = deps;
    this.#stats = stats;
  }

  /**
   * Closes the file being written and starts the next one, named for
   * `startMs` (its first message's receive time, wall-clock ms); then keeps
   * to the quota.
   */
  async open(startMs: number): Promise<void> {
    this.close();
    const { dir, stream } = this.#settings;
    for (let sequence = 1;; sequence++) {
      const name = recordingFileName(stream, startMs, sequence);
      try {
        this.file = await Deno.open(`${dir}/${name}`, { write: true, createNew: true });
      } catch (error) {
        if (error instanceof Deno.errors.AlreadyExists) continue;
        throw stopped(error, `Cannot create ${dir}/${name}`);
      }
      this.#stats.file = name;
      this.#own.add(name);
      break;
    }
    this.#stats.files++;
    this.#deps.onStats?.(this.#stats);
    await this.#keepQuota();
  }

  async write(bytes: Uint8Array): Promise<void> {
    const file = this.file;
    if (file === undefined || bytes.length === 0) return;
    let offset = 0;
    try {
      while (offset < bytes.length) offset += await file.write(bytes.subarray(offset));
    } catch (error) {
      throw stopped(error, `Cannot write ${this.#settings.dir}/${this.#stats.file}`);
    } finally {
      this.#stats.bytesWritten += offset;
    }
  }

  close(): void {
    try {
      this.file?.close();
    } catch {
      // Closed already.
    }
    this.file = undefined;
    this.#stats.file = null;
  }

  /**
   * Deletes the stream's oldest files until they fit the quota, but neither
   * the one being written nor another's written to lately
   * ({@link RECENT_WRITE_MS}): those count toward the quota, and are
   * deleted at a later start once still.
   */
  async #keepQuota(): Promise<void> {
    const { dir, stream, quotaBytes } = this.#settings;
    /** Those it may delete; the others' bytes count all the same. */
    const files: { name: string; bytes: number }[] = [];
    let sparedBytes = 0;
    const listed = new Set<string>();
    try {
      for await (const entry of Deno.readDir(dir)) {
        if (!entry.isFile || parseRecordingFileName(entry.name)?.stream !== stream) continue;
        try {
          const info = await Deno.lstat(`${dir}/${entry.name}`);
          listed.add(entry.name);
          const modified = info.mtime?.getTime();
          if (
            !this.#own.has(entry.name) && modified !== undefined &&
            Math.abs(Date.now() - modified) < RECENT_WRITE_MS
          ) sparedBytes += info.size;
          else files.push({ name: entry.name, bytes: info.size });
        } catch {
          // Gone meanwhile.
        }
      }
    } catch (error) {
      this.#deps.log?.("warning", `Cannot read ${dir} to keep the quota: ${describe(error)}`);
      return;
    }
    // Only those still there: the set stays as small as the stream's files.
    for (const name of this.#own) if (!listed.has(name)) this.#own.delete(name);
    const current = this.#stats.file ?? undefined;
    for (
      const name of recordingsOverQuota(files, {
        quotaBytes: quotaBytes - sparedBytes,
        ...(current === undefined ? {} : { current }),
      })
    ) {
      try {
        await Deno.remove(`${dir}/${name}`);
        this.#stats.deleted++;
        this.#deps.log?.("info", `Deleted ${dir}/${name} to keep ${stream} within its quota`);
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) continue;
        this.#deps.log?.("warning", `Cannot delete ${dir}/${name}: ${describe(error)}`);
      }
    }
  }
}

/** The errno names that mean the disk (or the user's quota) is full. */
const DISK_FULL = new Set(["ENOSPC", "EDQUOT"]);

function stopped(error: unknown, what: string): RecordingStopped {
  const code = (error as { code?: unknown } | null)?.code;
  const reason = typeof code === "string" && DISK_FULL.has(code) ? "disk-full" : "write-error";
  return new RecordingStopped(reason, `${what}: ${describe(error)}`);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
