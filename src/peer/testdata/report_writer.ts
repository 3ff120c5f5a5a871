/**
 * A child's reporting alone, for reports_test.ts: sends `count` stats
 * reports and a closing one with report(), says on stderr how long that took
 * (as one JSON line), then flushes for at most `flushMs` and says whether
 * everything went out.
 *
 * Usage: report_writer.ts COUNT FLUSH_MS
 */

import { emptyLinkStats } from "../../ipc/messages.ts";
import { flushReports, report } from "../reports.ts";

const [count, flushMs] = Deno.args.map(Number);
const started = performance.now();
for (let i = 0; i < count!; i++) {
  report({ type: "stats", stats: { ...emptyLinkStats(), bytesSent: i } });
}
report({ type: "closed", reason: "shutdown", detail: "done", stats: null });
const reportMs = performance.now() - started;
const encoder = new TextEncoder();
Deno.stderr.writeSync(encoder.encode(`${JSON.stringify({ reportMs })}\n`));
const flushed = flushReports(flushMs!);
Deno.stderr.writeSync(encoder.encode(`${JSON.stringify({ flushed })}\n`));
