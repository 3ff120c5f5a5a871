/**
 * What the FFI tests share: running a test body inside libsrt's startup and
 * cleanup.
 *
 * @module
 */

import { libsrt, unwrap } from "./libsrt.ts";

/** Runs `body` between srt_startup and srt_cleanup, with libsrt's own logging quiet. */
export function withSrt(body: () => void): void {
  const srt = libsrt();
  srt.srt_setloglevel(2);
  unwrap("srt_startup", srt.srt_startup());
  try {
    body();
  } finally {
    srt.srt_cleanup();
  }
}
