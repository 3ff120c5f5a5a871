import assert from "node:assert/strict";
import { RejectCode } from "../protocol/reject_codes.ts";
import { type StreamPolicy, StreamTable, type StreamTimes } from "./stream_table.ts";

const TIMES: StreamTimes = { playWaitMs: 10_000, publisherTimeoutMs: 2_000, graceMs: 10_000 };
const OPEN: StreamPolicy = { modes: ["publish", "play"] };

function table(times: Partial<StreamTimes> = {}): StreamTable {
  return new StreamTable({ ...TIMES, ...times });
}

Deno.test("StreamTable accepts a publisher and creates its stream", () => {
  const streams = table();
  assert.deepEqual(streams.request("p1", "live/a", "publish", OPEN, 0), { kind: "accept" });
  assert.deepEqual(streams.takeEvents(), [{ type: "stream-created", name: "live/a" }]);
  assert.deepEqual(streams.snapshot(), [
    { name: "live/a", publisher: "p1", viewers: [], waiting: 0, graceUntilMs: null },
  ]);
  assert.deepEqual(streams.streamOf("p1"), { name: "live/a", role: "publisher" });
});

Deno.test("StreamTable rejects a mode the stream's rules forbid with 1403", () => {
  const table_ = table();
  const playOnly: StreamPolicy = { modes: ["play"] };
  const publishOnly: StreamPolicy = { modes: ["publish"] };
  for (
    const [mode, policy] of [["publish", playOnly], ["play", publishOnly]] as const
  ) {
    const decision = table_.request(`c-${mode}`, "s", mode, policy, 0);
    assert.equal(decision.kind, "reject");
    assert.equal(decision.kind === "reject" && decision.code, RejectCode.Forbidden);
  }
  assert.deepEqual(table_.takeEvents(), []);
  assert.deepEqual(table_.snapshot(), []);
});

Deno.test("StreamTable refuses a second live publisher with 1409", () => {
  const streams = table();
  streams.request("p1", "s", "publish", OPEN, 0);
  streams.activity("p1", 1_500);
  const decision = streams.request("p2", "s", "publish", OPEN, 3_000);
  assert.deepEqual(decision, {
    kind: "reject",
    code: RejectCode.Conflict,
    reason: 'stream "s" already has a publisher (connection p1)',
  });
  assert.equal(streams.streamOf("p2"), undefined);
});

Deno.test("StreamTable lets a new publisher take over one silent for publisherTimeoutMs", () => {
  const streams = table();
  streams.request("p1", "s", "publish", OPEN, 0);
  streams.request("v1", "s", "play", OPEN, 10);
  streams.activity("p1", 1_000);
  streams.takeEvents();
  assert.deepEqual(streams.request("p2", "s", "publish", OPEN, 3_000), {
    kind: "accept",
    replaces: "p1",
  });
  assert.deepEqual(streams.takeEvents(), [{
    type: "close",
    connectionId: "p1",
    name: "s",
    reason: "replaced by a new publisher after 2000 ms without media",
  }]);
  // The old publisher's exit must not end the new one's reign or start a grace period.
  streams.release("p1", 3_100);
  assert.deepEqual(streams.snapshot(), [
    { name: "s", publisher: "p2", viewers: ["v1"], waiting: 0, graceUntilMs: null },
  ]);
});

Deno.test("StreamTable counts a publisher's connection time as activity", () => {
  const streams = table();
  streams.request("p1", "s", "publish", OPEN, 5_000);
  const decision = streams.request("p2", "s", "publish", OPEN, 6_999);
  assert.equal(decision.kind === "reject" && decision.code, RejectCode.Conflict);
  assert.equal(streams.request("p3", "s", "publish", OPEN, 7_000).kind, "accept");
});

Deno.test("StreamTable holds a viewer until a publisher arrives, then accepts it", () => {
  const streams = table();
  assert.deepEqual(streams.request("v1", "s", "play", OPEN, 100), {
    kind: "wait",
    untilMs: 10_100,
  });
  assert.equal(streams.nextDeadlineMs, 10_100);
  streams.takeEvents();
  assert.deepEqual(streams.request("p1", "s", "publish", OPEN, 2_000), { kind: "accept" });
  assert.deepEqual(streams.takeEvents(), [
    { type: "accept-waiting", connectionId: "v1", name: "s" },
  ]);
  assert.deepEqual(streams.streamOf("v1"), { name: "s", role: "viewer" });
  assert.equal(streams.nextDeadlineMs, undefined);
});

Deno.test("StreamTable rejects a held viewer with 1404 when the play wait runs out", () => {
  const streams = table({ playWaitMs: 1_000 });
  streams.request("v1", "s", "play", OPEN, 0);
  streams.takeEvents();
  streams.tick(999);
  assert.deepEqual(streams.takeEvents(), []);
  streams.tick(1_000);
  assert.deepEqual(streams.takeEvents(), [
    {
      type: "reject-waiting",
      connectionId: "v1",
      name: "s",
      code: RejectCode.NotFound,
      reason: 'stream "s" got no publisher within 1000 ms',
    },
    { type: "stream-ended", name: "s" },
  ]);
  assert.deepEqual(streams.snapshot(), []);
});

Deno.test("StreamTable rejects a viewer at once with 1404 when the play wait is 0", () => {
  const streams = table({ playWaitMs: 0 });
  assert.deepEqual(streams.request("v1", "s", "play", OPEN, 0), {
    kind: "reject",
    code: RejectCode.NotFound,
    reason: 'stream "s" has no publisher',
  });
  assert.deepEqual(streams.takeEvents(), []);
});

Deno.test("StreamTable refuses viewers beyond maxViewers with 1402, counting held ones", () => {
  const streams = table();
  const two: StreamPolicy = { modes: ["publish", "play"], maxViewers: 2 };
  assert.equal(streams.request("v1", "s", "play", two, 0).kind, "wait");
  streams.request("p1", "s", "publish", two, 0);
  assert.equal(streams.request("v2", "s", "play", two, 0).kind, "accept");
  const third = streams.request("v3", "s", "play", two, 0);
  assert.equal(third.kind === "reject" && third.code, RejectCode.Overload);
  streams.release("v1", 5);
  assert.equal(streams.request("v4", "s", "play", two, 10).kind, "accept");
});

Deno.test("StreamTable keeps viewers through the grace period and hands them to the next publisher", () => {
  const streams = table({ graceMs: 5_000 });
  streams.request("p1", "s", "publish", OPEN, 0);
  streams.request("v1", "s", "play", OPEN, 0);
  streams.takeEvents();
  streams.release("p1", 1_000);
  assert.equal(streams.snapshot()[0]?.graceUntilMs, 6_000);
  assert.equal(streams.nextDeadlineMs, 6_000);
  streams.tick(5_999);
  assert.deepEqual(streams.takeEvents(), []);
  assert.equal(streams.request("p2", "s", "publish", OPEN, 5_999).kind, "accept");
  assert.deepEqual(streams.snapshot(), [
    { name: "s", publisher: "p2", viewers: ["v1"], waiting: 0, graceUntilMs: null },
  ]);
  streams.tick(60_000);
  assert.deepEqual(streams.takeEvents(), []);
});

Deno.test("StreamTable closes viewers when the grace period ends, then ends the stream", () => {
  const streams = table({ graceMs: 5_000 });
  streams.request("p1", "s", "publish", OPEN, 0);
  streams.request("v1", "s", "play", OPEN, 0);
  streams.request("v2", "s", "play", OPEN, 0);
  streams.takeEvents();
  streams.release("p1", 1_000);
  streams.tick(6_000);
  assert.deepEqual(streams.takeEvents(), [
    {
      type: "close",
      connectionId: "v1",
      name: "s",
      reason: "no publisher returned within 5000 ms",
    },
    {
      type: "close",
      connectionId: "v2",
      name: "s",
      reason: "no publisher returned within 5000 ms",
    },
    { type: "stream-ended", name: "s" },
  ]);
  // The closed viewers' children exit later: nothing more happens.
  streams.release("v1", 6_100);
  streams.release("v2", 6_100);
  assert.deepEqual(streams.takeEvents(), []);
});

Deno.test("StreamTable ends a stream at once when its publisher leaves with nobody watching", () => {
  const streams = table();
  streams.request("p1", "s", "publish", OPEN, 0);
  streams.takeEvents();
  streams.release("p1", 10);
  assert.deepEqual(streams.takeEvents(), [{ type: "stream-ended", name: "s" }]);
  assert.equal(streams.nextDeadlineMs, undefined);
});

Deno.test("StreamTable ends the grace period when the last viewer leaves", () => {
  const streams = table();
  streams.request("p1", "s", "publish", OPEN, 0);
  streams.request("v1", "s", "play", OPEN, 0);
  streams.release("p1", 10);
  streams.takeEvents();
  streams.release("v1", 20);
  assert.deepEqual(streams.takeEvents(), [{ type: "stream-ended", name: "s" }]);
});

Deno.test("StreamTable keeps streams apart and answers each connection once", () => {
  const streams = table();
  assert.equal(streams.request("p1", "a", "publish", OPEN, 0).kind, "accept");
  assert.equal(streams.request("p2", "b", "publish", OPEN, 0).kind, "accept");
  const again = streams.request("p1", "b", "play", OPEN, 0);
  assert.equal(again.kind === "reject" && again.code, RejectCode.BadRequest);
  assert.deepEqual(streams.snapshot().map((s) => [s.name, s.publisher]), [["a", "p1"], [
    "b",
    "p2",
  ]]);
  streams.activity("p1", 50);
  streams.release("unknown", 0);
  assert.equal(streams.snapshot().length, 2);
});

Deno.test("StreamTable.end() closes the publisher and viewers, rejects held viewers, and forgets the stream", () => {
  const streams = table();
  streams.request("w1", "s", "play", OPEN, 0);
  streams.request("p1", "s", "publish", OPEN, 0);
  streams.request("v2", "s", "play", OPEN, 0);
  streams.request("w2", "other", "play", OPEN, 0);
  streams.takeEvents();
  assert.equal(streams.end("nothing", "ended"), false);
  assert.equal(streams.end("s", "ended by the operator"), true);
  assert.deepEqual(streams.takeEvents(), [
    { type: "close", connectionId: "p1", name: "s", reason: "ended by the operator" },
    { type: "close", connectionId: "w1", name: "s", reason: "ended by the operator" },
    { type: "close", connectionId: "v2", name: "s", reason: "ended by the operator" },
    { type: "stream-ended", name: "s" },
  ]);
  assert.deepEqual(streams.snapshot().map((s) => s.name), ["other"]);
  // The closed connections' children exit later: nothing more happens.
  streams.release("p1", 10);
  streams.release("v2", 10);
  assert.deepEqual(streams.takeEvents(), []);
  // The stream can be published again at once.
  assert.equal(streams.request("p2", "s", "publish", OPEN, 20).kind, "accept");
  // A held viewer of an ended stream is told at once.
  streams.end("other", "ended by the operator");
  assert.deepEqual(streams.takeEvents().slice(1, 2), [{
    type: "reject-waiting",
    connectionId: "w2",
    name: "other",
    code: RejectCode.NotFound,
    reason: 'stream "other" ended by the operator',
  }]);
});

// Issue 14: a caller claims nothing before libsrt accepted its passphrase.

Deno.test("StreamTable.check() claims nothing: a checked publisher neither blocks nor replaces the real one", () => {
  const streams = table();
  assert.deepEqual(streams.check("real", "s", "publish", OPEN, 0), { kind: "accept" });
  assert.deepEqual(streams.claim("real", 5), { ok: true });
  streams.activity("real", 2_500);
  streams.takeEvents();
  // A live publisher: a newcomer is told 1409 at once.
  const refused = streams.check("intruder", "s", "publish", OPEN, 3_000);
  assert.equal(refused.kind === "reject" && refused.code, RejectCode.Conflict);
  // A silent one: the newcomer may try, and nothing changes until it is connected.
  assert.deepEqual(streams.check("intruder", "s", "publish", OPEN, 5_000), { kind: "accept" });
  assert.deepEqual(streams.takeEvents(), [], "no close before the newcomer is connected");
  assert.equal(streams.snapshot()[0]?.publisher, "real");
  // libsrt refused its passphrase: its child exits, and nothing is left of it.
  streams.release("intruder", 5_500);
  assert.deepEqual(streams.takeEvents(), []);
  assert.equal(streams.snapshot()[0]?.publisher, "real");
  assert.equal(streams.streamOf("intruder"), undefined);
});

Deno.test("StreamTable: many checked publishers do not keep the real one out", () => {
  const streams = table();
  for (let i = 0; i < 40; i++) {
    assert.deepEqual(streams.check(`intruder${i}`, "s", "publish", OPEN, i), { kind: "accept" });
  }
  assert.deepEqual(streams.check("real", "s", "publish", OPEN, 50), { kind: "accept" });
  assert.deepEqual(streams.claim("real", 60), { ok: true });
  assert.equal(streams.snapshot()[0]?.publisher, "real");
  streams.takeEvents();
  for (let i = 0; i < 40; i++) streams.release(`intruder${i}`, 500);
  assert.deepEqual(streams.takeEvents(), []);
  assert.deepEqual(streams.snapshot(), [
    { name: "s", publisher: "real", viewers: [], waiting: 0, graceUntilMs: null },
  ]);
});

Deno.test("StreamTable: of two publishers accepted together, the one connected last publishes", () => {
  const streams = table();
  assert.deepEqual(streams.check("a", "s", "publish", OPEN, 0), { kind: "accept" });
  assert.deepEqual(streams.check("b", "s", "publish", OPEN, 1), { kind: "accept" });
  assert.deepEqual(streams.claim("a", 10), { ok: true });
  streams.takeEvents();
  // b's child already writes into the buffer (its newest writer): a is the one to go.
  assert.deepEqual(streams.claim("b", 12), { ok: true, replaces: "a" });
  assert.deepEqual(streams.takeEvents(), [{
    type: "close",
    connectionId: "a",
    name: "s",
    reason:
      "replaced by a new publisher (connection b) accepted while this one was silent or connecting",
  }]);
  assert.equal(streams.snapshot()[0]?.publisher, "b");
  // Once it is connected, a new caller is told 1409 as ever.
  const late = streams.check("c", "s", "publish", OPEN, 13);
  assert.equal(late.kind === "reject" && late.code, RejectCode.Conflict);
});

Deno.test("StreamTable takes a silent publisher over only at the newcomer's claim", () => {
  const streams = table();
  streams.request("old", "s", "publish", OPEN, 0);
  streams.takeEvents();
  assert.deepEqual(streams.check("new", "s", "publish", OPEN, 3_000), { kind: "accept" });
  assert.deepEqual(streams.takeEvents(), []);
  assert.deepEqual(streams.claim("new", 3_100), { ok: true, replaces: "old" });
  assert.deepEqual(streams.takeEvents(), [{
    type: "close",
    connectionId: "old",
    name: "s",
    reason: "replaced by a new publisher after 3100 ms without media",
  }]);
  assert.equal(streams.snapshot()[0]?.publisher, "new");
});

Deno.test("StreamTable counts only connected viewers toward maxViewers", () => {
  const streams = table();
  const two: StreamPolicy = { modes: ["publish", "play"], maxViewers: 2 };
  streams.request("p1", "s", "publish", two, 0);
  for (let i = 0; i < 10; i++) {
    assert.deepEqual(streams.check(`intruder${i}`, "s", "play", two, 1), { kind: "accept" });
  }
  assert.deepEqual(streams.snapshot()[0]?.viewers, []);
  assert.deepEqual(streams.check("v1", "s", "play", two, 2), { kind: "accept" });
  assert.deepEqual(streams.claim("v1", 3), { ok: true });
  assert.deepEqual(streams.check("v2", "s", "play", two, 4), { kind: "accept" });
  assert.deepEqual(streams.claim("v2", 5), { ok: true });
  // Full now: a new caller is told 1402, one checked before is closed at its claim.
  const third = streams.check("v3", "s", "play", two, 6);
  assert.equal(third.kind === "reject" && third.code, RejectCode.Overload);
  assert.deepEqual(streams.claim("intruder0", 7), {
    ok: false,
    code: RejectCode.Overload,
    reason: 'stream "s" has its maximum of 2 viewer(s)',
  });
  assert.deepEqual(streams.snapshot()[0]?.viewers, ["v1", "v2"]);
});

Deno.test("StreamTable: held viewers count toward nothing and are released by a connected publisher only", () => {
  const streams = table();
  const one: StreamPolicy = { modes: ["publish", "play"], maxViewers: 1 };
  for (let i = 0; i < 5; i++) {
    assert.equal(streams.check(`w${i}`, "s", "play", one, 0).kind, "wait");
  }
  // A publisher that only passed the check releases nobody.
  assert.deepEqual(streams.check("p1", "s", "publish", one, 10), { kind: "accept" });
  streams.takeEvents();
  streams.release("p1", 20);
  assert.deepEqual(streams.takeEvents(), []);
  assert.equal(streams.snapshot()[0]?.waiting, 5);
  assert.deepEqual(streams.check("p2", "s", "publish", one, 30), { kind: "accept" });
  assert.deepEqual(streams.claim("p2", 40), { ok: true });
  assert.deepEqual(
    streams.takeEvents().map((e) => [e.type, "connectionId" in e ? e.connectionId : e.name]),
    [0, 1, 2, 3, 4].map((i) => ["accept-waiting", `w${i}`]),
  );
  assert.deepEqual(streams.snapshot()[0]?.viewers, [], "accepted, not connected");
  // The first one connected holds the only place; the others are closed at their claim.
  assert.deepEqual(streams.claim("w3", 50), { ok: true });
  assert.equal(streams.claim("w0", 51)?.ok, false);
  assert.deepEqual(streams.snapshot()[0]?.viewers, ["w3"]);
});

Deno.test("StreamTable rejects a held viewer with 1402 when connected viewers filled the stream meanwhile", () => {
  const streams = table();
  const one: StreamPolicy = { modes: ["publish", "play"], maxViewers: 1 };
  streams.request("p1", "s", "publish", one, 0);
  assert.deepEqual(streams.check("v1", "s", "play", one, 10), { kind: "accept" });
  streams.release("p1", 20);
  assert.equal(streams.check("w1", "s", "play", one, 30).kind, "wait");
  assert.deepEqual(streams.claim("v1", 40), { ok: true });
  streams.takeEvents();
  streams.request("p2", "s", "publish", one, 50);
  assert.deepEqual(streams.takeEvents(), [{
    type: "reject-waiting",
    connectionId: "w1",
    name: "s",
    code: RejectCode.Overload,
    reason: 'stream "s" has its maximum of 1 viewer(s)',
  }]);
  assert.equal(streams.streamOf("w1"), undefined);
});

Deno.test("StreamTable: a checked viewer whose publisher left meanwhile gets the grace period", () => {
  const streams = table({ graceMs: 5_000 });
  streams.request("p1", "s", "publish", OPEN, 0);
  assert.deepEqual(streams.check("v1", "s", "play", OPEN, 10), { kind: "accept" });
  streams.release("p1", 20);
  streams.takeEvents();
  assert.deepEqual(streams.claim("v1", 30), { ok: true });
  assert.equal(streams.snapshot()[0]?.graceUntilMs, 5_030);
  streams.tick(5_030);
  assert.deepEqual(streams.takeEvents(), [
    {
      type: "close",
      connectionId: "v1",
      name: "s",
      reason: "no publisher returned within 5000 ms",
    },
    { type: "stream-ended", name: "s" },
  ]);
});

Deno.test("StreamTable.end() closes checked connections too, and a claim after it does nothing", () => {
  const streams = table();
  streams.check("p1", "s", "publish", OPEN, 0);
  streams.takeEvents();
  streams.end("s", "ended");
  assert.deepEqual(streams.takeEvents(), [
    { type: "close", connectionId: "p1", name: "s", reason: "ended" },
    { type: "stream-ended", name: "s" },
  ]);
  assert.equal(streams.claim("p1", 10), undefined);
  assert.equal(streams.claim("never-asked", 10), undefined);
  assert.deepEqual(streams.snapshot(), []);
});

Deno.test("StreamTable lets a caller retrying from the same IP replace its own publisher that never sent media", () => {
  const streams = table();
  // A handshake that completed after its caller gave up: connected, silent.
  assert.equal(
    streams.check("late", "s", "publish", OPEN, 0, { source: "10.0.0.1" }).kind,
    "accept",
  );
  assert.deepEqual(streams.claim("late", 0), { ok: true });
  const other = streams.check("other", "s", "publish", OPEN, 100, { source: "10.0.0.2" });
  assert.equal(other.kind === "reject" && other.code, RejectCode.Conflict, "another source waits");
  assert.equal(
    streams.check("retry", "s", "publish", OPEN, 200, { source: "10.0.0.1" }).kind,
    "accept",
  );
  assert.deepEqual(streams.claim("retry", 250), { ok: true, replaces: "late" });
  streams.activity("retry", 300);
  const again = streams.check("again", "s", "publish", OPEN, 400, { source: "10.0.0.1" });
  assert.equal(
    again.kind === "reject" && again.code,
    RejectCode.Conflict,
    "a publisher that sends media holds its stream against its own source too",
  );
});

Deno.test("StreamTable.adopt() puts survivors back as they were: viewers wait out the grace period until their publisher is adopted", () => {
  const streams = table();
  streams.adopt("v1", "live/a", "play", 1_000, 5_000);
  assert.deepEqual(streams.takeEvents(), [{ type: "stream-created", name: "live/a" }]);
  assert.deepEqual(streams.snapshot(), [
    { name: "live/a", publisher: null, viewers: ["v1"], waiting: 0, graceUntilMs: 15_000 },
  ]);
  streams.adopt("p1", "live/a", "publish", 900, 5_000);
  assert.deepEqual(streams.snapshot(), [
    { name: "live/a", publisher: "p1", viewers: ["v1"], waiting: 0, graceUntilMs: null },
  ]);
  assert.deepEqual(streams.streamOf("p1"), { name: "live/a", role: "publisher" });
  assert.deepEqual(streams.takeEvents(), []);
  // From now on the usual rules: a second publisher is refused while it is live.
  assert.equal(streams.request("p2", "live/a", "publish", OPEN, 5_500).kind, "reject");
  // A viewer whose publisher never comes back is closed after the grace period.
  streams.adopt("v2", "live/b", "play", 1_000, 5_000);
  streams.takeEvents();
  streams.tick(15_000);
  assert.deepEqual(streams.takeEvents(), [
    {
      type: "close",
      connectionId: "v2",
      name: "live/b",
      reason: "no publisher returned within 10000 ms",
    },
    { type: "stream-ended", name: "live/b" },
  ]);
});

Deno.test("StreamTable.adopt() keeps the publisher connected last when two survived on one stream", () => {
  for (const order of [["old", "new"], ["new", "old"]]) {
    const streams = table();
    const connectedAt: Record<string, number> = { old: 1_000, new: 2_000 };
    for (const id of order) streams.adopt(id, "live/a", "publish", connectedAt[id]!, 5_000);
    assert.equal(streams.snapshot()[0]?.publisher, "new", order.join(" then "));
    assert.deepEqual(streams.takeEvents().filter((e) => e.type === "close"), [{
      type: "close",
      connectionId: "old",
      name: "live/a",
      reason: "two publishers survived the main process: the one connected last stays",
    }]);
    assert.equal(streams.streamOf("old"), undefined);
  }
});

Deno.test("StreamTable: a primary relay takes the stream from a live publisher", () => {
  const streams = table();
  streams.request("caller", "s", "publish", OPEN, 0);
  streams.activity("caller", 500);
  streams.takeEvents();
  assert.equal(
    streams.check("pull", "s", "publish", OPEN, 600, { relay: "primary" }).kind,
    "accept",
  );
  assert.deepEqual(streams.claim("pull", 700), { ok: true, replaces: "caller" });
  assert.equal(streams.takeEvents()[0]?.type, "close");
  streams.activity("pull", 800);
  const late = streams.check("caller2", "s", "publish", OPEN, 900);
  assert.equal(late.kind === "reject" && late.code, RejectCode.Conflict);
});

Deno.test("StreamTable: a backup relay waits while a publisher holds the stream, and yields to any that comes", () => {
  const streams = table();
  streams.request("caller", "s", "publish", OPEN, 0);
  streams.activity("caller", 500);
  const refused = streams.check("pull", "s", "publish", OPEN, 600, { relay: "backup" });
  assert.equal(refused.kind === "reject" && refused.code, RejectCode.Conflict);
  // The caller leaves: the backup takes over.
  streams.release("caller", 1_000);
  streams.request("viewer", "s", "play", OPEN, 1_000);
  assert.equal(
    streams.check("pull2", "s", "publish", OPEN, 1_100, { relay: "backup" }).kind,
    "accept",
  );
  assert.deepEqual(streams.claim("pull2", 1_200), { ok: true });
  streams.activity("pull2", 1_300);
  streams.takeEvents();
  // A publisher comes back while the backup sends media: it takes the stream at once.
  assert.equal(streams.check("caller2", "s", "publish", OPEN, 1_400).kind, "accept");
  assert.deepEqual(streams.claim("caller2", 1_500), { ok: true, replaces: "pull2" });
  assert.deepEqual(streams.takeEvents().map((event) => event.type), ["close"]);
  assert.equal(streams.snapshot()[0]?.publisher, "caller2");
  assert.deepEqual(streams.snapshot()[0]?.viewers, ["viewer"]);
});

Deno.test("StreamTable.snapshotOf() and names() read one stream, as snapshot() shows it", () => {
  const streams = table();
  streams.request("p", "a", "publish", OPEN, 0);
  streams.request("v", "a", "play", OPEN, 0);
  streams.request("w", "b", "play", OPEN, 0);
  assert.deepEqual(streams.names(), ["a", "b"]);
  for (const whole of streams.snapshot()) assert.deepEqual(streams.snapshotOf(whole.name), whole);
  assert.equal(streams.snapshotOf("none"), undefined);
});
