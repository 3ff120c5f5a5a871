// Plays a stream in the dashboard's preview in headless Debian chromium,
// driven by playwright-core: enters the API token, waits for the stream's
// row, checks what this chromium decodes (H.264 in MP4 and through Media
// Source Extensions, which hls.js needs), clicks Play, and waits until the
// video's currentTime has advanced past --min-seconds and a frame drawn
// from it onto a canvas is not blank (its pixels vary); then clicks Close
// and checks the video was let go. With --no-media, checks instead that the
// Play button is disabled and says why. Prints one JSON line with what it saw;
// exits 0 when everything held, 1 with a reason when not, 2 on a usage error.
//
//   node tests/browser/preview_check.mjs --port PORT --stream NAME [--token TOKEN]
//     [--no-media] [--screenshot PATH] [--host 127.0.0.1] [--min-seconds 1] [--timeout-ms 20000]
//     [--chromium /usr/bin/chromium]
//
// The token may come from ATOLL_API_TOKEN instead of --token (kept out of ps).

import { startBrowserCheck } from "./common.mjs";

const { report, options, url, deadline, remaining, step, launch, close, finish } =
  startBrowserCheck({
    extraOptions: {
      "no-media": { type: "boolean", default: false },
      "min-seconds": { type: "string", default: "1" },
    },
    validate: (options) => {
      if (!(Number(options["min-seconds"]) > 0)) throw new Error("--min-seconds must be positive");
    },
  });

/** The page's last requests, for the report: what it asked the media port. */
const requests = [];

/**
 * The preview's state, and its current frame drawn onto a canvas: how much
 * its pixels vary (a blank or single-colour frame does not).
 */
function readVideo(page) {
  return page.evaluate(() => {
    const video = document.getElementById("preview-video");
    if (!(video instanceof HTMLVideoElement)) return null;
    const state = {
      player: video.dataset.player ?? null,
      currentTime: video.currentTime,
      readyState: video.readyState,
      paused: video.paused,
      muted: video.muted,
      width: video.videoWidth,
      height: video.videoHeight,
      src: video.currentSrc,
      error: video.error ? `${video.error.code} ${video.error.message}` : null,
      message: document.getElementById("preview-message")?.textContent ?? "",
      tracks: document.getElementById("preview-tracks")?.textContent ?? "",
      frame: null,
    };
    if (video.videoWidth > 0 && video.readyState >= 2) {
      const canvas = document.createElement("canvas");
      canvas.width = 64;
      canvas.height = 48;
      const context = canvas.getContext("2d", { willReadFrequently: true });
      context.drawImage(video, 0, 0, canvas.width, canvas.height);
      const { data } = context.getImageData(0, 0, canvas.width, canvas.height);
      const colours = new Set();
      let sum = 0;
      let squares = 0;
      const pixels = data.length / 4;
      for (let i = 0; i < data.length; i += 4) {
        const luma = 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2];
        sum += luma;
        squares += luma * luma;
        colours.add((data[i] >> 4) << 8 | (data[i + 1] >> 4) << 4 | data[i + 2] >> 4);
      }
      const mean = sum / pixels;
      state.frame = {
        meanLuma: Math.round(mean * 10) / 10,
        lumaStdDev: Math.round(Math.sqrt(Math.max(0, squares / pixels - mean * mean)) * 10) / 10,
        colours: colours.size,
      };
    }
    return state;
  });
}

/**
 * Clicks Play, waits for the video to play past --min-seconds with a frame
 * that is not blank, then clicks Close and checks the video was let go.
 */
async function playAndClose(page, play) {
  step("wait for the stream's Play button");
  await page.waitForFunction(
    (name) =>
      [...document.querySelectorAll("#streams-body button")].some((button) =>
        button.getAttribute("aria-label") === `Play stream ${name}` && !button.disabled
      ),
    options.stream,
    { timeout: remaining(), polling: 100 },
  );
  report.playTitle = await play.getAttribute("title");

  step("click Play");
  const clickedAt = Date.now();
  await play.click({ timeout: remaining() });

  step("wait for currentTime to advance and a frame to show");
  const minSeconds = Number(options["min-seconds"]);
  let seen = null;
  while (Date.now() < deadline) {
    seen = await readVideo(page);
    if (seen?.currentTime > minSeconds && seen.frame && seen.frame.lumaStdDev > 10) break;
    await page.waitForTimeout(200);
  }
  report.video = seen;
  report.playedAfterMs = Date.now() - clickedAt;
  if (!(seen?.currentTime > minSeconds)) {
    throw new Error(`currentTime stayed at ${seen?.currentTime} (${seen?.message})`);
  }
  if (!seen.frame || seen.frame.lumaStdDev <= 10 || seen.frame.colours < 4) {
    throw new Error(`The frame is blank: ${JSON.stringify(seen.frame)}`);
  }
  // A second look, a little later: it goes on playing.
  await page.waitForTimeout(Math.min(1000, remaining()));
  const later = await readVideo(page);
  report.later = { currentTime: later?.currentTime, paused: later?.paused };
  if (!(later?.currentTime > seen.currentTime)) throw new Error("currentTime stopped advancing");
  if (options.screenshot) await page.screenshot({ path: options.screenshot });

  step("click Close");
  await page.locator("#preview-close").click({ timeout: remaining() });
  // load() with no source passes through NETWORK_NO_SOURCE until the browser's next stable
  // state, then settles at NETWORK_EMPTY: wait for that, bounded, then read what is left.
  await page.waitForFunction(
    () => document.getElementById("preview-video")?.networkState === 0,
    null,
    { timeout: Math.min(2000, remaining()) },
  ).catch(() => {});
  report.closed = await page.evaluate(() => {
    const video = document.getElementById("preview-video");
    return {
      panelHidden: document.getElementById("preview")?.hidden ?? null,
      src: video?.getAttribute("src") ?? null,
      paused: video?.paused ?? null,
      // NETWORK_EMPTY and HAVE_NOTHING: no media attached, nothing buffered.
      networkState: video?.networkState ?? null,
      readyState: video?.readyState ?? null,
    };
  });
  const closed = report.closed;
  if (
    !closed.panelHidden || !closed.paused || closed.src !== null || closed.networkState !== 0 ||
    closed.readyState !== 0
  ) {
    throw new Error(`Close left the video playing: ${JSON.stringify(report.closed)}`);
  }
}

try {
  const { page, problems } = await launch({
    // Muted video may autoplay anyway; this keeps a headless run from depending on it.
    args: ["--autoplay-policy=no-user-gesture-required"],
    viewport: { width: 1280, height: 800 },
  });
  page.on("requestfinished", async (request) => {
    const response = await request.response().catch(() => null);
    requests.push(`${response?.status() ?? "?"} ${request.url()}`);
  });
  page.on("requestfailed", (request) => {
    requests.push(`failed ${request.url()}: ${request.failure()?.errorText}`);
  });

  step("open the page");
  const response = await page.goto(url, { waitUntil: "load", timeout: remaining() });
  report.csp = response?.headers()["content-security-policy"] ?? null;
  if (response?.status() !== 200) throw new Error(`GET / answered ${response?.status()}`);

  step("check what this chromium decodes");
  report.codecs = await page.evaluate(() => {
    const video = document.createElement("video");
    return {
      mp4H264: video.canPlayType('video/mp4; codecs="avc1.42E01E"'),
      nativeHls: video.canPlayType("application/vnd.apple.mpegurl"),
      mseH264: typeof MediaSource === "function" &&
        MediaSource.isTypeSupported('video/mp4; codecs="avc1.42E01E"'),
    };
  });
  if (!report.codecs.mseH264) {
    throw new Error(
      "This chromium has no H.264 through Media Source Extensions: hls.js cannot play here",
    );
  }

  step("enter the API token");
  await page.getByLabel("API token").fill(options.token, { timeout: remaining() });
  await page.getByRole("button", { name: "Use token" }).click({ timeout: remaining() });

  const play = page.getByRole("button", { name: `Play stream ${options.stream}`, exact: true });
  if (options["no-media"]) {
    step("wait for the stream's disabled Play button");
    // Rows appear with Play disabled; the first poll's data has the stream's publisher.
    await page.waitForFunction(
      (name) =>
        [...document.querySelectorAll("#streams-body tr")].some((row) =>
          row.dataset.stream === name &&
          row.querySelector('[data-field="publisher"]')?.textContent !== "none"
        ),
      options.stream,
      { timeout: remaining(), polling: 100 },
    );
    report.play = { disabled: await play.isDisabled(), title: await play.getAttribute("title") };
    if (!report.play.disabled) throw new Error("Play is enabled without a media port");
  }

  if (!options["no-media"]) await playAndClose(page, play);
  if (problems.length > 0) throw new Error(problems.join("; "));
  step("done");
  report.ok = true;
} catch (error) {
  report.reason = `${report.step}: ${error.message.split("\n")[0]}`;
} finally {
  report.requests = requests.slice(-30);
  await close();
}
finish(report.ok ? 0 : 1);
