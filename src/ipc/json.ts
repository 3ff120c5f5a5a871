/**
 * What every message parser between Atoll's processes needs: a line of
 * JSON that must be an object, the one-line error for a message that is not
 * valid, and the small shape checks they share. Pure.
 *
 * @module
 */

export type Json = Record<string, unknown>;

/** Whether `value` is a plain JSON object (not null, not an array). */
export function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Parses `text` as a JSON object; a TypeError naming `what` when it is not one. */
export function parseJson(text: string, what: string): Json {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new TypeError(`Invalid ${what}: not JSON: ${text.slice(0, 80)}`);
  }
  if (!isObject(value)) throw new TypeError(`Invalid ${what}: not an object`);
  return value;
}

/** The error for a `what` that parsed but is not a valid one, quoting the start of it. */
export function invalid(what: string, value: Json): TypeError {
  return new TypeError(`Invalid ${what}: ${JSON.stringify(value).slice(0, 120)}`);
}

/** Whether `value` is a count: a safe integer, 0 or more. */
export function isCount(value: unknown): boolean {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}
