/**
 * Loads glibc with the symbols of `ffi/libc_symbols.ts` (the few calls Atoll
 * needs and Deno does not offer: UDP sockets bound with SO_REUSEPORT and
 * `connect()`ed to one peer, Unix socket pairs, passing a file descriptor to
 * another process with SCM_RIGHTS, shared memory and futexes, writes to a
 * pipe that never wait), the constants they take, and {@link SystemError}
 * for their failures.
 *
 * Linux x86_64/aarch64 only: constants and struct layouts below are Linux's.
 *
 * @module
 */

import { LIBC_SYMBOLS } from "./libc_symbols.ts";

export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_STREAM = 1;
export const SHUT_RDWR = 2;
export const SOCK_DGRAM = 2;
export const SOCK_SEQPACKET = 5;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_REUSEADDR = 2;
export const SO_REUSEPORT = 15;
export const SO_TYPE = 3;
/** A socket's send buffer in bytes: set N, the kernel keeps 2N (for its bookkeeping). */
export const SO_SNDBUF = 7;
/** 1 for a listening socket. */
export const SO_ACCEPTCONN = 30;
/** `struct ucred` of a Unix socket's peer: pid, uid, gid, each 32 bits. */
export const SO_PEERCRED = 17;
/** `getsockopt` fills `u32[SK_MEMINFO_VARS]`: the socket's memory, as `ss -m` shows it. */
export const SO_MEMINFO = 55;
/** Bytes in the receive queue (`rx_queue` in `/proc/net/udp`). */
export const SK_MEMINFO_RMEM_ALLOC = 0;
/** Datagrams dropped for this socket (a full receive queue among them). */
export const SK_MEMINFO_DROPS = 8;
export const SK_MEMINFO_VARS = 9;
export const SCM_RIGHTS = 1;
export const IPPROTO_IPV6 = 41;
export const IPV6_V6ONLY = 26;
export const F_GETFD = 1;
export const F_SETFD = 2;
export const FD_CLOEXEC = 1;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const O_NONBLOCK = 0o4000;
export const MSG_DONTWAIT = 0x40;
export const MSG_NOSIGNAL = 0x4000;
export const MSG_CMSG_CLOEXEC = 0x40000000;
export const NI_NUMERICHOST = 1;
export const NI_NUMERICSERV = 2;
export const POLLIN = 0x001;
export const POLLOUT = 0x004;
export const RLIMIT_NOFILE = 7;
/** ioctl: the arrival time (a `struct timespec`) of the last datagram read from a socket. */
export const SIOCGSTAMPNS = 0x8907;
export const O_RDONLY = 0;
export const O_RDWR = 2;
export const O_CREAT = 0o100;
export const O_CLOEXEC = 0o2000000;
export const O_NOFOLLOW = 0o400000;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const ENOENT = 2;
export const ECONNREFUSED = 111;
export const EINTR = 4;
export const EAGAIN = 11;
export const MFD_CLOEXEC = 1;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 1;
/** `MAP_FAILED`, `(void*)-1`, as an address. */
export const MAP_FAILED = 0xffff_ffff_ffff_ffffn;
/** `struct stat`'s `st_size` (off_t): byte 48 on x86_64 and on aarch64's generic layout. */
export const STAT_SIZE_OFFSET = 48;
/** `sizeof(struct stat)` is 144 on x86_64 and 128 on aarch64: a buffer this big fits both. */
export const STAT_BYTES = 256;
/** `SYS_futex`: the syscall number differs between architectures. */
export const SYS_FUTEX = Deno.build.arch === "aarch64" ? 98 : 202;
/** The shared (not `_PRIVATE`) operations: the word lives in memory shared between processes. */
export const FUTEX_WAIT = 0;
export const FUTEX_WAKE = 1;
/** `CMSG_LEN(sizeof(int))`: a control message carrying one fd, without padding. */
export const CMSG_LEN_FD = 20;
/** `CMSG_SPACE(sizeof(int))`: the buffer a control message carrying one fd needs. */
export const CMSG_SPACE_FD = 24;

/**
 * A C struct's size and the offsets of the fields Atoll reads or writes.
 * `ffi/structs_test.ts` checks every exported layout against the headers.
 */
export interface CLayout {
  /** The C type, as `sizeof` and `offsetof` take it. */
  readonly type: string;
  readonly size: number;
  readonly offsets: Readonly<Record<string, number>>;
}

/** `struct sockaddr_in`: family u16, port u16 (big-endian), address 4 bytes. */
export const SOCKADDR_IN = {
  type: "struct sockaddr_in",
  size: 16,
  offsets: { sin_family: 0, sin_port: 2, sin_addr: 4 },
} as const satisfies CLayout;

/** `struct sockaddr_in6`: family u16, port u16 (big-endian), flow info, address 16 bytes. */
export const SOCKADDR_IN6 = {
  type: "struct sockaddr_in6",
  size: 28,
  offsets: { sin6_family: 0, sin6_port: 2, sin6_addr: 8 },
} as const satisfies CLayout;

/** `struct msghdr` (64-bit): pointers and lengths are 8 bytes. */
export const MSGHDR = {
  type: "struct msghdr",
  size: 56,
  offsets: {
    msg_name: 0,
    msg_namelen: 8,
    msg_iov: 16,
    msg_iovlen: 24,
    msg_control: 32,
    msg_controllen: 40,
    msg_flags: 48,
  },
} as const satisfies CLayout;

/** `struct iovec`: base pointer, length. */
export const IOVEC = {
  type: "struct iovec",
  size: 16,
  offsets: { iov_base: 0, iov_len: 8 },
} as const satisfies CLayout;

/** `struct cmsghdr` (64-bit): the data follows at `size` (`CMSG_DATA`). */
export const CMSGHDR = {
  type: "struct cmsghdr",
  size: 16,
  offsets: { cmsg_len: 0, cmsg_level: 8, cmsg_type: 12 },
} as const satisfies CLayout;

/** `struct pollfd`: fd i32, events i16, revents i16. */
export const POLLFD = {
  type: "struct pollfd",
  size: 8,
  offsets: { fd: 0, events: 4, revents: 6 },
} as const satisfies CLayout;

/** `struct rlimit`: soft and hard limit, `rlim_t` (u64) each. */
export const RLIMIT = {
  type: "struct rlimit",
  size: 16,
  offsets: { rlim_cur: 0, rlim_max: 8 },
} as const satisfies CLayout;

/** `struct timespec` (64-bit): seconds, nanoseconds. */
export const TIMESPEC = {
  type: "struct timespec",
  size: 16,
  offsets: { tv_sec: 0, tv_nsec: 8 },
} as const satisfies CLayout;

export type LibC = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

/** glibc's file name on Linux. */
export const LIBC_NAME = "libc.so.6";

let library: Deno.DynamicLibrary<typeof LIBC_SYMBOLS> | undefined;

/** The libc symbols, loaded on first use. */
export function libc(): LibC {
  if (library === undefined) {
    if (Deno.build.os !== "linux") {
      throw new Error(
        `Cannot load libc: Atoll needs Linux (connected UDP sockets shared with libsrt), not ${Deno.build.os}`,
      );
    }
    try {
      library = Deno.dlopen(LIBC_NAME, LIBC_SYMBOLS);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new Error(
        `Cannot load libc: tried ${LIBC_NAME}: ${
          message.replace(/^(Could not open library: )+/, "")
        }`,
      );
    }
  }
  return library.symbols;
}

/** A failed libc call, with the errno it left. */
export class SystemError extends Error {
  override name = "SystemError";
  readonly errno: number;
  readonly op: string;
  constructor(op: string, errno: number, message: string) {
    super(`${op} failed: ${message} (errno ${errno})`);
    this.op = op;
    this.errno = errno;
  }
}

/** errno of the calling thread; valid only right after a synchronous call. */
export function errno(): number {
  const where = libc().__errno_location();
  return where === null ? 0 : new Deno.UnsafePointerView(where).getInt32();
}

/** Builds the error for a failed call from errno, read right after it. */
export function systemError(op: string, code = errno()): SystemError {
  const text = libc().strerror(code);
  const message = text === null ? "unknown error" : Deno.UnsafePointerView.getCString(text);
  return new SystemError(op, code, message);
}

/** Throws the errno of `op` when `result` is negative; returns it otherwise. */
export function check<T extends number | bigint>(op: string, result: T): T {
  if (result < 0) throw systemError(op);
  return result;
}
