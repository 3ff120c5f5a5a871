/**
 * How recordings are named on disk, and which ones a quota deletes. Shared
 * by the recorder (which writes them), the main process (which lists them)
 * and the media output process (which serves them, and must resolve a name
 * from a URL to a file of a record directory and nothing else).
 *
 * A recording of stream `live/cam1` started at 2025-01-02 03:04:05 UTC is
 * `live+cam1_20250102T030405Z.ts`: the stream name with each `/` as `+`
 * (a character stream names never contain, so the mapping goes both ways),
 * `_`, the UTC start time, `.ts`. A second file of the same stream started
 * within the same second gets `-2`, `-3`, … before `.ts`. No name this
 * module accepts contains a `/`, or is `.` or `..`.
 *
 * Pure: no file system.
 *
 * @module
 */

import { isStreamName } from "../protocol/stream_id.ts";

/** A recording file name, taken apart. */
export interface RecordingName {
  /** The stream recorded. */
  stream: string;
  /** When the file was started, in milliseconds since the epoch (whole seconds). */
  startMs: number;
  /** 1 for the first file started in that second, 2, 3, … for later ones. */
  sequence: number;
}

const NAME_PATTERN =
  /^([A-Za-z0-9._~+-]+)_(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z(?:-(\d{1,6}))?\.ts$/;

/** The file name of `stream`'s recording started at `startMs` (the `sequence`th that second). */
export function recordingFileName(stream: string, startMs: number, sequence = 1): string {
  if (!isStreamName(stream)) throw new TypeError(`Not a stream name: ${JSON.stringify(stream)}`);
  if (!Number.isInteger(sequence) || sequence < 1 || sequence > 999_999) {
    throw new RangeError(`Invalid recording sequence: ${sequence}`);
  }
  const time = new Date(startMs).toISOString(); // 2025-01-02T03:04:05.678Z
  const stamp = `${time.slice(0, 4)}${time.slice(5, 7)}${time.slice(8, 10)}T` +
    `${time.slice(11, 13)}${time.slice(14, 16)}${time.slice(17, 19)}Z`;
  return `${stream.replaceAll("/", "+")}_${stamp}${sequence === 1 ? "" : `-${sequence}`}.ts`;
}

/** Takes a recording file name apart; undefined when `file` is not one. */
export function parseRecordingFileName(file: string): RecordingName | undefined {
  const match = NAME_PATTERN.exec(file);
  if (match === null) return undefined;
  const stream = match[1]!.replaceAll("+", "/");
  if (!isStreamName(stream)) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(2, 8).map(Number) as number[];
  const startMs = Date.UTC(year!, month! - 1, day!, hour!, minute!, second!);
  // Rejects 20250230T… and the like: the name must be the one this time gives.
  const sequence = match[8] === undefined ? 1 : Number(match[8]);
  if (sequence < 2 && match[8] !== undefined) return undefined;
  if (recordingFileName(stream, startMs, sequence) !== file) return undefined;
  return { stream, startMs, sequence };
}

/** One file of a stream's recordings, as the quota sees it. */
export interface RecordingFile {
  name: string;
  bytes: number;
}

/**
 * Which of one stream's recordings `files` to delete, oldest first, so that
 * they take at most `quotaBytes` together; never `current` (the file being
 * written), even when it alone is over the quota. Names that are not
 * recordings are left alone.
 */
export function recordingsOverQuota(
  files: readonly RecordingFile[],
  options: { quotaBytes: number; current?: string },
): string[] {
  const dated = files
    .map((file) => ({ file, name: parseRecordingFileName(file.name) }))
    .filter((entry) => entry.name !== undefined)
    .sort((a, b) => compareRecordings(a.name!, b.name!));
  let total = dated.reduce((sum, entry) => sum + entry.file.bytes, 0);
  const doomed: string[] = [];
  for (const { file } of dated) {
    if (total <= options.quotaBytes) break;
    if (file.name === options.current) continue;
    doomed.push(file.name);
    total -= file.bytes;
  }
  return doomed;
}

/** Orders recordings oldest first. */
export function compareRecordings(a: RecordingName, b: RecordingName): number {
  return a.startMs - b.startMs || a.sequence - b.sequence;
}
