/**
 * A thin, typed handle over one libsrt socket, and over an SRT epoll set.
 *
 * @module
 */

import {
  lastSrtError,
  libsrt,
  LISTEN_CALLBACK,
  rejectReasonText,
  SRT_EPOLL_ERR,
  SRT_ERROR,
  SRT_INVALID_SOCK,
  SRT_REJX_ISE,
  SrtErrno,
  SrtError,
  SrtOption,
  srtOptionName,
  SrtState,
  unwrap,
} from "./libsrt.ts";
import type { OwnedFd } from "./owned_fd.ts";
import { pointerTo, settledWith } from "./pointer.ts";
import {
  defaultMessageControl,
  readTraceStats,
  SRT_EPOLL_EVENT,
  SRT_EPOLL_EVENT_SIZE,
  SRT_MSGCTRL,
  SRT_TRACEBSTATS_SIZE,
  type TraceStats,
} from "./structs.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function int32(value: number): Uint8Array<ArrayBuffer> {
  return new Uint8Array(new Int32Array([value]).buffer);
}

/** One SRT socket. `close()` is safe to call more than once. */
export class SrtSocket {
  #id: number;
  #closed = false;
  #messageControl = defaultMessageControl();
  #messageControlView = new DataView(this.#messageControl.buffer);
  #messageControlPointer = pointerTo(this.#messageControl);
  #stats = new Uint8Array(SRT_TRACEBSTATS_SIZE);
  #statsPointer = pointerTo(this.#stats);
  /** The buffer last received into or sent from, and its address: loops reuse one. */
  #lastBuffer: Uint8Array<ArrayBuffer> | undefined;
  #lastPointer: Deno.PointerValue = null;

  private constructor(id: number) {
    this.#id = id;
  }

  /** A new socket (libsrt must be started). */
  static create(): SrtSocket {
    const id = libsrt().srt_create_socket();
    if (id === SRT_INVALID_SOCK) throw lastSrtError("srt_create_socket");
    return new SrtSocket(id);
  }

  get id(): number {
    return this.#id;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** SRT_SOCKSTATUS; NONEXIST once closed. */
  get state(): number {
    return this.#closed ? SrtState.NONEXIST : libsrt().srt_getsockstate(this.#id);
  }

  /** The reason libsrt gives for a rejected connection (SRT_REJ_* or a 1000+ code). */
  get rejectReason(): number {
    return libsrt().srt_getrejectreason(this.#id);
  }

  get rejectReasonText(): string {
    return rejectReasonText(this.rejectReason);
  }

  setInt(option: SrtOption, value: number): void {
    setIncomingInt(this.#id, option, value);
  }

  setBoolean(option: SrtOption, value: boolean): void {
    this.setInt(option, value ? 1 : 0);
  }

  setString(option: SrtOption, value: string): void {
    setIncomingString(this.#id, option, value);
  }

  getInt(option: SrtOption): number {
    const value = new Int32Array(1);
    const length = new Int32Array([4]);
    unwrap(
      `srt_getsockflag(${srtOptionName(option)})`,
      libsrt().srt_getsockflag(
        this.#id,
        option,
        pointerTo(value),
        pointerTo(length),
      ),
    );
    return value[0]!;
  }

  getString(option: SrtOption, capacity = 1024): string {
    const value = new Uint8Array(capacity);
    const length = new Int32Array([capacity]);
    unwrap(
      `srt_getsockflag(${srtOptionName(option)})`,
      libsrt().srt_getsockflag(this.#id, option, pointerTo(value), pointerTo(length)),
    );
    return decoder.decode(value.subarray(0, length[0]!));
  }

  /**
   * Takes over an existing UDP socket: libsrt closes it with this socket, so
   * `udpSocket` gives it up first. Even when the call fails, where libsrt
   * may or may not have closed it: a leaked fd is harmless in a child about
   * to exit, closing a number that may be reused is not.
   */
  bindAcquire(udpSocket: OwnedFd): void {
    unwrap("srt_bind_acquire", libsrt().srt_bind_acquire(this.#id, udpSocket.release()));
  }

  bind(sockaddr: Uint8Array<ArrayBuffer>): void {
    unwrap("srt_bind", libsrt().srt_bind(this.#id, pointerTo(sockaddr), sockaddr.byteLength));
  }

  listen(backlog: number): void {
    unwrap("srt_listen", libsrt().srt_listen(this.#id, backlog));
  }

  /** Accepts a pending connection; `undefined` when none is ready (non-blocking listener). */
  accept(): SrtSocket | undefined {
    const id = libsrt().srt_accept(this.#id, null, null);
    if (id !== SRT_INVALID_SOCK) return new SrtSocket(id);
    const error = lastSrtError("srt_accept");
    if (error.code === SrtErrno.EASYNCRCV) return undefined;
    throw error;
  }

  /** Starts connecting (or completes, on a blocking socket). */
  connect(sockaddr: Uint8Array<ArrayBuffer>): void {
    unwrap("srt_connect", libsrt().srt_connect(this.#id, pointerTo(sockaddr), sockaddr.byteLength));
  }

  /**
   * Receives one message without blocking: its length, or 0 when nothing is
   * ready (RCVSYN must be off). Throws on a broken connection.
   */
  receive(buffer: Uint8Array<ArrayBuffer>): number {
    const received = libsrt().srt_recvmsg2(
      this.#id,
      this.#pointerTo(buffer),
      buffer.byteLength,
      this.#messageControlPointer,
    );
    if (received !== SRT_ERROR) return received;
    const error = lastSrtError("srt_recvmsg2");
    if (error.code === SrtErrno.EASYNCRCV) return 0;
    throw error;
  }

  /**
   * Waits off the JS thread for one message and receives it into `buffer`
   * (RCVSYN must be on): its length, or a negative number once the
   * connection has ended or the socket is closed. libsrt sleeps meanwhile,
   * waking once a second, and the error is not readable after a pool-thread
   * call: `state` says what happened. Closing the socket ends the wait.
   * `buffer` is kept reachable until the promise settles, and must not be
   * touched before.
   */
  async receiveWaiting(buffer: Uint8Array<ArrayBuffer>): Promise<number> {
    return await settledWith(
      libsrt().srt_recvmsg_waiting(this.#id, pointerTo(buffer), buffer.byteLength),
      buffer,
    );
  }

  /** Sends one message; false when the send buffer is full (SNDSYN off). */
  send(message: Uint8Array<ArrayBuffer>): boolean {
    // libsrt writes the srctime it used back into the control block: left
    // there, every later message would look old and be dropped as too late.
    this.#messageControlView.setBigInt64(SRT_MSGCTRL.offsets.srctime, 0n, true);
    const sent = libsrt().srt_sendmsg2(
      this.#id,
      this.#pointerTo(message),
      message.byteLength,
      this.#messageControlPointer,
    );
    if (sent !== SRT_ERROR) return true;
    const error = lastSrtError("srt_sendmsg2");
    if (error.code === SrtErrno.EASYNCSND) return false;
    throw error;
  }

  /** Cumulative link statistics (srt_bstats without clearing). */
  stats(): TraceStats {
    unwrap("srt_bstats", libsrt().srt_bstats(this.#id, this.#statsPointer, 0));
    return readTraceStats(this.#stats);
  }

  /**
   * Closes the socket; a connected peer is sent a shutdown. Not for a
   * listener with a listen callback: {@link ListenHook.close} closes that.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    libsrt().srt_close(this.#id);
  }

  /**
   * Closes the socket on a pool thread, the JS thread staying free meanwhile
   * (see {@link ListenHook.close}). It counts as closed at once, so nothing
   * uses it while libsrt closes it.
   */
  async closeOffThread(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // The result is all there is: the error stays on the pool thread.
    await libsrt().srt_close_listener(this.#id);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** `buffer`'s address, remembered for the next call with the same buffer. */
  #pointerTo(buffer: Uint8Array<ArrayBuffer>): Deno.PointerValue {
    if (buffer !== this.#lastBuffer) {
      this.#lastBuffer = buffer;
      this.#lastPointer = pointerTo(buffer);
    }
    return this.#lastPointer;
  }
}

/** An SRT epoll set; `wait()` blocks off the JS thread. */
export class SrtEpoll {
  #id: number;
  #released = false;
  #events = new Uint8Array(SRT_EPOLL_EVENT_SIZE * 8);
  #eventsPointer = pointerTo(this.#events);

  constructor() {
    this.#id = unwrap("srt_epoll_create", libsrt().srt_epoll_create());
  }

  add(socket: SrtSocket, events: number): void {
    unwrap(
      "srt_epoll_add_usock",
      libsrt().srt_epoll_add_usock(this.#id, socket.id, pointerTo(int32(events))),
    );
  }

  remove(socket: SrtSocket): void {
    libsrt().srt_epoll_remove_usock(this.#id, socket.id);
  }

  /**
   * Waits up to `timeoutMs` for an event: the number of ready sockets, 0 on
   * timeout. Errors are not readable after a pool-thread call; a negative
   * result other than a timeout means the set is unusable.
   */
  async wait(timeoutMs: number): Promise<number> {
    const ready = await settledWith(
      libsrt().srt_epoll_uwait(this.#id, this.#eventsPointer, 8, BigInt(timeoutMs)),
      this.#events,
    );
    return Math.max(ready, 0);
  }

  /** Whether the last wait reported an error on any socket. */
  get sawError(): boolean {
    const view = new DataView(this.#events.buffer);
    return (view.getInt32(SRT_EPOLL_EVENT.offsets.events, true) & SRT_EPOLL_ERR) !== 0;
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    libsrt().srt_epoll_release(this.#id);
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

/**
 * Sets a string option on a socket known by its id: one libsrt made for an
 * incoming caller, from inside the listen callback (a per-stream passphrase,
 * say).
 */
export function setIncomingString(socketId: number, option: SrtOption, value: string): void {
  const bytes = encoder.encode(value);
  unwrap(
    `srt_setsockflag(${srtOptionName(option)})`,
    libsrt().srt_setsockflag(socketId, option, pointerTo(bytes), bytes.byteLength),
  );
}

/** Sets an integer option on a socket known by its id (see {@link setIncomingString}). */
export function setIncomingInt(socketId: number, option: SrtOption, value: number): void {
  unwrap(
    `srt_setsockflag(${srtOptionName(option)})`,
    libsrt().srt_setsockflag(socketId, option, pointerTo(int32(value)), 4),
  );
}

/** A caller's conclusion as libsrt's listen callback sees it, before libsrt accepts it. */
export interface ConnectionRequest {
  /** The socket libsrt made for the caller. */
  socketId: number;
  streamId: string;
}

/**
 * A listen callback (`srt_listen_callback`) on a listener, and the one way
 * to close that listener. libsrt calls it on the receive thread for each
 * conclusion that passed the cookie check, before the passphrase check.
 * `decide` returns 0 to go on, or a reject reason (≥ 1000 for Atoll's own).
 *
 * That thread waits for the JS thread to run the callback, and meanwhile
 * holds the receive queue's listener lock (`CRcvQueue::m_LSLock`, taken by
 * `worker_ProcessConnectionRequest` around `CUDT::processConnectRequest`,
 * which reaches the callback through `CUDTUnited::newConnection` and
 * `CUDT::runAcceptHook`). Closing the listener takes the same lock
 * (`CUDTUnited::close` → `CUDT::notListening` → `CRcvQueue::removeListener`),
 * so the JS thread must never close the listener synchronously, nor call
 * `srt_cleanup` while it is open (libsrt's GC closes it then): either waits
 * for a callback that only the blocked JS thread could run. Other libsrt
 * calls do not take that lock.
 */
export class ListenHook {
  #listener: SrtSocket;
  #callback: Deno.UnsafeCallback<typeof LISTEN_CALLBACK>;
  #closing: Promise<void> | undefined;
  /** Set before the listener's close starts: callbacks from then on refuse at once. */
  #refusing = false;

  constructor(listener: SrtSocket, decide: (request: ConnectionRequest) => number) {
    this.#listener = listener;
    this.#callback = Deno.UnsafeCallback.threadSafe(
      LISTEN_CALLBACK,
      (_opaque, socketId, _version, _peer, streamId) => {
        // While the listener closes, a caller is refused at once and with no
        // libsrt call: from 3 s into the close, libsrt's GC waits for it
        // (`checkBrokenSockets` → `removeSocket` → `closeInternal`) holding
        // the global lock (`m_GlobControlLock`) that `srt_setrejectreason`
        // would take. So no reason is set: the caller sees SRT_REJ_ROGUE.
        if (this.#refusing) return -1;
        // No JS exception may unwind into libsrt: any failure rejects.
        try {
          const text = streamId === null ? "" : Deno.UnsafePointerView.getCString(streamId);
          const reason = decide({ socketId, streamId: text });
          if (reason === 0) return 0;
          libsrt().srt_setrejectreason(socketId, reason);
        } catch {
          libsrt().srt_setrejectreason(socketId, SRT_REJX_ISE);
        }
        return -1;
      },
    );
    try {
      unwrap(
        "srt_listen_callback",
        libsrt().srt_listen_callback(listener.id, this.#callback.pointer, null),
      );
    } catch (error) {
      this.#callback.close();
      throw error;
    }
  }

  /**
   * Closes the listener, then the callback; safe to call more than once.
   * The listener is closed on a pool thread while the event loop stays free
   * to run a callback that libsrt's receive thread is waiting on (it refuses
   * at once), so the close cannot wait for the JS thread. Once libsrt's
   * close returned, no callback is running or can start (libsrt calls it
   * only under the lock that close took, and only for a listener still
   * listening), so the callback can go.
   */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#refusing = true;
      this.#closing = this.#listener.closeOffThread().then(() => this.#callback.close());
    }
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

export { SrtError, SrtOption, SrtState };
