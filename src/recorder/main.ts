/**
 * A recorder process: `deno run … workers/recorder.ts --control-fd N` (or
 * the compiled binary's internal subcommand). One per recorded stream,
 * started and supervised by the main process
 * (src/server/recorder_supervisor.ts), which sends it the stream's buffer
 * and its settings over the socket pair. It writes the stream to files
 * (recorder.ts) and reports its figures on stdout. A slow or full disk
 * costs only this process: the stream and its SRT peers never wait for it.
 *
 * Like the media output process it runs in a session of its own and
 * ignores SIGHUP and SIGINT. SIGTERM, or a `shutdown` command, stops it cleanly;
 * so does its main process going away (the socket pair closes). A
 * recording that cannot go on (the disk is full) is reported as `stopped`
 * and the process exits with {@link RECORDER_EXIT_STOPPED}.
 *
 * @module
 */

import { libc } from "../../ffi/libc.ts";
import { futexWait, futexWake, SharedMapping } from "../../ffi/shm.ts";
import { receiveWithFd } from "../../ffi/socket.ts";
import {
  parseRecorderCommand,
  RECORDER_EXIT_STOPPED,
  type RecorderReport,
  type RecorderStats,
} from "../ipc/recorder_messages.ts";
import { runHelperMain } from "../ipc/helper_main.ts";
import { ReportWriter } from "../ipc/report_writer.ts";
import { WAKE_WORD_OFFSET } from "../media/stream_buffer.ts";
import { record, RecordingStopped } from "./recorder.ts";

/** How often the figures are reported while they change. */
export const STATS_INTERVAL_MS = 2000;
/** The longest single wait on the wake word; also how soon a stop is noticed at worst. */
const IDLE_WAIT_MS = 1000;
/** After a wakeup, how long to let the publisher write more: a file needs no low latency. */
const COALESCE_MS = 50;

/**
 * Reports other than stats that wait for a main process that does not read,
 * at most (logs dropped first): a recorder sends few, so only a main process
 * stopped for long drops any.
 */
const MAX_WAITING_REPORTS = 64;

type Reports = ReportWriter<RecorderReport>;

/** Runs the recorder process with its own arguments; resolves to its exit code. */
export function runRecorderProcess(args: readonly string[]): Promise<number> {
  const reports: Reports = new ReportWriter(Deno.stdout, {
    capacity: MAX_WAITING_REPORTS,
    notice: (message) => ({ type: "log", level: "warning", message }),
  });
  return runHelperMain(args, {
    name: "Recorder process",
    setsid: () => libc().setsid(),
    ignoreSignal: (signal) => Deno.addSignalListener(signal, () => {}),
    serve: (controlFd) => serve(controlFd, reports),
    logError: (message) => reports.send({ type: "log", level: "error", message }),
    flushed: () => reports.flushed(),
  });
}

async function serve(controlFd: number, reports: Reports): Promise<number> {
  const first = await receiveWithFd(controlFd);
  if (first === null) return 0;
  using memory = first.fd;
  const command = parseRecorderCommand(new TextDecoder().decode(first.payload));
  if (command.type !== "record") return 0;
  if (memory === undefined) throw new TypeError("No stream buffer came with the record command");
  const { settings } = command;
  using mapping = SharedMapping.map(memory.fd, settings.bufferBytes);

  let stopping = false;
  const stop = () => {
    stopping = true;
    // Ends a wait in flight at once.
    if (!mapping.closed) futexWake(mapping, WAKE_WORD_OFFSET);
  };
  Deno.addSignalListener("SIGTERM", stop);
  // Anything more on the pair (shutdown), or the pair closing, stops it.
  void (async () => {
    try {
      for (;;) {
        const next = await receiveWithFd(controlFd);
        next?.fd?.close();
        if (next === null) break;
        if (parseRecorderCommand(new TextDecoder().decode(next.payload)).type === "shutdown") break;
      }
    } catch {
      // A bad command: stop as well.
    }
    stop();
  })();

  const stats: RecorderStats = { file: null, bytesWritten: 0, files: 0, skips: 0, deleted: 0 };
  let last = "";
  const reportStats = () => {
    const text = JSON.stringify(stats);
    if (text === last) return;
    last = text;
    reports.send({ type: "stats", stats: { ...stats } });
  };
  const timer = setInterval(reportStats, STATS_INTERVAL_MS);
  try {
    await record(mapping.buffer, settings, {
      changed: async (seen) => {
        await futexWait(mapping, WAKE_WORD_OFFSET, { expected: seen, timeoutMs: IDLE_WAIT_MS });
        if (!stopping) await new Promise((resolve) => setTimeout(resolve, COALESCE_MS));
      },
      stopping: () => stopping,
      onStats: reportStats,
      log: (level, message) => reports.send({ type: "log", level, message }),
    }, stats);
  } catch (error) {
    if (!(error instanceof RecordingStopped)) throw error;
    reportStats();
    reports.send({ type: "stopped", reason: error.reason, detail: error.detail });
    return RECORDER_EXIT_STOPPED;
  } finally {
    clearInterval(timer);
    Deno.removeSignalListener("SIGTERM", stop);
  }
  reportStats();
  return 0;
}
