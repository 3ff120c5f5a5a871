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
import type { ConnectionInfo } from "../src/server/api_types.ts";
import { Audience, sizeOf } from "./support/audience.ts";
import {
  Atoll,
  ffmpegPublisher,
  ffmpegViewer,
  freeUdpPort,
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

/** Kills the main process of `atoll` with SIGKILL, as a crash would, and waits for it. */
async function crash(atoll: Atoll): Promise<void> {
  atoll.kill();
  await atoll.exit();
}

/** A new main process on the state directory and SRT port of `first`. */
function restartOf(first: Atoll, args: string[] = []): Promise<Atoll> {
  return Atoll.start([
    "--state-dir",
    first.stateDir,
    "--srt-listen",
    `127.0.0.1:${first.srtPort}`,
    ...args,
  ]);
}

Deno.test("after kill -9 of the main process no viewer loses a packet, and a new main process adopts, serves, kicks and stops them", async () => {
  const dir = await Deno.makeTempDir({ prefix: "atoll_restart_" });
  const late = `${dir}/late.ts`;
  try {
    await using first = await Atoll.start(["--pool-size", "2"], { readyPool: true });
    const port = first.srtPort;
    const stream = "live/survivor";
    await using publisher = await ffmpegPublisher(
      `srt://127.0.0.1:${port}?streamid=publish:${stream}`,
    );
    const published = await publisherOf(first, stream);
    await using audience = Audience.start(port, stream, dir);
    await audience.grow(20_000, "every viewer to receive media", 10_000);
    const before = await first.connections();
    assert.equal(before.length, 4);
    // The prestarted pool: 2, or more if a caller had to wait for a child.
    const idle = await first.idleChildPids();
    assert.ok(idle.length >= 2, `idle children: ${idle}`);

    await crash(first);

    // Idle children leave; connected ones stay, and wait to be adopted.
    await waitFor("the idle children to exit", () => !idle.some(isAlive), { timeoutMs: 3000 });
    for (const { pid } of before) {
      await waitFor(
        `child ${pid}'s socket in the state directory`,
        () => socketExists(first, pid),
        { timeoutMs: 3000 },
      );
    }
    await audience.grow(20_000, "media to keep flowing with no main process");
    assert.equal(publisher.exited, false, "ffmpeg keeps publishing");
    assert.equal(audience.running, true);

    await using second = await restartOf(first, ["--api-token", TOKEN]);
    const adopted = await second.connections();
    const view = (list: ConnectionInfo[]) =>
      list.map(({ id, pid, mode, stream }) => ({ id, pid, mode, stream })).sort((a, b) =>
        a.id.localeCompare(b.id)
      );
    assert.deepEqual(view(adopted), view(before));
    assert.ok(adopted.every((c) => c.state === "connected"));
    const [info] = await second.streams();
    assert.equal(info?.name, stream);
    assert.equal(info?.publisher, published.id);
    assert.equal(info?.viewers, 3);
    assert.ok((info?.tracks.length ?? 0) > 0, "the publisher's tracks came with it");
    // Its reports reach the new main process.
    const bytesAtAdoption = adopted.find((c) => c.mode === "publish")!.bytesReceived;
    await waitFor("fresh statistics from the adopted publisher", async () => {
      const now = (await second.connections()).find((c) => c.id === published.id);
      return (now?.bytesReceived ?? 0) > bytesAtAdoption;
    }, { timeoutMs: 5000 });
    await audience.grow(20_000, "media to keep flowing after the adoption");

    // A fourth viewer of the adopted stream gets decodable video from a key frame.
    await using lateViewer = ffmpegViewer(
      `srt://127.0.0.1:${port}?streamid=#!::r=${stream},m=request`,
      late,
      2,
    );
    assert.equal((await lateViewer.done).success, true, lateViewer.tail());
    const probe = await probeVideo(late);
    assert.ok(probe.frames > 10, JSON.stringify(probe));
    assert.equal(probe.firstIsKey, true);

    // Nobody lost a packet through the crash and the adoption.
    const reports = await audience.stop();
    for (const report of reports) {
      assert.ok(report.bytes > 100_000, JSON.stringify(report));
      assert.equal(report.continuityErrors, 0, JSON.stringify(report));
    }

    // A kick reaches an adopted child.
    await waitFor("the viewers to leave", async () => (await second.connections()).length === 1);
    const response = await fetch(
      `http://127.0.0.1:${second.httpPort}/api/connections/${published.id}`,
      { method: "DELETE", headers: { authorization: `Bearer ${TOKEN}` } },
    );
    assert.equal(response.status, 202, await response.text());
    await waitFor(`child ${published.pid} to exit`, () => !isAlive(published.pid), {
      timeoutMs: 5000,
    });
    const closed = await second.waitForLog(
      "the kicked publisher's closing line",
      (l) => l.properties.id === published.id && "reason" in l.properties,
      5000,
    );
    assert.equal(closed.properties.reason, "shutdown");

    // SIGTERM stops it cleanly, and leaves nothing behind.
    const status = await second.stop();
    assert.equal(status.code, 0);
    for (const { pid } of before) assert.equal(isAlive(pid), false);
    // A clean stop with no child left leaves no state directory behind.
    assert.throws(() => Deno.statSync(first.stateDir), Deno.errors.NotFound);
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

Deno.test("stale and foreign files in the state directory are cleared or left alone, and Atoll starts", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "atoll_state_" });
  const children = `${stateDir}/children`;
  await Deno.mkdir(children);
  // A socket whose process is gone: nobody listens there any more.
  Deno.listen({ transport: "unix", path: `${children}/4000001.sock` }).close();
  Deno.writeTextFileSync(`${children}/4000002.sock`, "not a socket");
  Deno.writeTextFileSync(`${children}/notes.txt`, "an operator's file");
  Deno.writeTextFileSync(`${stateDir}/lock`, "garbage");
  // A live socket of a process that is no Atoll child: this test.
  const impostorPath = `${children}/${Deno.pid}.sock`;
  const impostor = Deno.listen({ transport: "unix", path: impostorPath });
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of impostor) {
      accepted.push(conn);
      // Atoll may hang up before it reads this: it checks the process first.
      await conn.write(new TextEncoder().encode('{"type":"hello","protocol":1}\n')).catch(() => {});
    }
  })();
  try {
    await using atoll = await Atoll.start(
      ["--state-dir", stateDir, "--srt-listen", `127.0.0.1:${freeUdpPort()}`],
      { readyPool: true },
    );
    const refused = atoll.findLog((l) => /^Not adopting child/.test(l.message));
    assert.equal(refused?.properties.pid, Deno.pid);
    assert.equal(refused?.properties.detail, `process ${Deno.pid} is not an Atoll child`);
    const left = [...Deno.readDirSync(children)].map((entry) => entry.name).sort();
    assert.deepEqual(left, [`${Deno.pid}.sock`, "notes.txt"]);
    assert.equal(Deno.readTextFileSync(`${stateDir}/lock`), `${atoll.pid}\n`);
    assert.deepEqual(await atoll.connections(), []);
    const caller = await tryConnect(atoll.srtPort, "publish:live/fresh", { timeoutMs: 3000 });
    assert.equal(caller.connected, true, caller.rejectText);
  } finally {
    impostor.close();
    for (const conn of accepted) conn.close();
    await accepting.catch(() => {});
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("an adopted stream is taken over by a new publisher once its adopted one falls silent, and its viewer goes on", async () => {
  const dir = await Deno.makeTempDir({ prefix: "atoll_restart_" });
  try {
    await using first = await Atoll.start([], { readyPool: true });
    const port = first.srtPort;
    const stream = "live/handover";
    const uri = `srt://127.0.0.1:${port}?streamid=publish:${stream}`;
    const encoders = [await ffmpegPublisher(uri)];
    try {
      const original = await publisherOf(first, stream);
      await using viewer = srtLiveTransmitViewer(port, `#!::r=${stream},m=request`, `${dir}/v.ts`);
      await waitFor("the viewer to receive", () => sizeOf(`${dir}/v.ts`) > 20_000);
      await crash(first);
      await using second = await restartOf(first);
      assert.equal((await second.connections()).length, 2);

      // The encoder dies without a word; a new one retries until it takes over.
      encoders[0]!.kill();
      await encoders[0]!.exit();
      const replacement = await waitFor("a new publisher of the adopted stream", async () => {
        const [info] = await second.streams();
        if (info?.publisher !== null && info?.publisher !== original.id) return info!.publisher;
        if (encoders.at(-1)!.exited) encoders.push(await ffmpegPublisher(uri));
        return undefined;
      }, { timeoutMs: 15_000 });
      assert.ok(replacement !== undefined);
      await waitFor(`the adopted publisher's child to be closed`, () => !isAlive(original.pid), {
        timeoutMs: 5000,
      });
      const from = sizeOf(`${dir}/v.ts`);
      await waitFor(
        "the adopted viewer to receive the new publisher's media",
        () => sizeOf(`${dir}/v.ts`) > from + 20_000,
        { timeoutMs: 5000 },
      );
      assert.equal(viewer.exited, false);
    } finally {
      for (const encoder of encoders) encoder.kill();
      await Promise.all(encoders.map((encoder) => encoder.exit()));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a main process starts beside orphans it cannot adopt, and they keep their connections", async () => {
  await using first = await Atoll.start([], { readyPool: true });
  const port = first.srtPort;
  await using _publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${port}?streamid=publish:live/elsewhere`,
  );
  const orphan = await publisherOf(first, "live/elsewhere");
  first.childPids(); // so that the test's cleanup knows them
  await crash(first);
  // Another state directory: the orphan is not this one's to adopt.
  await using second = await Atoll.start(["--srt-listen", `127.0.0.1:${port}`]);
  const warning = second.findLog((l) => /not adopted/.test(l.message));
  assert.equal(warning?.properties.pids, String(orphan.pid));
  assert.deepEqual(await second.connections(), []);
  assert.ok(isAlive(orphan.pid), "the orphan keeps its connection");
  const caller = await tryConnect(port, "publish:live/new", { timeoutMs: 3000 });
  assert.equal(caller.connected, true, caller.rejectText);
});

Deno.test("only the main process holding the lock can adopt: anyone else who connects to an orphan changes nothing", async () => {
  await using first = await Atoll.start([], { readyPool: true });
  const port = first.srtPort;
  await using _publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${port}?streamid=publish:live/guarded`,
  );
  const published = await publisherOf(first, "live/guarded");
  await crash(first);
  await using second = await restartOf(first);
  assert.equal((await second.connections())[0]?.id, published.id);
  // This test process connects to the adopted child's socket.
  const intruder = await Deno.connect({
    transport: "unix",
    path: `${first.stateDir}/children/${published.pid}.sock`,
  });
  const read = await intruder.read(new Uint8Array(256)).catch(() => null);
  intruder.close();
  assert.equal(read, null, "hung up on, told nothing");
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const [stream] = await second.streams();
  assert.equal(stream?.publisher, published.id, "still adopted");
  const before = (await second.connections())[0]!.bytesReceived;
  await waitFor(
    "its reports to keep coming",
    async () => ((await second.connections())[0]?.bytesReceived ?? 0) > before,
    { timeoutMs: 5000 },
  );
});

Deno.test("an orphan that comes after the new main process started is adopted when it appears", async () => {
  await using first = await Atoll.start([], { readyPool: true });
  const port = first.srtPort;
  await using _publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${port}?streamid=publish:live/late`,
  );
  const published = await publisherOf(first, "live/late");
  // With a writer of its stdin held here, it cannot see its main process go
  // until after the new one has looked. (Not SIGSTOP: a stopped child is
  // continued by the kernel as the main process dies, since its process
  // group is orphaned then.)
  const held = holdStdin(first.pid, published.pid);
  try {
    await crash(first);
    await using second = await restartOf(first);
    assert.deepEqual(await second.connections(), []);
    held.close();
    const adopted = await waitFor(
      "the late orphan to be adopted",
      async () => (await second.connections()).find((c) => c.id === published.id),
      { timeoutMs: 5000 },
    );
    assert.equal(adopted.pid, published.pid);
    assert.equal((await second.streams())[0]?.publisher, published.id);
  } finally {
    try {
      held.close();
    } catch {
      // Closed above.
    }
  }
});

/**
 * Another writer of child `pid`'s stdin, opened through its main process's
 * end of the pipe: the child sees its stdin end only once this is closed.
 */
function holdStdin(mainPid: number, pid: number): Deno.FsFile {
  const pipe = Deno.readLinkSync(`/proc/${pid}/fd/0`);
  for (const entry of Deno.readDirSync(`/proc/${mainPid}/fd`)) {
    const path = `/proc/${mainPid}/fd/${entry.name}`;
    try {
      if (Deno.readLinkSync(path) === pipe) return Deno.openSync(path, { write: true });
    } catch {
      // Closed meanwhile.
    }
  }
  throw new Error(`the main process ${mainPid} holds no end of ${pipe}`);
}
