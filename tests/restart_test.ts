/**
 * The main process can crash, and no connection drops (issue "The main
 * process can crash"): connected children outlive it and keep carrying
 * media through the stream buffer; idle children exit; a caller still in
 * its handshake is refused with 1503; a new main process on the same state
 * directory and port adopts the survivors, and then serves, kicks and
 * stops them as its own. A second main process on a state directory in use
 * is refused.
 */

import assert from "node:assert/strict";
import {
  Atoll,
  ffmpegPublisher,
  ffmpegViewer,
  isAlive,
  probeVideo,
  publisherOf,
  runDeno,
  srtLiveTransmitViewer,
  tryConnect,
  waitFor,
} from "./support/mod.ts";
import { LOOPBACK_ARGS, MAIN } from "./support/atoll.ts";

const TOKEN = "operator-token-0123456789";

function sizeOf(path: string): number {
  try {
    return Deno.statSync(path).size;
  } catch {
    return 0;
  }
}

/** Waits until `path` has grown by `bytes` from now. */
async function grows(path: string, bytes: number, what: string): Promise<void> {
  const from = sizeOf(path);
  await waitFor(what, () => sizeOf(path) >= from + bytes, { timeoutMs: 5000 });
}

Deno.test("after kill -9 of the main process, connections keep flowing, and a new main process adopts, serves, kicks and stops them", async () => {
  const dir = await Deno.makeTempDir({ prefix: "atoll_restart_" });
  const watched = `${dir}/viewer.ts`;
  const late = `${dir}/late.ts`;
  try {
    await using first = await Atoll.start(["--pool-size", "2"], { readyPool: true });
    const port = first.srtPort;
    const stream = "live/survivor";
    await using publisher = await ffmpegPublisher(
      `srt://127.0.0.1:${port}?streamid=publish:${stream}`,
    );
    const published = await publisherOf(first, stream);
    await using viewer = srtLiveTransmitViewer(port, `#!::r=${stream},m=request`, watched);
    await grows(watched, 20_000, "the viewer to receive media");
    const before = await first.connections();
    assert.equal(before.length, 2);
    const idle = await first.idleChildPids();
    assert.equal(idle.length, 2);

    first.kill();
    await first.exit();

    // Idle children leave; connected ones stay, and wait to be adopted.
    await waitFor("the idle children to exit", () => !idle.some(isAlive), { timeoutMs: 3000 });
    for (const { pid } of before) {
      await waitFor(
        `child ${pid}'s socket in the state directory`,
        () => socketExists(first, pid),
        { timeoutMs: 3000 },
      );
    }
    await grows(watched, 20_000, "media to keep flowing with no main process");
    assert.equal(publisher.exited, false, "ffmpeg keeps publishing");
    assert.equal(viewer.exited, false);

    await using second = await Atoll.start([
      "--state-dir",
      first.stateDir,
      "--srt-listen",
      `127.0.0.1:${port}`,
      "--api-token",
      TOKEN,
    ]);
    const adopted = await second.connections();
    assert.deepEqual(
      adopted.map(({ id, pid, mode, state, stream }) => ({ id, pid, mode, state, stream })).sort(
        (a, b) => a.mode.localeCompare(b.mode),
      ),
      before.map(({ id, pid, mode, stream }) => ({ id, pid, mode, state: "connected", stream }))
        .sort((a, b) => a.mode.localeCompare(b.mode)),
    );
    const [info] = await second.streams();
    assert.equal(info?.publisher, published.id);
    assert.equal(info?.viewers, 1);
    assert.ok((info?.tracks.length ?? 0) > 0, "the publisher's tracks came with it");
    // Its reports reach the new main process.
    const bytesAtAdoption = adopted.find((c) => c.mode === "publish")!.bytesReceived;
    await waitFor("fresh statistics from the adopted publisher", async () => {
      const now = (await second.connections()).find((c) => c.id === published.id);
      return (now?.bytesReceived ?? 0) > bytesAtAdoption;
    }, { timeoutMs: 5000 });
    await grows(watched, 20_000, "media to keep flowing after the adoption");

    // A new viewer of the adopted stream gets decodable video from a key frame.
    await using lateViewer = ffmpegViewer(
      `srt://127.0.0.1:${port}?streamid=#!::r=${stream},m=request`,
      late,
      2,
    );
    assert.equal((await lateViewer.done).success, true, lateViewer.tail());
    const probe = await probeVideo(late);
    assert.ok(probe.frames > 10, JSON.stringify(probe));
    assert.equal(probe.firstIsKey, true);

    // A kick reaches an adopted child.
    const watcher = adopted.find((c) => c.mode === "play")!;
    const kicked = await fetch(
      `http://127.0.0.1:${second.httpPort}/api/connections/${watcher.id}`,
      {
        method: "DELETE",
        headers: { authorization: `Bearer ${TOKEN}` },
      },
    );
    assert.equal(kicked.status, 202, await kicked.text());
    await waitFor(`child ${watcher.pid} to exit`, () => !isAlive(watcher.pid), { timeoutMs: 5000 });
    const closed = await second.waitForLog(
      "the kicked viewer's closing line",
      (l) => l.properties.id === watcher.id && "reason" in l.properties,
      5000,
    );
    assert.equal(closed.properties.reason, "shutdown");

    // SIGTERM closes the adopted publisher cleanly too, and leaves nothing behind.
    const status = await second.stop();
    assert.equal(status.code, 0);
    assert.equal(isAlive(published.pid), false);
    const publisherClosed = second.findLog((l) =>
      l.properties.id === published.id && "reason" in l.properties
    );
    assert.equal(publisherClosed?.properties.reason, "shutdown");
    assert.deepEqual([...Deno.readDirSync(`${first.stateDir}/children`)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function socketExists(atoll: Atoll, pid: number): boolean {
  try {
    return Deno.statSync(`${atoll.stateDir}/children/${pid}.sock`).isSocket === true;
  } catch {
    return false;
  }
}

Deno.test("a viewer held for a publisher when the main process dies is refused with 1503", async () => {
  await using atoll = await Atoll.start([], { readyPool: true });
  const held = tryConnect(atoll.srtPort, "#!::r=live/nobody,m=request", { timeoutMs: 8000 });
  await waitFor(
    "the viewer to be held",
    async () => (await atoll.connections()).some((c) => c.waiting),
    { timeoutMs: 5000 },
  );
  const killedAt = performance.now();
  atoll.kill();
  const result = await held;
  assert.equal(result.connected, false);
  assert.equal(result.rejectReason, 1503, result.rejectText);
  assert.ok(performance.now() - killedAt < 2000, "told at once, not at its timeout");
});

Deno.test("a second main process on a state directory in use is refused, and the first goes on", async () => {
  await using atoll = await Atoll.start([]);
  const second = await runDeno([MAIN, ...LOOPBACK_ARGS, "--state-dir", atoll.stateDir]);
  assert.equal(second.code, 2, second.stderr);
  assert.equal(
    second.stderr,
    `atoll: Cannot use state directory ${atoll.stateDir}: another Atoll (process ${atoll.pid}) is using it; give each Atoll its own with --state-dir\n`,
  );
  const health = await fetch(`http://127.0.0.1:${atoll.httpPort}/healthz`);
  assert.equal(health.status, 200);
  await health.body?.cancel();
});
