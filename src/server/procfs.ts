/**
 * Parsers for the /proc text the main process reads to show what each
 * connection's child costs: CPU time from `/proc/PID/stat` and private
 * memory from `/proc/PID/smaps_rollup` (see proc(5)). Pure: no Deno API,
 * the reading is in resource_sampler.ts, and the tests use text captured
 * from real Atoll children (`testdata/proc/`).
 *
 * @module
 */

/**
 * Units per second of `utime` and `stime` in `/proc/PID/stat`: the kernel
 * reports them in USER_HZ, which is 100 on every architecture Atoll runs on
 * (`getconf CLK_TCK`; checked in the tests).
 */
export const USER_HZ = 100;

/**
 * The CPU time the process has used, all its threads, user and system, in
 * seconds: `utime` + `stime` (fields 14 and 15 of `/proc/PID/stat`).
 * The command name (field 2) may hold spaces and parentheses, so the fields
 * are counted from its last `)`.
 */
export function parseCpuSeconds(stat: string): number {
  const end = stat.lastIndexOf(")");
  if (end < 0) throw new TypeError(`Cannot parse /proc/PID/stat: no command name in "${stat}"`);
  // After ") " come state (field 3), ppid (4), … utime (14), stime (15).
  const fields = stat.slice(end + 2).trim().split(/\s+/);
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isSafeInteger(utime) || !Number.isSafeInteger(stime)) {
    throw new TypeError(`Cannot parse /proc/PID/stat: no utime and stime in "${stat}"`);
  }
  return (utime + stime) / USER_HZ;
}

/** The nice value in `/proc/PID/stat` (field 19), of its first thread. */
export function parseNice(stat: string): number {
  const end = stat.lastIndexOf(")");
  const nice = end < 0 ? NaN : Number(stat.slice(end + 2).trim().split(/\s+/)[16]);
  if (!Number.isInteger(nice) || nice < -20 || nice > 19) {
    throw new TypeError(`Cannot parse /proc/PID/stat: no nice value in "${stat}"`);
  }
  return nice;
}

/**
 * The nice value for children `below` steps under the main process's own
 * (`--child-nice`), at most 19, the lowest there is.
 */
export function childNiceValue(ownNice: number, below: number): number {
  return Math.min(19, ownNice + below);
}

/** The memory figures of `/proc/PID/smaps_rollup` that Atoll shows, in bytes. */
export interface MemoryUsage {
  /** Pages only this process has written: what it costs alone (stream buffers it alone maps included). */
  privateDirtyBytes: number;
  /** Proportional set size: its resident pages, each shared page divided among its mappers. */
  pssBytes: number;
}

/** The `Private_Dirty` and `Pss` lines of `/proc/PID/smaps_rollup`, in bytes. */
export function parseSmapsRollup(text: string): MemoryUsage {
  return {
    privateDirtyBytes: kilobytes(text, "Private_Dirty") * 1024,
    pssBytes: kilobytes(text, "Pss") * 1024,
  };
}

function kilobytes(text: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(text);
  if (match === null) throw new TypeError(`Cannot parse /proc/PID/smaps_rollup: no ${field} line`);
  return Number(match[1]);
}

/**
 * CPU use between two readings of {@link parseCpuSeconds}, in % of one core
 * (a process busy on two cores shows 200), to 0.1 %. A reading that went
 * backwards (a reused pid) or no time between them gives null.
 */
export function cpuPercent(
  from: { cpuSeconds: number; atMs: number },
  to: { cpuSeconds: number; atMs: number },
): number | null {
  const elapsedSeconds = (to.atMs - from.atMs) / 1000;
  const used = to.cpuSeconds - from.cpuSeconds;
  if (!(elapsedSeconds > 0) || used < 0) return null;
  return Math.round((used / elapsedSeconds) * 1000) / 10;
}

/**
 * The inodes of the UDP sockets bound to local `port`, from the text of
 * `/proc/net/udp` or `/proc/net/udp6` (`local_address` is `HEXIP:HEXPORT`,
 * the inode the tenth column).
 */
export function udpSocketInodes(procNetUdp: string, port: number): number[] {
  const inodes: number[] = [];
  for (const line of procNetUdp.split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    const local = fields[1];
    if (local === undefined || fields.length < 10) continue;
    const localPort = parseInt(local.slice(local.lastIndexOf(":") + 1), 16);
    const inode = Number(fields[9]);
    if (localPort === port && Number.isSafeInteger(inode) && inode > 0) inodes.push(inode);
  }
  return inodes;
}
