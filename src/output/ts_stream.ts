/**
 * One HTTP-TS client: the stream's MPEG-TS as SRT viewers get it (a
 * {@link StreamFollower}: PAT and PMT first at a key frame, parameter sets
 * where needed, continuity kept), written as fast as the client takes it
 * and no faster.
 *
 * Backpressure is the design: the buffer is read only when the last write
 * has gone into the kernel. A client that reads slowly, or stops, makes
 * this loop wait on its socket, never buffer; it falls behind in the
 * stream's ring, and once it reads again it skips ahead to the newest key
 * frame exactly like a slow SRT viewer, counted in the stream's skips. A
 * client whose socket takes nothing for {@link STALL_TIMEOUT_MS} is cut off,
 * so a hostile one cannot hold a connection slot forever.
 *
 * @module
 */

import { FollowerBatch } from "../media/follower_batch.ts";
import { StreamFollower } from "../media/stream_follower.ts";
import type { Feed } from "./feeds.ts";
/** A write that takes nothing for this long ends the response. */
export const STALL_TIMEOUT_MS = 30_000;

/** The byte stream a response is written to (a Deno.Conn). */
export interface ResponseSink {
  write(bytes: Uint8Array): Promise<number>;
  close(): void;
}

/**
 * Writes `feed`'s stream to `sink` until the feed ends, the client goes
 * (`client.gone` turns true; noticed at the next wakeup, within about a
 * second) or stalls, or a write fails. The response head is already sent.
 */
export async function streamTs(
  sink: ResponseSink,
  feed: Feed,
  client: { readonly gone: boolean },
  options: { stallTimeoutMs?: number } = {},
): Promise<void> {
  const stallTimeoutMs = options.stallTimeoutMs ?? STALL_TIMEOUT_MS;
  const follower = StreamFollower.attach(feed.buffer);
  const batch = new FollowerBatch();
  let skipsCounted = 0;
  while (!feed.ended && !client.gone) {
    const seen = follower.wakeValue;
    while (!batch.full) {
      const step = follower.next();
      if (step.kind === "none") break;
      if (step.kind !== "message") continue;
      batch.append(step);
    }
    if (follower.skips !== skipsCounted) {
      feed.skips += follower.skips - skipsCounted;
      skipsCounted = follower.skips;
    }
    if (batch.length === 0) {
      // Read the wake word before reading the buffer: a write since then has changed it.
      if (follower.wakeValue === seen) await feed.changed(seen);
      continue;
    }
    if (!await writeAll(sink, batch.bytes, stallTimeoutMs)) return;
    feed.bytesSent += batch.length;
    batch.clear();
  }
}

/** Writes all of `bytes`; false when the sink failed or took nothing for `stallTimeoutMs`. */
export async function writeAll(
  sink: ResponseSink,
  bytes: Uint8Array,
  stallTimeoutMs: number,
): Promise<boolean> {
  let offset = 0;
  while (offset < bytes.length) {
    // Closing the sink makes the pending write fail.
    const timer = setTimeout(() => sink.close(), stallTimeoutMs);
    try {
      offset += await sink.write(bytes.subarray(offset));
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }
  return true;
}
