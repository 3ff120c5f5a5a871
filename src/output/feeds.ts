/**
 * The streams the output process serves: each one's buffer (the memfd the
 * main process sent, mapped), the HTTP-TS clients following it, what they
 * were sent, and one shared wait on its wake word; and their HLS (hls.ts).
 * A stream ends when the main process says so: its clients' responses end,
 * its HLS playlist ends, and its memory is let go once no wait is in flight
 * on it.
 *
 * @module
 */

import { futexWait, futexWake, SharedMapping } from "../../ffi/shm.ts";
import type { OwnedFd } from "../../ffi/owned_fd.ts";
import {
  DEFAULT_HLS_RULES,
  type HlsRules,
  type OutputStreamStats,
} from "../ipc/output_messages.ts";
import { WAKE_WORD_OFFSET } from "../media/stream_buffer.ts";
import { HlsTable, type HlsTableOptions } from "./hls.ts";

/**
 * The longest single wait on a stream's wake word: a publisher wakes it on
 * every write, so this only bounds how long an idle stream's wait holds a
 * pool thread.
 */
const IDLE_WAIT_MS = 1000;
/**
 * After a wakeup, how long to let the publisher write more before the
 * clients read: HTTP clients need no millisecond latency, and the process
 * then wakes at most about 100 times a second per stream, whatever the
 * publisher's rate.
 */
const COALESCE_MS = 10;

/** How often an ending feed wakes its wait until the wait is over. */
const END_WAKE_MS = 5;

/** One client following a feed; the feed ends it when the stream ends. */
export interface FeedClient {
  end(): void;
}

/** One stream's buffer and its HTTP-TS clients. */
export class Feed {
  readonly name: string;
  readonly clients = new Set<FeedClient>();
  bytesSent = 0;
  skips = 0;
  readonly #memory: OwnedFd;
  readonly #mapping: SharedMapping;
  #wait: Promise<void> | undefined;
  #isEnded = false;

  constructor(name: string, memory: OwnedFd, bytes: number) {
    this.name = name;
    this.#memory = memory;
    this.#mapping = SharedMapping.map(memory.fd, bytes);
  }

  /** The mapped stream buffer. Throws once the feed has ended. */
  get buffer(): ArrayBuffer {
    return this.#mapping.buffer;
  }

  get ended(): boolean {
    return this.#isEnded;
  }

  /**
   * Resolves once the publisher may have written since the wake word read
   * `seen`, the feed ended, or a while passed (at most about a second):
   * read again then. Every client of the feed shares one wait, and each
   * wait is short-lived: nothing that lives as long as the feed collects a
   * reaction per wait.
   */
  changed(seen: number): Promise<void> {
    if (this.#isEnded) return Promise.resolve();
    this.#wait ??= (async () => {
      try {
        await futexWait(this.#mapping, WAKE_WORD_OFFSET, {
          expected: seen,
          timeoutMs: IDLE_WAIT_MS,
        });
        if (!this.#isEnded) await new Promise((resolve) => setTimeout(resolve, COALESCE_MS));
      } finally {
        this.#wait = undefined;
      }
    })();
    return this.#wait;
  }

  /** Its HTTP-TS figures, as the main process is told them. */
  stats(): Omit<OutputStreamStats, "hlsClients" | "hlsSegments" | "hlsBytesSent"> {
    return {
      name: this.name,
      clients: this.clients.size,
      bytesSent: this.bytesSent,
      skips: this.skips,
    };
  }

  /** Ends every client and lets go of the buffer once no wait is in flight. */
  async end(): Promise<void> {
    if (this.#isEnded) return;
    this.#isEnded = true;
    for (const client of this.clients) client.end();
    const wait = this.#wait;
    if (wait !== undefined) {
      // The memory must not go while a pool thread waits on a word in it.
      // Waking it (and any SRT viewer's wait, which reads, finds nothing
      // new and waits again) ends the wait at once, if the thread sleeps
      // already; one about to sleep is caught by the next wake.
      let settled = false;
      const done = wait.catch(() => {}).then(() => settled = true);
      while (!settled) {
        futexWake(this.#mapping, WAKE_WORD_OFFSET);
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          done,
          new Promise((resolve) => timer = setTimeout(resolve, END_WAKE_MS)),
        ]);
        clearTimeout(timer);
      }
    }
    this.#mapping.close();
    this.#memory.close();
  }
}

/** Every stream the output process serves, by name, and their HLS. */
export class FeedTable {
  readonly #feeds = new Map<string, Feed>();
  /** Requests waiting for a stream to begin (a pull of it starting), by name. */
  readonly #arrivals = new Map<string, Set<(feed: Feed | undefined) => void>>();
  readonly hls: HlsTable;

  constructor(options: HlsTableOptions = {}) {
    this.hls = new HlsTable(options);
  }

  get(name: string): Feed | undefined {
    return this.#feeds.get(name);
  }

  /**
   * Serves `name` from `memory` (of `bytes`), packaged for HLS as `hls`
   * says; a feed of that name before it ends first.
   */
  async add(
    name: string,
    memory: OwnedFd,
    options: { bytes: number; hls?: HlsRules },
  ): Promise<void> {
    const { bytes, hls = DEFAULT_HLS_RULES } = options;
    await this.end(name);
    let feed: Feed;
    try {
      feed = new Feed(name, memory, bytes);
    } catch (error) {
      memory.close();
      throw error;
    }
    this.#feeds.set(name, feed);
    this.hls.began(feed, hls);
    const waiting = this.#arrivals.get(name);
    this.#arrivals.delete(name);
    for (const resolve of waiting ?? []) resolve(feed);
  }

  /**
   * Stream `name`'s feed once it has one: at once if it has, else when the
   * main process sends it, or undefined after `timeoutMs` (or when every
   * feed ends: the process stops).
   */
  arrival(name: string, timeoutMs: number): Promise<Feed | undefined> {
    const feed = this.#feeds.get(name);
    if (feed !== undefined || timeoutMs <= 0) return Promise.resolve(feed);
    const { promise, resolve } = Promise.withResolvers<Feed | undefined>();
    let waiting = this.#arrivals.get(name);
    if (waiting === undefined) this.#arrivals.set(name, waiting = new Set());
    const settle = (arrived: Feed | undefined) => {
      clearTimeout(timer);
      resolve(arrived);
    };
    const timer = setTimeout(() => {
      const set = this.#arrivals.get(name);
      set?.delete(settle);
      if (set?.size === 0) this.#arrivals.delete(name);
      resolve(undefined);
    }, timeoutMs);
    waiting.add(settle);
    return promise;
  }

  /** Ends stream `name`'s feed, if it has one. */
  async end(name: string): Promise<void> {
    const feed = this.#feeds.get(name);
    if (feed === undefined) return;
    this.#feeds.delete(name);
    await feed.end();
    await this.hls.ended(name);
  }

  /** Ends every feed and all HLS (the process is stopping). */
  async endAll(): Promise<void> {
    const waiting = [...this.#arrivals.values()];
    this.#arrivals.clear();
    for (const set of waiting) for (const settle of set) settle(undefined);
    await Promise.all([...this.#feeds.keys()].map((name) => this.end(name)));
    await this.hls.close();
  }

  stats(): OutputStreamStats[] {
    return [...this.#feeds.values()].map((feed) => ({
      ...feed.stats(),
      ...this.hls.stats(feed.name),
    }));
  }
}
