/**
 * The lifecycle rules of the main process, against fake children: no
 * process is started and no socket is opened (stream buffers are real
 * memfds, made by the stream manager).
 */

import assert from "node:assert/strict";
import { DEFAULT_CONFIG, parseConfig } from "../config/config_file.ts";
import { resolveOptions, type ServerOptions } from "../config/options.ts";
import type { AccessDecision, Assignment, ChildMessage, LinkStats } from "../ipc/messages.ts";
import { emptyLinkStats } from "../ipc/messages.ts";
import { connectionInfo, logContext } from "./api_view.ts";
import type { ChildEvents } from "./child_handle.ts";
import type { Clock } from "./connection_table.ts";
import { bytesFromHex } from "../ipc/hex.ts";
import ipv4StreamId from "../protocol/testdata/ipv4_stream_id.json" with { type: "json" };
import ipv4PassphraseStreamId from "../protocol/testdata/ipv4_passphrase_stream_id.json" with {
  type: "json",
};
import { attemptKey, newCounters, type SupervisedChild, Supervisor } from "./supervisor.ts";
import { capturingLogs } from "./_capturing_logs.ts";

const CLEAN: Deno.CommandStatus = { success: true, code: 0, signal: null };
const HANDSHAKE = new Uint8Array(80).fill(0xab);

let nextPid = 1000;

/** A child that records what it is told, and reports what the test makes it say. */
class FakeChild implements SupervisedChild {
  readonly pid = nextPid++;
  readonly startedAt: number;
  ready = false;
  exited = false;
  readonly assignments: { assignment: Assignment; fd: number }[] = [];
  readonly answers: AccessDecision[] = [];
  readonly shutdowns: (string | undefined)[] = [];
  readonly kills: Deno.Signal[] = [];
  /** When false, it ignores shutdown requests (a stuck child). */
  obeysShutdown = true;
  #events: ChildEvents<FakeChild>;
  #done = Promise.withResolvers<Deno.CommandStatus>();
  readonly done = this.#done.promise;

  constructor(events: ChildEvents<FakeChild>, startedAt = performance.now()) {
    this.#events = events;
    this.startedAt = startedAt;
  }

  say(message: ChildMessage): void {
    if (message.type === "ready") this.ready = true;
    this.#events.onMessage(this, message);
  }

  exit(status: Deno.CommandStatus = CLEAN): void {
    if (this.exited) return;
    this.exited = true;
    this.#events.onExit(this, status);
    this.#done.resolve(status);
  }

  assign(assignment: Assignment, fd: number): void {
    this.assignments.push({ assignment, fd });
  }

  answer(decision: AccessDecision): boolean {
    this.answers.push(decision);
    return !this.exited;
  }

  requestShutdown(detail?: string): void {
    this.shutdowns.push(detail);
    if (!this.obeysShutdown) return;
    // Like a real child: it says why, then exits.
    queueMicrotask(() => {
      this.say({ type: "closed", reason: "shutdown", detail: detail ?? "shutdown", stats: null });
      this.exit();
    });
  }

  /** Released for an upgrade: it keeps running, unseen. */
  released = false;
  release(): void {
    this.released = true;
  }

  kill(signal: Deno.Signal = "SIGKILL"): void {
    this.kills.push(signal);
    this.exit({ success: false, code: 1, signal });
  }
}

/** A supervisor with fake children and fake sockets; every fd it opens is counted. */
function harness(options: Partial<ServerOptions> = {}, config = DEFAULT_CONFIG, clock?: Clock) {
  const children: FakeChild[] = [];
  const openFds = new Set<number>();
  let nextFd = 100;
  let failSockets = false;
  let nextId = 1;
  /** Callers the supervisor asked the listener to refuse, as `host:port reason`. */
  const refused: string[] = [];
  const counters = newCounters();
  const supervisor = new Supervisor<FakeChild>({
    options: resolveOptions({ poolSize: 2, ...options }),
    config,
    srtAddress: { hostname: "127.0.0.1", port: 9000 },
    fastHandshake: true,
    counters,
  }, {
    launch: (events) => {
      const child = new FakeChild(events, clock?.monotonicMs());
      children.push(child);
      return child;
    },
    openPeerSocket: () => {
      if (failSockets) throw new Error("no socket today");
      const fd = nextFd++;
      openFds.add(fd);
      return {
        fd,
        close: () => assert.ok(openFds.delete(fd), `fd ${fd} closed twice`),
      };
    },
    newId: () => `c${nextId++}`,
    refuse: (peer, _handshake, reason) => refused.push(`${peer.hostname}:${peer.port} ${reason}`),
    ...(clock === undefined ? {} : { clock }),
  });
  supervisor.start();
  return {
    supervisor,
    children,
    openFds,
    counters,
    refused,
    failSockets: (fail: boolean) => (failSockets = fail),
    /** Makes every child still starting say `ready`. */
    readyAll(): void {
      for (const child of children.filter((c) => !c.ready && !c.exited)) {
        child.say({ type: "ready", srtVersion: 0x010501 });
      }
    },
    /** Admits a peer with a child ready for it (the pool is readied first when none is). */
    admit(peer: { hostname: string; port: number }, handshake: Uint8Array, rendezvous: boolean) {
      if (supervisor.idleChildren.length === 0) this.readyAll();
      return supervisor.admit(peer, handshake, rendezvous);
    },
    /** Admits peer 10.0.0.1:`port` (readying the pool first if no child is ready); the connection's child. */
    connect(port: number): FakeChild {
      if (supervisor.idleChildren.length === 0) this.readyAll();
      assert.equal(supervisor.admit({ hostname: "10.0.0.1", port }, HANDSHAKE, false), undefined);
      return supervisor.table.byPeer(`10.0.0.1:${port}`)!.child;
    },
    async [Symbol.asyncDispose]() {
      await supervisor.shutdown(1000);
    },
  };
}

/** Lets queued microtasks and promise callbacks run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

const up = (streamId: string) =>
  ({
    type: "connected",
    streamId,
    mode: streamId.startsWith("play") ? "play" : "publish",
    encrypted: false,
    handshakeMs: 1,
  }) as const;

Deno.test("Supervisor prestarts the pool and hands an admitted peer to a ready child", async () => {
  await using h = harness();
  assert.equal(h.children.length, 2, "the pool is filled at start");
  h.children[1]!.say({ type: "ready", srtVersion: 0x010501 });
  const child = h.connect(5000);
  assert.equal(child, h.children[1], "a ready child goes first");
  const [{ assignment, fd }] = child.assignments as [{ assignment: Assignment; fd: number }];
  assert.equal(assignment.connectionId, "c1");
  assert.deepEqual(assignment.peer, { hostname: "10.0.0.1", port: 5000 });
  assert.deepEqual(assignment.local, { hostname: "127.0.0.1", port: 9000 });
  assert.equal(assignment.handshake, "ab".repeat(64), "the first 64 bytes, hex");
  assert.equal(assignment.settings.fastHandshake, true);
  assert.equal(fd, 100);
  assert.equal(h.openFds.size, 0, "the main process keeps no copy of the peer's socket");
  assert.equal(h.children.length, 3, "the pool is topped up");
  assert.equal(h.counters.childrenStarted, 3);
  assert.equal(h.supervisor.table.handshakes, 1);
});

Deno.test("Supervisor refuses what the limits refuse, and a failed hand-over leaves nothing", async () => {
  await using h = harness({ maxConnections: 1 });
  h.readyAll();
  h.failSockets(true);
  assert.equal(
    h.admit({ hostname: "10.0.0.1", port: 1 }, HANDSHAKE, false),
    "handoff-failed",
  );
  assert.equal(h.supervisor.table.size, 0);
  h.failSockets(false);
  h.connect(2);
  assert.equal(
    h.admit({ hostname: "10.0.0.1", port: 3 }, HANDSHAKE, false),
    "max-connections",
  );
  assert.equal(h.openFds.size, 0);
});

Deno.test("Supervisor frees every slot when a connection's child exits, and names how it ended", async () => {
  await using h = harness();
  const clean = h.connect(1);
  const crashed = h.connect(2);
  clean.say(up("publish:live/a"));
  assert.equal(h.counters.connectionsAccepted, 1);
  assert.equal(h.supervisor.table.handshakes, 1);
  clean.say({ type: "closed", reason: "peer-closed", detail: "bye", stats: null });
  clean.exit();
  crashed.exit({ success: false, code: 1, signal: "SIGKILL" });
  assert.equal(h.supervisor.table.size, 0);
  assert.equal(h.supervisor.table.handshakes, 0);
  assert.equal(h.counters.connectionsClosed["peer-closed"], 1);
  assert.equal(h.counters.connectionsClosed.crashed, 1);
  assert.equal(h.counters.childrenCrashed, 1);
});

Deno.test("Supervisor refills the pool after an idle child dies, and counts the crash", async () => {
  await using h = harness({ poolSize: 1 });
  const [idle] = h.children as [FakeChild];
  idle.exit({ success: false, code: 1, signal: null });
  assert.equal(h.counters.childrenCrashed, 1);
  assert.equal(h.children.length, 1, "not at once: the refill backs off");
  // The first back-off after a failure is 500 ms.
  await new Promise((resolve) => setTimeout(resolve, 700));
  assert.equal(h.children.length, 2, "refilled after the back-off");
});

Deno.test("Supervisor: a kick refuses a held viewer first, then closes the connection", async () => {
  await using h = harness({}, parseConfig("playWaitMs: 5000", "yaml", "t.yaml"));
  const viewer = h.connect(1);
  viewer.say({ type: "request", streamId: "play:live/a" });
  await settle();
  assert.equal(viewer.answers.length, 0, "held for a publisher");
  const id = h.supervisor.table.byChild(viewer)!.id;
  assert.equal(h.supervisor.closeConnection(id), true);
  assert.equal(viewer.answers[0]?.type === "reject" && viewer.answers[0].code, 1403);
  assert.deepEqual(viewer.shutdowns, ["closed through the API"]);
  assert.equal(h.supervisor.closeConnection("nope"), false);
});

Deno.test("Supervisor.shutdown() answers undecided callers with 1503, closes everyone and kills the stuck", async () => {
  const h = harness({}, parseConfig("playWaitMs: 5000", "yaml", "t.yaml"));
  const held = h.connect(1);
  held.say({ type: "request", streamId: "play:live/a" });
  const stuck = h.connect(2);
  stuck.obeysShutdown = false;
  await settle();
  await h.supervisor.shutdown(200);
  assert.deepEqual(held.answers.map((a) => a.type === "reject" && a.code), [1503]);
  assert.ok(h.children.every((child) => child.shutdowns.length === 1), "everyone was asked");
  assert.deepEqual(stuck.kills, ["SIGKILL"], "killed at the deadline");
  assert.equal(h.supervisor.table.size, 0);
  assert.equal(h.supervisor.running, false);
  // A request after shutdown began is refused at once, and nobody new is admitted.
  assert.equal(
    h.admit({ hostname: "10.0.0.1", port: 3 }, HANDSHAKE, false),
    "shutting-down",
  );
});

Deno.test("the API and the log agree on a held viewer's stream", async () => {
  await capturingLogs(async (records) => {
    await using h = harness({}, parseConfig("playWaitMs: 5000", "yaml", "t.yaml"));
    const viewer = h.connect(1);
    viewer.say({ type: "request", streamId: "play:live/a" });
    await settle();
    const connection = h.supervisor.table.byChild(viewer)!;
    assert.equal(connectionInfo(connection).stream, "live/a");
    assert.equal(connectionInfo(connection).mode, "play");
    assert.equal(logContext(connection).stream, "live/a");
    const waits = records.find((r) => /waits up to/.test(String(r.message.join(""))));
    assert.equal(waits?.properties.stream, "live/a", "its 'waits' line names the stream");
  });
});

Deno.test("the API and the log agree on a connection's stream after its stream is ended", async () => {
  await capturingLogs(async (records) => {
    await using h = harness();
    const publisher = h.connect(1);
    publisher.say({ type: "request", streamId: "publish:live/b" });
    await settle();
    assert.equal(publisher.answers[0]?.type, "accept");
    publisher.obeysShutdown = false;
    assert.equal(h.supervisor.endStream("live/b"), true);
    assert.deepEqual(publisher.shutdowns, ["ended through the API"]);
    // Until its child is gone, it is still the connection of that stream, everywhere.
    const connection = h.supervisor.table.byChild(publisher)!;
    assert.equal(connectionInfo(connection).stream, "live/b");
    assert.equal(logContext(connection).stream, "live/b");
    publisher.say({ type: "closed", reason: "shutdown", detail: "ended", stats: null });
    publisher.exit();
    const closed = records.find((r) => r.properties.reason === "shutdown");
    assert.equal(closed?.properties.stream, "live/b");
    assert.equal(closed?.properties.id, connection.id);
  });
});

Deno.test("Supervisor tells the stream manager a publisher is alive only when its bytes grow", async () => {
  await using h = harness({}, parseConfig("publisherTimeoutMs: 100", "yaml", "t.yaml"));
  const first = h.connect(1);
  first.say({ type: "request", streamId: "publish:live/c" });
  await settle();
  first.say(up("publish:live/c"));
  const stats = (bytesReceived: number): LinkStats => ({ ...emptyLinkStats(), bytesReceived });
  first.say({ type: "stats", stats: stats(1316) });
  // It just sent: a second publisher is refused.
  const second = h.connect(2);
  second.say({ type: "request", streamId: "publish:live/c" });
  await settle();
  assert.equal(second.answers[0]?.type === "reject" && second.answers[0].code, 1409);
  await new Promise((resolve) => setTimeout(resolve, 150));
  // A report without new bytes is no sign of life: a third publisher takes over.
  first.say({ type: "stats", stats: stats(1316) });
  const third = h.connect(3);
  third.say({ type: "request", streamId: "publish:live/c" });
  await settle();
  assert.equal(third.answers[0]?.type, "accept");
  third.say(up("publish:live/c"));
  assert.equal(first.shutdowns.length, 1, "the silent one is closed");
  assert.match(first.shutdowns[0]!, /replaced by a new publisher/);
});

// Issue 14: a caller claims nothing until libsrt accepted its passphrase and
// its connection is up; one that libsrt refuses only asked, then exits.

/** A caller whose passphrase libsrt refused: it asked, was accepted, and its child exits. */
function refusedByLibsrt(child: FakeChild): void {
  child.say({
    type: "closed",
    reason: "rejected",
    detail: "libsrt rejected the handshake: most likely a wrong or missing passphrase",
    stats: null,
  });
  child.exit();
}

const PROTECTED = parseConfig(
  [
    "publisherTimeoutMs: 100",
    "streams:",
    "  - prefix: live",
    "    publishPassphrase: publish-secret",
    "    readPassphrase: read-secret-1",
    "    maxViewers: 2",
  ].join("\n"),
  "yaml",
  "protected.yaml",
);

Deno.test("Supervisor: callers without the passphrase neither replace nor block the real publisher", async () => {
  await using h = harness({ maxConnections: 100 }, PROTECTED);
  const real = h.connect(1);
  real.say({ type: "request", streamId: "publish:live/a" });
  await settle();
  real.say(up("publish:live/a"));
  real.say({ type: "stats", stats: { ...emptyLinkStats(), bytesReceived: 1316 } });
  // Silent long enough to be taken over, by a publisher that is connected.
  await new Promise((resolve) => setTimeout(resolve, 150));
  const intruders = Array.from({ length: 40 }, (_, i) => h.connect(100 + i));
  for (const intruder of intruders) intruder.say({ type: "request", streamId: "publish:live/a" });
  await settle();
  assert.deepEqual(real.shutdowns, [], "nobody closed the real publisher");
  assert.equal(h.supervisor.streamInfo()[0]?.publisher, h.supervisor.table.byChild(real)!.id);
  for (const intruder of intruders) refusedByLibsrt(intruder);
  assert.deepEqual(real.shutdowns, []);
  assert.equal(h.supervisor.streamInfo()[0]?.publisher, h.supervisor.table.byChild(real)!.id);
});

Deno.test("Supervisor: callers without the passphrase do not make a returning publisher get 1409", async () => {
  await using h = harness({ maxConnections: 100 }, PROTECTED);
  const intruders = Array.from({ length: 40 }, (_, i) => h.connect(100 + i));
  for (const intruder of intruders) intruder.say({ type: "request", streamId: "publish:live/a" });
  await settle();
  const real = h.connect(1);
  real.say({ type: "request", streamId: "publish:live/a" });
  await settle();
  assert.equal(real.answers[0]?.type, "accept", "not 1409");
  real.say(up("publish:live/a"));
  for (const intruder of intruders) refusedByLibsrt(intruder);
  assert.deepEqual(real.shutdowns, []);
  assert.equal(h.supervisor.streamInfo()[0]?.publisher, h.supervisor.table.byChild(real)!.id);
});

Deno.test("Supervisor: viewers that are not connected do not count toward maxViewers", async () => {
  await using h = harness({ maxConnections: 100 }, PROTECTED);
  const publisher = h.connect(1);
  publisher.say({ type: "request", streamId: "publish:live/a" });
  await settle();
  publisher.say(up("publish:live/a"));
  const intruders = Array.from({ length: 10 }, (_, i) => h.connect(100 + i));
  for (const intruder of intruders) intruder.say({ type: "request", streamId: "play:live/a" });
  await settle();
  const viewer = h.connect(2);
  viewer.say({ type: "request", streamId: "play:live/a" });
  await settle();
  assert.equal(viewer.answers[0]?.type, "accept", "not 1402");
  viewer.say(up("play:live/a"));
  assert.equal(h.supervisor.streamInfo()[0]?.viewers, 1);
  for (const intruder of intruders) refusedByLibsrt(intruder);
  assert.deepEqual(viewer.shutdowns, []);
  assert.equal(h.supervisor.streamInfo()[0]?.viewers, 1);
});

Deno.test("Supervisor takes a silent publisher over only when the new one is connected", async () => {
  await using h = harness({}, PROTECTED);
  const old = h.connect(1);
  old.say({ type: "request", streamId: "publish:live/a" });
  await settle();
  old.say(up("publish:live/a"));
  await new Promise((resolve) => setTimeout(resolve, 150));
  const next = h.connect(2);
  next.say({ type: "request", streamId: "publish:live/a" });
  await settle();
  assert.equal(next.answers[0]?.type, "accept");
  assert.deepEqual(old.shutdowns, [], "not before the newcomer is connected");
  next.say(up("publish:live/a"));
  assert.equal(old.shutdowns.length, 1);
  assert.match(old.shutdowns[0]!, /replaced by a new publisher/);
});

Deno.test("Supervisor closes a viewer whose place is gone once it is up, and says why", async () => {
  await capturingLogs(async (records) => {
    await using h = harness({}, PROTECTED);
    const publisher = h.connect(1);
    publisher.say({ type: "request", streamId: "publish:live/a" });
    await settle();
    publisher.say(up("publish:live/a"));
    // maxViewers: 2, and three viewers accepted before any of them is connected.
    const viewers = [h.connect(2), h.connect(3), h.connect(4)];
    for (const viewer of viewers) viewer.say({ type: "request", streamId: "play:live/a" });
    await settle();
    assert.deepEqual(viewers.map((v) => v.answers[0]?.type), ["accept", "accept", "accept"]);
    for (const viewer of viewers) viewer.say(up("play:live/a"));
    assert.deepEqual(viewers.map((v) => v.shutdowns), [[], [], [
      'stream "live/a" has its maximum of 2 viewer(s)',
    ]]);
    const line = records.find((r) => /^closing: stream/.test(String(r.properties.what)));
    assert.equal(line?.level, "warning");
    assert.equal(line?.properties.id, h.supervisor.table.byChild(viewers[2]!)!.id);
    assert.match(String(line?.properties.what), /would have been refused with 1402/);
    assert.equal(h.supervisor.streamInfo()[0]?.viewers, 2);
  });
});

Deno.test("Supervisor: of two publishers accepted together, the one connected last publishes", async () => {
  await using h = harness({}, PROTECTED);
  const first = h.connect(1);
  const second = h.connect(2);
  first.say({ type: "request", streamId: "publish:live/a" });
  second.say({ type: "request", streamId: "publish:live/a" });
  await settle();
  assert.deepEqual([first.answers[0]?.type, second.answers[0]?.type], ["accept", "accept"]);
  first.say(up("publish:live/a"));
  second.say(up("publish:live/a"));
  const secondId = h.supervisor.table.byChild(second)!.id;
  assert.deepEqual(second.shutdowns, []);
  assert.deepEqual(first.shutdowns, [
    `replaced by a new publisher (connection ${secondId}) accepted while this one was silent or connecting`,
  ]);
  assert.equal(h.supervisor.streamInfo()[0]?.publisher, secondId);
});

/** Real libsrt conclusions (src/protocol/testdata) with stream ids in their SID extension. */
const CONCLUSION_CAM1 = bytesFromHex(ipv4StreamId.datagrams[2]!.hex); // #!::r=live/cam1,m=publish
const CONCLUSION_CAM12 = bytesFromHex(ipv4PassphraseStreamId.datagrams[2]!.hex); // publish:live/cam12

/** A clock the test moves. */
function manualClock() {
  const clock = { ms: 1_000_000, monotonicMs: () => clock.ms, wallMs: () => clock.ms };
  return clock;
}

Deno.test("Supervisor backs off a source IP and stream id refused in a row, and logs once per interval", async () => {
  await capturingLogs(async (records) => {
    const clock = manualClock();
    await using h = harness({}, DEFAULT_CONFIG, clock);
    let port = 1;
    const admit = (hostname = "10.0.0.1", conclusion = CONCLUSION_CAM1) =>
      h.admit({ hostname, port: port++ }, conclusion, false);
    const refuse = () => {
      const connection = [...h.supervisor.table.values()].at(-1)!;
      connection.child.say({ type: "closed", reason: "rejected", detail: "1403", stats: null });
      connection.child.exit();
    };
    const backoffLines = () =>
      records.filter((r) => String(r.message[0]).startsWith("Dropping attempts from"));

    assert.equal(admit(), undefined);
    refuse();
    assert.equal(admit(), "rejection-backoff-held");
    clock.ms += 999;
    assert.equal(admit(), "rejection-backoff-held");
    assert.equal(admit("10.0.0.2"), undefined, "another source IP");
    assert.equal(admit("10.0.0.1", CONCLUSION_CAM12), undefined, "another stream id");
    assert.equal(backoffLines().length, 1, "one line for the interval");
    assert.equal(backoffLines()[0]!.level, "warning");
    assert.deepEqual(
      { ...backoffLines()[0]!.properties },
      { ip: "10.0.0.1", streamId: '"#!::r=live/cam1,m=publish"', ms: 1000, rejections: 1 },
    );

    clock.ms += 1;
    assert.equal(admit(), undefined, "the first attempt after the interval goes through");
    refuse();
    clock.ms += 1999;
    assert.equal(admit(), "rejection-backoff-held", "the second interval is twice as long");
    assert.equal(admit(), "rejection-backoff-held");
    assert.equal(backoffLines().length, 2);
    assert.equal(backoffLines()[1]!.properties.rejections, 2);

    clock.ms += 1;
    assert.equal(admit(), undefined);
    const fixed = [...h.supervisor.table.values()].at(-1)!.child;
    fixed.say(up("publish:live/cam1"));
    fixed.say({ type: "closed", reason: "peer-closed", detail: "bye", stats: null });
    fixed.exit();
    assert.equal(admit(), undefined, "a success starts over");
    refuse();
    clock.ms += 1000;
    assert.equal(admit(), undefined, "after 1 s again, not 4");
  });
});

Deno.test("Supervisor backs off only a rejection, and only for a conclusion", async () => {
  const clock = manualClock();
  await using h = harness({}, DEFAULT_CONFIG, clock);
  // A crash or a handshake timeout is no refusal.
  h.admit({ hostname: "10.0.0.1", port: 1 }, CONCLUSION_CAM1, false);
  const timedOut = h.supervisor.table.byPeer("10.0.0.1:1")!.child;
  timedOut.say({ type: "closed", reason: "handshake-timeout", detail: "5 s", stats: null });
  timedOut.exit();
  h.admit({ hostname: "10.0.0.1", port: 2 }, CONCLUSION_CAM1, false);
  h.supervisor.table.byPeer("10.0.0.1:2")!.child.exit({ success: false, code: 1, signal: null });
  assert.equal(
    h.admit({ hostname: "10.0.0.1", port: 3 }, CONCLUSION_CAM1, false),
    undefined,
  );
  // An induction (no address proof) has no stream id to key on.
  const refused = h.connect(4);
  refused.say({ type: "closed", reason: "rejected", detail: "1403", stats: null });
  refused.exit();
  h.connect(5);
});

Deno.test("Supervisor backs off at once when it refuses a caller, before its child exits", async () => {
  const clock = manualClock();
  const config = parseConfig("streams: [{ name: live/cam1, modes: [play] }]", "yaml", "inline");
  await using h = harness({}, config, clock);
  const admit = (port: number) => h.admit({ hostname: "10.0.0.1", port }, CONCLUSION_CAM1, false);
  // Two attempts admitted before the first is refused.
  assert.equal(admit(1), undefined);
  assert.equal(admit(2), undefined);
  const [first, second] = [1, 2].map((port) =>
    h.supervisor.table.byPeer(`10.0.0.1:${port}`)!.child
  );
  first!.say({ type: "request", streamId: "#!::r=live/cam1,m=publish" });
  await settle();
  assert.equal(first!.answers[0]?.type, "reject");
  assert.equal(admit(3), "rejection-backoff-held", "its child is still lingering");
  // The second is refused too, in the same interval: it does not lengthen it.
  second!.say({ type: "request", streamId: "#!::r=live/cam1,m=publish" });
  await settle();
  for (const child of [first!, second!]) {
    child.say({ type: "closed", reason: "rejected", detail: "1403", stats: null });
    child.exit();
  }
  clock.ms += 1000;
  assert.equal(admit(4), undefined, "1 s, not 2");
  assert.equal(admit(5), "rejection-backoff-held", "while the attempt let through is undecided");
});

Deno.test("Supervisor does not back off a caller refused for the stream's state (1409), only for its own settings (1403)", async () => {
  const clock = manualClock();
  await using h = harness(
    {},
    parseConfig("streams: [{ prefix: ro, modes: [play] }]", "yaml", "t.yaml"),
    clock,
  );
  let port = 1;
  const attempt = async (streamId: string) => {
    assert.equal(
      h.admit({ hostname: "10.0.0.1", port: port++ }, CONCLUSION_CAM1, false),
      undefined,
      `attempt ${port - 1} admitted`,
    );
    const child = [...h.supervisor.table.values()].at(-1)!.child;
    child.say({ type: "request", streamId });
    await settle();
    return child;
  };
  const publisher = await attempt("publish:live/cam1");
  publisher.say(up("publish:live/cam1"));
  publisher.say({ type: "stats", stats: { ...emptyLinkStats(), bytesReceived: 1316 } });
  // The stream has a live publisher: a second one is refused, and may retry at once.
  for (let i = 0; i < 3; i++) {
    const second = await attempt("publish:live/cam1");
    assert.equal(second.answers[0]?.type === "reject" && second.answers[0].code, 1409);
    second.say({ type: "closed", reason: "rejected", detail: "1409", stats: null });
    second.exit();
  }
  // A mode the rules forbid is the caller's own doing: its next attempt waits.
  const forbidden = await attempt("publish:ro/x");
  assert.equal(forbidden.answers[0]?.type === "reject" && forbidden.answers[0].code, 1403);
  forbidden.say({ type: "closed", reason: "rejected", detail: "1403", stats: null });
  forbidden.exit();
  assert.equal(
    h.admit({ hostname: "10.0.0.1", port: port++ }, CONCLUSION_CAM1, false),
    "rejection-backoff-held",
  );
});

Deno.test("Supervisor queues callers while no child is ready and hands them over first in, first out", async () => {
  await using h = harness({ poolSize: 2, poolMaxStarting: 2 });
  const peers = [1, 2, 3].map((port) => ({ hostname: "10.0.0.1", port }));
  for (const peer of peers) assert.equal(h.supervisor.admit(peer, HANDSHAKE, false), undefined);
  assert.equal(h.supervisor.waitingCallers, 3);
  assert.equal(h.supervisor.table.size, 0, "a waiting caller is no connection yet");
  assert.equal(h.children.length, 2, "no more than two children start at once");
  assert.ok(h.supervisor.poolFloor > 2, "callers that had to wait grow the pool");

  h.children[1]!.say({ type: "ready", srtVersion: 0x010501 });
  assert.equal(h.children[1]!.assignments[0]!.assignment.peer.port, 1, "the first caller first");
  assert.equal(h.children.length, 3, "a start slot freed: the next child starts");
  h.children[0]!.say({ type: "ready", srtVersion: 0x010501 });
  assert.equal(h.children[0]!.assignments[0]!.assignment.peer.port, 2);
  h.children[2]!.say({ type: "ready", srtVersion: 0x010501 });
  assert.equal(h.children[2]!.assignments[0]!.assignment.peer.port, 3);
  assert.equal(h.supervisor.waitingCallers, 0);
  assert.equal(h.supervisor.table.size, 3);
  assert.equal(h.openFds.size, 0);
});

Deno.test("Supervisor drops a waiting caller that fell silent, and hands over the newest handshake of one that did not", async () => {
  const clock = manualClock();
  await using h = harness({ poolSize: 1, poolMaxStarting: 1 }, DEFAULT_CONFIG, clock);
  const quiet = { hostname: "10.0.0.1", port: 1 };
  const retrying = { hostname: "10.0.0.1", port: 2 };
  assert.equal(h.supervisor.admit(quiet, HANDSHAKE, false), undefined);
  assert.equal(h.supervisor.admit(retrying, HANDSHAKE, false), undefined);
  const newest = new Uint8Array(80).fill(0xcd);
  for (let i = 0; i < 5; i++) {
    clock.ms += 250;
    assert.equal(h.supervisor.admit(retrying, newest, false), undefined, "a retransmission");
    if (i === 0) assert.equal(h.supervisor.admit(quiet, HANDSHAKE, false), undefined);
  }
  h.supervisor.serveQueue();
  assert.equal(
    h.supervisor.waitingCallers,
    1,
    "the caller resending every 250 ms, silent for 1 s, gave up",
  );
  assert.equal(h.counters.dropped["caller-gone"], 1);
  h.children[0]!.say({ type: "ready", srtVersion: 0x010501 });
  const assignment = h.children[0]!.assignments[0]!.assignment;
  assert.equal(assignment.peer.port, 2);
  assert.equal(assignment.handshake, "cd".repeat(64), "the child answers the newest handshake");
  assert.equal(h.refused.length, 0, "a caller that gave up is not answered");
});

Deno.test("Supervisor sheds the callers that could not get a child before a default caller gives up", async () => {
  const clock = manualClock();
  await using h = harness({ poolSize: 0, poolMaxStarting: 1 }, DEFAULT_CONFIG, clock);
  // No start seen yet: every caller waits, and the queue's first check
  // decides. A start is guessed at 150 ms, and callers that have just come
  // are judged at twice that speed: with one start at a time, the 34th
  // would have its child after 34 × 75 ms, plus 500 ms of handshake: past
  // 3000 ms.
  for (let port = 1; port <= 40; port++) {
    assert.equal(h.supervisor.admit({ hostname: "10.0.0.1", port }, HANDSHAKE, false), undefined);
  }
  h.supervisor.serveQueue();
  const shed = (from: number, to: number) =>
    Array.from({ length: to - from + 1 }, (_, i) => `10.0.0.1:${from + i} shed`);
  assert.deepEqual(h.refused, shed(34, 40));
  assert.equal(h.supervisor.waitingCallers, 33);
  assert.equal(h.children.length, 1, "one child starting, never one per caller");

  // A start of 200 ms is seen: the head is handed over, and the queue is
  // judged again: after 200 ms of waiting, at twice that speed, the 24th in
  // line would end at 200 + 24 × 100 + 500 ms: it and those behind are told now.
  clock.ms += 200;
  h.children[0]!.say({ type: "ready", srtVersion: 0x010501 });
  assert.equal(h.supervisor.childStartMs, 200);
  assert.equal(h.supervisor.childReadyPaceMs, undefined, "one ready: no pace yet");
  assert.deepEqual(h.refused, [...shed(34, 40), ...shed(25, 33)]);
  assert.equal(h.supervisor.waitingCallers, 23);
  assert.equal(h.counters.dropped.shed, 16);
  // On a current estimate, a new caller that cannot make it is told on
  // arrival: the 25th in line ends at 25 × 100 + 500 ms, the 26th too late.
  assert.equal(h.supervisor.admit({ hostname: "10.0.0.1", port: 50 }, HANDSHAKE, false), undefined);
  assert.equal(h.supervisor.admit({ hostname: "10.0.0.1", port: 51 }, HANDSHAKE, false), undefined);
  assert.equal(h.supervisor.admit({ hostname: "10.0.0.1", port: 52 }, HANDSHAKE, false), "shed");
});

Deno.test("Supervisor reports the pace children become ready at once four did within a second", async () => {
  const clock = manualClock();
  await using h = harness({ poolSize: 4, poolMaxStarting: 4 }, DEFAULT_CONFIG, clock);
  assert.equal(h.children.length, 4);
  for (const [i, child] of h.children.entries()) {
    clock.ms += i === 0 ? 40 : 20;
    child.say({ type: "ready", srtVersion: 0x010501 });
    assert.equal(h.supervisor.childReadyPaceMs, i < 3 ? undefined : 20, `${i + 1} ready`);
  }
  clock.ms += 1000;
  assert.equal(h.supervisor.childReadyPaceMs, undefined, "none ready in the last second");
});

Deno.test("Supervisor with --caller-timeout sheds by that timeout, and with 0 sheds none", async () => {
  for (const callerTimeoutMs of [15_000, 0]) {
    const clock = manualClock();
    await using h = harness(
      { poolSize: 0, poolMaxStarting: 1, callerTimeoutMs },
      DEFAULT_CONFIG,
      clock,
    );
    // As above, with 3 s the 34th and after are shed; not with 15 s or none.
    for (let port = 1; port <= 40; port++) {
      assert.equal(h.supervisor.admit({ hostname: "10.0.0.1", port }, HANDSHAKE, false), undefined);
    }
    h.supervisor.serveQueue();
    assert.deepEqual(h.refused, [], `--caller-timeout ${callerTimeoutMs}`);
    assert.equal(h.supervisor.waitingCallers, 40);
    // A start of 1 s is seen and the head handed over. Having waited 1 s,
    // the rest are judged at twice that speed: the 28th of the 39 left ends
    // at 1000 + 28 × 500 + 500 ms, past 15 s, and so do those behind it.
    clock.ms += 1000;
    h.children[0]!.say({ type: "ready", srtVersion: 0x010501 });
    const shed = h.refused.length;
    if (callerTimeoutMs === 0) assert.equal(shed, 0);
    else assert.equal(shed, 12);
  }
});

Deno.test("Supervisor refuses again, and never admits, a stale handshake of a caller it refused", async () => {
  const clock = manualClock();
  await using h = harness({ poolSize: 0, poolMaxStarting: 1 }, DEFAULT_CONFIG, clock);
  for (let port = 1; port <= 40; port++) {
    assert.equal(h.supervisor.admit({ hostname: "10.0.0.1", port }, HANDSHAKE, false), undefined);
  }
  h.supervisor.serveQueue();
  assert.equal(h.refused.at(-1), "10.0.0.1:40 shed");
  // Its retransmission, sent before the rejection reached it, is read now,
  // with a child ready and the queue short: it is refused again.
  clock.ms += 100;
  h.children[0]!.say({ type: "ready", srtVersion: 0x010501 });
  const shed = { hostname: "10.0.0.1", port: 40 };
  assert.equal(h.supervisor.admit(shed, HANDSHAKE, false), "already-refused");
  assert.equal(h.supervisor.waitingCallers, 32, "not queued again");
  // A caller refused at once on a limit is remembered too.
  await using full = harness({ poolSize: 1, maxConnections: 1 }, DEFAULT_CONFIG, clock);
  full.children[0]!.say({ type: "ready", srtVersion: 0x010501 });
  assert.equal(
    full.supervisor.admit({ hostname: "10.0.0.2", port: 1 }, HANDSHAKE, false),
    undefined,
  );
  assert.equal(
    full.supervisor.admit({ hostname: "10.0.0.2", port: 2 }, HANDSHAKE, false),
    "max-connections",
  );
  full.supervisor.closeConnection(full.supervisor.table.byPeer("10.0.0.2:1")!.id);
  full.children[0]!.exit();
  assert.equal(full.supervisor.table.size, 0);
  assert.equal(
    full.supervisor.admit({ hostname: "10.0.0.2", port: 2 }, HANDSHAKE, false),
    "already-refused",
    "room now, but that caller was told no and left",
  );
  // A new attempt from the same port (a caller bound to a fixed local port
  // tries again) has a new socket id: it is judged afresh.
  const retry = HANDSHAKE.slice();
  new DataView(retry.buffer).setUint32(40, 0x1234_5678);
  assert.equal(
    full.supervisor.admit({ hostname: "10.0.0.2", port: 2 }, retry, false),
    undefined,
    "a new attempt, with room now",
  );
  assert.equal(attemptKey("10.0.0.2:2", retry), "10.0.0.2:2#305419896");
  assert.equal(full.supervisor.waitingCallers, 1, "it waits for the child starting");
  // 3 s later, the stale attempt's memory is gone too.
  clock.ms += 3000;
  assert.equal(
    full.supervisor.admit({ hostname: "10.0.0.2", port: 2 }, HANDSHAKE, false),
    undefined,
  );
});

Deno.test("Supervisor counts waiting callers toward the limits", async () => {
  await using h = harness({ poolSize: 0, maxHandshakes: 2 });
  assert.equal(h.supervisor.admit({ hostname: "10.0.0.1", port: 1 }, HANDSHAKE, false), undefined);
  assert.equal(h.supervisor.admit({ hostname: "10.0.0.1", port: 2 }, HANDSHAKE, false), undefined);
  assert.equal(
    h.supervisor.admit({ hostname: "10.0.0.1", port: 3 }, HANDSHAKE, false),
    "max-handshakes",
  );
  assert.equal(
    h.supervisor.admit({ hostname: "10.0.0.1", port: 1 }, HANDSHAKE, false),
    undefined,
    "a waiting caller's retransmission is no new caller",
  );
});

Deno.test("Supervisor.shutdown() refuses the callers still waiting for a child", async () => {
  const h = harness({ poolSize: 0 });
  assert.equal(h.supervisor.admit({ hostname: "10.0.0.1", port: 1 }, HANDSHAKE, false), undefined);
  const shutdown = h.supervisor.shutdown(1000);
  assert.deepEqual(h.refused, ["10.0.0.1:1 shutting-down"]);
  assert.equal(h.supervisor.waitingCallers, 0);
  for (const child of h.children) child.exit();
  await shutdown;
});

Deno.test("Supervisor refuses a backed-off attempt at once only while its interval is too long to wait out", async () => {
  const clock = manualClock();
  await using h = harness({}, DEFAULT_CONFIG, clock);
  let port = 1;
  const admit = () => h.admit({ hostname: "10.0.0.1", port: port++ }, CONCLUSION_CAM1, false);
  const refuse = () => {
    const connection = [...h.supervisor.table.values()].at(-1)!;
    connection.child.say({ type: "closed", reason: "rejected", detail: "1403", stats: null });
    connection.child.exit();
  };
  // Three refusals in a row: the third interval is 4 s.
  for (let i = 0; i < 3; i++) {
    assert.equal(admit(), undefined);
    refuse();
    clock.ms += 2 ** i * 1000;
  }
  clock.ms -= 4000;
  assert.equal(admit(), "rejection-backoff", "4 s left: longer than a default caller waits");
  clock.ms += 2500;
  assert.equal(admit(), "rejection-backoff-held", "1.5 s left: its retransmission may get in");
});

Deno.test("Supervisor counts a caller's wait for a child in its handshake time", async () => {
  const clock = manualClock();
  await using h = harness({ poolSize: 1 }, DEFAULT_CONFIG, clock);
  assert.equal(h.supervisor.admit({ hostname: "10.0.0.1", port: 1 }, HANDSHAKE, false), undefined);
  clock.ms += 400;
  h.children[0]!.say({ type: "ready", srtVersion: 0x010501 });
  clock.ms += 10;
  h.children[0]!.say(up("publish:live/a"));
  assert.equal(h.supervisor.table.byPeer("10.0.0.1:1")!.handshakeMs, 410);
});

Deno.test("Supervisor.release() hands connected children over untouched, refuses the undecided, and stops the rest", async () => {
  await using h = harness({ poolSize: 1 });
  h.children[0]!.say({ type: "ready", srtVersion: 0x010501 });
  assert.equal(h.supervisor.admit({ hostname: "10.0.0.1", port: 1 }, HANDSHAKE, false), undefined);
  const connected = h.children[0]!;
  connected.say({
    type: "connected",
    streamId: "publish:live/a",
    mode: "publish",
    encrypted: false,
    handshakeMs: 5,
  });
  h.children[1]!.say({ type: "ready", srtVersion: 0x010501 });
  assert.equal(h.supervisor.admit({ hostname: "10.0.0.1", port: 2 }, HANDSHAKE, false), undefined);
  const handshaking = h.children[1]!;
  assert.equal(h.children.length, 3, "one more started for the pool");
  const idle = h.children[2]!;
  assert.deepEqual(h.supervisor.release(), [connected.pid]);
  assert.equal(connected.released, true);
  assert.deepEqual(connected.shutdowns, [], "a connected child is not asked to close");
  assert.deepEqual(connected.kills, []);
  assert.deepEqual(handshaking.shutdowns, ["the server is upgrading"]);
  assert.equal(
    idle === handshaking || idle.shutdowns.length === 1,
    true,
    "the idle child is stopped",
  );
  assert.equal(
    h.supervisor.admit({ hostname: "10.0.0.1", port: 3 }, HANDSHAKE, false),
    "shutting-down",
    "no admissions after the hand-over",
  );
});
