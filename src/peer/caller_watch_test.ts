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

Deno.test("CallerWatch.confirm() returns once the caller is heard from again", async () => {
  const { peer, local, socket } = heldSocket();
  using _socket = socket;
  try {
    const watch = new CallerWatch(socket.fd);
    watch.start(performance.now() - 1000);
    // Queued before confirm() blocks the thread: the kernel has it at the first look.
    await peer.send(new Uint8Array(100), local);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const started = performance.now();
    assert.equal(watch.confirm().state, "present");
    assert.ok(performance.now() - started < 200);
  } finally {
    peer.close();
  }
});

Deno.test("CallerWatch leaves a caller present when it cannot read the queue", () => {
  const watch = new CallerWatch(-1);
  watch.start(0);
  watch.sample(5000);
  assert.deepEqual(watch.judge(), { state: "present", silentMs: 0 });
});
