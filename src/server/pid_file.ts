/**
 * The main process's pid file (`--pid-file PATH`), so that an operator
 * signals the main process (`kill -HUP "$(cat PATH)"`) and never a child.
 *
 * Before the server starts, {@link PidFile.prepare} refuses a file that
 * names a running Atoll main process, warns about a stale one, and writes
 * the pid to a temporary file beside it (so a folder that cannot take the
 * file fails before anything binds). Once the server listens,
 * {@link PidFile.publish} renames it into place: readers see the whole pid
 * or no file. {@link PidFile.remove} deletes it on exit, unless another
 * process has written it since; with no file descriptor left to read it,
 * it compares what `lstat` says (which needs none) with the file it put in
 * place.
 *
 * @module
 */

import { basename, dirname } from "node:path";
import { fileShortageOf } from "./file_budget.ts";
import { describeFailure } from "./file_shortage.ts";
import { logger } from "./log.ts";
import { StartupError } from "./startup_error.ts";

const log = logger("server");

/** The largest pid Linux hands out (`PID_MAX_LIMIT` on 64-bit). */
const MAX_PID = 4_194_304;

/** The pid in a pid file's text (digits and an optional newline); undefined otherwise. */
export function parsePid(text: string): number | undefined {
  const match = /^\s*([0-9]{1,7})\s*$/.exec(text);
  const pid = match === null ? NaN : Number(match[1]);
  return pid >= 1 && pid <= MAX_PID ? pid : undefined;
}

/**
 * Whether a process's arguments (`/proc/PID/cmdline`) are those of an Atoll
 * main process that keeps a pid file: the same program as this one
 * (`programName`: `deno`, or the compiled binary's name) given `--pid-file`.
 * A child never gets that flag.
 */
export function isAtollMainCommandLine(argv: readonly string[], programName: string): boolean {
  const [program, ...args] = argv;
  if (program === undefined || basename(program) !== programName) return false;
  return args.some((arg) => arg === "--pid-file" || arg.startsWith("--pid-file="));
}

/** What the file found at startup means. */
export type PidFileHolder =
  // No file.
  | { kind: "none" }
  // A running Atoll main process wrote it: refuse to start.
  | { kind: "running"; pid: number }
  // Left behind by a process that is gone, or not a pid at all: replace it, with a warning.
  | { kind: "stale"; reason: string };

/** How {@link judgePidFile} sees the system. */
export interface PidFileSystem {
  /** This process's pid: a file naming it is stale (a container restarted with the same pid). */
  ownPid: number;
  /** Base name of this process's executable, as {@link isAtollMainCommandLine} compares it. */
  programName: string;
  /** A process's arguments; undefined when there is no such process. */
  commandLineOf(pid: number): readonly string[] | undefined;
  /** Reads a file (default `Deno.readTextFile`). */
  readTextFile?(path: string): Promise<string>;
  /** The main process this one takes over from in an upgrade: its file is this one's to replace. */
  predecessor?: number;
}

/** What a pid file's text means, `undefined` text being no file. */
export function judgePidFile(text: string | undefined, system: PidFileSystem): PidFileHolder {
  if (text === undefined) return { kind: "none" };
  const pid = parsePid(text);
  if (pid === undefined) return { kind: "stale", reason: "it holds no pid" };
  if (pid === system.ownPid) return { kind: "stale", reason: `it names this process, ${pid}` };
  if (pid === system.predecessor) return { kind: "none" };
  const argv = system.commandLineOf(pid);
  if (argv === undefined) return { kind: "stale", reason: `process ${pid} is gone` };
  if (!isAtollMainCommandLine(argv, system.programName)) {
    return { kind: "stale", reason: `process ${pid} is not an Atoll main process` };
  }
  return { kind: "running", pid };
}

/** The arguments of a running process from /proc; undefined when it is gone. */
function commandLineOf(pid: number): string[] | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/cmdline`);
  } catch {
    return undefined;
  }
  // A zombie's command line is empty: it is gone too.
  return text === "" ? undefined : text.replace(/\0$/, "").split("\0");
}

async function readIfPresent(
  path: string,
  readTextFile: (path: string) => Promise<string>,
): Promise<string | undefined> {
  try {
    return await readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

function reasonOf(error: unknown): string {
  return describeFailure(error);
}

/** What tells the file apart from one written since: `lstat` needs no descriptor. */
type FileIdentity = Pick<Deno.FileInfo, "dev" | "ino" | "size"> & { mtimeMs: number | undefined };

async function identityOf(path: string): Promise<FileIdentity> {
  const info = await Deno.lstat(path);
  return { dev: info.dev, ino: info.ino, size: info.size, mtimeMs: info.mtime?.getTime() };
}

/** The pid file of this main process, from {@link PidFile.prepare} to {@link PidFile.remove}. */
export class PidFile {
  readonly path: string;
  readonly pid: number;
  /** The temporary file until it is published; undefined after. */
  #temporary: string | undefined;
  #published = false;
  /** The published file as `lstat` saw it, if it could. */
  #identity: FileIdentity | undefined;
  #readTextFile: (path: string) => Promise<string>;

  private constructor(
    path: string,
    pid: number,
    temporary: string,
    readTextFile: (path: string) => Promise<string>,
  ) {
    this.path = path;
    this.pid = pid;
    this.#temporary = temporary;
    this.#readTextFile = readTextFile;
  }

  /**
   * Checks `path` and writes `pid` beside it, not yet in place.
   *
   * @throws {StartupError} when a running Atoll main process holds the file,
   *   or when the file cannot be read or written
   */
  static async prepare(
    path: string,
    pid: number,
    system: Partial<PidFileSystem> = {},
  ): Promise<PidFile> {
    const readTextFile = system.readTextFile ?? ((path: string) => Deno.readTextFile(path));
    let text: string | undefined;
    try {
      text = await readIfPresent(path, readTextFile);
    } catch (error) {
      throw new StartupError(`Cannot read pid file ${path}: ${reasonOf(error)}`);
    }
    const holder = judgePidFile(text, {
      ownPid: pid,
      programName: basename(Deno.execPath()),
      commandLineOf,
      ...system,
    });
    if (holder.kind === "running") {
      throw new StartupError(
        `Cannot use pid file ${path}: Atoll is already running as process ${holder.pid}`,
      );
    }
    if (holder.kind === "stale") {
      log.warning("Replacing pid file {path}: {reason}", { path, reason: holder.reason });
    }
    let temporary: string | undefined;
    try {
      // Beside the file, so that the rename stays within one file system.
      temporary = await Deno.makeTempFile({
        dir: dirname(path),
        prefix: `.${basename(path)}.`,
        suffix: ".tmp",
      });
      await Deno.writeTextFile(temporary, `${pid}\n`);
      await Deno.chmod(temporary, 0o644);
    } catch (error) {
      if (temporary !== undefined) await Deno.remove(temporary).catch(() => {});
      throw new StartupError(`Cannot write pid file ${path}: ${reasonOf(error)}`);
    }
    return new PidFile(path, pid, temporary, readTextFile);
  }

  /**
   * Puts the file in place, atomically.
   *
   * @throws {StartupError} when the rename fails (the temporary file is removed)
   */
  async publish(): Promise<void> {
    const temporary = this.#temporary;
    if (temporary === undefined) return;
    this.#temporary = undefined;
    try {
      await Deno.rename(temporary, this.path);
      this.#published = true;
      this.#identity = await identityOf(this.path).catch(() => undefined);
    } catch (error) {
      await Deno.remove(temporary).catch(() => {});
      throw new StartupError(`Cannot write pid file ${this.path}: ${reasonOf(error)}`);
    }
  }

  /**
   * Removes the file, or the temporary one before {@link publish}; leaves a
   * file that no longer names this process (another one wrote it since).
   * Safe to call twice.
   */
  async remove(): Promise<void> {
    const temporary = this.#temporary;
    this.#temporary = undefined;
    if (temporary !== undefined) await Deno.remove(temporary).catch(() => {});
    if (!this.#published) return;
    this.#published = false;
    try {
      if (await this.#stillOurs()) await Deno.remove(this.path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      log.warning("Cannot remove pid file {path}: {error}", {
        path: this.path,
        error: reasonOf(error),
      });
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.remove();
  }

  /**
   * Whether the file still names this process. Out of descriptors (the
   * process is leaving after a shortage), its `lstat` must match the one
   * taken when it was put in place.
   */
  async #stillOurs(): Promise<boolean> {
    try {
      return parsePid(await this.#readTextFile(this.path)) === this.pid;
    } catch (error) {
      const identity = this.#identity;
      if (fileShortageOf(error) === undefined || identity === undefined) throw error;
      const now = await identityOf(this.path);
      if (
        now.dev === identity.dev && now.ino === identity.ino && now.size === identity.size &&
        now.mtimeMs === identity.mtimeMs
      ) {
        return true;
      }
      throw error;
    }
  }
}
