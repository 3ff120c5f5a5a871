/**
 * End to end: real callers (srt-live-transmit, ffmpeg) connect to a real
 * Atoll, each in a child process of its own.
 */

import assert from "node:assert/strict";
import {
  Atoll,
  fdTargets,
  feed,
  ffmpegPublisher,
  inetSockets,
  socketInodes,
  srtLiveTransmitCaller,
  waitFor,
} from "./support/mod.ts";

Deno.test("a srt-live-transmit publisher is served by its own child and logged when it leaves", async () => {
  await using atoll = await Atoll.start();
  await using caller = srtLiveTransmitCaller(atoll.srtPort, "#!::r=live/one,m=publish");
  await feed(caller, 1.5);
  const [connection] = await waitFor("the connection to carry data", async () => {
    const list = await atoll.connections();
    return list.length === 1 && list[0]!.bytesReceived > 100_000 && list;
  });
  assert.ok(connection);
  assert.equal(connection.streamId, "#!::r=live/one,m=publish");
  assert.equal(connection.mode, "publish");
  assert.equal(connection.state, "connected");
  assert.match(connection.peer, /^127\.0\.0\.1:\d+$/);
  assert.notEqual(connection.pid, atoll.pid);
  assert.ok(Date.parse(connection.connectedAt!) <= Date.now());
  for (const key of ["id", "bytesSent", "packetsLost", "packetsRetransmitted"] as const) {
    assert.ok(key in connection, key);
  }

  // srt-live-transmit notices SIGINT once its blocking stdin read returns,
  // then closes its SRT socket and exits.
  caller.signal("SIGINT");
  await caller.closeStdin();
  await caller.exit();
  const closed = await waitFor(
    "the closing log line",
    () => atoll.findLog((l) => l.properties.id === connection.id && "bytesIn" in l.properties),
  );
  assert.equal(closed.properties.peer, connection.peer);
  assert.equal(closed.properties.streamId, JSON.stringify(connection.streamId));
  assert.ok(Number(closed.properties.bytesIn) >= connection.bytesReceived);
  assert.equal(closed.properties.reason, "peer-closed");
  assert.ok(
    "duration" in closed.properties && "lost" in closed.properties &&
      "retransmitted" in closed.properties,
  );
  await waitFor("the slot to be freed", async () => (await atoll.connections()).length === 0);
});

Deno.test("an ffmpeg publisher with a URL-encoded stream id is accepted", async () => {
  await using atoll = await Atoll.start();
  const streamId = encodeURIComponent("#!::r=live/ffmpeg,m=publish");
  await using ffmpeg = await ffmpegPublisher(
    `srt://127.0.0.1:${atoll.srtPort}?streamid=${streamId}`,
  );
  const [connection] = await waitFor("ffmpeg's connection to carry data", async () => {
    const list = await atoll.connections();
    return list.length === 1 && list[0]!.bytesReceived > 50_000 && list;
  }, { timeoutMs: 15_000 });
  assert.equal(connection!.mode, "publish");
  assert.match(connection!.streamId!, /live(\/|%2F)ffmpeg/);
  assert.equal(ffmpeg.text.includes("error"), false, ffmpeg.text);
});

Deno.test("a child holds exactly one socket of the network: its peer's connected UDP socket", async () => {
  await using atoll = await Atoll.start();
  await using caller = srtLiveTransmitCaller(atoll.srtPort, "publish:live/fds");
  await feed(caller, 0.3);
  const [connection] = await waitFor("the connection", async () => {
    const list = await atoll.connections();
    return list[0]?.state === "connected" && list;
  });
  const childSockets = socketInodes(connection!.pid);
  const parentSockets = socketInodes(atoll.pid);
  const shared = [...childSockets].filter((inode) => parentSockets.has(inode));
  assert.deepEqual(shared, [], "no socket of the main process reaches the child");
  const inet = inetSockets();
  const childInet = [...childSockets].filter((inode) => inet.has(inode)).map((inode) =>
    inet.get(inode)
  );
  const peerPort = Number(connection!.peer.split(":").at(-1));
  assert.deepEqual(childInet, [{
    protocol: "udp",
    localPort: atoll.srtPort,
    remotePort: peerPort,
  }]);
  // Beyond its stdio, nothing the main process holds is open in the child.
  const parentTargets = new Set(fdTargets(atoll.pid).values());
  const childTargets = fdTargets(connection!.pid);
  const stdio = new Set(["0", "1", "2"].map((fd) => childTargets.get(fd)));
  const leaked = [...childTargets].filter(([, target]) =>
    /^(socket|pipe):/.test(target) && parentTargets.has(target) && !stdio.has(target)
  );
  assert.deepEqual(leaked, []);
});

Deno.test("an IPv6 listener serves IPv6 callers, and IPv4 callers too when dual-stack", async (t) => {
  const cases = [
    { listen: "[::1]:0", caller: "[::1]", peer: /^\[::1\]:\d+$/ },
    { listen: "[::]:0", caller: "[::1]", peer: /^\[::1\]:\d+$/ },
    { listen: "[::]:0", caller: "127.0.0.1", peer: /^\[::ffff:127\.0\.0\.1\]:\d+$/ },
  ];
  for (const { listen, caller: host, peer } of cases) {
    await t.step(`${host} to ${listen}`, async () => {
      // A ready child, so the handshake time is the handshake's, not a process start's.
      await using atoll = await Atoll.start(["--srt-listen", listen], { readyPool: true });
      await using caller = srtLiveTransmitCaller(atoll.srtPort, "publish:live/v6", "", host);
      await feed(caller, 0.3);
      const [connection] = await waitFor("the connection", async () => {
        const list = await atoll.connections();
        return list[0]?.state === "connected" && list;
      });
      assert.match(connection!.peer, peer);
      // Under 200 ms only the fast path connects: its cookie matched libsrt's for this address form.
      assert.ok(connection!.handshakeMs! < 200, `handshake took ${connection!.handshakeMs} ms`);
    });
  }
});

Deno.test("GET /healthz answers 200 once the SRT port is bound; unknown paths 404, writes 405", async () => {
  await using atoll = await Atoll.start();
  const health = await fetch(`http://127.0.0.1:${atoll.httpPort}/healthz`);
  assert.equal(health.status, 200);
  assert.equal(await health.text(), "ok\n");
  const missing = await fetch(`http://127.0.0.1:${atoll.httpPort}/nope`);
  assert.equal(missing.status, 404);
  await missing.body?.cancel();
  const post = await fetch(`http://127.0.0.1:${atoll.httpPort}/api/connections`, {
    method: "POST",
  });
  assert.equal(post.status, 405);
  await post.body?.cancel();
});

Deno.test("with --pool-size 0 each peer's child is started on demand", async () => {
  // --pool-max 0: the pool does not grow after this caller had to wait.
  await using atoll = await Atoll.start(["--pool-size", "0", "--pool-max", "0"]);
  assert.equal((await atoll.stats()).idleChildren, 0);
  await using caller = srtLiveTransmitCaller(atoll.srtPort, "publish:live/cold");
  await feed(caller, 0.5);
  const [connection] = await waitFor("the connection", async () => {
    const list = await atoll.connections();
    return list[0]?.state === "connected" && list;
  });
  assert.equal(connection!.mode, "publish");
  // The handshake time counts the wait for the child to start (a Deno process: tens of ms).
  assert.ok(connection!.handshakeMs! >= 10, `handshake took ${connection!.handshakeMs} ms`);
  const stats = await atoll.stats();
  assert.equal(stats.childrenStarted, 1);
  assert.equal(stats.idleChildren, 0);
});

Deno.test("/api/stats counts a prestarted child as idle only once it is ready", async () => {
  await using atoll = await Atoll.start(["--pool-size", "3", "--pool-max-starting", "3"]);
  const first = await atoll.stats();
  assert.equal(first.idleChildren + first.startingChildren, 3);
  const ready = await waitFor("three ready children", async () => {
    const stats = await atoll.stats();
    return stats.idleChildren === 3 && stats;
  });
  assert.equal(ready.startingChildren, 0);
});
