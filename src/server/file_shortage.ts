/**
 * Telling a shortage of file descriptors apart from other failures, in the
 * words a log line needs: which limit was hit, and its value now (read with
 * `getrlimit`, which needs no descriptor).
 *
 * @module
 */

import { fileLimit } from "../../ffi/socket.ts";
import { describeFileShortage, fileShortageOf } from "./file_budget.ts";

/**
 * `too many open files (the hard limit is N; ...)` when `error` is EMFILE or
 * ENFILE (or was caused by one); undefined for any other error.
 */
export function fileShortageText(error: unknown): string | undefined {
  const shortage = fileShortageOf(error);
  if (shortage === undefined) return undefined;
  let hard: number | undefined;
  try {
    hard = fileLimit().hard;
  } catch {
    // Not worth a second failure: the line says which limit, without its value.
  }
  return describeFileShortage(shortage, hard);
}

/** {@link fileShortageText}, or the error's own message. */
export function describeFailure(error: unknown): string {
  return fileShortageText(error) ?? (error instanceof Error ? error.message : String(error));
}
