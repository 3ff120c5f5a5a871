/**
 * The dashboard's preview in a real browser: headless Debian chromium,
 * driven by playwright-core from tests/browser/preview_check.mjs (run with
 * Node), plays a live ffmpeg publisher's stream (H.264) from the media
 * port's HLS with hls.js, which the API serves.
 */

import assert from "node:assert/strict";
import {
  assertBrowserTools,
  ffmpegPublisher,
  publisherOf,
  runBrowserCheck,
  startWithConfig,
} from "./support/mod.ts";

const TOKEN = "preview-token-0123456789";

/** Runs preview_check.mjs against the API on `port`. */
function runCheck(port: number, stream: string, extra: string[] = []) {
  return runBrowserCheck("preview_check.mjs", {
    args: ["--port", String(port), "--stream", stream, "--min-seconds", "1", ...extra],
    token: TOKEN,
  });
}

Deno.test("the dashboard's preview plays a live stream's HLS with hls.js: time advances, frames are not blank", async () => {
  await assertBrowserTools();
  // HLS on demand (the default), so that the preview's first playlist request is what starts it;
  // a read passphrase, so that it plays only through the URL the page has the API sign.
  await using atoll = await startWithConfig(
    'streams:\n  - name: live/preview\n    readPassphrase: "preview-read-passphrase"\n',
    ["--api-token", TOKEN],
  );
  assert.ok(atoll.mediaPort > 0);
  const stream = "live/preview";
  await using _publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${atoll.srtPort}?streamid=publish:${stream}`,
  );
  await publisherOf(atoll, stream);

  const { code, report, stderr } = await runCheck(atoll.httpPort, stream);
  const seen = JSON.stringify(report, null, 2);
  assert.equal(code, 0, `the browser check failed: ${seen}\n${stderr}`);
  assert.equal(report.ok, true, seen);
  // The page may read HLS from the media port, and nothing from anywhere else.
  const media = `http://127.0.0.1:${atoll.mediaPort}`;
  assert.match(String(report.csp), new RegExp(`connect-src 'self' ${media};`), seen);
  assert.match(String(report.csp), new RegExp(`media-src ${media} blob:;`), seen);
  const video = report.video as {
    player: string;
    currentTime: number;
    width: number;
    height: number;
    muted: boolean;
    tracks: string;
    frame: { lumaStdDev: number; colours: number };
  };
  assert.equal(video.player, "hls.js", seen);
  assert.equal(video.muted, true, seen);
  // The sample: H.264 320x240, ffmpeg's colour test pattern.
  assert.deepEqual([video.width, video.height], [320, 240], seen);
  assert.match(video.tracks, /^H\.264 320\u00d7240 25 fps/, seen);
  assert.ok(video.currentTime > 1, seen);
  assert.ok(video.frame.lumaStdDev > 10 && video.frame.colours >= 4, seen);
  // The stream needs a signed URL, which the page had the API mint with its token. hls.js plays
  // it as low-latency HLS: blocking playlist reloads (the same credential, plus _HLS_msn and
  // _HLS_part) and parts, each answered.
  const requests = report.requests as string[];
  const signed = "expires=\\d+&sig=[0-9a-f]{64}";
  const reload = new RegExp(
    `^200 .*/live/preview/index\\.m3u8\\?${signed}&_HLS_msn=\\d+&_HLS_part=\\d+$`,
  );
  assert.ok(requests.some((line) => reload.test(line)), seen);
  const part = new RegExp(`^200 .*/live/preview/part,\\d+\\.\\d+\\.ts\\?${signed}$`);
  assert.ok(requests.some((line) => part.test(line)), seen);
  // The preview's requests reached the media port: the stream has an HLS client.
  const [info] = (await atoll.streams()).filter((s) => s.name === stream);
  assert.ok((info?.http?.hlsClients ?? 0) >= 1, JSON.stringify(info));
});

Deno.test("the dashboard offers no preview without a media port, and says why", async () => {
  await assertBrowserTools();
  await using atoll = await startWithConfig("{}\n", [
    "--api-token",
    TOKEN,
    "--media-listen",
    "off",
  ]);
  const stream = "live/no-preview";
  await using _publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${atoll.srtPort}?streamid=publish:${stream}`,
  );
  await publisherOf(atoll, stream);
  const { code, report, stderr } = await runCheck(atoll.httpPort, stream, ["--no-media"]);
  const seen = JSON.stringify(report, null, 2);
  assert.equal(code, 0, `the browser check failed: ${seen}\n${stderr}`);
  const play = report.play as { disabled: boolean; title: string };
  assert.equal(play.disabled, true, seen);
  assert.match(play.title, /--media-listen off/, seen);
  // Nothing to connect to or play from: the policy allows neither.
  assert.match(String(report.csp), /connect-src 'self';/, seen);
  assert.match(String(report.csp), /media-src 'none';/, seen);
});
