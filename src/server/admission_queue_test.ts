import assert from "node:assert/strict";
import {
  AdmissionQueue,
  DEFAULT_CALLER_TIMEOUT_MS,
  HANDSHAKE_AFTER_HANDOVER_MS,
  MAX_SILENCE_MS,
  MIN_SILENCE_MS,
  PATIENCE_MS,
  RecentRefusals,
  REFUSAL_MEMORY_MS,
  REFUSALS_REMEMBERED,
  silenceAllowedMs,
  StartEstimate,
  type WaitingCaller,
  wouldMissDeadline,
} from "./admission_queue.ts";

function caller(port: number, since: number, ip = "10.0.0.1"): WaitingCaller {
  return {
    peer: { hostname: ip, port },
    peerKey: `${ip}:${port}`,
    ip,
    handshake: new Uint8Array([port]),
    rendezvous: false,
    backoffKey: undefined,
    since,
    lastSeen: since,
  };
}

Deno.test("AdmissionQueue hands callers out first in, first out, and counts them per IP", () => {
  const queue = new AdmissionQueue();
  queue.push(caller(1, 0));
  queue.push(caller(2, 5, "10.0.0.2"));
  queue.push(caller(3, 10));
  assert.equal(queue.size, 3);
  assert.equal(queue.fromIp("10.0.0.1"), 2);
  assert.equal(queue.longestWaitMs(110), 110);
  assert.throws(() => queue.push(caller(1, 20)), /waiting already/);
  assert.deepEqual([1, 2, 3].map(() => queue.shift()?.peer.port), [1, 2, 3]);
  assert.equal(queue.shift(), undefined);
  assert.equal(queue.fromIp("10.0.0.1"), 0);
  assert.equal(queue.longestWaitMs(200), 0);
});

Deno.test("AdmissionQueue keeps a caller's newest handshake and how often it resends", () => {
  const queue = new AdmissionQueue();
  queue.push(caller(1, 0));
  queue.refresh("10.0.0.1:1", new Uint8Array([9]), 250);
  queue.refresh("10.0.0.9:9", new Uint8Array([8]), 260); // not waiting: ignored
  const head = queue.shift()!;
  assert.deepEqual([...head.handshake], [9]);
  assert.equal(head.lastSeen, 250);
  assert.equal(head.intervalMs, 250);
});

Deno.test("silenceAllowedMs() gives each caller 2.4 of its own resend intervals, within bounds", () => {
  const at = (intervalMs?: number) => ({
    ...caller(1, 0),
    ...(intervalMs === undefined ? {} : { intervalMs }),
  });
  assert.equal(
    silenceAllowedMs(at()),
    MAX_SILENCE_MS,
    "unknown: as long as a blocking caller needs",
  );
  assert.equal(silenceAllowedMs(at(250)), 600, "ffmpeg, srt-live-transmit: every 250 ms");
  assert.equal(silenceAllowedMs(at(1000)), MAX_SILENCE_MS, "a blocking srt_connect: about 1 s");
  assert.equal(silenceAllowedMs(at(0)), MIN_SILENCE_MS, "a duplicate");
});

Deno.test("AdmissionQueue.dropSilent() takes out only the callers that stopped resending", () => {
  const queue = new AdmissionQueue();
  const fast = caller(1, 0);
  const blocking = caller(2, 0);
  const fresh = caller(3, 900);
  queue.push(fast);
  queue.push(blocking);
  queue.push(fresh);
  queue.refresh(fast.peerKey, fast.handshake, 250);
  queue.refresh(blocking.peerKey, blocking.handshake, 1000);
  assert.deepEqual(queue.dropSilent(850).map((c) => c.peer.port), [], "600 ms after 250: not yet");
  assert.deepEqual(queue.dropSilent(851).map((c) => c.peer.port), [1]);
  assert.deepEqual(queue.dropSilent(2400).map((c) => c.peer.port), [], "1500 ms: not yet");
  assert.deepEqual(queue.dropSilent(2401).map((c) => c.peer.port), [3]);
  assert.deepEqual(queue.dropSilent(2501).map((c) => c.peer.port), [2]);
  assert.equal(queue.size, 0);
});

Deno.test("StartEstimate averages child starts, knows when it is current, and spreads the queue over the starts at once", () => {
  const estimate = new StartEstimate();
  assert.equal(estimate.averageMs, 150, "a first guess");
  assert.equal(estimate.fresh(0), false);
  estimate.observe(100, 0);
  assert.equal(estimate.averageMs, 100, "the first start replaces the guess");
  estimate.observe(200, 10);
  assert.equal(estimate.averageMs, 120, "a fifth of the way toward the newest");
  estimate.observe(20, 20);
  assert.equal(estimate.averageMs, 100);
  assert.equal(estimate.paceMs(20), undefined, "three ready: too few for a pace");
  assert.equal(estimate.expectedWaitMs(1, 2, 20), 100);
  assert.equal(estimate.expectedWaitMs(2, 2, 20), 100);
  assert.equal(estimate.expectedWaitMs(3, 2, 20), 200);
  assert.equal(estimate.expectedWaitMs(3, 0, 20), 300, "at least one start at a time");
  assert.equal(estimate.shortestWaitMs(3, 2), 40, "at the quickest start, 20 ms");
  assert.equal(estimate.fresh(1019), true);
  assert.equal(estimate.fresh(1020), false, "no start for a second: a stale estimate");
});

Deno.test("StartEstimate measures the pace of children becoming ready over the last second", () => {
  const estimate = new StartEstimate();
  for (const at of [1000, 1100, 1200]) estimate.observe(40, at);
  assert.equal(estimate.paceMs(1200), undefined);
  estimate.observe(40, 1300);
  assert.equal(estimate.paceMs(1300), 100, "four ready, 100 ms apart");
  assert.equal(estimate.paceMs(1350), 100, "a pause shorter than the pace does not count");
  assert.equal(estimate.paceMs(1450), 112.5, "a longer one counts as if the next were due now");
  assert.equal(estimate.expectedWaitMs(10, 2, 1300), 1000, "the pace, whatever the concurrency");
  assert.equal(estimate.paceMs(2050), undefined, "the one at 1000 ms is forgotten");
  assert.equal(estimate.expectedWaitMs(2, 2, 2050), 40, "back to the average, two at once");
});

Deno.test("StartEstimate.shortestWaitMs() takes the quickest of the newest eight starts, or twice the average speed", () => {
  const estimate = new StartEstimate();
  estimate.observe(1000, 0); // a slow start lifts the average
  estimate.observe(10, 1);
  for (let i = 2; i <= 8; i++) estimate.observe(100, i);
  assert.ok(estimate.averageMs / 2 > 100);
  assert.equal(estimate.shortestWaitMs(1, 1), 10);
  assert.equal(estimate.shortestWaitMs(3, 2), 20);
  estimate.observe(100, 9);
  assert.equal(estimate.shortestWaitMs(1, 1), 100, "the 10 ms start is the ninth newest now");
  // Steady starts: twice the average speed is the quicker.
  for (let i = 10; i < 40; i++) estimate.observe(100, i);
  assert.equal(estimate.shortestWaitMs(1, 1), estimate.averageMs / 2);
  assert.ok(estimate.averageMs / 2 < 60);
});

Deno.test("wouldMissDeadline() sheds a caller whose child and handshake would end past 3 s, giving new callers the benefit of the doubt", () => {
  const estimate = new StartEstimate();
  estimate.observe(200, 0);
  estimate.observe(100, 10);
  assert.equal(estimate.averageMs, 180);
  const late = (position: number, concurrency: number, waitedMs: number) =>
    wouldMissDeadline(estimate, { position, concurrency, waitedMs, nowMs: 10 });
  assert.equal(DEFAULT_CALLER_TIMEOUT_MS - HANDSHAKE_AFTER_HANDOVER_MS, 2500);
  // Waited less than PATIENCE_MS: judged at twice the average speed (90 ms a
  // start), quicker than the quickest recent start (100 ms).
  assert.equal(late(27, 1, 0), false, "2430 + 500 ms: in time");
  assert.equal(late(28, 1, 0), true);
  assert.equal(late(54, 2, 0), false);
  assert.equal(late(55, 2, 0), true, "28 starts two at a time");
  assert.equal(late(12, 1, PATIENCE_MS - 100), false);
  assert.equal(late(13, 1, PATIENCE_MS - 100), true);
  // Past PATIENCE_MS: judged on the expected wait, here the average (no pace).
  assert.equal(late(5, 1, PATIENCE_MS), false, "1500 + 900 + 500 ms: in time");
  assert.equal(late(6, 1, PATIENCE_MS), true);
  // Callers assumed to wait 15 s (--caller-timeout 15000), or as long as it takes (0).
  const at = (position: number, timeoutMs: number) =>
    wouldMissDeadline(estimate, { position, concurrency: 1, waitedMs: 0, nowMs: 10 }, timeoutMs);
  assert.equal(at(161, 15_000), false);
  assert.equal(at(162, 15_000), true);
  assert.equal(at(10_000, 0), false);
});

Deno.test("wouldMissDeadline() does not shed on a burst's slow first starts, and judges on the pace once callers waited PATIENCE_MS", () => {
  const estimate = new StartEstimate();
  for (let i = 0; i < 8; i++) estimate.observe(30, i * 15); // a pool filled at boot
  // A burst: the starts under way when it arrives take ten times as long.
  for (const [ms, at] of [[300, 5000], [450, 5190], [290, 5300], [80, 5380]] as const) {
    estimate.observe(ms, at);
  }
  assert.equal(estimate.paceMs(5380), 380 / 3);
  const late = (position: number, waitedMs: number) =>
    wouldMissDeadline(estimate, { position, concurrency: 2, waitedMs, nowMs: 5380 });
  assert.equal(late(60, 400), false, "30 starts of 30 ms: 900 + 400 + 500 ms");
  assert.equal(late(60, PATIENCE_MS), true, "60 at the pace, 7600 ms");
  assert.equal(late(7, PATIENCE_MS), false, "887 + 1500 + 500 ms");
  assert.equal(late(8, PATIENCE_MS), true, "1013 + 1500 + 500 ms");
});

Deno.test("AdmissionQueue.dropLate() sheds the tail that can no longer make it, and keeps patient callers", () => {
  const estimate = new StartEstimate();
  estimate.observe(500, 0);
  const queue = new AdmissionQueue();
  queue.push(caller(1, 0)); // waited 1600: 1600 + 500 + 500 fits
  queue.push(caller(2, 0)); // waited 1600, second in line: 1600 + 1000 + 500, too late
  queue.push(caller(3, -3500)); // waited longer than a default caller would: its timeout is longer
  queue.push(caller(4, 1500)); // waited 100, third once 2 is gone: 100 + 3 × 250 + 500 fits
  const late = queue.dropLate(1600, estimate, 1);
  assert.deepEqual(late.map((c) => c.peer.port), [2]);
  assert.deepEqual([1, 3, 4].map(() => queue.shift()?.peer.port), [1, 3, 4]);
  assert.equal(queue.size, 0);
});

Deno.test("AdmissionQueue.dropLate() judges by the caller timeout it is given, and sheds none at 0", () => {
  const estimate = new StartEstimate();
  estimate.observe(500, 0);
  const queue = new AdmissionQueue();
  for (let port = 1; port <= 30; port++) queue.push(caller(port, 0));
  // At 500 ms a start, one at a time, the 26th would have its child at
  // 1600 + 26 * 500 ms and be connected at 15100 ms: too late for 15 s.
  assert.deepEqual(queue.dropLate(1600, estimate, 1, 0), []);
  const late = queue.dropLate(1600, estimate, 1, 15_000);
  assert.deepEqual(late.map((c) => c.peer.port), [26, 27, 28, 29, 30]);
  assert.equal(queue.size, 25);
});

Deno.test("RecentRefusals remembers a refused peer for 3 s, and at most REFUSALS_REMEMBERED", () => {
  const refusals = new RecentRefusals();
  refusals.add("10.0.0.1:1", 0);
  refusals.add("10.0.0.1:2", 1000);
  assert.equal(refusals.has("10.0.0.1:1", REFUSAL_MEMORY_MS - 1), true);
  assert.equal(refusals.has("10.0.0.1:1", REFUSAL_MEMORY_MS), false);
  assert.equal(refusals.has("10.0.0.1:3", 0), false);
  refusals.add("10.0.0.1:1", 3500); // refused again: remembered anew, and the expired forgotten
  assert.equal(refusals.has("10.0.0.1:1", 6000), true);
  assert.equal(refusals.size, 2);
  refusals.add("10.0.0.1:4", 4000);
  assert.equal(refusals.size, 2, "10.0.0.1:2 expired at 4000");
  for (let port = 10; port < 10 + REFUSALS_REMEMBERED; port++) {
    refusals.add(`10.0.0.9:${port}`, 5000);
  }
  assert.equal(refusals.size, REFUSALS_REMEMBERED);
  assert.equal(refusals.has("10.0.0.1:1", 5000), false, "the oldest were forgotten first");
  assert.equal(refusals.has(`10.0.0.9:${9 + REFUSALS_REMEMBERED}`, 5000), true);
});
