/**
 * A helper process's reports on their way to the main process, for a
 * process that may await its writes (the media output process and the
 * recorders; an SRT child, which must never wait, has report_queue.ts): JSON
 * lines written one at a time, in order, through `out` (stdout). A main
 * process that does not read for a while costs a bounded queue: only the
 * newest `stats` report waits (each supersedes the last, and takes its
 * place behind what was sent before it), and at most
 * `capacity` others; over that, the oldest `log` is dropped first, and
 * another report only when no log waits. Once the queue has drained after
 * drops, a warning log says how many were dropped. When `out` fails (the
 * main process is gone) everything is dropped, from then on too.
 *
 * Pure: `out` is anything with an async `write`, so tests need no pipes.
 *
 * @module
 */

/** Where the lines go: `Deno.stdout` in a helper process. */
export interface ByteWriter {
  /** Writes the first bytes of `bytes` (at least one), resolving to how many. */
  write(bytes: Uint8Array): Promise<number>;
}

/** What the writer needs to know of a report: its `type` (`stats` and `log` are treated apart). */
export interface Report {
  type: string;
}

/** How a {@link ReportWriter} bounds its queue, and how it says what it dropped. */
export interface ReportWriterOptions<R extends Report> {
  /** Reports other than stats that wait at most. */
  capacity: number;
  /** The report (a warning log) that carries `message`, the notice of drops. */
  notice: (message: string) => R;
}

/** What was dropped: logs, and other reports (when no log waited). */
export interface DroppedLines {
  logs: number;
  others: number;
}

/** The words of the notice of drops. */
export function droppedText(dropped: DroppedLines): string {
  const parts = [
    dropped.logs > 0 ? `${dropped.logs} logs` : "",
    dropped.others > 0 ? `${dropped.others} other reports` : "",
  ].filter((part) => part !== "");
  return `Dropped ${dropped.logs + dropped.others} reports (${
    parts.join(", ")
  }) while the main process was not reading`;
}

interface Line {
  kind: "stats" | "log" | "other";
  bytes: Uint8Array;
}

const encoder = new TextEncoder();

/** Reports as JSON lines through `out`, queued (bounded) while a write is under way. */
export class ReportWriter<R extends Report> {
  readonly #out: ByteWriter;
  readonly #capacity: number;
  readonly #notice: (message: string) => R;
  #lines: Line[] = [];
  #writing: Promise<void> | undefined;
  #closed = false;
  /** Dropped since the last notice. */
  #unannounced: DroppedLines = { logs: 0, others: 0 };
  #dropped = 0;

  constructor(out: ByteWriter, options: ReportWriterOptions<R>) {
    if (!Number.isInteger(options.capacity) || options.capacity < 1) {
      throw new RangeError(`Invalid report writer capacity: ${options.capacity}`);
    }
    this.#out = out;
    this.#capacity = options.capacity;
    this.#notice = options.notice;
  }

  /** Reports dropped since the writer began (over the capacity, or with `out` gone). */
  get dropped(): number {
    return this.#dropped;
  }

  /** Queues `report`; it goes out after those before it (newer stats aside). */
  send(report: R): void {
    if (this.#closed) {
      this.#dropped++;
      return;
    }
    const bytes = encoder.encode(`${JSON.stringify(report)}\n`);
    const kind = report.type === "stats" ? "stats" : report.type === "log" ? "log" : "other";
    if (kind === "stats") {
      // The newest stats supersede any still waiting.
      const waiting = this.#lines.findIndex((line) => line.kind === "stats");
      if (waiting >= 0) this.#lines.splice(waiting, 1);
    }
    this.#lines.push({ kind, bytes });
    if (this.#lines.filter((line) => line.kind !== "stats").length > this.#capacity) {
      // Over the capacity: the oldest log goes (the one just queued, if it is
      // the only one), another report only when no log waits.
      const log = this.#lines.findIndex((line) => line.kind === "log");
      const index = log >= 0 ? log : this.#lines.findIndex((line) => line.kind === "other");
      const [dropped] = this.#lines.splice(index, 1);
      this.#unannounced[dropped!.kind === "log" ? "logs" : "others"]++;
      this.#dropped++;
    }
    this.#writing ??= this.#drain().finally(() => this.#writing = undefined);
  }

  /** Resolves once everything queued so far is written (or `out` is gone). */
  async flushed(): Promise<void> {
    while (this.#writing !== undefined) await this.#writing;
  }

  async #drain(): Promise<void> {
    for (;;) {
      const bytes = this.#lines.shift()?.bytes ?? this.#takeNotice();
      if (bytes === undefined) return;
      try {
        let offset = 0;
        while (offset < bytes.length) offset += await this.#out.write(bytes.subarray(offset));
      } catch {
        // The main process is gone: nobody reads any more.
        this.#closed = true;
        this.#dropped += this.#lines.length;
        this.#lines = [];
        return;
      }
    }
  }

  /** The notice of drops not yet told, once nothing else waits. */
  #takeNotice(): Uint8Array | undefined {
    const dropped = this.#unannounced;
    if (dropped.logs + dropped.others === 0) return undefined;
    this.#unannounced = { logs: 0, others: 0 };
    return encoder.encode(`${JSON.stringify(this.#notice(droppedText(dropped)))}\n`);
  }
}
