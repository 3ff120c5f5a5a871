/**
 * Three viewers of one stream that can tell whether they lost a packet:
 * two srt-live-transmit viewers record exactly what they receive (their
 * recordings' continuity counters are checked packet by packet), and one
 * ffmpeg viewer whose own demuxer reports every continuity jump (at debug
 * level) while it records.
 *
 * @module
 */

import { findContinuityErrors } from "../../src/media/continuity.ts";
import { TS_PACKET_SIZE } from "../../src/media/mpegts.ts";
import { ManagedProcess } from "./process.ts";
import { srtLiveTransmitViewer } from "./peers.ts";
import { waitFor } from "./wait.ts";

/** The size of `path` in bytes, 0 while it does not exist. */
export function sizeOf(path: string): number {
  try {
    return Deno.statSync(path).size;
  } catch {
    return 0;
  }
}

/** What one viewer got, once stopped. */
export interface ViewerReport {
  name: string;
  bytes: number;
  /** Continuity jumps in what it received: 0 when it lost no packet. */
  continuityErrors: number;
}

export class Audience implements AsyncDisposable {
  readonly recordings: string[];
  #viewers: ManagedProcess[];
  #ffmpegFile: string;

  private constructor(viewers: ManagedProcess[], recordings: string[], ffmpegFile: string) {
    this.#viewers = viewers;
    this.recordings = recordings;
    this.#ffmpegFile = ffmpegFile;
  }

  /** Starts the three viewers of `stream` on Atoll's SRT `port`, recording into `dir`. */
  static start(port: number, stream: string, dir: string): Audience {
    const recordings = [`${dir}/viewer-1.ts`, `${dir}/viewer-2.ts`];
    const viewers = recordings.map((path) =>
      srtLiveTransmitViewer(port, `#!::r=${stream},m=request`, path)
    );
    const ffmpegFile = `${dir}/viewer-ffmpeg.ts`;
    viewers.push(ManagedProcess.start("ffmpeg viewer", "ffmpeg", [
      ...["-hide_banner", "-v", "debug", "-y"],
      ...["-i", `srt://127.0.0.1:${port}?streamid=#!::r=${stream},m=request`],
      ...["-map", "0", "-c", "copy", "-f", "mpegts", ffmpegFile],
    ]));
    return new Audience(viewers, recordings, ffmpegFile);
  }

  /** Whether every viewer is still running. */
  get running(): boolean {
    return this.#viewers.every((viewer) => !viewer.exited);
  }

  /** Waits until every viewer's recording has grown by `bytes` from now. */
  async grow(bytes: number, what: string, timeoutMs = 5000): Promise<void> {
    const files = [...this.recordings, this.#ffmpegFile];
    const from = files.map(sizeOf);
    await waitFor(what, () => files.every((file, i) => sizeOf(file) >= from[i]! + bytes), {
      timeoutMs,
    });
  }

  /** Stops every viewer and says what each got. */
  async stop(): Promise<ViewerReport[]> {
    for (const viewer of this.#viewers) viewer.signal("SIGINT");
    await Promise.all(this.#viewers.map((viewer) => viewer.exit(5000)));
    const reports = this.recordings.map((path, i) => {
      const bytes = Deno.readFileSync(path);
      const whole = bytes.subarray(0, bytes.length - (bytes.length % TS_PACKET_SIZE));
      return {
        name: `srt-live-transmit ${i + 1}`,
        bytes: bytes.length,
        continuityErrors: findContinuityErrors(whole).length,
      };
    });
    const ffmpeg = this.#viewers.at(-1)!;
    reports.push({
      name: "ffmpeg",
      bytes: sizeOf(this.#ffmpegFile),
      continuityErrors: ffmpeg.lines.filter((line) => line.includes("Continuity check failed"))
        .length,
    });
    return reports;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const viewer of this.#viewers) viewer.kill();
    await Promise.all(this.#viewers.map((viewer) => viewer.exit()));
  }
}
