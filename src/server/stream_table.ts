/**
 * The main process's table of live streams: who publishes, who watches, who
 * waits for a publisher, and which stream is in its grace period. It decides
 * each publish or play request that a child's listen callback forwards, and
 * says what must happen next as {@link StreamEvent}s. Pure: time is passed
 * in, and nothing here touches a process, a socket or a buffer.
 *
 * The rules (issue "Streams"):
 * - a mode the stream's rules do not allow: 1403;
 * - one publisher per stream; a second one: 1409, unless the first has sent
 *   nothing for `publisherTimeoutMs`, in which case the newcomer takes over
 *   and the first is closed;
 * - a viewer of a stream without a publisher waits (its handshake is held)
 *   up to `playWaitMs` and is accepted as soon as a publisher arrives, else
 *   rejected with 1404;
 * - more viewers than the stream allows: 1402;
 * - when a publisher leaves, its viewers stay for `graceMs` and go on with
 *   the next publisher; after that they are closed.
 *
 * @module
 */

import { RejectCode } from "../protocol/reject_codes.ts";
import type { StreamMode } from "../protocol/stream_id.ts";

/** What the stream's configuration allows (see ../config/config_file.ts). */
export interface StreamPolicy {
  readonly modes: readonly StreamMode[];
  readonly maxViewers?: number | undefined;
}

export interface StreamTimes {
  /** How long a viewer's handshake is held while its stream has no publisher. */
  readonly playWaitMs: number;
  /** A publisher silent this long may be replaced by a new one. */
  readonly publisherTimeoutMs: number;
  /** How long viewers stay after their publisher left. */
  readonly graceMs: number;
}

export type Decision =
  /** Accept; `replaces` is the publisher being taken over, already closed by an event. */
  | { kind: "accept"; replaces?: string }
  /** Hold the handshake: a later `accept-waiting` or `reject-waiting` event answers it. */
  | { kind: "wait"; untilMs: number }
  | { kind: "reject"; code: RejectCode; reason: string };

export type StreamEvent =
  /** A stream entry appeared (its buffer is needed from now on). */
  | { type: "stream-created"; name: string }
  /** A publisher arrived: accept this held viewer. */
  | { type: "accept-waiting"; connectionId: string; name: string }
  /** The play wait ran out: reject this held viewer. */
  | { type: "reject-waiting"; connectionId: string; name: string; code: RejectCode; reason: string }
  /** Close this connection (a replaced publisher, or a viewer after the grace period). */
  | { type: "close"; connectionId: string; name: string; reason: string }
  /** Nobody uses the stream any more (its buffer can go). */
  | { type: "stream-ended"; name: string };

/** A stream as the API shows it. */
export interface StreamSnapshot {
  name: string;
  publisher: string | null;
  viewers: string[];
  waiting: number;
  /** When the grace period ends, while the stream has viewers but no publisher. */
  graceUntilMs: number | null;
}

interface Publisher {
  readonly connectionId: string;
  lastActivityMs: number;
}

interface Stream {
  readonly name: string;
  publisher: Publisher | undefined;
  readonly viewers: Set<string>;
  /** Held viewers and when their wait ends. */
  readonly waiting: Map<string, number>;
  graceUntilMs: number | undefined;
}

type Role = "publisher" | "viewer" | "waiting";

export class StreamTable {
  #times: StreamTimes;
  #streams = new Map<string, Stream>();
  #roles = new Map<string, { name: string; role: Role }>();
  #events: StreamEvent[] = [];

  constructor(times: StreamTimes) {
    this.#times = times;
  }

  /** Changes the times for later decisions (a reloaded config). */
  setTimes(times: StreamTimes): void {
    this.#times = times;
  }

  /** Decides a publish or play request from `connectionId` for stream `name`. */
  request(
    connectionId: string,
    name: string,
    mode: StreamMode,
    policy: StreamPolicy,
    nowMs: number,
  ): Decision {
    if (this.#roles.has(connectionId)) {
      return reject(RejectCode.BadRequest, `connection ${connectionId} already asked`);
    }
    const forbidden = modeRefusal(name, mode, policy);
    if (forbidden !== undefined) return forbidden;
    return mode === "publish"
      ? this.#publish(connectionId, name, nowMs)
      : this.#play(connectionId, name, policy, nowMs);
  }

  /** The publisher `connectionId` sent media at `nowMs`. */
  activity(connectionId: string, nowMs: number): void {
    const entry = this.#roles.get(connectionId);
    if (entry?.role !== "publisher") return;
    const publisher = this.#streams.get(entry.name)?.publisher;
    if (publisher?.connectionId === connectionId) {
      publisher.lastActivityMs = Math.max(publisher.lastActivityMs, nowMs);
    }
  }

  /** `connectionId` is gone (its child exited); unknown ids are ignored. */
  release(connectionId: string, nowMs: number): void {
    const entry = this.#roles.get(connectionId);
    if (entry === undefined) return;
    this.#roles.delete(connectionId);
    const stream = this.#streams.get(entry.name);
    if (stream === undefined) return;
    if (entry.role === "publisher" && stream.publisher?.connectionId === connectionId) {
      stream.publisher = undefined;
      if (stream.viewers.size > 0) stream.graceUntilMs = nowMs + this.#times.graceMs;
    } else if (entry.role === "viewer") {
      stream.viewers.delete(connectionId);
    } else if (entry.role === "waiting") {
      stream.waiting.delete(connectionId);
    }
    this.#expire(stream, nowMs);
  }

  /** Ends waits and grace periods that are over at `nowMs`. */
  tick(nowMs: number): void {
    for (const stream of [...this.#streams.values()]) this.#expire(stream, nowMs);
  }

  /**
   * Ends stream `name` now: its publisher and viewers are closed, held
   * viewers rejected (1404), and the stream is gone. False when there is no
   * such stream.
   */
  end(name: string, reason: string): boolean {
    const stream = this.#streams.get(name);
    if (stream === undefined) return false;
    const ids = [
      ...(stream.publisher === undefined ? [] : [stream.publisher.connectionId]),
      ...stream.viewers,
    ];
    for (const connectionId of ids) {
      this.#roles.delete(connectionId);
      this.#events.push({ type: "close", connectionId, name, reason });
    }
    for (const waiter of stream.waiting.keys()) {
      this.#roles.delete(waiter);
      this.#events.push({
        type: "reject-waiting",
        connectionId: waiter,
        name,
        code: RejectCode.NotFound,
        reason: `stream "${name}" ${reason}`,
      });
    }
    this.#streams.delete(name);
    this.#events.push({ type: "stream-ended", name });
    return true;
  }

  /** Connections held until their stream gets a publisher. */
  waitingIds(): string[] {
    return [...this.#roles].filter(([, entry]) => entry.role === "waiting").map(([id]) => id);
  }

  /** Events since the last call, oldest first. */
  takeEvents(): StreamEvent[] {
    return this.#events.splice(0);
  }

  /** The stream `connectionId` publishes or watches (or waits for). */
  streamOf(connectionId: string): { name: string; role: Role } | undefined {
    const entry = this.#roles.get(connectionId);
    return entry === undefined ? undefined : { ...entry };
  }

  /** The earliest time at which {@link tick} has something to do. */
  get nextDeadlineMs(): number | undefined {
    let next: number | undefined;
    for (const stream of this.#streams.values()) {
      for (const until of stream.waiting.values()) next = Math.min(next ?? until, until);
      if (stream.graceUntilMs !== undefined) {
        next = Math.min(next ?? stream.graceUntilMs, stream.graceUntilMs);
      }
    }
    return next;
  }

  snapshot(): StreamSnapshot[] {
    return [...this.#streams.values()].map((stream) => ({
      name: stream.name,
      publisher: stream.publisher?.connectionId ?? null,
      viewers: [...stream.viewers],
      waiting: stream.waiting.size,
      graceUntilMs: stream.graceUntilMs ?? null,
    }));
  }

  #publish(connectionId: string, name: string, nowMs: number): Decision {
    const stream = this.#stream(name);
    const current = stream.publisher;
    let replaces: string | undefined;
    if (current !== undefined) {
      const silentMs = nowMs - current.lastActivityMs;
      if (silentMs < this.#times.publisherTimeoutMs) {
        return reject(
          RejectCode.Conflict,
          `stream "${name}" already has a publisher (connection ${current.connectionId})`,
        );
      }
      replaces = current.connectionId;
      this.#roles.delete(replaces);
      this.#events.push({
        type: "close",
        connectionId: replaces,
        name,
        reason: `replaced by a new publisher after ${Math.round(silentMs)} ms without media`,
      });
    }
    stream.publisher = { connectionId, lastActivityMs: nowMs };
    stream.graceUntilMs = undefined;
    this.#roles.set(connectionId, { name, role: "publisher" });
    for (const waiter of stream.waiting.keys()) {
      stream.viewers.add(waiter);
      this.#roles.set(waiter, { name, role: "viewer" });
      this.#events.push({ type: "accept-waiting", connectionId: waiter, name });
    }
    stream.waiting.clear();
    return replaces === undefined ? { kind: "accept" } : { kind: "accept", replaces };
  }

  #play(connectionId: string, name: string, policy: StreamPolicy, nowMs: number): Decision {
    const existing = this.#streams.get(name);
    const audience = existing === undefined ? 0 : existing.viewers.size + existing.waiting.size;
    if (policy.maxViewers !== undefined && audience >= policy.maxViewers) {
      return reject(
        RejectCode.Overload,
        `stream "${name}" has its maximum of ${policy.maxViewers} viewer(s)`,
      );
    }
    if (existing?.publisher !== undefined) {
      existing.viewers.add(connectionId);
      this.#roles.set(connectionId, { name, role: "viewer" });
      return { kind: "accept" };
    }
    if (this.#times.playWaitMs <= 0) return notFound(name, 0);
    const stream = existing ?? this.#stream(name);
    const untilMs = nowMs + this.#times.playWaitMs;
    stream.waiting.set(connectionId, untilMs);
    this.#roles.set(connectionId, { name, role: "waiting" });
    return { kind: "wait", untilMs };
  }

  #stream(name: string): Stream {
    let stream = this.#streams.get(name);
    if (stream === undefined) {
      stream = {
        name,
        publisher: undefined,
        viewers: new Set(),
        waiting: new Map(),
        graceUntilMs: undefined,
      };
      this.#streams.set(name, stream);
      this.#events.push({ type: "stream-created", name });
    }
    return stream;
  }

  /** Applies what time and departures mean for `stream`, and drops it once unused. */
  #expire(stream: Stream, nowMs: number): void {
    for (const [waiter, untilMs] of stream.waiting) {
      if (untilMs > nowMs) continue;
      stream.waiting.delete(waiter);
      this.#roles.delete(waiter);
      const { code, reason } = notFound(stream.name, this.#times.playWaitMs);
      this.#events.push({
        type: "reject-waiting",
        connectionId: waiter,
        name: stream.name,
        code,
        reason,
      });
    }
    if (stream.publisher === undefined && stream.graceUntilMs !== undefined) {
      if (stream.viewers.size === 0) stream.graceUntilMs = undefined;
      else if (stream.graceUntilMs <= nowMs) {
        stream.graceUntilMs = undefined;
        for (const viewer of stream.viewers) {
          this.#roles.delete(viewer);
          this.#events.push({
            type: "close",
            connectionId: viewer,
            name: stream.name,
            reason: `no publisher returned within ${this.#times.graceMs} ms`,
          });
        }
        stream.viewers.clear();
      }
    }
    const unused = stream.publisher === undefined && stream.viewers.size === 0 &&
      stream.waiting.size === 0;
    if (unused && this.#streams.get(stream.name) === stream) {
      this.#streams.delete(stream.name);
      this.#events.push({ type: "stream-ended", name: stream.name });
    }
  }
}

/** The 1403 for a mode the stream's rules do not allow, else undefined. */
export function modeRefusal(
  name: string,
  mode: StreamMode,
  policy: StreamPolicy,
): Extract<Decision, { kind: "reject" }> | undefined {
  if (policy.modes.includes(mode)) return undefined;
  return {
    kind: "reject",
    code: RejectCode.Forbidden,
    reason: `${mode} is not allowed on stream "${name}"`,
  };
}

function reject(code: RejectCode, reason: string): Decision {
  return { kind: "reject", code, reason };
}

function notFound(
  name: string,
  waitedMs: number,
): { kind: "reject"; code: RejectCode; reason: string } {
  return {
    kind: "reject",
    code: RejectCode.NotFound,
    reason: waitedMs > 0
      ? `stream "${name}" got no publisher within ${waitedMs} ms`
      : `stream "${name}" has no publisher`,
  };
}
