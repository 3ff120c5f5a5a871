/**
 * End to end: graceful shutdown and the connection limit.
 */

import assert from "node:assert/strict";
import {
  Atoll,
  fdTargets,
  feed,
  srtLiveTransmitCaller,
  tryConnect,
  waitFor,
} from "./support/mod.ts";

async function connected(atoll: Atoll, count: number) {
  return await waitFor(`${count} connection(s)`, async () => {
    const list = await atoll.connections();
    return list.filter((c) => c.state === "connected").length === count && list;
  });
}

Deno.test("SIGTERM closes every connection so peers see a shutdown at once, then exits 0", async () => {
  const atoll = await Atoll.start(["--shutdown-timeout", "5000"]);
  try {
    await using one = srtLiveTransmitCaller(atoll.srtPort, "publish:live/a");
    await using two = srtLiveTransmitCaller(atoll.srtPort, "publish:live/b");
    // srt-live-transmit notices its connection's state only between reads of
    // its input, so the publishers keep sending through the shutdown.
    const feeding = Promise.all([feed(one, 3), feed(two, 3)]).catch(() => {});
    await connected(atoll, 2);
    // Both peers must know they are connected first, or one may only ever
    // see its connection attempt fail.
    await waitFor(
      "both peers to see their connection",
      () => [one, two].every((peer) => peer.text.includes("SRT target connected")),
    );
    const started = Date.now();
    atoll.signal("SIGTERM");
    // A peer that only timed out would notice after its 5 s idle timeout.
    await waitFor(
      "both peers to see the disconnection",
      () => [one, two].every((peer) => peer.text.includes("SRT target disconnected")),
      { timeoutMs: 3000 },
    );
    const status = await atoll.exit();
    assert.equal(status.code, 0);
    assert.ok(Date.now() - started < 4000, "well before the shutdown deadline");
    assert.equal(atoll.logs.filter((l) => l.properties.reason === "shutdown").length, 2);
    await feeding;
  } finally {
    atoll.kill();
  }
});

Deno.test("a child that does not stop is killed at the shutdown deadline, and Atoll still exits 0", async () => {
  const atoll = await Atoll.start(["--shutdown-timeout", "1000"]);
  try {
    await using caller = srtLiveTransmitCaller(atoll.srtPort, "publish:live/stuck");
    await feed(caller, 0.3);
    const [connection] = await connected(atoll, 1);
    Deno.kill(connection!.pid, "SIGSTOP");
    const started = Date.now();
    atoll.signal("SIGTERM");
    const status = await atoll.exit();
    assert.equal(status.code, 0);
    assert.ok(Date.now() - started >= 1000, "waited for the deadline");
    assert.ok(
      atoll.findLog((l) =>
        l.level === "WARN" && l.properties.count === 1 && l.properties.ms === 1000
      ),
    );
    const crash = atoll.findLog((l) =>
      l.properties.id === connection!.id && l.properties.reason === "crashed"
    );
    assert.match(String(crash?.properties.detail), /SIGKILL/);
  } finally {
    atoll.kill();
  }
});

Deno.test("--max-connections refuses new peers while everyone admitted is served normally", async () => {
  await using atoll = await Atoll.start(["--max-connections", "1"]);
  await using first = srtLiveTransmitCaller(atoll.srtPort, "publish:live/first");
  await feed(first, 0.3);
  await connected(atoll, 1);
  // The second is refused at once with 1402 by the main process, and gives up.
  await using second = srtLiveTransmitCaller(atoll.srtPort, "publish:live/second");
  await second.waitForLine("the rejection", (l) => /REJECT/.test(l), 2500);
  const stats = await atoll.stats();
  assert.ok(stats.dropped["max-connections"] >= 1, JSON.stringify(stats.dropped));
  assert.ok(stats.callersRejected >= 1, JSON.stringify(stats));
  assert.equal(second.text.includes("SRT target connected"), false, second.text);
  assert.equal(first.text.includes("SRT target connected"), true, first.text);
  await feed(first, 0.5);
  const list = await atoll.connections();
  assert.deepEqual(list.map((c) => [c.streamId!, c.state]), [[
    "publish:live/first",
    "connected",
  ]]);
  assert.equal(stats.childrenCrashed, 0);
});

Deno.test("finished connections leave no descriptor behind in the main process", async () => {
  await using atoll = await Atoll.start();
  /** The main process's open descriptors by kind (pipe, socket, ...), once the pool is ready. */
  const settled = async () => {
    await waitFor("a ready pool and no connections", async () => {
      const stats = await atoll.stats();
      return stats.idleChildren === 2 && stats.startingChildren === 0 && stats.connections === 0;
    });
    const kinds = new Map<string, number>();
    for (const target of fdTargets(atoll.pid).values()) {
      const kind = target.replace(/\d+/g, "N");
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    }
    return Object.fromEntries([...kinds].sort());
  };
  const before = await settled();
  for (let i = 0; i < 6; i++) {
    assert.equal((await tryConnect(atoll.srtPort, `bad:${i}`)).rejectReason, 1400);
  }
  // Each of the six had its own child: pipes and a socket pair came and went.
  assert.equal((await atoll.stats()).childrenStarted >= 8, true);
  assert.deepEqual(await settled(), before);
});
