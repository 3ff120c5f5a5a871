/**
 * The peer child process: waits for one connection from the main process,
 * drives libsrt on it, reports to the main process on stdout, and exits when
 * the connection ends. One process per SRT peer: whatever happens here
 * cannot touch another connection. Given a relay instead, the child makes
 * its connection itself (relay.ts).
 *
 * @module
 */

import { OwnedFd } from "../../ffi/owned_fd.ts";
import { receiveWithFd, receiveWithFdNow } from "../../ffi/socket.ts";
import { libsrt, SrtKmState, unwrap } from "../../ffi/libsrt.ts";
import { SharedMapping } from "../../ffi/shm.ts";
import {
  type ConnectionRequest,
  setIncomingInt,
  setIncomingString,
  SrtOption,
} from "../../ffi/srt_socket.ts";
import { flushReports, latestReports, report } from "./reports.ts";
import { awaitAdoption } from "./adoption.ts";
import { ADOPTION_PROTOCOL } from "../ipc/adoption.ts";
import { acceptConnection, type Verdict } from "./acceptor.ts";
import type { CallerWatch } from "./caller_watch.ts";
import { readLines } from "../ipc/lines.ts";
import {
  type AccessDecision,
  type Assignment,
  parseAccessDecision,
  parseChildAssignment,
  parseParentMessage,
} from "../ipc/messages.ts";
import { RejectCode } from "../protocol/reject_codes.ts";
import { redactStreamId } from "../protocol/stream_id.ts";
import { StopFlag } from "./stop_flag.ts";
import { bytesFromHex } from "../ipc/hex.ts";

export { flushReports, report };

/** libsrt's LOG_CRIT: keeps libsrt's own stderr logging for real emergencies. */
const LIBSRT_LOG_LEVEL = 2;

/**
 * Carries out the main process's commands from stdin. When stdin closes
 * without a `shutdown` first, the main process is gone (killed, crashed, or
 * leaving its children to the next one): `parentGone` says what that means
 * now.
 */
async function watchParent(stop: StopFlag, parentGone: () => void): Promise<void> {
  try {
    // Deno.stdin itself, not its `readable`: a child needs no web streams (lines.ts).
    for await (const line of readLines(Deno.stdin)) {
      const message = parseParentMessage(line);
      if (message.type === "shutdown") stop.stop(message.detail);
    }
  } finally {
    parentGone();
  }
}

/**
 * Where a child is in its life, for what the loss of its main process
 * means: waiting for a connection, it has nothing to serve and stops; in
 * its handshake it goes on, and its caller is refused with 1503 when the
 * child asks for the access decision (the control socket is closed too);
 * connected, it keeps its connection and waits for an adopter
 * (adoption.ts). A relay stops whenever its main process goes, connecting
 * or connected: it is not adopted, because the next main process starts
 * every relay of its configuration afresh, and an adopted one would then
 * call the same remote twice.
 */
class Lifecycle {
  #assigned = false;
  #relay = false;
  #orphaned = false;
  #connected: (() => void) | undefined;

  constructor(readonly stop: StopFlag) {}

  assigned(): void {
    this.#assigned = true;
  }

  /** This child runs a relay: the loss of its main process stops it, now if already gone. */
  relaying(): void {
    this.#assigned = true;
    this.#relay = true;
    if (this.#orphaned) this.stop.stop(MAIN_PROCESS_GONE);
  }

  /** The connection is up: `orphan` runs now if the main process is gone already, or once it goes. */
  connected(orphan: () => void): void {
    if (this.#orphaned) orphan();
    else this.#connected = orphan;
  }

  parentGone(): void {
    if (this.#orphaned) return;
    this.#orphaned = true;
    if (!this.#assigned) this.stop.stop();
    else if (this.#relay) this.stop.stop(MAIN_PROCESS_GONE);
    this.#connected?.();
  }
}

/** Why a relay child stops when its stdin closes without a `shutdown`. */
const MAIN_PROCESS_GONE = "the main process is gone";

/**
 * The whole life of a peer child. Returns the process exit code: 0 for every
 * orderly end (including rejected and timed-out handshakes), 1 on an error.
 */
export async function servePeer(controlFd: number): Promise<number> {
  const srt = libsrt();
  srt.srt_setloglevel(LIBSRT_LOG_LEVEL);
  unwrap("srt_startup", srt.srt_startup());
  const stop = new StopFlag();
  const lifecycle = new Lifecycle(stop);
  // SIGTERM ends this one connection cleanly; SIGINT and SIGHUP are the main process's (main.ts).
  Deno.addSignalListener("SIGTERM", () => stop.stop());
  watchParent(stop, () => lifecycle.parentGone()).catch((error) => {
    report({ type: "log", level: "error", message: `Bad message from main process: ${error}` });
    stop.stop();
  });
  report({ type: "ready", srtVersion: srt.srt_getversion() });

  const message = await Promise.race([
    receiveWithFd(controlFd),
    // Not a long sleep(): no timer, so an idle child has not loaded Deno's timers (stop_flag.ts).
    stop.whenStopped().then(() => null),
  ]);
  if (message === null) return 0;
  using control = new OwnedFd(controlFd);
  // libsrt takes the UDP socket over during the handshake; until then it is ours.
  using udpSocket = message.fd;
  const assignment = parseChildAssignment(new TextDecoder().decode(message.payload));
  if (assignment.type === "relay") {
    lifecycle.relaying();
    // Loaded only here: a prestarted child stays as small as one that serves a caller.
    const { runRelay } = await import("./relay.ts");
    try {
      return await runRelay(assignment, { controlFd: control.fd, stop });
    } finally {
      srt.srt_cleanup();
    }
  }
  if (udpSocket === undefined) return 0;
  lifecycle.assigned();
  try {
    return await serve(assignment, udpSocket, control.fd, lifecycle);
  } finally {
    srt.srt_cleanup();
  }
}

/** An accepted request: what the main process decided, and the stream buffer it sent. */
interface Admission {
  decision: Extract<AccessDecision, { type: "accept" }>;
  bufferFd: OwnedFd;
}

/** How often a caller held in the listen callback is looked at (`CallerWatch`). */
const CALLER_CHECK_MS = 100;

/**
 * Asks the main process whether this caller may publish or play, from
 * inside libsrt's listen callback: the JS thread waits for the answer
 * (libsrt's receiver thread waits for this callback anyway), and the
 * caller's own retransmissions keep its handshake alive meanwhile. A caller
 * that gives up meanwhile is refused at once; this child then exits, which
 * releases its request in the main process.
 */
function askMainProcess(
  controlFd: number,
  request: ConnectionRequest,
  timeoutMs: number,
  caller?: CallerWatch,
): { verdict: Verdict; admission?: Admission } {
  report({ type: "request", streamId: request.streamId });
  const deadline = performance.now() + timeoutMs;
  let reply: ReturnType<typeof receiveWithFdNow>;
  for (;;) {
    const left = Math.max(0, deadline - performance.now());
    reply = receiveWithFdNow(
      controlFd,
      caller === undefined ? left : Math.min(left, CALLER_CHECK_MS),
    );
    if (reply !== "timeout" || left <= CALLER_CHECK_MS) break;
    caller?.sample();
    const judged = caller?.judge();
    if (judged?.state === "gone") {
      return {
        verdict: {
          code: RejectCode.NotFound,
          detail: `the caller gave up waiting (nothing from it for ${
            Math.round(judged.silentMs)
          } ms)`,
        },
      };
    }
  }
  if (reply === "timeout") {
    return {
      verdict: { code: RejectCode.InternalError, detail: `no decision within ${timeoutMs} ms` },
    };
  }
  if (reply === null) {
    return { verdict: { code: RejectCode.Down, detail: "the main process is gone" } };
  }
  const decision = parseAccessDecision(new TextDecoder().decode(reply.payload));
  if (decision.type === "reject") {
    reply.fd?.close();
    return { verdict: { code: decision.code, detail: decision.reason } };
  }
  if (reply.fd === undefined) {
    return {
      verdict: {
        code: RejectCode.InternalError,
        detail: "no stream buffer came with the decision",
      },
    };
  }
  const verdict = admit(request, decision);
  if (verdict.code !== 0) {
    reply.fd.close();
    return { verdict };
  }
  return { verdict, admission: { decision, bufferFd: reply.fd } };
}

/** Sets the accepted stream's passphrase and latency on the caller's new socket. */
function admit(request: ConnectionRequest, decision: Admission["decision"]): Verdict {
  try {
    if (decision.passphrase !== undefined) {
      setIncomingString(request.socketId, SrtOption.PASSPHRASE, decision.passphrase);
    }
    if (decision.latencyMs !== undefined) {
      setIncomingInt(request.socketId, SrtOption.LATENCY, decision.latencyMs);
    }
  } catch (error) {
    return { code: RejectCode.InternalError, detail: String(error) };
  }
  return { code: 0, detail: `${decision.mode} "${decision.stream}"` };
}

async function serve(
  assignment: Assignment,
  udpSocket: OwnedFd,
  controlFd: number,
  lifecycle: Lifecycle,
): Promise<number> {
  const stop = lifecycle.stop;
  let admission: Admission | undefined;
  // libsrt takes the socket over, and keeps it open as long as the connection: the number stays good.
  const udpFd = udpSocket.fd;
  const result = await acceptConnection({
    udpSocket,
    peer: assignment.peer,
    handshake: bytesFromHex(assignment.handshake),
    rendezvous: assignment.rendezvous,
    settings: assignment.settings,
    stopRequested: () => stop.stopped,
    decide: (request, caller) => {
      // The main process decides once per connection; a caller that retries
      // after libsrt refused it (a wrong passphrase) gets the same answer.
      if (admission !== undefined) return admit(request, admission.decision);
      const answer = askMainProcess(
        controlFd,
        request,
        assignment.settings.decisionTimeoutMs,
        caller,
      );
      admission = answer.admission;
      return answer.verdict;
    },
  });
  if (!result.ok) {
    admission?.bufferFd.close();
    report({ type: "closed", reason: result.reason, detail: result.detail, stats: null });
    return 0;
  }
  // Disposing closes the connection (the peer is told) and then the listener.
  await using accepted = result.accepted;
  const { connection, setupMs } = accepted;
  const streamId = connection.getString(SrtOption.STREAMID, 600);
  if (admission === undefined) {
    // Rendezvous: no listen callback ran, so ask now; a refusal can only close.
    const answer = askMainProcess(
      controlFd,
      { socketId: connection.id, streamId },
      assignment.settings.decisionTimeoutMs,
    );
    admission = answer.admission;
    if (admission === undefined) {
      report({
        type: "closed",
        reason: "rejected",
        detail: `rejected stream id ${
          JSON.stringify(redactStreamId(streamId))
        } with ${answer.verdict.code}: ${answer.verdict.detail}`,
        stats: null,
      });
      return 0;
    }
  }
  const { decision, bufferFd } = admission;
  using buffer = SharedMapping.map(bufferFd.fd, decision.bufferBytes);
  // Kept open for an adopter to open through /proc (adoption.ts); else not needed.
  const stateDir = assignment.settings.stateDir;
  if (stateDir === undefined) bufferFd.close();
  using _kept = stateDir === undefined ? undefined : bufferFd;
  const encrypted = connection.getInt(SrtOption.KMSTATE) === SrtKmState.SECURED;
  const handshakeMs = Math.round(setupMs * 10) / 10;
  report({ type: "connected", streamId, mode: decision.mode, encrypted, handshakeMs });
  const connectedAt = Date.now();
  let socketPath: string | undefined;
  if (stateDir !== undefined) {
    lifecycle.connected(() => {
      socketPath = awaitAdoption({
        stateDir,
        stop,
        hello: () => {
          const { stats, tracks } = latestReports();
          return {
            type: "hello",
            protocol: ADOPTION_PROTOCOL,
            pid: Deno.pid,
            stateDir,
            connectionId: assignment.connectionId,
            peer: assignment.peer,
            local: assignment.local,
            streamId,
            mode: decision.mode,
            stream: decision.stream,
            encrypted,
            handshakeMs,
            connectedAt,
            bufferFd: bufferFd.fd,
            bufferBytes: decision.bufferBytes,
            stats: stats?.stats ?? null,
            ...(stats?.viewer === undefined ? {} : { viewer: stats.viewer }),
            ...(tracks === undefined ? {} : { tracks: tracks.tracks }),
          };
        },
      });
    });
  }
  try {
    const { carry } = await import("./carry.ts");
    return await carry(decision.mode, {
      connection,
      buffer,
      udpFd,
      stop,
      idleTimeoutMs: assignment.settings.idleTimeoutMs,
    });
  } finally {
    try {
      if (socketPath !== undefined) Deno.removeSync(socketPath);
    } catch {
      // Removed already, or the directory is gone: nothing is left behind either way.
    }
  }
}
