/**
 * Routes connections to streams in the main process: answers each child's
 * access request (stream id → {@link StreamTable} check → passphrase,
 * latency and the stream's buffer), claims the connection's place once it
 * is up (libsrt accepted its passphrase), carries out the table's events (answer
 * held viewers, close replaced publishers and viewers after the grace
 * period), and owns every stream buffer: a memfd it creates, initializes and
 * hands to children, and closes when the stream ends. Media never passes
 * through here; only the buffer's header counters are read, for the API.
 *
 * @module
 */

import { type AtollConfig, rulesFor, type StreamRules } from "../config/config_file.ts";
import type { StreamState } from "./api_types.ts";
import type { AccessDecision, RelayDirection } from "../ipc/messages.ts";
import type { TrackInfo } from "../media/track_info.ts";
import { describeRejectCode, RejectCode } from "../protocol/reject_codes.ts";
import { parseStreamId, type StreamId, type StreamMode } from "../protocol/stream_id.ts";
import {
  modeRefusal,
  type RelayRole,
  type StreamEvent,
  type StreamSnapshot,
  StreamTable,
} from "./stream_table.ts";
import type { OwnedFd } from "../../ffi/owned_fd.ts";
import { authorize } from "./auth_hook.ts";
import { describeFailure } from "./file_shortage.ts";
import { createSharedMemory, SharedMapping } from "../../ffi/shm.ts";
import { hexFromBytes } from "../ipc/hex.ts";
import { expandName, redactSrtUrl } from "../protocol/srt_url.ts";
import { md5 } from "../protocol/md5.ts";
import {
  bytesForDuration,
  initializeStreamBuffer,
  readBufferCounters,
} from "../media/stream_buffer.ts";

/** The peak bitrate a buffer sized in seconds is sized for. */
export const BUFFER_SIZING_BITRATE = 20_000_000;

/** What the stream manager needs from the server. */
export interface StreamManagerHost {
  /** Sends `decision` to the child of `connectionId` (with the buffer fd when accepted). */
  answer(connectionId: string, decision: AccessDecision, bufferFd?: number): void;
  /** Asks the child of `connectionId` to close its connection cleanly. */
  close(connectionId: string, detail: string): void;
  /** Whether `connectionId`'s child is still there (it may exit while the hook is asked). */
  alive(connectionId: string): boolean;
  /** One line for the log about `connectionId` (the host says which connection, peer and stream). */
  log(level: "info" | "warning", message: string, connectionId: string): void;
  /** `connectionId` is now on `stream` (as publisher, viewer or held viewer). */
  placed(connectionId: string, stream: string): void;
  /** How often the viewer `connectionId` has skipped ahead so far, by its child's reports. */
  skipsOf(connectionId: string): number;
  /** The source IP of `connectionId`'s caller (`::ffff:` mapped addresses as IPv4). */
  sourceOf(connectionId: string): string | undefined;
  /** A viewer waits for stream `name`'s publisher (a relay may pull it now). */
  demand?(name: string): void;
  /** Stream `name` has a buffer now, `fd` of `bytes` (the media output serves it from there). */
  bufferCreated?(name: string, fd: number, bytes: number): void;
  /** Stream `name`'s buffer is about to be closed: the stream ended. */
  bufferDropped?(name: string): void;
}

interface Buffer {
  /** The memory file, sent to each accepted child. */
  readonly memory: OwnedFd;
  readonly bytes: number;
  readonly mapping: SharedMapping;
  /** For the incoming bitrate: the counter and time of the last sample. */
  sample: { bytes: number; atMs: number; bitrate: number };
}

export type { StreamState } from "./api_types.ts";

/** An undecided request: what its accept will grant (passphrase and latency for a caller). */
interface Request {
  readonly name: string;
  readonly mode: StreamMode;
  readonly passphrase?: string;
  readonly latencyMs?: number;
}

export class StreamManager {
  #config: AtollConfig;
  #host: StreamManagerHost;
  #table: StreamTable;
  #buffers = new Map<string, Buffer>();
  /** Why the newest stream buffer could not be made, for its callers' refusal. */
  #bufferFailure: string | undefined;
  /** What each undecided connection asked for, kept until it is answered. */
  #requests = new Map<string, Request>();
  /** Skips of viewers that have left, per stream, so a stream's count never goes down. */
  #pastSkips = new Map<string, number>();
  /** Each stream's tracks, as its publisher's child last reported them, and which publisher. */
  #tracks = new Map<string, { publisher: string; tracks: TrackInfo[] }>();
  /** Connections whose request waits for the authorization hook. */
  #pending = new Set<string>();
  /** Of those, the ones answered meanwhile (closed, or the server stopping). */
  #cancelled = new Set<string>();
  /** Access rejections by code, since start. */
  #rejections = new Map<number, number>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;

  constructor(config: AtollConfig, host: StreamManagerHost) {
    this.#config = config;
    this.#host = host;
    this.#table = new StreamTable(config);
  }

  /**
   * Decides the access request of `connectionId` from `peer`; the answer
   * goes out through the host (after the authorization hook, if any).
   */
  async request(
    connectionId: string,
    rawStreamId: string,
    peer: string,
    now: () => number = () => performance.now(),
  ): Promise<void> {
    let id: StreamId;
    try {
      const defaultStream = this.#config.defaultStream;
      id = parseStreamId(rawStreamId, defaultStream === undefined ? {} : { defaultStream });
    } catch (error) {
      this.#reject(connectionId, RejectCode.BadRequest, (error as Error).message);
      return;
    }
    const rules = rulesFor(this.#config, id.name);
    // Refused by the rules anyway: no need to ask the hook.
    const forbidden = modeRefusal(id.name, id.mode, rules) ??
      sourceRefusal(id.name, id.mode, rules);
    if (forbidden !== undefined) {
      this.#reject(connectionId, forbidden.code, forbidden.reason);
      return;
    }
    const hook = this.#config.authHook;
    if (hook !== undefined) {
      this.#pending.add(connectionId);
      const decision = await authorize(hook, {
        action: id.mode,
        stream: id.name,
        streamId: rawStreamId,
        user: id.user ?? null,
        password: id.password ?? null,
        session: id.session ?? null,
        params: id.params,
        query: id.query ?? null,
        peer,
        connectionId,
      });
      this.#host.log(
        "info",
        `the authorization hook ${
          decision.allowed ? "allowed" : "refused"
        } ${id.mode} "${id.name}" (${decision.detail})`,
        connectionId,
      );
      this.#pending.delete(connectionId);
      if (this.#cancelled.delete(connectionId) || !this.#host.alive(connectionId)) return;
      if (!decision.allowed) {
        this.#reject(connectionId, decision.code, decision.detail);
        return;
      }
    }
    const passphrase = id.mode === "publish" ? rules.publishPassphrase : rules.readPassphrase;
    this.#requests.set(connectionId, {
      name: id.name,
      mode: id.mode,
      ...(passphrase === undefined ? {} : { passphrase }),
      ...(rules.latencyMs === undefined ? {} : { latencyMs: rules.latencyMs }),
    });
    // Claims nothing: libsrt has not checked the caller's passphrase yet (see connected()).
    const decision = this.#table.check(
      connectionId,
      id.name,
      id.mode,
      rules,
      now(),
      { source: this.#host.sourceOf(connectionId) },
    );
    if (decision.kind !== "reject") this.#host.placed(connectionId, id.name);
    this.#apply(this.#table.takeEvents());
    switch (decision.kind) {
      case "accept":
        this.#accept(connectionId);
        break;
      case "reject":
        this.#requests.delete(connectionId);
        this.#reject(connectionId, decision.code, decision.reason);
        break;
      case "wait":
        this.#host.log(
          "info",
          `waits up to ${this.#config.playWaitMs} ms for a publisher of "${id.name}"`,
          connectionId,
        );
        this.#schedule();
        this.#host.demand?.(id.name);
        break;
    }
  }

  /**
   * Decides a relay's attempt on stream `name` at once: no stream id to
   * parse and no hook to ask, as the operator set the relay up, and none of
   * the stream's passphrases, which are for callers. A pull publishes with
   * its rule's source role, a push plays (held like a viewer while the
   * stream has no publisher). The answer goes to the relay's child.
   */
  requestRelay(
    connectionId: string,
    name: string,
    relay: { direction: RelayDirection; role: RelayRole },
    nowMs = performance.now(),
  ): void {
    const rules = rulesFor(this.#config, name);
    const mode: StreamMode = relay.direction === "pull" ? "publish" : "play";
    const decision = this.#table.check(
      connectionId,
      name,
      mode,
      { modes: [mode], maxViewers: rules.maxViewers },
      nowMs,
      relay.direction === "pull" ? { relay: relay.role } : {},
    );
    if (decision.kind !== "reject") {
      this.#host.placed(connectionId, name);
      this.#requests.set(connectionId, { name, mode });
    }
    this.#apply(this.#table.takeEvents());
    if (decision.kind === "accept") this.#accept(connectionId);
    else if (decision.kind === "reject") this.#reject(connectionId, decision.code, decision.reason);
    else this.#schedule();
  }

  /** The names of the streams that exist now (with a publisher, viewers or callers on the way). */
  names(): string[] {
    return this.#table.names();
  }

  /** Who publishes and watches stream `name` now (connection ids); undefined when it has none. */
  audience(
    name: string,
  ): { publisher: string | null; viewers: string[]; waiting: number } | undefined {
    return this.#table.snapshotOf(name);
  }

  /**
   * `connectionId` is up: libsrt accepted its passphrase. Only now does it
   * take the publisher slot (the publisher it replaces is closed) or a
   * viewer's place. A viewer that finds the stream full by then is closed:
   * it can no longer be told a rejection code.
   */
  connected(connectionId: string, nowMs = performance.now()): void {
    const claim = this.#table.claim(connectionId, nowMs);
    this.#apply(this.#table.takeEvents());
    this.#schedule();
    if (claim === undefined || claim.ok) return;
    this.#host.log(
      "warning",
      `closing: ${claim.reason} by the time it was connected (it would have been refused with ${
        describeRejectCode(claim.code)
      })`,
      connectionId,
    );
    this.#host.close(connectionId, claim.reason);
  }

  /**
   * Answers `connectionId`'s request with a rejection if it is still
   * undecided (held for a publisher, or waiting for the hook), so its child
   * stops waiting; false when there is none.
   */
  cancel(
    connectionId: string,
    code: RejectCode,
    reason: string,
    nowMs = performance.now(),
  ): boolean {
    if (this.#pending.has(connectionId)) {
      this.#pending.delete(connectionId);
      this.#cancelled.add(connectionId);
    } else if (this.#table.streamOf(connectionId)?.role === "waiting") {
      this.#requests.delete(connectionId);
      this.#table.release(connectionId, nowMs);
      this.#apply(this.#table.takeEvents());
    } else return false;
    this.#reject(connectionId, code, reason);
    return true;
  }

  /** {@link cancel} for every undecided request (the server is stopping). */
  cancelAll(code: RejectCode, reason: string): void {
    for (const id of [...this.#pending, ...this.#table.waitingIds()]) this.cancel(id, code, reason);
  }

  /** Uses `config` for every later decision; connections already up keep what they got. */
  setConfig(config: AtollConfig): void {
    this.#config = config;
    this.#table.setTimes(config);
  }

  /** Ends stream `name` (publisher and viewers closed); false when there is no such stream. */
  endStream(name: string, reason: string): boolean {
    const ended = this.#table.end(name, reason);
    this.#apply(this.#table.takeEvents());
    return ended;
  }

  /**
   * Adopts `connectionId`, connected under a main process before this one,
   * on `stream` as it was (src/ipc/adoption.ts). The stream's buffer is the
   * one its children already use: `memory` (opened from the adopted child),
   * of `bytes`, which this manager now owns and hands to later callers; a
   * stream that has one already keeps it, and `memory` is closed.
   */
  adopt(
    connectionId: string,
    adopted: {
      stream: string;
      mode: "publish" | "play";
      connectedAtMs: number;
      memory: OwnedFd;
      bytes: number;
      tracks: TrackInfo[] | undefined;
    },
    nowMs = performance.now(),
  ): void {
    const { stream, memory, bytes } = adopted;
    if (this.#buffers.has(stream)) memory.close();
    else {
      try {
        this.#buffers.set(stream, {
          memory,
          bytes,
          mapping: SharedMapping.map(memory.fd, bytes),
          sample: { bytes: 0, atMs: nowMs, bitrate: 0 },
        });
      } catch (error) {
        memory.close();
        throw error;
      }
      this.#host.bufferCreated?.(stream, memory.fd, bytes);
    }
    this.#table.adopt(connectionId, stream, adopted.mode, adopted.connectedAtMs, nowMs);
    if (adopted.mode === "publish" && adopted.tracks !== undefined) {
      this.setTracks(connectionId, adopted.tracks);
    }
    this.#apply(this.#table.takeEvents());
    this.#schedule();
  }

  /** The publisher `connectionId` received media since its last report. */
  publisherActive(connectionId: string, nowMs = performance.now()): void {
    this.#table.activity(connectionId, nowMs);
  }

  /** The connection's child exited (call before the host forgets its skips). */
  release(connectionId: string, nowMs = performance.now()): void {
    const role = this.#table.streamOf(connectionId);
    if (role?.role === "viewer") {
      const skips = this.#host.skipsOf(connectionId);
      this.#pastSkips.set(role.name, (this.#pastSkips.get(role.name) ?? 0) + skips);
    }
    this.#requests.delete(connectionId);
    this.#table.release(connectionId, nowMs);
    this.#apply(this.#table.takeEvents());
    this.#schedule();
  }

  /** Whether the viewer `connectionId` is held for a publisher, for `/api/connections`. */
  isWaiting(connectionId: string): boolean {
    return this.#table.streamOf(connectionId)?.role === "waiting";
  }

  /** The stream a connection publishes or plays, for `/api/connections`. */
  streamOf(connectionId: string): string | null {
    return this.#table.streamOf(connectionId)?.name ?? null;
  }

  /**
   * Keeps what the publisher `connectionId` reported of its stream's tracks;
   * ignored from a connection that is not (or no longer) a stream's publisher.
   */
  setTracks(connectionId: string, tracks: TrackInfo[]): void {
    const place = this.#table.streamOf(connectionId);
    if (place?.role !== "publisher") return;
    this.#tracks.set(place.name, { publisher: connectionId, tracks });
  }

  streams(nowMs = performance.now()): StreamState[] {
    const skipsOf = (name: string, viewers: string[]) =>
      viewers.reduce(
        (sum, viewer) => sum + this.#host.skipsOf(viewer),
        this.#pastSkips.get(name) ?? 0,
      );
    return this.#table.snapshot().map((stream: StreamSnapshot) => {
      const buffer = this.#buffers.get(stream.name);
      const counters = buffer === undefined ? undefined : readBufferCounters(buffer.mapping.buffer);
      if (buffer !== undefined && counters !== undefined) {
        const elapsedMs = nowMs - buffer.sample.atMs;
        if (elapsedMs >= 500) {
          buffer.sample = {
            bytes: counters.bytesIn,
            atMs: nowMs,
            bitrate: Math.round((counters.bytesIn - buffer.sample.bytes) * 8000 / elapsedMs),
          };
        }
      }
      const tracks = this.#tracks.get(stream.name);
      return {
        name: stream.name,
        publisher: stream.publisher,
        viewers: stream.viewers.length,
        waiting: stream.waiting,
        bytesIn: counters?.bytesIn ?? 0,
        bitrateIn: buffer?.sample.bitrate ?? 0,
        bytesDiscarded: counters?.bytesDiscarded ?? 0,
        randomAccessPoints: counters?.randomAccessPoints ?? 0,
        viewerSkips: skipsOf(stream.name, stream.viewers),
        // A new publisher's stream is not known until its child reports it.
        tracks: tracks !== undefined && tracks.publisher === stream.publisher
          ? tracks.tracks.map((track) => ({ ...track }))
          : [],
      };
    });
  }

  /** Every stream buffer now: its stream, memory file and size (for the media output). */
  buffers(): { name: string; fd: number; bytes: number }[] {
    return [...this.#buffers].map(([name, buffer]) => ({
      name,
      fd: buffer.memory.fd,
      bytes: buffer.bytes,
    }));
  }

  /** Closes every buffer and stops the timer (the server is stopping). */
  close(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const name of [...this.#buffers.keys()]) this.#dropBuffer(name);
  }

  #accept(connectionId: string): void {
    const request = this.#requests.get(connectionId);
    if (request === undefined) return;
    this.#requests.delete(connectionId);
    const { name, ...granted } = request;
    // A buffer that could not be made when the stream began (no descriptor
    // left, say) is tried again for each caller until it can be.
    const buffer = this.#ensureBuffer(name) ? this.#buffers.get(name) : undefined;
    if (buffer === undefined) {
      const reason = this.#bufferFailure ?? `no buffer for stream "${name}"`;
      this.#reject(connectionId, RejectCode.Overload, reason);
      return;
    }
    const decision: AccessDecision = {
      type: "accept",
      stream: name,
      bufferBytes: buffer.bytes,
      ...granted,
    };
    this.#host.answer(connectionId, decision, buffer.memory.fd);
  }

  /** Access rejections by code since start (every code Atoll has sent at least once). */
  rejections(): Record<string, number> {
    return Object.fromEntries([...this.#rejections].map(([code, count]) => [String(code), count]));
  }

  #reject(connectionId: string, code: RejectCode, reason: string): void {
    this.#rejections.set(code, (this.#rejections.get(code) ?? 0) + 1);
    this.#host.log(
      "info",
      `rejected (${describeRejectCode(code)}): ${reason}`,
      connectionId,
    );
    this.#host.answer(connectionId, { type: "reject", code, reason });
  }

  #apply(events: StreamEvent[]): void {
    for (const event of events) {
      switch (event.type) {
        case "stream-created":
          this.#ensureBuffer(event.name);
          break;
        case "accept-waiting":
          this.#accept(event.connectionId);
          break;
        case "reject-waiting":
          this.#requests.delete(event.connectionId);
          this.#reject(event.connectionId, event.code, event.reason);
          break;
        case "close":
          this.#host.close(event.connectionId, event.reason);
          break;
        case "stream-ended":
          this.#dropBuffer(event.name);
          this.#pastSkips.delete(event.name);
          this.#tracks.delete(event.name);
          break;
      }
    }
  }

  /**
   * Creates the stream's buffer unless it has one; false when it cannot be
   * made now (out of descriptors, say): logged, and its callers are refused
   * with 1402 until it can.
   */
  #ensureBuffer(name: string): boolean {
    if (this.#buffers.has(name)) return true;
    try {
      this.#createBuffer(name);
      return true;
    } catch (error) {
      this.#bufferFailure = `cannot make the buffer of stream "${name}": ${describeFailure(error)}`;
      return false;
    }
  }

  #createBuffer(name: string): void {
    const size = rulesFor(this.#config, name).buffer;
    const bytes = "bytes" in size
      ? size.bytes
      : bytesForDuration(size.seconds, BUFFER_SIZING_BITRATE);
    using memory = createSharedMemory(bufferLabel(name), bytes);
    const mapping = SharedMapping.map(memory.fd, bytes);
    initializeStreamBuffer(mapping.buffer);
    const owned = memory.take();
    this.#buffers.set(name, {
      memory: owned,
      bytes,
      mapping,
      sample: { bytes: 0, atMs: performance.now(), bitrate: 0 },
    });
    this.#host.bufferCreated?.(name, owned.fd, bytes);
  }

  #dropBuffer(name: string): void {
    const buffer = this.#buffers.get(name);
    if (buffer === undefined) return;
    this.#buffers.delete(name);
    this.#host.bufferDropped?.(name);
    buffer.mapping.close();
    buffer.memory.close();
  }

  /** Runs the table's clock at its next deadline. */
  #schedule(): void {
    const next = this.#table.nextDeadlineMs;
    if (next === undefined || next >= this.#timerAt) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAt = next;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.#table.tick(performance.now());
      this.#apply(this.#table.takeEvents());
      this.#schedule();
    }, Math.max(0, next - performance.now()));
  }
}

/**
 * The 1403 for a caller that would publish a stream its rule pulls from a
 * primary source (the relay is its only publisher), else undefined.
 */
export function sourceRefusal(
  name: string,
  mode: StreamMode,
  rules: StreamRules,
): { code: RejectCode; reason: string } | undefined {
  if (mode !== "publish" || rules.source === undefined || rules.sourceRole !== "primary") {
    return undefined;
  }
  return {
    code: RejectCode.Forbidden,
    reason: `stream "${name}" is pulled from ${
      redactSrtUrl(expandName(rules.source, name))
    }, which is its only publisher`,
  };
}

/**
 * The longest name `memfd_create` takes, in bytes: the kernel prefixes it with
 * "memfd:" and the whole must fit NAME_MAX (255), else EINVAL.
 */
export const MAX_MEMORY_LABEL_BYTES = 249;

const encoder = new TextEncoder();

/**
 * The label of a stream's memory file, as `/proc/PID/fd` and `/proc/PID/maps`
 * show it: `atoll:` and the stream's name. A name too long for the kernel
 * (stream names go up to 255 bytes) is cut at a character boundary and ends
 * in `#` and 8 hex digits of its MD5, so that two long names still differ.
 */
export function bufferLabel(streamName: string): string {
  const label = `atoll:${streamName}`;
  const bytes = encoder.encode(label);
  if (bytes.length <= MAX_MEMORY_LABEL_BYTES) return label;
  const suffix = `#${hexFromBytes(md5(encoder.encode(streamName)).subarray(0, 4))}`;
  let end = MAX_MEMORY_LABEL_BYTES - suffix.length;
  // Not inside a UTF-8 sequence: continuation bytes are 0b10xxxxxx.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return new TextDecoder().decode(bytes.subarray(0, end)) + suffix;
}
