import assert from "node:assert/strict";
import { openConnectedUdpSocket } from "../../ffi/socket.ts";
import { freeUdpPort } from "../../tests/support/procfs.ts";
import { CallerWatch } from "./caller_watch.ts";

Deno.test("CallerWatch sees a caller's unread datagrams pile up, then its silence", async () => {
  const peer = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const local: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: freeUdpPort() };
  using socket = openConnectedUdpSocket(local, peer.addr as Deno.NetAddr);
  try {
    const watch = new CallerWatch(socket.fd);
    watch.start(0);
    // Nothing reads the socket, as while libsrt's receiver thread is held.
    await peer.send(new Uint8Array(100), local);
    await new Promise((resolve) => setTimeout(resolve, 50));
    watch.sample(600);
    assert.deepEqual(watch.judge(), { gone: false, silentMs: 0 });
    watch.sample(1000);
    assert.deepEqual(watch.judge(), { gone: false, silentMs: 400 });
    watch.sample(1400);
    assert.deepEqual(watch.judge(), { gone: true, silentMs: 800 });
  } finally {
    peer.close();
  }
});

Deno.test("CallerWatch leaves a caller present when it cannot read the queue", () => {
  const watch = new CallerWatch(-1);
  watch.start(0);
  watch.sample(5000);
  assert.deepEqual(watch.judge(), { gone: false, silentMs: 0 });
});
