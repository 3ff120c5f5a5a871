/**
 * Child processes for tests and the bench (Atoll, srt-live-transmit, ffmpeg,
 * helper scripts) with their output kept as text and as lines, and with
 * guaranteed cleanup: each is stopped by `await using`, by
 * {@link ManagedProcess.stop}, or by {@link stopAll} on the way out,
 * whatever failed (SIGTERM first, SIGKILL after a deadline).
 *
 * @module
 */

/** How a process is started. */
export interface StartOptions {
  /**
   * Standard output: kept with standard error (`"piped"`, the default),
   * dropped (`"null"`), or written unchanged to a file (media, say).
   */
  stdout?: "piped" | "null" | { file: string };
  /** A pipe to write to, or to close to tell the process to stop (default: /dev/null). */
  stdin?: "piped" | "null";
  /** Added to this process's environment. */
  env?: Record<string, string>;
}

type LineWaiter = { match: (line: string) => boolean; resolve: (line: string) => void };

const running = new Set<ManagedProcess>();

/** A started process whose output is kept, and whose lines can be waited for. */
export class ManagedProcess implements AsyncDisposable {
  readonly name: string;
  readonly pid: number;
  /** Every complete line of stdout and stderr, in arrival order per stream. */
  readonly lines: string[] = [];
  /** Resolves once the process has exited and its output is read. */
  readonly done: Promise<Deno.CommandStatus>;
  #process: Deno.ChildProcess;
  #chunks: string[] = [];
  #waiters: LineWaiter[] = [];
  #exited = false;
  #stdin: WritableStreamDefaultWriter<Uint8Array> | undefined;

  private constructor(name: string, process: Deno.ChildProcess, options: StartOptions) {
    this.name = name;
    this.#process = process;
    this.pid = process.pid;
    if (options.stdin === "piped") {
      this.#stdin = process.stdin.getWriter();
      this.#stdin.closed.catch(() => {});
    }
    const stdout = options.stdout ?? "piped";
    const reading = Promise.all([
      this.#read(process.stderr),
      stdout === "piped"
        ? this.#read(process.stdout)
        : stdout === "null"
        ? undefined
        : Deno.open(stdout.file, { write: true, create: true, truncate: true })
          .then((file) => process.stdout.pipeTo(file.writable)),
    ]);
    this.done = (async () => {
      const status = await process.status;
      await reading.catch(() => {});
      this.#exited = true;
      running.delete(this);
      return status;
    })();
  }

  /** Starts `command`; `name` is how errors and logs refer to it. */
  static start(
    name: string,
    command: string,
    args: string[],
    options: StartOptions = {},
  ): ManagedProcess {
    const stdout = options.stdout ?? "piped";
    const process = new Deno.Command(command, {
      args,
      stdin: options.stdin ?? "null",
      stdout: stdout === "null" ? "null" : "piped",
      stderr: "piped",
      ...(options.env === undefined ? {} : { env: options.env }),
    }).spawn();
    const managed = new ManagedProcess(name, process, options);
    running.add(managed);
    return managed;
  }

  /** Whether the process has exited and its output is read. */
  get exited(): boolean {
    return this.#exited;
  }

  /** All output so far as it came, a line not yet ended included. */
  get text(): string {
    return this.#chunks.join("");
  }

  /** The first line (already seen or to come) that `match` accepts. */
  waitForLine(what: string, match: (line: string) => boolean, timeoutMs: number): Promise<string> {
    const seen = this.lines.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((waiter) => waiter !== entry);
        reject(new Error(`${this.name}: no ${what} within ${timeoutMs} ms:\n${this.tail()}`));
      }, timeoutMs);
      const entry: LineWaiter = {
        match,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      this.#waiters.push(entry);
      this.done.then(() => {
        if (!this.#waiters.includes(entry)) return;
        clearTimeout(timer);
        this.#waiters = this.#waiters.filter((waiter) => waiter !== entry);
        reject(new Error(`${this.name} exited before ${what}:\n${this.tail()}`));
      });
    });
  }

  /** The last lines of output, for error messages. */
  tail(count = 15): string {
    return this.lines.slice(-count).join("\n");
  }

  /** Writes to standard input (started with `stdin: "piped"`). */
  async write(bytes: Uint8Array): Promise<void> {
    await this.#stdin?.write(bytes);
  }

  async closeStdin(): Promise<void> {
    await this.#stdin?.close().catch(() => {});
  }

  /** Sends `signal`, unless the process has exited. */
  signal(signal: Deno.Signal): void {
    if (this.#exited) return;
    try {
      this.#process.kill(signal);
    } catch {
      // Exited meanwhile.
    }
  }

  /** SIGKILL. */
  kill(): void {
    this.signal("SIGKILL");
  }

  /** Waits for the process to exit by itself, killing it after `timeoutMs`. */
  async exit(timeoutMs = 15_000): Promise<Deno.CommandStatus> {
    const timer = setTimeout(() => this.kill(), timeoutMs);
    try {
      return await this.done;
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGTERM (or `signal`), then SIGKILL if it has not exited after `graceMs`. */
  async stop(graceMs = 3000, signal: Deno.Signal = "SIGTERM"): Promise<Deno.CommandStatus> {
    this.signal(signal);
    return await this.exit(graceMs);
  }

  /** SIGKILL, and wait for the exit. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop(15_000, "SIGKILL");
  }

  async #read(stream: ReadableStream<Uint8Array>): Promise<void> {
    let pending = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      this.#chunks.push(chunk);
      pending += chunk;
      for (let newline; (newline = pending.indexOf("\n")) >= 0;) {
        this.#line(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
      }
    }
    if (pending !== "") this.#line(pending);
  }

  #line(line: string): void {
    this.lines.push(line);
    for (const waiter of this.#waiters.filter((waiter) => waiter.match(line))) {
      this.#waiters = this.#waiters.filter((other) => other !== waiter);
      waiter.resolve(line);
    }
  }
}

/** Stops every process still running, all at once, each with its own deadline. */
export async function stopAll(graceMs: number): Promise<void> {
  await Promise.all([...running].map((process) => process.stop(graceMs)));
}

/** What {@link runDeno} saw of a finished `deno run`. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Whether it was killed at its time limit. */
  timedOut: boolean;
}

/**
 * Runs `deno run -A ...args` to its end (killed after `timeoutMs`, 20 s by
 * default), with standard input closed, and returns its exit code and output.
 */
export async function runDeno(
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<RunResult> {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, options.timeoutMs ?? 20_000);
  try {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", ...args],
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      ...(options.env === undefined ? {} : { env: options.env }),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: controller.signal,
    }).output();
    const decoder = new TextDecoder();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
      timedOut,
    };
  } finally {
    clearTimeout(timer);
  }
}
