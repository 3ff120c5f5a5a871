// Glass-to-glass timing of an HLS stream in headless Debian chromium, for
// the HLS latency bench (bench/hls_latency.ts): plays --url with hls.js
// (its default config, so low-latency mode is what a default player gets)
// and, for every frame the video element presents
// (`requestVideoFrameCallback`), draws it onto a canvas, reads the frame
// number the publisher burned into its pixels, and notes when the frame
// was to be shown, on the wall clock (`performance.timeOrigin + t`).
//
//   node tests/browser/hls_glass.mjs --url http://127.0.0.1:P/NAME/index.m3u8
//     --hlsjs http://127.0.0.1:API/static/hls-1.7.4.light.min.js --bits 16
//     [--seconds 25] [--timeout-ms 60000] [--chromium /usr/bin/chromium]
//
// The page and hls.js are served by playwright's router at
// ORIGIN/__glass/ (ORIGIN: the stream's), so hls.js's requests are
// same-origin, whatever CORS the server does; the route is removed once the
// page has loaded, so the media requests go to the server untouched.
//
// The frame number: --bits vertical bars across the top half, bit 0 on the
// left, white for 1, and their complement in the bottom half; a frame whose
// halves disagree anywhere is counted unreadable, not guessed.
//
// Prints one JSON line: `frames` as [number or -1, expectedDisplayTime,
// presentationTime, mediaTime, presentedFrames] (times on the wall clock,
// ms), the first frame's time, `waiting` events' times, hls.js's latency
// figures sampled every 500 ms, the playlist hls.js last loaded (parts,
// part target, blocking reload), playback quality and errors. Exits 0 when
// it saw frames until --seconds after the first one, 1 with a reason when
// not, 2 on a usage error.

import { parseArgs } from "node:util";
import { browserSession } from "./common.mjs";

const report = { ok: false };
function finish(code) {
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.exit(code);
}

let options;
try {
  ({ values: options } = parseArgs({
    options: {
      url: { type: "string" },
      hlsjs: { type: "string" },
      bits: { type: "string", default: "16" },
      seconds: { type: "string", default: "25" },
      "timeout-ms": { type: "string", default: "60000" },
      chromium: { type: "string", default: "/usr/bin/chromium" },
    },
  }));
  if (!/^http:\/\/.+\.m3u8$/.test(options.url ?? "")) throw new Error("--url URL.m3u8 is required");
  if (!/^http:\/\//.test(options.hlsjs ?? "")) throw new Error("--hlsjs URL is required");
  for (const name of ["bits", "seconds", "timeout-ms"]) {
    if (!(Number(options[name]) > 0)) throw new Error(`--${name} must be positive`);
  }
} catch (error) {
  report.reason = `Usage: ${error.message}`;
  finish(2);
}

const { deadline, remaining, step, launch, close } = browserSession(report, options, finish);

// The page: plays the URL it is given and records each presented frame.
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>glass</title>
<video id="video" muted playsinline></video>
<script src="hls.js"></script>
<script>
"use strict";
const wall = (t) => performance.timeOrigin + t;
window.glass = { frames: [], waiting: [], hls: [], errors: [], firstFrameAt: null, clock: [] };
window.startGlass = (url, bits) => {
  const g = window.glass;
  const video = document.getElementById("video");
  const canvas = document.createElement("canvas");
  let context = null;
  video.addEventListener("waiting", () => g.waiting.push(wall(performance.now())));
  const hls = new Hls();
  window.hls = hls;
  hls.on(Hls.Events.ERROR, (_, data) => {
    g.errors.push({ at: wall(performance.now()), fatal: data.fatal, details: data.details });
  });
  hls.loadSource(url);
  hls.attachMedia(video);
  video.play().catch((error) => g.errors.push({ at: wall(performance.now()), fatal: true, details: String(error) }));
  const readNumber = () => {
    const width = video.videoWidth;
    const height = video.videoHeight;
    if (context === null || canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
      context = canvas.getContext("2d", { willReadFrequently: true });
    }
    context.drawImage(video, 0, 0, width, height);
    const top = context.getImageData(0, Math.floor(height / 4), width, 1).data;
    const bottom = context.getImageData(0, Math.floor(height * 3 / 4), width, 1).data;
    let number = 0;
    for (let bit = 0; bit < bits; bit++) {
      const x = Math.floor((bit + 0.5) * width / bits) * 4;
      const high = top[x + 1] > 128;
      if (high === bottom[x + 1] > 128) return -1;
      if (high) number += 2 ** bit;
    }
    return number;
  };
  const onFrame = (now, meta) => {
    const number = video.videoWidth > 0 ? readNumber() : -1;
    if (g.firstFrameAt === null) g.firstFrameAt = wall(meta.expectedDisplayTime);
    g.frames.push([number, wall(meta.expectedDisplayTime), wall(meta.presentationTime), meta.mediaTime, meta.presentedFrames]);
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
  setInterval(() => {
    // The page's two wall clocks, to check they agree (Date.now() is the system's).
    g.clock.push(Date.now() - wall(performance.now()));
    const details = hls.latestLevelDetails ?? hls.levels?.[hls.currentLevel]?.details ?? null;
    g.hls.push({
      at: wall(performance.now()),
      latency: hls.latency,
      targetLatency: hls.targetLatency,
      drift: hls.drift,
      playbackRate: video.playbackRate,
      buffered: video.buffered.length > 0 ? video.buffered.end(video.buffered.length - 1) - video.currentTime : 0,
    });
    if (details !== null) {
      g.playlist = {
        lowLatencyMode: hls.config.lowLatencyMode,
        targetduration: details.targetduration,
        partTarget: details.partTarget ?? 0,
        parts: details.partList?.length ?? 0,
        canBlockReload: details.canBlockReload ?? false,
        canSkipUntil: details.canSkipUntil ?? 0,
        holdBack: details.holdBack ?? 0,
        partHoldBack: details.partHoldBack ?? 0,
        segments: details.fragments?.length ?? 0,
      };
    }
  }, 500);
};
</script>`;

try {
  step("fetch hls.js");
  const hlsResponse = await fetch(options.hlsjs, { signal: AbortSignal.timeout(remaining()) });
  if (hlsResponse.status !== 200) throw new Error(`GET ${options.hlsjs}: ${hlsResponse.status}`);
  const hlsJs = await hlsResponse.text();

  const { page, problems } = await launch({
    args: ["--autoplay-policy=no-user-gesture-required"],
    viewport: { width: 640, height: 480 },
  });

  step("open the page");
  const origin = new URL(options.url).origin;
  await page.route(`${origin}/__glass/**`, (route) => {
    const name = new URL(route.request().url()).pathname.split("/").at(-1);
    if (name === "index.html") {
      return route.fulfill({ status: 200, contentType: "text/html", body: PAGE });
    }
    if (name === "hls.js") {
      return route.fulfill({ status: 200, contentType: "text/javascript", body: hlsJs });
    }
    return route.fulfill({ status: 404, body: "" });
  });
  const response = await page.goto(`${origin}/__glass/index.html`, {
    waitUntil: "load",
    timeout: remaining(),
  });
  if (response?.status() !== 200) throw new Error(`The page answered ${response?.status()}`);
  // From here on every request goes to the server as the player makes it.
  await page.unrouteAll({ behavior: "wait" });
  const mse = await page.evaluate(() =>
    typeof MediaSource === "function" &&
    MediaSource.isTypeSupported('video/mp4; codecs="avc1.42E01E"')
  );
  if (!mse) throw new Error("This chromium has no H.264 through Media Source Extensions");
  report.hlsJsVersion = await page.evaluate(() => globalThis.Hls?.version ?? null);

  step("play");
  report.startedAt = Date.now();
  await page.evaluate(([url, bits]) => globalThis.startGlass(url, bits), [
    options.url,
    Number(options.bits),
  ]);

  step("wait for the first frame");
  await page.waitForFunction(() => globalThis.glass.firstFrameAt !== null, null, {
    timeout: remaining(),
    polling: 100,
  });
  const firstFrameAt = await page.evaluate(() => globalThis.glass.firstFrameAt);

  step("record frames");
  const until = firstFrameAt + Number(options.seconds) * 1000;
  while (Date.now() < until && Date.now() < deadline) {
    await page.waitForTimeout(Math.min(1000, Math.max(1, until - Date.now())));
    const fatal = await page.evaluate(() => globalThis.glass.errors.find((error) => error.fatal));
    if (fatal) throw new Error(`hls.js: ${fatal.details}`);
  }
  if (Date.now() < until) throw new Error("Out of time before the window's end");

  step("collect");
  Object.assign(
    report,
    await page.evaluate(() => {
      const video = document.getElementById("video");
      const quality = video.getVideoPlaybackQuality();
      return {
        ...globalThis.glass,
        quality: {
          totalVideoFrames: quality.totalVideoFrames,
          droppedVideoFrames: quality.droppedVideoFrames,
        },
        videoSize: [video.videoWidth, video.videoHeight],
      };
    }),
  );
  if (problems.length > 0) throw new Error(problems.join("; "));
  step("done");
  report.ok = true;
} catch (error) {
  report.reason = `${report.step}: ${String(error.message ?? error).split("\n")[0]}`;
} finally {
  await close();
}
finish(report.ok ? 0 : 1);
