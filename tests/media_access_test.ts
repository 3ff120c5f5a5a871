/**
 * End to end: who may watch over HTTP. A stream with a `readPassphrase`
 * answers 401 without a signed URL and 403 with a wrong or expired one; a
 * URL minted by `POST /api/streams/NAME/media-url` plays over HLS (its
 * segments fetched with the signature) and HTTP-TS, and so does the API
 * token. The authorization hook is asked with `action: "read"` and decides;
 * an open stream still plays with nothing, and a reload applies at once. A
 * client that varies its query is answered 429 past its burst of access
 * checks, and no other client notices.
 */

import assert from "node:assert/strict";
import net from "node:net";
import { ASK_BURST, ASK_RATE_PER_SECOND } from "../src/output/access.ts";
import {
  Atoll,
  ffmpegPublisher,
  type ManagedProcess,
  ManagedProcess as Process,
  publisherOf,
  startWithConfig,
  waitFor,
} from "./support/mod.ts";

const TOKEN = "media-access-test-token";
const READ_SECRET = "read-secret-0123";

function publisher(atoll: Atoll, name: string): Promise<ManagedProcess> {
  return ffmpegPublisher(`srt://127.0.0.1:${atoll.srtPort}?streamid=publish:${name}`);
}

/** Runs ffmpeg or ffprobe to its end, within `timeoutMs`. */
async function run(command: string, args: string[], timeoutMs = 20_000): Promise<string> {
  const process = Process.start(command, command, args);
  const status = await process.exit(timeoutMs);
  assert.equal(status.code, 0, process.text);
  return process.text;
}

/** A response's status and `error`, its body read. */
async function refusal(response: Response): Promise<{ status: number; error: string }> {
  const body = await response.json();
  return { status: response.status, error: String(body.error) };
}

/** `HEAD path` on the media port from `localAddress` (fetch cannot choose it): the status. */
async function headFrom(atoll: Atoll, localAddress: string, path: string): Promise<number> {
  const socket = net.connect({ host: "127.0.0.1", port: atoll.mediaPort, localAddress });
  const chunks: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise<void>((resolve, reject) => {
    socket.on("close", () => resolve());
    socket.on("error", reject);
  });
  socket.write(`HEAD ${path} HTTP/1.1\r\nHost: 127.0.0.1:${atoll.mediaPort}\r\n\r\n`);
  await ended; // the server closes after every answer
  const status = /^HTTP\/1\.1 ([0-9]{3}) /.exec(Buffer.concat(chunks).toString("latin1"));
  assert.ok(status !== null, "an HTTP answer");
  return Number(status[1]);
}

async function mint(atoll: Atoll, name: string, token = TOKEN): Promise<Response> {
  return await fetch(`http://127.0.0.1:${atoll.httpPort}/api/streams/${name}/media-url`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}` },
  });
}

Deno.test("a stream with a readPassphrase plays over HTTP only with a signed URL or the API token", async () => {
  await using atoll = await startWithConfig(
    `streams: [{ prefix: secret, readPassphrase: "${READ_SECRET}" }]\n`,
    ["--api-token", TOKEN],
  );
  await using _publisher = await publisher(atoll, "secret/cam");
  await publisherOf(atoll, "secret/cam");

  for (const path of ["/secret/cam.ts", "/secret/cam/index.m3u8", "/secret/cam/seg,0.ts"]) {
    const response = await atoll.media(path);
    assert.equal(response.headers.get("www-authenticate"), 'Bearer realm="atoll"', path);
    const { status, error } = await refusal(response);
    assert.equal(status, 401, path);
    assert.match(error, /needs a signed URL .*POST \/api\/streams\/secret\/cam\/media-url/);
  }
  const wrong = await refusal(
    await atoll.media(`/secret/cam.ts?expires=4102444800&sig=${"0".repeat(64)}`),
  );
  assert.deepEqual(wrong, { status: 403, error: 'Wrong signature for stream "secret/cam"' });

  // Signed for the past, by the scheme the README gives.
  const key = await crypto.subtle.importKey(
    "raw",
    await crypto.subtle.digest(
      "SHA-256",
      new TextEncoder().encode(`atoll-media-url\n${READ_SECRET}`),
    ),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const past = Math.floor(Date.now() / 1000) - 10;
  const mac = await crypto.subtle.sign(
    "HMAC",
    key,
    new TextEncoder().encode(`secret/cam\n${past}`),
  );
  const pastSig = [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("");
  const expired = await refusal(
    await atoll.media(`/secret/cam/index.m3u8?expires=${past}&sig=${pastSig}`),
  );
  assert.equal(expired.status, 403);
  assert.match(expired.error, /expired/);

  const refusedMint = await mint(atoll, "secret/cam", "not-the-token");
  assert.equal(refusedMint.status, 403);
  await refusedMint.body?.cancel();
  const minted = await (await mint(atoll, "secret/cam")).json();
  assert.match(minted.hls, /\/secret\/cam\/index\.m3u8\?expires=[0-9]+&sig=[0-9a-f]{64}$/);
  assert.ok(minted.expires > Date.now() / 1000 + 3000);
  // The stream list's URLs stay unsigned.
  const listed = (await atoll.streams()).find((stream) => stream.name === "secret/cam");
  assert.equal(listed?.urls?.hls, `http://127.0.0.1:${atoll.mediaPort}/secret/cam/index.m3u8`);

  const playlist = await waitFor("a playlist with two segments", async () => {
    const response = await fetch(minted.hls);
    const text = await response.text();
    return response.status === 200 && text.split("\n").filter((l) =>
          l.startsWith("seg,")
        ).length >= 2 &&
      text;
  }, { timeoutMs: 15_000, intervalMs: 300 });
  const query = new URL(minted.hls).search;
  for (const line of playlist.split("\n").filter((l) => l.startsWith("seg,"))) {
    assert.ok(line.endsWith(query), `${line} carries the signature`);
  }

  const probed = await run("ffprobe", [
    ...["-v", "error", "-read_intervals", "%+2", "-select_streams", "v:0"],
    ...["-show_entries", "frame=key_frame", "-of", "csv=p=0", minted.hls],
  ]);
  assert.ok(probed.split("\n").filter((line) => /^[01]/.test(line)).length >= 25, probed);

  // ffmpeg reads HTTP-TS for 2 s of video, decoding every frame.
  const decoded = await run("ffmpeg", [
    ...["-hide_banner", "-nostats", "-loglevel", "error", "-i", minted.ts],
    ...["-map", "0:v:0", "-t", "2", "-f", "framemd5", "-"],
  ]);
  assert.ok(decoded.split("\n").filter((line) => /^0,/.test(line)).length >= 25, decoded);

  // The operator's API token opens it too (the dashboard's preview).
  const withToken = await atoll.media("/secret/cam/index.m3u8", {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  assert.equal(withToken.status, 200);
  await withToken.body?.cancel();
  const wrongToken = await refusal(
    await atoll.media("/secret/cam.ts", { headers: { authorization: "Bearer nope" } }),
  );
  assert.deepEqual(wrongToken, { status: 403, error: "Wrong API token" });

  // An open stream plays with nothing; the refusals were logged once per reason.
  await using _open = await publisher(atoll, "live/open");
  await publisherOf(atoll, "live/open");
  await waitFor("the open stream's playlist", async () => {
    const response = await atoll.media("/live/open/index.m3u8");
    await response.body?.cancel();
    return response.status === 200;
  }, { timeoutMs: 15_000, intervalMs: 300 });
  const refusals = atoll.logs.filter((line) =>
    line.properties.stream === "secret/cam" && line.properties.status !== undefined
  );
  // Unsigned (three requests), wrong signature, expired, wrong token.
  assert.equal(refusals.length, 4, JSON.stringify(refusals));
});

Deno.test("the authorization hook decides HTTP viewers with action read and its protocol", async () => {
  const asked: { action: string; protocol: string; stream: string; signed: boolean }[] = [];
  const hook = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const body = await request.json();
      asked.push({
        action: body.action,
        protocol: body.protocol,
        stream: body.stream,
        signed: body.signed,
      });
      return new Response(null, { status: body.protocol === "hls" ? 403 : 200 });
    },
  );
  try {
    await using atoll = await startWithConfig(
      `authHook: { url: "http://127.0.0.1:${hook.addr.port}/read", timeoutMs: 2000 }\n`,
    );
    await using _publisher = await publisher(atoll, "live/hooked");
    await publisherOf(atoll, "live/hooked");
    const asked0 = asked.length; // the publisher's own ask
    const refused = await refusal(await atoll.media("/live/hooked/index.m3u8"));
    assert.equal(refused.status, 403);
    assert.match(refused.error, /^Refused by the authorization hook: .*HTTP 403/);
    // Kept: the segment request asks no more.
    const again = await atoll.media("/live/hooked/seg,0.ts");
    assert.equal(again.status, 403);
    await again.body?.cancel();
    assert.deepEqual(asked.slice(asked0), [
      { action: "read", protocol: "hls", stream: "live/hooked", signed: false },
    ]);
    // One decision refused, counted once: the segment request was answered from it.
    const metrics = await (await fetch(`http://127.0.0.1:${atoll.httpPort}/metrics`)).text();
    assert.match(metrics, /^atoll_http_media_refusals_total\{protocol="hls",reason="hook"\} 1$/m);
    await run("ffmpeg", [
      ...["-hide_banner", "-loglevel", "error", "-y"],
      ...["-i", `http://127.0.0.1:${atoll.mediaPort}/live/hooked.ts`],
      ...["-c", "copy", "-t", "1", "-f", "null", "-"],
    ]);
    assert.deepEqual(asked.at(-1), {
      action: "read",
      protocol: "http-ts",
      stream: "live/hooked",
      signed: false,
    });
  } finally {
    await hook.shutdown();
  }
});

Deno.test("a config reload drops the kept answers at once", async () => {
  const path = await Deno.makeTempFile({ prefix: "atoll_config_", suffix: ".yaml" });
  try {
    await Deno.writeTextFile(path, "streams: [{ prefix: live }]\n");
    await using atoll = await Atoll.start(["--config", path, "--api-token", TOKEN]);
    // Allowed (and kept for 15 s); there is no such stream yet.
    const before = await atoll.media("/live/later.ts", { method: "HEAD" });
    assert.equal(before.status, 404);
    await Deno.writeTextFile(
      path,
      `streams: [{ prefix: live, readPassphrase: "${READ_SECRET}" }]\n`,
    );
    const reloaded = await fetch(`http://127.0.0.1:${atoll.httpPort}/api/reload`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(reloaded.status, 200);
    await reloaded.body?.cancel();
    const after = await waitFor("the new rule applied", async () => {
      const response = await atoll.media("/live/later.ts", { method: "HEAD" });
      return response.status !== 404 && response.status;
    }, { timeoutMs: 2000, intervalMs: 50 });
    assert.equal(after, 401);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("a client that varies its query is answered 429 past its burst, and another client is still answered", async () => {
  let asks = 0;
  const hook = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      if ((await request.json()).action === "read") asks++;
      return new Response(null, { status: 200 });
    },
  );
  try {
    await using atoll = await startWithConfig(
      `authHook: { url: "http://127.0.0.1:${hook.addr.port}/read", timeoutMs: 2000 }\n`,
    );
    await using _publisher = await publisher(atoll, "live/busy");
    await publisherOf(atoll, "live/busy");
    const started = performance.now();
    const statuses: number[] = [];
    for (let n = 0; n < ASK_BURST + 5; n++) {
      const response = await atoll.media(`/live/busy.ts?n=${n}`, { method: "HEAD" });
      statuses.push(response.status);
      await response.body?.cancel();
    }
    const seconds = (performance.now() - started) / 1000;
    const allowed = statuses.filter((status) => status === 200).length;
    assert.deepEqual(statuses.slice(0, ASK_BURST), Array(ASK_BURST).fill(200), "the burst");
    assert.ok(statuses.slice(ASK_BURST).every((status) => status === 200 || status === 429));
    assert.ok(statuses.includes(429), "then 429");
    // Only the asks that got a token reached the main process (and the hook).
    assert.equal(asks, allowed);
    assert.ok(asks <= ASK_BURST + Math.floor(seconds * ASK_RATE_PER_SECOND), `${asks} asks`);

    // Limited: answered at once, with when to try again, readable by the dashboard's page.
    const limited = await atoll.media("/live/busy/index.m3u8?n=hls", {
      headers: { origin: "http://127.0.0.1:8080" },
    });
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get("retry-after")) >= 1);
    assert.equal(limited.headers.get("access-control-allow-origin"), "http://127.0.0.1:8080");
    assert.match(
      (await limited.json()).error,
      new RegExp(`^Too many access checks from this address: at most ${ASK_BURST} `),
    );
    // A kept answer costs no token: the first URL still plays.
    const kept = await atoll.media("/live/busy.ts?n=0", { method: "HEAD" });
    assert.equal(kept.status, 200);
    await kept.body?.cancel();

    // Another address is another client.
    const before = asks;
    assert.equal(await headFrom(atoll, "127.0.0.2", "/live/busy.ts?n=other"), 200);
    assert.equal(asks, before + 1);

    const httpTs = statuses.length - allowed;
    await waitFor("the rate-limited refusals in /metrics", async () => {
      const metrics = await (await fetch(`http://127.0.0.1:${atoll.httpPort}/metrics`)).text();
      return metrics.includes(
        `atoll_http_media_refusals_total{protocol="http-ts",reason="rate-limited"} ${httpTs}\n`,
      ) &&
        metrics.includes(
          'atoll_http_media_refusals_total{protocol="hls",reason="rate-limited"} 1\n',
        );
    }, { timeoutMs: 6000, intervalMs: 200 });
  } finally {
    await hook.shutdown();
  }
});
