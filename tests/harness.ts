/**
 * Test harness: a real Atoll (main.ts in its own process, JSON logs) and real
 * SRT peers (srt-live-transmit, ffmpeg) on loopback. Every wait is bounded.
 *
 * @module
 */

import type { ConnectionInfo, ServerCounters } from "../src/server/api_types.ts";

export const MAIN = new URL("../main.ts", import.meta.url).pathname;

export interface LogLine {
  level: string;
  message: string;
  properties: Record<string, unknown>;
}

/** Polls `check` every 50 ms until it returns a value other than undefined/false. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export interface ApiStats extends ServerCounters {
  fastHandshake: boolean;
  idleChildren: number;
  startingChildren: number;
  connections: number;
}

/** Atoll running as `deno run -A main.ts` on free loopback ports. */
export class AtollProcess {
  readonly logs: LogLine[] = [];
  readonly output: string[] = [];
  srtPort = 0;
  httpPort = 0;
  #process: Deno.ChildProcess;
  #done: Promise<Deno.CommandStatus>;

  private constructor(process: Deno.ChildProcess) {
    this.#process = process;
    const stderr = this.#collect(process.stderr);
    const stdout = this.#collect(process.stdout);
    this.#done = (async () => {
      const status = await process.status;
      await Promise.all([stderr, stdout]);
      return status;
    })();
  }

  /** Starts Atoll with `args` (after loopback/port-0 defaults) and waits until it listens. */
  static async start(args: string[] = [], env: Record<string, string> = {}): Promise<AtollProcess> {
    const process = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        MAIN,
        "--srt-listen",
        "127.0.0.1:0",
        "--http-listen",
        "127.0.0.1:0",
        "--log-format",
        "json",
        "--log-level",
        "debug",
        ...args,
      ],
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const atoll = new AtollProcess(process);
    try {
      const line = await waitFor(
        "Atoll to listen",
        () => atoll.findLog((l) => "srt" in l.properties),
        20_000,
      );
      atoll.srtPort = Number(String(line.properties.srt).split(":").at(-1));
      atoll.httpPort = Number(String(line.properties.http).split(":").at(-1));
    } catch (error) {
      atoll.kill();
      await atoll.#done;
      throw new Error(`${(error as Error).message}\n${atoll.output.join("\n")}`);
    }
    return atoll;
  }

  get pid(): number {
    return this.#process.pid;
  }

  findLog(match: (line: LogLine) => boolean): LogLine | undefined {
    return this.logs.find(match);
  }

  async api<T>(path: string): Promise<T> {
    const response = await fetch(`http://127.0.0.1:${this.httpPort}${path}`);
    if (!response.ok) throw new Error(`GET ${path}: ${response.status} ${await response.text()}`);
    return await response.json() as T;
  }

  connections(): Promise<ConnectionInfo[]> {
    return this.api<ConnectionInfo[]>("/api/connections");
  }

  stats(): Promise<ApiStats> {
    return this.api<ApiStats>("/api/stats");
  }

  signal(signal: Deno.Signal): void {
    this.#process.kill(signal);
  }

  kill(): void {
    try {
      this.#process.kill("SIGKILL");
    } catch {
      // Already exited.
    }
  }

  /** Waits for the process to exit (killing it after `timeoutMs`). */
  async exit(timeoutMs = 15_000): Promise<Deno.CommandStatus> {
    const timer = setTimeout(() => this.kill(), timeoutMs);
    try {
      return await this.#done;
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGTERM and wait: the way every test ends. */
  async stop(): Promise<Deno.CommandStatus> {
    try {
      this.signal("SIGTERM");
    } catch {
      // Already exited.
    }
    return await this.exit();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  async #collect(stream: ReadableStream<Uint8Array>): Promise<void> {
    let pending = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      pending += chunk;
      let newline;
      while ((newline = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        this.output.push(line);
        try {
          const record = JSON.parse(line);
          this.logs.push({
            level: record.level,
            message: record.message,
            properties: record.properties ?? {},
          });
        } catch {
          // Not a log line (e.g. --help output).
        }
      }
    }
  }
}

/** A peer process (srt-live-transmit or ffmpeg) whose output is kept. */
export class PeerProcess {
  readonly output: string[] = [];
  #process: Deno.ChildProcess;
  #done: Promise<Deno.CommandStatus>;
  #stdin: WritableStreamDefaultWriter<Uint8Array> | undefined;
  #exited = false;

  /**
   * Starts `command`. With `stdoutFile`, its standard output (media, say)
   * goes to that file and only standard error is kept as text.
   */
  constructor(
    command: string,
    args: string[],
    options: { stdin?: boolean; stdoutFile?: string } = {},
  ) {
    this.#process = new Deno.Command(command, {
      args,
      stdin: options.stdin ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#stdin = options.stdin ? this.#process.stdin.getWriter() : undefined;
    this.#stdin?.closed.catch(() => {});
    const text = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        this.output.push(chunk);
      }
    };
    const file = options.stdoutFile;
    const streams = [
      file === undefined ? text(this.#process.stdout) : Deno.open(file, {
        write: true,
        create: true,
        truncate: true,
      }).then((out) => this.#process.stdout.pipeTo(out.writable)),
      text(this.#process.stderr),
    ];
    const process = this.#process;
    this.#done = (async () => {
      const status = await process.status;
      await Promise.all(streams);
      this.#exited = true;
      return status;
    })();
  }

  get pid(): number {
    return this.#process.pid;
  }

  /** Whether the process has exited and its output is collected. */
  get exited(): boolean {
    return this.#exited;
  }

  get text(): string {
    return this.output.join("");
  }

  async write(bytes: Uint8Array): Promise<void> {
    await this.#stdin?.write(bytes);
  }

  async closeStdin(): Promise<void> {
    await this.#stdin?.close().catch(() => {});
  }

  kill(signal: Deno.Signal = "SIGKILL"): void {
    try {
      this.#process.kill(signal);
    } catch {
      // Already exited.
    }
  }

  async exit(timeoutMs = 15_000): Promise<Deno.CommandStatus> {
    const timer = setTimeout(() => this.kill(), timeoutMs);
    try {
      return await this.#done;
    } finally {
      clearTimeout(timer);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.kill();
    await this.exit();
  }
}

/**
 * srt-live-transmit sending what is written to its stdin to Atoll as a
 * caller. `query` is added to the SRT URI (e.g. `passphrase=...`).
 */
export function srtLiveTransmitCaller(
  port: number,
  streamId: string,
  query = "",
  host = "127.0.0.1",
): PeerProcess {
  // srt-live-transmit sends the stream id verbatim.
  const uri = `srt://${host}:${port}?streamid=${streamId}${query ? `&${query}` : ""}`;
  return new PeerProcess("srt-live-transmit", ["-a:no", "file://con", uri], { stdin: true });
}

/** Writes `seconds` of 188-byte TS-sized chunks at about `mbps`, bounded in time. */
export async function feed(peer: PeerProcess, seconds: number, mbps = 2): Promise<void> {
  const chunk = new Uint8Array(1316).fill(0x47);
  const perTick = Math.max(1, Math.round((mbps * 1e6) / 8 / 1316 / 100));
  const ticks = Math.round(seconds * 100);
  for (let tick = 0; tick < ticks; tick++) {
    for (let i = 0; i < perTick; i++) await peer.write(chunk);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

let sampleFile: Promise<string> | undefined;

/** A 3-second H.264 MPEG-TS made once per test process with ffmpeg. */
export function sampleTs(): Promise<string> {
  sampleFile ??= (async () => {
    const path = await Deno.makeTempFile({ prefix: "atoll_sample_", suffix: ".ts" });
    const result = await new Deno.Command("ffmpeg", {
      args: [
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x240:rate=25",
        "-t",
        "3",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "25",
        "-b:v",
        "800k",
        "-f",
        "mpegts",
        path,
      ],
      stderr: "piped",
    }).output();
    if (!result.success) throw new Error(`ffmpeg: ${new TextDecoder().decode(result.stderr)}`);
    globalThis.addEventListener("unload", () => Deno.removeSync(path));
    return path;
  })();
  return sampleFile;
}

/** ffmpeg publishing the sample in a loop at real-time speed to `uri`. */
export async function ffmpegPublisher(uri: string): Promise<PeerProcess> {
  const file = await sampleTs();
  return new PeerProcess("ffmpeg", [
    "-hide_banner",
    "-loglevel",
    "error",
    "-re",
    "-stream_loop",
    "-1",
    "-i",
    file,
    "-c",
    "copy",
    "-f",
    "mpegts",
    uri,
  ]);
}

/** ffmpeg playing `uri` for `seconds` and saving what it got, unchanged, as MPEG-TS in `path`. */
export function ffmpegViewer(uri: string, path: string, seconds: number): PeerProcess {
  return new PeerProcess("ffmpeg", [
    "-hide_banner",
    "-loglevel",
    "error",
    "-y",
    "-i",
    uri,
    "-c",
    "copy",
    "-t",
    String(seconds),
    "-f",
    "mpegts",
    path,
  ]);
}

/** srt-live-transmit playing `streamId` from Atoll into the file `path`. */
export function srtLiveTransmitViewer(port: number, streamId: string, path: string): PeerProcess {
  const uri = `srt://127.0.0.1:${port}?streamid=${streamId}`;
  return new PeerProcess("srt-live-transmit", ["-a:no", "-q", uri, "file://con"], {
    stdoutFile: path,
  });
}

/** What ffprobe decodes of the video in `path`: frame count and whether the first is a key frame. */
export async function probeVideo(
  path: string,
): Promise<{ frames: number; firstIsKey: boolean; errors: string }> {
  const result = await new Deno.Command("ffprobe", {
    args: [
      "-v",
      "error",
      "-select_streams",
      "v:0",
      "-show_entries",
      "frame=key_frame",
      "-of",
      "csv=p=0",
      path,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const lines = new TextDecoder().decode(result.stdout).split("\n").filter((line) => line !== "");
  return {
    frames: lines.length,
    firstIsKey: lines[0]?.startsWith("1") ?? false,
    errors: new TextDecoder().decode(result.stderr),
  };
}

/** The result of one connection attempt by tests/testdata/srt_caller.ts (libsrt, blocking). */
export interface CallerResult {
  connected: boolean;
  /** libsrt's reject reason: Atoll's 1400-1599, or libsrt's own (10: bad passphrase). */
  rejectReason: number;
  rejectText: string;
  /** The receive latency both sides agreed on, once connected. */
  latencyMs: number | null;
  ms: number;
}

const SRT_CALLER = new URL("./testdata/srt_caller.ts", import.meta.url).pathname;

/** Connects once with libsrt and reports what happened, including the reject code. */
export async function tryConnect(
  port: number,
  streamId: string,
  options: { passphrase?: string; timeoutMs?: number } = {},
): Promise<CallerResult> {
  const result = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      SRT_CALLER,
      String(port),
      streamId,
      options.passphrase ?? "",
      String(options.timeoutMs ?? 5000),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(result.stdout).trim();
  if (!result.success || text === "") {
    throw new Error(`srt_caller failed: ${text} ${new TextDecoder().decode(result.stderr)}`);
  }
  return JSON.parse(text) as CallerResult;
}

/** Inodes of the sockets a process holds, from /proc/PID/fd. */
export async function socketInodes(pid: number): Promise<Set<string>> {
  const inodes = new Set<string>();
  for await (const entry of Deno.readDir(`/proc/${pid}/fd`)) {
    try {
      const target = await Deno.readLink(`/proc/${pid}/fd/${entry.name}`);
      const match = /^socket:\[(\d+)\]$/.exec(target);
      if (match) inodes.add(match[1]!);
    } catch {
      // The fd closed while we looked.
    }
  }
  return inodes;
}

/** Internet sockets from /proc/net: inode → protocol, local and remote port. */
export async function inetSockets(): Promise<
  Map<string, { protocol: string; localPort: number; remotePort: number }>
> {
  const sockets = new Map<string, { protocol: string; localPort: number; remotePort: number }>();
  for (const protocol of ["udp", "udp6", "tcp", "tcp6"]) {
    const lines = (await Deno.readTextFile(`/proc/net/${protocol}`)).trim().split("\n").slice(1);
    for (const line of lines) {
      const fields = line.trim().split(/\s+/);
      const port = (address: string) => parseInt(address.split(":")[1]!, 16);
      sockets.set(fields[9]!, {
        protocol,
        localPort: port(fields[1]!),
        remotePort: port(fields[2]!),
      });
    }
  }
  return sockets;
}

/** Every fd target of a process (`socket:[123]`, `pipe:[45]`, paths). */
export async function fdTargets(pid: number): Promise<Map<string, string>> {
  const targets = new Map<string, string>();
  for await (const entry of Deno.readDir(`/proc/${pid}/fd`)) {
    try {
      targets.set(entry.name, await Deno.readLink(`/proc/${pid}/fd/${entry.name}`));
    } catch {
      // The fd closed while we looked.
    }
  }
  return targets;
}
