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
