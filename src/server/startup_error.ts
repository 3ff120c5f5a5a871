/**
 * The one error class callers are expected to catch when starting a server.
 *
 * @module
 */

/** A startup failure a user can fix: bad address, port in use, libsrt missing. */
export class StartupError extends Error {
  override name = "StartupError";
}

/** The error for a failed bind: `Cannot listen for SRT on 0.0.0.0:9000: address already in use`. */
export function bindError(what: string, where: string, error: unknown): StartupError {
  const reason = error instanceof Deno.errors.AddrInUse
    ? "address already in use"
    : error instanceof Error
    ? error.message
    : String(error);
  return new StartupError(`Cannot listen for ${what} on ${where}: ${reason}`);
}
