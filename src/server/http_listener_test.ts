import assert from "node:assert/strict";
import { listenHttp } from "./http_listener.ts";
import { MAX_HEADER_BYTES } from "../http/request.ts";

/** A listener on a free loopback port answering every request with its method and path. */
function echoListener(limits: { maxConnections?: number; headerTimeoutMs?: number } = {}) {
  return listenHttp({ hostname: "127.0.0.1", port: 0 }, {
    maxConnections: limits.maxConnections ?? 10,
    headerTimeoutMs: limits.headerTimeoutMs ?? 5000,
    maxBodyBytes: 100,
  }, async (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/throw") throw new Error("handler bug");
    const body = request.body === null ? "" : ` ${await request.text()}`;
    return new Response(`${request.method} ${path}${body}`);
  });
}

/** Sends `text` and reads until the server closes (or 5 s pass). */
async function roundTrip(port: number, text: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(text));
  const timer = setTimeout(() => conn.close(), 5000);
  let received = "";
  const buffer = new Uint8Array(4096);
  try {
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      received += new TextDecoder().decode(buffer.subarray(0, n));
    }
    conn.close();
  } catch {
    // Closed by the timer.
  } finally {
    clearTimeout(timer);
  }
  return received;
}

Deno.test("listenHttp() serves kept-alive and pipelined requests, HEAD without a body", async () => {
  const http = echoListener();
  try {
    const text = await roundTrip(
      http.addr.port,
      "GET /a HTTP/1.1\r\nHost: x\r\n\r\n" +
        "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" +
        "HEAD /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    const answers = text.split(/(?=HTTP\/1\.1 )/);
    assert.equal(answers.length, 3, text);
    assert.match(answers[0]!, /^HTTP\/1\.1 200 OK\r\n[^]*content-length: 6\r\n\r\nGET \/a$/);
    assert.match(answers[1]!, /\r\n\r\nPOST \/b hello$/);
    assert.match(answers[2]!, /content-length: 7\r\nconnection: close\r\n\r\n$/);
  } finally {
    await http.shutdown();
  }
});

Deno.test("listenHttp() answers a failing handler with 500 and keeps serving", async () => {
  const http = echoListener();
  try {
    const text = await roundTrip(
      http.addr.port,
      "GET /throw HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert.match(text, /^HTTP\/1\.1 500 Internal Server Error\r\n/);
    assert.match(text, /GET \/ok$/);
  } finally {
    await http.shutdown();
  }
});

Deno.test("listenHttp() answers 413, 431 and 400 and closes the connection", async () => {
  const http = echoListener();
  try {
    const big = await roundTrip(http.addr.port, "POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n");
    assert.match(big, /^HTTP\/1\.1 413 Content Too Large\r\n[^]*connection: close/);
    const huge = await roundTrip(
      http.addr.port,
      `GET / HTTP/1.1\r\nX-Big: ${"a".repeat(MAX_HEADER_BYTES)}\r\n\r\n`,
    );
    assert.match(huge, /^HTTP\/1\.1 431 /);
    assert.match(await roundTrip(http.addr.port, "nonsense\r\n\r\n"), /^HTTP\/1\.1 400 /);
  } finally {
    await http.shutdown();
  }
});

Deno.test("listenHttp() closes a connection that idles past the header timeout", async () => {
  const http = echoListener({ headerTimeoutMs: 200 });
  try {
    const started = performance.now();
    assert.equal(await roundTrip(http.addr.port, "GET / HTTP/1.1\r\n"), "");
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 150 && elapsed < 4000, `${elapsed} ms`);
    assert.equal(http.connections, 0);
  } finally {
    await http.shutdown();
  }
});

Deno.test("listenHttp() answers 503 over the connection cap and serves the open one", async () => {
  const http = echoListener({ maxConnections: 1 });
  const first = await Deno.connect({ hostname: "127.0.0.1", port: http.addr.port });
  try {
    await first.write(new TextEncoder().encode("GET /one HTTP/1.1\r\nHost: x\r\n\r\n"));
    const buffer = new Uint8Array(4096);
    const n = await first.read(buffer);
    assert.match(new TextDecoder().decode(buffer.subarray(0, n ?? 0)), /GET \/one$/);
    const over = await roundTrip(http.addr.port, "GET /two HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.match(over, /^HTTP\/1\.1 503 [^]*at most 1 at once/);
    await first.write(new TextEncoder().encode("GET /three HTTP/1.1\r\nHost: x\r\n\r\n"));
    const m = await first.read(buffer);
    assert.match(new TextDecoder().decode(buffer.subarray(0, m ?? 0)), /GET \/three$/);
  } finally {
    first.close();
    await http.shutdown();
  }
});

Deno.test("listenHttp() shutdown closes idle connections and stops accepting", async () => {
  const http = echoListener();
  const idle = await Deno.connect({ hostname: "127.0.0.1", port: http.addr.port });
  await new Promise((resolve) => setTimeout(resolve, 50));
  await http.shutdown();
  assert.equal(await idle.read(new Uint8Array(16)), null);
  idle.close();
  await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: http.addr.port }));
});

Deno.test("listenHttp() keeps a path that starts with // a path, and refuses a malformed Host", async () => {
  const http = echoListener();
  try {
    const text = await roundTrip(
      http.addr.port,
      "GET //evil.example/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert.match(text, /\r\n\r\nGET \/\/evil\.example\/a$/);
    const at = await roundTrip(
      http.addr.port,
      "GET / HTTP/1.1\r\nHost: user@evil.example\r\nConnection: close\r\n\r\n",
    );
    assert.match(at, /^HTTP\/1\.1 400 [^]*Malformed request target or Host/);
  } finally {
    await http.shutdown();
  }
});
