/**
 * The main process's table of live streams: who publishes, who watches, who
 * waits for a publisher, and which stream is in its grace period. It decides
 * each publish or play request that a child's listen callback forwards, and
 * says what must happen next as {@link StreamEvent}s. Pure: time is passed
 * in, and nothing here touches a process, a socket or a buffer.
 *
 * A request is decided in two steps, because libsrt checks the caller's
 * passphrase only after the listen callback accepted it (issue 14):
 * {@link StreamTable.check} answers in the listen callback and claims
 * nothing; {@link StreamTable.claim}, once libsrt accepted the passphrase and
 * the connection is up, takes the publisher slot or a viewer's place. A
 * caller that libsrt refuses therefore never held anything anyone else could
 * notice. {@link StreamTable.request} does both at once, for a caller
 * already authenticated.
 *
 * The rules (issue "Streams"):
 * - a mode the stream's rules do not allow: 1403;
 * - one publisher per stream; a second one: 1409, unless the first has sent
 *   nothing for `publisherTimeoutMs`, or has sent nothing at all and came
 *   from the newcomer's own source IP (a handshake that completed after its
 *   caller gave up), in which case the newcomer takes over once it is
 *   connected, and the first is closed;
 * - a viewer of a stream without a publisher waits (its handshake is held)
 *   up to `playWaitMs` and is accepted as soon as a publisher is connected,
 *   else rejected with 1404; held viewers count toward nothing;
 * - more connected viewers than the stream allows: 1402;
 * - a viewer whose claim fails (the connected viewers filled the stream
 *   while it was connecting) is closed: it can no longer be told a code;
 * - a publisher's claim does not fail: the last one connected is the
 *   publisher, and one that connected before it is closed. Its child writes
 *   into the stream's buffer as soon as it is connected, before the main
 *   process hears of it, and the buffer takes one writer (the newest):
 *   refusing it then would leave the stream with no publisher at all;
 * - when a publisher leaves, its viewers stay for `graceMs` and go on with
 *   the next publisher; after that they are closed;
 * - a relay that pulls the stream (issue 12) publishes like a caller, by
 *   its rule's `sourceRole`: a `primary` one takes the stream from any
 *   publisher; a `backup` one is refused (1409) while another publisher
 *   holds the stream and gives it up to any publisher that arrives.
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
  /**
   * Accept. From {@link StreamTable.check}: the caller may go on to
   * authenticate, and holds nothing yet. From {@link StreamTable.request}:
   * claimed too; `replaces` is the publisher taken over, closed by an event.
   */
  | { kind: "accept"; replaces?: string }
  /** Hold the handshake: a later `accept-waiting` or `reject-waiting` event answers it. */
  | { kind: "wait"; untilMs: number }
  | { kind: "reject"; code: RejectCode; reason: string };

export type StreamEvent =
  /** A stream entry appeared (its buffer is needed from now on). */
  | { type: "stream-created"; name: string }
  /** A publisher is connected: accept this held viewer (it claims its place once connected). */
  | { type: "accept-waiting"; connectionId: string; name: string }
  /** The play wait ran out (1404), or the viewers filled up meanwhile (1402): reject this held viewer. */
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
  /** Its caller's source IP, when known. */
  readonly source: string | undefined;
  /** Whether it has sent media since it took the stream. */
  sentMedia: boolean;
  /** A backup relay: any other publisher takes the stream from it. */
  readonly yields: boolean;
}

/** Which way a pulling relay publishes: see the rules above. */
export type RelayRole = "primary" | "backup";

/** Who asks, when it matters to the rules. */
export interface Asker {
  /** Its caller's source IP, when known. */
  readonly source?: string | undefined;
  /** Set for a relay that pulls the stream. */
  readonly relay?: RelayRole | undefined;
}

/** What {@link StreamTable.claim} says. */
export type Claim =
  | { ok: true; replaces?: string }
  /** `code` is what the caller would have been told had it asked now. */
  | { ok: false; code: RejectCode; reason: string };

interface Stream {
  readonly name: string;
  /** The connected publisher. */
  publisher: Publisher | undefined;
  /** Connected viewers: the ones `maxViewers` counts. */
  readonly viewers: Set<string>;
  /** Held viewers and when their wait ends. */
  readonly waiting: Map<string, number>;
  /**
   * Accepted by {@link StreamTable.check}, not connected yet: they count
   * toward nothing, but keep the stream (and the buffer they were sent).
   */
  readonly checked: Set<string>;
  graceUntilMs: number | undefined;
}

type Role = "publisher" | "viewer" | "waiting";

interface Entry {
  readonly name: string;
  role: Role;
  /** Whether it holds its place (connected), or only passed the check. */
  claimed: boolean;
  /** Asked through {@link StreamTable.request}: claims as soon as it is accepted. */
  readonly authenticated: boolean;
  /** The stream's `maxViewers` when it asked, for a viewer's claim. */
  readonly maxViewers: number | undefined;
  /** Its caller's source IP, when known. */
  readonly source: string | undefined;
  /** Set for a relay that pulls the stream. */
  readonly relay: RelayRole | undefined;
}

export class StreamTable {
  #times: StreamTimes;
  #streams = new Map<string, Stream>();
  #roles = new Map<string, Entry>();
  #events: StreamEvent[] = [];
  /** When each adopted publisher connected, to tell two adopted on one stream apart. */
  #adoptedAt = new Map<string, number>();

  constructor(times: StreamTimes) {
    this.#times = times;
  }

  /** Changes the times for later decisions (a reloaded config). */
  setTimes(times: StreamTimes): void {
    this.#times = times;
  }

  /**
   * Decides, in the listen callback, whether `connectionId` may publish or
   * play stream `name` now. Claims nothing: an accepted caller holds its
   * place only after {@link claim}; a held viewer (`wait`) counts toward
   * nothing and blocks nobody.
   */
  check(
    connectionId: string,
    name: string,
    mode: StreamMode,
    policy: StreamPolicy,
    nowMs: number,
    asker: Asker = {},
  ): Decision {
    return this.#check(connectionId, name, mode, policy, nowMs, false, asker);
  }

  /**
   * `connectionId`, accepted by {@link check}, is connected: libsrt accepted
   * its passphrase. Takes the publisher slot (the publisher it replaces is
   * closed by an event), or a viewer's place if the stream still has room;
   * a failed claim forgets the connection, which the caller must close.
   * Undefined for a connection that is not waiting to claim (unknown, held,
   * or already claimed).
   */
  claim(connectionId: string, nowMs: number): Claim | undefined {
    const entry = this.#roles.get(connectionId);
    const stream = entry === undefined ? undefined : this.#streams.get(entry.name);
    if (entry === undefined || stream === undefined || entry.claimed || entry.role === "waiting") {
      return undefined;
    }
    const claim = entry.role === "publisher"
      ? this.#claimPublisher(connectionId, stream, nowMs)
      : this.#claimViewer(connectionId, entry, stream, nowMs);
    if (!claim.ok) {
      stream.checked.delete(connectionId);
      this.#roles.delete(connectionId);
      this.#expire(stream, nowMs);
    }
    return claim;
  }

  /**
   * {@link check} and {@link claim} at once, for a caller already
   * authenticated: a held viewer claims its place when a publisher arrives.
   */
  request(
    connectionId: string,
    name: string,
    mode: StreamMode,
    policy: StreamPolicy,
    nowMs: number,
    asker: Asker = {},
  ): Decision {
    const decision = this.#check(connectionId, name, mode, policy, nowMs, true, asker);
    if (decision.kind !== "accept") return decision;
    const claim = this.claim(connectionId, nowMs);
    if (claim === undefined || claim.ok) {
      return claim?.replaces === undefined
        ? { kind: "accept" }
        : { kind: "accept", replaces: claim.replaces };
    }
    return reject(claim.code, claim.reason);
  }

  /**
   * `connectionId`, connected under a main process before this one, is
   * adopted as `name`'s publisher or one of its viewers, as it was. Of two
   * publishers adopted on one stream the one connected last stays (its
   * child is the buffer's writer), and the other is closed by an event. An
   * adopted viewer of a stream without a publisher starts the grace period.
   */
  adopt(
    connectionId: string,
    name: string,
    mode: StreamMode,
    connectedAtMs: number,
    nowMs: number,
  ): void {
    const stream = this.#stream(name);
    const role: Role = mode === "publish" ? "publisher" : "viewer";
    this.#roles.set(connectionId, {
      name,
      role,
      claimed: true,
      authenticated: true,
      maxViewers: undefined,
      source: undefined,
      relay: undefined,
    });
    if (role === "viewer") {
      stream.viewers.add(connectionId);
      if (stream.publisher === undefined) stream.graceUntilMs ??= nowMs + this.#times.graceMs;
      return;
    }
    const current = stream.publisher;
    const adopted = {
      connectionId,
      lastActivityMs: nowMs,
      source: undefined,
      sentMedia: true,
      yields: false,
    };
    if (
      current === undefined || (this.#adoptedAt.get(current.connectionId) ?? 0) <= connectedAtMs
    ) {
      stream.publisher = adopted;
      stream.graceUntilMs = undefined;
      this.#adoptedAt.set(connectionId, connectedAtMs);
      if (current === undefined) return;
    }
    const closed = stream.publisher === adopted ? current!.connectionId : connectionId;
    this.#roles.delete(closed);
    this.#adoptedAt.delete(closed);
    this.#events.push({
      type: "close",
      connectionId: closed,
      name,
      reason: "two publishers survived the main process: the one connected last stays",
    });
  }

  /** The publisher `connectionId` sent media at `nowMs`. */
  activity(connectionId: string, nowMs: number): void {
    const entry = this.#roles.get(connectionId);
    if (entry?.role !== "publisher") return;
    const publisher = this.#streams.get(entry.name)?.publisher;
    if (publisher?.connectionId === connectionId) {
      publisher.lastActivityMs = Math.max(publisher.lastActivityMs, nowMs);
      publisher.sentMedia = true;
    }
  }

  /** `connectionId` is gone (its child exited); unknown ids are ignored. */
  release(connectionId: string, nowMs: number): void {
    this.#adoptedAt.delete(connectionId);
    const entry = this.#roles.get(connectionId);
    if (entry === undefined) return;
    this.#roles.delete(connectionId);
    const stream = this.#streams.get(entry.name);
    if (stream === undefined) return;
    if (!entry.claimed && entry.role !== "waiting") {
      stream.checked.delete(connectionId);
    } else if (entry.role === "publisher" && stream.publisher?.connectionId === connectionId) {
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
   * Ends stream `name` now: its publisher and viewers (connected, or only
   * accepted) are closed, held viewers rejected (1404), and the stream is
   * gone. False when there is no such stream.
   */
  end(name: string, reason: string): boolean {
    const stream = this.#streams.get(name);
    if (stream === undefined) return false;
    const ids = [
      ...(stream.publisher === undefined ? [] : [stream.publisher.connectionId]),
      ...stream.viewers,
      ...stream.checked,
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

  /**
   * The stream `connectionId` publishes or watches (or waits for), whether
   * it holds its place yet or was only accepted.
   */
  streamOf(connectionId: string): { name: string; role: Role } | undefined {
    const entry = this.#roles.get(connectionId);
    return entry === undefined ? undefined : { name: entry.name, role: entry.role };
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
    return [...this.#streams.values()].map(snapshotOf);
  }

  /** Stream `name` as {@link snapshot} shows it; undefined when there is none. */
  snapshotOf(name: string): StreamSnapshot | undefined {
    const stream = this.#streams.get(name);
    return stream === undefined ? undefined : snapshotOf(stream);
  }

  /** The names of the streams there are. */
  names(): string[] {
    return [...this.#streams.keys()];
  }

  #check(
    connectionId: string,
    name: string,
    mode: StreamMode,
    policy: StreamPolicy,
    nowMs: number,
    authenticated: boolean,
    asker: Asker,
  ): Decision {
    if (this.#roles.has(connectionId)) {
      return reject(RejectCode.BadRequest, `connection ${connectionId} already asked`);
    }
    const forbidden = modeRefusal(name, mode, policy);
    if (forbidden !== undefined) return forbidden;
    const existing = this.#streams.get(name);
    const refusal = mode === "publish"
      ? this.#publisherRefusal(existing, nowMs, asker)
      : viewerRefusal(existing, policy.maxViewers);
    if (refusal !== undefined) return refusal;
    const entry = (role: Role): Entry => ({
      name,
      role,
      claimed: false,
      authenticated,
      maxViewers: policy.maxViewers,
      source: asker.source,
      relay: asker.relay,
    });
    if (mode === "play" && existing?.publisher === undefined) {
      if (this.#times.playWaitMs <= 0) return notFound(name, 0);
      const untilMs = nowMs + this.#times.playWaitMs;
      this.#stream(name).waiting.set(connectionId, untilMs);
      this.#roles.set(connectionId, entry("waiting"));
      return { kind: "wait", untilMs };
    }
    this.#stream(name).checked.add(connectionId);
    this.#roles.set(connectionId, entry(mode === "publish" ? "publisher" : "viewer"));
    return { kind: "accept" };
  }

  /**
   * The 1409 while the stream has a publisher that sent media lately, else
   * undefined. A publisher from the newcomer's own source IP that has sent
   * nothing since it took the stream does not hold it: that is most likely
   * the newcomer's own earlier attempt, whose handshake completed after the
   * caller gave up (it would hold the stream until the publisher timeout).
   * A primary relay is never refused, and a backup relay never refuses.
   */
  #publisherRefusal(
    stream: Stream | undefined,
    nowMs: number,
    { source, relay }: Asker,
  ): Extract<Decision, { kind: "reject" }> | undefined {
    const current = stream?.publisher;
    if (stream === undefined || current === undefined) return undefined;
    if (relay === "primary" || (current.yields && relay === undefined)) return undefined;
    if (nowMs - current.lastActivityMs >= this.#times.publisherTimeoutMs) return undefined;
    if (source !== undefined && current.source === source && !current.sentMedia) return undefined;
    const reason =
      `stream "${stream.name}" already has a publisher (connection ${current.connectionId})`;
    return { kind: "reject", code: RejectCode.Conflict, reason };
  }

  /**
   * Never fails: {@link check} let it in, and its child is already the
   * buffer's writer (see the rules above).
   */
  #claimPublisher(connectionId: string, stream: Stream, nowMs: number): Claim {
    const current = stream.publisher;
    let replaces: string | undefined;
    if (current !== undefined) {
      replaces = current.connectionId;
      this.#roles.delete(replaces);
      const silentMs = Math.round(nowMs - current.lastActivityMs);
      this.#events.push({
        type: "close",
        connectionId: replaces,
        name: stream.name,
        reason: silentMs >= this.#times.publisherTimeoutMs
          ? `replaced by a new publisher after ${silentMs} ms without media`
          : `replaced by a new publisher (connection ${connectionId}) accepted while this one was silent or connecting`,
      });
    }
    stream.checked.delete(connectionId);
    const entry = this.#roles.get(connectionId);
    stream.publisher = {
      connectionId,
      lastActivityMs: nowMs,
      source: entry?.source,
      sentMedia: false,
      yields: entry?.relay === "backup",
    };
    stream.graceUntilMs = undefined;
    entry!.claimed = true;
    for (const waiter of [...stream.waiting.keys()]) this.#release(waiter, stream, nowMs);
    return replaces === undefined ? { ok: true } : { ok: true, replaces };
  }

  #claimViewer(connectionId: string, entry: Entry, stream: Stream, nowMs: number): Claim {
    const refusal = viewerRefusal(stream, entry.maxViewers);
    if (refusal !== undefined) {
      return { ok: false, code: refusal.code, reason: refusal.reason };
    }
    stream.checked.delete(connectionId);
    stream.viewers.add(connectionId);
    entry.role = "viewer";
    entry.claimed = true;
    // Its publisher left before it got here: it waits like the others, for the grace period.
    if (stream.publisher === undefined && stream.graceUntilMs === undefined) {
      stream.graceUntilMs = nowMs + this.#times.graceMs;
    }
    return { ok: true };
  }

  /** A publisher is connected: the held viewer `waiter` is accepted, unless the viewers filled up. */
  #release(waiter: string, stream: Stream, nowMs: number): void {
    const entry = this.#roles.get(waiter)!;
    stream.waiting.delete(waiter);
    const refusal = viewerRefusal(stream, entry.maxViewers);
    if (refusal !== undefined) {
      this.#roles.delete(waiter);
      this.#events.push({
        type: "reject-waiting",
        connectionId: waiter,
        name: stream.name,
        code: refusal.code,
        reason: refusal.reason,
      });
      return;
    }
    entry.role = "viewer";
    stream.checked.add(waiter);
    if (entry.authenticated) this.#claimViewer(waiter, entry, stream, nowMs);
    this.#events.push({ type: "accept-waiting", connectionId: waiter, name: stream.name });
  }

  #stream(name: string): Stream {
    let stream = this.#streams.get(name);
    if (stream === undefined) {
      stream = {
        name,
        publisher: undefined,
        viewers: new Set(),
        waiting: new Map(),
        checked: new Set(),
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
      stream.waiting.size === 0 && stream.checked.size === 0;
    if (unused && this.#streams.get(stream.name) === stream) {
      this.#streams.delete(stream.name);
      this.#events.push({ type: "stream-ended", name: stream.name });
    }
  }
}

function snapshotOf(stream: Stream): StreamSnapshot {
  return {
    name: stream.name,
    publisher: stream.publisher?.connectionId ?? null,
    viewers: [...stream.viewers],
    waiting: stream.waiting.size,
    graceUntilMs: stream.graceUntilMs ?? null,
  };
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

/** The 1402 while the stream's connected viewers are at `maxViewers`, else undefined. */
function viewerRefusal(
  stream: Stream | undefined,
  maxViewers: number | undefined,
): Extract<Decision, { kind: "reject" }> | undefined {
  if (stream === undefined || maxViewers === undefined) return undefined;
  if (stream.viewers.size < maxViewers) return undefined;
  const reason = `stream "${stream.name}" has its maximum of ${maxViewers} viewer(s)`;
  return { kind: "reject", code: RejectCode.Overload, reason };
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
