/**
 * The fast handshake's startup self-test. The fast path depends on libsrt
 * internals (its SYN cookie), so before the server relies on it, a child
 * connects a libsrt caller to {@link acceptConnection} on loopback with the
 * server's own settings. Only the fast path can finish before the caller's
 * first retransmission (250 ms), so finishing sooner proves it works.
 *
 * @module
 */

import { encodeSockaddr, openConnectedUdpSocket } from "../../ffi/socket.ts";
import { libsrt, SRTT_LIVE } from "../../ffi/libsrt.ts";
import { SrtOption, SrtSocket } from "../../ffi/srt_socket.ts";
import { acceptConnection } from "./acceptor.ts";
import type { ChildMessage, PeerSettings } from "../ipc/messages.ts";

/** A caller's first induction retransmission comes after this long. */
export const SELF_TEST_LIMIT_MS = 200;

type SelfTestResult = Extract<ChildMessage, { type: "self-test" }>;

/** Runs the self-test; libsrt must be started. */
export async function runSelfTest(settings: PeerSettings): Promise<SelfTestResult> {
  const local = { hostname: "127.0.0.1", port: 0 };
  const listening = Deno.listenDatagram({ transport: "udp", ...local, reuseAddress: true });
  try {
    return await connectThroughFastPath(settings, listening);
  } finally {
    listening.close();
  }
}

async function connectThroughFastPath(
  settings: PeerSettings,
  listening: Deno.DatagramConn,
): Promise<SelfTestResult> {
  const local = listening.addr as Deno.NetAddr;
  const port = local.port;
  using caller = SrtSocket.create();
  caller.setInt(SrtOption.TRANSTYPE, SRTT_LIVE);
  caller.setBoolean(SrtOption.RCVSYN, false);
  if (settings.passphrase !== undefined) {
    caller.setString(SrtOption.PASSPHRASE, settings.passphrase);
  }
  caller.connect(encodeSockaddr({ hostname: local.hostname, port }));
  const timer = setTimeout(() => listening.close(), 1000); // ends the receive below
  let induction: Uint8Array<ArrayBuffer>;
  let peer: Deno.NetAddr;
  try {
    const [bytes, from] = await listening.receive();
    induction = new Uint8Array(bytes);
    peer = from as Deno.NetAddr;
  } catch {
    return fail("the loopback caller sent no induction within 1000 ms");
  } finally {
    clearTimeout(timer);
  }
  using udpSocket = openConnectedUdpSocket({ hostname: local.hostname, port }, peer);
  const result = await acceptConnection({
    udpSocket,
    peer,
    handshake: induction,
    rendezvous: false,
    settings: { ...settings, fastHandshake: true, handshakeTimeoutMs: SELF_TEST_LIMIT_MS },
    stopRequested: () => false,
  });
  if (!result.ok) {
    return fail(`no connection within ${SELF_TEST_LIMIT_MS} ms: the response was ignored`);
  }
  const { setupMs } = result.accepted;
  await result.accepted.close();
  return { type: "self-test", passed: true, setupMs, detail: "fast handshake works" };
}

function fail(detail: string): SelfTestResult {
  return { type: "self-test", passed: false, setupMs: 0, detail };
}

/** libsrt started, the self-test run, libsrt cleaned up. */
export async function selfTestProcess(settings: PeerSettings): Promise<SelfTestResult> {
  const srt = libsrt();
  srt.srt_setloglevel(2);
  srt.srt_startup();
  try {
    return await runSelfTest(settings);
  } finally {
    srt.srt_cleanup();
  }
}
