/**
 * What the output process tells the main process: JSON lines on stdout
 * ({@link OutputReport}), written one at a time off the JS thread. A main
 * process that does not read for a while costs a bounded queue: only the
 * newest stats wait (each supersedes the last), and at most
 * {@link MAX_WAITING_LINES} other reports, the oldest dropped first. When
 * stdout is gone (the main process died) reports are dropped.
 *
 * @module
 */

import type { OutputReport } from "../ipc/output_messages.ts";
import { MAX_PENDING_ACCESS } from "./access.ts";
import { MAX_PENDING_DEMANDS } from "./demand.ts";

/**
 * Reports other than stats that wait for a slow main process, at most:
 * room for every access request and demand that may wait at once
 * (access.ts, demand.ts), and some logs.
 */
export const MAX_WAITING_LINES = MAX_PENDING_ACCESS + MAX_PENDING_DEMANDS + 64;

/** Where report lines go: stdout in the output process, a list in tests. */
export type LineSink = (bytes: Uint8Array) => Promise<unknown>;

const encoder = new TextEncoder();

export class ReportWriter {
  #sink: LineSink;
  #lines: Uint8Array[] = [];
  #stats: Uint8Array | undefined;
  #writing: Promise<void> | undefined;
  #closed = false;
  /** Reports dropped because too many waited. */
  dropped = 0;

  constructor(sink: LineSink) {
    this.#sink = sink;
  }

  /** Queues `report`; it goes out after those before it. */
  send(report: OutputReport): void {
    if (this.#closed) return;
    const line = encoder.encode(`${JSON.stringify(report)}\n`);
    if (report.type === "stats") this.#stats = line;
    else {
      this.#lines.push(line);
      if (this.#lines.length > MAX_WAITING_LINES) {
        this.#lines.shift();
        this.dropped++;
      }
    }
    this.#writing ??= this.#drain().finally(() => this.#writing = undefined);
  }

  /** Resolves once everything queued so far is written (or stdout is gone). */
  async flushed(): Promise<void> {
    while (this.#writing !== undefined) await this.#writing;
  }

  async #drain(): Promise<void> {
    for (;;) {
      const line = this.#lines.shift() ?? this.#stats;
      if (line === undefined) return;
      if (line === this.#stats) this.#stats = undefined;
      try {
        await this.#sink(line);
      } catch {
        // The main process is gone: nobody reads any more.
        this.#closed = true;
        this.#lines = [];
        this.#stats = undefined;
        return;
      }
    }
  }
}

/** Writes all of `bytes` to stdout. */
export async function writeToStdout(bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await Deno.stdout.write(bytes.subarray(offset));
}
