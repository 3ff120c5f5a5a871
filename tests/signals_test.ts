/**
 * End to end: signals. Only the main process reloads, shuts down or answers
 * a terminal's Ctrl-C; a child ignores SIGHUP and SIGINT, and SIGTERM ends
 * its own connection cleanly. `--pid-file` tells an operator which process
 * to signal.
 */

import assert from "node:assert/strict";
import {
  Atoll,
  feed,
  isAlive,
  LOOPBACK_ARGS,
  MAIN,
  runDeno,
  type RunResult,
  sleep,
  srtLiveTransmitCaller,
  startWithConfig,
  waitFor,
} from "./support/mod.ts";
import type { ConnectionInfo } from "../src/server/api_types.ts";

/** The process group of `pid` (field 5 of /proc/PID/stat); undefined once it exited. */
function processGroupOf(pid: number): number | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
  } catch {
    return undefined;
  }
}

/** The connection of `streamId` once it has carried `bytes`. */
async function flowing(atoll: Atoll, streamId: string, bytes = 50_000): Promise<ConnectionInfo> {
  return await waitFor(
    `${streamId} carrying data`,
    async () =>
      (await atoll.connections()).find((c) =>
        c.streamId === streamId && c.state === "connected" && c.bytesReceived > bytes
      ),
    { timeoutMs: 15_000 },
  );
}

Deno.test("kill -HUP and kill -INT of a child leave its publisher connected and flowing", async () => {
  await using atoll = await Atoll.start([], { readyPool: true });
  await using publisher = srtLiveTransmitCaller(atoll.srtPort, "publish:live/hup");
  const feeding = feed(publisher, 5);
  feeding.catch(() => {}); // awaited below; a failure must not surface as unhandled first
  const before = await flowing(atoll, "publish:live/hup");
  // Idle children too: a signal must not cost the pool a process either.
  const idle = await atoll.idleChildPids();
  const children = [before.pid, ...idle];
  for (const signal of ["SIGHUP", "SIGINT"] as const) {
    for (const pid of children) Deno.kill(pid, signal);
    await sleep(500);
    assert.ok(children.every(isAlive), `${signal} ended a child: ${atoll.process.tail(4)}`);
  }
  await sleep(1000);
  const after = (await atoll.connections()).find((c) => c.id === before.id);
  assert.ok(after !== undefined, `the connection is gone: ${publisher.tail()}`);
  assert.equal(after.pid, before.pid, "same process");
  assert.equal(after.state, "connected");
  assert.ok(after.bytesReceived > before.bytesReceived + 100_000, "still flowing");
  assert.equal(publisher.text.includes("disconnected"), false, publisher.text);
  assert.equal(atoll.findLog((l) => l.properties.reason !== undefined), undefined);
  assert.equal((await atoll.stats()).childrenCrashed, 0);
  await feeding;
});

Deno.test("kill -TERM of a child ends that one connection cleanly; the others keep flowing", async () => {
  await using atoll = await Atoll.start();
  await using victim = srtLiveTransmitCaller(atoll.srtPort, "publish:live/term");
  await using bystander = srtLiveTransmitCaller(atoll.srtPort, "publish:live/stays");
  // srt-live-transmit notices its connection's state only between reads of its input.
  // The victim's writes may fail once it gives up.
  const feeding = Promise.all([feed(victim, 4).catch(() => {}), feed(bystander, 4)]);
  feeding.catch(() => {}); // awaited below; a failure must not surface as unhandled first
  const target = await flowing(atoll, "publish:live/term");
  const other = await flowing(atoll, "publish:live/stays");
  Deno.kill(target.pid, "SIGTERM");
  // A peer that only timed out would notice after its 5 s idle timeout.
  await waitFor("the peer to see the disconnection", () => victim.text.includes("disconnected"), {
    timeoutMs: 3000,
  });
  const closed = await atoll.waitForLog(
    "the connection's last line",
    (l) => l.properties.id === target.id && l.properties.reason !== undefined,
    3000,
  );
  assert.equal(closed.properties.reason, "shutdown");
  // Stats come once a second.
  await waitFor("the other connection to flow on", async () => {
    const now = (await atoll.connections()).find((c) => c.id === other.id);
    return now !== undefined && now.bytesReceived > other.bytesReceived + 50_000;
  }, { timeoutMs: 3000 });
  assert.equal(bystander.text.includes("disconnected"), false, bystander.text);
  await feeding;
});

Deno.test("a Ctrl-C to Atoll's process group reaches only the main process, which closes every connection cleanly and exits 0", async () => {
  const atoll = await Atoll.start([], { ownProcessGroup: true, readyPool: true });
  try {
    assert.equal(processGroupOf(atoll.pid), atoll.pid, "Atoll leads its process group");
    await using publisher = srtLiveTransmitCaller(atoll.srtPort, "publish:live/ctrl-c");
    const feeding = feed(publisher, 4).catch(() => {}); // its writes may fail once it gives up
    const connection = await flowing(atoll, "publish:live/ctrl-c");
    const children = atoll.childPids();
    assert.equal(children.length, 3, "the publisher's child and the pool");
    const inGroup = children.filter((pid) => processGroupOf(pid) === atoll.pid);
    assert.deepEqual(inGroup, [], "no child is in the terminal's foreground group");

    // What a terminal does on Ctrl-C: SIGINT to every process of the foreground group.
    Deno.kill(-atoll.pid, "SIGINT");
    // A peer that only timed out would notice after its 5 s idle timeout.
    await waitFor("the peer to see a shutdown", () => publisher.text.includes("disconnected"), {
      timeoutMs: 3000,
    });
    const status = await atoll.exit();
    assert.equal(status.code, 0, atoll.process.tail());
    const closed = atoll.findLog((l) =>
      l.properties.id === connection.id && "reason" in l.properties
    );
    assert.equal(closed?.properties.reason, "shutdown");
    assert.equal(atoll.findLog((l) => /Killing|exited \(/.test(l.message)), undefined);
    await waitFor("every child to be gone", () => !children.some(isAlive), { timeoutMs: 3000 });
    await feeding;
  } finally {
    atoll.kill();
  }
});

/** Atoll run to its end with `args` (killed after 20 s): exit code, stdout, stderr. */
function runAtoll(args: string[]): Promise<RunResult> {
  return runDeno([MAIN, ...LOOPBACK_ARGS, ...args]);
}

Deno.test("--pid-file names the main process while it runs, refuses a second Atoll with exit 2, and goes on exit", async () => {
  const dir = await Deno.makeTempDir({ prefix: "atoll_pid_" });
  const path = `${dir}/atoll.pid`;
  try {
    const atoll = await startWithConfig("streams:\n  - prefix: live\n", ["--pid-file", path]);
    try {
      assert.equal(await Deno.readTextFile(path), `${atoll.pid}\n`);
      assert.deepEqual([...Deno.readDirSync(dir)].map((entry) => entry.name), ["atoll.pid"]);

      const second = await runAtoll(["--pid-file", path]);
      assert.equal(second.code, 2, second.stderr);
      assert.equal(second.stdout, "");
      assert.equal(
        second.stderr,
        `atoll: Cannot use pid file ${path}: Atoll is already running as process ${atoll.pid}\n`,
      );
      assert.equal(await Deno.readTextFile(path), `${atoll.pid}\n`, "the file is left alone");

      // The README's reload advice, word for word.
      const reload = await new Deno.Command("sh", {
        args: ["-c", `kill -HUP "$(cat ${path})"`],
      }).output();
      assert.equal(reload.code, 0);
      await atoll.waitForLog("the reload", (l) => /Config reloaded/.test(l.message), 5000);

      atoll.signal("SIGTERM");
      assert.equal((await atoll.exit()).code, 0);
      assert.deepEqual([...Deno.readDirSync(dir)], [], "the pid file is removed");
    } finally {
      await atoll[Symbol.asyncDispose]();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--pid-file replaces, with a warning, a file whose process is not a running Atoll", async () => {
  const dir = await Deno.makeTempDir({ prefix: "atoll_pid_" });
  const path = `${dir}/atoll.pid`;
  try {
    // This test process is alive, but no Atoll main process.
    await Deno.writeTextFile(path, `${Deno.pid}\n`);
    await using atoll = await Atoll.start(["--pid-file", path]);
    assert.equal(await Deno.readTextFile(path), `${atoll.pid}\n`);
    const warning = atoll.findLog((l) => /Replacing pid file/.test(l.message));
    assert.equal(warning?.level, "WARN");
    assert.equal(warning?.properties.reason, `process ${Deno.pid} is not an Atoll main process`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
