/**
 * Downloads of recordings on the media port: `GET /recordings/FILE`, with
 * the API token as `Authorization: Bearer TOKEN`. The main process lists
 * the files (`GET /api/recordings`) but never carries media, so the files
 * are served here. FILE must be a recording's name (src/ipc/recording_files.ts:
 * no `/`, no `..`), looked up in the record directories of the rules in
 * use and nowhere else; the main process sends both the token and the
 * directories (a `recordings` command), again after each reload.
 *
 * The body is written as fast as the client takes it, 64 KiB at a time,
 * straight from the file: memory stays bounded whatever its size.
 *
 * @module
 */

import { sameText } from "../http/media_signature.ts";
import { parseRecordingFileName } from "../ipc/recording_files.ts";
import { type ResponseSink, STALL_TIMEOUT_MS, writeAll } from "./ts_stream.ts";

/** The path prefix of downloads. */
export const RECORDINGS_PREFIX = "/recordings/";
const CHUNK_BYTES = 64 * 1024;

/** Who may download, and from where: what the main process last sent. */
export interface RecordingAccess {
  /** The API token; null: none is set, and downloads are refused. */
  token: string | null;
  /** The record directories of the rules in use. */
  dirs: string[];
}

/** The file a request target names, or undefined when it is no download path. */
export function recordingOfTarget(target: string): { file: string } | "invalid" | undefined {
  const path = target.split(/[?#]/, 1)[0]!;
  if (!path.startsWith(RECORDINGS_PREFIX)) return undefined;
  let file: string;
  try {
    file = decodeURIComponent(path.slice(RECORDINGS_PREFIX.length));
  } catch {
    return "invalid";
  }
  return parseRecordingFileName(file) === undefined ? "invalid" : { file };
}

/** Why a download is refused (status and message), or undefined when the token is right. */
export function tokenRefusal(
  access: RecordingAccess,
  authorization: string | null,
): { status: number; message: string; challenge?: boolean } | undefined {
  if (access.token === null) {
    return { status: 403, message: "Downloads need the API token, and none is set" };
  }
  if (authorization === null) {
    return { status: 401, message: "Missing Authorization: Bearer token", challenge: true };
  }
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (match === null) {
    return { status: 401, message: "Authorization must be: Bearer TOKEN", challenge: true };
  }
  return sameText(match[1]!, access.token)
    ? undefined
    : { status: 403, message: "Wrong API token" };
}

/** Opens recording `file` in one of `dirs`; undefined when no directory has it as a regular file. */
export async function openRecording(
  dirs: readonly string[],
  file: string,
): Promise<{ file: Deno.FsFile; bytes: number } | undefined> {
  for (const dir of dirs) {
    const path = `${dir}/${file}`;
    let opened: Deno.FsFile | undefined;
    try {
      // lstat: a symlink planted in the directory is not followed.
      const info = await Deno.lstat(path);
      if (!info.isFile) continue;
      opened = await Deno.open(path, { read: true });
      // And not one swapped in between: what was opened is what lstat saw.
      const openedInfo = await opened.stat();
      if (openedInfo.ino !== info.ino || openedInfo.dev !== info.dev) {
        opened.close();
        continue;
      }
      return { file: opened, bytes: info.size };
    } catch {
      opened?.close();
      continue;
    }
  }
  return undefined;
}

/**
 * Writes `bytes` of `file` to `sink` after `head`; false when the client
 * went or stalled. The file may still grow (it is being written): only
 * `bytes` are sent, as the head announced.
 */
export async function sendFile(
  sink: ResponseSink,
  head: Uint8Array,
  file: Deno.FsFile,
  bytes: number,
): Promise<boolean> {
  if (!await writeAll(sink, head, STALL_TIMEOUT_MS)) return false;
  const chunk = new Uint8Array(CHUNK_BYTES);
  let left = bytes;
  while (left > 0) {
    const n = await file.read(chunk.subarray(0, Math.min(CHUNK_BYTES, left)));
    if (n === null) return false; // shorter than it was: truncated meanwhile
    if (!await writeAll(sink, chunk.subarray(0, n), STALL_TIMEOUT_MS)) return false;
    left -= n;
  }
  return true;
}
