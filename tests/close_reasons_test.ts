/**
 * End to end: how a connection ended, as the closing log line and
 * `connectionsClosed` in /api/stats tell it. A peer that closes its SRT
 * connection is `peer-closed` at once; a peer that vanishes without a word
 * (SIGKILL: no SRT shutdown is ever sent) is `broken`, once libsrt has heard
 * nothing from it for the idle timeout.
 */

import assert from "node:assert/strict";
import type { ConnectionInfo } from "../src/server/api_types.ts";
import {
  Atoll,
  feed,
  ffmpegPublisher,
  ffmpegViewer,
  type LogLine,
  type ManagedProcess,
  sleep,
  srtLiveTransmitCaller,
  srtLiveTransmitViewer,
  waitFor,
} from "./support/mod.ts";

const IDLE_TIMEOUT_MS = 1500;
/**
 * How soon a proper close must be logged. libsrt gives up on a silent peer
 * no sooner than about 5 s (16 expirations of at least 300 ms each, and the
 * idle timeout), so this is well short of any timeout.
 */
const PROMPT_MS = 2500;

function startAtoll(): Promise<Atoll> {
  return Atoll.start(["--idle-timeout", String(IDLE_TIMEOUT_MS)]);
}

/** The one connection of `mode`, once it has carried `bytes` in its direction. */
function flowing(atoll: Atoll, mode: "publish" | "play", bytes: number): Promise<ConnectionInfo> {
  return waitFor(`a ${mode} connection carrying ${bytes} bytes`, async () => {
    const found = (await atoll.connections()).filter((c) => c.mode === mode);
    const connection = found[0];
    if (found.length !== 1 || connection === undefined) return false;
    return (mode === "publish" ? connection.bytesReceived : connection.bytesSent) >= bytes &&
      connection;
  }, { timeoutMs: 15_000 });
}

/** The closing log line of `connection`, and when the test saw it (performance.now()). */
async function closingLine(
  atoll: Atoll,
  connection: ConnectionInfo,
): Promise<{ line: LogLine; seenAt: number }> {
  const line = await waitFor(
    `the closing log line of connection ${connection.id}`,
    () => atoll.findLog((l) => l.properties.id === connection.id && "reason" in l.properties),
    { timeoutMs: 15_000, intervalMs: 20 },
  );
  return { line, seenAt: performance.now() };
}

/** Checks that `reason`, and only it, was counted once in /api/stats. */
async function assertCounted(atoll: Atoll, reason: "peer-closed" | "broken"): Promise<void> {
  const { connectionsClosed } = await atoll.stats();
  assert.equal(connectionsClosed[reason], 1, JSON.stringify(connectionsClosed));
  const total = Object.values(connectionsClosed).reduce((sum, count) => sum + count, 0);
  assert.equal(total, 1, JSON.stringify(connectionsClosed));
}

/** ffmpeg publishing `live/close` in a loop, once Atoll has its stream. */
async function publishing(atoll: Atoll): Promise<ManagedProcess> {
  const publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${atoll.srtPort}?streamid=publish:live/close`,
  );
  await flowing(atoll, "publish", 50_000);
  return publisher;
}

Deno.test("a publisher that closes at the end of its input is peer-closed at once", async () => {
  await using atoll = await startAtoll();
  await using caller = srtLiveTransmitCaller(atoll.srtPort, "publish:live/close");
  await feed(caller, 1);
  const connection = await flowing(atoll, "publish", 100_000);
  // srt-live-transmit 1.5.1 does not stop at the end of its input: it stops on
  // SIGINT once its blocking stdin read returns, closing its SRT socket.
  caller.signal("SIGINT");
  await caller.closeStdin();
  const status = await caller.exit(5_000);
  const exitedAt = performance.now();
  assert.equal(status.code, 0, caller.text);
  const { line, seenAt } = await closingLine(atoll, connection);
  assert.equal(line.properties.reason, "peer-closed", JSON.stringify(line.properties));
  assert.ok(seenAt - exitedAt < PROMPT_MS, `logged ${Math.round(seenAt - exitedAt)} ms after`);
  await assertCounted(atoll, "peer-closed");
});

Deno.test("a publisher silent for longer than the idle timeout, then closing, is peer-closed", async () => {
  await using atoll = await startAtoll();
  await using caller = srtLiveTransmitCaller(atoll.srtPort, "publish:live/close");
  await feed(caller, 0.5);
  const connection = await flowing(atoll, "publish", 50_000);
  // No media for twice the idle timeout: the connection stands on keepalives.
  await sleep(2 * IDLE_TIMEOUT_MS);
  assert.equal((await atoll.connections()).length, 1, "still connected while silent");
  caller.signal("SIGINT");
  await caller.closeStdin();
  const status = await caller.exit(5_000);
  const exitedAt = performance.now();
  assert.equal(status.code, 0, caller.text);
  const { line, seenAt } = await closingLine(atoll, connection);
  assert.equal(line.properties.reason, "peer-closed", JSON.stringify(line.properties));
  assert.ok(seenAt - exitedAt < PROMPT_MS, `logged ${Math.round(seenAt - exitedAt)} ms after`);
  await assertCounted(atoll, "peer-closed");
});

Deno.test("a publisher killed with SIGKILL is broken after the idle timeout", async () => {
  await using atoll = await startAtoll();
  await using caller = srtLiveTransmitCaller(atoll.srtPort, "publish:live/close");
  await feed(caller, 1);
  const connection = await flowing(atoll, "publish", 100_000);
  caller.kill();
  await caller.exit();
  const killedAt = performance.now();
  const { line, seenAt } = await closingLine(atoll, connection);
  assert.equal(line.properties.reason, "broken", JSON.stringify(line.properties));
  assert.ok(
    seenAt - killedAt >= IDLE_TIMEOUT_MS,
    `logged ${Math.round(seenAt - killedAt)} ms after`,
  );
  await assertCounted(atoll, "broken");
});

Deno.test("a viewer whose ffmpeg finishes is peer-closed at once", async () => {
  await using atoll = await startAtoll();
  await using _publisher = await publishing(atoll);
  const file = await Deno.makeTempFile({ prefix: "atoll_close_", suffix: ".ts" });
  try {
    // ffmpeg stops after 1 s of the stream, closes its SRT connection and exits.
    await using viewer = ffmpegViewer(
      `srt://127.0.0.1:${atoll.srtPort}?streamid=play:live/close`,
      file,
      1,
    );
    const connection = await flowing(atoll, "play", 10_000);
    const status = await viewer.exit(10_000);
    const exitedAt = performance.now();
    assert.equal(status.code, 0, viewer.text);
    const { line, seenAt } = await closingLine(atoll, connection);
    assert.equal(line.properties.reason, "peer-closed", JSON.stringify(line.properties));
    assert.ok(seenAt - exitedAt < PROMPT_MS, `logged ${Math.round(seenAt - exitedAt)} ms after`);
    await assertCounted(atoll, "peer-closed");
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("a viewer silent for longer than the idle timeout, then closing, is peer-closed", async () => {
  await using atoll = await startAtoll();
  // A publisher that sends nothing: the viewer gets no media, so it sends no acknowledgements.
  await using _publisher = srtLiveTransmitCaller(atoll.srtPort, "publish:live/close");
  await flowing(atoll, "publish", 0);
  await using viewer = srtLiveTransmitViewer(atoll.srtPort, "play:live/close", "/dev/null");
  const connection = await flowing(atoll, "play", 0);
  await sleep(2 * IDLE_TIMEOUT_MS);
  assert.equal((await atoll.connections()).length, 2, "still connected while silent");
  // srt-live-transmit stops on SIGINT, closing its SRT socket.
  viewer.signal("SIGINT");
  await viewer.exit(5_000);
  const exitedAt = performance.now();
  const { line, seenAt } = await closingLine(atoll, connection);
  assert.equal(line.properties.reason, "peer-closed", JSON.stringify(line.properties));
  assert.ok(seenAt - exitedAt < PROMPT_MS, `logged ${Math.round(seenAt - exitedAt)} ms after`);
  await assertCounted(atoll, "peer-closed");
});

Deno.test("a viewer killed with SIGKILL is broken after the idle timeout", async () => {
  await using atoll = await startAtoll();
  await using _publisher = await publishing(atoll);
  await using viewer = srtLiveTransmitViewer(atoll.srtPort, "play:live/close", "/dev/null");
  const connection = await flowing(atoll, "play", 50_000);
  viewer.kill();
  await viewer.exit();
  const killedAt = performance.now();
  const { line, seenAt } = await closingLine(atoll, connection);
  assert.equal(line.properties.reason, "broken", JSON.stringify(line.properties));
  assert.ok(
    seenAt - killedAt >= IDLE_TIMEOUT_MS,
    `logged ${Math.round(seenAt - killedAt)} ms after`,
  );
  await assertCounted(atoll, "broken");
});
