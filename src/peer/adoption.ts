/**
 * A connected child whose main process is gone: it keeps its connection,
 * and waits in the state directory for a new main process to adopt it
 * (src/ipc/adoption.ts says what they say).
 *
 * While no main process has it, its reports go nowhere, and it wakes for
 * nothing but its own connection: the wait for an adopter is one accept in
 * the kernel. Only the main process that holds the state directory's lock
 * (its pid is in the `lock` file) may adopt it, as the kernel names the
 * process that connects (`SO_PEERCRED`); each such adopter takes over from
 * the one before, so a failed adopter leaves the child waiting for the next.
 *
 * @module
 */

import {
  acceptUnix,
  listenUnix,
  peerCredentials,
  receiveWithFd,
  shutdownSocket,
} from "../../ffi/socket.ts";
import type { OwnedFd } from "../../ffi/owned_fd.ts";
import { CHILDREN_DIR, childSocketPath, type Hello } from "../ipc/adoption.ts";
import { parseParentMessage } from "../ipc/messages.ts";
import { reportTo, writeLine } from "./reports.ts";
import type { StopFlag } from "./stop_flag.ts";

/** What an orphan needs to be adopted. */
export interface OrphanOptions {
  stateDir: string;
  /** Its hello, as of now: built anew for each adopter. */
  hello(): Hello;
  /** Set by a `shutdown` from an adopter. */
  stop: StopFlag;
}

/** A longest line an adopter may send (a `shutdown` with its detail is far shorter). */
const MAX_LINE_BYTES = 4096;

/**
 * Waits for adopters until the process exits. Returns the path of its
 * socket, which the caller removes when the child exits; undefined when it
 * cannot listen (it then serves on, unadoptable).
 */
export function awaitAdoption(options: OrphanOptions): string | undefined {
  const path = childSocketPath(options.stateDir, Deno.pid);
  let listener: OwnedFd;
  try {
    Deno.mkdirSync(`${options.stateDir}/${CHILDREN_DIR}`, { recursive: true, mode: 0o700 });
    // A file of an earlier process that had this pid: this pid is ours now.
    Deno.removeSync(path);
  } catch {
    // Missing, most often; listenUnix says so if it matters.
  }
  // Bound under another name and renamed once it listens: a main process
  // that finds the socket's name can always connect (one that cannot
  // takes it for a dead child's, and removes it).
  const binding = `${path}.new`;
  try {
    Deno.removeSync(binding);
  } catch {
    // Not there.
  }
  try {
    listener = listenUnix(binding);
    Deno.renameSync(binding, path);
  } catch {
    return undefined;
  }
  acceptAdopters(listener, options).catch(() => {});
  return path;
}

/** How long an orphan waits after a failed accept before it tries again. */
const ACCEPT_RETRY_MS = 1000;

/** Whether the process that connected on `fd` holds the state directory's lock. */
function isLockHolder(fd: number, stateDir: string): boolean {
  try {
    const peer = peerCredentials(fd);
    const lock = `${stateDir}/lock`;
    const holder = Number(Deno.readTextFileSync(lock).trim());
    // The lock file's owner is this child's user (its main process made it).
    return peer.pid === holder && peer.uid === Deno.statSync(lock).uid;
  } catch {
    return false;
  }
}

async function acceptAdopters(listener: OwnedFd, options: OrphanOptions): Promise<void> {
  let current: OwnedFd | undefined;
  for (;;) {
    const adopter = await acceptUnix(listener.fd);
    if (adopter === null) {
      // Out of descriptors, say: try again later, without spinning.
      await new Promise((resolve) => setTimeout(resolve, ACCEPT_RETRY_MS));
      continue;
    }
    if (!isLockHolder(adopter.fd, options.stateDir)) {
      // Anyone else who connects is told nothing, and changes nothing.
      adopter.close();
      continue;
    }
    // The newest adopter takes over: the one before failed or is leaving.
    // Its reader ends, and closes it.
    if (current !== undefined) shutdownSocket(current.fd);
    current = adopter;
    try {
      if (!writeLine(adopter.fd, JSON.stringify(options.hello()))) throw new Error("no room");
    } catch {
      adopter.close();
      current = undefined;
      reportTo(undefined);
      continue;
    }
    reportTo(adopter.fd);
    listenTo(adopter, options.stop).finally(() => {
      if (current === adopter) {
        // The adopter is gone: reports go nowhere until the next one.
        reportTo(undefined);
        current = undefined;
      }
      adopter.close();
    });
  }
}

/** Reads the adopter's commands until it closes its end. */
async function listenTo(adopter: OwnedFd, stop: StopFlag): Promise<void> {
  const decoder = new TextDecoder();
  let pending = "";
  for (;;) {
    const message = await receiveWithFd(adopter.fd, MAX_LINE_BYTES).catch(() => null);
    if (message === null) return;
    message.fd?.close();
    pending += decoder.decode(message.payload, { stream: true });
    if (pending.length > MAX_LINE_BYTES) return;
    for (let end; (end = pending.indexOf("\n")) >= 0;) {
      const line = pending.slice(0, end);
      pending = pending.slice(end + 1);
      try {
        const command = parseParentMessage(line);
        if (command.type === "shutdown") stop.stop(command.detail);
      } catch {
        return;
      }
    }
  }
}
