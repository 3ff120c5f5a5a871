/**
 * For tests: every log record under the `atoll` category, captured for the
 * duration of a body, with Atoll's logging reset afterwards.
 *
 * @module
 */

import { configure, type LogRecord, reset } from "@logtape/logtape";

/** Runs `body` with every `atoll` log record collected into the array it gets. */
export async function capturingLogs(body: (records: LogRecord[]) => Promise<void>): Promise<void> {
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { capture: (record: LogRecord) => records.push(record) },
    loggers: [
      { category: ["atoll"], lowestLevel: "debug", sinks: ["capture"] },
      { category: ["logtape", "meta"], lowestLevel: "error", sinks: [] },
    ],
  });
  try {
    await body(records);
  } finally {
    await reset();
  }
}
