/**
 * Attacks on the HTTP API that must not hurt the streams or other clients:
 * descriptor exhaustion through idle connections, slow requests, too many
 * connections, oversized bodies, and foreign `Host` names (DNS rebinding).
 */

import assert from "node:assert/strict";
import { Atoll, fdTargets, ffmpegPublisher, sleep, waitFor } from "./support/mod.ts";
import type { ConnectionInfo } from "../src/server/api_types.ts";

/** What a raw exchange got: the response text (maybe empty), and whether the server closed. */
interface Exchange {
  text: string;
  closedByServer: boolean;
  elapsedMs: number;
}

/**
 * Writes `request` (if any) on `conn` and reads until the server closes or
 * `timeoutMs` passes (then the client closes).
 */
async function exchange(conn: Deno.Conn, request: string, timeoutMs: number): Promise<Exchange> {
  const started = performance.now();
  if (request !== "") await conn.write(new TextEncoder().encode(request));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    conn.close();
  }, timeoutMs);
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(65536);
  try {
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      chunks.push(buffer.slice(0, n));
    }
  } catch {
    // A reset counts as closed by the server; a read cut by the timer does not.
  } finally {
    clearTimeout(timer);
    if (!timedOut) conn.close();
  }
  const text = new TextDecoder().decode(
    chunks.reduce((all, chunk) => new Uint8Array([...all, ...chunk]), new Uint8Array()),
  );
  return { text, closedByServer: !timedOut, elapsedMs: performance.now() - started };
}

/** The status code of a raw response; 0 when there is none. */
function statusOf(text: string): number {
  return Number(/^HTTP\/1\.1 ([0-9]{3}) /.exec(text)?.[1] ?? 0);
}

function connect(atoll: Atoll): Promise<Deno.Conn> {
  return Deno.connect({ hostname: "127.0.0.1", port: atoll.httpPort });
}

/** One request with `Connection: close`, answered within 5 s. */
async function rawGet(atoll: Atoll, path: string, host: string): Promise<Exchange> {
  return await exchange(
    await connect(atoll),
    `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
    5000,
  );
}

Deno.test("idle HTTP connections that exhaust the descriptors neither end Atoll nor its streams, and HTTP recovers", async () => {
  await using atoll = await Atoll.start([], { readyPool: true });
  const publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${atoll.srtPort}?streamid=publish:live/fd`,
  );
  const idle: Deno.Conn[] = [];
  try {
    const before = await waitFor(
      "the publisher sending",
      async () =>
        (await atoll.connections()).find((c: ConnectionInfo) =>
          c.stream === "live/fd" && c.bytesReceived > 0
        ),
      { timeoutMs: 15_000 },
    );
    // The pool refilled: no child starts while descriptors are short.
    await waitFor("a full pool", async () => {
      const stats = await atoll.stats();
      return stats.idleChildren === stats.poolFloor;
    });
    // A limit 20 descriptors above what Atoll has open, far below --http-max-connections.
    const limit = fdTargets(atoll.pid).size + 20;
    const prlimit = await new Deno.Command("prlimit", {
      args: ["--pid", String(atoll.pid), `--nofile=${limit}:${limit}`],
    }).output();
    assert.ok(prlimit.success, new TextDecoder().decode(prlimit.stderr));

    for (let i = 0; i < 60; i++) idle.push(await connect(atoll));
    await atoll.waitForLog(
      "the failed accept logged",
      (line) => line.message.startsWith("HTTP cannot accept connections"),
      10_000,
    );
    await sleep(1500); // several failed accepts, backing off
    assert.ok(!atoll.process.exited, "Atoll is still running");
    assert.ok(!publisher.exited, "the publisher is still connected");

    for (const conn of idle.splice(0)) conn.close();
    await waitFor("/healthz answering again", async () => {
      try {
        const response = await fetch(`http://127.0.0.1:${atoll.httpPort}/healthz`, {
          signal: AbortSignal.timeout(1000),
        });
        await response.body?.cancel();
        return response.status === 200;
      } catch {
        return false;
      }
    }, { timeoutMs: 15_000, intervalMs: 200 });
    await atoll.waitForLog(
      "accepting again logged",
      (line) => line.message.startsWith("HTTP accepts connections again"),
      5000,
    );
    const warnings = atoll.logs.filter((line) =>
      line.message.startsWith("HTTP cannot accept connections")
    );
    assert.equal(warnings.length, 1, "logged once per episode");

    // The same publisher connection, still sending.
    const after = (await atoll.connections()).find((c) => c.id === before.id);
    assert.ok(after !== undefined, "the publisher's connection survived");
    await sleep(1500);
    const later = (await atoll.connections()).find((c) => c.id === before.id);
    assert.ok(later !== undefined && later.bytesReceived > after.bytesReceived, "media flows");
    assert.ok(after.bytesReceived > before.bytesReceived);
  } finally {
    for (const conn of idle) conn.close();
    await publisher.stop();
  }
});

Deno.test("the HTTP API closes slow and idle connections, caps connections, refuses big bodies and foreign hosts", async (t) => {
  await using atoll = await Atoll.start([
    "--http-header-timeout",
    "1500",
    "--http-max-connections",
    "3",
    "--http-allowed-hosts",
    "media.example,[fd00::1]",
  ]);

  await t.step("a request whose headers never end is closed after the header timeout", async () => {
    const slow = await exchange(
      await connect(atoll),
      "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1\r\n",
      6000,
    );
    assert.ok(slow.closedByServer, "the server closed the slow connection");
    assert.ok(slow.elapsedMs >= 1000 && slow.elapsedMs < 5000, `${slow.elapsedMs} ms`);
    const silent = await exchange(await connect(atoll), "", 6000);
    assert.ok(silent.closedByServer, "the server closed the silent connection");
    assert.ok(silent.elapsedMs >= 1000 && silent.elapsedMs < 5000, `${silent.elapsedMs} ms`);
  });

  await t.step("a connection over the cap gets 503 while the open ones are served", async () => {
    const open = [await connect(atoll), await connect(atoll), await connect(atoll)];
    try {
      // Each is accepted and served once, and kept alive.
      for (const conn of open) {
        await conn.write(
          new TextEncoder().encode("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        );
        const buffer = new Uint8Array(1024);
        const n = await conn.read(buffer);
        assert.equal(statusOf(new TextDecoder().decode(buffer.subarray(0, n ?? 0))), 200);
      }
      const over = await rawGet(atoll, "/healthz", "localhost");
      assert.ok(over.closedByServer);
      assert.equal(statusOf(over.text), 503, over.text);
      assert.match(over.text, /Too many HTTP connections: at most 3 at once/);
      const served = await exchange(
        open.shift()!,
        "GET /api/stats HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        5000,
      );
      assert.equal(statusOf(served.text), 200, served.text);
    } finally {
      for (const conn of open) conn.close();
    }
    // Once they are gone, new connections are served again.
    await waitFor(
      "a new connection served",
      async () => statusOf((await rawGet(atoll, "/healthz", "localhost")).text) === 200,
    );
  });

  await t.step("a body over the limit gets 413 without being read", async () => {
    const big = await exchange(
      await connect(atoll),
      "POST /api/reload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000\r\n\r\n",
      5000,
    );
    assert.equal(statusOf(big.text), 413, big.text);
    assert.match(big.text, /Request body too large: at most 65536 bytes/);
    assert.ok(big.closedByServer);
  });

  await t.step(
    "a foreign Host gets 421; loopback, the bound address and allowed names pass",
    async () => {
      const foreign = await rawGet(atoll, "/api/streams", `rebound.example:${atoll.httpPort}`);
      assert.equal(statusOf(foreign.text), 421, foreign.text);
      assert.match(foreign.text, /Host not allowed: \\"rebound\.example:[0-9]+\\"/);
      for (
        const host of [
          `localhost:${atoll.httpPort}`,
          `127.0.0.1:${atoll.httpPort}`,
          `[::1]:${atoll.httpPort}`,
          "LOCALHOST",
          `media.example:${atoll.httpPort}`,
          "[fd00::1]",
        ]
      ) {
        const allowed = await rawGet(atoll, "/api/streams", host);
        assert.equal(statusOf(allowed.text), 200, `${host}: ${allowed.text}`);
      }
      const missing = await exchange(
        await connect(atoll),
        "GET /api/streams HTTP/1.1\r\nConnection: close\r\n\r\n",
        5000,
      );
      assert.equal(statusOf(missing.text), 400, missing.text);
    },
  );
});
