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
import { tryLockFile } from "../../ffi/file_lock.ts";
import { CHILDREN_DIR, pidOfSocketName } from "../ipc/adoption.ts";
import { StartupError } from "./startup_error.ts";

/**
 * The state directory a main process uses unless told (`--state-dir`), one
 * per SRT port: under `$XDG_RUNTIME_DIR/atoll`, else `/run/atoll` for root,
 * else `/tmp/atoll-UID`.
 */
export function defaultStateDir(
  port: number,
  env: { XDG_RUNTIME_DIR?: string | undefined },
  uid: number | null,
): string {
  const runtime = env.XDG_RUNTIME_DIR;
  const base = runtime !== undefined && runtime.startsWith("/")
    ? `${runtime}/atoll`
    : uid === 0
    ? "/run/atoll"
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
    const lockPath = `${path}/lock`;
    let lock: OwnedFd | undefined;
    try {
      Deno.mkdirSync(`${path}/${CHILDREN_DIR}`, { recursive: true, mode: 0o700 });
      lock = tryLockFile(lockPath);
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
      Deno.writeTextFileSync(lockPath, `${Deno.pid}\n`);
    } catch {
      // The pid is for messages only; the lock is what counts.
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

  /** Lets go of the lock (the process exiting does too). */
  close(): void {
    this.#lock.close();
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
