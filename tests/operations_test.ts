/**
 * Operating a running Atoll over HTTP and signals: closing a connection or
 * a stream, reloading the config, and the API token, against real peers.
 */

import assert from "node:assert/strict";
import {
  Atoll,
  ffmpegPublisher,
  publisherOf,
  srtLiveTransmitViewer,
  tryConnect,
  waitFor,
} from "./support/mod.ts";
import type { ConnectionInfo } from "../src/server/api_types.ts";

const TOKEN = "operator-token-0123456789";

async function send(
  atoll: Atoll,
  method: string,
  path: string,
  /** null: no Authorization header. */
  token: string | null = TOKEN,
): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${atoll.httpPort}${path}`, {
    method,
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
  });
  return { status: response.status, body: await response.text() };
}

Deno.test("DELETE /api/connections/:id closes that connection at once; the peer sees a shutdown", async () => {
  await using atoll = await Atoll.start(["--api-token", TOKEN]);
  const publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${atoll.srtPort}?streamid=publish:live/kick`,
  );
  try {
    const connection = await publisherOf(atoll, "live/kick");
    // Another connection, to see it is left alone.
    const viewer = srtLiveTransmitViewer(atoll.srtPort, "play:live/kick", "/dev/null");
    const [bystander] = await waitFor("the viewer", async () => {
      const found = (await atoll.connections()).filter((c) => c.mode === "play");
      return found.length === 1 && found;
    });
    assert.equal(
      (await send(atoll, "DELETE", `/api/connections/${connection.id}`, null)).status,
      401,
    );
    const one = await send(atoll, "GET", `/api/connections/${connection.id}`, null);
    assert.equal(one.status, 200);
    const item = JSON.parse(one.body) as ConnectionInfo;
    assert.deepEqual([item.id, item.stream, item.mode], [connection.id, "live/kick", "publish"]);
    const started = performance.now();
    const response = await send(atoll, "DELETE", `/api/connections/${connection.id}`);
    assert.equal(response.status, 202, response.body);
    // ffmpeg ends when its connection closes; a timeout would take the 5 s idle timeout.
    await publisher.exit(10_000);
    assert.ok(performance.now() - started < 3000, "the peer saw a shutdown, not a timeout");
    const closed = await waitFor(
      "the closing log line",
      () => atoll.findLog((l) => l.properties.id === connection.id && "reason" in l.properties),
    );
    assert.equal(closed.properties.reason, "shutdown");
    assert.equal(closed.properties.detail, "closed through the API");
    assert.ok((await atoll.connections()).some((c) => c.id === bystander!.id), "the viewer stays");
    assert.equal((await send(atoll, "DELETE", `/api/connections/${connection.id}`)).status, 404);
    viewer.kill();
    await viewer.exit();
  } finally {
    publisher.kill();
    await publisher.exit();
  }
});

Deno.test("DELETE /api/streams/:name ends the stream, its publisher and its viewers", async () => {
  await using atoll = await Atoll.start(["--api-token", TOKEN]);
  await using _publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${atoll.srtPort}?streamid=publish:live/end/me`,
  );
  await publisherOf(atoll, "live/end/me");
  const viewer = srtLiveTransmitViewer(atoll.srtPort, "play:live/end/me", "/dev/null");
  try {
    await waitFor(
      "the viewer",
      async () => (await atoll.connections()).some((c) => c.mode === "play" && c.bytesSent > 0),
    );
    const ids = (await atoll.connections()).map((c) => c.id);
    const response = await send(atoll, "DELETE", "/api/streams/live/end/me");
    assert.equal(response.status, 202, response.body);
    await waitFor("every connection gone", async () => (await atoll.connections()).length === 0);
    assert.deepEqual(await atoll.api("/api/streams"), []);
    assert.equal((await send(atoll, "DELETE", "/api/streams/live/end/me")).status, 404);
    // The stream ended first, yet each closing line names it, as the API did.
    for (const id of ids) {
      const closed = await waitFor(
        `the closing line of ${id}`,
        () => atoll.findLog((l) => l.properties.id === id && "reason" in l.properties),
      );
      assert.equal(closed.properties.stream, "live/end/me");
    }
  } finally {
    viewer.kill();
    await viewer.exit();
  }
});

Deno.test("SIGHUP and POST /api/reload apply a new config without dropping anyone; a bad one changes nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "atoll_reload_" });
  const path = `${dir}/atoll.yaml`;
  await Deno.writeTextFile(path, `apiToken: ${TOKEN}\nstreams:\n  - prefix: live\n`);
  try {
    await using atoll = await Atoll.start(["--config", path]);
    await using _publisher = await ffmpegPublisher(
      `srt://127.0.0.1:${atoll.srtPort}?streamid=publish:live/one`,
    );
    const first = await publisherOf(atoll, "live/one");

    // Publishing under live/ is now forbidden, and the token comes from the file too.
    await Deno.writeTextFile(
      path,
      `apiToken: ${TOKEN}\nstreams:\n  - prefix: live\n    modes: [play]\n`,
    );
    atoll.signal("SIGHUP");
    await waitFor("the reload", () => atoll.findLog((l) => /Config reloaded/.test(l.message)));
    const refused = await tryConnect(atoll.srtPort, "publish:live/two");
    assert.equal(refused.rejectReason, 1403, refused.rejectText);
    assert.ok((await atoll.connections()).some((c) => c.id === first.id), "the publisher stays");

    // A broken file is refused with its reason; the last good config stays.
    await Deno.writeTextFile(
      path,
      `apiToken: ${TOKEN}\nstreams:\n  - prefix: live\n    maxViewer: 3\n`,
    );
    const bad = await send(atoll, "POST", "/api/reload");
    assert.equal(bad.status, 400);
    assert.match(bad.body, /the old one stays: .*streams\[0\]\.maxViewer: unknown key/);
    assert.equal((await tryConnect(atoll.srtPort, "publish:live/three")).rejectReason, 1403);

    // A good file again: accepted. It keeps live/'s play-only rule, which the live publisher's
    // stream had: a file that dropped it would be refused (tests/config_safety_test.ts).
    await Deno.writeTextFile(
      path,
      `apiToken: ${TOKEN}\nstreams:\n  - prefix: live\n    modes: [play]\n    maxViewers: 9\n`,
    );
    const good = await send(atoll, "POST", "/api/reload");
    assert.equal(good.status, 200, good.body);
    assert.ok((await atoll.connections()).some((c) => c.id === first.id), "the publisher stays");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("without an API token every change is refused, reads still work", async () => {
  await using atoll = await Atoll.start();
  const response = await send(atoll, "POST", "/api/reload", "some-token-0123456789");
  assert.equal(response.status, 403);
  assert.match(response.body, /--api-token/);
  assert.equal((await send(atoll, "GET", "/api/streams", null)).status, 200);
});

Deno.test("GET /metrics is valid Prometheus text with per-connection and per-stream series", async () => {
  await using atoll = await Atoll.start();
  await using _publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${atoll.srtPort}?streamid=publish:live/metrics`,
  );
  const publisher = await publisherOf(atoll, "live/metrics");
  const viewer = srtLiveTransmitViewer(atoll.srtPort, "play:live/metrics", "/dev/null");
  try {
    await waitFor(
      "the viewer's first report",
      async () => (await atoll.connections()).some((c) => c.mode === "play" && c.viewer !== null),
    );
    assert.equal((await tryConnect(atoll.srtPort, "bad:id")).rejectReason, 1400);
    const response = await fetch(`http://127.0.0.1:${atoll.httpPort}/metrics`);
    assert.equal(response.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    const text = await response.text();

    const check = new Deno.Command("promtool", {
      args: ["check", "metrics"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = check.stdin.getWriter();
    await writer.write(new TextEncoder().encode(text));
    await writer.close();
    const result = await check.output();
    const said = new TextDecoder().decode(result.stdout) + new TextDecoder().decode(result.stderr);
    assert.equal(result.code, 0, said);
    assert.equal(said.trim(), "", "promtool has no complaints");

    const labels =
      `id="${publisher.id}",stream="live/metrics",mode="publish",peer="${publisher.peer}"`;
    assert.match(
      text,
      new RegExp(`^atoll_connection_received_bytes_total\\{${labels}\\} [1-9]\\d*$`, "m"),
    );
    assert.match(text, /^atoll_stream_viewers\{stream="live\/metrics"\} 1$/m);
    assert.match(text, /^atoll_connections_rejected_total\{code="1400"\} 1$/m);
    assert.match(text, /^atoll_connections_rejected_total\{code="1409"\} 0$/m);
    assert.match(text, /^atoll_handshake_seconds_count [1-9]\d*$/m);
    assert.match(text, /^atoll_child_start_seconds_count [1-9]\d*$/m);
    assert.match(text, /^atoll_datagrams_total\{kind="induction"\} [1-9]\d*$/m);
  } finally {
    viewer.kill();
    await viewer.exit();
  }
});

Deno.test("every log line about a connection carries its id, peer and stream", async () => {
  await using atoll = await Atoll.start();
  const publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${atoll.srtPort}?streamid=publish:live/logged`,
  );
  let connection: ConnectionInfo;
  try {
    connection = await publisherOf(atoll, "live/logged");
    assert.equal((await tryConnect(atoll.srtPort, "bad:id")).rejectReason, 1400);
    publisher.signal("SIGINT");
    await publisher.exit();
    await waitFor(
      "both closing lines",
      () =>
        atoll.logs.filter((l) => "reason" in l.properties && /^Connection /.test(l.message))
          .length ===
          2,
    );
  } finally {
    publisher.kill();
    await publisher.exit();
  }
  const about = atoll.logs.filter((l) => /^Connection /.test(l.message));
  // Up, closed, and for the refused caller: rejected, closed.
  assert.ok(
    about.length >= 4,
    `only ${about.length} lines: ${JSON.stringify(atoll.logs.map((l) => l.message))}`,
  );
  for (const line of about) {
    for (const key of ["id", "peer", "stream"]) {
      assert.ok(key in line.properties, `"${line.message}" lacks ${key}`);
    }
  }
  const published = about.filter((l) => l.properties.id === connection.id);
  assert.ok(published.length >= 2, "its up and closed lines");
  assert.ok(published.every((l) => l.properties.stream === "live/logged"));
  const rejected = about.find((l) => /rejected \(1400/.test(l.message));
  assert.ok(rejected !== undefined && rejected.properties.stream === null);
});

Deno.test("children do not get the API token or the passphrase from the environment", async () => {
  const passphrase = "correct-horse-battery";
  await using atoll = await Atoll.start([], {
    env: { ATOLL_API_TOKEN: TOKEN, ATOLL_PASSPHRASE: passphrase },
  });
  await using _publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${atoll.srtPort}?streamid=publish:live/env&passphrase=${
      encodeURIComponent(passphrase)
    }`,
  );
  const connection = await publisherOf(atoll, "live/env");
  // Both worked: the token for the API, the passphrase for the connection.
  assert.equal(connection.encrypted, true);
  assert.equal((await send(atoll, "POST", "/api/reload")).status, 400, "authorized, no file");
  const environ = await Deno.readTextFile(`/proc/${connection.pid}/environ`);
  const names = environ.split("\0").map((entry) => entry.split("=")[0]);
  assert.ok(!names.includes("ATOLL_API_TOKEN"), "no API token in a child");
  assert.ok(!names.includes("ATOLL_PASSPHRASE"), "no passphrase variable in a child");
  assert.ok(!environ.includes(TOKEN));
  assert.ok(names.includes("DENO_V8_FLAGS"));
});

Deno.test("credentials in a stream id never reach the API, the metrics or the log", async () => {
  await using atoll = await Atoll.start();
  const streamId = encodeURIComponent("#!::r=live/private,m=publish,u=alice,s=SESSIONSECRET");
  const publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${atoll.srtPort}?streamid=${streamId}`,
  );
  try {
    const connection = await publisherOf(atoll, "live/private");
    assert.equal(connection.streamId, "#!::r=live/private,m=publish,u=alice,s=***");
    const refused = await tryConnect(atoll.srtPort, "#!::r=live/private,m=bogus,s=OTHERSECRET");
    assert.equal(refused.rejectReason, 1400);
    const metrics = await (await fetch(`http://127.0.0.1:${atoll.httpPort}/metrics`)).text();
    publisher.signal("SIGINT");
    await publisher.exit();
    await waitFor(
      "the closing lines",
      () => atoll.logs.filter((l) => "reason" in l.properties).length === 2,
    );
    const everything = JSON.stringify(await atoll.connections()) + metrics +
      atoll.output.join("\n");
    assert.ok(!everything.includes("SESSIONSECRET"), "the session stays secret");
    assert.ok(!everything.includes("OTHERSECRET"), "a refused caller's session too");
  } finally {
    publisher.kill();
    await publisher.exit();
  }
});
