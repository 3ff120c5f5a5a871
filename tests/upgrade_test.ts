/**
 * Zero-downtime upgrades (issue "The main process can crash", point 3):
 * SIGUSR2 starts a new main process from the same command line, which
 * adopts every connection while the old one exits without touching them;
 * a new main process that speaks another adoption protocol is refused, and
 * the old one goes on.
 */

import assert from "node:assert/strict";
import {
  Atoll,
  ffmpegPublisher,
  freeUdpPort,
  isAlive,
  type LogLine,
  publisherOf,
  tryConnect,
  waitFor,
} from "./support/mod.ts";
import type { ConnectionInfo } from "../src/server/api_types.ts";
import { Audience } from "./support/audience.ts";

const ROOT = new URL("..", import.meta.url).pathname;

function isStartup(line: LogLine): boolean {
  return /^SRT listening/.test(line.message);
}

Deno.test("SIGUSR2 hands every connection to a new main process, and the old one exits without touching them", async () => {
  const dir = await Deno.makeTempDir({ prefix: "atoll_upgrade_" });
  const pidFile = `${dir}/atoll.pid`;
  let successor: number | undefined;
  try {
    const port = freeUdpPort();
    await using atoll = await Atoll.start([
      "--srt-listen",
      `127.0.0.1:${port}`,
      "--pid-file",
      pidFile,
    ], { readyPool: true });
    // Disposed before `atoll`, however the test ends: a successor left
    // running would keep the old main process's output open, and so the
    // test from ending.
    await using _successor = {
      [Symbol.asyncDispose]: () => {
        const handedTo = Number(atoll.findLog((l) => /^Handed/.test(l.message))?.properties.pid);
        if (Number.isInteger(handedTo) && handedTo > 0 && isAlive(handedTo)) {
          Deno.kill(handedTo, "SIGKILL");
        }
        return Promise.resolve();
      },
    };
    const stream = "live/upgraded";
    await using publisher = await ffmpegPublisher(
      `srt://127.0.0.1:${port}?streamid=publish:${stream}`,
    );
    await publisherOf(atoll, stream);
    await using audience = Audience.start(port, stream, dir);
    await audience.grow(20_000, "every viewer to receive media", 10_000);
    const before = await atoll.connections();
    assert.equal(before.length, 4);

    atoll.signal("SIGUSR2");
    // The successor writes to the same output: its startup line is the second one.
    const started = await waitFor(
      "the new main process's startup line",
      () => atoll.logs.filter(isStartup)[1],
      { timeoutMs: 15_000 },
    );
    const handed = atoll.findLog((l) => /^Handed/.test(l.message));
    successor = Number(handed?.properties.pid);
    await waitFor("the old main process to exit", () => !isAlive(atoll.pid), { timeoutMs: 5000 });
    assert.ok(isAlive(successor), `the successor ${successor} runs`);
    // The pid file names the old one until the new one puts its own in place.
    await waitFor(
      "the pid file to name the new main process",
      async () => Number((await Deno.readTextFile(pidFile).catch(() => "")).trim()) === successor,
      { timeoutMs: 5000 },
    );

    const http = Number(String(started.properties.http).split(":").at(-1));
    const response = await fetch(`http://127.0.0.1:${http}/api/connections`);
    const after = await response.json() as ConnectionInfo[];
    const view = (list: ConnectionInfo[]) =>
      list.map(({ id, pid, mode, state }) => ({ id, pid, mode, state })).sort((a, b) =>
        a.id.localeCompare(b.id)
      );
    assert.deepEqual(view(after), view(before));
    const closings = () =>
      atoll.logs.filter((l) => /^Connection .* closed \(/.test(l.message)).map((l) => l.message);
    assert.deepEqual(closings(), [], "no connection closed");
    await audience.grow(20_000, "media to keep flowing through the upgrade");
    assert.equal(publisher.exited, false);
    assert.equal(audience.running, true);
    for (const report of await audience.stop()) {
      assert.ok(report.bytes > 50_000, JSON.stringify(report));
      assert.equal(report.continuityErrors, 0, `no packet lost: ${JSON.stringify(report)}`);
    }
    // A new caller gets in through the successor's fast path: the main
    // process answers its induction with its own cookie.
    const stats = async () =>
      (await (await fetch(`http://127.0.0.1:${http}/api/stats`)).json()) as {
        fastHandshake: boolean;
        inductionsAnswered: number;
      };
    const answered = await stats();
    assert.equal(answered.fastHandshake, true);
    const newcomer = await tryConnect(port, `play:${stream}`);
    assert.equal(newcomer.connected, true, JSON.stringify(newcomer));
    assert.ok((await stats()).inductionsAnswered > answered.inductionsAnswered);
    await waitFor("the newcomer's closing line", () => closings().length === 4);

    // The new main process stops them cleanly, as its own.
    Deno.kill(successor, "SIGTERM");
    await waitFor("the new main process to stop", () => !isAlive(successor!), {
      timeoutMs: 10_000,
    });
    for (const { pid } of before) assert.equal(isAlive(pid), false);
    // The viewers left by themselves; the publisher is closed by the server.
    await waitFor("five closing lines", () => closings().length === 5);
    assert.equal(closings().filter((line) => /closed \("shutdown": /.test(line)).length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an upgrade to a main process of another adoption protocol is refused, and the old one goes on", async () => {
  // A copy of this tree, whose adoption protocol changes after it started.
  const copy = await Deno.makeTempDir({ prefix: "atoll_other_version_" });
  try {
    for (const entry of ["main.ts", "deno.json", "deno.lock", "src", "ffi", "workers", "static"]) {
      const copied = await new Deno.Command("cp", { args: ["-r", `${ROOT}${entry}`, copy] })
        .output();
      assert.ok(copied.success, entry);
    }
    const port = freeUdpPort();
    await using atoll = await Atoll.start(["--srt-listen", `127.0.0.1:${port}`], {
      main: `${copy}/main.ts`,
      readyPool: true,
    });
    await using _publisher = await ffmpegPublisher(
      `srt://127.0.0.1:${port}?streamid=publish:live/stays`,
    );
    const publisher = await publisherOf(atoll, "live/stays");
    const protocolFile = `${copy}/src/ipc/adoption.ts`;
    const source = await Deno.readTextFile(protocolFile);
    const changed = source.replace(
      "export const ADOPTION_PROTOCOL = 1;",
      "export const ADOPTION_PROTOCOL = 2;",
    );
    assert.notEqual(changed, source);
    await Deno.writeTextFile(protocolFile, changed);

    atoll.signal("SIGUSR2");
    const refused = await atoll.waitForLog(
      "the refusal",
      (l) => /^Upgrade refused/.test(l.message),
      20_000,
    );
    assert.match(
      String(refused.properties.reason),
      /speaks adoption protocol 2, this one 1: it could not adopt the connections/,
    );
    await waitFor(
      "the new main process's own message",
      () => atoll.output.some((line) => /^atoll: Upgrade refused by process \d+/.test(line)),
      { timeoutMs: 5000 },
    );
    // The old one goes on: it answers, keeps its connection, and admits callers.
    const health = await fetch(`http://127.0.0.1:${atoll.httpPort}/healthz`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
    const connections = await atoll.connections();
    assert.deepEqual(connections.map((c) => c.id), [publisher.id]);
    assert.equal(isAlive(atoll.pid), true);
    await atoll.stop();
  } finally {
    await Deno.remove(copy, { recursive: true });
  }
});
