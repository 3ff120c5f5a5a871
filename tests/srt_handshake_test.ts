/**
 * End to end: the two ways a connection is set up (the child's own induction
 * response, or libsrt answering the caller's retransmission) and encryption.
 *
 * Callers resend their induction every 250 ms, so a connection set up in
 * under 200 ms can only have come through the fast path, and one set up in
 * 200 ms or more only through the plain path. These bounds tell which path
 * ran; they are not speed targets (those are in BENCHMARKS.md).
 */

import assert from "node:assert/strict";
import { Atoll, feed, srtLiveTransmitCaller, waitFor } from "./support/mod.ts";

const PASSPHRASE = "correct-horse-battery";

async function connectOnce(atoll: Atoll, streamId: string, query = "") {
  await using caller = srtLiveTransmitCaller(atoll.srtPort, streamId, query);
  await feed(caller, 0.2);
  const [connection] = await waitFor("the connection", async () => {
    const list = await atoll.connections();
    return list[0]?.state === "connected" && list;
  });
  return connection!;
}

Deno.test("the fast handshake connects a caller before its first retransmission", async () => {
  // A ready child, so the handshake time is the handshake's, not a process start's.
  await using atoll = await Atoll.start([], { readyPool: true });
  assert.equal((await atoll.stats()).fastHandshake, true);
  const connection = await connectOnce(atoll, "publish:live/fast");
  assert.ok(connection.handshakeMs! < 200, `handshake took ${connection.handshakeMs} ms`);
});

Deno.test("--no-fast-handshake leaves the handshake to libsrt and the caller's retransmission", async () => {
  await using atoll = await Atoll.start(["--no-fast-handshake"]);
  assert.equal((await atoll.stats()).fastHandshake, false);
  const connection = await connectOnce(atoll, "publish:live/plain");
  assert.ok(connection.handshakeMs! >= 200, `handshake took ${connection.handshakeMs} ms`);
});

Deno.test("with --passphrase a matching caller connects encrypted, through the fast path", async (t) => {
  // The induction response advertises the key length: each must be right.
  for (const pbkeylen of ["0", "16", "24", "32"]) {
    await t.step(`--pbkeylen ${pbkeylen}`, async () => {
      await using atoll = await Atoll.start(
        ["--passphrase", PASSPHRASE, "--pbkeylen", pbkeylen],
        { readyPool: true },
      );
      assert.equal(
        (await atoll.stats()).fastHandshake,
        true,
        "the self-test passes with encryption",
      );
      const connection = await connectOnce(
        atoll,
        "publish:live/secret",
        `passphrase=${PASSPHRASE}`,
      );
      assert.equal(connection.encrypted, true);
      assert.ok(connection.handshakeMs! < 200, `handshake took ${connection.handshakeMs} ms`);
    });
  }
});

Deno.test("a wrong or missing passphrase is rejected with libsrt's reason, and the child leaves at once", async (t) => {
  await using atoll = await Atoll.start(["--passphrase", PASSPHRASE, "--pbkeylen", "32"]);
  const cases = [
    {
      name: "wrong passphrase",
      query: "passphrase=not-the-passphrase",
      callerSees: /Incorrect passphrase/,
    },
    { name: "no passphrase", query: "", callerSees: /Password required or unexpected/ },
  ];
  let rejected = 0;
  for (const { name, query, callerSees } of cases) {
    await t.step(name, async () => {
      await using caller = srtLiveTransmitCaller(atoll.srtPort, "publish:live/secret", query);
      await waitFor("the caller to report the rejection", () => callerSees.test(caller.text));
      rejected++;
      const stats = await waitFor("the rejection to be counted", async () => {
        const stats = await atoll.stats();
        return stats.connectionsClosed.rejected === rejected && stats;
      }, { timeoutMs: 3000 });
      assert.equal(stats.connectionsAccepted, 0);
      assert.deepEqual(await atoll.connections(), [], "the rejected peer's slot is free");
    });
  }
  const line = atoll.findLog((l) => l.properties.reason === "rejected");
  assert.match(String(line?.properties.detail), /"publish:live\/secret"/);
});

Deno.test("a rendezvous peer (wave-a-hand) is served by its own child too", async () => {
  // In rendezvous only the side libsrt elects initiator (by cookie) sends its
  // stream id, so Atoll sees the peer's id or none: the default stream takes the rest.
  const config = await Deno.makeTempFile({ suffix: ".json" });
  await Deno.writeTextFile(config, JSON.stringify({ defaultStream: "live/rendezvous" }));
  await using atoll = await Atoll.start(["--config", config]);
  await Deno.remove(config);
  // srt-live-transmit binds a rendezvous socket to `port`: borrow a free one.
  const probe = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const localPort = (probe.addr as Deno.NetAddr).port;
  probe.close();
  await using caller = srtLiveTransmitCaller(
    atoll.srtPort,
    "publish:live/rendezvous",
    `mode=rendezvous&port=${localPort}`,
  );
  await feed(caller, 0.3);
  const [connection] = await waitFor("the rendezvous connection", async () => {
    const list = await atoll.connections();
    return list[0]?.state === "connected" && list;
  });
  assert.equal(connection!.peer, `127.0.0.1:${localPort}`);
  assert.ok(["", "publish:live/rendezvous"].includes(connection!.streamId!), connection!.streamId!);
  assert.equal(connection!.mode, "publish");
  assert.equal(connection!.stream, "live/rendezvous");
  assert.equal((await atoll.stats()).datagrams["wave-a-hand"] >= 1, true);
});
