/**
 * Socket plumbing for the handoff: the per-peer connected UDP socket, the
 * Unix socket pair between the main process and a child, and file
 * descriptors carried over it with SCM_RIGHTS.
 *
 * What opens or receives an fd returns an {@link OwnedFd}, whose holder
 * closes it; what only uses one takes its number.
 *
 * @module
 */

import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  check,
  CMSG_LEN_FD,
  CMSG_SPACE_FD,
  CMSGHDR,
  EINTR,
  errno,
  F_GETFD,
  F_SETFD,
  FD_CLOEXEC,
  IOVEC,
  IPPROTO_IPV6,
  IPV6_V6ONLY,
  libc,
  MSG_CMSG_CLOEXEC,
  MSG_DONTWAIT,
  MSGHDR,
  NI_NUMERICHOST,
  NI_NUMERICSERV,
  POLLFD,
  POLLIN,
  RLIMIT,
  RLIMIT_NOFILE,
  SCM_RIGHTS,
  SHUT_RDWR,
  SO_ACCEPTCONN,
  SO_PEERCRED,
  SO_REUSEADDR,
  SO_REUSEPORT,
  SO_SNDBUF,
  SO_TYPE,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_SEQPACKET,
  SOCK_STREAM,
  SOCKADDR_IN,
  SOCKADDR_IN6,
  SOL_SOCKET,
  systemError,
} from "./libc.ts";
import { OwnedFd } from "./owned_fd.ts";
import { pointerTo } from "./pointer.ts";

/** An IP endpoint as text, the way Deno reports addresses. */
export interface Endpoint {
  hostname: string;
  port: number;
}

const encoder = new TextEncoder();

function cString(text: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(`${text}\0`);
}

/**
 * Encodes `sockaddr_in` (16 bytes) or `sockaddr_in6` (28 bytes).
 * With `family` AF_INET6 an IPv4 hostname becomes its v4-mapped form, as a
 * dual-stack socket sees it.
 */
export function encodeSockaddr(
  endpoint: Endpoint,
  family = endpoint.hostname.includes(":") ? AF_INET6 : AF_INET,
): Uint8Array<ArrayBuffer> {
  let host = endpoint.hostname.replace(/^\[|\]$/g, "");
  if (family === AF_INET6 && !host.includes(":")) host = `::ffff:${host}`;
  const layout = family === AF_INET6
    ? {
      size: SOCKADDR_IN6.size,
      port: SOCKADDR_IN6.offsets.sin6_port,
      address: SOCKADDR_IN6.offsets.sin6_addr,
    }
    : {
      size: SOCKADDR_IN.size,
      port: SOCKADDR_IN.offsets.sin_port,
      address: SOCKADDR_IN.offsets.sin_addr,
    };
  const out = new Uint8Array(layout.size);
  const view = new DataView(out.buffer);
  view.setUint16(0, family, true); // sin_family, sin6_family
  view.setUint16(layout.port, endpoint.port, false);
  const address = out.subarray(layout.address);
  if (libc().inet_pton(family, pointerTo(cString(host)), pointerTo(address)) !== 1) {
    throw new TypeError(`Cannot parse IP address "${endpoint.hostname}"`);
  }
  return out;
}

/**
 * The numeric host and port of a `sockaddr` as libc's `getnameinfo` prints
 * them: libsrt hashes exactly this text into its SYN cookie.
 */
export function nameOf(sockaddr: Uint8Array<ArrayBuffer>): Endpoint {
  const host = new Uint8Array(64);
  const service = new Uint8Array(16);
  const status = libc().getnameinfo(
    pointerTo(sockaddr),
    sockaddr.byteLength,
    pointerTo(host),
    host.byteLength,
    pointerTo(service),
    service.byteLength,
    NI_NUMERICHOST | NI_NUMERICSERV,
  );
  if (status !== 0) throw new TypeError(`Cannot print socket address: getnameinfo error ${status}`);
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes.subarray(0, bytes.indexOf(0)));
  return { hostname: text(host), port: Number(text(service)) };
}

function setIntOption(fd: number, level: number, name: number, value: number, op: string): void {
  const buffer = new Int32Array([value]);
  check(op, libc().setsockopt(fd, level, name, pointerTo(buffer), buffer.byteLength));
}

/**
 * A UDP socket bound to `local` (shared with the listener through
 * SO_REUSEADDR + SO_REUSEPORT) and connected to `peer`: from now on the
 * kernel delivers the peer's datagrams to this socket only. Close-on-exec,
 * blocking (libsrt expects that).
 */
export function openConnectedUdpSocket(local: Endpoint, peer: Endpoint): OwnedFd {
  const family = local.hostname.includes(":") ? AF_INET6 : AF_INET;
  using socket = new OwnedFd(check("socket", libc().socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0)));
  const fd = socket.fd;
  setIntOption(fd, SOL_SOCKET, SO_REUSEADDR, 1, "setsockopt(SO_REUSEADDR)");
  setIntOption(fd, SOL_SOCKET, SO_REUSEPORT, 1, "setsockopt(SO_REUSEPORT)");
  if (family === AF_INET6) setIntOption(fd, IPPROTO_IPV6, IPV6_V6ONLY, 0, "setsockopt(V6ONLY)");
  const localAddress = encodeSockaddr(local, family);
  check("bind", libc().bind(fd, pointerTo(localAddress), localAddress.byteLength));
  const peerAddress = encodeSockaddr(peer, family);
  check("connect", libc().connect(fd, pointerTo(peerAddress), peerAddress.byteLength));
  return socket.take();
}

/** A datagram and where it came from. */
export interface QueuedDatagram {
  bytes: Uint8Array<ArrayBuffer>;
  from: Endpoint;
}

/**
 * Takes every datagram already queued on `fd`, without blocking. Between a
 * new socket's bind() and its connect(), the kernel may deliver datagrams
 * from any source to it; they stay queued after connect() and must be given
 * back to the listener's classifier, or another caller's handshake is lost.
 */
export function takeQueuedDatagrams(fd: number, limit = 256): QueuedDatagram[] {
  const taken: QueuedDatagram[] = [];
  const buffer = new Uint8Array(2048);
  const address = new Uint8Array(SOCKADDR_IN6.size);
  const addressLength = new Uint32Array(1);
  const bufferLength = BigInt(buffer.byteLength);
  while (taken.length < limit) {
    addressLength[0] = address.byteLength;
    const received = Number(
      libc().recvfrom(
        fd,
        pointerTo(buffer),
        bufferLength,
        MSG_DONTWAIT,
        pointerTo(address),
        pointerTo(addressLength),
      ),
    );
    if (received < 0) break; // EAGAIN: nothing more queued
    const from = nameOf(address.slice(0, addressLength[0]!));
    taken.push({ bytes: buffer.slice(0, received), from });
  }
  return taken;
}

/** A close-on-exec `SOCK_SEQPACKET` Unix socket pair. */
export function openSocketPair(): [OwnedFd, OwnedFd] {
  const fds = new Int32Array(2);
  check(
    "socketpair",
    libc().socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pointerTo(fds)),
  );
  return [new OwnedFd(fds[0]!), new OwnedFd(fds[1]!)];
}

/** The longest path a `sockaddr_un` holds, without its NUL. */
export const UNIX_PATH_MAX = 107;

/** `struct sockaddr_un` for `path`: the family, then the path and its NUL. */
function unixAddress(path: string): Uint8Array<ArrayBuffer> {
  const bytes = new TextEncoder().encode(path);
  if (bytes.byteLength > UNIX_PATH_MAX) {
    throw new RangeError(
      `Unix socket path too long: ${bytes.byteLength} bytes, at most ${UNIX_PATH_MAX}: ${path}`,
    );
  }
  const address = new Uint8Array(2 + bytes.byteLength + 1);
  new DataView(address.buffer).setUint16(0, AF_UNIX, true);
  address.set(bytes, 2);
  return address;
}

/**
 * A close-on-exec Unix stream socket bound at `path` (which must not exist)
 * and listening: an orphaned child waits there for a main process to adopt
 * it (src/peer/adoption.ts).
 */
export function listenUnix(path: string, backlog = 4): OwnedFd {
  const socket = new OwnedFd(
    check("socket", libc().socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)),
  );
  try {
    const address = unixAddress(path);
    check("bind", libc().bind(socket.fd, pointerTo(address), address.byteLength));
    check("listen", libc().listen(socket.fd, backlog));
  } catch (error) {
    socket.close();
    throw error;
  }
  return socket;
}

/** Who is at the other end of a Unix socket: its process and user, as the kernel saw them. */
export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

/**
 * The credentials of a connected Unix socket's peer (`SO_PEERCRED`): for an
 * accepted socket, the process that connected; for a connecting one, the
 * process that was listening.
 */
export function peerCredentials(fd: number): PeerCredentials {
  const ucred = new Uint8Array(12);
  const length = new Uint32Array([ucred.byteLength]);
  check(
    "getsockopt(SO_PEERCRED)",
    libc().getsockopt(fd, SOL_SOCKET, SO_PEERCRED, pointerTo(ucred), pointerTo(length)),
  );
  const view = new DataView(ucred.buffer);
  return {
    pid: view.getInt32(0, true),
    uid: view.getUint32(4, true),
    gid: view.getUint32(8, true),
  };
}

/**
 * Which process listens on the Unix stream socket at `path`: connects,
 * reads the listener's credentials, and hangs up. Throws the connect's
 * error (`ECONNREFUSED` when nobody listens there any more).
 */
export function listenerOf(path: string): PeerCredentials {
  using socket = new OwnedFd(
    check("socket", libc().socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)),
  );
  const address = unixAddress(path);
  check(`connect ${path}`, libc().connect(socket.fd, pointerTo(address), address.byteLength));
  return peerCredentials(socket.fd);
}

/**
 * Waits (off the JS thread) for the next connection on a listening socket,
 * and returns it close-on-exec; null when accept failed. Closing the
 * listener does not wake a waiting accept on Linux: the process exits with
 * it pending.
 */
export async function acceptUnix(listener: number): Promise<OwnedFd | null> {
  const fd = await libc().accept4(listener, null, null, SOCK_CLOEXEC);
  return fd < 0 ? null : new OwnedFd(fd);
}

/**
 * Shuts both directions of a connected socket down: a read waiting on it
 * (off the JS thread) returns as at the end, so its fd can then be closed
 * safely (closing alone wakes no waiting call, and the number could be
 * reused under it).
 */
export function shutdownSocket(fd: number): void {
  libc().shutdown(fd, SHUT_RDWR);
}

/** Sets or clears FD_CLOEXEC: a spawned child inherits exactly the fds without it. */
export function setCloseOnExec(fd: number, closeOnExec: boolean): void {
  const flags = check("fcntl(F_GETFD)", libc().fcntl(fd, F_GETFD, 0));
  const next = closeOnExec ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC;
  check("fcntl(F_SETFD)", libc().fcntl(fd, F_SETFD, next));
}

/**
 * Marks every open fd above stderr close-on-exec, so that whatever this
 * process inherited from its own parent (a shell's pipes, a supervisor's
 * sockets) is not passed on to its children.
 */
export function closeOnExecAbove(lowestFd = 3): void {
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    const fd = Number(entry.name);
    if (fd < lowestFd) continue;
    try {
      setCloseOnExec(fd, true);
    } catch {
      // The directory listing's own fd, closed by now.
    }
  }
}

function intOption(fd: number, level: number, name: number): number | undefined {
  const value = new Int32Array(1);
  const length = new Uint32Array([4]);
  const status = libc().getsockopt(fd, level, name, pointerTo(value), pointerTo(length));
  return status === 0 ? value[0] : undefined;
}

/** The port a socket is bound to, from `getsockname`; undefined when it has none. */
function boundPort(fd: number): number | undefined {
  const address = new Uint8Array(SOCKADDR_IN6.size);
  const length = new Uint32Array([address.byteLength]);
  if (libc().getsockname(fd, pointerTo(address), pointerTo(length)) !== 0) return undefined;
  const family = new DataView(address.buffer).getUint16(0, true);
  if (family !== AF_INET && family !== AF_INET6) return undefined;
  // sin_port and sin6_port are both at byte 2, big-endian.
  return new DataView(address.buffer).getUint16(SOCKADDR_IN.offsets.sin_port, false);
}

/**
 * Sets the kernel send buffer (SO_SNDBUF, which the kernel doubles) of
 * this process's listening TCP socket on `port`, and so of every
 * connection it accepts from then on: they inherit it, and the kernel no
 * longer grows it (up to 4 MB by default). A Deno listener does not give
 * its fd, so it is found among this process's descriptors, asked one by
 * one from 3 up (reading /proc/self/fd would need every permission).
 * Returns the fd, or undefined when no such listener is open.
 */
export function limitAcceptedSendBuffer(port: number, bytes: number): number | undefined {
  const limit = Math.min(fileLimit().soft, 1 << 16);
  for (let fd = 3; fd < limit; fd++) {
    // Not a socket, or not open: no type.
    if (intOption(fd, SOL_SOCKET, SO_TYPE) !== SOCK_STREAM) continue;
    if (intOption(fd, SOL_SOCKET, SO_ACCEPTCONN) !== 1 || boundPort(fd) !== port) continue;
    setIntOption(fd, SOL_SOCKET, SO_SNDBUF, bytes, "setsockopt(SO_SNDBUF)");
    return fd;
  }
  return undefined;
}

/** The kernel send buffer of socket `fd`, in bytes (what SO_SNDBUF reads: twice what was set). */
export function sendBufferSize(fd: number): number | undefined {
  return intOption(fd, SOL_SOCKET, SO_SNDBUF);
}

/** Sends one datagram on a connected socket without blocking. */
export function sendDatagram(fd: number, bytes: Uint8Array<ArrayBuffer>): void {
  check("send", libc().send(fd, pointerTo(bytes), BigInt(bytes.byteLength), MSG_DONTWAIT));
}

function address(buffer: Uint8Array<ArrayBuffer>): bigint {
  return BigInt(Deno.UnsafePointer.value(pointerTo(buffer)));
}

/**
 * `struct msghdr` pointing at one payload buffer and a control buffer; the
 * buffers are kept on the returned object so they outlive the call.
 */
function messageHeader(payload: Uint8Array<ArrayBuffer>, control: Uint8Array<ArrayBuffer>) {
  const iov = new Uint8Array(IOVEC.size);
  const iovView = new DataView(iov.buffer);
  iovView.setBigUint64(IOVEC.offsets.iov_base, address(payload), true);
  iovView.setBigUint64(IOVEC.offsets.iov_len, BigInt(payload.byteLength), true);
  const header = new Uint8Array(MSGHDR.size);
  const view = new DataView(header.buffer);
  view.setBigUint64(MSGHDR.offsets.msg_iov, address(iov), true);
  view.setBigUint64(MSGHDR.offsets.msg_iovlen, 1n, true);
  view.setBigUint64(MSGHDR.offsets.msg_control, address(control), true);
  view.setBigUint64(MSGHDR.offsets.msg_controllen, BigInt(control.byteLength), true);
  return { header, view, iov, payload, control };
}

/** Sends `payload` as one SEQPACKET message, with `fd` attached (SCM_RIGHTS) if given. */
export function sendMessage(
  socket: number,
  payload: Uint8Array<ArrayBuffer>,
  fd?: number,
): void {
  const control = new Uint8Array(fd === undefined ? 0 : CMSG_SPACE_FD);
  if (fd !== undefined) {
    const cmsg = new DataView(control.buffer);
    cmsg.setBigUint64(CMSGHDR.offsets.cmsg_len, BigInt(CMSG_LEN_FD), true);
    cmsg.setInt32(CMSGHDR.offsets.cmsg_level, SOL_SOCKET, true);
    cmsg.setInt32(CMSGHDR.offsets.cmsg_type, SCM_RIGHTS, true);
    cmsg.setInt32(CMSGHDR.size, fd, true); // CMSG_DATA
  }
  const message = messageHeader(payload, control);
  if (fd === undefined) message.view.setBigUint64(MSGHDR.offsets.msg_control, 0n, true);
  const sent = libc().sendmsg(socket, pointerTo(message.header), MSG_DONTWAIT);
  if (sent < 0) throw systemError("sendmsg");
  if (Number(sent) !== payload.byteLength) {
    throw new Error(`sendmsg sent ${sent} of ${payload.byteLength} bytes`);
  }
}

/** Sends `payload` with `fd` attached (SCM_RIGHTS) as one SEQPACKET message. */
export function sendWithFd(socket: number, payload: Uint8Array<ArrayBuffer>, fd: number): void {
  sendMessage(socket, payload, fd);
}

/** A received message: its bytes, and the fd it carried if any, now the receiver's to close. */
export interface FdMessage {
  payload: Uint8Array<ArrayBuffer>;
  fd: OwnedFd | undefined;
}

/**
 * Waits (off the JS thread) for one message on a SEQPACKET socket.
 * Resolves `null` when the other end has closed. Received fds are
 * close-on-exec.
 */
export async function receiveWithFd(socket: number, maxBytes = 65536): Promise<FdMessage | null> {
  const payload = new Uint8Array(maxBytes);
  const control = new Uint8Array(CMSG_SPACE_FD);
  const message = messageHeader(payload, control);
  // errno of a nonblocking call belongs to a pool thread and cannot be read
  // here. EINTR is the one failure a healthy pair can see: retry a few times.
  let received = -1;
  for (let attempt = 0; attempt < 3 && received < 0; attempt++) {
    // `message` keeps the header and the buffers it points at until the call ends.
    received = Number(await libc().recvmsg(socket, pointerTo(message.header), MSG_CMSG_CLOEXEC));
  }
  if (received < 0) throw new Error(`recvmsg failed on control socket ${socket}`);
  if (received === 0) return null;
  return { payload: payload.slice(0, received), fd: attachedFd(message.view, control) };
}

/** The fd an SCM_RIGHTS control message carried, if any. */
function attachedFd(header: DataView, control: Uint8Array<ArrayBuffer>): OwnedFd | undefined {
  const controlLength = Number(header.getBigUint64(MSGHDR.offsets.msg_controllen, true));
  const cmsg = new DataView(control.buffer);
  if (
    controlLength >= CMSG_LEN_FD &&
    cmsg.getInt32(CMSGHDR.offsets.cmsg_level, true) === SOL_SOCKET &&
    cmsg.getInt32(CMSGHDR.offsets.cmsg_type, true) === SCM_RIGHTS
  ) {
    return new OwnedFd(cmsg.getInt32(CMSGHDR.size, true)); // CMSG_DATA
  }
  return undefined;
}

/**
 * Waits on the JS thread, at most `timeoutMs`, for one message on a
 * SEQPACKET socket: for a child that must answer libsrt's listen callback
 * before it returns. Resolves like {@link receiveWithFd}, or `"timeout"`.
 */
export function receiveWithFdNow(
  socket: number,
  timeoutMs: number,
  maxBytes = 65536,
): FdMessage | null | "timeout" {
  const pollfd = new Uint8Array(POLLFD.size);
  const view = new DataView(pollfd.buffer);
  view.setInt32(POLLFD.offsets.fd, socket, true);
  view.setInt16(POLLFD.offsets.events, POLLIN, true);
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const left = Math.max(0, Math.ceil(deadline - performance.now()));
    const ready = libc().poll(pointerTo(pollfd), 1n, Math.min(left, 2 ** 31 - 1));
    if (ready > 0) break;
    if (ready < 0 && errno() !== EINTR) throw systemError("poll");
    if (ready === 0 && left === 0) return "timeout";
  }
  const payload = new Uint8Array(maxBytes);
  const control = new Uint8Array(CMSG_SPACE_FD);
  const message = messageHeader(payload, control);
  const received = Number(
    libc().recvmsg_now(socket, pointerTo(message.header), MSG_CMSG_CLOEXEC | MSG_DONTWAIT),
  );
  if (received < 0) throw systemError("recvmsg");
  if (received === 0) return null;
  return { payload: payload.slice(0, received), fd: attachedFd(message.view, control) };
}

/** This process's open-file limits. */
export interface FileLimit {
  soft: number;
  hard: number;
}

function readFileLimit(): { limit: BigUint64Array<ArrayBuffer>; current: FileLimit } {
  const limit = new BigUint64Array(RLIMIT.size / 8); // struct rlimit { rlim_t rlim_cur, rlim_max; }
  check("getrlimit", libc().getrlimit(RLIMIT_NOFILE, pointerTo(limit)));
  const clamp = (value: bigint) => Number(value > BigInt(2 ** 31) ? BigInt(2 ** 31) : value);
  return { limit, current: { soft: clamp(limit[0]!), hard: clamp(limit[1]!) } };
}

/**
 * This process's limits on open files, now. `getrlimit` needs no
 * descriptor, so this works when they have run out.
 */
export function fileLimit(): FileLimit {
  return readFileLimit().current;
}

/**
 * Raises the soft limit on open files to the hard one, and returns the
 * limits now in force. Only the hard limit counts: an unprivileged process
 * may raise its soft limit up to it at any time, and Deno itself does so at
 * startup today (this does not depend on that). A refused `setrlimit`
 * leaves the limits as they were.
 */
export function raiseFileLimit(): FileLimit {
  const { limit, current } = readFileLimit();
  if (current.soft >= current.hard) return current;
  limit[0] = limit[1]!;
  if (libc().setrlimit(RLIMIT_NOFILE, pointerTo(limit)) !== 0) return current;
  return readFileLimit().current;
}
