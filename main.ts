/**
 * Atoll's command line: `deno run -A main.ts [options]`, or the compiled
 * binary. Parses arguments, starts the server, keeps the `--pid-file`, turns
 * SIGHUP into a config reload, SIGUSR2 into an upgrade (a new main process
 * takes every connection over) and SIGINT/SIGTERM into a graceful shutdown.
 * Children ignore those signals (src/peer/main.ts). Everything else lives
 * in src/.
 *
 * @module
 */

import {
  CHILD_SUBCOMMAND,
  OUTPUT_SUBCOMMAND,
  RECORDER_SUBCOMMAND,
} from "./src/server/child_command.ts";
import type { AtollServer } from "./src/server/server.ts";
import type { PidFile } from "./src/server/pid_file.ts";
import denoJson from "./deno.json" with { type: "json" };

/** Exit code for anything the user can fix: bad flags, port in use, libsrt missing. */
const EXIT_USAGE = 2;

async function main(args: string[]): Promise<number> {
  if (args[0] === CHILD_SUBCOMMAND) {
    // The compiled binary re-executing itself as a peer child.
    const { runPeerProcess } = await import("./src/peer/main.ts");
    return await runPeerProcess(args.slice(1));
  }
  if (args[0] === OUTPUT_SUBCOMMAND) {
    // The compiled binary re-executing itself as the media output process.
    const { runOutputProcess } = await import("./src/output/main.ts");
    return await runOutputProcess(args.slice(1));
  }
  if (args[0] === RECORDER_SUBCOMMAND) {
    // The compiled binary re-executing itself as a recorder process.
    const { runRecorderProcess } = await import("./src/recorder/main.ts");
    return await runRecorderProcess(args.slice(1));
  }
  // Loaded only here: a compiled binary's every child runs this file too, and
  // the server's modules (logging from npm among them) would double its start
  // CPU and add megabytes to each (BENCHMARKS.md, "Child start").
  const { parseCommandLine, UsageError } = await import("./src/config/cli.ts");
  const { setupLogging } = await import("./src/server/log.ts");
  const { AtollServer, StartupError } = await import("./src/server/server.ts");
  const { PidFile } = await import("./src/server/pid_file.ts");
  const { UPGRADE_ENV } = await import("./src/server/upgrade.ts");
  // Started by a main process that hands over to this one: its pid. Not
  // passed on to this one's children, and a session of its own, as its
  // predecessor had (a terminal's Ctrl-C no longer reaches either).
  const predecessor = upgradePredecessor(Deno.env.get(UPGRADE_ENV));
  Deno.env.delete(UPGRADE_ENV);
  if (predecessor !== undefined) {
    const { libc } = await import("./ffi/libc.ts");
    libc().setsid();
  }
  let commandLine;
  try {
    commandLine = parseCommandLine(args, denoJson.version, Deno.env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`atoll: ${error.message} (see --help)`);
    return EXIT_USAGE;
  }
  if (commandLine.kind !== "serve") {
    console.log(commandLine.text);
    return 0;
  }
  const { options } = commandLine;
  await setupLogging(options.logLevel, options.logFormat);
  // Listen before starting: a signal that arrives while the server starts, or
  // right after its startup line, must stop it cleanly rather than kill it.
  let server: AtollServer | undefined;
  let stopRequested = false;
  const stop = () => {
    stopRequested = true;
    void server?.shutdown();
  };
  // The server logs the outcome of a reload, and of an upgrade, itself.
  const reload = () => void server?.reload();
  const upgrade = () => void server?.upgrade();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGHUP", reload);
  Deno.addSignalListener("SIGUSR2", upgrade);
  let pidFile: PidFile | undefined;
  try {
    try {
      if (options.pidFile !== undefined) {
        pidFile = await PidFile.prepare(
          options.pidFile,
          Deno.pid,
          predecessor === undefined ? {} : { predecessor },
        );
      }
      server = await AtollServer.start(options, {
        announce: false,
        ...(predecessor === undefined ? {} : { upgradeFrom: predecessor }),
      });
      // In place only once the server listens: whoever reads it can signal it;
      // and before the line saying it is up: whoever waits for that can read it.
      await pidFile?.publish();
      server.announce();
    } catch (error) {
      if (!(error instanceof StartupError)) throw error;
      console.error(`atoll: ${error.message}`);
      await server?.shutdown();
      return EXIT_USAGE;
    }
    if (stopRequested) void server.shutdown();
    await server.finished;
  } finally {
    // After an upgrade the file is the successor's to replace (atomically):
    // removing it would leave readers a moment with no pid file at all.
    if (!server?.handedOver) await pidFile?.remove();
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
    Deno.removeSignalListener("SIGHUP", reload);
    Deno.removeSignalListener("SIGUSR2", upgrade);
  }
  return 0;
}

/** The pid in the upgrade variable, if it holds one. */
function upgradePredecessor(text: string | undefined): number | undefined {
  const pid = Number(text);
  return text !== undefined && Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
