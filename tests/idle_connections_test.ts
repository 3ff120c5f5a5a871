/**
 * A connection with no traffic costs its child no wake-ups of its own: the
 * JS thread sleeps in the kernel until media, the connection's end or the
 * main process wakes it, and it still answers all three at once.
 */

import assert from "node:assert/strict";
import {
  Atoll,
  feed,
  isAlive,
  type ManagedProcess,
  sleep,
  srtLiveTransmitCaller,
  srtLiveTransmitViewer,
  waitFor,
} from "./support/mod.ts";
import type { ConnectionInfo } from "../src/server/api_types.ts";

/** Statistics go out once a second until two in a row match: settled 2 s after the last traffic. */
const SETTLE_MS = 3000;
const TOKEN = "operator-token-0123456789";
const WINDOW_MS = 4000;

/** Times the main (JS) thread of `pid` went to sleep, from /proc. */
function mainThreadSleeps(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/task/${pid}/status`);
  return Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)![1]);
}

async function connection(atoll: Atoll, streamId: string): Promise<ConnectionInfo> {
  return await waitFor(`${streamId} connected`, async () => {
    const list = await atoll.connections();
    return list.find((c) => c.streamId === streamId && c.state === "connected");
  }, { timeoutMs: 20_000 });
}

async function stopPeer(peer: ManagedProcess): Promise<void> {
  peer.kill();
  await peer.exit();
}

Deno.test("idle publisher and viewer children sleep, wake for media, and close at once when told", async () => {
  await using atoll = await Atoll.start(["--api-token", TOKEN]);
  const publisher = srtLiveTransmitCaller(atoll.srtPort, "publish:live/idle");
  const viewer = srtLiveTransmitViewer(atoll.srtPort, "play:live/idle", "/dev/null");
  try {
    const published = await connection(atoll, "publish:live/idle");
    const played = await connection(atoll, "play:live/idle");
    await sleep(SETTLE_MS);
    const before = [published.pid, played.pid].map(mainThreadSleeps);
    await sleep(WINDOW_MS);
    const woke = [published.pid, played.pid].map((pid, i) => mainThreadSleeps(pid) - before[i]!);
    // Before, each child's JS thread woke 17-20 times a second to poll and report.
    assert.ok(woke[0]! <= 2, `the idle publisher's JS thread woke ${woke[0]} times`);
    assert.ok(woke[1]! <= 2, `the idle viewer's JS thread woke ${woke[1]} times`);

    // Media wakes both, and their statistics go out again.
    await feed(publisher, 1);
    await waitFor("fresh statistics of both", async () => {
      const list = await atoll.connections();
      const now = (id: string) => list.find((c) => c.id === id);
      return (now(published.id)?.bytesReceived ?? 0) > 100_000 &&
        (now(played.id)?.bytesSent ?? 0) > 100_000;
    }, { timeoutMs: 5000 });

    // Quiet again, then closed through the API: the sleeping children answer at once.
    await sleep(SETTLE_MS);
    for (const { id, pid } of [played, published]) {
      const started = performance.now();
      const response = await fetch(`http://127.0.0.1:${atoll.httpPort}/api/connections/${id}`, {
        method: "DELETE",
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      assert.equal(response.status, 202, await response.text());
      await waitFor(`child ${pid} to exit`, () => !isAlive(pid), { timeoutMs: 5000 });
      const ms = performance.now() - started;
      assert.ok(ms < 1000, `an idle child took ${Math.round(ms)} ms to close when told`);
      const closed = await waitFor(
        "the closing log line",
        () => atoll.findLog((l) => l.properties.id === id && "reason" in l.properties),
      );
      assert.equal(closed.properties.reason, "shutdown");
    }
  } finally {
    await stopPeer(publisher);
    await stopPeer(viewer);
  }
});

Deno.test("an idle viewer's child notices at once that its player closed", async () => {
  await using atoll = await Atoll.start();
  const publisher = srtLiveTransmitCaller(atoll.srtPort, "publish:live/idle-end");
  const viewer = srtLiveTransmitViewer(atoll.srtPort, "play:live/idle-end", "/dev/null");
  try {
    await connection(atoll, "publish:live/idle-end");
    const played = await connection(atoll, "play:live/idle-end");
    await sleep(SETTLE_MS);
    const started = performance.now();
    // srt-live-transmit closes its socket on SIGINT: libsrt sends the shutdown.
    viewer.signal("SIGINT");
    await waitFor(`child ${played.pid} to exit`, () => !isAlive(played.pid), { timeoutMs: 5000 });
    const ms = performance.now() - started;
    // The peer idle timeout is 5 s: well under it means the goodbye was heard.
    assert.ok(ms < 1500, `the idle viewer's child took ${Math.round(ms)} ms to notice`);
    const closed = await waitFor(
      "the closing log line",
      () => atoll.findLog((l) => l.properties.id === played.id && "reason" in l.properties),
    );
    assert.equal(closed.properties.reason, "peer-closed");
  } finally {
    await stopPeer(publisher);
    await stopPeer(viewer);
  }
});
