import assert from "node:assert/strict";
import { type AdmissionLimits, MAX_TRACKED_SOURCES, PeerTable } from "./peer_table.ts";

const roomy: AdmissionLimits = {
  maxConnections: 100,
  maxHandshakes: 100,
  maxConnectionsPerIp: 100,
  maxNewConnectionsPerIp: 100,
};

function admitMany(table: PeerTable<number>, count: number, ip = "10.0.0.1", nowMs = 0) {
  return Array.from(
    { length: count },
    (_, i) => table.admit(`${ip}:${5000 + i}`, ip, nowMs, () => i),
  );
}

Deno.test("PeerTable.admit() names the first limit a new peer hits", async (t) => {
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
      const table = new PeerTable<number>({ ...roomy, ...limits });
      const results = admitMany(table, admitted + 1);
      assert.equal(results.filter((r) => r.ok).length, admitted);
      assert.deepEqual(results.at(-1), { ok: false, refusal });
      assert.equal(table.size, admitted);
    });
  }
});

Deno.test("PeerTable frees a handshake slot when the peer connects, and every slot when it leaves", () => {
  const table = new PeerTable<number>({ ...roomy, maxHandshakes: 1, maxConnections: 2 });
  assert.ok(table.admit("a:1", "a", 0, () => 1).ok);
  assert.deepEqual(table.admit("a:2", "a", 0, () => 2), { ok: false, refusal: "max-handshakes" });
  table.markConnected("a:1");
  assert.equal(table.handshakes, 0);
  assert.ok(table.admit("a:2", "a", 0, () => 2).ok);
  assert.deepEqual(table.admit("a:3", "a", 0, () => 3), { ok: false, refusal: "max-connections" });
  assert.equal(table.remove("a:1")?.value, 1);
  assert.equal(table.remove("a:2")?.state, "handshaking");
  assert.equal(table.size, 0);
  assert.equal(table.handshakes, 0);
  assert.equal(table.remove("a:2"), undefined);
});

Deno.test("PeerTable limits each source IP on its own", () => {
  const table = new PeerTable<number>({
    ...roomy,
    maxConnectionsPerIp: 1,
    maxNewConnectionsPerIp: 1,
  });
  assert.ok(table.admit("a:1", "a", 0, () => 1).ok);
  assert.ok(table.admit("b:1", "b", 0, () => 2).ok);
  assert.deepEqual(table.admit("a:2", "a", 0, () => 3), {
    ok: false,
    refusal: "max-connections-per-ip",
  });
});

Deno.test("PeerTable refills the per-IP rate over time", () => {
  const table = new PeerTable<number>({ ...roomy, maxNewConnectionsPerIp: 2 });
  assert.equal(admitMany(table, 3, "x", 0).filter((r) => r.ok).length, 2);
  assert.deepEqual(table.admit("x:9", "x", 499, () => 9), { ok: false, refusal: "rate-per-ip" });
  assert.ok(table.admit("x:9", "x", 500, () => 9).ok, "one token back after half a second at 2/s");
});

Deno.test("PeerTable.admit() adds nothing when creating the value throws", () => {
  const table = new PeerTable<number>(roomy);
  assert.throws(() =>
    table.admit("a:1", "a", 0, () => {
      throw new Error("spawn failed");
    }), /spawn failed/);
  assert.equal(table.size, 0);
  assert.equal(table.handshakes, 0);
  assert.ok(table.admit("a:1", "a", 0, () => 1).ok);
});

Deno.test("PeerTable.admit() refuses to admit a peer twice", () => {
  const table = new PeerTable<number>(roomy);
  table.admit("a:1", "a", 0, () => 1);
  assert.throws(() => table.admit("a:1", "a", 0, () => 2), /already has a child/);
});

Deno.test("PeerTable keeps bounded rate state under a flood of source addresses", () => {
  const table = new PeerTable<number>({ ...roomy, maxNewConnectionsPerIp: 1 });
  const sources = MAX_TRACKED_SOURCES * 3;
  for (let i = 0; i < sources; i++) {
    const ip = `s${i}`;
    assert.ok(table.admit(ip, ip, 0, () => i).ok);
    table.remove(ip);
  }
  assert.ok(table.trackedSources <= MAX_TRACKED_SOURCES, `${table.trackedSources} sources tracked`);
  // A source still inside its window keeps its state while there is room.
  assert.deepEqual(table.admit("late", `s${sources - 1}`, 0, () => 0), {
    ok: false,
    refusal: "rate-per-ip",
  });
});
