/**
 * The few libc calls Atoll needs and Deno does not offer: UDP sockets bound
 * with SO_REUSEPORT and `connect()`ed to one peer, Unix socket pairs, and
 * passing a file descriptor to another process with SCM_RIGHTS.
 *
 * Linux x86_64/aarch64 only: constants and struct layouts below are Linux's.
 *
 * @module
 */

const SYMBOLS = {
  /** int socket(int domain, int type, int protocol) */
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  /** int socketpair(int domain, int type, int protocol, int sv[2]) */
  socketpair: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  /** int setsockopt(int fd, int level, int name, const void* value, socklen_t len) */
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  /** int bind(int fd, const struct sockaddr* addr, socklen_t len) */
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  /** int connect(int fd, const struct sockaddr* addr, socklen_t len) */
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  /** int getsockname(int fd, struct sockaddr* addr, socklen_t* len) */
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  /** ssize_t send(int fd, const void* buf, size_t len, int flags) */
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  /** ssize_t recvfrom(int fd, void* buf, size_t len, int flags, struct sockaddr* from, socklen_t* fromlen) */
  recvfrom: {
    parameters: ["i32", "buffer", "usize", "i32", "buffer", "buffer"],
    result: "isize",
  },
  /** ssize_t sendmsg(int fd, const struct msghdr* msg, int flags) */
  sendmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  /** ssize_t recvmsg(int fd, struct msghdr* msg, int flags), blocking: runs off the JS thread */
  recvmsg: { parameters: ["i32", "buffer", "i32"], result: "isize", nonblocking: true },
  /** ssize_t recvmsg(int fd, struct msghdr* msg, int flags), on the JS thread: only after poll() */
  recvmsg_now: { name: "recvmsg", parameters: ["i32", "buffer", "i32"], result: "isize" },
  /** int poll(struct pollfd* fds, nfds_t nfds, int timeout), on the JS thread */
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
  /** int fcntl(int fd, int cmd, int arg) (variadic in C; an int third argument is ABI-safe) */
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  /** int inet_pton(int af, const char* src, void* dst) */
  inet_pton: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  /** int getnameinfo(const struct sockaddr* sa, socklen_t salen, char* host, socklen_t hostlen, char* serv, socklen_t servlen, int flags) */
  getnameinfo: {
    parameters: ["buffer", "u32", "buffer", "u32", "buffer", "u32", "i32"],
    result: "i32",
  },
  /** int getrlimit(int resource, struct rlimit* rlim) */
  getrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  /** int setrlimit(int resource, const struct rlimit* rlim) */
  setrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  /** int close(int fd) */
  close: { parameters: ["i32"], result: "i32" },
  /** int* __errno_location(void) — glibc's per-thread errno */
  __errno_location: { parameters: [], result: "pointer" },
  /** char* strerror(int errnum) */
  strerror: { parameters: ["i32"], result: "pointer" },
  /** int memfd_create(const char* name, unsigned int flags) */
  memfd_create: { parameters: ["buffer", "u32"], result: "i32" },
  /** int ftruncate(int fd, off_t length) */
  ftruncate: { parameters: ["i32", "i64"], result: "i32" },
  /** int fstat(int fd, struct stat* buf) — a real symbol since glibc 2.33 */
  fstat: { parameters: ["i32", "buffer"], result: "i32" },
  /** void* mmap(void* addr, size_t length, int prot, int flags, int fd, off_t offset) */
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
  /** int munmap(void* addr, size_t length) */
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
  /**
   * long syscall(SYS_futex, uint32_t* uaddr, FUTEX_WAIT, uint32_t val, const struct timespec* timeout),
   * blocking: runs off the JS thread. Variadic in C; glibc's wrapper only moves
   * registers, and the kernel truncates each argument to its declared type.
   */
  futex_wait: {
    name: "syscall",
    parameters: ["i64", "pointer", "i32", "i32", "buffer"],
    result: "i64",
    nonblocking: true,
  },
  /** The same FUTEX_WAIT on the JS thread: for a loop that has nothing else to do meanwhile. */
  futex_wait_now: {
    name: "syscall",
    parameters: ["i64", "pointer", "i32", "i32", "buffer"],
    result: "i64",
  },
  /** long syscall(SYS_futex, uint32_t* uaddr, FUTEX_WAKE, int count) */
  futex_wake: { name: "syscall", parameters: ["i64", "pointer", "i32", "i32"], result: "i64" },
} as const satisfies Deno.ForeignLibraryInterface;

export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_DGRAM = 2;
export const SOCK_SEQPACKET = 5;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_REUSEADDR = 2;
export const SO_REUSEPORT = 15;
export const SCM_RIGHTS = 1;
export const IPPROTO_IPV6 = 41;
export const IPV6_V6ONLY = 26;
export const F_GETFD = 1;
export const F_SETFD = 2;
export const FD_CLOEXEC = 1;
export const MSG_DONTWAIT = 0x40;
export const MSG_CMSG_CLOEXEC = 0x40000000;
export const NI_NUMERICHOST = 1;
export const NI_NUMERICSERV = 2;
export const POLLIN = 0x001;
export const RLIMIT_NOFILE = 7;
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

export type LibC = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let library: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;

/** The libc symbols, loaded on first use. */
export function libc(): LibC {
  if (library === undefined) {
    if (Deno.build.os !== "linux") {
      throw new Error(
        `Cannot load libc: Atoll needs Linux (connected UDP sockets shared with libsrt), not ${Deno.build.os}`,
      );
    }
    library = Deno.dlopen("libc.so.6", SYMBOLS);
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
