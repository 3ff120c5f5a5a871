/**
 * The media output process: `deno run … workers/output.ts --control-fd N`
 * (or the compiled binary's internal subcommand). One per main process,
 * started and supervised by it (src/server/output_supervisor.ts). It serves
 * the streams over HTTP (media_server.ts) straight from their buffers,
 * which the main process sends it over the socket pair as streams begin,
 * and reports its clients' figures on stdout. It carries no SRT and decides
 * nothing (who may watch, and whether a stream it lacks is pulled for a
 * request, it asks the main process: access.ts, demand.ts): HTTP media never passes through the main process, and a slow or
 * hostile HTTP client can only cost the other HTTP clients of this process.
 *
 * It runs in a session of its own and ignores SIGHUP and SIGINT (they are
 * for the main process). SIGTERM, or a `shutdown`
 * command, stops it cleanly. When its main process is gone (the socket
 * pair closes) it stops too: streams would no longer begin or end.
 *
 * @module
 */

import { libc } from "../../ffi/libc.ts";
import type { OwnedFd } from "../../ffi/owned_fd.ts";
import { receiveWithFd } from "../../ffi/socket.ts";
import {
  OUTPUT_STATS_INTERVAL_MS,
  type OutputCommand,
  type OutputReport,
  type OutputSettings,
  parseOutputCommand,
} from "../ipc/output_messages.ts";
import { runHelperMain } from "../ipc/helper_main.ts";
import { FeedTable } from "./feeds.ts";
import { type MediaServer, serveMedia } from "./media_server.ts";
import { ReportWriter } from "../ipc/report_writer.ts";
import { AccessGate, MAX_PENDING_ACCESS } from "./access.ts";
import { DemandGate, MAX_PENDING_DEMANDS } from "./demand.ts";
import type { RecordingAccess } from "./recordings.ts";

/** How often the clients' figures are reported while they change. */
export const STATS_INTERVAL_MS = OUTPUT_STATS_INTERVAL_MS;
/** Exit code when the media address cannot be bound (as the main process's own, 2). */
export const EXIT_LISTEN_FAILED = 2;
/**
 * Reports other than stats that wait for a slow main process, at most:
 * room for every access request and demand that may wait at once
 * (access.ts, demand.ts), and some logs (dropped first).
 */
const MAX_WAITING_REPORTS = MAX_PENDING_ACCESS + MAX_PENDING_DEMANDS + 64;

/** Runs the output process with its own arguments; resolves to its exit code. */
export function runOutputProcess(args: readonly string[]): Promise<number> {
  const reports = new ReportWriter<OutputReport>(Deno.stdout, {
    capacity: MAX_WAITING_REPORTS,
    notice: (message) => ({ type: "log", level: "warning", message }),
  });
  return runHelperMain(args, {
    name: "Output process",
    setsid: () => libc().setsid(),
    ignoreSignal: (signal) => Deno.addSignalListener(signal, () => {}),
    serve: (controlFd) => serve(controlFd, reports),
    logError: (message) => reports.send({ type: "log", level: "error", message }),
    flushed: () => reports.flushed(),
  });
}

/** Reads the next command; null when the main process is gone. */
async function nextCommand(
  controlFd: number,
): Promise<{ command: OutputCommand; fd: OwnedFd | undefined } | { invalid: string } | null> {
  const message = await receiveWithFd(controlFd);
  if (message === null) return null;
  try {
    return {
      command: parseOutputCommand(new TextDecoder().decode(message.payload)),
      fd: message.fd,
    };
  } catch (error) {
    message.fd?.close();
    return { invalid: error instanceof Error ? error.message : String(error) };
  }
}

async function serve(controlFd: number, reports: ReportWriter<OutputReport>): Promise<number> {
  const first = await nextCommand(controlFd);
  if (first === null) return 0;
  if ("invalid" in first) throw new TypeError(first.invalid);
  if (first.command.type !== "settings") {
    first.fd?.close();
    throw new TypeError(`The first command must be settings, not ${first.command.type}`);
  }
  const settings: OutputSettings = first.command.settings;
  const feeds = new FeedTable({
    log: (level, message) => reports.send({ type: "log", level, message }),
  });
  const recordings: RecordingAccess = { token: null, dirs: [] };
  const access = new AccessGate((id, request) =>
    reports.send({ type: "access-request", id, request })
  );
  const demand = new DemandGate((id, stream) => reports.send({ type: "demand", id, stream }));
  let server: MediaServer;
  try {
    server = serveMedia(settings, feeds, {
      log: (level, message) => reports.send({ type: "log", level, message }),
      recordings,
      access: (request) => access.check(request),
      demand: (stream) => demand.ask(stream),
    });
  } catch (error) {
    const detail = error instanceof Deno.errors.AddrInUse
      ? "address in use"
      : error instanceof Error
      ? error.message
      : String(error);
    reports.send({ type: "listen-failed", detail });
    return EXIT_LISTEN_FAILED;
  }
  const { hostname, port } = server.addr;
  reports.send({ type: "listening", address: { hostname, port } });

  const stopped = Promise.withResolvers<void>();
  Deno.addSignalListener("SIGTERM", () => stopped.resolve());
  let last = "";
  const reportStats = () => {
    const report = { type: "stats", streams: feeds.stats(), rateLimited: access.limited } as const;
    const text = JSON.stringify(report);
    if (text === last) return;
    last = text;
    reports.send(report);
  };
  const statsTimer = setInterval(reportStats, STATS_INTERVAL_MS);
  // Commands are carried out one at a time, in order.
  const commands = (async () => {
    for (;;) {
      const next = await nextCommand(controlFd);
      if (next === null) return; // the main process is gone
      if ("invalid" in next) {
        // A bug, not a reason to cut every HTTP client off: say so and go on.
        reports.send({
          type: "log",
          level: "error",
          message: `Ignored a command: ${next.invalid}`,
        });
        continue;
      }
      const { command, fd } = next;
      switch (command.type) {
        case "stream":
          if (fd === undefined) {
            reports.send({
              type: "log",
              level: "error",
              message: `No buffer came with stream "${command.name}"`,
            });
            break;
          }
          try {
            await feeds.add(command.name, fd, { bytes: command.bufferBytes, hls: command.hls });
          } catch (error) {
            reports.send({
              type: "log",
              level: "error",
              message: `Cannot serve stream "${command.name}": ${error}`,
            });
          }
          break;
        case "stream-rules":
          fd?.close();
          feeds.hls.setRules(command.name, command.hls);
          break;
        case "stream-ended":
          fd?.close();
          await feeds.end(command.name);
          break;
        case "recordings":
          fd?.close();
          recordings.token = command.token;
          recordings.dirs = command.dirs;
          break;
        case "access-rules":
          fd?.close();
          access.reset(command.waitMs);
          demand.reset(command.waitMs);
          break;
        case "access-answer":
          fd?.close();
          access.answered(command.id, command.answer);
          break;
        case "demand-answer":
          fd?.close();
          demand.answered(command.id, command.waitMs);
          break;
        case "shutdown":
          fd?.close();
          return;
        case "settings":
          fd?.close();
          break;
      }
    }
  })();
  try {
    await Promise.race([commands, stopped.promise]);
  } finally {
    clearInterval(statsTimer);
    access.close();
    demand.close();
    // The feeds end while the server shuts down: that wakes the requests it would
    // otherwise wait for (a stream's arrival, a blocking reload, a hinted part).
    const stopping = server.shutdown();
    await feeds.endAll();
    await stopping;
    reportStats();
  }
  return 0;
}
