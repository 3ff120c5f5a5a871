/**
 * The accept loop both HTTP servers run over `Deno.listen` (the main
 * process's API, src/server/http_listener.ts, and the media port,
 * src/output/media_server.ts), so that no client can take either process
 * down.
 *
 * `Deno.serve` hides its accept loop, and when `accept()` fails with EMFILE
 * its promise rejects unhandled and the whole process exits. Here every
 * accept error is caught and retried with a backoff (the connection stays
 * queued in the kernel until descriptors are freed), and an episode of
 * failures is told once when it starts and once when accepts have worked
 * again for a while. Connections over the cap are handed to `refuse` (an
 * answer the client can read) and closed; every other one to `serve`, and
 * closed when it is done. Every task's rejection is handled: none may go
 * unhandled and end the process.
 *
 * @module
 */

/** The part of a `Deno.Listener` the loop uses (a test may wrap one). */
export interface ConnectionSource {
  accept(): Promise<Deno.Conn>;
  close(): void;
}

/** What the loop is for: serving, refusing, and telling of failed accepts. */
export interface AcceptLoopOptions {
  /** Connections served at once; more are refused. */
  maxConnections: number;
  /** Serves one connection; the loop closes it afterwards. A rejection goes to `onServeError`. */
  serve(conn: Deno.Conn): Promise<void>;
  /** Answers a connection over the cap (briefly); the loop closes it afterwards. */
  refuse(conn: Deno.Conn): Promise<void>;
  /** Accepting failed for the first time in an episode (EMFILE, ENFILE, ...). */
  onAcceptFailing(error: unknown): void;
  /** Accepts have worked for `recoveredAfterMs` after `failures` failed ones. */
  onAcceptRecovered(failures: number): void;
  /** `serve` rejected (the connection is closed all the same). */
  onServeError?(error: unknown): void;
  /** Something no accept error explains ended the loop. */
  onLoopEnded(error: unknown): void;
  /** Accepts have recovered once none failed for this long; 3 s by default. */
  recoveredAfterMs?: number;
}

/** A running accept loop. */
export interface AcceptLoop {
  /** Connections being served now (refused ones not counted). */
  readonly connections: number;
  /** Whether {@link AcceptLoop.shutdown} was called: a connection should finish what it does and go. */
  readonly stopping: boolean;
  /**
   * Stops accepting (closes the listener), closes every connection but
   * those `spare` names at once, gives those up to `graceMs` to finish,
   * then closes the rest and waits for every task. Safe to call twice.
   */
  shutdown(options?: { spare?: (conn: Deno.Conn) => boolean; graceMs?: number }): Promise<void>;
}

/** The first wait after a failed accept. */
const MIN_ACCEPT_BACKOFF_MS = 10;
/** The longest wait between two failed accepts. */
const MAX_ACCEPT_BACKOFF_MS = 1000;
/** By default, accepts have recovered once none failed for this long. */
const RECOVERED_AFTER_MS = 3000;

/** Accepts connections from `listener` until shut down; it owns the listener from now on. */
export function acceptConnections(
  listener: ConnectionSource,
  options: AcceptLoopOptions,
): AcceptLoop {
  const recoveredAfterMs = options.recoveredAfterMs ?? RECOVERED_AFTER_MS;
  const open = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();
  let closing = false;

  const track = (task: Promise<void>) => {
    tasks.add(task);
    // Both outcomes handled: a rejection must never go unhandled and end the process.
    const forget = () => tasks.delete(task);
    task.then(forget, forget);
  };

  // An episode of failed accepts (EMFILE comes and goes as descriptors are
  // freed and taken) is told when it starts, and when accepts have worked
  // for recoveredAfterMs with no failure.
  let failures = 0;
  let lastFailure = 0;
  let recoveryTimer: ReturnType<typeof setTimeout> | undefined;
  const checkRecovered = () => {
    recoveryTimer = undefined;
    if (failures === 0) return;
    const quietMs = performance.now() - lastFailure;
    if (quietMs >= recoveredAfterMs) {
      options.onAcceptRecovered(failures);
      failures = 0;
    } else if (!closing) {
      recoveryTimer = setTimeout(checkRecovered, recoveredAfterMs - quietMs);
    }
  };

  async function acceptLoop(): Promise<void> {
    let backoffMs = MIN_ACCEPT_BACKOFF_MS;
    while (!closing) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (closing) return;
        // EMFILE/ENFILE and friends: the connection stays queued; retry
        // later, when descriptors may have been freed.
        if (failures === 0) options.onAcceptFailing(error);
        failures++;
        lastFailure = performance.now();
        await new Promise((resolve) => setTimeout(resolve, backoffMs));
        backoffMs = Math.min(backoffMs * 2, MAX_ACCEPT_BACKOFF_MS);
        continue;
      }
      backoffMs = MIN_ACCEPT_BACKOFF_MS;
      if (failures > 0 && recoveryTimer === undefined && !closing) {
        recoveryTimer = setTimeout(checkRecovered, recoveredAfterMs);
      }
      if (closing) {
        closeQuietly(conn);
        return;
      }
      if (open.size >= options.maxConnections) {
        track(options.refuse(conn).catch(() => {}).finally(() => closeQuietly(conn)));
        continue;
      }
      open.add(conn);
      track(
        options.serve(conn)
          .catch((error) => options.onServeError?.(error))
          .finally(() => {
            open.delete(conn);
            closeQuietly(conn);
          }),
      );
    }
  }

  const loop = acceptLoop().catch((error) => options.onLoopEnded(error));

  return {
    get connections() {
      return open.size;
    },
    get stopping() {
      return closing;
    },
    async shutdown({ spare, graceMs = 0 } = {}) {
      if (closing) return;
      closing = true;
      clearTimeout(recoveryTimer);
      closeQuietly(listener);
      await loop;
      for (const conn of open) if (spare === undefined || !spare(conn)) closeQuietly(conn);
      if (open.size > 0 && graceMs > 0) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          Promise.all([...tasks]),
          new Promise((resolve) => {
            timer = setTimeout(resolve, graceMs);
          }),
        ]);
        clearTimeout(timer);
      }
      for (const conn of open) closeQuietly(conn);
      await Promise.all([...tasks]);
    },
  };
}

/**
 * A timer that closes `conn` when it runs out: a client that does not send
 * its request (or take its answer) in time loses the connection, and the
 * read or write it blocks fails. {@link ConnectionTimeout.expired} tells
 * that failure apart from the client's own.
 */
export class ConnectionTimeout {
  readonly #conn: { close(): void };
  readonly #ms: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #expired = false;

  constructor(conn: { close(): void }, ms: number) {
    this.#conn = conn;
    this.#ms = ms;
  }

  /** Whether the timer ran out and closed the connection. */
  get expired(): boolean {
    return this.#expired;
  }

  /** Starts the timer again from now. */
  arm(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#expired = true;
      closeQuietly(this.#conn);
    }, this.#ms);
  }

  /** Stops the timer. */
  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  [Symbol.dispose](): void {
    this.clear();
  }
}

/** Closes a connection or listener that may be closed already. */
export function closeQuietly(closer: { close(): void }): void {
  try {
    closer.close();
  } catch {
    // Already closed.
  }
}
