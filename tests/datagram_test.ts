/**
 * End to end: what the main process does with raw datagrams on the public
 * SRT port. A caller's induction is answered by the main process itself,
 * with a cookie of its own; only a conclusion carrying that cookie back (or
 * a rendezvous wave-a-hand) from a peer without a child starts one.
 * Everything else is dropped, counted and never answered.
 */

import assert from "node:assert/strict";
import { bytesFromHex as hex } from "../src/ipc/hex.ts";
import { DATAGRAM_KINDS, type DatagramKind } from "../src/protocol/classify.ts";
import { HandshakeOffset } from "../src/protocol/packet.ts";
import { IPV4, IPV4_RENDEZVOUS } from "../src/protocol/testdata/captured.ts";
import {
  Atoll,
  concat,
  feed,
  SeededRandom,
  sleep,
  srtLiveTransmitCaller,
  startWithConfig,
  tryConnect,
  waitFor,
} from "./support/mod.ts";

/**
 * A libsrt 1.5.1 caller's first induction to 127.0.0.1, captured
 * (src/protocol/testdata/README.md), from socket id 0x2322e1a4 or `socketId`.
 */
function callerInduction(socketId?: number): Uint8Array {
  const bytes = IPV4.callerInduction;
  if (socketId !== undefined) {
    new DataView(bytes.buffer).setUint32(HandshakeOffset.SRT_SOCKET_ID, socketId);
  }
  return bytes;
}

/** The captured caller's conclusion, with `cookie` in w11 and `socketId` (if given) in w10. */
function callerConclusion(cookie: number, socketId?: number): Uint8Array {
  const bytes = IPV4.callerConclusion;
  const view = new DataView(bytes.buffer);
  view.setInt32(HandshakeOffset.SYN_COOKIE, cookie);
  if (socketId !== undefined) view.setUint32(HandshakeOffset.SRT_SOCKET_ID, socketId);
  return bytes;
}

/** A 64-byte handshake with the given version (w4) and handshake type (w9). */
function handshake(version: string, type: string): Uint8Array {
  return hex(`
    80000000 00000000 00000010 2a3b4c5d
    ${version} 00004a17 3c1d2e0f 000005dc
    00002000 ${type} 11223344 5a5a5a5a
    0100007f 00000000 00000000 00000000
  `);
}

const KEEPALIVE = IPV4.keepalive;

/** Seeded, so the "random" datagrams are the same every run. */
function randomBytes(length: number, seed: number): Uint8Array {
  return new SeededRandom(seed).bytes(length);
}

const randomData = randomBytes(1500, 1);
randomData[0]! &= 0x7f; // control bit clear: a data packet
const randomControl = randomBytes(1500, 2);
randomControl[0]! |= 0x80; // control bit set, and never exactly the handshake word
randomControl[3]! |= 0x01;

/** Datagrams that must never start a child, with how Atoll must count them. */
const GARBAGE: { name: string; bytes: Uint8Array; kind: DatagramKind }[] = [
  { name: "empty", bytes: new Uint8Array(0), kind: "short" },
  { name: "1 byte", bytes: hex("80"), kind: "short" },
  { name: "15 bytes of an induction", bytes: callerInduction().slice(0, 15), kind: "short" },
  { name: "16-byte handshake header", bytes: callerInduction().slice(0, 16), kind: "short" },
  { name: "63-byte truncated induction", bytes: callerInduction().slice(0, 63), kind: "short" },
  { name: "16-byte data header", bytes: hex("7fffffff 00000000 00000000 00000000"), kind: "data" },
  {
    name: "a 1316-byte TS data packet",
    bytes: concat(hex("00000001 e0000001 00001234 2a3b4c5d"), new Uint8Array(1316).fill(0x47)),
    kind: "data",
  },
  { name: "random 1500 bytes, high bit 0", bytes: randomData, kind: "data" },
  { name: "random 1500 bytes, high bit 1", bytes: randomControl, kind: "control" },
  { name: "a 4000-byte data datagram", bytes: randomBytes(4000, 3).fill(0, 0, 1), kind: "data" },
  { name: "keepalive", bytes: KEEPALIVE, kind: "control" },
  { name: "ACK", bytes: IPV4.ack, kind: "control" },
  { name: "shutdown", bytes: hex("80050000 00000000 00001234 2a3b4c5d"), kind: "control" },
  {
    name: "an induction body behind a control word with a subtype",
    bytes: concat(hex("80000001"), callerInduction().slice(4)),
    kind: "control",
  },
  { name: "HSv5 conclusion with extensions", bytes: IPV4.callerConclusion, kind: "conclusion" },
  { name: "agreement", bytes: handshake("00000005", "fffffffe"), kind: "agreement" },
  { name: "rejection 1000+1403", bytes: handshake("00000005", "00000963"), kind: "rejection" },
  {
    name: "induction with version 3",
    bytes: handshake("00000003", "00000001"),
    kind: "handshake-other",
  },
  { name: "handshake type 2", bytes: handshake("00000004", "00000002"), kind: "handshake-other" },
];

/** A raw UDP socket on 127.0.0.1 sending to Atoll's SRT port. */
class RawPeer implements AsyncDisposable {
  readonly #socket: Deno.DatagramConn;
  readonly #target: Deno.NetAddr;
  readonly #receiving: Promise<void>;
  /** Datagrams that came back to this socket. */
  readonly received: Uint8Array[] = [];

  constructor(atoll: Atoll) {
    const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    this.#socket = socket;
    this.#target = { transport: "udp", hostname: "127.0.0.1", port: atoll.srtPort };
    this.#receiving = (async () => {
      try {
        for (;;) {
          const [bytes] = await socket.receive();
          this.received.push(bytes);
        }
      } catch {
        // Closed.
      }
    })();
  }

  get port(): number {
    return (this.#socket.addr as Deno.NetAddr).port;
  }

  /** How Atoll names this peer. */
  get name(): string {
    return `127.0.0.1:${this.port}`;
  }

  async send(bytes: Uint8Array): Promise<void> {
    const sent = await this.#socket.send(bytes, this.#target);
    assert.equal(sent, bytes.length);
  }

  /**
   * Sends an induction and returns the conclusion that proves this peer's
   * address: the captured one, with the cookie Atoll's main process
   * answered (and `socketId` in w10, if given).
   */
  async prove(socketId?: number): Promise<Uint8Array> {
    const seen = this.received.length;
    await this.send(callerInduction(socketId));
    const answer = await waitFor("the induction's answer", () => this.received[seen]);
    const view = new DataView(answer.buffer, answer.byteOffset, answer.byteLength);
    assert.equal(view.getUint32(HandshakeOffset.HANDSHAKE_TYPE), 1, "an induction response");
    return callerConclusion(view.getInt32(HandshakeOffset.SYN_COOKIE), socketId);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#socket.close();
    await this.#receiving;
  }
}

function zeros<K extends string>(keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((key) => [key, 0])) as Record<K, number>;
}

function sum(record: Record<string, number>): number {
  return Object.values(record).reduce((a, b) => a + b, 0);
}

Deno.test("garbage of every shape from several ports starts no child, is counted by kind and never answered", async () => {
  await using atoll = await Atoll.start();
  const before = await atoll.stats();
  assert.equal(before.childrenStarted, 2, "the prestarted pool");
  assert.equal(sum(before.datagrams), 0);

  await using a = new RawPeer(atoll);
  await using b = new RawPeer(atoll);
  await using c = new RawPeer(atoll);
  const peers = [a, b, c];
  const expected = zeros(DATAGRAM_KINDS);
  for (const [i, { bytes, kind }] of GARBAGE.entries()) {
    await peers[i % peers.length]!.send(bytes);
    expected[kind]++;
  }
  const stats = await waitFor("every datagram to be counted", async () => {
    const stats = await atoll.stats();
    return sum(stats.datagrams) >= GARBAGE.length && stats;
  });

  assert.deepEqual(stats.datagrams, expected);
  // A conclusion whose cookie the main process did not give is no proof.
  assert.equal(stats.dropped["bad-cookie"], expected.conclusion);
  assert.equal(stats.dropped["not-connection-start"], GARBAGE.length - expected.conclusion);
  assert.equal(sum(stats.dropped), GARBAGE.length, "dropped for no other reason");
  assert.equal(stats.childrenStarted, 2, "no child started beyond the pool");
  assert.equal(stats.childrenCrashed, 0);
  assert.equal(stats.idleChildren + stats.startingChildren, 2);
  assert.equal(stats.connections, 0);
  assert.deepEqual(await atoll.connections(), []);
  assert.deepEqual(atoll.logs.filter((l) => l.level === "ERROR"), []);

  // Atoll still serves a real caller.
  await using caller = srtLiveTransmitCaller(atoll.srtPort, "publish:live/after-garbage");
  await feed(caller, 0.3);
  const [connection] = await waitFor("the caller's connection", async () => {
    const list = await atoll.connections();
    return list[0]?.state === "connected" && list;
  });
  assert.equal(connection!.mode, "publish");
  assert.ok(!peers.some((peer) => peer.name === connection!.peer));
  assert.deepEqual(peers.map((peer) => peer.received.length), [0, 0, 0], "nothing answered");
});

Deno.test("an induction is answered by the main process with its own cookie, and starts no child", async () => {
  await using atoll = await Atoll.start();
  await using peer = new RawPeer(atoll);
  const conclusion = await peer.prove();
  const [answer] = peer.received as [Uint8Array];
  assert.equal(answer.length, 64);
  // The captured induction's fields come back, as libsrt's own answer has them.
  const view = new DataView(answer.buffer, answer.byteOffset);
  assert.equal(view.getUint32(HandshakeOffset.VERSION), 5);
  assert.equal(view.getUint16(HandshakeOffset.EXTENSION_FIELD), 0x4a17);
  assert.equal(view.getUint32(12), 0x2322e1a4, "addressed to the caller's socket");
  assert.notEqual(view.getInt32(HandshakeOffset.SYN_COOKIE), 0);
  const stats = await atoll.stats();
  assert.equal(stats.inductionsAnswered, 1);
  assert.equal(stats.childrenStarted, 2, "only the prestarted pool");
  assert.deepEqual(await atoll.connections(), []);
  // The same induction again is answered again (a retransmission), still with no child.
  await peer.send(callerInduction());
  await waitFor("the second answer", () => peer.received.length === 2);
  const again = peer.received[1]!;
  assert.deepEqual(again.subarray(44, 48), answer.subarray(44, 48), "the same cookie");
  assert.equal((await atoll.stats()).childrenStarted, 2);
  assert.deepEqual(await atoll.connections(), []);
  assert.equal(conclusion.length, IPV4.callerConclusion.length);
});

Deno.test("5 copies of one proven conclusion from one port make one connection; 4 are dropped as peer-has-child", async () => {
  // A ready child takes the first copy at once (with none ready, the copies
  // would only refresh a caller waiting for one).
  await using atoll = await Atoll.start([], { readyPool: true });
  await using peer = new RawPeer(atoll);
  const conclusion = await peer.prove();
  // Once the first conclusion is handed over, the kernel delivers this peer's
  // datagrams to the child's connected socket, so only copies already queued
  // on the listening socket reach the main process. Stopping it while they
  // are sent queues all five there, whatever the scheduling.
  atoll.signal("SIGSTOP");
  try {
    for (let i = 0; i < 5; i++) await peer.send(conclusion);
  } finally {
    atoll.signal("SIGCONT");
  }
  const stats = await waitFor("all five to be counted", async () => {
    const stats = await atoll.stats();
    return stats.datagrams.conclusion >= 5 && stats;
  });
  assert.equal(stats.datagrams.induction, 1);
  assert.equal(stats.datagrams.conclusion, 5);
  assert.equal(stats.dropped["peer-has-child"], 4);
  assert.equal(sum(stats.dropped), 4);
  assert.equal(stats.childrenStarted, 3, "the pool of 2, refilled once");
  const list = await atoll.connections();
  assert.equal(list.length, 1);
  assert.equal(list[0]!.peer, peer.name);

  // Later datagrams from that peer go to its child, not to the main process:
  // a data packet from another port marks when they would have been counted.
  await peer.send(callerInduction());
  await peer.send(KEEPALIVE);
  await using marker = new RawPeer(atoll);
  await marker.send(hex("00000001 e0000001 00001234 2a3b4c5d"));
  const after = await waitFor("the marker", async () => {
    const stats = await atoll.stats();
    return stats.datagrams.data === 1 && stats;
  });
  assert.equal(after.datagrams.induction, 1);
  assert.equal(after.datagrams.control, 0);
  assert.equal(after.dropped["peer-has-child"], 4);
  assert.equal((await atoll.connections()).length, 1);
});

Deno.test("a conclusion without the main process's cookie for that address starts nothing", async () => {
  await using atoll = await Atoll.start();
  await using peer = new RawPeer(atoll);
  await using other = new RawPeer(atoll);
  const conclusion = await peer.prove();
  // Another address cannot use this peer's cookie, nor can a guessed one pass.
  await other.send(conclusion);
  await other.send(callerConclusion(0x12345678));
  const stats = await waitFor("both conclusions", async () => {
    const stats = await atoll.stats();
    return stats.datagrams.conclusion >= 2 && stats;
  });
  assert.equal(stats.dropped["bad-cookie"], 2);
  assert.equal(stats.childrenStarted, 2, "only the prestarted pool");
  assert.deepEqual(await atoll.connections(), []);
  assert.deepEqual(other.received, [], "never answered");
});

Deno.test("a proven caller that never completes its handshake is closed as handshake-timeout and its slot freed", async () => {
  await using atoll = await Atoll.start(["--handshake-timeout", "500"]);
  await using peer = new RawPeer(atoll);
  const conclusion = await peer.prove();
  const sent = performance.now();
  await peer.send(conclusion);
  const [connection] = await waitFor("the connection", async () => {
    const list = await atoll.connections();
    return list.length === 1 && list;
  });
  assert.equal(connection!.peer, peer.name);
  assert.equal(connection!.state, "handshaking");

  await waitFor("the connection to go", async () => (await atoll.connections()).length === 0, {
    timeoutMs: 5000,
  });
  const elapsed = performance.now() - sent;
  assert.ok(elapsed >= 500, `gone after ${elapsed.toFixed(0)} ms, before the timeout`);
  const stats = await atoll.stats();
  assert.equal(stats.connectionsClosed["handshake-timeout"], 1);
  assert.equal(sum(stats.connectionsClosed), 1);
  assert.equal(stats.childrenCrashed, 0, "the child exited by itself");
  assert.equal(stats.connectionsAccepted, 0);
  const closed = atoll.findLog((l) =>
    l.properties.id === connection!.id && "reason" in l.properties
  );
  assert.ok(closed, "a closing log line");
  assert.equal(closed.properties.reason, "handshake-timeout");
  assert.equal(closed.properties.peer, peer.name);
  assert.equal(closed.level, "INFO");

  // The freed slot takes the same peer again.
  await peer.send(await peer.prove(0x2322e1a5));
  const [again] = await waitFor("a new connection", async () => {
    const list = await atoll.connections();
    return list.length === 1 && list;
  });
  assert.equal(again!.peer, peer.name);
  assert.notEqual(again!.id, connection!.id);
});

Deno.test("after a peer's child is killed, that peer's unproven datagrams are dropped and start nothing", async () => {
  await using atoll = await Atoll.start();
  await using peer = new RawPeer(atoll);
  await peer.send(await peer.prove());
  const [connection] = await waitFor("the connection", async () => {
    const list = await atoll.connections();
    return list.length === 1 && list;
  });
  assert.equal(connection!.peer, peer.name);
  assert.notEqual(connection!.pid, atoll.pid);

  Deno.kill(connection!.pid, "SIGKILL");
  await waitFor("the connection to go", async () => (await atoll.connections()).length === 0);
  const crashed = await waitFor(
    "the crash log line",
    () => atoll.findLog((l) => l.properties.id === connection!.id && "reason" in l.properties),
  );
  assert.equal(crashed.properties.reason, "crashed");
  assert.equal(crashed.level, "ERROR");
  assert.match(String(crashed.properties.detail), /SIGKILL/);

  const before = await atoll.stats();
  assert.equal(before.connectionsClosed.crashed, 1);
  assert.equal(before.childrenCrashed, 1);
  // What a caller whose server side vanished goes on sending.
  await peer.send(KEEPALIVE);
  await peer.send(IPV4.callerConclusion);
  const after = await waitFor("both datagrams to be counted", async () => {
    const stats = await atoll.stats();
    return sum(stats.datagrams) >= sum(before.datagrams) + 2 && stats;
  });
  assert.equal(after.datagrams.control, before.datagrams.control + 1);
  assert.equal(after.datagrams.conclusion, before.datagrams.conclusion + 1);
  assert.equal(
    after.dropped["not-connection-start"],
    before.dropped["not-connection-start"] + 1,
  );
  // The captured conclusion's cookie was never Atoll's.
  assert.equal(after.dropped["bad-cookie"], before.dropped["bad-cookie"] + 1);
  assert.equal(after.childrenStarted, before.childrenStarted, "no child started");
  assert.deepEqual(await atoll.connections(), []);
});

Deno.test("a forged rendezvous wave-a-hand draws at most 2 answers", async () => {
  await using atoll = await Atoll.start();
  await using peer = new RawPeer(atoll);
  await peer.send(IPV4_RENDEZVOUS.waveAHand);
  const [connection] = await waitFor("its child", async () => {
    const list = await atoll.connections();
    return list.length === 1 && list;
  });
  // libsrt waves every 250 ms for as long as the child lets it; this peer never answers.
  await waitFor("the child to give up", async () => (await atoll.connections()).length === 0, {
    timeoutMs: 10_000,
  });
  await sleep(500);
  assert.ok(peer.received.length >= 1, "answered at all");
  assert.ok(peer.received.length <= 2, `${peer.received.length} answers to one wave-a-hand`);
  const closed = await waitFor(
    "its closing line",
    () => atoll.findLog((l) => l.properties.id === connection!.id && "reason" in l.properties),
  );
  assert.equal(closed.properties.reason, "handshake-timeout");
});

Deno.test("a handshake that completed after its caller gave up does not hold the stream against the caller's retry", async () => {
  // The captured conclusion carries no stream id: it publishes to the default stream.
  await using atoll = await startWithConfig("defaultStream: live/late\n", [], { readyPool: true });
  await using ghost = new RawPeer(atoll);
  // The ghost proves its address and sends its conclusion; its child answers
  // with libsrt's own cookie, and the ghost's conclusion with that cookie
  // completes the handshake. Then it never says anything again: to its
  // child, a publisher connected and silent.
  await ghost.send(await ghost.prove());
  const seen = ghost.received.length;
  const childAnswer = await waitFor("the child's answer", () => ghost.received[seen]);
  const view = new DataView(childAnswer.buffer, childAnswer.byteOffset, childAnswer.byteLength);
  await ghost.send(callerConclusion(view.getInt32(HandshakeOffset.SYN_COOKIE)));
  const late = await waitFor("the ghost publisher connected", async () => {
    const list = await atoll.connections();
    return list.find((c) => c.peer === ghost.name && c.state === "connected");
  });
  assert.equal(late.stream, "live/late");

  // The same caller's retry, from another port of the same address.
  const retry = await tryConnect(atoll.srtPort, "publish:live/late");
  assert.equal(retry.connected, true, `${retry.rejectReason} ${retry.rejectText}`);
  await waitFor("the ghost's connection to be closed", async () => {
    const list = await atoll.connections();
    return !list.some((c) => c.peer === ghost.name);
  });
  assert.ok(
    atoll.findLog((l) =>
      l.properties.peer === ghost.name &&
      /replaced by a new publisher/.test(String(l.properties.detail))
    ),
  );
});

Deno.test("a caller that gives up before its handshake frees its child without waiting for the handshake timeout", async () => {
  await using atoll = await Atoll.start(["--handshake-timeout", "30000"], { readyPool: true });
  await using ghost = new RawPeer(atoll);
  // Proven and handed to a child, then silent: it never answers the child.
  await ghost.send(await ghost.prove());
  await waitFor("its child", async () => (await atoll.connections()).length === 1);
  const closed = await atoll.waitForLog(
    "its connection closed",
    (l) => l.properties.peer === ghost.name && "reason" in l.properties,
    10_000,
  );
  assert.equal(closed.properties.reason, "handshake-timeout");
  assert.match(String(closed.properties.detail), /the caller gave up: nothing from it for 1500 ms/);
  await waitFor("no connection left", async () => (await atoll.connections()).length === 0);
});
