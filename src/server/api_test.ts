import assert from "node:assert/strict";
import {
  type ApiAccess,
  type ApiServer,
  handleRequest,
  hostRefusal,
  type ReloadResult,
} from "./api.ts";
import { HLS_JS_PATH } from "./dashboard.ts";

const TOKEN = "0123456789abcdef-token";

/** An ApiServer that records what it was asked to do. */
function fakeServer(
  access: ApiAccess,
  reloadResult: ReloadResult = { ok: true, source: "a.yaml" },
) {
  const calls: string[] = [];
  const server: ApiServer = {
    healthy: true,
    access,
    connections: () => [{ id: "c1" }],
    connection: (id) => id === "c1" ? { id: "c1" } : undefined,
    streams: () => [{ name: "live/x" }],
    stats: () => ({ connections: 1 }),
    recordings: () => Promise.resolve({ downloads: true, files: [] }),
    mediaOrigin: (host) => `http://${host ?? "127.0.0.1"}:8081`,
    metrics: () =>
      "# HELP atoll_children_idle Idle children.\n# TYPE atoll_children_idle gauge\natoll_children_idle 2\n",
    closeConnection: (id) => {
      calls.push(`close ${id}`);
      return id === "c1";
    },
    endStream: (name) => {
      calls.push(`end ${name}`);
      return name === "live/x";
    },
    reload: () => {
      calls.push("reload");
      return Promise.resolve(reloadResult);
    },
    relays: () => [{ id: "pull:live/x@0" }],
    addRelay: (body) => {
      calls.push(`add ${JSON.stringify(body)}`);
      return (body as { stream?: unknown }).stream === "live/x"
        ? { ok: true, relay: { id: "pull:live/x@1" } }
        : { ok: false, error: "no such stream" };
    },
    removeRelay: (id) => {
      calls.push(`remove ${id}`);
      return id === "pull:live/x@0";
    },
    mediaUrl: (name, seconds) => {
      calls.push(`mint ${name} ${seconds}`);
      return Promise.resolve({ ts: `/${name}.ts?sig`, hls: `/${name}/index.m3u8?sig`, expires: 1 });
    },
  };
  return { server, calls };
}

function request(method: string, path: string, token?: string): Request {
  const headers: Record<string, string> = token === undefined
    ? {}
    : { authorization: `Bearer ${token}` };
  return new Request(`http://127.0.0.1${path}`, { method, headers });
}

async function call(server: ApiServer, method: string, path: string, token?: string) {
  const response = await handleRequest(server, request(method, path, token));
  const text = await response.text();
  return { status: response.status, text, headers: response.headers };
}

Deno.test("handleRequest() serves reads without a token unless reads are protected", async () => {
  const { server } = fakeServer({ token: TOKEN, protectReads: false });
  for (const path of ["/healthz", "/api/connections", "/api/connections/c1", "/api/streams"]) {
    assert.equal((await call(server, "GET", path)).status, 200, path);
  }
  assert.equal((await call(server, "GET", "/api/stats")).text, '{\n  "connections": 1\n}\n');
  assert.equal((await call(server, "GET", "/api/connections/nope")).status, 404);
  assert.equal((await call(server, "HEAD", "/api/streams")).status, 200);
  const metrics = await call(server, "GET", "/metrics");
  assert.equal(metrics.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  assert.match(metrics.text, /^atoll_children_idle 2$/m);
});

Deno.test("handleRequest() asks for the token on reads when configured, never on /healthz", async () => {
  const { server } = fakeServer({ token: TOKEN, protectReads: true });
  assert.equal((await call(server, "GET", "/healthz")).status, 200);
  const page = await call(server, "GET", "/");
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
  assert.equal((await call(server, "GET", "/api/streams")).status, 401);
  assert.equal((await call(server, "GET", "/api/streams", "wrong-token-0000000")).status, 403);
  assert.equal((await call(server, "GET", "/api/streams", TOKEN)).status, 200);
});

Deno.test("handleRequest() serves the page under a policy naming the media port, and hls.js without a token", async () => {
  const { server } = fakeServer({ token: TOKEN, protectReads: true });
  const page = await handleRequest(
    server,
    new Request("http://atoll.example/", { headers: { host: "atoll.example:8080" } }),
  );
  await page.body?.cancel();
  assert.match(
    page.headers.get("content-security-policy") ?? "",
    /connect-src 'self' http:\/\/atoll\.example:8081;/,
  );
  const script = await call(server, "GET", HLS_JS_PATH);
  assert.equal(script.status, 200);
  assert.match(script.headers.get("content-type") ?? "", /^text\/javascript/);
});

Deno.test("handleRequest() refuses changes: 401 without a token, 403 with a wrong one", async (t) => {
  const { server, calls } = fakeServer({ token: TOKEN, protectReads: false });
  const cases = [
    { name: "no Authorization header", headers: {}, status: 401 },
    { name: "a Basic header", headers: { authorization: "Basic dXNlcjpwYXNz" }, status: 401 },
    { name: "Bearer without a token", headers: { authorization: "Bearer " }, status: 401 },
    { name: "a wrong token", headers: { authorization: "Bearer wrong-token-000000" }, status: 403 },
    {
      name: "the token with a suffix",
      headers: { authorization: `Bearer ${TOKEN}x` },
      status: 403,
    },
    { name: "the right token", headers: { authorization: `Bearer ${TOKEN}` }, status: 202 },
    {
      name: "the right token, lower-case scheme",
      headers: { authorization: `bearer ${TOKEN}` },
      status: 202,
    },
  ];
  for (const { name, headers, status } of cases) {
    await t.step(name, async () => {
      const response = await handleRequest(
        server,
        new Request("http://127.0.0.1/api/connections/c1", { method: "DELETE", headers }),
      );
      await response.body?.cancel();
      assert.equal(response.status, status);
      if (status === 401) {
        assert.equal(response.headers.get("www-authenticate"), 'Bearer realm="atoll"');
      }
    });
  }
  assert.deepEqual(calls, ["close c1", "close c1"], "only the authorized calls reached the server");
});

Deno.test("handleRequest() refuses every change when no token is configured", async () => {
  const { server, calls } = fakeServer({ token: undefined, protectReads: false });
  const response = await call(server, "DELETE", "/api/connections/c1", "anything-at-all-000");
  assert.equal(response.status, 403);
  assert.match(response.text, /--api-token/);
  assert.equal((await call(server, "POST", "/api/reload")).status, 403);
  assert.deepEqual(calls, []);
});

Deno.test("handleRequest() closes connections and ends streams by name, slashes and encoding included", async () => {
  const { server, calls } = fakeServer({ token: TOKEN, protectReads: false });
  assert.equal((await call(server, "DELETE", "/api/connections/c1", TOKEN)).status, 202);
  assert.equal((await call(server, "DELETE", "/api/connections/c2", TOKEN)).status, 404);
  assert.equal((await call(server, "DELETE", "/api/streams/live/x", TOKEN)).status, 202);
  assert.equal((await call(server, "DELETE", "/api/streams/live%2Fx", TOKEN)).status, 202);
  assert.equal((await call(server, "DELETE", "/api/streams/live/y", TOKEN)).status, 404);
  assert.deepEqual(calls, ["close c1", "close c2", "end live/x", "end live/x", "end live/y"]);
});

Deno.test("handleRequest() reloads the config, or says why not and keeps the old one", async () => {
  const good = fakeServer({ token: TOKEN, protectReads: false });
  const ok = await call(good.server, "POST", "/api/reload", TOKEN);
  assert.equal(ok.status, 200);
  assert.match(ok.text, /"reloaded": "a.yaml"/);
  const bad = fakeServer({ token: TOKEN, protectReads: false }, {
    ok: false,
    error: "Invalid config a.yaml: graceMs: expected an integer",
  });
  const refused = await call(bad.server, "POST", "/api/reload", TOKEN);
  assert.equal(refused.status, 400);
  assert.match(refused.text, /the old one stays: Invalid config a.yaml: graceMs/);
});

Deno.test("handleRequest() answers 404 for unknown paths and 405 with Allow for wrong methods", async () => {
  const { server } = fakeServer({ token: TOKEN, protectReads: false });
  assert.equal((await call(server, "GET", "/nope")).status, 404);
  const wrong = await call(server, "POST", "/api/connections/c1", TOKEN);
  assert.equal(wrong.status, 405);
  assert.equal(wrong.headers.get("allow"), "GET, DELETE, HEAD");
  assert.equal((await call(server, "GET", "/api/reload")).headers.get("allow"), "POST");
});

Deno.test("hostRefusal() lets loopback names, the bound address and allowed names pass", () => {
  const withHost = (host: string | undefined) =>
    new Request("http://127.0.0.1/api/streams", host === undefined ? {} : { headers: { host } });
  for (
    const host of ["localhost:8080", "127.0.0.1", "[::1]:8080", "10.0.0.5:8080", "Media.Example"]
  ) {
    assert.equal(hostRefusal(withHost(host), "10.0.0.5", ["media.example"]), undefined, host);
  }
  assert.equal(hostRefusal(withHost("[fd00::1]:8080"), "0.0.0.0", ["[fd00::1]"]), undefined);
  assert.equal(hostRefusal(withHost("anything.example"), "127.0.0.1", ["*"]), undefined);
});

Deno.test("hostRefusal() refuses a rebound or missing Host, saying how to allow it", async () => {
  const refused = hostRefusal(
    new Request("http://127.0.0.1/", { headers: { host: "rebound.example:8080" } }),
    "127.0.0.1",
    ["media.example"],
  );
  assert.equal(refused?.status, 421);
  assert.match(
    await refused!.text(),
    /Host not allowed: \\"rebound.example:8080\\"; add it with --http-allowed-hosts/,
  );
  const missing = hostRefusal(new Request("http://127.0.0.1/"), "127.0.0.1");
  assert.equal(missing?.status, 400);
  await missing?.body?.cancel();
});

Deno.test("handleRequest() lists relays openly, and adds or stops them only with the token", async () => {
  const { server, calls } = fakeServer({ token: TOKEN, protectReads: false });
  assert.equal((await call(server, "GET", "/api/relays")).status, 200);
  const body = JSON.stringify({ direction: "pull", stream: "live/x", url: "srt://h:1" });
  const post = (payload: string, token?: string) =>
    handleRequest(
      server,
      new Request("http://127.0.0.1/api/relays", {
        method: "POST",
        body: payload,
        headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      }),
    );
  assert.equal((await post(body)).status, 401);
  assert.equal(calls.length, 0, "nothing added without the token");
  const added = await post(body, TOKEN);
  assert.equal(added.status, 201);
  assert.deepEqual(await added.json(), { id: "pull:live/x@1" });
  const refused = await post(JSON.stringify({ stream: "other" }), TOKEN);
  assert.equal(refused.status, 400);
  assert.deepEqual(await refused.json(), { error: "no such stream" });
  const garbage = await post("{not json", TOKEN);
  assert.equal(garbage.status, 400);
  assert.match((await garbage.json()).error, /must be JSON/);
  assert.equal((await call(server, "DELETE", "/api/relays/pull:live/x@0")).status, 401);
  assert.equal((await call(server, "DELETE", "/api/relays/pull:live/x@0", TOKEN)).status, 202);
  assert.equal((await call(server, "DELETE", "/api/relays/nope", TOKEN)).status, 404);
  assert.deepEqual(calls.map((line) => line.split(" ")[0]), ["add", "add", "remove", "remove"]);
});

Deno.test("handleRequest() mints media URLs only with the token, for a valid name and time", async () => {
  const { server, calls } = fakeServer({ token: "t", protectReads: false });
  const mint = (path: string, token?: string, body?: string) =>
    handleRequest(
      server,
      new Request(`http://127.0.0.1${path}`, {
        method: "POST",
        headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
        ...(body === undefined ? {} : { body }),
      }),
    );
  assert.equal((await mint("/api/streams/live/x/media-url")).status, 401);
  assert.equal((await mint("/api/streams/live/x/media-url", "wrong")).status, 403);
  const minted = await mint("/api/streams/live/x/media-url", "t");
  assert.equal(minted.status, 200);
  assert.deepEqual(await minted.json(), {
    ts: "/live/x.ts?sig",
    hls: "/live/x/index.m3u8?sig",
    expires: 1,
  });
  assert.equal((await mint("/api/streams/live/x/media-url", "t", '{"seconds":60}')).status, 200);
  for (const body of ['{"seconds":59}', '{"seconds":"60"}', "{"]) {
    const refused = await mint("/api/streams/live/x/media-url", "t", body);
    assert.equal(refused.status, 400, body);
    await refused.body?.cancel();
  }
  const badName = await mint("/api/streams/bad%20name/media-url", "t");
  assert.equal(badName.status, 400);
  await badName.body?.cancel();
  assert.deepEqual(calls, ["mint live/x 3600", "mint live/x 60"]);
});
