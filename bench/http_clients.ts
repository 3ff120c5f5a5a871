/**
 * HTTP media clients for the HTTP bench (bench/http.ts): many HTTP-TS
 * readers or HLS players in one process, all on one URL, for a fixed time.
 *
 *     deno run -A bench/http_clients.ts --url http://127.0.0.1:8081/bench/live.ts --mode ts \
 *       --count 50 --seconds 20 [--measure]
 *
 * - `ts`: each client GETs the stream and drains the body (it reconnects
 *   after 500 ms if the body ends or the request fails, counted as errors).
 * - `hls`: each client polls the media playlist like a live player, every
 *   half target duration (the first poll at a random point of that, so 200
 *   clients are not in lockstep); on its first load it fetches only the
 *   newest segment, then every segment that appears, in order. `--poll-ms`
 *   polls at that interval instead (100 ms: when a segment became
 *   available, give or take 100 ms, whatever the player's phase).
 *
 * With `--measure`, client 0 also notes the PTS of every video frame it
 * receives and when, on the clock of bench/sender.ts (`sharedClockMs`): a
 * TS frame when its first packet arrives, an HLS frame when the whole
 * segment holding it has arrived (send → available to a player). Only
 * segments first listed after the client's first playlist load count.
 *
 * Prints one JSON `report` line when the time is up, then exits.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { sharedClockMs } from "./sender.ts";
import { percentile } from "./summary.ts";
import { VideoPtsScanner } from "./ts_time.ts";

export interface HttpClientsReport {
  type: "report";
  mode: "ts" | "hls";
  count: number;
  /** Non-200 responses and failed requests or bodies, by status (0: network error). */
  errors: Record<string, number>;
  /** Playlist and segment requests that succeeded. */
  playlists: number;
  segments: number;
  bytes: number;
  /** Segment request to its body's end, ms, over every client. */
  segmentFetchMs: { count: number; p50: number; p95: number; max: number } | null;
  /** Playlist request to its body's end, ms. */
  playlistFetchMs: { count: number; p50: number; p95: number; max: number } | null;
  /** With `--measure`: `[pts, arrivedAtMs]` per video frame, client 0. */
  arrivals: [number, number][];
  /** With `--measure`, HLS: each measured segment's first and last PTS and arrival. */
  segmentArrivals: [number, number, number][];
}

function figures(values: number[]): HttpClientsReport["segmentFetchMs"] {
  if (values.length === 0) return null;
  const round = (value: number) => Math.round(value * 10) / 10;
  return {
    count: values.length,
    p50: round(percentile(values, 50)),
    p95: round(percentile(values, 95)),
    max: round(Math.max(...values)),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      url: { type: "string" },
      mode: { type: "string", default: "hls" },
      count: { type: "string", default: "1" },
      seconds: { type: "string", default: "20" },
      measure: { type: "boolean", default: false },
      "poll-ms": { type: "string" },
    },
    strict: true,
  });
  const count = Number(values.count);
  const seconds = Number(values.seconds);
  const mode = values.mode;
  if (
    values.url === undefined || (mode !== "ts" && mode !== "hls") ||
    !(count >= 1 && count <= 500 && seconds > 0 && seconds <= 600)
  ) {
    throw new RangeError(
      "Usage: http_clients.ts --url URL --mode ts|hls --count N (≤ 500) --seconds S (≤ 600)",
    );
  }
  const url = values.url;
  const pollMs = values["poll-ms"] === undefined ? undefined : Number(values["poll-ms"]);
  if (pollMs !== undefined && !(pollMs >= 10 && pollMs <= 10_000)) {
    throw new RangeError(`--poll-ms must be 10 to 10000, not ${values["poll-ms"]}`);
  }
  const stopAt = performance.now() + seconds * 1000;
  const stop = new AbortController();
  // Every wait races this too: an aborted fetch does not always end a body being read.
  const stopped = new Promise<undefined>((resolve) =>
    stop.signal.addEventListener("abort", () => resolve(undefined))
  );
  const timer = setTimeout(() => stop.abort(), seconds * 1000);
  const report: HttpClientsReport = {
    type: "report",
    mode,
    count,
    errors: {},
    playlists: 0,
    segments: 0,
    bytes: 0,
    segmentFetchMs: null,
    playlistFetchMs: null,
    arrivals: [],
    segmentArrivals: [],
  };
  const segmentMs: number[] = [];
  const playlistMs: number[] = [];
  const error = (status: number) => {
    if (stop.signal.aborted) return;
    report.errors[status] = (report.errors[status] ?? 0) + 1;
  };

  /** GETs `target` and reads its body; undefined on an error (counted). */
  const fetchAll = async (target: string): Promise<Uint8Array | undefined> => {
    try {
      const response = await Promise.race([fetch(target, { signal: stop.signal }), stopped]);
      if (response === undefined) return undefined;
      if (response.status !== 200) {
        await response.body?.cancel();
        error(response.status);
        return undefined;
      }
      const body = await Promise.race([response.arrayBuffer(), stopped]);
      if (body === undefined) return undefined;
      const bytes = new Uint8Array(body);
      report.bytes += bytes.byteLength;
      return bytes;
    } catch {
      error(0);
      return undefined;
    }
  };

  const tsClient = async (measure: boolean) => {
    while (!stop.signal.aborted) {
      try {
        const response = await Promise.race([fetch(url, { signal: stop.signal }), stopped]);
        if (response === undefined) break;
        if (response.status !== 200 || response.body === null) {
          await response.body?.cancel();
          error(response.status);
        } else {
          const scanner = new VideoPtsScanner();
          const reader = response.body.getReader();
          for (;;) {
            const read = await Promise.race([reader.read(), stopped]);
            if (read === undefined || read.done) {
              reader.cancel().catch(() => {});
              break;
            }
            report.bytes += read.value.byteLength;
            if (!measure) continue;
            const now = sharedClockMs();
            for (const pts of scanner.push(read.value)) report.arrivals.push([pts, now]);
          }
          error(0); // the body ended before the time was up (not counted after)
        }
      } catch {
        error(0);
      }
      if (!stop.signal.aborted) await sleep(500);
    }
  };

  const hlsClient = async (measure: boolean) => {
    const seen = new Set<string>();
    let first = true;
    let halfTarget = pollMs ?? 1000;
    await sleep(Math.random() * halfTarget);
    while (!stop.signal.aborted) {
      const polled = performance.now();
      const playlist = await fetchAll(url);
      if (playlist !== undefined) {
        playlistMs.push(performance.now() - polled);
        report.playlists++;
        const text = new TextDecoder().decode(playlist);
        const target = /#EXT-X-TARGETDURATION:(\d+)/.exec(text);
        if (target !== null) halfTarget = pollMs ?? Number(target[1]) * 500;
        const uris = text.split("\n").map((line) => line.trim())
          .filter((line) => line !== "" && !line.startsWith("#"));
        const fresh = uris.filter((uri) => !seen.has(uri));
        for (const uri of uris) seen.add(uri);
        const wanted = first ? fresh.slice(-1) : fresh;
        for (const uri of wanted) {
          if (stop.signal.aborted) break;
          const started = performance.now();
          const segment = await fetchAll(new URL(uri, url).href);
          if (segment === undefined) continue;
          segmentMs.push(performance.now() - started);
          report.segments++;
          if (measure && !first) {
            const arrived = sharedClockMs();
            const pts = new VideoPtsScanner().push(segment);
            for (const value of pts) report.arrivals.push([value, arrived]);
            if (pts.length > 0) {
              report.segmentArrivals.push([Math.min(...pts), Math.max(...pts), arrived]);
            }
          }
        }
        first = false;
      }
      await sleep(Math.min(halfTarget - (performance.now() - polled), stopAt - performance.now()));
    }
  };

  const client = mode === "ts" ? tsClient : hlsClient;
  await Promise.all(Array.from({ length: count }, (_, n) => client(values.measure && n === 0)));
  clearTimeout(timer);
  report.segmentFetchMs = figures(segmentMs);
  report.playlistFetchMs = figures(playlistMs);
  console.log(JSON.stringify(report));
  return 0;
}

if (import.meta.main) Deno.exit(await main());
