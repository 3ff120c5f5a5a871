/**
 * Atoll as the bench runs it (tests/support/atoll.ts does the work): info
 * logs, and a full pool of started children before anything is measured.
 *
 * @module
 */

import { Atoll } from "../tests/support/atoll.ts";
import { ManagedProcess } from "../tests/support/process.ts";

/** How long a bench Atoll gets to stop before it is killed (children too). */
export const STOP_GRACE_MS = 12_000;

/**
 * Starts Atoll with `args` in a session of its own, as under systemd or a
 * container runtime (see {@link startInOwnSession}), and waits until every
 * prestarted child waits for a peer. Its SRT children share that session
 * (README, "Processes and the CPU"): started from the bench's, they would
 * share the CPUs, at their lower nice value, with the bench's own callers.
 */
export function startAtoll(args: string[] = []): Promise<Atoll> {
  return Atoll.start(args, {
    logLevel: "info",
    startTimeoutMs: 30_000,
    readyPool: true,
    ownProcessGroup: true,
  });
}

/**
 * Starts a bench peer (`deno` with `args`) in a session of its own, through
 * `setsid`, which execs it in place (same pid).
 *
 * Why: with the kernel's autogroup scheduling (`kernel.sched_autogroup_enabled`
 * = 1, the default of most distributions and of this machine), the processes
 * of one session share one CPU share between them. Started from the bench's
 * session, a sender, a viewers' process and Atoll's main process share one
 * share with the bench itself, so that whatever else runs in that session
 * (the bench's own work, a starting main process) holds the sender off the
 * CPU, which no encoder on another machine or service suffers. In their own
 * sessions each gets its own share, as in production, where Atoll runs under
 * systemd or a container runtime (each a session of its own) and its peers
 * elsewhere. Atoll's SRT children stay in its session, its helper processes
 * (media output, recorders) make their own.
 */
export function startInOwnSession(name: string, args: string[]): ManagedProcess {
  return ManagedProcess.start(name, "setsid", [Deno.execPath(), ...args]);
}
