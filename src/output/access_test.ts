import assert from "node:assert/strict";
import type { MediaAccessRequest } from "../ipc/output_messages.ts";
import {
  AccessGate,
  type AccessVerdict,
  ASK_BURST,
  ASK_RATE_PER_SECOND,
  clientOf,
  MAX_COUNTED_CLIENTS,
} from "./access.ts";

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

const isLimited = (verdict: AccessVerdict) => verdict !== "unanswered" && "limited" in verdict;

/** `count` asks of `peer`, each with a query of its own, answered allowed at once. */
async function askMany(
  { access, sent }: ReturnType<typeof gate>,
  count: number,
  request: MediaAccessRequest = REQUEST,
) {
  const verdicts: AccessVerdict[] = [];
  for (let i = 0; i < count; i++) {
    const before = sent.length;
    const verdict = access.check({ ...request, query: `n=${i}` });
    if (sent.length > before) access.answered(sent.at(-1)![0], { allowed: true, ttlMs: 1000 });
    verdicts.push(await verdict);
  }
  return verdicts;
}

Deno.test("AccessGate limits one client's fresh asks to a burst, then a rate, and counts the refused", async () => {
  const g = gate();
  const { access, sent, advance } = g;
  const verdicts = await askMany(g, ASK_BURST + 2);
  assert.equal(sent.length, ASK_BURST, "only the burst reaches the main process");
  assert.deepEqual(verdicts.slice(ASK_BURST), [
    { limited: true, retryAfterSeconds: 1 },
    { limited: true, retryAfterSeconds: 1 },
  ]);
  assert.deepEqual(
    await access.check({ ...REQUEST, protocol: "http-ts", query: "other" }),
    { limited: true, retryAfterSeconds: 1 },
  );
  assert.deepEqual(access.limited, { hls: 2, "http-ts": 1 });
  // Kept answers and waiting asks cost nothing.
  assert.deepEqual(await access.check({ ...REQUEST, query: "n=0" }), {
    allowed: true,
    ttlMs: 1000,
  });
  advance(1000 / ASK_RATE_PER_SECOND);
  const waiting = access.check({ ...REQUEST, query: "slow" });
  assert.equal(sent.length, ASK_BURST + 1, "a token came back");
  const joined = access.check({ ...REQUEST, peer: "192.0.2.1:40001", query: "slow" });
  assert.equal(sent.length, ASK_BURST + 1);
  access.answered(sent.at(-1)![0], { allowed: true, ttlMs: 1000 });
  assert.deepEqual(await joined, await waiting);
  assert.deepEqual(await access.check({ ...REQUEST, query: "late" }), {
    limited: true,
    retryAfterSeconds: 1,
  });
  advance(ASK_BURST * 1000 / ASK_RATE_PER_SECOND);
  assert.equal((await askMany(g, ASK_BURST + 1)).filter(isLimited).length, 1);
  access.close();
});

Deno.test("AccessGate limits no other client than the one over its limit", async () => {
  const g = gate();
  await askMany(g, ASK_BURST + 5);
  assert.equal(g.sent.length, ASK_BURST);
  for (const peer of ["192.0.2.2:40000", "[2001:db8:0:1::1]:40000", "[::ffff:192.0.2.3]:1"]) {
    const verdicts = await askMany(g, ASK_BURST, { ...REQUEST, peer });
    assert.ok(verdicts.every((verdict) => verdict !== "unanswered" && !isLimited(verdict)), peer);
  }
  // Another address in the same IPv6 /64 is the same client.
  const verdict = await g.access.check({ ...REQUEST, peer: "[2001:db8:0:1::2]:40000" });
  assert.deepEqual(verdict, { limited: true, retryAfterSeconds: 1 });
  g.access.close();
});

Deno.test("AccessGate forgets the client that asked least lately when it counts too many", async () => {
  const g = gate();
  await askMany(g, ASK_BURST + 1);
  assert.equal(g.access.limited.hls, 1);
  for (let i = 0; i < MAX_COUNTED_CLIENTS; i++) {
    const peer = `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}:1`;
    await askMany(g, 1, { ...REQUEST, peer });
  }
  const before = g.sent.length;
  await askMany(g, 1);
  assert.equal(g.sent.length, before + 1, "forgotten: its burst is whole again");
  assert.equal(g.access.limited.hls, 1);
  g.access.close();
});

Deno.test("clientOf() is a peer's IPv4 address or its IPv6 /64", () => {
  const cases: [string, string][] = [
    ["192.0.2.1:40000", "192.0.2.1"],
    ["[::1]:8080", "0:0:0:0::/64"],
    ["[2001:db8::1]:1", "2001:db8:0:0::/64"],
    ["[2001:DB8:0000:0001:aaaa::1]:1", "2001:db8:0:1::/64"],
    ["[2001:db8:1:2:3:4:5:6]:1", "2001:db8:1:2::/64"],
    ["[fe80::1%eth0]:1", "fe80:0:0:0::/64"],
    ["[::ffff:192.0.2.7]:1", "192.0.2.7"],
    ["[64:ff9b::192.0.2.7]:1", "64:ff9b:0:0::/64"],
    ["[1:2:3:4:5:6:192.0.2.7]:1", "1:2:3:4::/64"],
    // Not an address: the host as given.
    ["[1::2::3]:1", "[1::2::3]"],
    ["[1:2:3]:1", "[1:2:3]"],
  ];
  for (const [peer, client] of cases) assert.equal(clientOf(peer), client, peer);
});
