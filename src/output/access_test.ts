import assert from "node:assert/strict";
import type { MediaAccessRequest } from "../ipc/output_messages.ts";
import { AccessGate } from "./access.ts";

const REQUEST: MediaAccessRequest = {
  stream: "live/cam1",
  protocol: "hls",
  peer: "192.0.2.1:40000",
  query: "",
  bearer: null,
};

function gate() {
  const sent: [number, MediaAccessRequest][] = [];
  let now = 0;
  const access = new AccessGate((id, request) => sent.push([id, request]), () => now);
  return { access, sent, advance: (ms: number) => now += ms };
}

Deno.test("AccessGate asks once and keeps the answer for its ttl", async () => {
  const { access, sent, advance } = gate();
  const first = access.check(REQUEST);
  const alike = access.check({ ...REQUEST, peer: "192.0.2.1:40001" });
  assert.equal(sent.length, 1, "the same client and credential wait for one answer");
  access.answered(sent[0]![0], { allowed: true, ttlMs: 1000 });
  assert.deepEqual(await first, { allowed: true, ttlMs: 1000 });
  assert.deepEqual(await alike, { allowed: true, ttlMs: 1000 });
  advance(999);
  assert.deepEqual(await access.check(REQUEST), { allowed: true, ttlMs: 1000 });
  assert.equal(sent.length, 1);
  advance(1);
  const again = access.check(REQUEST);
  assert.equal(sent.length, 2, "asked again once the ttl is over");
  access.answered(sent[1]![0], { allowed: false, status: 403, message: "No", ttlMs: 0 });
  assert.equal((await again as { allowed: boolean }).allowed, false);
  access.check(REQUEST);
  assert.equal(sent.length, 3, "an answer of ttl 0 is not kept");
  access.close();
});

Deno.test("AccessGate asks per stream, protocol, client address and credential", () => {
  const { access, sent } = gate();
  for (
    const request of [
      REQUEST,
      { ...REQUEST, stream: "live/cam2" },
      { ...REQUEST, protocol: "http-ts" as const },
      { ...REQUEST, peer: "192.0.2.2:40000" },
      { ...REQUEST, query: "expires=1&sig=00" },
      { ...REQUEST, bearer: "token" },
    ]
  ) access.check(request);
  assert.equal(sent.length, 6);
  access.close();
});

Deno.test("AccessGate answers unanswered after the wait, and a reset drops kept answers", async () => {
  const { access, sent } = gate();
  access.reset(10);
  assert.equal(await access.check(REQUEST), "unanswered");
  access.answered(sent[0]![0], { allowed: true, ttlMs: 1000 });
  assert.equal(access.kept, 0, "a late answer is not kept");
  const asked = access.check(REQUEST);
  access.answered(sent[1]![0], { allowed: true, ttlMs: 1000 });
  await asked;
  assert.equal(access.kept, 1);
  access.reset(10);
  assert.equal(access.kept, 0);
  const during = access.check(REQUEST);
  access.reset(10);
  access.answered(sent[2]![0], { allowed: true, ttlMs: 1000 });
  await during;
  assert.equal(access.kept, 0, "an answer under the old rules is not kept");
});
