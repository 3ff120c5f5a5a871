/**
 * What tests and the bench read from /proc: processes and their children,
 * command lines, open descriptors and sockets, CPU time, memory
 * (`smaps_rollup`), and which ports are bound. Linux only; every reader is
 * synchronous and tolerates a process that exits while it looks.
 *
 * @module
 */

/** Fields of `/proc/PID/stat` after the command name, which may hold spaces. */
function statFields(text: string): string[] {
  return text.slice(text.lastIndexOf(")") + 2).trim().split(/\s+/);
}

function readStat(pid: number): string[] | undefined {
  try {
    return statFields(Deno.readTextFileSync(`/proc/${pid}/stat`));
  } catch {
    return undefined; // exited
  }
}

/** Pids whose parent is `ppid`, zombies included, in ascending order. */
export function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    const pid = Number(entry.name);
    if (!Number.isInteger(pid)) continue;
    // Field 4 (ppid) is the second after the command name.
    if (Number(readStat(pid)?.[1]) === ppid) out.push(pid);
  }
  return out.sort((a, b) => a - b);
}

/** Whether `pid` exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  const fields = readStat(pid);
  return fields !== undefined && fields[0] !== "Z";
}

/** The process's command line, arguments joined by spaces ("" once it exited). */
export function commandLine(pid: number): string {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0").join(" ").trim();
  } catch {
    return "";
  }
}

/** Every descriptor of a process and what it points at (`socket:[123]`, `pipe:[45]`, paths). */
export function fdTargets(pid: number): Map<string, string> {
  const targets = new Map<string, string>();
  for (const entry of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      targets.set(entry.name, Deno.readLinkSync(`/proc/${pid}/fd/${entry.name}`));
    } catch {
      // The fd closed while we looked.
    }
  }
  return targets;
}

/** Inodes of the sockets a process holds. */
export function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  for (const target of fdTargets(pid).values()) {
    const match = /^socket:\[(\d+)\]$/.exec(target);
    if (match) inodes.add(match[1]!);
  }
  return inodes;
}

/** An internet socket as /proc/net lists it. */
export interface InetSocket {
  protocol: string;
  localPort: number;
  remotePort: number;
}

/** Internet sockets of this host by inode, from /proc/net (a missing table is skipped). */
export function inetSockets(
  protocols: readonly string[] = ["udp", "udp6", "tcp", "tcp6"],
): Map<string, InetSocket> {
  const sockets = new Map<string, InetSocket>();
  const port = (address: string) => parseInt(address.split(":")[1]!, 16);
  for (const protocol of protocols) {
    let text: string;
    try {
      text = Deno.readTextFileSync(`/proc/net/${protocol}`);
    } catch {
      continue; // No IPv6 on this host, say.
    }
    for (const line of text.trim().split("\n").slice(1)) {
      // Field 2 is the local address ("0100007F:1F90"), 3 the remote one, 10 the inode.
      const fields = line.trim().split(/\s+/);
      sockets.set(fields[9]!, {
        protocol,
        localPort: port(fields[1]!),
        remotePort: port(fields[2]!),
      });
    }
  }
  return sockets;
}

/** Whether a UDP socket is bound to `port` on this host. */
export function udpPortBound(port: number): boolean {
  return [...inetSockets(["udp", "udp6"]).values()].some((socket) => socket.localPort === port);
}

/** A free UDP port on loopback: bound to port 0 and released at once. */
export function freeUdpPort(): number {
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const port = (socket.addr as Deno.NetAddr).port;
  socket.close();
  return port;
}

let clockTicks: number | undefined;

/** `getconf CLK_TCK`: the unit of utime and stime. */
export async function clockTicksPerSecond(): Promise<number> {
  if (clockTicks === undefined) {
    const { stdout, success } = await new Deno.Command("getconf", { args: ["CLK_TCK"] }).output();
    clockTicks = success ? Number(new TextDecoder().decode(stdout).trim()) : 100;
  }
  return clockTicks;
}

/** utime + stime of every thread of `pid`, in clock ticks; undefined once it exited. */
export function cpuTicks(pid: number): number | undefined {
  const fields = readStat(pid);
  // utime and stime are fields 14 and 15: 12th and 13th after the command name.
  if (fields === undefined) return undefined;
  return Number(fields[11]) + Number(fields[12]);
}

/**
 * utime + stime of `pid` and of the children it has reaped (cutime +
 * cstime), in clock ticks; undefined once it exited.
 */
export function cpuTicksWithReaped(pid: number): number | undefined {
  const fields = readStat(pid);
  if (fields === undefined) return undefined;
  return Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
}

/** A CPU reading at one instant, for {@link cpuPercent}. */
export interface CpuSample {
  ticks: number;
  at: number;
}

export function sampleCpu(pid: number): CpuSample {
  const ticks = cpuTicks(pid);
  if (ticks === undefined) throw new Error(`Process ${pid} exited`);
  return { ticks, at: performance.now() };
}

/** CPU between two samples, in % of one core. */
export async function cpuPercent(from: CpuSample, to: CpuSample): Promise<number> {
  const seconds = (to.at - from.at) / 1000;
  return ((to.ticks - from.ticks) / (await clockTicksPerSecond())) / seconds * 100;
}

/**
 * Memory figures in kB, from `smaps_rollup`. Stream buffers (memfd mappings
 * named `atoll:STREAM`) are shared memory that belongs to the stream, not to
 * one connection: they are left out of the process's figures (a publisher
 * that is a buffer's only mapper would otherwise count every page it wrote
 * as private) and reported apart.
 */
export interface Memory {
  rssKb: number;
  pssKb: number;
  privateDirtyKb: number;
  privateCleanKb: number;
  sharedCleanKb: number;
  /** The stream buffers this process maps: their Rss and Pss. */
  streamBufferRssKb: number;
  streamBufferPssKb: number;
}

/** Sums of some `smaps` fields over the mappings whose name contains `needle`. */
function mappingTotals(pid: number, needle: string): Record<string, number> {
  const totals: Record<string, number> = {};
  let inside = false;
  for (const line of Deno.readTextFileSync(`/proc/${pid}/smaps`).split("\n")) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) {
      inside = line.includes(needle);
      continue;
    }
    if (!inside) continue;
    const match = /^(\w+):\s+(\d+) kB/.exec(line);
    if (match) totals[match[1]!] = (totals[match[1]!] ?? 0) + Number(match[2]);
  }
  return totals;
}

export function readMemory(pid: number): Memory {
  const text = Deno.readTextFileSync(`/proc/${pid}/smaps_rollup`);
  const field = (name: string) => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text);
    if (match === null) throw new Error(`No ${name} in /proc/${pid}/smaps_rollup`);
    return Number(match[1]);
  };
  const buffers = mappingTotals(pid, "memfd:atoll:");
  const of = (name: string) => buffers[name] ?? 0;
  return {
    rssKb: field("Rss") - of("Rss"),
    pssKb: field("Pss") - of("Pss"),
    privateDirtyKb: field("Private_Dirty") - of("Private_Dirty"),
    privateCleanKb: field("Private_Clean") - of("Private_Clean"),
    sharedCleanKb: field("Shared_Clean") - of("Shared_Clean"),
    streamBufferRssKb: of("Rss"),
    streamBufferPssKb: of("Pss"),
  };
}

/** `recvmsg`'s system call number (x86_64 and aarch64 Linux). */
const SYS_RECVMSG = Deno.build.arch === "aarch64" ? 212 : 47;

/**
 * Whether an idle Atoll child is ready for a connection: it has loaded
 * libsrt and one of its threads is blocked in `recvmsg` on its control
 * socket, waiting for the main process to hand it a peer.
 */
export function isWaitingForPeer(pid: number): boolean {
  try {
    if (!Deno.readTextFileSync(`/proc/${pid}/maps`).includes("libsrt")) return false;
    for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
      const syscall = Deno.readTextFileSync(`/proc/${pid}/task/${task.name}/syscall`);
      if (Number(syscall.split(" ")[0]) === SYS_RECVMSG) return true;
    }
    return false;
  } catch {
    return false; // exited, or /proc/PID/task/*/syscall not readable
  }
}

/**
 * deno, srt-live-transmit and ffmpeg processes that are neither this
 * process's ancestors nor its descendants: another run (a test suite, a
 * second bench) sharing the CPUs, which would skew the figures.
 */
export function foreignProcesses(): string[] {
  const parents = new Map<number, number>();
  for (const entry of Deno.readDirSync("/proc")) {
    const pid = Number(entry.name);
    if (!Number.isInteger(pid)) continue;
    const ppid = Number(readStat(pid)?.[1]);
    if (Number.isInteger(ppid)) parents.set(pid, ppid);
  }
  const ancestors = new Set<number>();
  for (let pid = Deno.pid; pid > 1; pid = parents.get(pid) ?? 0) ancestors.add(pid);
  const descends = (pid: number) => {
    for (let at = pid; at > 1; at = parents.get(at) ?? 0) if (at === Deno.pid) return true;
    return false;
  };
  const out: string[] = [];
  for (const pid of parents.keys()) {
    if (ancestors.has(pid) || descends(pid)) continue;
    const command = commandLine(pid);
    if (/(^|\/)(deno|srt-live-transmit|ffmpeg)( |$)/.test(command)) out.push(`${pid} ${command}`);
  }
  return out;
}
