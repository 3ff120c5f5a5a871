/**
 * connectSrt() against real peers: srt-live-transmit as a listener and as a
 * rendezvous peer, and a libsrt listener of this process whose listen
 * callback rejects with a code of its own.
 */

import assert from "node:assert/strict";
import { libsrt, SrtState, unwrap } from "./libsrt.ts";
import { encodeSockaddr } from "./socket.ts";
import { type ConnectOptions, type ConnectResult, connectSrt } from "./srt_connect.ts";
import { ListenHook, SrtOption, SrtSocket } from "./srt_socket.ts";
import { ManagedProcess } from "../tests/support/process.ts";
import { freeUdpPort, udpPortBound } from "../tests/support/procfs.ts";
import { waitFor } from "../tests/support/wait.ts";

/** Runs `body` between srt_startup and srt_cleanup (awaited: connects are asynchronous). */
async function withSrt(body: () => Promise<void>): Promise<void> {
  const srt = libsrt();
  srt.srt_setloglevel(2);
  unwrap("srt_startup", srt.srt_startup());
  try {
    await body();
  } finally {
    srt.srt_cleanup();
  }
}

/** srt-live-transmit as an SRT peer on `port` (`mode=listener` or `mode=rendezvous&…`), output dropped. */
async function srtLiveTransmit(uri: string, port: number): Promise<ManagedProcess> {
  const peer = ManagedProcess.start("srt-live-transmit", "srt-live-transmit", [
    "-q",
    "-a:no",
    uri,
    "file://con",
  ], { stdout: "null" });
  await waitFor(`srt-live-transmit on port ${port}`, () => udpPortBound(port), { timeoutMs: 5000 });
  return peer;
}

function options(port: number, more: Partial<ConnectOptions> = {}): ConnectOptions {
  return {
    remote: { hostname: "127.0.0.1", port },
    latencyMs: 120,
    timeoutMs: 3000,
    stopRequested: () => false,
    ...more,
  };
}

/** The connection of a result that must be one, closed when disposed. */
function connectionOf(result: ConnectResult): SrtSocket {
  assert.ok(result.ok, JSON.stringify(result));
  return result.connection;
}

Deno.test("connectSrt() calls a listener over IPv4 and IPv6, with a stream id and a passphrase", async () => {
  await withSrt(async () => {
    const port = freeUdpPort();
    const passphrase = "relay-secret-1";
    for (const host of ["127.0.0.1", "[::1]"]) {
      const uri = `srt://${host}:${port}?mode=listener&passphrase=${passphrase}`;
      await using _listener = await srtLiveTransmit(uri, port);
      const result = await connectSrt(options(port, {
        remote: { hostname: host.replace(/[[\]]/g, ""), port },
        streamId: "#!::r=live/a,m=publish",
        passphrase,
        pbkeylen: 16,
      }));
      using connection = connectionOf(result);
      assert.equal(connection.state, SrtState.CONNECTED);
      assert.equal(connection.getString(SrtOption.STREAMID), "#!::r=live/a,m=publish");
      assert.equal(connection.getInt(SrtOption.KMSTATE), 2, "encrypted");
      assert.ok(result.ok && result.setupMs < 1000, `${host}: ${JSON.stringify(result)}`);
    }
  });
});

Deno.test("connectSrt() says it timed out when nobody answers within the connect timeout", async () => {
  await withSrt(async () => {
    const result = await connectSrt(options(freeUdpPort(), { timeoutMs: 300 }));
    assert.ok(!result.ok && result.reason === "timeout", JSON.stringify(result));
    assert.ok(result.afterMs >= 290 && result.afterMs < 300 + 250 + 100, `${result.afterMs} ms`);
  });
});

Deno.test("connectSrt() gives libsrt's reason when the listener has another passphrase", async () => {
  await withSrt(async () => {
    const port = freeUdpPort();
    const uri = `srt://127.0.0.1:${port}?mode=listener&passphrase=the-right-one`;
    await using _listener = await srtLiveTransmit(uri, port);
    const started = performance.now();
    const result = await connectSrt(options(port, { passphrase: "the-wrong-one" }));
    assert.deepEqual(result, { ok: false, reason: "rejected", code: 10 }); // SRT_REJ_BADSECRET
    assert.ok(performance.now() - started < 1000, "at once, not at the timeout");
  });
});

Deno.test("connectSrt() gives the code a listen callback rejected it with", async () => {
  await withSrt(async () => {
    const port = freeUdpPort();
    const listener = SrtSocket.create();
    const streamIds: string[] = [];
    await using hook = new ListenHook(listener, (request) => {
      streamIds.push(request.streamId);
      return 1403;
    });
    listener.bind(encodeSockaddr({ hostname: "127.0.0.1", port }));
    listener.listen(1);
    const result = await connectSrt(options(port, { streamId: "live/forbidden" }));
    assert.deepEqual(result, { ok: false, reason: "rejected", code: 1403 });
    assert.deepEqual(streamIds, ["live/forbidden"]);
    await hook.close();
  });
});

Deno.test("connectSrt() meets a rendezvous peer from the given local port", async () => {
  await withSrt(async () => {
    const [local, remote] = [freeUdpPort(), freeUdpPort()];
    // srt-live-transmit waves from `port` to the host:port of its URI.
    const uri = `srt://127.0.0.1:${local}?mode=rendezvous&port=${remote}`;
    await using _peer = await srtLiveTransmit(uri, remote);
    const result = await connectSrt(options(remote, { rendezvousPort: local }));
    using connection = connectionOf(result);
    assert.equal(connection.state, SrtState.CONNECTED);
    assert.equal(connection.getInt(SrtOption.RENDEZVOUS), 1);
  });
});

Deno.test("connectSrt() gives a rendezvous the same connect timeout as a caller (not libsrt's tenfold)", async () => {
  await withSrt(async () => {
    const result = await connectSrt(
      options(freeUdpPort(), { timeoutMs: 300, rendezvousPort: freeUdpPort() }),
    );
    assert.ok(!result.ok && result.reason === "timeout", JSON.stringify(result));
    assert.ok(result.afterMs >= 290 && result.afterMs < 300 + 250 + 100, `${result.afterMs} ms`);
  });
});

Deno.test("connectSrt() reports a local port in use as an SrtError, at once", async () => {
  await withSrt(async () => {
    const taken = Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port: 0 });
    try {
      const local = (taken.addr as Deno.NetAddr).port;
      const result = await connectSrt(options(freeUdpPort(), { rendezvousPort: local }));
      assert.ok(!result.ok && result.reason === "error", JSON.stringify(result));
      assert.equal(result.error.op, "srt_bind");
      assert.equal(result.error.errno, 98, result.error.message); // EADDRINUSE
    } finally {
      taken.close();
    }
  });
});

Deno.test("connectSrt() gives a pending connect up within one stop check", async () => {
  await withSrt(async () => {
    let stop = false;
    const timer = setTimeout(() => stop = true, 150);
    const started = performance.now();
    try {
      const result = await connectSrt(
        options(freeUdpPort(), { timeoutMs: 10_000, stopRequested: () => stop }),
      );
      assert.deepEqual(result, { ok: false, reason: "stopped" });
      assert.ok(performance.now() - started < 150 + 100 + 100, `${performance.now() - started} ms`);
    } finally {
      clearTimeout(timer);
    }
  });
});
