/**
 * Logging for the main process: LogTape, human-readable text by default or
 * JSON lines, written to stderr. Children do not log themselves: they send
 * `log` messages that the main process writes here, tagged with their
 * connection.
 *
 * @module
 */

// Full specifier, not the import map: projects that embed Atoll do not have its deno.json.
import {
  configure,
  getLogger,
  getTextFormatter,
  jsonLinesFormatter,
  type Logger,
  type LogRecord,
  reset,
  // deno-lint-ignore no-import-prefix
} from "npm:@logtape/logtape@^2.4.2";
import type { LogFormat, LogLevel } from "../config/options.ts";

export type { Logger };

const encoder = new TextEncoder();

/** Text lines with strings shown bare (`peer 127.0.0.1:5000`, not `peer "127.0.0.1:5000"`). */
const textFormatter = getTextFormatter({ timestamp: "date-time-tz", value: "bare" });

/** Routes every `atoll` logger to stderr at `level` and above. */
export async function setupLogging(level: LogLevel, format: LogFormat): Promise<void> {
  const formatter = format === "json" ? jsonLinesFormatter : textFormatter;
  await configure({
    reset: true,
    sinks: {
      stderr: (record: LogRecord) => {
        Deno.stderr.writeSync(encoder.encode(formatter(record)));
      },
    },
    loggers: [
      { category: ["atoll"], lowestLevel: level, sinks: ["stderr"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
}

/** Undoes {@link setupLogging} (tests, embedding). */
export async function resetLogging(): Promise<void> {
  await reset();
}

/** A logger under the `atoll` category. */
export function logger(...category: string[]): Logger {
  return getLogger(["atoll", ...category]);
}
