/**
 * Processes the bench starts (Atoll, srt-live-transmit, its own listener and
 * sender), each tracked so that every one of them is stopped on the way out,
 * whatever failed: SIGTERM first, SIGKILL after a deadline.
 *
 * @module
 */

export interface StartOptions {
  /** Keep stdout as lines (default), or send it to /dev/null. */
  stdout?: "piped" | "null";
  /** A pipe the bench can close to tell the process to stop (default: /dev/null). */
  stdin?: "piped" | "null";
  env?: Record<string, string>;
}

type LineWaiter = { match: (line: string) => boolean; resolve: (line: string) => void };

const running = new Set<ManagedProcess>();

/** A started process whose output lines are kept and can be waited for. */
export class ManagedProcess {
  readonly name: string;
  readonly pid: number;
  /** Every line of stdout and stderr, in arrival order per stream. */
  readonly lines: string[] = [];
  readonly done: Promise<Deno.CommandStatus>;
  #process: Deno.ChildProcess;
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
    const streams = [process.stderr, ...(options.stdout === "null" ? [] : [process.stdout])];
    const reading = Promise.all(streams.map((stream) => this.#readLines(stream)));
    this.done = (async () => {
      const status = await process.status;
      await reading.catch(() => {});
      this.#exited = true;
      running.delete(this);
      return status;
    })();
  }

  static start(
    name: string,
    command: string,
    args: string[],
    options: StartOptions = {},
  ): ManagedProcess {
    const process = new Deno.Command(command, {
      args,
      stdin: options.stdin ?? "null",
      stdout: options.stdout ?? "piped",
      stderr: "piped",
      ...(options.env === undefined ? {} : { env: options.env }),
    }).spawn();
    const managed = new ManagedProcess(name, process, options);
    running.add(managed);
    return managed;
  }

  get exited(): boolean {
    return this.#exited;
  }

  get output(): string {
    return this.lines.join("\n");
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

  async closeStdin(): Promise<void> {
    await this.#stdin?.close().catch(() => {});
  }

  signal(signal: Deno.Signal): void {
    if (this.#exited) return;
    try {
      this.#process.kill(signal);
    } catch {
      // Exited meanwhile.
    }
  }

  /** SIGTERM (or `signal`), then SIGKILL if it has not exited after `graceMs`. */
  async stop(graceMs = 3000, signal: Deno.Signal = "SIGTERM"): Promise<Deno.CommandStatus> {
    this.signal(signal);
    const timer = setTimeout(() => this.signal("SIGKILL"), graceMs);
    try {
      return await this.done;
    } finally {
      clearTimeout(timer);
    }
  }

  async #readLines(stream: ReadableStream<Uint8Array>): Promise<void> {
    let pending = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      pending += chunk;
      let newline;
      while ((newline = pending.indexOf("\n")) >= 0) {
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

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every `intervalMs` until it returns something other than undefined/false. */
export async function waitUntil<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs: number,
  intervalMs = 20,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (performance.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms: ${what}`);
    await sleep(intervalMs);
  }
}
