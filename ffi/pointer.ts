/**
 * Pointers to JS memory, for the FFI symbols of `ffi/libc_symbols.ts` and
 * `ffi/libsrt_symbols.ts`, whose memory parameters are all `"pointer"`.
 *
 * Why not `"buffer"`: `Deno.dlopen` builds a call trampoline for every
 * symbol in every process that loads it. For a signature of plain integers
 * and pointers Deno writes a few bytes by hand; a `"buffer"` parameter (or a
 * `u8`, `u16` or `bool` one) makes it compile one with Cranelift, about
 * 0.1 ms of CPU each. Every SRT connection is a new process that binds 67
 * symbols, 34 of them with memory parameters: that was about 2 ms of each
 * child's start (BENCHMARKS.md section 7). The price is one call here per
 * FFI call that passes memory (about 0.2 µs); a loop that passes the same
 * buffer again and again keeps its pointer instead.
 *
 * @module
 */

/** Buffers whose address was taken in the current job, kept reachable until it ends. */
const pinned: ArrayBufferLike[] = [];

function unpin(): void {
  pinned.length = 0;
}

/**
 * The address of `bytes`' first byte, or `null` for `null`.
 *
 * A pointer does not keep its memory alive: a temporary buffer could be
 * collected between this call and the FFI call that uses its address (while
 * another argument is computed, say). So the buffer stays reachable here
 * until the current job ends (the next microtask checkpoint): a synchronous
 * FFI call made in the same job is always safe. Memory that C uses after
 * that, a `nonblocking` call's buffer or a pointer kept for later calls,
 * must be kept reachable by its owner, as with any pointer.
 */
export function pointerTo(bytes: ArrayBufferView | null): Deno.PointerValue {
  if (bytes === null) return null;
  // Reading `.buffer` also moves a small typed array out of V8's heap, where
  // a collection could move it, to memory that stays where it is.
  if (pinned.push(bytes.buffer) === 1) queueMicrotask(unpin);
  return Deno.UnsafePointer.of(bytes as ArrayBufferView<ArrayBuffer>);
}

/** The memory of `nonblocking` calls in flight (see {@link settledWith}). */
const inFlight = new Set<readonly ArrayBufferView[]>();

/**
 * Waits for a `nonblocking` FFI call, keeping `memory`, what it was given
 * pointers to, reachable until the call has returned on its pool thread.
 */
export async function settledWith<T>(call: Promise<T>, ...memory: ArrayBufferView[]): Promise<T> {
  inFlight.add(memory);
  try {
    return await call;
  } finally {
    inFlight.delete(memory);
  }
}
