import assert from "node:assert/strict";
import { createSharedMemory, futexWake, SharedMapping } from "../../ffi/shm.ts";
import { openSocketPair, receiveWithFd, sendMessage } from "../../ffi/socket.ts";
import type { HlsRules } from "../ipc/output_messages.ts";
import { TS_PACKET_SIZE, TsInspector } from "../media/mpegts.ts";
import {
  initializeStreamBuffer,
  MessageFlags,
  StreamBuffer,
  StreamWriter,
  WAKE_WORD_OFFSET,
} from "../media/stream_buffer.ts";
import { FeedTable } from "./feeds.ts";
import { firstSegmentWaitMs, idleTimeoutMs } from "./hls.ts";
import { serveMedia } from "./media_server.ts";
// 10 s of H.264 and AAC, a key frame every second (src/media/testdata/README.md).
import TEN_SECONDS from "../media/testdata/h264_aac_10s.m2ts" with { type: "bytes" };

const MESSAGE_BYTES = 7 * TS_PACKET_SIZE;
const LAYOUT = StreamBuffer.layout({ slots: 512, slotPayload: MESSAGE_BYTES });
const ALWAYS: HlsRules = { mode: "always", segmentMs: 2000, window: 6, partMs: 0 };
/** When the publisher "received" the sample's first byte (µs on the wall clock); one µs a byte. */
const RECEIVED_US = Date.UTC(2026, 10, 30, 12) * 1000;
const ON_DEMAND: HlsRules = { mode: "on-demand", segmentMs: 2000, window: 3, partMs: 0 };

/** A clock the test moves. */
function clock() {
  let ms = 1_000_000;
  return { now: () => ms, advance: (by: number) => ms += by };
}

/**
 * A stream buffer in shared memory, served as `name`, and its publishers:
 * each writes the sample as a publisher's child would (inspected, key
 * frames marked), then wakes the readers.
 */
async function stream(feeds: FeedTable, name: string, hls: HlsRules) {
  const memory = createSharedMemory(`test:${name}`, LAYOUT.bytes);
  const mapping = SharedMapping.map(memory.fd, LAYOUT.bytes);
  initializeStreamBuffer(mapping.buffer, LAYOUT);
  const [here, there] = openSocketPair();
  try {
    sendMessage(here.fd, new TextEncoder().encode("stream"), memory.fd);
    const received = await receiveWithFd(there.fd);
    await feeds.add(name, received!.fd!, { bytes: LAYOUT.bytes, hls });
  } finally {
    here.close();
    there.close();
  }
  /** A new publisher (a new writer generation); each `write` goes on where the last one ended. */
  const begin = () => {
    const writer = StreamWriter.attach(mapping.buffer);
    const inspector = new TsInspector();
    let version = 0;
    let at = 0;
    return (ts: Uint8Array) => {
      for (let o = 0; o < ts.length; o += MESSAGE_BYTES, at += MESSAGE_BYTES) {
        const packets = ts.subarray(o, Math.min(o + MESSAGE_BYTES, ts.length));
        const flags = inspector.inspect(packets);
        if (inspector.programInfoVersion !== version) {
          version = inspector.programInfoVersion;
          const info = inspector.programInfo();
          if (info !== undefined) writer.setProgramInfo(info);
        }
        const lag = inspector.randomAccessLag;
        if ((flags & MessageFlags.RandomAccess) !== 0 && lag > 0) {
          const number = writer.write(
            packets,
            flags & ~MessageFlags.RandomAccess,
            RECEIVED_US + at,
          );
          writer.markRandomAccess((number - lag) >>> 0);
        } else writer.write(packets, flags, RECEIVED_US + at);
      }
      futexWake(mapping, WAKE_WORD_OFFSET);
    };
  };
  return {
    /** A new publisher (a new writer generation) that writes `ts`. */
    publish(ts: Uint8Array = TEN_SECONDS) {
      begin()(ts);
    },
    begin,
    [Symbol.dispose]() {
      mapping.close();
      memory.close();
    },
  };
}

/** The media server on a free loopback port, shut down when disposed. */
function serveOnLoopback(feeds: FeedTable) {
  const media = serveMedia(
    {
      listen: { hostname: "127.0.0.1", port: 0 },
      maxConnections: 10,
      headerTimeoutMs: 5000,
      allowedHosts: [],
    },
    feeds,
    { log: () => {} },
  );
  return Object.assign(media, { [Symbol.asyncDispose]: () => media.shutdown() });
}

async function until(what: string, check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`Timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function playlistText(answer: Awaited<ReturnType<FeedTable["hls"]["playlist"]>>): string {
  assert.equal(answer.kind, "playlist");
  return (answer as { text: string }).text;
}

/** The listed segments' sequence numbers. */
function listed(text: string): number[] {
  return [...text.matchAll(/^seg,([0-9]+)\.ts$/gm)].map((match) => Number(match[1]));
}

Deno.test("HLS of an always stream: segments from the start, cut at key frames, each decodable on its own", async () => {
  const feeds = new FeedTable({ wallClock: () => 1_700_000_000_000 });
  using publisher = await stream(feeds, "live/a", ALWAYS);
  assert.ok(feeds.hls.packaging("live/a"), "packaged before any request");
  publisher.publish();
  // 10 s with a key frame every second: cuts every 2 s, the last segment still open.
  await until("4 segments are made", () => feeds.hls.stats("live/a").hlsSegments === 4);
  const text = playlistText(await feeds.hls.playlist("live/a", { client: "10.0.0.1" }));
  // Sequence numbers start at the wall clock in tenths of a second.
  const first = 17_000_000_000;
  assert.match(text, /^#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n/);
  assert.match(text, new RegExp(`#EXT-X-MEDIA-SEQUENCE:${first}\n`));
  assert.deepEqual(listed(text), [first, first + 1, first + 2, first + 3]);
  assert.equal(text.match(/#EXTINF:2\.000,/g)?.length, 4);
  assert.doesNotMatch(text, /#EXT-X-ENDLIST|#EXT-X-DISCONTINUITY\n/);
  for (const sequence of listed(text)) {
    const segment = feeds.hls.segment("live/a", sequence, "10.0.0.2")!;
    const inspector = new TsInspector();
    // The PAT first, then the PMT, then a key frame.
    assert.equal((segment.bytes[1]! & 0x1f) << 8 | segment.bytes[2]!, 0);
    assert.ok(segment.independent);
    inspector.inspect(segment.bytes);
    assert.ok(inspector.randomAccessPoints >= 1, `segment ${sequence} has a key frame`);
  }
  assert.equal(feeds.hls.segment("live/a", first + 4, "10.0.0.2"), undefined, "not made yet");
  assert.deepEqual(feeds.stats()[0], {
    name: "live/a",
    clients: 0,
    bytesSent: 0,
    skips: 0,
    hlsClients: 2,
    hlsSegments: 4,
    hlsBytesSent: 0,
  });
  await feeds.endAll();
});

Deno.test("HLS of an on-demand stream: nothing until asked, then the first request waits for a segment", async () => {
  const feeds = new FeedTable();
  using publisher = await stream(feeds, "live/a", ON_DEMAND);
  publisher.publish();
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.ok(!feeds.hls.packaging("live/a"));
  assert.equal(feeds.hls.stats("live/a").hlsSegments, 0);
  const asked = performance.now();
  const answer = feeds.hls.playlist("live/a", { client: "10.0.0.1" });
  assert.ok(feeds.hls.packaging("live/a"), "the request started it");
  setTimeout(() => publisher.publish(), 100);
  const text = playlistText(await answer);
  assert.ok(performance.now() - asked < firstSegmentWaitMs(ON_DEMAND));
  assert.ok(listed(text).length >= 1, text);
  assert.equal(feeds.hls.stats("live/a").hlsClients, 1);
  assert.equal((await feeds.hls.playlist("live/b", { client: "10.0.0.1" })).kind, "unknown");
  await feeds.endAll();
});

Deno.test("HLS of an on-demand stream stops when nobody asked for a while, and starts again where it was", async () => {
  const time = clock();
  const feeds = new FeedTable({ now: time.now });
  using publisher = await stream(feeds, "live/a", ON_DEMAND);
  const answer = feeds.hls.playlist("live/a", { client: "10.0.0.1" });
  publisher.publish();
  const before = listed(playlistText(await answer));
  time.advance(idleTimeoutMs(ON_DEMAND) - 1);
  publisher.publish();
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.ok(feeds.hls.packaging("live/a"), "not idle yet");
  time.advance(2);
  publisher.publish(); // wakes the packager, which finds itself idle
  await until("the packager stops", () => !feeds.hls.packaging("live/a"));
  const made = feeds.hls.stats("live/a").hlsSegments;
  assert.equal(feeds.hls.segment("live/a", before[0]!, "10.0.0.1"), undefined, "let go");
  // A new request: a new segmenter, whose numbers go on after the old one's.
  const again = feeds.hls.playlist("live/a", { client: "10.0.0.1" });
  setTimeout(() => publisher.publish(), 20);
  const after = listed(playlistText(await again));
  assert.ok(after[0]! >= before.at(-1)! + 1, `${after} after ${before}`);
  assert.ok(feeds.hls.stats("live/a").hlsSegments > made);
  await feeds.endAll();
});

Deno.test("HLS marks a takeover with a discontinuity, and an ended stream with ENDLIST until it is gone", async () => {
  const feeds = new FeedTable({ endedLingerMs: 100 });
  using publisher = await stream(feeds, "live/a", { ...ALWAYS, window: 10 });
  publisher.publish();
  await until("4 segments", () => feeds.hls.stats("live/a").hlsSegments === 4);
  publisher.publish(); // another publisher: another writer generation
  await until("9 segments", () => feeds.hls.stats("live/a").hlsSegments === 9);
  const text = playlistText(await feeds.hls.playlist("live/a", { client: "10.0.0.1" }));
  // The first publisher's open segment ended at the takeover.
  assert.equal(listed(text).length, 9);
  assert.match(
    text,
    /#EXTINF:2\.000,\nseg,[0-9]+\.ts\n#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:[^\n]+\n#EXTINF:2\.000,/,
  );
  assert.equal(text.match(/#EXT-X-DISCONTINUITY\n/g)?.length, 1);

  await feeds.end("live/a");
  const ended = playlistText(await feeds.hls.playlist("live/a", { client: "10.0.0.1" }));
  assert.match(ended, /#EXT-X-ENDLIST\n$/);
  assert.equal(listed(ended).length, 10, "the open segment is finished");
  const last = listed(ended).at(-1)!;
  assert.ok(feeds.hls.segment("live/a", last, "10.0.0.1") !== undefined);
  await until("the ended playlist is gone", () => feeds.hls.stats("live/a").hlsSegments === 0);
  assert.equal((await feeds.hls.playlist("live/a", { client: "10.0.0.1" })).kind, "unknown");
  assert.equal(feeds.hls.segment("live/a", last, "10.0.0.1"), undefined);
  await feeds.endAll();
});

Deno.test("HLS of a stream whose publisher sends nothing answers not-ready after the first segment's wait", async () => {
  const feeds = new FeedTable();
  using _publisher = await stream(feeds, "live/a", { ...ON_DEMAND, segmentMs: 1000 });
  const asked = performance.now();
  assert.deepEqual(await feeds.hls.playlist("live/a", { client: "10.0.0.1" }), {
    kind: "not-ready",
    retryAfterSeconds: 1,
  });
  const waited = performance.now() - asked;
  assert.ok(waited >= 3900 && waited < 5000, `${waited} ms`);
  await feeds.endAll();
});

Deno.test("serveMedia() answers an HLS playlist and its segments, HEAD too, and counts the bytes", async () => {
  const feeds = new FeedTable();
  await using media = serveOnLoopback(feeds);
  using publisher = await stream(feeds, "live/a", ALWAYS);
  publisher.publish();
  await until("4 segments", () => feeds.hls.stats("live/a").hlsSegments === 4);
  const base = `http://127.0.0.1:${media.addr.port}/live/a/`;
  const playlist = await fetch(`${base}index.m3u8`);
  assert.equal(playlist.status, 200);
  assert.equal(playlist.headers.get("content-type"), "application/vnd.apple.mpegurl");
  assert.equal(playlist.headers.get("cache-control"), "no-cache");
  const text = await playlist.text();
  const uris = text.split("\n").filter((line) => line.startsWith("seg,"));
  assert.equal(uris.length, 4);
  let sent = text.length;
  for (const uri of uris) {
    const segment = await fetch(new URL(uri, `${base}index.m3u8`));
    assert.equal(segment.status, 200);
    assert.equal(segment.headers.get("content-type"), "video/mp2t");
    assert.match(segment.headers.get("cache-control")!, /immutable/);
    const bytes = new Uint8Array(await segment.arrayBuffer());
    assert.equal(bytes.length % TS_PACKET_SIZE, 0);
    assert.equal(Number(segment.headers.get("content-length")), bytes.length);
    sent += bytes.length;
  }
  const head = await fetch(new URL(uris[0]!, base), { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), "");
  const gone = await fetch(`${base}seg,1.ts`);
  assert.equal(gone.status, 404);
  await gone.body?.cancel();
  await until("the bytes are counted", () => feeds.hls.stats("live/a").hlsBytesSent === sent);
  assert.equal(feeds.hls.stats("live/a").hlsClients, 1, "one address");
  await feeds.endAll();
});

Deno.test("low-latency HLS: a blocking reload and a hinted part wait for the part, then answer it", async () => {
  const feeds = new FeedTable();
  await using media = serveOnLoopback(feeds);
  using publisher = await stream(feeds, "live/a", { ...ALWAYS, partMs: 400 });
  const write = publisher.begin();
  // 4.5 s of the sample: two segments, and parts of the third.
  const half = Math.floor(TEN_SECONDS.length / TS_PACKET_SIZE * 0.45) * TS_PACKET_SIZE;
  write(TEN_SECONDS.subarray(0, half));
  await until("2 segments", () => feeds.hls.stats("live/a").hlsSegments === 2);
  const base = `http://127.0.0.1:${media.addr.port}/live/a/`;
  const text = await (await fetch(`${base}index.m3u8?token=t`)).text();
  assert.match(text, /\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1\.200\n/);
  assert.match(text, /\n#EXT-X-PART-INF:PART-TARGET=0\.400\n/);
  const hint = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part,([0-9]+)\.([0-9]+)\.ts\?token=t"\n$/
    .exec(text);
  assert.ok(hint !== null, text);
  const [msn, part] = [Number(hint[1]), Number(hint[2])];
  assert.ok(part > 0, "parts of the segment being made are listed");
  assert.match(
    text,
    new RegExp(
      `#EXT-X-PART:DURATION=0\\.400,URI="part,${msn}\\.0\\.ts\\?token=t",INDEPENDENT=YES\n`,
    ),
  );

  // Asked for the hinted part: neither answers until the publisher sends more.
  const reload = fetch(`${base}index.m3u8?token=t&_HLS_msn=${msn}&_HLS_part=${part}`);
  const hinted = fetch(`${base}part,${msn}.${part}.ts?token=t`);
  let answered = false;
  void Promise.race([reload, hinted]).then(() => answered = true);
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(answered, false, "held while the part is not made");
  write(TEN_SECONDS.subarray(half));
  const reloaded = await (await reload).text();
  assert.match(reloaded, new RegExp(`URI="part,${msn}\\.${part}\\.ts\\?token=t"`));
  assert.doesNotMatch(reloaded, /_HLS_/, "the directives are not passed on to the URIs");
  const partAnswer = await hinted;
  assert.equal(partAnswer.status, 200);
  assert.equal(partAnswer.headers.get("content-type"), "video/mp2t");
  const bytes = new Uint8Array(await partAnswer.arrayBuffer());
  assert.deepEqual(bytes, (await feeds.hls.part("live/a", msn, part, "x"))?.bytes);

  // Once segment msn is finished, its parts put end to end are the segment.
  await until("segment msn finished", () => feeds.hls.segment("live/a", msn, "x") !== undefined);
  const parts: Uint8Array[] = [];
  for (let i = 0;; i++) {
    const answer = await fetch(`${base}part,${msn}.${i}.ts`);
    if (answer.status === 404) {
      await answer.body?.cancel();
      break;
    }
    parts.push(new Uint8Array(await answer.arrayBuffer()));
  }
  assert.equal(parts.length, 5);
  const whole = new Uint8Array(await (await fetch(`${base}seg,${msn}.ts`)).arrayBuffer());
  assert.deepEqual(new Uint8Array(parts.flatMap((p) => [...p])), whole);

  // Too far ahead, or a directive that is not a number: 400 at once.
  const latest = await (await fetch(`${base}index.m3u8`)).text();
  const next = Number(/PRELOAD-HINT:TYPE=PART,URI="part,([0-9]+)\./.exec(latest)?.[1]);
  const tooFar = await fetch(`${base}index.m3u8?_HLS_msn=${next + 2}`);
  assert.equal(tooFar.status, 400);
  assert.match(await tooFar.text(), /more than one past the next/);
  // The page that asked may read the refusal (hls.js in the dashboard).
  const page = `http://127.0.0.1:${media.addr.port + 1}`;
  const bad = await fetch(`${base}index.m3u8?_HLS_part=1`, { headers: { origin: page } });
  assert.equal(bad.status, 400);
  assert.equal(bad.headers.get("access-control-allow-origin"), page);
  assert.match(await bad.text(), /_HLS_part needs _HLS_msn/);
  // More than 3 s of parts past the newest: the Advance Part Limit.
  const ahead = await fetch(`${base}index.m3u8?_HLS_msn=${next}&_HLS_part=40`);
  assert.equal(ahead.status, 400);
  assert.match(await ahead.text(), /parts past the newest/);
  // The stream sends nothing more: a reload for the segment after next is given up after 3
  // target durations, 503.
  const asked = performance.now();
  const stale = await fetch(`${base}index.m3u8?_HLS_msn=${next + 1}`);
  assert.equal(stale.status, 503);
  await stale.body?.cancel();
  const heldMs = performance.now() - asked;
  assert.ok(heldMs >= 5900 && heldMs < 7500, `${heldMs} ms for 3 target durations of 2 s`);
  // A part far from the live edge is not waited for.
  const far = await fetch(`${base}part,${next + 5}.0.ts`);
  assert.equal(far.status, 404);
  await far.body?.cancel();
  await feeds.endAll();
});
