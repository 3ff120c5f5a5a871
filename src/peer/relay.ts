/**
 * A relay child: instead of serving a caller that the main process hands
 * over, it calls out itself (as a caller, or one side of a rendezvous) to
 * a remote SRT server, and carries the media between that connection and a
 * stream's buffer with the same loops as a listening peer (carry.ts): a
 * pull publishes what the remote sends into the stream, a push plays the
 * stream to the remote. serve.ts loads this module only once a relay
 * assignment has arrived.
 *
 * What the child does, and says on stdout, after its `ready`:
 * 1. it waits for its access decision on the control socket, unasked (no
 *    `request`), at most `settings.decisionTimeoutMs`; an accept carries
 *    the stream buffer. A reject is reported `closed` (`rejected`), no
 *    decision in time `closed` (`error`);
 * 2. it connects to the remote; a failure is reported `closed`:
 *    `handshake-timeout`, `rejected` (with the code and what it means) or
 *    `error`;
 * 3. connected, it reports `connected`, then `stats` (and a pull `tracks`)
 *    while it carries the media, and `closed` with how it ended.
 * A stop (a `shutdown` line, SIGTERM, or stdin closing: a relay is never
 * adopted) ends any step at once, reported `closed` (`shutdown`). Every
 * `closed` before the connection carries no statistics. Each of these ends
 * exits 0: the main process decides whether to try again. A decision that
 * does not fit the relay (no buffer, the wrong mode) is the main process's
 * bug: the child fails with exit code 1 (main.ts reports `closed`, `error`).
 *
 * @module
 */

import { type ConnectResult, connectSrt } from "../../ffi/srt_connect.ts";
import { SrtKmState, SrtOption } from "../../ffi/libsrt.ts";
import type { OwnedFd } from "../../ffi/owned_fd.ts";
import { SharedMapping } from "../../ffi/shm.ts";
import { receiveWithFd, shutdownSocket } from "../../ffi/socket.ts";
import {
  type AccessDecision,
  parseAccessDecision,
  type RelayAssignment,
  type StreamMode,
} from "../ipc/messages.ts";
import { describeRejectCode, describeRejectReason } from "../protocol/reject_codes.ts";
import { carry } from "./carry.ts";
import { type ConnectionEnd, report } from "./reports.ts";
import type { StopFlag } from "./stop_flag.ts";

/** The mode a relay has in its stream: a pull publishes into it, a push plays from it. */
function relayMode(relay: RelayAssignment): StreamMode {
  return relay.direction === "pull" ? "publish" : "play";
}

/** An accepted relay's decision, and its stream buffer, now this child's. */
interface Admission {
  decision: Extract<AccessDecision, { type: "accept" }>;
  bufferFd: OwnedFd;
}

/** Where a relay child gets its decision, and what stops it. */
export interface RelayContext {
  /** The child's end of the control socket pair. */
  controlFd: number;
  stop: StopFlag;
}

/**
 * Runs `relay` to its end, reporting as the module doc says; libsrt must be
 * started. Resolves to the exit code.
 */
export async function runRelay(
  relay: RelayAssignment,
  { controlFd, stop }: RelayContext,
): Promise<number> {
  const admitted = await awaitDecision(controlFd, relay, stop);
  if ("reason" in admitted) return closedEarly(admitted);
  const { decision } = admitted;
  using bufferFd = admitted.bufferFd;
  const mode = relayMode(relay);
  if (decision.mode !== mode) {
    throw new TypeError(
      `Invalid access decision for a ${relay.direction} relay: mode "${decision.mode}", expected "${mode}"`,
    );
  }
  using buffer = SharedMapping.map(bufferFd.fd, decision.bufferBytes);
  // The mapping is all a relay needs: it is never adopted (serve.ts, Lifecycle).
  bufferFd.close();
  const { remote, settings } = relay;
  // The remote's own passphrase, never the stream's (`decision.passphrase`
  // is what this server's callers must know); the latency the URL asks for
  // first, then the stream's, then the server's.
  const result = await connectSrt({
    remote: { hostname: remote.hostname, port: remote.port },
    streamId: remote.streamId,
    passphrase: remote.passphrase,
    pbkeylen: remote.pbkeylen,
    latencyMs: remote.latencyMs ?? decision.latencyMs ?? settings.latencyMs,
    idleTimeoutMs: settings.idleTimeoutMs,
    timeoutMs: remote.connectTimeoutMs,
    rendezvousPort: remote.rendezvous?.localPort,
    stopRequested: () => stop.stopped,
  });
  if (!result.ok) return closedEarly(connectFailure(relay, result, stop));
  using connection = result.connection;
  report({
    type: "connected",
    streamId: remote.streamId ?? "",
    mode,
    encrypted: connection.getInt(SrtOption.KMSTATE) === SrtKmState.SECURED,
    handshakeMs: Math.round(result.setupMs * 10) / 10,
  });
  return await carry(mode, {
    connection,
    buffer,
    udpFd: undefined,
    stop,
    idleTimeoutMs: settings.idleTimeoutMs,
  });
}

function closedEarly({ reason, detail }: ConnectionEnd): number {
  report({ type: "closed", reason, detail, stats: null });
  return 0;
}

/**
 * Waits for the main process's decision on this relay, with no request
 * first: the assignment asks. Ends early on a stop, the main process's
 * absence, a rejection, or no answer within the decision timeout.
 */
async function awaitDecision(
  controlFd: number,
  relay: RelayAssignment,
  stop: StopFlag,
): Promise<Admission | ConnectionEnd> {
  const timeoutMs = relay.settings.decisionTimeoutMs;
  const receiving = receiveWithFd(controlFd);
  const waited = await stop.until(receiving, timeoutMs);
  if (!waited.done) {
    // The receive still waits on a pool thread: ended now, so that closing
    // the socket later cannot pull the number from under it.
    shutdownSocket(controlFd);
    (await receiving)?.fd?.close();
    return stop.stopped
      ? { reason: "shutdown", detail: stop.detail ?? "closed by the server" }
      : { reason: "error", detail: `no decision from the main process within ${timeoutMs} ms` };
  }
  const reply = waited.value;
  if (reply === null) return { reason: "shutdown", detail: "the main process is gone" };
  let decision: AccessDecision;
  try {
    decision = parseAccessDecision(new TextDecoder().decode(reply.payload));
  } catch (error) {
    reply.fd?.close();
    throw error;
  }
  if (decision.type === "reject") {
    reply.fd?.close();
    return {
      reason: "rejected",
      detail: `the server refused the ${relay.direction} relay with ${
        describeRejectCode(decision.code)
      }: ${decision.reason}`,
    };
  }
  if (reply.fd === undefined) {
    throw new TypeError(`Invalid access decision for a relay: no stream buffer came with it`);
  }
  return { decision, bufferFd: reply.fd };
}

/** What a failed connect is reported as. */
function connectFailure(
  relay: RelayAssignment,
  result: Exclude<ConnectResult, { ok: true }>,
  stop: StopFlag,
): ConnectionEnd {
  const { url, connectTimeoutMs, rendezvous } = relay.remote;
  switch (result.reason) {
    case "timeout":
      return {
        reason: "handshake-timeout",
        detail: `no ${
          rendezvous ? "rendezvous" : "answer"
        } from ${url} within ${connectTimeoutMs} ms`,
      };
    case "rejected":
      return {
        reason: "rejected",
        detail: `${url} rejected the connection: ${describeRejectReason(result.code)}`,
      };
    case "error":
      return { reason: "error", detail: `cannot connect to ${url}: ${result.error.message}` };
    case "stopped":
      return { reason: "shutdown", detail: stop.detail ?? "closed by the server" };
  }
}
