/**
 * The glibc functions Atoll calls, as `Deno.dlopen` needs them: one entry
 * per C function (a few twice, under another name, to call them both on and
 * off the JS thread), each parameter with its C type. `ffi/libc.ts` loads
 * them. Memory is passed as `"pointer"` (see `ffi/pointer.ts`).
 *
 * @module
 */

export const LIBC_SYMBOLS = {
  socket: {
    parameters: [
      "i32", // int domain
      "i32", // int type
      "i32", // int protocol
    ],
    result: "i32", // int: the fd
  },
  socketpair: {
    parameters: [
      "i32", // int domain
      "i32", // int type
      "i32", // int protocol
      "pointer", // int sv[2]
    ],
    result: "i32", // int
  },
  setsockopt: {
    parameters: [
      "i32", // int fd
      "i32", // int level
      "i32", // int optname
      "pointer", // const void* optval
      "u32", // socklen_t optlen
    ],
    result: "i32", // int
  },
  getsockname: {
    parameters: [
      "i32", // int fd
      "pointer", // struct sockaddr* addr
      "pointer", // socklen_t* addrlen
    ],
    result: "i32", // int
  },
  getsockopt: {
    parameters: [
      "i32", // int fd
      "i32", // int level
      "i32", // int optname
      "pointer", // void* optval
      "pointer", // socklen_t* optlen
    ],
    result: "i32", // int
  },
  bind: {
    parameters: [
      "i32", // int fd
      "pointer", // const struct sockaddr* addr
      "u32", // socklen_t len
    ],
    result: "i32", // int
  },
  connect: {
    parameters: [
      "i32", // int fd
      "pointer", // const struct sockaddr* addr
      "u32", // socklen_t len
    ],
    result: "i32", // int
  },
  listen: {
    parameters: [
      "i32", // int fd
      "i32", // int backlog
    ],
    result: "i32", // int
  },
  shutdown: {
    parameters: [
      "i32", // int fd
      "i32", // int how
    ],
    result: "i32", // int
  },
  /** Blocking: runs off the JS thread (an orphaned child waiting for a main process). */
  accept4: {
    parameters: [
      "i32", // int fd
      "pointer", // struct sockaddr* addr: NULL
      "pointer", // socklen_t* addrlen: NULL
      "i32", // int flags
    ],
    result: "i32", // int: the fd
    nonblocking: true,
  },
  send: {
    parameters: [
      "i32", // int fd
      "pointer", // const void* buf
      "usize", // size_t len
      "i32", // int flags
    ],
    result: "isize", // ssize_t
  },
  recvfrom: {
    parameters: [
      "i32", // int fd
      "pointer", // void* buf
      "usize", // size_t len
      "i32", // int flags
      "pointer", // struct sockaddr* from
      "pointer", // socklen_t* fromlen
    ],
    result: "isize", // ssize_t
  },
  /** On the JS thread: only on a non-blocking fd (a child's report pipe). */
  write: {
    parameters: [
      "i32", // int fd
      "pointer", // const void* buf
      "usize", // size_t count
    ],
    result: "isize", // ssize_t
  },
  sendmsg: {
    parameters: [
      "i32", // int fd
      "pointer", // const struct msghdr* msg
      "i32", // int flags
    ],
    result: "isize", // ssize_t
  },
  /** Blocking: runs off the JS thread, so its errno cannot be read. */
  recvmsg: {
    parameters: [
      "i32", // int fd
      "pointer", // struct msghdr* msg
      "i32", // int flags
    ],
    result: "isize", // ssize_t
    nonblocking: true,
  },
  /** `recvmsg` on the JS thread: only once `poll` said a message is there. */
  recvmsg_now: {
    name: "recvmsg",
    parameters: [
      "i32", // int fd
      "pointer", // struct msghdr* msg
      "i32", // int flags
    ],
    result: "isize", // ssize_t
  },
  /** On the JS thread. */
  poll: {
    parameters: [
      "pointer", // struct pollfd* fds
      "u64", // nfds_t nfds
      "i32", // int timeout
    ],
    result: "i32", // int
  },
  /** Variadic in C; a pointer third argument is ABI-safe. */
  ioctl: {
    parameters: [
      "i32", // int fd
      "u64", // unsigned long request
      "pointer", // void *argp
    ],
    result: "i32", // int
  },
  /** Variadic in C; an int third argument is ABI-safe. */
  fcntl: {
    parameters: [
      "i32", // int fd
      "i32", // int cmd
      "i32", // int arg
    ],
    result: "i32", // int
  },
  inet_pton: {
    parameters: [
      "i32", // int af
      "pointer", // const char* src
      "pointer", // void* dst
    ],
    result: "i32", // int: 1 when parsed
  },
  getnameinfo: {
    parameters: [
      "pointer", // const struct sockaddr* sa
      "u32", // socklen_t salen
      "pointer", // char* host
      "u32", // socklen_t hostlen
      "pointer", // char* serv
      "u32", // socklen_t servlen
      "i32", // int flags
    ],
    result: "i32", // int: 0, or an EAI_* code
  },
  getrlimit: {
    parameters: [
      "i32", // int resource
      "pointer", // struct rlimit* rlim
    ],
    result: "i32", // int
  },
  setrlimit: {
    parameters: [
      "i32", // int resource
      "pointer", // const struct rlimit* rlim
    ],
    result: "i32", // int
  },
  close: {
    parameters: [
      "i32", // int fd
    ],
    result: "i32", // int
  },
  /**
   * An SRT child leaves the main process's process group, and stays in its
   * session (src/peer/main.ts).
   */
  setpgid: {
    parameters: [
      "i32", // pid_t pid (0: the caller)
      "i32", // pid_t pgid (0: the same as pid)
    ],
    result: "i32", // int
  },
  /** The main process puts a new child below itself on the CPU (src/server/child_handle.ts). */
  setpriority: {
    parameters: [
      "i32", // int which (PRIO_PROCESS: 0)
      "u32", // id_t who (a thread id: a process's first thread)
      "i32", // int prio (nice value)
    ],
    result: "i32", // int
  },
  /**
   * A helper process leaves the main process's session and process group
   * (src/ipc/helper_main.ts), as does an upgrade's new main process (main.ts).
   */
  setsid: {
    parameters: [],
    result: "i32", // pid_t: the new session id, or -1
  },
  /** glibc's per-thread errno. */
  __errno_location: {
    parameters: [],
    result: "pointer", // int*
  },
  strerror: {
    parameters: [
      "i32", // int errnum
    ],
    result: "pointer", // char*
  },
  memfd_create: {
    parameters: [
      "pointer", // const char* name
      "u32", // unsigned int flags
    ],
    result: "i32", // int: the fd
  },
  ftruncate: {
    parameters: [
      "i32", // int fd
      "i64", // off_t length
    ],
    result: "i32", // int
  },
  /** A real symbol since glibc 2.33 (a macro around __fxstat before). */
  fstat: {
    parameters: [
      "i32", // int fd
      "pointer", // struct stat* buf
    ],
    result: "i32", // int
  },
  mmap: {
    parameters: [
      "pointer", // void* addr
      "usize", // size_t length
      "i32", // int prot
      "i32", // int flags
      "i32", // int fd
      "i64", // off_t offset
    ],
    result: "pointer", // void*: MAP_FAILED on error
  },
  munmap: {
    parameters: [
      "pointer", // void* addr
      "usize", // size_t length
    ],
    result: "i32", // int
  },
  /**
   * `syscall(SYS_futex, uaddr, FUTEX_WAIT, val, timeout)`, blocking: runs off
   * the JS thread. Variadic in C; glibc's wrapper only moves registers, and
   * the kernel truncates each argument to its declared type.
   */
  futex_wait: {
    name: "syscall",
    parameters: [
      "i64", // long number: SYS_futex
      "pointer", // uint32_t* uaddr
      "i32", // int futex_op: FUTEX_WAIT
      "i32", // uint32_t val
      "pointer", // const struct timespec* timeout
    ],
    result: "i64", // long
    nonblocking: true,
  },
  /** The same FUTEX_WAIT on the JS thread: for a loop that has nothing else to do meanwhile. */
  futex_wait_now: {
    name: "syscall",
    parameters: [
      "i64", // long number: SYS_futex
      "pointer", // uint32_t* uaddr
      "i32", // int futex_op: FUTEX_WAIT
      "i32", // uint32_t val
      "pointer", // const struct timespec* timeout
    ],
    result: "i64", // long
  },
  /** `syscall(SYS_futex, uaddr, FUTEX_WAKE, count)`. */
  futex_wake: {
    name: "syscall",
    parameters: [
      "i64", // long number: SYS_futex
      "pointer", // uint32_t* uaddr
      "i32", // int futex_op: FUTEX_WAKE
      "i32", // int count
    ],
    result: "i64", // long: how many woke
  },
} as const satisfies Deno.ForeignLibraryInterface;
