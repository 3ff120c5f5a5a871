/**
 * The bench's own libsrt helpers: SRT sockets as plain ids (callers create
 * hundreds), options of the sizes libsrt wants, and a blocking `srt_connect`
 * that runs on a pool thread so many blocking callers can connect at once.
 *
 * Atoll's `ffi/libsrt_symbols.ts` declares every fallible call synchronous (libsrt's
 * last error is per thread); the small table here adds the one call a
 * blocking caller must make off the JS thread, whose result is read from its
 * return value and `srt_getsockstate`, never from the last error, and
 * `srt_getsockname`, which Atoll does not need.
 *
 * @module
 */

import {
  lastSrtError,
  libsrt,
  openLibsrt,
  SRT_ERROR,
  SRT_INVALID_SOCK,
  SrtOption,
  srtOptionName,
  SrtState,
  unwrap,
} from "../ffi/libsrt.ts";
import { encodeSockaddr } from "../ffi/socket.ts";
import { pointerTo, settledWith } from "../ffi/pointer.ts";
import { sleep } from "../tests/support/wait.ts";
import { defaultMessageControl, SRT_EPOLL_EVENT } from "../ffi/structs.ts";

const SYMBOLS = {
  /** On a pool thread: its error is not readable, only its result. */
  srt_connect: {
    parameters: [
      "i32", // SRTSOCKET u
      "pointer", // const struct sockaddr* name
      "i32", // int namelen
    ],
    result: "i32", // int
    nonblocking: true,
  },
  srt_getsockname: {
    parameters: [
      "i32", // SRTSOCKET u
      "pointer", // struct sockaddr* name
      "pointer", // int* namelen
    ],
    result: "i32", // int
  },
} as const satisfies Deno.ForeignLibraryInterface;

let extra: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;

/** The symbols above, from the library file Atoll loads. */
function extraSymbols(): Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] {
  extra ??= openLibsrt(SYMBOLS);
  return extra.symbols;
}

const encoder = new TextEncoder();

/** Starts libsrt once in this process, with its own logging kept to fatal errors. */
export function startSrt(): void {
  const srt = libsrt();
  srt.srt_setloglevel(2);
  unwrap("srt_startup", srt.srt_startup());
}

export function createSocket(): number {
  const id = libsrt().srt_create_socket();
  if (id === SRT_INVALID_SOCK) throw lastSrtError("srt_create_socket");
  return id;
}

export function setInt(socket: number, option: SrtOption, value: number): void {
  const bytes = new Uint8Array(new Int32Array([value]).buffer);
  unwrap(
    `srt_setsockflag(${srtOptionName(option)})`,
    libsrt().srt_setsockflag(socket, option, pointerTo(bytes), 4),
  );
}

/** MAXBW and INPUTBW are int64 and must be passed as exactly 8 bytes. */
export function setInt64(socket: number, option: SrtOption, value: bigint): void {
  const bytes = new Uint8Array(new BigInt64Array([value]).buffer);
  unwrap(
    `srt_setsockflag(${srtOptionName(option)})`,
    libsrt().srt_setsockflag(socket, option, pointerTo(bytes), 8),
  );
}

export function setString(socket: number, option: SrtOption, value: string): void {
  const bytes = encoder.encode(value);
  unwrap(
    `srt_setsockflag(${srtOptionName(option)})`,
    libsrt().srt_setsockflag(socket, option, pointerTo(bytes), bytes.byteLength),
  );
}

/** The local port a bound SRT socket got. */
export function localPort(socket: number): number {
  const address = new Uint8Array(128);
  const length = new Int32Array([address.byteLength]);
  const result = extraSymbols().srt_getsockname(socket, pointerTo(address), pointerTo(length));
  if (result === SRT_ERROR) throw lastSrtError("srt_getsockname");
  return new DataView(address.buffer).getUint16(2, false);
}

export function socketState(socket: number): number {
  return libsrt().srt_getsockstate(socket);
}

export function closeSocket(socket: number): void {
  libsrt().srt_close(socket);
}

/** A live-mode caller socket with a stream id, not yet connected. */
export function createCaller(
  streamId: string,
  options: { blocking: boolean; connectTimeoutMs: number },
): number {
  const socket = createSocket();
  try {
    setInt(socket, SrtOption.TRANSTYPE, 0);
    setInt(socket, SrtOption.RCVSYN, options.blocking ? 1 : 0);
    setInt(socket, SrtOption.SNDSYN, options.blocking ? 1 : 0);
    setInt(socket, SrtOption.CONNTIMEO, options.connectTimeoutMs);
    setString(socket, SrtOption.STREAMID, streamId);
    return socket;
  } catch (error) {
    closeSocket(socket);
    throw error;
  }
}

/** `srt_connect` on a non-blocking socket: returns at once (the handshake runs in libsrt). */
export function connectAsync(socket: number, port: number): void {
  const address = encodeSockaddr({ hostname: "127.0.0.1", port });
  unwrap("srt_connect", libsrt().srt_connect(socket, pointerTo(address), address.byteLength));
}

/** `srt_connect` on a blocking socket, off the JS thread: true when it connected. */
export async function connectBlocking(socket: number, port: number): Promise<boolean> {
  const address = encodeSockaddr({ hostname: "127.0.0.1", port });
  const result = await settledWith(
    extraSymbols().srt_connect(socket, pointerTo(address), address.byteLength),
    address,
  );
  return result !== SRT_ERROR && socketState(socket) === SrtState.CONNECTED;
}

/** An SRT epoll set large enough for every caller of a run. */
export class EpollSet {
  readonly id: number;
  #events: Uint8Array<ArrayBuffer>;
  #view: DataView;
  #capacity: number;
  /** Sockets in the set: libsrt's wait on an empty set fails at once (SRT_EEMPTY). */
  #members = new Set<number>();

  constructor(capacity = 512) {
    this.id = unwrap("srt_epoll_create", libsrt().srt_epoll_create());
    this.#capacity = capacity;
    this.#events = new Uint8Array(SRT_EPOLL_EVENT.size * capacity);
    this.#view = new DataView(this.#events.buffer);
  }

  add(socket: number, events: number): void {
    const flags = new Int32Array([events]);
    unwrap("srt_epoll_add_usock", libsrt().srt_epoll_add_usock(this.id, socket, pointerTo(flags)));
    this.#members.add(socket);
  }

  remove(socket: number): void {
    libsrt().srt_epoll_remove_usock(this.id, socket);
    this.#members.delete(socket);
  }

  /**
   * Waits up to `timeoutMs` off the JS thread: the ready sockets and their
   * events. An empty set sleeps the whole time: libsrt would return at
   * once, and a loop around it would spin (it took a core from the restart
   * bench's fan-out while its probe waited for a hand-over).
   */
  async wait(timeoutMs: number): Promise<{ socket: number; events: number }[]> {
    const ready = this.#members.size === 0 ? -1 : await settledWith(
      libsrt().srt_epoll_uwait(
        this.id,
        pointerTo(this.#events),
        this.#capacity,
        BigInt(Math.max(0, Math.round(timeoutMs))),
      ),
      this.#events,
    );
    if (ready < 0) {
      // Empty, or an error (the set emptied by srt_close, say): wait rather than spin.
      await sleep(Math.max(1, timeoutMs));
      return [];
    }
    const out = [];
    for (let i = 0; i < Math.min(ready, this.#capacity); i++) {
      out.push({
        socket: this.#view.getInt32(i * SRT_EPOLL_EVENT.size + SRT_EPOLL_EVENT.offsets.fd, true),
        events: this.#view.getInt32(
          i * SRT_EPOLL_EVENT.size + SRT_EPOLL_EVENT.offsets.events,
          true,
        ),
      });
    }
    return out;
  }

  release(): void {
    libsrt().srt_epoll_release(this.id);
  }
}

/** One `SRT_MSGCTRL` with libsrt's defaults, reused for every send and receive. */
export const messageControl = defaultMessageControl();
/** {@link messageControl}'s address, for the receive loops. */
export const messageControlPointer = pointerTo(messageControl);
