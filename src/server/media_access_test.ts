import assert from "node:assert/strict";
import { parseConfig } from "../config/config_file.ts";
import type { MediaAccessRequest } from "../ipc/output_messages.ts";
import { signMediaUrl } from "../http/media_signature.ts";
import type { AuthDecision, MediaAuthRequest } from "./auth_hook.ts";
import { ACCESS_TTL_MS, decideMediaAccess, RefusalLog } from "./media_access.ts";
import { RejectCode } from "../protocol/reject_codes.ts";

const PASS = "0123456789abcdef";
const CONFIG = parseConfig(
  [
    "streams:",
    `  - { prefix: secret, readPassphrase: "${PASS}" }`,
    "  - { prefix: ingest, modes: [publish] }",
  ].join("\n"),
  "yaml",
  "t.yaml",
);
const NOW = 1_800_000_000;

function request(stream: string, query = "", bearer: string | null = null): MediaAccessRequest {
  return { stream, protocol: "hls", peer: "192.0.2.1:40000", query, bearer };
}

async function signedQuery(stream: string, expires: number): Promise<string> {
  return `expires=${expires}&sig=${await signMediaUrl(PASS, stream, expires)}`;
}

Deno.test("decideMediaAccess() applies the stream rules, the API token and signatures", async () => {
  const context = { config: CONFIG, apiToken: "tok", nowSeconds: NOW };
  const cases: [string, MediaAccessRequest, boolean | number, string][] = [
    ["an open stream", request("open"), true, "open"],
    ["a stream that may not be played", request("ingest/a"), 403, "mode"],
    [
      "a stream that may not be played, with the token",
      request("ingest/a", "", "tok"),
      403,
      "mode",
    ],
    ["no signature", request("secret/a"), 401, "unsigned"],
    ["the API token", request("secret/a", "", "tok"), true, "token"],
    ["a wrong API token", request("secret/a", "", "nope"), 403, "token"],
    [
      "a good signature",
      request("secret/a", await signedQuery("secret/a", NOW + 60)),
      true,
      "signature",
    ],
    [
      "another stream's signature",
      request("secret/b", await signedQuery("secret/a", NOW + 60)),
      403,
      "wrong",
    ],
    [
      "an expired signature",
      request("secret/a", await signedQuery("secret/a", NOW)),
      403,
      "expired",
    ],
    ["a malformed signature", request("secret/a", "expires=x&sig=y"), 403, "malformed"],
  ];
  for (const [name, asked, expected, reason] of cases) {
    const decision = await decideMediaAccess(asked, context);
    assert.equal(decision.reason, reason, name);
    if (expected === true) assert.equal(decision.answer.allowed, true, name);
    else assert.equal(decision.answer.allowed === false && decision.answer.status, expected, name);
  }
});

Deno.test("decideMediaAccess() keeps a signed URL's grant no longer than the URL", async () => {
  const context = { config: CONFIG, apiToken: undefined, nowSeconds: NOW };
  const soon = await decideMediaAccess(
    request("secret/a", await signedQuery("secret/a", NOW + 3)),
    context,
  );
  assert.deepEqual(soon.answer, { allowed: true, ttlMs: 3000 });
  const later = await decideMediaAccess(
    request("secret/a", await signedQuery("secret/a", NOW + 600)),
    context,
  );
  assert.deepEqual(later.answer, { allowed: true, ttlMs: ACCESS_TTL_MS });
  const noToken = await decideMediaAccess(request("open", "", "tok"), context);
  assert.equal(noToken.answer.allowed, false);
});

Deno.test("decideMediaAccess() asks the hook with action read, after the signature", async () => {
  const config = parseConfig(
    `authHook: { url: "http://127.0.0.1:9/hook" }\nstreams: [{ prefix: secret, readPassphrase: "${PASS}" }]`,
    "yaml",
    "t.yaml",
  );
  const asked: MediaAuthRequest[] = [];
  let decision: AuthDecision = { allowed: true, detail: "HTTP 200" };
  const context = {
    config,
    apiToken: "tok",
    nowSeconds: NOW,
    ask: (_hook: unknown, body: MediaAuthRequest) => {
      asked.push(body);
      return Promise.resolve(decision);
    },
  };
  assert.equal((await decideMediaAccess(request("open", "key=v"), context)).reason, "hook");
  assert.deepEqual(asked, [{
    action: "read",
    protocol: "hls",
    stream: "open",
    query: "key=v",
    params: { key: "v" },
    signed: false,
    peer: "192.0.2.1:40000",
  }]);
  assert.equal((await decideMediaAccess(request("secret/a"), context)).answer.allowed, false);
  assert.equal(asked.length, 1, "an unsigned URL is refused before the hook is asked");
  await decideMediaAccess(request("secret/a", await signedQuery("secret/a", NOW + 60)), context);
  assert.equal(asked[1]?.signed, true);
  await decideMediaAccess(request("secret/a", "", "tok"), context);
  assert.equal(asked.length, 2, "the API token skips the hook");

  decision = {
    allowed: false,
    code: RejectCode.Forbidden,
    detail: "the authorization hook answered HTTP 403",
  };
  const refused = await decideMediaAccess(request("open"), context);
  assert.deepEqual(refused.answer, {
    allowed: false,
    status: 403,
    message: "Refused by the authorization hook: the authorization hook answered HTTP 403",
    ttlMs: ACCESS_TTL_MS,
  });
  decision = { allowed: false, code: RejectCode.Overload, detail: "out of files" };
  assert.equal((await decideMediaAccess(request("open"), context)).answer.ttlMs, 0);
});

Deno.test("RefusalLog logs a reason once per stream per interval", () => {
  const log = new RefusalLog(1000);
  assert.equal(log.shouldLog("a", "wrong", 0), true);
  assert.equal(log.shouldLog("a", "wrong", 999), false);
  assert.equal(log.shouldLog("a", "expired", 999), true);
  assert.equal(log.shouldLog("b", "wrong", 999), true);
  assert.equal(log.shouldLog("a", "wrong", 1000), true);
});
