/**
 * A child's reports on their way to the main process, for a pipe that may be
 * full: the main process can stop reading for minutes (stopped, swapped out,
 * busy), and the child's media loop must not wait for it. Reports that cannot
 * be written wait here, coalesced and bounded: only the newest stats are kept
 * (each supersedes the last), state changes and logs wait in order up to a
 * limit, the oldest log dropped first. Whatever is dropped is counted, and
 * once the pipe takes everything again a warning log says how much.
 *
 * Pure: the pipe is a write function, so tests need no pipes.
 *
 * @module
 */

import type { ChildMessage } from "./messages.ts";

/**
 * What one write to the pipe did: how many bytes it took (the first ones of
 * those given, possibly fewer than all), `"full"` when it took none and may
 * later, `"closed"` when nobody will ever read (the main process is gone).
 */
export type WriteOutcome = number | "full" | "closed";

/** How many logs and state changes wait at most while the pipe is full, by default. */
export const DEFAULT_QUEUE_CAPACITY = 32;

/** What the queue has dropped: coalesced stats, and logs and state changes over its capacity. */
export interface DroppedReports {
  stats: number;
  logs: number;
  stateChanges: number;
}

type Kind = keyof DroppedReports;

interface Entry {
  kind: Kind;
  line: Uint8Array;
}

const encoder = new TextEncoder();

function kindOf(message: ChildMessage): Kind {
  if (message.type === "stats") return "stats";
  return message.type === "log" ? "logs" : "stateChanges";
}

function total(dropped: DroppedReports): number {
  return dropped.stats + dropped.logs + dropped.stateChanges;
}

function none(): DroppedReports {
  return { stats: 0, logs: 0, stateChanges: 0 };
}

/** The warning that tells the main process what it missed. */
export function droppedNotice(dropped: DroppedReports): ChildMessage {
  const parts = [
    dropped.stats > 0 ? `${dropped.stats} stats` : "",
    dropped.logs > 0 ? `${dropped.logs} logs` : "",
    dropped.stateChanges > 0 ? `${dropped.stateChanges} state changes` : "",
  ].filter((part) => part !== "");
  return {
    type: "log",
    level: "warning",
    message: `Dropped ${total(dropped)} reports (${
      parts.join(", ")
    }) while the main process was not reading`,
  };
}

/**
 * Reports as JSON lines, written through `write` as far as the pipe takes
 * them and queued otherwise. A line the pipe took in part is finished before
 * anything else, so the main process never sees half a line followed by
 * another.
 */
export class ReportQueue {
  readonly #write: (bytes: Uint8Array) => WriteOutcome;
  readonly #capacity: number;
  #entries: Entry[] = [];
  /** The rest of a line the pipe took only the start of. */
  #partial: Uint8Array | undefined;
  #closed = false;
  /** Dropped since the last notice. */
  #unannounced = none();
  #droppedTotal = 0;

  constructor(
    write: (bytes: Uint8Array) => WriteOutcome,
    options: { capacity?: number } = {},
  ) {
    const capacity = options.capacity ?? DEFAULT_QUEUE_CAPACITY;
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`Invalid report queue capacity: ${capacity}`);
    }
    this.#write = write;
    this.#capacity = capacity;
  }

  /** Whether something waits for the pipe (a line, or the rest of one). */
  get pending(): boolean {
    return this.#partial !== undefined || this.#entries.length > 0;
  }

  /** Whether the pipe said nobody reads any more: from then on everything is dropped. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Reports queued now, a line in part written included. */
  get length(): number {
    return this.#entries.length + (this.#partial === undefined ? 0 : 1);
  }

  /** Reports dropped since the queue began, announced or not. */
  get dropped(): number {
    return this.#droppedTotal;
  }

  /** Queues `message` behind what waits, dropping what the limits say, and writes what the pipe takes. */
  push(message: ChildMessage): void {
    const kind = kindOf(message);
    if (this.#closed) {
      this.#drop(kind);
      return;
    }
    if (kind === "stats") {
      // The newest stats supersede any still waiting (a line in part written is not here).
      const waiting = this.#entries.findIndex((entry) => entry.kind === "stats");
      if (waiting >= 0) this.#remove(waiting);
    }
    this.#entries.push({ kind, line: encoder.encode(`${JSON.stringify(message)}\n`) });
    if (this.#entries.filter((entry) => entry.kind !== "stats").length > this.#capacity) {
      // Over the limit: the oldest log goes first (the one just queued, if it is
      // the only one), a state change only when no log waits.
      const log = this.#entries.findIndex((entry) => entry.kind === "logs");
      this.#remove(log >= 0 ? log : this.#entries.findIndex((entry) => entry.kind !== "stats"));
    }
    this.flush();
  }

  /**
   * Writes what waits until the pipe is full or the queue empty; once it is
   * empty after drops, queues the notice of what was dropped and writes
   * that too. Every turn of its loop writes at least one byte or returns.
   */
  flush(): void {
    while (!this.#closed) {
      const head = this.#partial ?? this.#entries[0]?.line ?? this.#notice();
      if (head === undefined) return;
      const outcome = this.#write(head);
      if (outcome === "closed") {
        this.#close();
        return;
      }
      if (outcome === "full" || outcome <= 0) return;
      if (this.#partial === undefined) this.#entries.shift();
      this.#partial = outcome < head.byteLength ? head.subarray(outcome) : undefined;
    }
  }

  /** Queues the notice of unannounced drops, if any, and returns its line. */
  #notice(): Uint8Array | undefined {
    if (total(this.#unannounced) === 0) return undefined;
    const line = encoder.encode(`${JSON.stringify(droppedNotice(this.#unannounced))}\n`);
    this.#unannounced = none();
    this.#entries.push({ kind: "logs", line });
    return line;
  }

  #remove(index: number): void {
    const [entry] = this.#entries.splice(index, 1);
    if (entry !== undefined) this.#drop(entry.kind);
  }

  #drop(kind: Kind): void {
    this.#unannounced[kind]++;
    this.#droppedTotal++;
  }

  /** Nobody reads: what waits is dropped, and so is every later report. */
  #close(): void {
    this.#closed = true;
    for (const entry of this.#entries) this.#drop(entry.kind);
    this.#entries = [];
    this.#partial = undefined;
  }
}
