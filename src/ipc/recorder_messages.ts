/**
 * Messages between the main process and a recorder process (src/recorder/),
 * which writes one stream to MPEG-TS files from its buffer.
 *
 * Two channels, as with the media output process (output_messages.ts):
 * - the Unix socket pair carries {@link RecorderCommand}s, one JSON object a
 *   message; `record`, always first, carries the stream buffer's memfd
 *   (SCM_RIGHTS). When the main process is gone the pair closes, and the
 *   recorder stops;
 * - the recorder's stdout carries {@link RecorderReport}s, one JSON object a
 *   line.
 *
 * Everything that crosses is validated where it arrives.
 *
 * @module
 */

import { invalid, isCount, isObject, parseJson } from "./json.ts";
import { isStreamName } from "../protocol/stream_id.ts";
import type { LogLevelName } from "./messages.ts";

/**
 * The recorder's exit code for a recording that stopped by itself (a full
 * disk): the main process does not start it again.
 */
export const RECORDER_EXIT_STOPPED = 3;

/** What a recorder records, and how. */
export interface RecorderSettings {
  stream: string;
  /** The directory of the files (absolute; it exists). */
  dir: string;
  /** A new file starts at the first key frame after this many seconds. */
  rotateSeconds: number;
  /** The stream's files in `dir` take at most this many bytes, the oldest deleted first. */
  quotaBytes: number;
  /** The size of the attached stream buffer. */
  bufferBytes: number;
}

/** Main → recorder, over the socket pair. */
export type RecorderCommand =
  /** Always first, with the stream buffer attached. */
  | { type: "record"; settings: RecorderSettings }
  /** Stop cleanly: finish the file, then exit. */
  | { type: "shutdown" };

/** Why a recording stopped by itself. */
export type RecordingStopReason = "disk-full" | "write-error";

/** What a recorder has done since it started. */
export interface RecorderStats {
  /** The file being written (its name in the directory); null between files. */
  file: string | null;
  /** Bytes written to files. */
  bytesWritten: number;
  /** Files started. */
  files: number;
  /** Times it fell behind the buffer and skipped ahead. */
  skips: number;
  /** Files it deleted to keep to the quota. */
  deleted: number;
}

/** Recorder → main, on stdout. */
export type RecorderReport =
  /** Its figures, when one changed (every 2 s at most), and at once when a file starts. */
  | { type: "stats"; stats: RecorderStats }
  /** It cannot go on (the disk is full, say); it exits next and should not be started again. */
  | { type: "stopped"; reason: RecordingStopReason; detail: string }
  | { type: "log"; level: LogLevelName; message: string };

function isSettings(value: unknown): value is RecorderSettings {
  return isObject(value) && typeof value.stream === "string" && isStreamName(value.stream) &&
    typeof value.dir === "string" && value.dir.startsWith("/") &&
    Number.isInteger(value.rotateSeconds) && (value.rotateSeconds as number) > 0 &&
    Number.isSafeInteger(value.quotaBytes) && (value.quotaBytes as number) > 0 &&
    Number.isInteger(value.bufferBytes) && (value.bufferBytes as number) > 0;
}

function isStats(value: unknown): value is RecorderStats {
  return isObject(value) && (value.file === null || typeof value.file === "string") &&
    isCount(value.bytesWritten) && isCount(value.files) && isCount(value.skips) &&
    isCount(value.deleted);
}

/** Parses one command the recorder read from its socket pair; throws TypeError when invalid. */
export function parseRecorderCommand(text: string): RecorderCommand {
  const value = parseJson(text, "recorder command");
  const ok = value.type === "record" ? isSettings(value.settings) : value.type === "shutdown";
  if (!ok) throw invalid("recorder command", value);
  return value as unknown as RecorderCommand;
}

/** Parses one line the recorder wrote; throws TypeError when it is not a valid report. */
export function parseRecorderReport(line: string): RecorderReport {
  const value = parseJson(line, "recorder report");
  const ok = (() => {
    switch (value.type) {
      case "stats":
        return isStats(value.stats);
      case "stopped":
        return (value.reason === "disk-full" || value.reason === "write-error") &&
          typeof value.detail === "string";
      case "log":
        return ["debug", "info", "warning", "error"].includes(value.level as string) &&
          typeof value.message === "string";
      default:
        return false;
    }
  })();
  if (!ok) throw invalid("recorder report", value);
  return value as unknown as RecorderReport;
}
