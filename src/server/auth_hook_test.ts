import assert from "node:assert/strict";
import { authorize, type AuthRequest } from "./auth_hook.ts";
import { RejectCode } from "../protocol/reject_codes.ts";
import { sleep } from "../../tests/support/wait.ts";

const REQUEST: AuthRequest = {
  action: "publish",
  stream: "live/cam",
  streamId: "#!::r=live/cam,m=publish,u=alice,t=stream",
  user: "alice",
  password: null,
  session: null,
  params: { t: "stream" },
  query: null,
  peer: "127.0.0.1:5000",
  connectionId: "c1",
};

/** A real HTTP hook on loopback that answers `status` after `delayMs`, recording what it got. */
function hookServer(status: number, delayMs = 0) {
  const received: { method: string; type: string | null; body: unknown }[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      received.push({
        method: request.method,
        type: request.headers.get("content-type"),
        body: await request.json(),
      });
      if (delayMs > 0) await sleep(delayMs);
      return new Response(null, { status });
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}/authorize`,
    received,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

Deno.test("authorize() POSTs the request as JSON and allows on 2xx", async () => {
  await using hook = hookServer(204);
  const decision = await authorize({ url: hook.url, timeoutMs: 2000 }, REQUEST);
  assert.equal(decision.allowed, true);
  assert.match(decision.detail, /^HTTP 204 in \d+ ms$/);
  assert.deepEqual(hook.received, [{ method: "POST", type: "application/json", body: REQUEST }]);
});

Deno.test("authorize() POSTs the password and query of a MediaMTX id as they were sent", async () => {
  await using hook = hookServer(200);
  const request: AuthRequest = {
    ...REQUEST,
    streamId: "publish:live/cam:alice:P@ss w0rd:jwt=a.b.c",
    password: "P@ss w0rd",
    params: { jwt: "a.b.c" },
    query: "jwt=a.b.c",
  };
  assert.equal((await authorize({ url: hook.url, timeoutMs: 2000 }, request)).allowed, true);
  assert.deepEqual(hook.received.map((r) => r.body), [request]);
});

Deno.test("authorize() maps 401 to 1401 and any other answer to 1403", async (t) => {
  for (
    const [status, code] of [[401, RejectCode.Unauthorized], [403, RejectCode.Forbidden], [
      500,
      RejectCode.Forbidden,
    ], [302, RejectCode.Forbidden]] as const
  ) {
    await t.step(`HTTP ${status}`, async () => {
      await using hook = hookServer(status);
      const decision = await authorize({ url: hook.url, timeoutMs: 2000 }, REQUEST);
      assert.deepEqual(
        decision.allowed ? "allowed" : [decision.code, /answered HTTP \d+/.test(decision.detail)],
        [code, true],
      );
    });
  }
});

Deno.test("authorize() rejects with 1403 when the hook is too slow or unreachable", async () => {
  await using slow = hookServer(200, 1000);
  const started = performance.now();
  const late = await authorize({ url: slow.url, timeoutMs: 100 }, REQUEST);
  assert.ok(performance.now() - started < 900, "did not wait for the slow answer");
  assert.deepEqual(late, {
    allowed: false,
    code: RejectCode.Forbidden,
    detail: "the authorization hook did not answer within 100 ms",
  });
  // A port nobody listens on: take one, then close it.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const down = await authorize({ url: `http://127.0.0.1:${port}/`, timeoutMs: 2000 }, REQUEST);
  assert.equal(down.allowed, false);
  assert.equal(!down.allowed && down.code, RejectCode.Forbidden);
  assert.match(down.detail, /could not be reached: fetch failed: .*Connection refused/i);
});

Deno.test("authorize() refuses with 1402 and names the limit when Atoll is out of descriptors", async () => {
  // What Deno's fetch throws when the socket cannot be opened (seen under `prlimit --nofile`).
  const emfile = () =>
    Promise.reject(
      new TypeError("fetch failed", {
        cause: new Error(
          "error sending request for url (http://127.0.0.1:8089/): client error (Connect): " +
            "tcp open error: Too many open files (os error 24)",
        ),
      }),
    );
  const decision = await authorize(
    { url: "http://127.0.0.1:8089/", timeoutMs: 2000 },
    REQUEST,
    emfile,
  );
  assert.equal(decision.allowed, false);
  assert.equal(!decision.allowed && decision.code, RejectCode.Overload);
  assert.match(
    decision.detail,
    /^the authorization hook could not be asked: too many open files \(the hard limit is \d+\)/,
  );
});
