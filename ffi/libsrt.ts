/**
 * libsrt (1.5.x, the system's unmodified build) through `Deno.dlopen`.
 *
 * libsrt keeps its last error per thread, and FFI calls marked `nonblocking`
 * run on a pool thread: every fallible call here is synchronous so its error
 * can be read right after it. Only the waits (`srt_epoll_uwait`) block, off
 * the JS thread, and they report through their return value.
 *
 * @module
 */

const SYMBOLS = {
  /** uint32_t srt_getversion(void) */
  srt_getversion: { parameters: [], result: "u32" },
  /** int srt_startup(void) */
  srt_startup: { parameters: [], result: "i32" },
  /** int srt_cleanup(void) */
  srt_cleanup: { parameters: [], result: "i32" },
  /** SRTSOCKET srt_create_socket(void) */
  srt_create_socket: { parameters: [], result: "i32" },
  /** int srt_bind(SRTSOCKET u, const struct sockaddr* name, int namelen) */
  srt_bind: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  /** int srt_bind_acquire(SRTSOCKET u, UDPSOCKET udpsock) */
  srt_bind_acquire: { parameters: ["i32", "i32"], result: "i32" },
  /** int srt_listen(SRTSOCKET u, int backlog) */
  srt_listen: { parameters: ["i32", "i32"], result: "i32" },
  /** SRTSOCKET srt_accept(SRTSOCKET u, struct sockaddr* addr, int* addrlen) */
  srt_accept: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  /** int srt_connect(SRTSOCKET u, const struct sockaddr* name, int namelen) */
  srt_connect: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  /** int srt_close(SRTSOCKET u) */
  srt_close: { parameters: ["i32"], result: "i32" },
  /** SRT_SOCKSTATUS srt_getsockstate(SRTSOCKET u) */
  srt_getsockstate: { parameters: ["i32"], result: "i32" },
  /** int srt_setsockflag(SRTSOCKET u, SRT_SOCKOPT opt, const void* optval, int optlen) */
  srt_setsockflag: { parameters: ["i32", "i32", "buffer", "i32"], result: "i32" },
  /** int srt_getsockflag(SRTSOCKET u, SRT_SOCKOPT opt, void* optval, int* optlen) */
  srt_getsockflag: { parameters: ["i32", "i32", "buffer", "buffer"], result: "i32" },
  /** int srt_recvmsg2(SRTSOCKET u, char* buf, int len, SRT_MSGCTRL* mctrl) */
  srt_recvmsg2: { parameters: ["i32", "buffer", "i32", "buffer"], result: "i32" },
  /** int srt_sendmsg2(SRTSOCKET u, const char* buf, int len, SRT_MSGCTRL* mctrl) */
  srt_sendmsg2: { parameters: ["i32", "buffer", "i32", "buffer"], result: "i32" },
  /** int srt_bstats(SRTSOCKET u, SRT_TRACEBSTATS* perf, int clear) */
  srt_bstats: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  /** int srt_getpeername(SRTSOCKET u, struct sockaddr* name, int* namelen) */
  srt_getpeername: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  /** int srt_epoll_create(void) */
  srt_epoll_create: { parameters: [], result: "i32" },
  /** int srt_epoll_add_usock(int eid, SRTSOCKET u, const int* events) */
  srt_epoll_add_usock: { parameters: ["i32", "i32", "buffer"], result: "i32" },
  /** int srt_epoll_remove_usock(int eid, SRTSOCKET u) */
  srt_epoll_remove_usock: { parameters: ["i32", "i32"], result: "i32" },
  /** int srt_epoll_uwait(int eid, SRT_EPOLL_EVENT* fdsSet, int fdsSize, int64_t msTimeOut) — blocks off the JS thread */
  srt_epoll_uwait: {
    parameters: ["i32", "buffer", "i32", "i64"],
    result: "i32",
    nonblocking: true,
  },
  /** int srt_epoll_release(int eid) */
  srt_epoll_release: { parameters: ["i32"], result: "i32" },
  /**
   * int srt_listen_callback(SRTSOCKET lsn, srt_listen_callback_fn* hook, void* opaque);
   * hook: int (void* opaque, SRTSOCKET ns, int hsversion, const struct sockaddr* peer, const char* streamid)
   */
  srt_listen_callback: { parameters: ["i32", "function", "pointer"], result: "i32" },
  /** int srt_getlasterror(int* errno_loc) */
  srt_getlasterror: { parameters: ["buffer"], result: "i32" },
  /** const char* srt_getlasterror_str(void) */
  srt_getlasterror_str: { parameters: [], result: "pointer" },
  /** void srt_clearlasterror(void) */
  srt_clearlasterror: { parameters: [], result: "void" },
  /** int srt_getrejectreason(SRTSOCKET sock) */
  srt_getrejectreason: { parameters: ["i32"], result: "i32" },
  /** int srt_setrejectreason(SRTSOCKET sock, int value) */
  srt_setrejectreason: { parameters: ["i32", "i32"], result: "i32" },
  /** const char* srt_rejectreason_str(int id) */
  srt_rejectreason_str: { parameters: ["i32"], result: "pointer" },
  /** void srt_setloglevel(int ll) */
  srt_setloglevel: { parameters: ["i32"], result: "void" },
} as const satisfies Deno.ForeignLibraryInterface;

export type LibSrt = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** The C signature of `srt_listen_callback_fn`. */
export const LISTEN_CALLBACK = {
  parameters: ["pointer", "i32", "i32", "pointer", "pointer"],
  result: "i32",
} as const satisfies Deno.UnsafeCallbackDefinition;

/** File names tried, in order, when ATOLL_LIBSRT does not name the library. */
export const LIBSRT_NAMES = [
  "libsrt.so.1.5",
  "libsrt-openssl.so.1.5",
  "libsrt-gnutls.so.1.5",
  "libsrt.so",
] as const;

/** The Debian package that provides libsrt.so.1.5. */
export const LIBSRT_PACKAGE = "libsrt1.5-openssl";

/** libsrt could not be loaded: the one error a user fixes by installing it. */
export class LibSrtNotFoundError extends Error {
  override name = "LibSrtNotFoundError";
}

let library: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;

/**
 * The libsrt symbols, loaded on first use: `ATOLL_LIBSRT` if set (and only
 * it), otherwise the known file names in order.
 */
export function libsrt(): LibSrt {
  if (library !== undefined) return library.symbols;
  const override = Deno.env.get("ATOLL_LIBSRT");
  const candidates = override ? [override] : LIBSRT_NAMES;
  const failures: string[] = [];
  for (const name of candidates) {
    try {
      library = Deno.dlopen(name, SYMBOLS);
      return library.symbols;
    } catch (error) {
      // Deno says "Could not open library: " twice before dlerror()'s own text.
      const message = error instanceof Error ? error.message : String(error);
      failures.push(message.replace(/^(Could not open library: )+/, ""));
    }
  }
  const hint = override
    ? `check the path in ATOLL_LIBSRT, or unset it and install ${LIBSRT_PACKAGE}`
    : `install it (Debian/Ubuntu: apt-get install ${LIBSRT_PACKAGE}) or set ATOLL_LIBSRT to its path`;
  throw new LibSrtNotFoundError(
    `Cannot load libsrt: ${hint} (tried ${failures.join("; ")})`,
  );
}

/** "1.5.1" from srt_getversion()'s 0x010501. */
export function formatSrtVersion(version: number): string {
  return `${version >>> 16}.${(version >>> 8) & 0xff}.${version & 0xff}`;
}

/** Socket options (SRT_SOCKOPT) Atoll sets or reads. */
export const SrtOption = {
  SNDSYN: 1,
  RCVSYN: 2,
  RENDEZVOUS: 12,
  STATE: 17,
  LATENCY: 23,
  PASSPHRASE: 26,
  PBKEYLEN: 27,
  KMSTATE: 28,
  CONNTIMEO: 36,
  RCVLATENCY: 43,
  PEERLATENCY: 44,
  STREAMID: 46,
  TRANSTYPE: 50,
  ENFORCEDENCRYPTION: 53,
  PEERIDLETIMEO: 55,
} as const;

/** SRT_SOCKSTATUS */
export const SrtState = {
  INIT: 1,
  OPENED: 2,
  LISTENING: 3,
  CONNECTING: 4,
  CONNECTED: 5,
  BROKEN: 6,
  CLOSING: 7,
  CLOSED: 8,
  NONEXIST: 9,
} as const;

/** SRT_ERRNO values Atoll branches on. */
export const SrtErrno = {
  ECONNREJ: 1002,
  ECONNLOST: 2001,
  ENOCONN: 2002,
  EINVPARAM: 5003,
  EINVSOCK: 5004,
  EASYNCSND: 6001,
  EASYNCRCV: 6002,
  ETIMEOUT: 6003,
} as const;

export const SRT_EPOLL_IN = 1;
export const SRT_EPOLL_OUT = 4;
export const SRT_EPOLL_ERR = 8;
export const SRTT_LIVE = 0;
export const SRT_INVALID_SOCK = -1;
export const SRT_ERROR = -1;

/** A failed libsrt call: the operation, libsrt's error code and its message. */
export class SrtError extends Error {
  override name = "SrtError";
  readonly code: number;
  readonly op: string;
  constructor(op: string, code: number, message: string) {
    super(`${op} failed: ${message} (SRT error ${code})`);
    this.op = op;
    this.code = code;
  }
}

/** The calling thread's last libsrt error; call right after the failed call. */
export function lastSrtError(op: string): SrtError {
  const srt = libsrt();
  const code = srt.srt_getlasterror(null);
  const text = srt.srt_getlasterror_str();
  const message = text === null ? "unknown error" : Deno.UnsafePointerView.getCString(text);
  return new SrtError(op, code, message);
}

/** Returns `result`, or throws the last libsrt error when it is SRT_ERROR (-1). */
export function unwrap(op: string, result: number): number {
  if (result === SRT_ERROR) throw lastSrtError(op);
  return result;
}

/** The text libsrt gives a reject reason, e.g. 10 → "Password required or unexpected". */
export function rejectReasonText(code: number): string {
  const text = libsrt().srt_rejectreason_str(code);
  return text === null ? `reject reason ${code}` : Deno.UnsafePointerView.getCString(text);
}
