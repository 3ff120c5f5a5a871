/**
 * Ghost viewers: a viewer held for a publisher whose caller gave up (its
 * connect timeout ran out) must never be accepted, counted or sent data;
 * one still there is accepted; and with the defaults a default caller hears
 * 1404 before its own connect timeout (README, "Who may publish or play").
 */

import assert from "node:assert/strict";
import {
  ffmpegPublisher,
  type LogLine,
  startWithConfig,
  tryConnect,
  waitFor,
} from "./support/mod.ts";

function closedLine(streamId: string): (line: LogLine) => boolean {
  return (line) =>
    line.message.includes(" closed (") && String(line.properties.streamId).includes(streamId);
}

Deno.test("a held viewer whose caller gave up is not accepted when the publisher comes", async () => {
  await using atoll = await startWithConfig("playWaitMs: 6000\n");
  const ghost = await tryConnect(atoll.srtPort, "play:live/ghost", { timeoutMs: 1500 });
  assert.equal(ghost.connected, false);
  // The caller is gone now; Atoll still holds it unless it noticed.
  await using _publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${atoll.srtPort}?streamid=publish:live/ghost`,
  );
  const closed = await atoll.waitForLog("the ghost's close", closedLine("live/ghost"), 6000);
  assert.equal(closed.properties.reason, "handshake-timeout", closed.message);
  assert.match(String(closed.properties.detail), /the caller gave up waiting/);
  assert.equal(closed.properties.bytesOut, 0);
  await waitFor("the publisher's media", async () => {
    const [stream] = await atoll.streams();
    return stream !== undefined && stream.publisher !== null && stream.bytesIn > 0;
  }, { timeoutMs: 15_000 });
  const [stream] = await atoll.streams();
  assert.equal(stream!.viewers, 0);
  assert.equal(stream!.waiting, 0);
  assert.equal(atoll.findLog((line) => / up in .*: play /.test(line.message)), undefined);
});

Deno.test("a held viewer whose caller gave up is let go before playWaitMs runs out", async () => {
  await using atoll = await startWithConfig("playWaitMs: 6000\n");
  const started = performance.now();
  const ghost = await tryConnect(atoll.srtPort, "play:live/early", { timeoutMs: 1500 });
  assert.equal(ghost.connected, false);
  const closed = await atoll.waitForLog("the ghost's close", closedLine("live/early"), 6000);
  const ms = performance.now() - started;
  assert.equal(closed.properties.reason, "handshake-timeout", closed.message);
  assert.match(String(closed.properties.detail), /the caller gave up waiting/);
  // The caller's last conclusion, then 1.5 s of silence; not the 6 s wait.
  assert.ok(ms < 4500, `let go after ${Math.round(ms)} ms`);
  const [stream] = await atoll.streams();
  assert.equal(stream?.waiting ?? 0, 0);
});

Deno.test("a held viewer that is still there is accepted when the publisher comes", async () => {
  await using atoll = await startWithConfig("playWaitMs: 6000\n");
  const viewer = tryConnect(atoll.srtPort, "play:live/patient", { timeoutMs: 10_000 });
  await waitFor("the viewer to wait", async () => {
    const [stream] = await atoll.streams();
    return stream?.waiting === 1;
  });
  // Longer than libsrt's default connect timeout: this caller is still there.
  await new Promise((resolve) => setTimeout(resolve, 3500));
  await using _publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${atoll.srtPort}?streamid=publish:live/patient`,
  );
  const result = await viewer;
  assert.equal(result.connected, true, result.rejectText);
});

Deno.test("with the default playWaitMs a default caller gets 1404, not a timeout", async () => {
  await using atoll = await startWithConfig("{}\n");
  const result = await tryConnect(atoll.srtPort, "play:live/nobody", { timeoutMs: 3000 });
  assert.equal(result.connected, false);
  assert.equal(result.rejectReason, 1404, result.rejectText);
});
