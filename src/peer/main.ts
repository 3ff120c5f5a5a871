/**
 * Entry of every child process: `--control-fd N` serves one SRT peer,
 * `--self-test` runs the fast handshake self-test with settings read from
 * stdin (so a passphrase never shows in the process list).
 *
 * Signals meant for the server are not a child's business. A child starts
 * a process group of its own first, so what a terminal sends its foreground
 * process group (Ctrl-C, Ctrl-\, Ctrl-Z, a hangup) reaches the main process
 * only. It stays in the main process's session: where the kernel shares the
 * CPUs between sessions first (autogroups), the main process and its
 * children are one, and within it the main process, at a lower nice value
 * than the children (`--child-nice`), gets the CPU before any of them.
 * On Ctrl-C the main process stops its children over their stdin, and
 * peers see a clean shutdown. SIGHUP (reload) and SIGINT sent to a child by
 * pid are ignored too. SIGTERM sent to one child ends that one connection
 * cleanly (serve.ts), as an operator who signals one process means. A child
 * whose main process is gone sees its stdin close and stops (serve.ts).
 *
 * @module
 */

import { flushReports, report, servePeer } from "./serve.ts";
import { parsePeerSettings } from "../ipc/messages.ts";
import { readLines } from "../ipc/lines.ts";
import { libc } from "../../ffi/libc.ts";

/**
 * How long an exiting child waits for a main process that does not read to
 * take its last reports (the closing one): bounded, so a stopped main
 * process cannot keep exited connections' children around.
 */
const EXIT_FLUSH_MS = 5000;

/** Signals a child lets pass: the main process alone answers them. */
const IGNORED_SIGNALS = ["SIGHUP", "SIGINT"] as const;

/** Runs a child with its own arguments; resolves to its exit code. */
export async function runPeerProcess(args: readonly string[]): Promise<number> {
  // Parsed by hand: node:util would cost every child megabytes of memory.
  const selfTest = args.length === 1 && args[0] === "--self-test";
  const controlFd = args.length === 2 && args[0] === "--control-fd" ? Number(args[1]) : NaN;
  try {
    // Fails (EPERM) only for a session leader: a child started by hand with
    // setsid, which keeps the group it has.
    libc().setpgid(0, 0);
    // A listener replaces the default action (exit) for the process's whole life.
    for (const signal of IGNORED_SIGNALS) Deno.addSignalListener(signal, () => {});
    if (selfTest) {
      const line = (await readLines(Deno.stdin).next()).value ?? "";
      // Loaded only here, so the many children that serve peers do not carry it.
      const { selfTestProcess } = await import("./fast_handshake_check.ts");
      report(await selfTestProcess(parsePeerSettings(line)));
      return 0;
    }
    if (!Number.isInteger(controlFd) || controlFd < 3) {
      throw new TypeError(`Invalid child arguments: ${args.join(" ")}`);
    }
    return await servePeer(controlFd);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    report({ type: "closed", reason: "error", detail, stats: null });
    return 1;
  } finally {
    flushReports(EXIT_FLUSH_MS);
  }
}
