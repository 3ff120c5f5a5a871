/**
 * A caller that retries after a rejection backs off: attempts from the same
 * source IP with the same stream id get no child for a doubling interval
 * (refused at once with 1402 while more than 2 s of it are left, dropped
 * silently near its end), counted and logged once per interval, and the
 * first attempt after the interval gets through, so a caller that fixed its
 * passphrase connects.
 */

import assert from "node:assert/strict";
import {
  type Atoll,
  type CallerResult,
  type LogLine,
  startWithConfig,
  tryConnect,
} from "./support/mod.ts";

const PASSPHRASE = "right-passphrase-1";

/** A client that tries again at once after each failure, for `ms` (and 200 tries at most). */
async function retryLoop(
  atoll: Atoll,
  ms: number,
  streamId: string,
  passphrase: string,
): Promise<CallerResult[]> {
  const attempts: CallerResult[] = [];
  const started = performance.now();
  while (performance.now() - started < ms && attempts.length < 200) {
    attempts.push(await tryConnect(atoll.srtPort, streamId, { passphrase, timeoutMs: 500 }));
  }
  return attempts;
}

/** What the loop cost the server, from its counters before and after. */
async function costOf(atoll: Atoll, run: () => Promise<CallerResult[]>) {
  const before = await atoll.stats();
  const attempts = await run();
  const after = await atoll.stats();
  const cost = {
    attempts: attempts.length,
    refused: attempts.filter((a) => a.rejectReason !== 0 && a.rejectReason !== 16).length,
    rejected: after.connectionsClosed.rejected - before.connectionsClosed.rejected,
    children: after.childrenStarted - before.childrenStarted,
    // Refused at once while the interval is long, dropped silently near its end.
    dropped: after.dropped["rejection-backoff"] + after.dropped["rejection-backoff-held"] -
      before.dropped["rejection-backoff"] - before.dropped["rejection-backoff-held"],
  };
  return { attempts, cost, summary: JSON.stringify(cost) };
}

function backoffLines(atoll: Atoll, streamId: string): LogLine[] {
  return atoll.logs.filter((l) =>
    /^Dropping attempts from/.test(l.message) &&
    l.properties.streamId === JSON.stringify(streamId)
  );
}

Deno.test("a caller retrying a refused stream id costs a child per interval, not per attempt", async () => {
  await using atoll = await startWithConfig(
    "streams: [{ name: studio/in, modes: [publish] }]\n",
    ["--passphrase", PASSPHRASE],
    { readyPool: true },
  );
  const streamId = "play:studio/in";
  const { attempts, cost, summary } = await costOf(
    atoll,
    () => retryLoop(atoll, 5000, streamId, PASSPHRASE),
  );
  assert.ok(attempts.every((a) => !a.connected), summary);
  assert.ok(attempts.some((a) => a.rejectReason === 1403), summary);
  // Refused at about 0, 1, 3 s (1, 2 and 4 s intervals): each refusal is
  // one child, and the pool refills once for each.
  assert.ok(cost.rejected >= 2 && cost.rejected <= 4, summary);
  assert.ok(cost.children <= cost.rejected + 1, summary);
  assert.ok(cost.attempts >= 2 * cost.rejected, `far fewer children than attempts: ${summary}`);
  assert.ok(cost.dropped >= cost.attempts - cost.rejected, summary);

  // One line per interval, each naming how many refusals came in a row.
  const lines = backoffLines(atoll, streamId);
  assert.deepEqual(lines.map((l) => l.properties.rejections), lines.map((_, i) => i + 1));
  assert.ok(lines.length >= 1 && lines.length <= cost.rejected, summary);
  assert.equal(lines[0]!.level, "WARN");
  assert.equal(lines[0]!.properties.ip, "127.0.0.1");

  // Another stream id from the same address is not held back.
  const other = await tryConnect(atoll.srtPort, "publish:studio/in", { passphrase: PASSPHRASE });
  assert.equal(other.connected, true, other.rejectText);
});

Deno.test("a caller that fixes its passphrase gets in on its first try after the interval", async () => {
  await using atoll = await startWithConfig("playWaitMs: 0\n", ["--passphrase", PASSPHRASE], {
    readyPool: true,
  });
  const streamId = "publish:live/backoff";
  const { attempts, cost, summary } = await costOf(
    atoll,
    () => retryLoop(atoll, 3000, streamId, "wrong-passphrase-1"),
  );
  assert.ok(attempts.every((a) => !a.connected), summary);
  assert.ok(attempts.some((a) => a.rejectReason === 10), "libsrt said the passphrase is wrong");
  // libsrt refuses a passphrase after the access decision; the child tells
  // the main process half a second later, so the attempts of that first
  // half second each had a child. After that, one per interval.
  assert.ok(cost.dropped > 0, summary);
  assert.ok(cost.children < cost.attempts, summary);
  assert.ok(backoffLines(atoll, streamId).length >= 1, summary);

  // Right passphrase, same stream id: while more than 2 s of the interval
  // are left it is refused at once with 1402; with less, its conclusions are
  // dropped until the interval ends, and then it connects within its wait.
  const tries = [];
  for (let i = 0; i < 12; i++) {
    const fixed = await tryConnect(atoll.srtPort, streamId, { passphrase: PASSPHRASE });
    tries.push(fixed);
    if (fixed.connected) break;
    assert.equal(fixed.rejectReason, 1402, fixed.rejectText);
    assert.ok(fixed.ms < 1000, `refused after ${fixed.ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  assert.equal(tries.at(-1)?.connected, true, JSON.stringify(tries));
});
