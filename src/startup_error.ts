/**
 * The one error class callers are expected to catch when starting a server.
 *
 * @module
 */

/** A startup failure a user can fix: bad address, port in use, libsrt missing. */
export class StartupError extends Error {
  override name = "StartupError";
}
