import assert from "node:assert/strict";
import { connectionInfo } from "./api_view.ts";
import { ConnectionTable } from "./connection_table.ts";

function tableWithOne() {
  const table = new ConnectionTable<{ pid: number }>({
    maxConnections: 10,
    maxHandshakes: 10,
    maxConnectionsPerIp: 10,
    maxNewConnectionsPerIp: 10,
  });
  const connection = table.add(
    { hostname: "192.0.2.7", port: 40000 },
    () => ({ id: "c1", child: { pid: 4242 } }),
  );
  return { table, connection };
}

Deno.test("connectionInfo() shows the child's CPU and memory as null until sampled", () => {
  const { connection } = tableWithOne();
  const info = connectionInfo(connection, { waiting: false });
  assert.equal(info.pid, 4242);
  assert.equal(info.cpuPercent, null);
  assert.equal(info.privateDirtyBytes, null);
  assert.equal(info.pssBytes, null);
  // Null, not absent: JSON readers see the field from the start.
  const json = JSON.parse(JSON.stringify(info));
  for (const key of ["cpuPercent", "privateDirtyBytes", "pssBytes"]) {
    assert.ok(key in json && json[key] === null, key);
  }
});

Deno.test("connectionInfo() shows the latest resource samples of the table", () => {
  const { table, connection } = tableWithOne();
  table.sampled("c1", { cpuPercent: 2.5 });
  const first = connectionInfo(connection, { waiting: false });
  assert.equal(first.cpuPercent, 2.5);
  assert.equal(first.privateDirtyBytes, null, "memory is read apart, less often");
  table.sampled("c1", { privateDirtyBytes: 17_608_704, pssBytes: 28_101_632 });
  const info = connectionInfo(connection, { waiting: false });
  assert.equal(info.cpuPercent, 2.5);
  assert.equal(info.privateDirtyBytes, 17_608_704);
  assert.equal(info.pssBytes, 28_101_632);
});

Deno.test("connectionInfo() shows a held viewer as waiting, still handshaking", () => {
  const { table, connection } = tableWithOne();
  table.requested("c1", "play:live/held");
  table.placed("c1", "live/held");
  const held = connectionInfo(connection, { waiting: true });
  assert.equal(held.waiting, true);
  assert.equal(held.state, "handshaking", "state keeps its meaning: the handshake is not done");
  assert.equal(held.mode, "play");
  assert.equal(held.stream, "live/held");
  const json = JSON.parse(JSON.stringify(connectionInfo(connection, { waiting: false })));
  assert.equal(json.waiting, false, "false, not absent");
});
