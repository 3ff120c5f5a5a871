/**
 * What each connection costs, as the main process samples it from /proc:
 * a real Atoll with a steady ffmpeg publisher, its child's CPU and memory in
 * `/api/connections` and `/metrics`, checked against a direct read of the
 * child's /proc files.
 */

import assert from "node:assert/strict";
import { Atoll, ffmpegPublisher, waitFor } from "./support/mod.ts";

const MB = 1024 * 1024;

/** `Private_Dirty` and `Pss` of `/proc/PID/smaps_rollup`, in bytes. */
function readRollup(pid: number): { privateDirtyBytes: number; pssBytes: number } {
  const text = Deno.readTextFileSync(`/proc/${pid}/smaps_rollup`);
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text)?.[1]);
  return { privateDirtyBytes: kb("Private_Dirty") * 1024, pssBytes: kb("Pss") * 1024 };
}

Deno.test("a publisher's child shows its CPU and memory in the API and the metrics", async () => {
  await using atoll = await Atoll.start();
  await using _publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${atoll.srtPort}?streamid=publish:live/resources`,
  );
  const publisherOf = async () =>
    (await atoll.connections()).find((c) => c.stream === "live/resources" && c.bytesReceived > 0);
  const first = await waitFor("the publisher sending", publisherOf, { timeoutMs: 15_000 });

  // CPU is a rate: null until the sampler has read the child twice, then a
  // steady publisher's child uses some (its figures are 0.1 % steps over 1 s).
  const busy = await waitFor(
    "the publisher's child using CPU",
    async () => {
      const c = await publisherOf();
      return c !== undefined && c.cpuPercent !== null && c.cpuPercent > 0 &&
        c.privateDirtyBytes !== null && c;
    },
    { timeoutMs: 20_000, intervalMs: 250 },
  );
  assert.equal(busy.id, first.id);
  assert.ok(busy.cpuPercent! < 200, `cpuPercent ${busy.cpuPercent}: more than two cores`);

  // Memory is read every 5 s: compare with direct reads around the API's answer.
  const matched = await waitFor(
    "the API's memory figures to match a direct read of smaps_rollup",
    async () => {
      const before = readRollup(busy.pid);
      const c = (await atoll.connections()).find((x) => x.id === busy.id);
      const after = readRollup(busy.pid);
      if (c === undefined || c.privateDirtyBytes === null || c.pssBytes === null) return undefined;
      const near = (value: number, a: number, b: number) =>
        value >= Math.min(a, b) * 0.9 - 2 * MB && value <= Math.max(a, b) * 1.1 + 2 * MB;
      return near(c.privateDirtyBytes, before.privateDirtyBytes, after.privateDirtyBytes) &&
        near(c.pssBytes, before.pssBytes, after.pssBytes) &&
        { connection: c, direct: after };
    },
    { timeoutMs: 15_000, intervalMs: 500 },
  );
  const { connection, direct } = matched;
  const seen = JSON.stringify({
    cpuPercent: connection.cpuPercent,
    privateDirtyBytes: connection.privateDirtyBytes,
    pssBytes: connection.pssBytes,
    direct,
  });
  assert.ok(connection.privateDirtyBytes! > 5 * MB, seen);
  assert.ok(connection.privateDirtyBytes! < 200 * MB, seen);
  // Pss counts every private page and a share of each shared one.
  assert.ok(connection.pssBytes! >= connection.privateDirtyBytes!, seen);
  assert.ok(connection.pssBytes! < 400 * MB, seen);

  // The same figures in /metrics, labelled as the connection's other series.
  const response = await fetch(`http://127.0.0.1:${atoll.httpPort}/metrics`);
  const text = await response.text();
  const labels =
    `{id="${connection.id}",stream="live/resources",mode="publish",peer="${connection.peer}"}`;
  const value = (name: string) => {
    const line = text.split("\n").find((l) => l.startsWith(`${name}${labels} `));
    assert.ok(line !== undefined, `${name}${labels} in\n${text}`);
    return Number(line.slice(line.lastIndexOf(" ") + 1));
  };
  const ratio = value("atoll_connection_cpu_ratio");
  assert.ok(ratio >= 0 && ratio < 2, `cpu ratio ${ratio}`);
  const privateDirty = value("atoll_connection_private_dirty_bytes");
  assert.ok(privateDirty > 5 * MB && privateDirty < 200 * MB, `private dirty ${privateDirty}`);
  assert.ok(value("atoll_connection_pss_bytes") >= privateDirty);
});
