/**
 * Helpers that the option rules, the command line and the config file share
 * to check values and to say, in an error message, what was wrong with one.
 * Pure.
 *
 * @module
 */

/**
 * Describes a value for an error message; a secret is described by its
 * length only.
 */
export function describeValue(value: unknown, secret = false): string {
  if (typeof value === "string") {
    return secret ? describeSecret(value) : JSON.stringify(value);
  }
  if (typeof value === "bigint") return `${value}n`;
  if (value === null || typeof value !== "object") return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** A secret as an error message may show it: by its length only. */
export function describeSecret(value: string): string {
  return `a string of ${utf8Length(value)} bytes`;
}

export function utf8Length(text: string): number {
  return new TextEncoder().encode(text).length;
}

/** The known key closest to `key`, ignoring case, when close enough to be a typo. */
export function nearestKey(key: string, known: readonly string[]): string | undefined {
  let nearest: string | undefined;
  let nearestDistance = Math.max(1, Math.floor(key.length / 3)) + 1;
  for (const candidate of known) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (distance < nearestDistance) {
      nearest = candidate;
      nearestDistance = distance;
    }
  }
  return nearest;
}

/** Levenshtein distance. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** The message of anything thrown. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
