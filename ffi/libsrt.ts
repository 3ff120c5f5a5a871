/**
 * Loads libsrt (1.5.x, the system's unmodified build) with the symbols of
 * `ffi/libsrt_symbols.ts`, and turns its errors into {@link SrtError}s.
 *
 * libsrt keeps its last error per thread, and FFI calls marked `nonblocking`
 * run on a pool thread: read the error (with {@link lastSrtError} or
 * {@link unwrap}) right after a synchronous call, never after a nonblocking
 * one.
 *
 * @module
 */

import { LIBSRT_SYMBOLS } from "./libsrt_symbols.ts";
import { SRT_ERROR } from "./libsrt_constants.ts";
import { pointerTo } from "./pointer.ts";

export { LISTEN_CALLBACK } from "./libsrt_symbols.ts";
export * from "./libsrt_constants.ts";

export type LibSrt = Deno.DynamicLibrary<typeof LIBSRT_SYMBOLS>["symbols"];

/** The environment variable that names the libsrt file to load, and only it. */
export const LIBSRT_ENV = "ATOLL_LIBSRT";

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

/**
 * Opens libsrt with `symbols`: the file `ATOLL_LIBSRT` names if set (and
 * only it), otherwise the first of {@link LIBSRT_NAMES} that loads. Throws
 * one {@link LibSrtNotFoundError} naming everything tried.
 */
export function openLibsrt<S extends Deno.ForeignLibraryInterface>(
  symbols: S,
): Deno.DynamicLibrary<S> {
  const override = Deno.env.get(LIBSRT_ENV);
  const candidates = override ? [override] : LIBSRT_NAMES;
  const failures: string[] = [];
  for (const name of candidates) {
    try {
      return Deno.dlopen(name, symbols);
    } catch (error) {
      // Deno says "Could not open library: " twice before dlerror()'s own text.
      const message = error instanceof Error ? error.message : String(error);
      failures.push(message.replace(/^(Could not open library: )+/, ""));
    }
  }
  const hint = override
    ? `check the path in ${LIBSRT_ENV}, or unset it and install ${LIBSRT_PACKAGE}`
    : `install it (Debian/Ubuntu: apt-get install ${LIBSRT_PACKAGE}) or set ${LIBSRT_ENV} to its path`;
  throw new LibSrtNotFoundError(`Cannot load libsrt: ${hint} (tried ${failures.join("; ")})`);
}

let library: Deno.DynamicLibrary<typeof LIBSRT_SYMBOLS> | undefined;

/** Atoll's libsrt symbols, loaded on first use (see {@link openLibsrt}). */
export function libsrt(): LibSrt {
  library ??= openLibsrt(LIBSRT_SYMBOLS);
  return library.symbols;
}

/** "1.5.1" from srt_getversion()'s 0x010501. */
export function formatSrtVersion(version: number): string {
  return `${version >>> 16}.${(version >>> 8) & 0xff}.${version & 0xff}`;
}

/**
 * A failed libsrt call: the operation, libsrt's error code (`SRT_ERRNO`, see
 * `SrtErrno`), the system errno behind it (0 when none) and libsrt's message.
 */
export class SrtError extends Error {
  override name = "SrtError";
  readonly op: string;
  readonly code: number;
  readonly errno: number;
  constructor(op: string, code: number, message: string, errno = 0) {
    const system = errno === 0 ? "" : `, errno ${errno}`;
    super(`${op} failed: ${message} (SRT error ${code}${system})`);
    this.op = op;
    this.code = code;
    this.errno = errno;
  }
}

/**
 * The calling thread's last libsrt error, as an {@link SrtError} for `op`.
 * Call it right after the synchronous call that failed: a nonblocking call's
 * error stays on the pool thread that ran it.
 */
export function lastSrtError(op: string): SrtError {
  const srt = libsrt();
  const errno = new Int32Array(1);
  const code = srt.srt_getlasterror(pointerTo(errno));
  const text = srt.srt_getlasterror_str();
  const message = text === null ? "unknown error" : Deno.UnsafePointerView.getCString(text);
  return new SrtError(op, code, message, errno[0]);
}

/** Returns `result`, or throws the last libsrt error when it is SRT_ERROR (-1). */
export function unwrap(op: string, result: number): number {
  if (result === SRT_ERROR) throw lastSrtError(op);
  return result;
}

/** The text libsrt gives a reject reason, e.g. 10 → "Password required or unexpected". */
export function rejectReasonText(code: number): string {
  const text = libsrt().srt_rejectreason_str?.(code) ?? null;
  return text === null ? `reject reason ${code}` : Deno.UnsafePointerView.getCString(text);
}
