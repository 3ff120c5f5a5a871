/**
 * A connected child whose main process is gone: it keeps its connection,
 * and waits in the state directory for a new main process to adopt it
 * (src/ipc/adoption.ts says what they say).
 *
 * While no main process has it, its reports go nowhere, and it wakes for
 * nothing but its own connection: the wait for an adopter is one accept in
 * the kernel. Each main process that connects takes over from the one
 * before, so a failed adopter leaves the child waiting for the next.
 *
 * @module
 */

import { acceptUnix, listenUnix, receiveWithFd, shutdownSocket } from "../../ffi/socket.ts";
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
  try {
    listener = listenUnix(path);
  } catch {
    return undefined;
  }
  acceptAdopters(listener, options).catch(() => {});
  return path;
}

async function acceptAdopters(listener: OwnedFd, options: OrphanOptions): Promise<void> {
  let current: OwnedFd | undefined;
  for (;;) {
    const adopter = await acceptUnix(listener.fd);
    if (adopter === null) return;
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
