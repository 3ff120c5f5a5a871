/**
 * Whole-file locks (`flock`) and opening a path to an fd: a main process
 * holds its state directory's lock for as long as it runs, and the kernel
 * lets go of it however the process dies. The main process alone needs
 * these, so they are a library of their own, and a child does not bind
 * them (each bound symbol costs a child's start about 0.1 ms).
 *
 * @module
 */

import {
  check,
  EAGAIN,
  errno,
  LIBC_NAME,
  LOCK_EX,
  LOCK_NB,
  O_CLOEXEC,
  O_CREAT,
  O_NOFOLLOW,
  O_RDWR,
  systemError,
} from "./libc.ts";
import { OwnedFd } from "./owned_fd.ts";
import { pointerTo } from "./pointer.ts";

const FILE_SYMBOLS = {
  /** Variadic in C; an int third argument (the mode) is ABI-safe. */
  open: {
    parameters: [
      "pointer", // const char* path
      "i32", // int flags
      "i32", // mode_t mode
    ],
    result: "i32", // int: the fd
  },
  flock: {
    parameters: [
      "i32", // int fd
      "i32", // int operation
    ],
    result: "i32", // int
  },
  ftruncate: {
    parameters: [
      "i32", // int fd
      "i64", // off_t length
    ],
    result: "i32", // int
  },
  /** On the JS thread: a few bytes to a regular file. */
  pwrite: {
    parameters: [
      "i32", // int fd
      "pointer", // const void* buf
      "usize", // size_t count
      "i64", // off_t offset
    ],
    result: "isize", // ssize_t
  },
} as const satisfies Deno.ForeignLibraryInterface;

let library: Deno.DynamicLibrary<typeof FILE_SYMBOLS> | undefined;

function files(): Deno.DynamicLibrary<typeof FILE_SYMBOLS>["symbols"] {
  library ??= Deno.dlopen(LIBC_NAME, FILE_SYMBOLS);
  return library.symbols;
}

function cString(text: string): Uint8Array<ArrayBuffer> {
  const bytes = new TextEncoder().encode(text);
  const string = new Uint8Array(bytes.byteLength + 1);
  string.set(bytes);
  return string;
}

/** Opens `path` close-on-exec with `flags` (`O_RDWR`, say), creating it with `mode` under `O_CREAT`. */
export function openPath(path: string, flags: number, mode = 0o600): OwnedFd {
  return new OwnedFd(
    check(`open ${path}`, files().open(pointerTo(cString(path)), flags | O_CLOEXEC, mode)),
  );
}

/**
 * Opens (creating it if need be; never through a symbolic link) and
 * exclusively locks the file at `path`, without waiting; undefined when
 * another process holds the lock. The lock lasts as long as the returned fd
 * is open, and no child inherits it.
 */
export function tryLockFile(path: string): OwnedFd | undefined {
  const file = openPath(path, O_RDWR | O_CREAT | O_NOFOLLOW);
  if (files().flock(file.fd, LOCK_EX | LOCK_NB) === 0) return file;
  const code = errno();
  file.close();
  if (code === EAGAIN) return undefined;
  throw systemError(`flock ${path}`, code);
}

/** Replaces the whole content of the file open as `fd` with `text`. */
export function rewriteFile(fd: number, text: string): void {
  const bytes = new TextEncoder().encode(text);
  check("ftruncate", files().ftruncate(fd, 0n));
  const written = Number(
    check("write", files().pwrite(fd, pointerTo(bytes), BigInt(bytes.byteLength), 0n)),
  );
  if (written !== bytes.byteLength) {
    throw new Error(`wrote ${written} of ${bytes.byteLength} bytes`);
  }
}
