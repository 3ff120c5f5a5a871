/**
 * End to end: one connection's process dying must not touch the others.
 */

import assert from "node:assert/strict";
import { Atoll, feed, srtLiveTransmitCaller, waitFor } from "./support/mod.ts";

Deno.test("kill -9 of one child leaves every other connection flowing with no packet lost", async () => {
  await using atoll = await Atoll.start();
  await using one = srtLiveTransmitCaller(atoll.srtPort, "publish:live/one");
  await using two = srtLiveTransmitCaller(atoll.srtPort, "publish:live/two");
  await using three = srtLiveTransmitCaller(atoll.srtPort, "publish:live/three");
  // Each publisher sends about 2 Mbit/s for 4 s; the victim's writes may fail once it gives up.
  const feeding = Promise.all([feed(one, 4).catch(() => {}), feed(two, 4), feed(three, 4)]);
  feeding.catch(() => {}); // awaited below; a failure must not surface as unhandled first
  const before = await waitFor("three connections carrying data", async () => {
    const list = await atoll.connections();
    return list.length === 3 && list.every((c) => c.bytesReceived > 50_000) && list;
  });
  const byStream = (streamId: string) => before.find((c) => c.streamId! === streamId)!;
  const victim = byStream("publish:live/one");
  const survivors = [byStream("publish:live/two"), byStream("publish:live/three")];
  const datagramsDroppedBefore = (await atoll.stats()).dropped["not-connection-start"];

  Deno.kill(victim.pid, "SIGKILL");
  const death = await waitFor(
    "the main process to log the death",
    () => atoll.findLog((l) => l.properties.id === victim.id && l.properties.reason === "crashed"),
  );
  assert.match(String(death.properties.detail), /SIGKILL/);
  assert.equal(death.level, "ERROR");

  await feeding;
  const after = await atoll.connections();
  assert.deepEqual(after.map((c) => c.streamId!).sort(), [
    "publish:live/three",
    "publish:live/two",
  ]);
  for (const survivor of survivors) {
    const now = after.find((c) => c.id === survivor.id)!;
    assert.equal(now.pid, survivor.pid, "same process");
    assert.ok(
      now.bytesReceived > survivor.bytesReceived + 200_000,
      `${survivor.streamId} kept flowing`,
    );
    assert.equal(now.packetsLost, 0, `${survivor.streamId} lost packets`);
    assert.equal(now.packetsDropped, 0, `${survivor.streamId} dropped packets`);
  }
  // The victim's publisher kept sending for a while: those packets reached
  // the listening socket again and were dropped, not answered.
  const stats = await atoll.stats();
  assert.ok(
    stats.dropped["not-connection-start"] > datagramsDroppedBefore,
    "the dead peer's packets were dropped",
  );
  assert.equal(stats.connectionsClosed.crashed, 1);
});
