/**
 * The main process and its open-file limit: what each kind of connection
 * costs it in descriptors (src/server/file_budget.ts counts on these), and
 * a main process started under a low hard limit (`prlimit --nofile=N:N`)
 * that runs out while publishers, viewers and HTTP clients keep coming: it
 * refuses the new work, keeps every connection it has, and admits again
 * once descriptors are free.
 */

import assert from "node:assert/strict";
import {
  FILES_PER_CONNECTION,
  FILES_PER_STREAM,
  WORST_FILES_PER_CONNECTION,
} from "../src/server/file_budget.ts";
import type { ConnectionInfo, ServerStats } from "../src/server/api_types.ts";
import {
  Atoll,
  fdTargets,
  ffmpegPublisher,
  inetSockets,
  isAlive,
  LOOPBACK_ARGS,
  MAIN,
  type ManagedProcess,
  parseLogLine,
  sleep,
  srtLiveTransmitViewer,
  waitFor,
} from "./support/mod.ts";

/** What a descriptor of the main process is, as far as the budget cares. */
type FdKind = "pidfd" | "pipe" | "memfd" | "tcp" | "udp" | "unix" | "other";

/** The main process's descriptors counted by kind; TCP apart, since the test's own HTTP requests come and go. */
function fdKinds(pid: number): Record<FdKind, number> {
  const inet = inetSockets();
  const counts: Record<FdKind, number> = {
    pidfd: 0,
    pipe: 0,
    memfd: 0,
    tcp: 0,
    udp: 0,
    unix: 0,
    other: 0,
  };
  for (const target of fdTargets(pid).values()) {
    const socket = /^socket:\[(\d+)\]$/.exec(target);
    if (socket !== null) {
      const protocol = inet.get(socket[1]!)?.protocol;
      counts[protocol === undefined ? "unix" : protocol.startsWith("tcp") ? "tcp" : "udp"]++;
    } else if (target === "anon_inode:[pidfd]") counts.pidfd++;
    else if (target.startsWith("pipe:")) counts.pipe++;
    else if (target.startsWith("/memfd:atoll:")) counts.memfd++;
    else counts.other++;
  }
  return counts;
}

/**
 * `after - before` per kind; kinds that did not change are left out, and so
 * are TCP (the test's own HTTP requests) and other files (a /proc read of
 * the resource sampler, open across an await).
 */
function fdGrowth(
  before: Record<FdKind, number>,
  after: Record<FdKind, number>,
): Partial<Record<FdKind, number>> {
  const growth: Partial<Record<FdKind, number>> = {};
  for (const kind of Object.keys(before) as FdKind[]) {
    if (kind === "tcp" || kind === "other") continue;
    if (after[kind] !== before[kind]) growth[kind] = after[kind] - before[kind];
  }
  return growth;
}

/** One HTTP client without keep-alive: no connection of the test lingers in Atoll. */
async function getJson<T>(client: Deno.HttpClient, port: number, path: string): Promise<T> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    client,
    signal: AbortSignal.timeout(3000),
  });
  if (!response.ok) throw new Error(`GET ${path}: ${response.status} ${await response.text()}`);
  return await response.json() as T;
}

/**
 * The main process's descriptors once they stand still: the pool full,
 * `connections` up, no other child alive or starting (a pidfd each), and
 * the same counts twice, 300 ms apart.
 */
async function settledFdKinds(
  atoll: Atoll,
  client: Deno.HttpClient,
  connections: number,
): Promise<Record<FdKind, number>> {
  const children = atoll.poolSize + connections;
  // The media output process has a pidfd too.
  const pidfds = children + (atoll.mediaPort > 0 ? 1 : 0);
  return await waitFor("the main process's descriptors to settle", async () => {
    const stats = await getJson<ServerStats>(client, atoll.httpPort, "/api/stats");
    if (
      stats.idleChildren !== atoll.poolSize || stats.startingChildren !== 0 ||
      stats.connections !== connections || atoll.childPids().length !== children
    ) {
      return false;
    }
    const first = fdKinds(atoll.pid);
    await sleep(300);
    const second = fdKinds(atoll.pid);
    return second.pidfd === pidfds && JSON.stringify(fdGrowth(first, second)) === "{}" &&
      second;
  }, { timeoutMs: 30_000, intervalMs: 100 });
}

Deno.test("a stream's first caller costs the main process 6 descriptors, any other caller 5", async () => {
  await using atoll = await Atoll.start(["--pool-size", "1", "--pool-max", "1"], {
    readyPool: true,
  });
  using client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  const idle = await settledFdKinds(atoll, client, 0);
  // Each child: its control socket, its pidfd, and its three pipes; and the media output process.
  assert.equal(idle.pidfd, atoll.childPids().length + 1);
  assert.equal(idle.memfd, 0);
  const child = { unix: 1, pipe: 3, pidfd: 1 };
  const childAndBuffer = { ...child, memfd: FILES_PER_STREAM };

  const dir = await Deno.makeTempDir({ prefix: "atoll_fds_" });
  const publish = (name: string) =>
    ffmpegPublisher(`srt://127.0.0.1:${atoll.srtPort}?streamid=publish:${name}`);
  const peers: ManagedProcess[] = [];
  try {
    peers.push(srtLiveTransmitViewer(atoll.srtPort, "play:live/a", `${dir}/held.ts`));
    const withHeld = await settledFdKinds(atoll, client, 1);
    assert.deepEqual(fdGrowth(idle, withHeld), childAndBuffer, "a held viewer, first on live/a");
    assert.equal(FILES_PER_CONNECTION.heldViewer, 6);

    peers.push(await publish("live/a"));
    const withPublisher = await settledFdKinds(atoll, client, 2);
    assert.deepEqual(fdGrowth(withHeld, withPublisher), child, "a publisher of live/a");

    peers.push(srtLiveTransmitViewer(atoll.srtPort, "play:live/a", `${dir}/viewer.ts`));
    const withViewer = await settledFdKinds(atoll, client, 3);
    assert.deepEqual(fdGrowth(withPublisher, withViewer), child, "a viewer of live/a");
    assert.equal(FILES_PER_CONNECTION.viewer, 5);

    peers.push(await publish("live/b"));
    const withSecondStream = await settledFdKinds(atoll, client, 4);
    assert.deepEqual(
      fdGrowth(withViewer, withSecondStream),
      childAndBuffer,
      "a publisher, first on live/b",
    );
    assert.equal(FILES_PER_CONNECTION.publisher, 6);
    assert.equal(WORST_FILES_PER_CONNECTION, 6);

    // All gone: back to the idle pool's descriptors.
    for (const peer of peers.splice(0)) await peer.stop();
    assert.deepEqual(fdGrowth(idle, await settledFdKinds(atoll, client, 0)), {});
  } finally {
    for (const peer of peers) await peer.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Atoll run as `prlimit --nofile=LIMIT:LIMIT deno run -A main.ts ...`, with
 * a pool that does not grow: the limit leaves room for its 2 children only.
 */
async function startLimited(limit: number, args: string[]): Promise<Atoll> {
  // The limits here are counted for the SRT side alone: the media output's
  // 4 descriptors would leave no room for a single connection under 80.
  const media = ["--media-listen", "off"];
  return await Atoll.start(["--pool-size", "2", "--pool-max", "2", ...media, ...args], {
    wrapper: ["prlimit", `--nofile=${limit}:${limit}`, "--"],
    logLevel: "info",
    startTimeoutMs: 30_000,
  });
}

/** Bounded concurrent GETs of `/api/stats`, each given up after 1 s, until stopped. */
function hammer(port: number, workers: number) {
  const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  const stop = new AbortController();
  const counts = { answered: 0, failed: 0 };
  const loops = Array.from({ length: workers }, async () => {
    for (let i = 0; i < 5000 && !stop.signal.aborted; i++) {
      try {
        const response = await fetch(`http://127.0.0.1:${port}/api/stats`, {
          client,
          signal: AbortSignal.any([stop.signal, AbortSignal.timeout(1000)]),
        });
        await response.body?.cancel();
        counts.answered++;
      } catch {
        counts.failed++;
      }
      await sleep(20);
    }
  });
  return {
    counts,
    async stop() {
      stop.abort();
      await Promise.all(loops);
      client.close();
    },
  };
}

/** The size of `path` (0 when it does not exist yet). */
function sizeOf(path: string): number {
  try {
    return Deno.statSync(path).size;
  } catch {
    return 0;
  }
}

/** Whether the file a viewer writes grows within `timeoutMs`. */
async function grows(path: string, timeoutMs: number): Promise<boolean> {
  const start = sizeOf(path);
  return await waitFor(`${path} to grow`, () => sizeOf(path) > start, {
    timeoutMs,
    intervalMs: 100,
  }).then(() => true, () => false);
}

/** Fails with the main process's last lines (its crash) if it has exited. */
function assertAlive(atoll: Atoll): void {
  assert.ok(
    !atoll.process.exited && isAlive(atoll.pid),
    `the main process exited:\n${atoll.process.tail(5)}`,
  );
}

const LIMIT = 80;
const SHORTAGE = /too many open files/i;

Deno.test("out of descriptors, Atoll refuses new callers and HTTP clients, keeps its connections, and recovers", async () => {
  await using atoll = await startLimited(LIMIT, [
    "--max-connections",
    "40",
    "--http-max-connections",
    "16",
  ]);
  const startupWarning = atoll.findLog((line) => /^The hard open-file limit/.test(line.message));
  assert.match(
    startupWarning?.message ?? "",
    new RegExp(
      `^The hard open-file limit ${LIMIT} allows about \\d+ connection\\(s\\), not the 40 of ` +
        `--max-connections: .*ulimit -Hn \\d+ .*LimitNOFILE=\\d+ .*--ulimit nofile=\\d+:\\d+`,
    ),
  );
  using client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  const api = <T>(path: string) => getJson<T>(client, atoll.httpPort, path);
  const dir = await Deno.makeTempDir({ prefix: "atoll_fd_exhaustion_" });
  const peers: ManagedProcess[] = [];
  const idleHttp: Deno.Conn[] = [];
  let load: ReturnType<typeof hammer> | undefined;
  try {
    // Before the shortage: a publisher, and a viewer writing what it plays.
    peers.push(
      await ffmpegPublisher(`srt://127.0.0.1:${atoll.srtPort}?streamid=publish:live/fd`),
    );
    const firstViewerFile = `${dir}/first.ts`;
    peers.push(srtLiveTransmitViewer(atoll.srtPort, "play:live/fd", firstViewerFile));
    const [publisher, firstViewer] = await waitFor(
      "the publisher and the viewer carrying media",
      async () => {
        const connections = await api<ConnectionInfo[]>("/api/connections");
        const publisher = connections.find((c) => c.mode === "publish" && c.bytesReceived > 0);
        const viewer = connections.find((c) => c.mode === "play" && c.bytesSent > 0);
        return publisher !== undefined && viewer !== undefined && [publisher, viewer] as const;
      },
      { timeoutMs: 20_000, intervalMs: 200 },
    );

    load = hammer(atoll.httpPort, 6);
    // More viewers, each playing into its own file, until one is refused
    // after the shortage is logged (one merely slow under load is not).
    const shortageLogged = () => atoll.findLog((line) => SHORTAGE.test(line.message));
    let admitted = 0;
    let refused = 0;
    for (let i = 0; i < 14 && refused === 0 && !atoll.process.exited; i++) {
      const file = `${dir}/extra${i}.ts`;
      peers.push(srtLiveTransmitViewer(atoll.srtPort, "play:live/fd", file));
      if (await grows(file, 8000)) admitted++;
      else if (shortageLogged() !== undefined) refused++;
    }
    assertAlive(atoll);
    assert.ok(refused > 0, `${admitted} more viewers admitted, none refused for the shortage`);

    // HTTP clients that take what is left: accepting fails, and HTTP waits.
    for (let i = 0; i < 60; i++) {
      idleHttp.push(await Deno.connect({ hostname: "127.0.0.1", port: atoll.httpPort }));
    }
    await atoll.process.waitForLine(
      "the failed accept logged",
      (line) => /HTTP cannot accept connections/.test(parseLogLine(line)?.message ?? ""),
      10_000,
    );
    // Only numbers below the limit can be given out (one above, inherited, is not counted).
    const open = [...fdTargets(atoll.pid).keys()].filter((fd) => Number(fd) < LIMIT).length;
    assert.ok(open >= LIMIT - 8, `only ${open} descriptors of ${LIMIT} open`);
    // Still serving the connections it has, while out of descriptors.
    assert.ok(await grows(firstViewerFile, 5000), "the first viewer still receives media");
    await sleep(1500);
    assertAlive(atoll);
    assert.ok(!peers[0]!.exited, "the publisher is still connected");

    // Free what the clients took.
    await load.stop();
    load = undefined;
    for (const conn of idleHttp.splice(0)) conn.close();
    for (const viewer of peers.splice(2)) await viewer.stop();

    await waitFor("/healthz answering again", async () => {
      try {
        const response = await fetch(`http://127.0.0.1:${atoll.httpPort}/healthz`, {
          client,
          signal: AbortSignal.timeout(1000),
        });
        await response.body?.cancel();
        return response.status === 200;
      } catch {
        return false;
      }
    }, { timeoutMs: 20_000, intervalMs: 200 });
    const httpShortage = atoll.findLog((line) =>
      line.message.startsWith("HTTP cannot accept connections")
    );
    assert.equal(httpShortage?.level, "WARN");
    assert.match(
      String(httpShortage?.properties.error),
      new RegExp(`^too many open files \\(the hard limit is ${LIMIT}\\): raise the hard limit`),
      "the HTTP line names the limit",
    );

    // The connections from before: the same ones, still carrying media.
    const before = await api<ConnectionInfo[]>("/api/connections");
    await sleep(1500);
    const after = await api<ConnectionInfo[]>("/api/connections");
    const grew = (id: string, field: "bytesReceived" | "bytesSent") =>
      (after.find((c) => c.id === id)?.[field] ?? 0) >
        (before.find((c) => c.id === id)?.[field] ?? Infinity);
    assert.ok(grew(publisher.id, "bytesReceived"), "the publisher still sends");
    assert.ok(grew(firstViewer.id, "bytesSent"), "the first viewer still plays");

    // New work is admitted again: the pool refills (to its size at least: a
    // pool may keep more after callers had to wait), and a new viewer plays.
    await waitFor(
      "a full pool again",
      async () => (await api<ServerStats>("/api/stats")).idleChildren >= atoll.poolSize,
      { timeoutMs: 20_000, intervalMs: 200 },
    );
    const lateFile = `${dir}/late.ts`;
    peers.push(srtLiveTransmitViewer(atoll.srtPort, "play:live/fd", lateFile));
    assert.ok(await grows(lateFile, 15_000), "a new viewer is admitted and plays");

    for (const peer of peers.splice(0)) await peer.stop();
    const status = await atoll.process.stop(15_000);
    assert.equal(status.code, 0, "a clean shutdown after the shortage");
  } finally {
    await load?.stop();
    for (const conn of idleHttp) conn.close();
    for (const peer of peers) await peer.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a hard limit with no room for one connection stops Atoll at startup, saying what to raise it to", async () => {
  const output = await new Deno.Command("prlimit", {
    args: ["--nofile=100:100", "--", Deno.execPath(), "run", "-A", MAIN, ...LOOPBACK_ARGS],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 2, stderr);
  assert.match(
    stderr,
    /^atoll: The hard open-file limit 100 leaves no room for a single connection: .*raise the hard limit \(ulimit -Hn (\d+) .*LimitNOFILE=\1 .*--ulimit nofile=\1:\1\) or lower --http-max-connections and --pool-max\n$/,
  );
});
