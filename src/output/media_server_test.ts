import assert from "node:assert/strict";
import { createSharedMemory, futexWake, SharedMapping } from "../../ffi/shm.ts";
import { openSocketPair, receiveWithFd, sendMessage } from "../../ffi/socket.ts";
import {
  initializeStreamBuffer,
  MessageFlags,
  StreamBuffer,
  StreamWriter,
  WAKE_WORD_OFFSET,
} from "../media/stream_buffer.ts";
import { TS_PACKET_SIZE } from "../media/mpegts.ts";
import { FeedTable } from "./feeds.ts";
import {
  type AccessCheck,
  type DemandCheck,
  type MediaServer,
  serveMedia,
} from "./media_server.ts";
import {
  DEFAULT_HLS_RULES,
  type HlsRules,
  type MediaAccessRequest,
} from "../ipc/output_messages.ts";
import { CLIENT_WINDOW_MS } from "./hls.ts";

const LAYOUT = StreamBuffer.layout({ slots: 64, slotPayload: 7 * TS_PACKET_SIZE });

/** A stream buffer in shared memory, served as `name`, and its publisher's side. */
async function stream(feeds: FeedTable, name: string, hls?: HlsRules) {
  const memory = createSharedMemory(`test:${name}`, LAYOUT.bytes);
  const mapping = SharedMapping.map(memory.fd, LAYOUT.bytes);
  initializeStreamBuffer(mapping.buffer, LAYOUT);
  const writer = StreamWriter.attach(mapping.buffer);
  // The feed gets its own descriptor of the memory, sent as the main process sends it.
  const [here, there] = openSocketPair();
  try {
    sendMessage(here.fd, new TextEncoder().encode("stream"), memory.fd);
    const received = await receiveWithFd(there.fd);
    await feeds.add(name, received!.fd!, { bytes: LAYOUT.bytes, ...(hls && { hls }) });
  } finally {
    here.close();
    there.close();
  }
  return {
    /** Writes `count` messages of 7 packets on PID 0x100, each a random-access point. */
    publish(count: number) {
      for (let n = 0; n < count; n++) {
        const message = new Uint8Array(7 * TS_PACKET_SIZE);
        for (let p = 0; p < 7; p++) {
          message.set([0x47, 0x41, 0x00, 0x10 | ((n * 7 + p) & 0x0f)], p * TS_PACKET_SIZE);
        }
        writer.write(message, MessageFlags.RandomAccess, n);
      }
      futexWake(mapping, WAKE_WORD_OFFSET);
    },
    [Symbol.dispose]() {
      mapping.close();
      memory.close();
    },
  };
}

function server(
  feeds: FeedTable,
  limits: { maxConnections?: number; headerTimeoutMs?: number } = {},
  access?: AccessCheck,
  demand?: DemandCheck,
) {
  const logs: string[] = [];
  const media = serveMedia(
    {
      listen: { hostname: "127.0.0.1", port: 0 },
      maxConnections: limits.maxConnections ?? 10,
      headerTimeoutMs: limits.headerTimeoutMs ?? 5000,
      allowedHosts: ["media.example"],
    },
    feeds,
    {
      log: (level, message) => logs.push(`${level}: ${message}`),
      ...(access && { access }),
      ...(demand && { demand }),
    },
  );
  return Object.assign(media, { logs, [Symbol.asyncDispose]: () => media.shutdown() });
}

/** Sends `text` and reads the answer until the server closes or `bytes` came. */
async function exchange(media: MediaServer, text: string, bytes = Infinity): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: media.addr.port });
  try {
    await conn.write(new TextEncoder().encode(text));
    let received = "";
    const chunk = new Uint8Array(16 * 1024);
    while (received.length < bytes) {
      const n = await conn.read(chunk).catch(() => null);
      if (n === null) break;
      received += new TextDecoder("latin1").decode(chunk.subarray(0, n));
    }
    return received;
  } finally {
    conn.close();
  }
}

const get = (path: string, host = "127.0.0.1") => `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`;

Deno.test("serveMedia() streams a stream's MPEG-TS from its newest random-access point, and counts it", async () => {
  const feeds = new FeedTable();
  await using media = server(feeds);
  using publisher = await stream(feeds, "live/a");
  publisher.publish(3);
  const head =
    "HTTP/1.1 200 OK\r\ncontent-type: video/mp2t\r\ncache-control: no-cache, no-store\r\n" +
    "connection: close\r\n\r\n";
  const later = setTimeout(() => publisher.publish(2), 100);
  // The newest message at once, then the two written later.
  const answer = await exchange(media, get("/live/a.ts"), head.length + 3 * 7 * TS_PACKET_SIZE);
  clearTimeout(later);
  assert.equal(answer.slice(0, head.length), head);
  const body = answer.slice(head.length);
  assert.equal(body.length, 3 * 7 * TS_PACKET_SIZE);
  assert.equal(body.charCodeAt(0), 0x47);
  // Counted once each write is done, which may be just after the client read it.
  const feed = feeds.get("live/a")!;
  for (let tries = 0; feed.bytesSent < body.length && tries < 100; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.equal(feed.bytesSent, body.length);
  await feeds.endAll();
});

Deno.test("serveMedia() ends a stream's responses when the stream ends", async () => {
  const feeds = new FeedTable();
  await using media = server(feeds);
  using publisher = await stream(feeds, "live/a");
  publisher.publish(1);
  const ended = setTimeout(() => feeds.end("live/a"), 100);
  const answer = await exchange(media, get("/live/a.ts"));
  clearTimeout(ended);
  assert.ok(answer.startsWith("HTTP/1.1 200 OK"));
  assert.equal(feeds.get("live/a"), undefined);
});

Deno.test("serveMedia() answers what is not a stream's media with a status that says why", async () => {
  const feeds = new FeedTable();
  await using media = server(feeds);
  using _publisher = await stream(feeds, "live/a");
  const cases: [string, string, RegExp][] = [
    ["an unknown stream", get("/live/b.ts"), /^HTTP\/1.1 404 [^]*No stream \\"live\/b\\"/],
    ["not a media path", get("/"), /^HTTP\/1.1 404 [^]*ask for \/NAME.ts or \/NAME\/index.m3u8/],
    ["HLS of an unknown stream", get("/live/b/index.m3u8"), /^HTTP\/1.1 404 [^]*No stream/],
    ["a segment never made", get("/live/a/seg,3.ts"), /^HTTP\/1.1 404 [^]*No segment 3/],
    [
      "a POST",
      "POST /live/a.ts HTTP/1.1\r\nHost: localhost\r\n\r\n",
      /^HTTP\/1.1 405 [^]*allow: GET, HEAD/,
    ],
    [
      "a rebound Host",
      get("/live/a.ts", "evil.example"),
      /^HTTP\/1.1 421 [^]*--http-allowed-hosts/,
    ],
    ["no Host", "GET /live/a.ts HTTP/1.0\r\n\r\n", /^HTTP\/1.1 400 [^]*Missing Host/],
    ["a malformed request", "GET\r\n\r\n", /^HTTP\/1.1 400 [^]*Malformed request line/],
    [
      "HEAD",
      "HEAD /live/a.ts HTTP/1.1\r\nHost: media.example:8081\r\n\r\n",
      /^HTTP\/1.1 200 OK[^]*\r\n\r\n$/,
    ],
  ];
  for (const [name, request, expected] of cases) {
    assert.match(await exchange(media, request), expected, name);
  }
  await feeds.endAll();
});

Deno.test("serveMedia() lets a page from the same host read its HLS answers, not another site's", async () => {
  const feeds = new FeedTable();
  await using media = server(feeds);
  const from = (origin: string) =>
    `GET /live/b/index.m3u8 HTTP/1.1\r\nHost: media.example:8081\r\nOrigin: ${origin}\r\n\r\n`;
  const dashboard = await exchange(media, from("http://media.example:8080"));
  assert.match(dashboard, /^HTTP\/1.1 404 /);
  assert.match(dashboard, /\r\naccess-control-allow-origin: http:\/\/media\.example:8080\r\n/);
  assert.match(dashboard, /\r\nvary: origin\r\n/);
  const other = await exchange(media, from("http://evil.example"));
  assert.match(other, /^HTTP\/1.1 404 /);
  assert.doesNotMatch(other, /access-control/);
  assert.match(other, /\r\nvary: origin\r\n/);
});

Deno.test("serveMedia() answers 503 over its connection cap, and closes a request that never comes", async () => {
  const feeds = new FeedTable();
  await using media = server(feeds, { maxConnections: 1, headerTimeoutMs: 200 });
  const idle = await Deno.connect({ hostname: "127.0.0.1", port: media.addr.port });
  try {
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.match(await exchange(media, get("/live/a.ts")), /^HTTP\/1.1 503 [^]*at most 1 at once/);
    // The idle one is closed after the header timeout, without an answer.
    const started = performance.now();
    assert.equal(await idle.read(new Uint8Array(16)), null);
    assert.ok(performance.now() - started < 1000);
  } finally {
    idle.close();
  }
});

Deno.test("serveMedia() asks about each request, and answers the refusal or 503 when unanswered", async () => {
  const feeds = new FeedTable();
  const asked: MediaAccessRequest[] = [];
  await using media = server(feeds, {}, (request) => {
    asked.push(request);
    if (request.query === "late") return Promise.resolve("unanswered");
    if (request.bearer === "op") return Promise.resolve({ allowed: true, ttlMs: 1 });
    return Promise.resolve(
      request.query === ""
        ? { allowed: false, status: 401, message: "Sign it", ttlMs: 1 }
        : { allowed: false, status: 403, message: "Wrong signature", ttlMs: 1 },
    );
  });
  using _publisher = await stream(feeds, "live/a");
  assert.match(
    await exchange(media, get("/live/a.ts")),
    /^HTTP\/1.1 401 [^]*www-authenticate: Bearer realm="atoll"[^]*Sign it/,
  );
  assert.match(
    await exchange(media, get("/live/a/index.m3u8?expires=1&sig=2")),
    /^HTTP\/1.1 403 [^]*Wrong signature/,
  );
  assert.match(
    await exchange(media, get("/live/a/seg,1.ts?late")),
    /^HTTP\/1.1 503 [^]*retry-after: 2[^]*did not say in time/,
  );
  assert.match(
    await exchange(
      media,
      `HEAD /live/a.ts HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer op\r\n\r\n`,
    ),
    /^HTTP\/1.1 200 OK/,
  );
  assert.deepEqual(
    asked.map(({ stream, protocol, query, bearer }) => [stream, protocol, query, bearer]),
    [
      ["live/a", "http-ts", "", null],
      ["live/a", "hls", "expires=1&sig=2", null],
      ["live/a", "hls", "late", null],
      ["live/a", "http-ts", "", "op"],
    ],
  );
  assert.match(asked[0]!.peer, /^127\.0\.0\.1:[0-9]+$/);
  await feeds.endAll();
});

Deno.test("serveMedia() has a stream it lacks pulled, once allowed, and waits as long as told", async () => {
  const feeds = new FeedTable();
  const demanded: string[] = [];
  const waits: Record<string, number | "unanswered"> = {
    "edge/a": 5000,
    "edge/slow": 50,
    "edge/late": "unanswered",
  };
  await using media = server(
    feeds,
    {},
    (request) =>
      Promise.resolve(
        request.stream.startsWith("closed/")
          ? { allowed: false, status: 403, message: "Not you", ttlMs: 1 }
          : { allowed: true, ttlMs: 1 },
      ),
    (name) => {
      demanded.push(name);
      return Promise.resolve(waits[name] ?? 0);
    },
  );
  const started = performance.now();
  assert.match(await exchange(media, get("/studio/b.ts")), /^HTTP\/1.1 404 [^]*No stream/);
  assert.match(await exchange(media, get("/studio/b/index.m3u8")), /^HTTP\/1.1 404 /);
  assert.ok(performance.now() - started < 1000, "nothing pulls it: not held");
  assert.match(await exchange(media, get("/closed/x.ts")), /^HTTP\/1.1 403 [^]*Not you/);
  assert.match(
    await exchange(media, get("/edge/slow.ts")),
    /^HTTP\/1.1 503 [^]*retry-after: 2[^]*being pulled, and did not begin within 50 ms/,
  );
  assert.match(
    await exchange(media, get("/edge/late/index.m3u8")),
    /^HTTP\/1.1 503 [^]*vary: origin[^]*retry-after: 2[^]*did not say in time/,
  );
  // The stream begins while the request waits: it is served as usual.
  const answer = exchange(media, `HEAD /edge/a.ts HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
  await new Promise((resolve) => setTimeout(resolve, 100));
  using _publisher = await stream(feeds, "edge/a");
  assert.match(await answer, /^HTTP\/1.1 200 OK[^]*video\/mp2t/);
  // A stream it has, and a segment, ask nothing.
  assert.match(await exchange(media, get("/edge/a/seg,1.ts")), /^HTTP\/1.1 404 /);
  await exchange(media, `HEAD /edge/a.ts HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
  assert.deepEqual(demanded, ["studio/b", "studio/b", "edge/slow", "edge/late", "edge/a"]);
  await feeds.endAll();
});

Deno.test("FeedTable counts requests as HLS clients, never a packager running by itself, so no packager holds a pull", async () => {
  let now = 0;
  const feeds = new FeedTable({ now: () => now });
  using publisher = await stream(feeds, "edge/a", { ...DEFAULT_HLS_RULES, mode: "always" });
  publisher.publish(4);
  assert.equal(feeds.hls.packaging("edge/a"), true);
  const clients = () => feeds.stats().find(({ name }) => name === "edge/a")?.hlsClients;
  assert.equal(clients(), 0);
  feeds.hls.segment("edge/a", 1, "192.0.2.1");
  assert.equal(clients(), 1);
  now += CLIENT_WINDOW_MS + 1;
  assert.equal(clients(), 0, "the client window lapsed");
  assert.equal(feeds.hls.packaging("edge/a"), true, "while the packager goes on");
  await feeds.endAll();
});
