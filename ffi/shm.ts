/**
 * Shared memory between Atoll's processes: an anonymous memory file
 * (`memfd_create`) that the main process creates and hands to children as a
 * file descriptor, mapped with `mmap(MAP_SHARED)` in each of them, and a
 * futex on a 32-bit word inside it so that readers can sleep until a writer
 * in another process wakes them.
 *
 * Thin wrappers only: what lives in the memory is `src/media/stream_buffer.ts`'s
 * business.
 *
 * @module
 */

import {
  check,
  FUTEX_WAIT,
  FUTEX_WAKE,
  libc,
  MAP_FAILED,
  MAP_SHARED,
  MFD_CLOEXEC,
  PROT_READ,
  PROT_WRITE,
  STAT_BYTES,
  STAT_SIZE_OFFSET,
  SYS_FUTEX,
  systemError,
  TIMESPEC,
} from "./libc.ts";
import { OwnedFd } from "./owned_fd.ts";
import { pointerTo, settledWith } from "./pointer.ts";

const encoder = new TextEncoder();
const INT32_MAX = 0x7fff_ffff;

/**
 * Creates an anonymous memory file of `bytes` zero bytes and returns its fd.
 * The fd is close-on-exec: clear the flag (`setCloseOnExec` in
 * `ffi/socket.ts`) for a child meant to inherit it, or send it with
 * `sendWithFd`. `name` only shows in `/proc/PID/fd` and `/proc/PID/maps`.
 */
export function createSharedMemory(name: string, bytes: number): OwnedFd {
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new RangeError(`Cannot create shared memory "${name}": invalid size ${bytes}`);
  }
  using memory = new OwnedFd(
    check("memfd_create", libc().memfd_create(pointerTo(encoder.encode(`${name}\0`)), MFD_CLOEXEC)),
  );
  check("ftruncate", libc().ftruncate(memory.fd, BigInt(bytes)));
  return memory.take();
}

/** The size of the file behind `fd`, from `fstat`. */
export function sharedMemorySize(fd: number): number {
  const stat = new Uint8Array(STAT_BYTES);
  check("fstat", libc().fstat(fd, pointerTo(stat)));
  return Number(new DataView(stat.buffer).getBigInt64(STAT_SIZE_OFFSET, true));
}

/** Unmaps what the garbage collector found unreachable without `close()`. */
const unmapLeaked = new FinalizationRegistry<{ address: bigint; bytes: number }>(
  ({ address, bytes }) => {
    libc().munmap(Deno.UnsafePointer.create(address), BigInt(bytes));
  },
);

/**
 * A read-write `MAP_SHARED` mapping of a shared memory fd. Every process that
 * maps the same memory file sees the others' writes.
 *
 * `buffer` is an `ArrayBuffer` over the mapped pages, not a copy. `close()`
 * detaches it before unmapping, so views created over it become empty and
 * `Atomics` on them throw instead of touching unmapped memory; do not keep
 * other pointers into it, and settle pending {@link futexWait}s first.
 * Closing the mapping does not close the fd.
 */
export class SharedMapping {
  // Kept referenced for as long as the mapping lives: `buffer` points into it.
  #pointer: Deno.PointerObject | null;
  #buffer: ArrayBuffer;
  readonly bytes: number;

  private constructor(pointer: Deno.PointerObject, bytes: number) {
    this.#pointer = pointer;
    this.bytes = bytes;
    this.#buffer = Deno.UnsafePointerView.getArrayBuffer(pointer, bytes);
    const address = BigInt(Deno.UnsafePointer.value(pointer));
    // Held by the buffer: views over it keep the pages mapped.
    unmapLeaked.register(this.#buffer, { address, bytes }, this);
  }

  /**
   * Maps the first `bytes` of the memory file behind `fd` (all of it by
   * default). Mapping past the end of the file would kill the process with
   * SIGBUS on first access, so that is refused.
   */
  static map(fd: number, bytes?: number): SharedMapping {
    const size = sharedMemorySize(fd);
    const length = bytes ?? size;
    if (!Number.isSafeInteger(length) || length <= 0 || length > size) {
      throw new RangeError(`Cannot map ${length} bytes of fd ${fd}: the memory file has ${size}`);
    }
    const pointer = libc().mmap(null, BigInt(length), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0n);
    if (
      pointer === null ||
      BigInt.asUintN(64, BigInt(Deno.UnsafePointer.value(pointer))) === MAP_FAILED
    ) {
      throw systemError("mmap");
    }
    return new SharedMapping(pointer, length);
  }

  /** The mapped memory. Throws once the mapping is closed. */
  get buffer(): ArrayBuffer {
    if (this.#pointer === null) throw new TypeError("Shared mapping is closed");
    return this.#buffer;
  }

  /** The address of byte `offset`, for calls that take a pointer. Throws once closed. */
  pointerTo(offset: number): Deno.PointerValue {
    if (this.#pointer === null) throw new TypeError("Shared mapping is closed");
    if (!Number.isSafeInteger(offset) || offset < 0 || offset >= this.bytes) {
      throw new RangeError(`Offset ${offset} is outside the ${this.bytes}-byte mapping`);
    }
    return Deno.UnsafePointer.offset(this.#pointer, offset);
  }

  get closed(): boolean {
    return this.#pointer === null;
  }

  /** Detaches `buffer` and unmaps the memory. Safe to call twice. */
  close(): void {
    const pointer = this.#pointer;
    if (pointer === null) return;
    this.#pointer = null;
    unmapLeaked.unregister(this);
    // transfer(0) detaches without copying the mapped bytes.
    this.#buffer.transfer(0);
    check("munmap", libc().munmap(pointer, BigInt(this.bytes)));
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function futexWord(mapping: SharedMapping, offset: number): Deno.PointerValue {
  if (offset % 4 !== 0 || offset + 4 > mapping.bytes) {
    throw new RangeError(`Futex word at ${offset} is not an aligned word of the mapping`);
  }
  return mapping.pointerTo(offset);
}

export interface FutexWaitOptions {
  /** Sleep only while the word still holds this value (as an int32). */
  expected: number;
  /** Upper bound on the sleep; finite, so a pool thread is never held forever. */
  timeoutMs: number;
}

/**
 * Sleeps until the 32-bit word at `offset` of `mapping` is woken by
 * {@link futexWake} (from any process mapping the same memory), at most
 * `timeoutMs`. Returns at once when the word no longer holds `expected`.
 *
 * The call blocks a thread of Deno's pool, never the JS thread. errno belongs
 * to that thread, so only the result tells what happened: `true` when woken
 * (spurious wakeups included), `false` when the word differed, the timeout
 * passed or a signal interrupted. Either way, re-check the memory.
 */
export async function futexWait(
  mapping: SharedMapping,
  offset: number,
  options: FutexWaitOptions,
): Promise<boolean> {
  const { expected, timeoutMs } = options;
  if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
    throw new RangeError(`Futex wait needs a finite timeout, got ${timeoutMs}`);
  }
  const word = futexWord(mapping, offset);
  const timeout = timespec(timeoutMs);
  // The word lives as long as the mapping; the timeout is kept until the call returns.
  const result = await settledWith(
    libc().futex_wait(BigInt(SYS_FUTEX), word, FUTEX_WAIT, expected | 0, pointerTo(timeout)),
    timeout,
  );
  return Number(result) === 0;
}

/** `struct timespec { time_t tv_sec; long tv_nsec; }` for a relative FUTEX_WAIT timeout. */
function timespec(timeoutMs: number): Uint8Array<ArrayBuffer> {
  const wholeMs = Math.floor(timeoutMs);
  const timeout = new Uint8Array(TIMESPEC.size);
  const view = new DataView(timeout.buffer);
  view.setBigInt64(TIMESPEC.offsets.tv_sec, BigInt(Math.floor(wholeMs / 1000)), true);
  const nanoseconds = (wholeMs % 1000) * 1_000_000 + Math.round((timeoutMs - wholeMs) * 1_000_000);
  view.setBigInt64(TIMESPEC.offsets.tv_nsec, BigInt(nanoseconds), true);
  return timeout;
}

/**
 * {@link futexWait} on the JS thread: blocks this thread (timers, I/O and
 * signal handlers wait too) until woken or `timeoutMs` passed, and saves
 * the hand-off to a pool thread and back that an awaited wait costs on
 * every wakeup. For a loop whose only job is to follow the buffer, with a
 * short timeout so the event loop still gets its turn.
 */
export function futexWaitNow(
  mapping: SharedMapping,
  offset: number,
  options: FutexWaitOptions,
): boolean {
  const { expected, timeoutMs } = options;
  if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
    throw new RangeError(`Futex wait needs a finite timeout, got ${timeoutMs}`);
  }
  const result = libc().futex_wait_now(
    BigInt(SYS_FUTEX),
    futexWord(mapping, offset),
    FUTEX_WAIT,
    expected | 0,
    pointerTo(timespec(timeoutMs)),
  );
  return Number(result) === 0;
}

export interface FutexWakeOptions {
  /** How many waiters to wake; all of them by default. */
  count?: number;
}

/** Wakes waiters on the 32-bit word at `offset` of `mapping`; returns how many woke. */
export function futexWake(
  mapping: SharedMapping,
  offset: number,
  options: FutexWakeOptions = {},
): number {
  const count = options.count ?? INT32_MAX;
  const word = futexWord(mapping, offset);
  return Number(
    check("futex(FUTEX_WAKE)", libc().futex_wake(BigInt(SYS_FUTEX), word, FUTEX_WAKE, count)),
  );
}
