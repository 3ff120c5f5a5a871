/**
 * End to end: a flood of spoofed inductions costs Atoll no process, and a
 * real caller connects in its normal time through it. Before callers had to
 * prove their address, each induction started a child (about 88 ms of CPU
 * and 14 MB), and 25 a second from one address pinned every handshake slot.
 *
 * The flood comes from 100 loopback addresses (127.0.0.1 to 127.0.0.100):
 * one sends 2,000 inductions a second, the 99 others 5,000 a second
 * together. None ever sends a conclusion, as a spoofer that never sees the
 * answers cannot.
 */

import assert from "node:assert/strict";
import { HandshakeOffset } from "../src/protocol/packet.ts";
import { IPV4 } from "../src/protocol/testdata/captured.ts";
import { Atoll, tryConnect, waitFor } from "./support/mod.ts";

const FLOOD_SECONDS = 2;
const TICK_MS = 10;
const HEAVY_PER_TICK = 20; // 2,000 a second from 127.0.0.1
const SPREAD_PER_TICK = 50; // 5,000 a second from 127.0.0.2 to 127.0.0.100

/** Sockets on many loopback addresses that send inductions and never read the answers. */
class Flood implements AsyncDisposable {
  readonly #heavy: Deno.DatagramConn;
  readonly #spread: Deno.DatagramConn[];
  readonly #target: Deno.NetAddr;
  sent = 0;

  constructor(port: number) {
    const open = (hostname: string) => Deno.listenDatagram({ transport: "udp", hostname, port: 0 });
    this.#heavy = open("127.0.0.1");
    this.#spread = Array.from({ length: 99 }, (_, i) => open(`127.0.0.${i + 2}`));
    this.#target = { transport: "udp", hostname: "127.0.0.1", port };
  }

  /** Sends for `seconds`, in ticks of {@link TICK_MS}; bounded in count and time. */
  async run(seconds: number): Promise<void> {
    const induction = IPV4.callerInduction;
    const view = new DataView(induction.buffer);
    const ticks = Math.round(seconds * 1000 / TICK_MS);
    const started = performance.now();
    for (let tick = 0; tick < ticks; tick++) {
      const sends: Promise<number>[] = [];
      for (let i = 0; i < HEAVY_PER_TICK; i++) {
        view.setUint32(HandshakeOffset.SRT_SOCKET_ID, this.sent + 1);
        sends.push(this.#heavy.send(induction.slice(), this.#target));
        this.sent++;
      }
      for (let i = 0; i < SPREAD_PER_TICK; i++) {
        view.setUint32(HandshakeOffset.SRT_SOCKET_ID, this.sent + 1);
        const socket = this.#spread[(tick * SPREAD_PER_TICK + i) % this.#spread.length]!;
        sends.push(socket.send(induction.slice(), this.#target));
        this.sent++;
      }
      await Promise.all(sends);
      const next = started + (tick + 1) * TICK_MS;
      const wait = next - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    for (const socket of [this.#heavy, ...this.#spread]) socket.close();
    return Promise.resolve();
  }
}

Deno.test("a flood of spoofed inductions from 100 addresses starts no child, and a real caller connects at its normal speed", async () => {
  await using atoll = await Atoll.start([], { readyPool: true });
  // The same caller without a flood, for comparison.
  const quiet = await tryConnect(atoll.srtPort, "publish:live/quiet");
  assert.equal(quiet.connected, true, quiet.rejectText);
  await waitFor("the quiet caller to leave", async () => (await atoll.connections()).length === 0);
  await atoll.waitForIdleChildren();
  const before = await atoll.stats();

  await using flood = new Flood(atoll.srtPort);
  const flooding = flood.run(FLOOD_SECONDS);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const during = await tryConnect(atoll.srtPort, "publish:live/during");
  await flooding;

  assert.equal(during.connected, true, during.rejectText);
  // Its first induction was answered at once: no retransmission (250 ms to 1 s) was needed.
  assert.ok(
    during.ms < 200,
    `connected in ${during.ms} ms during the flood (${quiet.ms} ms before)`,
  );
  // A busy machine may drop some of the flood at the socket: wait until the count settles.
  let last = -1;
  const after = await waitFor("the flood to be counted", async () => {
    const stats = await atoll.stats();
    const settled = stats.datagrams.induction === last;
    last = stats.datagrams.induction;
    return settled && stats;
  }, { timeoutMs: 10_000, intervalMs: 300 });
  const received = after.datagrams.induction - before.datagrams.induction;
  assert.ok(received >= flood.sent / 2, `only ${received} of ${flood.sent} arrived: no flood`);
  assert.equal(
    after.childrenStarted - before.childrenStarted,
    1,
    "one child, for the real caller (the pool's refill)",
  );
  assert.equal(after.connectionsAccepted - before.connectionsAccepted, 1);
  assert.equal(after.dropped["induction-rate"], 0, "7,000 a second are all answered");
  assert.equal(after.inductionsAnswered - before.inductionsAnswered, received, "each one answered");
});
