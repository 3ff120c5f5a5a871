/**
 * The main process's state directory: what lets a new main process find
 * the children of one that crashed or handed over (issue "The main process
 * can crash"). It holds
 * - `lock`, locked (`flock`) by the main process for as long as it runs,
 *   with its pid inside for messages: a second main process on the same
 *   directory is refused, and the kernel frees the lock however the holder
 *   dies;
 * - `children/PID.sock`, one listening socket per connected child whose main
 *   process is gone, where it waits to be adopted (src/ipc/adoption.ts).
 *
 * @module
 */

import type { OwnedFd } from "../../ffi/owned_fd.ts";
import { rewriteFile, tryLockFile } from "../../ffi/file_lock.ts";
import { CHILDREN_DIR, pidOfSocketName } from "../ipc/adoption.ts";
import { StartupError } from "./startup_error.ts";

/**
 * The state directory a main process uses unless told (`--state-dir`), one
 * per SRT port: under `/run/atoll` for root (whether started from a login
 * shell or by systemd), else under `$XDG_RUNTIME_DIR/atoll`, else under
 * `/tmp/atoll-UID`.
 */
export function defaultStateDir(
  port: number,
  env: { XDG_RUNTIME_DIR?: string | undefined },
  uid: number | null,
): string {
  const runtime = env.XDG_RUNTIME_DIR;
  const base = uid === 0
    ? "/run/atoll"
    : runtime !== undefined && runtime.startsWith("/")
    ? `${runtime}/atoll`
    : `/tmp/atoll-${uid ?? "user"}`;
  return `${base}/${port}`;
}

/** An orphaned child's socket found in the state directory. */
export interface OrphanSocket {
  pid: number;
  path: string;
}

export class StateDir {
  readonly path: string;
  #lock: OwnedFd;

  private constructor(path: string, lock: OwnedFd) {
    this.path = path;
    this.#lock = lock;
  }

  /**
   * Creates `path` (mode 0700) if need be and takes its lock. Throws
   * {@link StartupError} when another main process holds it, or when the
   * directory cannot be made or locked.
   */
  static open(path: string): StateDir {
    const problem = pathProblem(path);
    if (problem !== undefined) {
      throw new StartupError(`Cannot use state directory ${path}: ${problem}`);
    }
    const lockPath = `${path}/lock`;
    let lock: OwnedFd | undefined;
    try {
      Deno.mkdirSync(`${path}/${CHILDREN_DIR}`, { recursive: true, mode: 0o700 });
      for (const dir of [parentOf(path), path, `${path}/${CHILDREN_DIR}`]) checkOwnership(dir);
      lock = lockTheFileThere(lockPath);
    } catch (error) {
      throw new StartupError(
        `Cannot use state directory ${path}: ${error instanceof Error ? error.message : error}`,
      );
    }
    if (lock === undefined) {
      const holder = readHolder(lockPath);
      throw new StartupError(
        `Cannot use state directory ${path}: another Atoll${
          holder === undefined ? "" : ` (process ${holder})`
        } is using it; give each Atoll its own with --state-dir`,
      );
    }
    try {
      // Through the locked file itself: the path could have changed since.
      rewriteFile(lock.fd, `${Deno.pid}\n`);
    } catch (error) {
      lock.close();
      throw new StartupError(`Cannot use state directory ${path}: ${error}`);
    }
    return new StateDir(path, lock);
  }

  /** The children's socket directory. */
  get childrenDir(): string {
    return `${this.path}/${CHILDREN_DIR}`;
  }

  /** The orphaned children's sockets there now; other files are ignored. */
  orphanSockets(): OrphanSocket[] {
    const found: OrphanSocket[] = [];
    try {
      for (const entry of Deno.readDirSync(this.childrenDir)) {
        const pid = pidOfSocketName(entry.name);
        if (pid !== undefined) found.push({ pid, path: `${this.childrenDir}/${entry.name}` });
      }
    } catch {
      // No directory: no orphans.
    }
    return found.sort((a, b) => a.pid - b.pid);
  }

  /**
   * Lets go of the lock (the process exiting does too). With `tidy` (a
   * clean shutdown: no child is left), also removes the lock file, and the
   * directories if they are empty: nothing is left for a later start to
   * find. The lock file goes while it is still locked, so a process that
   * opened it meanwhile finds its lock on a removed file and tries again
   * (see {@link lockTheFileThere}).
   */
  close(options: { tidy?: boolean } = {}): void {
    if (options.tidy && !this.#lock.closed) {
      for (const path of [`${this.path}/lock`, this.childrenDir, this.path]) {
        try {
          Deno.removeSync(path);
        } catch {
          // Not empty (something of someone else's), or gone.
        }
      }
    }
    this.#lock.close();
  }
}

/**
 * Locks the file at `lockPath`; undefined when another process holds it.
 * A lock won on a file that is no longer the one at that path (removed by
 * the holder's clean shutdown after this process opened it) is let go, and
 * the file there now is tried.
 */
function lockTheFileThere(lockPath: string): OwnedFd | undefined {
  for (let attempt = 0; attempt < 5; attempt++) {
    const lock = tryLockFile(lockPath);
    if (lock === undefined || sameFile(`/proc/self/fd/${lock.fd}`, lockPath)) return lock;
    lock.close();
  }
  throw new Error("its lock file keeps being removed");
}

/** Whether `a` and `b` name the same file or directory, however spelled (links followed). */
export function sameFile(a: string, b: string): boolean {
  try {
    const [one, two] = [Deno.statSync(a), Deno.statSync(b)];
    return one.dev === two.dev && one.ino === two.ino;
  } catch {
    return false;
  }
}

/** The longest state directory path: its children's socket paths must fit a `sockaddr_un`. */
export const MAX_STATE_DIR_BYTES = 80;

/** What makes `path` unusable as a state directory, if anything. */
export function pathProblem(path: string): string | undefined {
  if (!path.startsWith("/")) return "it is not an absolute path";
  const bytes = new TextEncoder().encode(path).byteLength;
  if (bytes > MAX_STATE_DIR_BYTES) {
    return `its path is ${bytes} bytes long, at most ${MAX_STATE_DIR_BYTES} fit its sockets' names; choose a shorter one with --state-dir`;
  }
  // Children are allowed to write there by a Deno permission list, which commas separate.
  if (path.includes(",")) return "its path contains a comma";
  return undefined;
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash <= 0 ? "/" : path.slice(0, slash);
}

/**
 * Throws unless `dir` is a directory (not a symbolic link) that nobody but
 * this user (or root) can change: another local user who could would
 * replace the children's sockets or hold the lock. The default under /tmp
 * could have been made by someone else first.
 */
function checkOwnership(dir: string): void {
  const info = Deno.lstatSync(dir);
  if (info.isSymlink) throw new Error(`${dir} is a symbolic link`);
  if (!info.isDirectory) throw new Error(`${dir} is not a directory`);
  const uid = Deno.uid();
  if (info.uid !== uid && info.uid !== 0) {
    throw new Error(`${dir} belongs to user ${info.uid}, not to this one (${uid})`);
  }
  const mode = info.mode ?? 0;
  const sticky = (mode & 0o1000) !== 0;
  if ((mode & 0o022) !== 0 && !sticky) {
    throw new Error(
      `${dir} can be changed by other users (mode ${(mode & 0o7777).toString(8)}): make it 0700`,
    );
  }
}

function readHolder(lockPath: string): number | undefined {
  try {
    const pid = Number(Deno.readTextFileSync(lockPath).trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
