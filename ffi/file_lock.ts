/**
 * Whole-file locks (`flock`) and opening a path to an fd: a main process
 * holds its state directory's lock for as long as it runs, and the kernel
 * lets go of it when the process dies, however it dies.
 *
 * @module
 */

import {
  check,
  EAGAIN,
  errno,
  libc,
  LOCK_EX,
  LOCK_NB,
  O_CLOEXEC,
  O_CREAT,
  O_RDWR,
  systemError,
} from "./libc.ts";
import { OwnedFd } from "./owned_fd.ts";

function cString(text: string): Uint8Array<ArrayBuffer> {
  const bytes = new TextEncoder().encode(text);
  const string = new Uint8Array(bytes.byteLength + 1);
  string.set(bytes);
  return string;
}

/** Opens `path` close-on-exec with `flags` (`O_RDWR`, say), creating it with `mode` under `O_CREAT`. */
export function openPath(path: string, flags: number, mode = 0o600): OwnedFd {
  return new OwnedFd(check(`open ${path}`, libc().open(cString(path), flags | O_CLOEXEC, mode)));
}

/**
 * Opens (creating it if need be) and exclusively locks the file at `path`,
 * without waiting; undefined when another process holds the lock. The lock
 * lasts as long as the returned fd is open, and no child inherits it.
 */
export function tryLockFile(path: string): OwnedFd | undefined {
  const file = openPath(path, O_RDWR | O_CREAT);
  if (libc().flock(file.fd, LOCK_EX | LOCK_NB) === 0) return file;
  const code = errno();
  file.close();
  if (code === EAGAIN) return undefined;
  throw systemError(`flock ${path}`, code);
}
