import assert from "node:assert/strict";
import { openConnectedUdpSocket } from "../../ffi/socket.ts";
import { freeUdpPort } from "../../tests/support/procfs.ts";
import { CALLER_SILENCE_MS } from "../protocol/caller_presence.ts";
import { CallerWatch } from "./caller_watch.ts";

/** A connected UDP socket nobody reads, as while libsrt's receiver thread is held, and its peer. */
function heldSocket() {
  const peer = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const local: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: freeUdpPort() };
  const socket = openConnectedUdpSocket(local, peer.addr as Deno.NetAddr);
  return { peer, local, socket };
}

Deno.test("CallerWatch sees a caller's unread datagrams pile up, then its silence", async () => {
  const { peer, local, socket } = heldSocket();
  using _socket = socket;
  try {
    const watch = new CallerWatch(socket.fd);
    watch.start(0);
    await peer.send(new Uint8Array(100), local);
    await new Promise((resolve) => setTimeout(resolve, 50));
    watch.sample(600);
    assert.deepEqual(watch.judge(), { state: "present", silentMs: 0 });
    watch.sample(1000);
    assert.deepEqual(watch.judge(), { state: "unsure", silentMs: 400 });
    watch.sample(2200);
    assert.deepEqual(watch.judge(), { state: "gone", silentMs: 1600 });
  } finally {
    peer.close();
  }
});

Deno.test("CallerWatch.confirm() waits out the silence of a caller that is gone", () => {
  const { peer, socket } = heldSocket();
  using _socket = socket;
  try {
    const watch = new CallerWatch(socket.fd);
    const started = performance.now();
    watch.start(started - 1000);
    const judged = watch.confirm();
    const waited = performance.now() - started;
    assert.equal(judged.state, "gone");
    assert.ok(waited >= CALLER_SILENCE_MS - 1000 && waited < CALLER_SILENCE_MS, `${waited} ms`);
  } finally {
    peer.close();
  }
});

Deno.test("CallerWatch.confirm() returns once the caller sends again", async () => {
  // confirm() blocks this thread: the caller is a worker's socket.
  const worker = new Worker(
    URL.createObjectURL(
      new Blob([`
        const caller = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
        onmessage = async ({ data }) => {
          await new Promise((resolve) => setTimeout(resolve, data.afterMs));
          await caller.send(new Uint8Array(100), data.to);
          postMessage("sent");
        };
        postMessage(caller.addr);
      `], { type: "text/javascript" }),
    ),
    { type: "module" },
  );
  const next = () =>
    new Promise<unknown>((resolve) => worker.onmessage = ({ data }) => resolve(data));
  try {
    const callerAddress = await next() as Deno.NetAddr;
    const local: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: freeUdpPort() };
    using socket = openConnectedUdpSocket(local, callerAddress);
    const watch = new CallerWatch(socket.fd);
    watch.start(performance.now() - 1000);
    // Heard from before confirm() started: that does not count.
    let sent = next();
    worker.postMessage({ afterMs: 0, to: local });
    await sent;
    await new Promise((resolve) => setTimeout(resolve, 20));
    sent = next();
    const started = performance.now();
    worker.postMessage({ afterMs: 300, to: local });
    const judged = watch.confirm();
    const waited = performance.now() - started;
    assert.equal(judged.state, "present");
    assert.ok(waited >= 250 && waited < 1000, `${waited} ms`);
    await sent;
  } finally {
    worker.terminate();
  }
});

Deno.test("CallerWatch leaves a caller present when it cannot read the queue", () => {
  const watch = new CallerWatch(-1);
  watch.start(0);
  watch.sample(5000);
  assert.deepEqual(watch.judge(), { state: "present", silentMs: 0 });
});
