/**
 * The libsrt functions Atoll calls, as `Deno.dlopen` needs them: one entry
 * per C function, each parameter with its C type (`srt.h` of libsrt 1.5).
 * `ffi/libsrt.ts` loads them.
 *
 * Memory is passed as `"pointer"`, never `"buffer"`, so that every symbol
 * binds cheaply in each new child: see `ffi/pointer.ts`, whose `pointerTo()`
 * gives the address of a JS buffer.
 *
 * libsrt keeps its last error per thread, and a `nonblocking` call runs on a
 * pool thread: every fallible call here is synchronous so that its error can
 * be read right after it. Three calls run off the JS thread and report
 * through their return value only: the waits (`srt_epoll_uwait`, and
 * `srt_recvmsg_waiting` on a socket with RCVSYN on), and closing a listener
 * that has a listen callback (`srt_close_listener`).
 *
 * `optional` marks what Atoll can do without (it has a fallback): a libsrt
 * build that lacks it still loads, and the symbol is `null` there.
 *
 * @module
 */

export const LIBSRT_SYMBOLS = {
  srt_getversion: {
    parameters: [],
    result: "u32", // uint32_t: 0x010501 for 1.5.1
  },
  srt_startup: {
    parameters: [],
    result: "i32", // int
  },
  srt_cleanup: {
    parameters: [],
    result: "i32", // int
  },
  srt_create_socket: {
    parameters: [],
    result: "i32", // SRTSOCKET
  },
  srt_bind: {
    parameters: [
      "i32", // SRTSOCKET u
      "pointer", // const struct sockaddr* name
      "i32", // int namelen
    ],
    result: "i32", // int
  },
  srt_bind_acquire: {
    parameters: [
      "i32", // SRTSOCKET u
      "i32", // UDPSOCKET sys_udp_sock: libsrt closes it with the socket
    ],
    result: "i32", // int
  },
  srt_listen: {
    parameters: [
      "i32", // SRTSOCKET u
      "i32", // int backlog
    ],
    result: "i32", // int
  },
  srt_accept: {
    parameters: [
      "i32", // SRTSOCKET u
      "pointer", // struct sockaddr* addr
      "pointer", // int* addrlen
    ],
    result: "i32", // SRTSOCKET
  },
  srt_listen_callback: {
    parameters: [
      "i32", // SRTSOCKET lsn
      "function", // srt_listen_callback_fn* hook_fn: see LISTEN_CALLBACK
      "pointer", // void* hook_opaque
    ],
    result: "i32", // int
  },
  srt_connect: {
    parameters: [
      "i32", // SRTSOCKET u
      "pointer", // const struct sockaddr* name
      "i32", // int namelen
    ],
    result: "i32", // int
  },
  srt_close: {
    parameters: [
      "i32", // SRTSOCKET u
    ],
    result: "i32", // int
  },
  /**
   * `srt_close` on a pool thread, for a listener with a listen callback
   * (`ListenHook.close()`). Closing a listener waits for the receive queue's
   * listener lock (`CRcvQueue::removeListener`, `m_LSLock`), which libsrt's
   * receive thread holds while it waits for the callback to run on the JS
   * thread: a synchronous close would wait for itself.
   */
  srt_close_listener: {
    name: "srt_close",
    parameters: [
      "i32", // SRTSOCKET u
    ],
    result: "i32", // int: the error is not readable off this thread
    nonblocking: true,
  },
  srt_getsockstate: {
    parameters: [
      "i32", // SRTSOCKET u
    ],
    result: "i32", // SRT_SOCKSTATUS
  },
  srt_setsockflag: {
    parameters: [
      "i32", // SRTSOCKET u
      "i32", // SRT_SOCKOPT opt
      "pointer", // const void* optval
      "i32", // int optlen
    ],
    result: "i32", // int
  },
  srt_getsockflag: {
    parameters: [
      "i32", // SRTSOCKET u
      "i32", // SRT_SOCKOPT opt
      "pointer", // void* optval
      "pointer", // int* optlen
    ],
    result: "i32", // int
  },
  srt_recvmsg2: {
    parameters: [
      "i32", // SRTSOCKET u
      "pointer", // char* buf
      "i32", // int len
      "pointer", // SRT_MSGCTRL* mctrl
    ],
    result: "i32", // int: bytes received, or SRT_ERROR
  },
  /**
   * srt_recvmsg on a pool thread, to wait for a message without polling: on
   * a socket with RCVSYN on and no RCVTIMEO, libsrt sleeps on a condition
   * until a message is ready or the connection ends (checking once a second),
   * where srt_epoll_uwait wakes every 10 ms.
   */
  srt_recvmsg_waiting: {
    name: "srt_recvmsg",
    parameters: [
      "i32", // SRTSOCKET u
      "pointer", // char* buf
      "i32", // int len
    ],
    result: "i32", // int: bytes received, or SRT_ERROR; the error is not readable off this thread
    nonblocking: true,
  },
  srt_sendmsg2: {
    parameters: [
      "i32", // SRTSOCKET u
      "pointer", // const char* buf
      "i32", // int len
      "pointer", // SRT_MSGCTRL* mctrl
    ],
    result: "i32", // int: bytes sent, or SRT_ERROR
  },
  srt_bstats: {
    parameters: [
      "i32", // SRTSOCKET u
      "pointer", // SRT_TRACEBSTATS* perf
      "i32", // int clear
    ],
    result: "i32", // int
  },
  srt_epoll_create: {
    parameters: [],
    result: "i32", // int: the epoll id
  },
  srt_epoll_add_usock: {
    parameters: [
      "i32", // int eid
      "i32", // SRTSOCKET u
      "pointer", // const int* events
    ],
    result: "i32", // int
  },
  srt_epoll_remove_usock: {
    parameters: [
      "i32", // int eid
      "i32", // SRTSOCKET u
    ],
    result: "i32", // int
  },
  srt_epoll_uwait: {
    parameters: [
      "i32", // int eid
      "pointer", // SRT_EPOLL_EVENT* fdsSet
      "i32", // int fdsSize
      "i64", // int64_t msTimeOut
    ],
    result: "i32", // int: ready sockets; the error is not readable off this thread
    nonblocking: true,
  },
  srt_epoll_release: {
    parameters: [
      "i32", // int eid
    ],
    result: "i32", // int
  },
  srt_getlasterror: {
    parameters: [
      "pointer", // int* errno_loc: receives the system errno behind the error
    ],
    result: "i32", // int: SRT_ERRNO
  },
  srt_getlasterror_str: {
    parameters: [],
    result: "pointer", // const char*
  },
  srt_getrejectreason: {
    parameters: [
      "i32", // SRTSOCKET sock
    ],
    result: "i32", // int: SRT_REJ_* or a code of 1000 and above
  },
  srt_setrejectreason: {
    parameters: [
      "i32", // SRTSOCKET sock
      "i32", // int value
    ],
    result: "i32", // int
  },
  srt_rejectreason_str: {
    parameters: [
      "i32", // int id
    ],
    result: "pointer", // const char*
    optional: true, // without it, a reason is printed as its number
  },
  srt_setloglevel: {
    parameters: [
      "i32", // int ll: syslog's LOG_* levels
    ],
    result: "void",
  },
} as const satisfies Deno.ForeignLibraryInterface;

/**
 * `srt_listen_callback_fn`: `int (void* opaq, SRTSOCKET ns, int hsversion,
 * const struct sockaddr* peeraddr, const char* streamid)`. libsrt calls it on
 * its receiver thread; 0 accepts, -1 rejects.
 */
export const LISTEN_CALLBACK = {
  parameters: [
    "pointer", // void* opaq
    "i32", // SRTSOCKET ns
    "i32", // int hsversion
    "pointer", // const struct sockaddr* peeraddr
    "pointer", // const char* streamid
  ],
  result: "i32", // int
} as const satisfies Deno.UnsafeCallbackDefinition;
