import assert from "node:assert/strict";
import {
  type AdmissionLimits,
  type Clock,
  ConnectionTable,
  MAX_TRACKED_SOURCES,
} from "./connection_table.ts";
import { emptyLinkStats } from "../ipc/messages.ts";

const roomy: AdmissionLimits = {
  maxConnections: 100,
  maxHandshakes: 100,
  maxConnectionsPerIp: 100,
  maxNewConnectionsPerIp: 100,
};

/** A clock that moves only when told. */
class FakeClock implements Clock {
  nowMs = 0;
  monotonicMs = () => this.nowMs;
  wallMs = () => 1_700_000_000_000 + this.nowMs;
}

/** A table of connections whose child is a number, on a fake clock. */
function tableOf(limits: AdmissionLimits, clock = new FakeClock()) {
  const table = new ConnectionTable<number>(limits, clock);
  let nextId = 1;
  /** Admits `host:port` with child `child`; ids are c1, c2, … */
  /** Admits a peer as the supervisor does: the limits first, then the hand-over. */
  const admit = (host: string, port: number, child: number) => {
    const peer = { hostname: host, port };
    const refusal = table.refusal(peer);
    if (refusal !== undefined) return { ok: false as const, refusal };
    return {
      ok: true as const,
      connection: table.add(peer, () => ({ id: `c${nextId++}`, child })),
    };
  };
  return { table, clock, admit };
}

function admitMany(t: ReturnType<typeof tableOf>, count: number, ip = "10.0.0.1") {
  return Array.from({ length: count }, (_, i) => t.admit(ip, 5000 + i, i));
}

Deno.test("ConnectionTable.refusal() names the first limit a new peer hits", async (t) => {
  const cases: {
    name: string;
    limits: Partial<AdmissionLimits>;
    admitted: number;
    refusal: string;
  }[] = [
    {
      name: "total connections",
      limits: { maxConnections: 3 },
      admitted: 3,
      refusal: "max-connections",
    },
    {
      name: "handshakes in progress",
      limits: { maxHandshakes: 2 },
      admitted: 2,
      refusal: "max-handshakes",
    },
    {
      name: "connections per IP",
      limits: { maxConnectionsPerIp: 4 },
      admitted: 4,
      refusal: "max-connections-per-ip",
    },
    {
      name: "new connections per second per IP",
      limits: { maxNewConnectionsPerIp: 5 },
      admitted: 5,
      refusal: "rate-per-ip",
    },
  ];
  for (const { name, limits, admitted, refusal } of cases) {
    await t.step(name, () => {
      const t = tableOf({ ...roomy, ...limits });
      const results = admitMany(t, admitted + 1);
      assert.equal(results.filter((r) => r.ok).length, admitted);
      assert.deepEqual(results.at(-1), { ok: false, refusal });
      assert.equal(t.table.size, admitted);
    });
  }
});

const UP = { streamId: "publish:live/a", mode: "publish", encrypted: false } as const;

Deno.test("ConnectionTable frees a handshake slot when the peer connects, and every slot when it leaves", () => {
  const { table, admit } = tableOf({ ...roomy, maxHandshakes: 1, maxConnections: 2 });
  assert.ok(admit("a", 1, 1).ok);
  assert.deepEqual(admit("a", 2, 2), { ok: false, refusal: "max-handshakes" });
  table.connected("c1", UP);
  assert.equal(table.handshakes, 0);
  assert.ok(admit("a", 2, 2).ok);
  assert.deepEqual(admit("a", 3, 3), { ok: false, refusal: "max-connections" });
  assert.equal(table.remove("c1")?.child, 1);
  assert.equal(table.remove("c2")?.phase, "handshaking");
  assert.equal(table.size, 0);
  assert.equal(table.handshakes, 0);
  assert.equal(table.remove("c2"), undefined);
});

Deno.test("ConnectionTable limits each source IP on its own", () => {
  const { admit } = tableOf({ ...roomy, maxConnectionsPerIp: 1, maxNewConnectionsPerIp: 1 });
  assert.ok(admit("a", 1, 1).ok);
  assert.ok(admit("b", 1, 2).ok);
  assert.deepEqual(admit("a", 2, 3), {
    ok: false,
    refusal: "max-connections-per-ip",
  });
});

Deno.test("ConnectionTable refills the per-IP rate over time", () => {
  const t = tableOf({ ...roomy, maxNewConnectionsPerIp: 2 });
  assert.equal(admitMany(t, 3, "x").filter((r) => r.ok).length, 2);
  t.clock.nowMs = 499;
  assert.deepEqual(t.admit("x", 9, 9), { ok: false, refusal: "rate-per-ip" });
  t.clock.nowMs = 500;
  assert.ok(t.admit("x", 9, 9).ok, "one token back after half a second at 2/s");
});

Deno.test("ConnectionTable.add() adds nothing when handing over throws", () => {
  const { table, admit } = tableOf(roomy);
  assert.throws(() =>
    table.add({ hostname: "a", port: 1 }, () => {
      throw new Error("spawn failed");
    }), /spawn failed/);
  assert.equal(table.size, 0);
  assert.equal(table.handshakes, 0);
  assert.ok(admit("a", 1, 1).ok);
});

Deno.test("ConnectionTable refuses to admit or add a peer twice", () => {
  const { table, admit } = tableOf(roomy);
  admit("a", 1, 1);
  assert.throws(() => admit("a", 1, 2), /already has a child/);
  assert.throws(
    () => table.add({ hostname: "a", port: 1 }, () => ({ id: "c9", child: 9 })),
    /already has a child/,
  );
});

Deno.test("ConnectionTable keeps bounded rate state under a flood of source addresses", () => {
  const { table, admit } = tableOf({ ...roomy, maxNewConnectionsPerIp: 1 });
  const sources = MAX_TRACKED_SOURCES * 3;
  for (let i = 0; i < sources; i++) {
    const admission = admit(`s${i}`, 1, i);
    assert.ok(admission.ok);
    table.remove(admission.connection.id);
  }
  assert.ok(table.trackedSources <= MAX_TRACKED_SOURCES, `${table.trackedSources} sources tracked`);
  // A source still inside its window keeps its state while there is room.
  assert.deepEqual(admit(`s${sources - 1}`, 2, 0), {
    ok: false,
    refusal: "rate-per-ip",
  });
});

Deno.test("ConnectionTable finds a connection by id, by peer and by child", () => {
  const { table, admit } = tableOf(roomy);
  admit("10.0.0.1", 5000, 11);
  admit("::1", 5000, 12);
  assert.equal(table.byPeer("10.0.0.1:5000")?.id, "c1");
  assert.equal(table.byPeer("[::1]:5000")?.id, "c2");
  assert.equal(table.byChild(12)?.id, "c2");
  assert.equal(table.get("c1")?.child, 11);
  table.remove("c1");
  assert.equal(table.byPeer("10.0.0.1:5000"), undefined);
  assert.equal(table.byChild(11), undefined);
  assert.deepEqual([...table.values()].map((c) => c.id), ["c2"]);
});

Deno.test("ConnectionTable counts a v4-mapped peer against its IPv4 address", () => {
  const { admit } = tableOf({ ...roomy, maxConnectionsPerIp: 1 });
  assert.ok(admit("127.0.0.1", 1, 1).ok);
  assert.deepEqual(admit("::ffff:127.0.0.1", 2, 2), {
    ok: false,
    refusal: "max-connections-per-ip",
  });
});

Deno.test("ConnectionTable keeps one record of each fact through a connection's life", () => {
  const { table, clock, admit } = tableOf(roomy);
  clock.nowMs = 100;
  const admission = admit("10.0.0.1", 5000, 7);
  assert.ok(admission.ok);
  const connection = admission.connection;
  assert.equal(connection.phase, "handshaking");
  assert.equal(connection.startedAt, 1_700_000_000_100);
  assert.equal(connection.stream, undefined);
  // A held viewer is a viewer from its stream id on, and on its stream from its placement on.
  table.requested("c1", "play:live/a");
  assert.equal(connection.mode, "play");
  assert.equal(connection.streamId, "play:live/a");
  table.placed("c1", "live/a");
  assert.equal(connection.stream, "live/a");
  clock.nowMs = 112.34;
  assert.equal(
    table.connected("c1", { streamId: "play:live/a", mode: "play", encrypted: true }),
    12.3,
  );
  assert.equal(table.connected("c1", UP), undefined, "connected once");
  assert.equal(connection.phase, "connected");
  assert.equal(connection.encrypted, true);
  assert.equal(connection.connectedAt, 1_700_000_000_112.34);
  assert.equal(table.handshakes, 0);
  const stats = { ...connection.stats, bytesReceived: 1316 };
  assert.equal(table.reported("c1", stats), true, "bytes grew");
  assert.equal(table.reported("c1", stats), false, "no new bytes");
  const viewer = { skips: 2, latency: { samples: 0, p50Ms: 0, p99Ms: 0, maxMs: 0, atLeast: {} } };
  table.reported("c1", stats, viewer);
  assert.equal(connection.viewer?.skips, 2);
  table.closing("c1", "peer-closed", "the caller closed", null);
  assert.deepEqual(connection.closed, { reason: "peer-closed", detail: "the caller closed" });
  assert.equal(connection.stats.bytesReceived, 1316, "kept when the child had no last stats");
  const removed = table.remove("c1");
  assert.equal(removed?.stream, "live/a", "the stream stays the connection's until it is gone");
  assert.equal(table.size, 0);
});

Deno.test("ConnectionTable ignores reports for connections it does not have", () => {
  const { table } = tableOf(roomy);
  table.requested("nope", "play:live/a");
  table.placed("nope", "live/a");
  assert.equal(table.connected("nope", UP), undefined);
  assert.equal(table.reported("nope", { ...emptyLinkStats(), bytesReceived: 1 }), false);
  table.closing("nope", "error", "x", null);
  assert.equal(table.size, 0);
});

Deno.test("ConnectionTable.sampled() keeps each resource figure until a newer one replaces it", () => {
  const { table, admit } = tableOf(roomy);
  const admission = admit("10.0.0.1", 5000, 7);
  assert.ok(admission.ok);
  const connection = admission.connection;
  assert.deepEqual(connection.resources, {
    cpuPercent: null,
    privateDirtyBytes: null,
    pssBytes: null,
  }, "null until first sampled");
  table.sampled("c1", { cpuPercent: 3.5 });
  assert.deepEqual(connection.resources, {
    cpuPercent: 3.5,
    privateDirtyBytes: null,
    pssBytes: null,
  });
  table.sampled("c1", { privateDirtyBytes: 17_608_704, pssBytes: 28_101_632 });
  table.sampled("c1", { cpuPercent: 0 });
  assert.deepEqual(connection.resources, {
    cpuPercent: 0,
    privateDirtyBytes: 17_608_704,
    pssBytes: 28_101_632,
  });
  table.sampled("nope", { cpuPercent: 1 });
  assert.equal(table.size, 1, "a sample for an unknown connection adds nothing");
  assert.equal(table.remove("c1")?.resources.cpuPercent, 0);
});

Deno.test("ConnectionTable.adopt() takes a survivor in connected, counted toward the limits, and refuses a duplicate", () => {
  const { table, admit } = tableOf({ ...roomy, maxConnectionsPerIp: 1 });
  const record = {
    connectionId: "adopted-1",
    peer: { hostname: "10.0.0.1", port: 5000 },
    streamId: "publish:live/a",
    mode: "publish" as const,
    stream: "live/a",
    encrypted: true,
    handshakeMs: 7.5,
    connectedAt: 1_699_999_990_000,
    stats: { ...emptyLinkStats(), bytesReceived: 1234 },
  };
  const connection = table.adopt(41, record);
  assert.equal(connection.phase, "connected");
  assert.equal(connection.connectedAt, record.connectedAt);
  assert.equal(connection.stream, "live/a");
  assert.equal(connection.stats.bytesReceived, 1234);
  assert.equal(table.byPeer("10.0.0.1:5000"), connection);
  assert.equal(table.byChild(41), connection);
  assert.equal(table.handshakes, 0, "connected: no handshake in progress");
  const second = admit("10.0.0.1", 5001, 42);
  assert.equal(second.ok, false);
  assert.equal(!second.ok && second.refusal, "max-connections-per-ip");
  assert.throws(() => table.adopt(43, record), /already has a child/);
  assert.throws(
    () => table.adopt(43, { ...record, peer: { hostname: "10.0.0.2", port: 1 } }),
    /exists already/,
  );
  table.remove("adopted-1");
  assert.equal(table.size, 0);
  assert.equal(admit("10.0.0.1", 5001, 42).ok, true, "its slot is free once it is gone");
});
