/**
 * Callers without a stream's passphrase claim nothing (issue 14 point 2).
 * libsrt checks a caller's passphrase only after the listen callback
 * accepted it, so a caller that only passed the listen callback must not
 * hold the publisher slot, count as a viewer, or take a publisher over:
 * only a connected (authenticated) caller does.
 */

import assert from "node:assert/strict";
import {
  type Atoll,
  type CallerResult,
  ManagedProcess,
  sampleTs,
  sleep,
  startWithConfig,
  tryConnect,
  waitFor,
} from "./support/mod.ts";

const PUBLISH_SECRET = "publish-secret-1";
const READ_SECRET = "read-secret-22";
/** How many callers without the passphrase, and how many of them at a time. */
const INTRUDERS = 40;
const BATCH = 8;
/**
 * The real peers here try once, with a 5 s connect timeout (`tryConnect`'s):
 * Atoll is told so, as README "Bursts of callers" says to for callers that
 * do not retry, or on a loaded machine it may shed them as callers with
 * libsrt's default 3 s that it could not serve in time.
 */
const CALLER_TIMEOUT_ARGS = ["--caller-timeout", "5000"];

/** The config: streams under `secure` need passphrases; `maxViewers` when given. */
function protectedConfig(maxViewers?: number): string {
  return [
    // Short, so that a publisher pausing for a moment may be taken over.
    "publisherTimeoutMs: 1000",
    "streams:",
    "  - prefix: secure",
    `    publishPassphrase: ${PUBLISH_SECRET}`,
    `    readPassphrase: ${READ_SECRET}`,
    ...(maxViewers === undefined ? [] : [`    maxViewers: ${maxViewers}`]),
  ].join("\n");
}

/**
 * `count` callers without a passphrase asking for `streamId`, `BATCH` at a
 * time; libsrt must refuse every one of them. Each adds a query of its own
 * to the stream id (the stream is the same): repeats of one refused id
 * would be backed off before any child (tests/rejection_backoff_test.ts),
 * and these must each get as far as libsrt's passphrase check.
 */
async function intruders(port: number, streamId: string, count: number): Promise<CallerResult[]> {
  const results: CallerResult[] = [];
  for (let started = 0; started < count; started += BATCH) {
    const batch = Array.from(
      { length: Math.min(BATCH, count - started) },
      (_, i) => tryConnect(port, `${streamId}?intruder=${started + i}`, { timeoutMs: 3000 }),
    );
    results.push(...await Promise.all(batch));
  }
  for (const result of results) assert.equal(result.connected, false, "refused by libsrt");
  return results;
}

/**
 * Writes the sample MPEG-TS to `peer` at about real time, in 1316-byte
 * chunks, looping, while `state.paused` is false, until `state.stopped` or
 * `limitMs` has passed.
 */
async function feedTs(
  peer: ManagedProcess,
  state: { paused: boolean; stopped: boolean },
  limitMs: number,
): Promise<void> {
  const ts = await Deno.readFile(await sampleTs());
  // The sample is 3 s long: a tenth of a second's share every 100 ms.
  const perTick = Math.max(1316, Math.floor(ts.length / 30 / 1316) * 1316);
  const deadline = performance.now() + limitMs;
  let offset = 0;
  while (!state.stopped && performance.now() < deadline) {
    if (!state.paused) {
      for (let sent = 0; sent < perTick; sent += 1316) {
        if (offset + 1316 > ts.length) offset = 0;
        await peer.write(ts.subarray(offset, offset + 1316));
        offset += 1316;
      }
    }
    await sleep(100);
  }
}

/**
 * srt-live-transmit publishing its standard input to `streamId` with the
 * publish passphrase, 1316 bytes (seven TS packets) per message, so Atoll
 * finds the key frames.
 */
function publisherWithPassphrase(port: number, streamId: string): ManagedProcess {
  const uri = `srt://127.0.0.1:${port}?streamid=${streamId}&passphrase=${PUBLISH_SECRET}`;
  return ManagedProcess.start("publisher", "srt-live-transmit", [
    "-a:no",
    "-chunk:1316",
    "file://con",
    uri,
  ], { stdin: "piped" });
}

/** srt-live-transmit playing `streamId` with the read passphrase into `path`. */
function viewerWithPassphrase(port: number, streamId: string, path: string): ManagedProcess {
  const uri = `srt://127.0.0.1:${port}?streamid=${streamId}&passphrase=${READ_SECRET}`;
  return ManagedProcess.start("viewer", "srt-live-transmit", ["-a:no", "-q", uri, "file://con"], {
    stdout: { file: path },
  });
}

/** Waits for the encrypted publisher on `stream`, sending; its connection. */
function encryptedPublisher(atoll: Atoll, stream: string) {
  return waitFor("the encrypted publisher", async () => {
    const list = await atoll.connections();
    return list.find((c) =>
      c.stream === stream && c.mode === "publish" && c.encrypted && c.bytesReceived > 0
    );
  }, { timeoutMs: 15_000 });
}

/** Waits until some caller was answered for `stream` and is still in its handshake. */
function callerInHandshake(atoll: Atoll, stream: string): Promise<true> {
  return waitFor("a caller without the passphrase in its handshake", async () => {
    const list = await atoll.connections();
    return list.some((c) => c.state === "handshaking" && c.stream === stream);
  }, { timeoutMs: 10_000, intervalMs: 20 });
}

Deno.test("callers without the publish passphrase do not replace a paused publisher", async () => {
  // A long idle timeout: the real publisher pauses while the callers try.
  await using atoll = await startWithConfig(protectedConfig(), [
    "--idle-timeout",
    "30000",
    ...CALLER_TIMEOUT_ARGS,
  ]);
  const port = atoll.srtPort;
  const output = await Deno.makeTempFile({ prefix: "atoll_viewer_", suffix: ".ts" });
  const feeding = { paused: false, stopped: false };
  await using publisher = publisherWithPassphrase(port, "publish:secure/cam");
  const fed = feedTs(publisher, feeding, 60_000);
  await using _viewer = viewerWithPassphrase(port, "play:secure/cam", output);
  try {
    const real = await encryptedPublisher(atoll, "secure/cam");
    await waitFor("the viewer to receive", async () => {
      const list = await atoll.connections();
      return list.some((c) => c.mode === "play" && c.bytesSent > 0);
    }, { timeoutMs: 15_000 });

    // The publisher pauses: by its reports it is silent, so a connected
    // newcomer could take it over, but these callers never connect.
    feeding.paused = true;
    await sleep(2200);
    const results = await intruders(port, "publish:secure/cam", INTRUDERS);
    assert.equal(atoll.findLog((l) => /replaced by a new publisher/.test(l.message)), undefined);
    assert.equal(publisher.exited, false, "the real publisher is still there");
    const [stream] = await atoll.streams();
    assert.equal(stream?.publisher, real.id, "and still the stream's publisher");
    // Every one of them got as far as libsrt's passphrase check, and no further.
    assert.deepEqual(new Set(results.map((r) => r.rejectReason)), new Set([11]));

    // It resumes, and its viewer gets what it sends.
    const before = (await atoll.connections()).find((c) => c.mode === "play")!.bytesSent;
    feeding.paused = false;
    await waitFor("the viewer to receive again", async () => {
      const list = await atoll.connections();
      return list.some((c) => c.mode === "play" && c.bytesSent > before + 50_000);
    }, { timeoutMs: 15_000 });
    assert.equal((await atoll.connections()).find((c) => c.mode === "publish")?.id, real.id);
  } finally {
    feeding.stopped = true;
    await fed;
    await Deno.remove(output);
  }
});

Deno.test("callers without the publish passphrase do not make a returning publisher get 1409", async () => {
  await using atoll = await startWithConfig(protectedConfig(), [
    "--idle-timeout",
    "30000",
    ...CALLER_TIMEOUT_ARGS,
  ]);
  const port = atoll.srtPort;
  const feeding = { paused: false, stopped: false };
  await using publisher = publisherWithPassphrase(port, "publish:secure/cam");
  const fed = feedTs(publisher, feeding, 60_000);
  let storm: Promise<unknown> | undefined;
  try {
    const crashed = await encryptedPublisher(atoll, "secure/cam");
    // Its encoder crashes: the connection stays, silent, until its idle
    // timeout, so a connected newcomer may take it over.
    feeding.stopped = true;
    await fed;
    publisher.kill();
    await publisher.exit();
    await sleep(1500);
    // It comes back while callers without the passphrase keep asking.
    storm = intruders(port, "publish:secure/cam", INTRUDERS);
    const refused: string[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      // The previous attempt's connection is gone (it connects and leaves).
      await waitFor("no live publisher on the stream", async () => {
        const [now] = await atoll.streams();
        return now === undefined || now.publisher === null || now.publisher === crashed.id;
      }, { timeoutMs: 10_000 });
      await callerInHandshake(atoll, "secure/cam");
      const back = await tryConnect(port, "publish:secure/cam", { passphrase: PUBLISH_SECRET });
      if (!back.connected) refused.push(`attempt ${attempt}: ${back.rejectReason}`);
    }
    assert.deepEqual(refused, [], "the real publisher was never refused");
    await storm;
  } finally {
    feeding.stopped = true;
    await fed;
    await storm?.catch(() => {});
  }
});

Deno.test("viewers without the read passphrase do not count toward maxViewers", async () => {
  await using atoll = await startWithConfig(protectedConfig(1), CALLER_TIMEOUT_ARGS);
  const port = atoll.srtPort;
  const feeding = { paused: false, stopped: false };
  await using publisher = publisherWithPassphrase(port, "publish:secure/small");
  const fed = feedTs(publisher, feeding, 60_000);
  let storm: Promise<unknown> | undefined;
  try {
    await encryptedPublisher(atoll, "secure/small");
    storm = intruders(port, "play:secure/small", INTRUDERS);
    const refused: string[] = [];
    for (let attempt = 1; attempt <= 4; attempt++) {
      // The previous attempt's viewer is gone (it connects and leaves).
      await waitFor("no viewer on the stream", async () => {
        const [stream] = await atoll.streams();
        return stream?.viewers === 0;
      }, { timeoutMs: 10_000 });
      await callerInHandshake(atoll, "secure/small");
      const viewer = await tryConnect(port, "play:secure/small", { passphrase: READ_SECRET });
      if (!viewer.connected) refused.push(`attempt ${attempt}: ${viewer.rejectReason}`);
    }
    assert.deepEqual(refused, [], "the real viewer was never refused");
    await storm;
  } finally {
    feeding.stopped = true;
    await fed;
    await storm?.catch(() => {});
  }
});
