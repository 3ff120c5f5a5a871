/**
 * A publisher's child after the handshake: receive SRT messages, put the
 * bytes back together into whole MPEG-TS packets, 7 to a message, whatever
 * the sender's message size (`TsReassembler`; bytes that are not packets are
 * discarded, counted in the buffer's header and logged once), tag each
 * message with what a joining viewer needs (random-access point, PAT, PMT,
 * the video's newest parameter sets), and write it once into the stream's
 * shared buffer, where every viewer's child reads it. Receives with the pattern of docs/design.md, "The receive
 * pattern": wait, drain synchronously, yield; viewers are woken once per
 * drained batch. The wait is a blocking receive on a pool thread, where
 * libsrt sleeps until a message is ready or the connection ends (an SRT
 * epoll wait would wake every 10 ms), so an idle publisher's child sleeps in
 * the kernel: no timer runs once its statistics stand still
 * (`StatsSchedule`), and a stop ends the wait at once. What the stream
 * carries (`TrackInfoCollector`: codecs, picture size, frame rate, sample
 * rate, channels) goes to the main process when it changes.
 *
 * @module
 */

import { SrtError, SrtOption } from "../../ffi/libsrt.ts";
import { futexWake } from "../../ffi/shm.ts";
import {
  type ConnectionEnd,
  endOf,
  type LoopContext,
  report,
  sharedClockUs,
  StatsSchedule,
} from "./reports.ts";
import { type ProgramMap, StreamType, TsInspector } from "../media/mpegts.ts";
import { ParameterSetCollector, VideoCodec } from "../media/parameter_sets.ts";
import { TrackInfoCollector } from "../media/track_info.ts";
import { discardNotice, TsReassembler } from "../media/ts_reassembler.ts";
import {
  MessageFlags,
  PARAMETER_SETS_CAPACITY,
  StreamWriter,
  WAKE_WORD_OFFSET,
} from "../media/stream_buffer.ts";

/** The yield after draining, so wakeups batch packets (docs/design.md, "The receive pattern"). */
export const RECEIVE_YIELD_MS = 3;
/** The least time between two reports of the stream's tracks. */
const TRACKS_INTERVAL_MS = 250;
/** The operations whose failure means the connection broke: the state tells why. */
const BROKEN_CONNECTION_OPS = new Set(["srt_recvmsg2", "srt_setsockflag(SRTO_RCVSYN)"]);
/** Largest SRT live payload. */
const MAX_MESSAGE = 1500;
/** Receives until the connection ends or a stop is asked for. */
export async function publishUntilClosed(
  context: LoopContext,
): Promise<ConnectionEnd> {
  const { connection, buffer, stop, stats } = context;
  const writer = StreamWriter.attach(buffer.buffer);
  const inspector = new TsInspector();
  const reassembler = new TsReassembler();
  let discardCounted = 0;
  let discardLogged = false;
  let programInfoVersion = 0;
  const parameterSets = new ParameterSetCollector();
  let program: ProgramMap | undefined;
  let video: { pid: number; codec: VideoCodec } | undefined;
  const tracks = new TrackInfoCollector();
  let tracksChanged = false;
  let nextTracks = 0;
  const message = new Uint8Array(MAX_MESSAGE);
  /** The pool thread's buffer: the first message of each batch. */
  const first = new Uint8Array(MAX_MESSAGE);
  /** The blocking receive in flight, if any: RCVSYN is on while it is. */
  let waiting: Promise<number> | undefined;
  const schedule = new StatsSchedule(performance.now());
  let written = 0;
  /** Inspects and stores one message of whole packets (the reassembler's view, used at once). */
  const store = (packets: Uint8Array) => {
    const flags = inspector.inspect(packets);
    if (inspector.programInfoVersion !== programInfoVersion) {
      programInfoVersion = inspector.programInfoVersion;
      const info = inspector.programInfo();
      if (info !== undefined) writer.setProgramInfo(info);
    }
    if (inspector.program !== program) {
      program = inspector.program;
      video = videoOf(program);
      tracksChanged = tracks.setProgram(program) || tracksChanged;
    }
    if (video !== undefined) {
      const sets = parameterSets.feed(packets, video);
      if (sets !== undefined) {
        tracksChanged = tracks.setParameterSets(video.pid, video.codec, sets) || tracksChanged;
        if (sets.length <= PARAMETER_SETS_CAPACITY) {
          writer.setParameterSets(video.pid, video.codec, sets);
        }
      }
    }
    tracksChanged = tracks.feed(packets) || tracksChanged;
    const lag = inspector.randomAccessLag;
    if ((flags & MessageFlags.RandomAccess) !== 0 && lag > 0) {
      // The key frame was recognised by its slice, after its PES began:
      // joining viewers must start where it began.
      const number = writer.write(packets, flags & ~MessageFlags.RandomAccess, sharedClockUs());
      writer.markRandomAccess((number - lag) >>> 0);
    } else writer.write(packets, flags, sharedClockUs());
    written++;
  };
  while (!stop.stopped) {
    if (waiting === undefined) {
      try {
        connection.setBoolean(SrtOption.RCVSYN, true);
      } catch {
        // A broken connection refuses options: the receive fails at once, the state says why.
      }
      waiting = connection.receiveWaiting(first);
    }
    // Nothing else to do: wait for a message, the connection's end, a stop,
    // or a report that is due (none once the statistics stand still).
    const now = performance.now();
    const tracksDue = tracksChanged ? Math.max(0, nextTracks - now) : Infinity;
    const waited = await stop.until(waiting, Math.min(schedule.delayMs(now), tracksDue));
    if (stop.stopped) break;
    written = 0;
    let received = 0;
    let failure: unknown;
    if (waited.done) {
      waiting = undefined;
      try {
        connection.setBoolean(SrtOption.RCVSYN, false);
        if (waited.value > 0) {
          received++;
          reassembler.push(first.subarray(0, waited.value), store);
        }
        for (;;) {
          const length = connection.receive(message);
          if (length <= 0) break;
          received++;
          reassembler.push(message.subarray(0, length), store);
        }
      } catch (error) {
        failure = error;
      }
    }
    try {
      // Packets short of a full message go out now rather than wait for the next batch.
      reassembler.flush(store);
      const discarded = reassembler.discardedBytes;
      writer.countDiscarded(discarded - discardCounted);
      discardCounted = discarded;
    } catch (error) {
      failure ??= error;
    }
    if (failure !== undefined) {
      if (writer.replaced) {
        return { reason: "shutdown", detail: "another publisher took the stream over" };
      }
      // A broken connection fails the read (or refuses RCVSYN), with whichever code; the state below says why.
      if (!(failure instanceof SrtError && BROKEN_CONNECTION_OPS.has(failure.op))) throw failure;
    }
    if (!discardLogged) {
      const notice = discardNotice(reassembler);
      if (notice !== undefined) {
        discardLogged = true;
        report({ type: "log", level: "warning", message: notice });
      }
    }
    if (written > 0) futexWake(buffer, WAKE_WORD_OFFSET);
    if (received > 0) schedule.moved(performance.now());
    if (tracksChanged && performance.now() >= nextTracks) {
      // Only when they changed; a publisher that keeps changing its PMT gets 4 reports a second.
      tracksChanged = false;
      nextTracks = performance.now() + TRACKS_INTERVAL_MS;
      report({ type: "tracks", tracks: tracks.tracks() });
    }
    const end = endOf(context);
    if (end !== undefined) return end;
    stats.refresh();
    if (schedule.due(performance.now())) {
      const reading = stats.read();
      report({ type: "stats", stats: reading });
      schedule.reported(performance.now(), reading);
    }
    // After a batch, not after a report: let packets gather for the next one.
    if (waited.done) await stop.sleep(RECEIVE_YIELD_MS);
  }
  return { reason: "shutdown", detail: stop.detail ?? "closed by the server" };
}

/** The program's first H.264 or HEVC stream, whose parameter sets are kept. */
function videoOf(program: ProgramMap | undefined): { pid: number; codec: VideoCodec } | undefined {
  for (const stream of program?.streams ?? []) {
    if (stream.streamType === StreamType.H264) return { pid: stream.pid, codec: VideoCodec.H264 };
    if (stream.streamType === StreamType.HEVC) return { pid: stream.pid, codec: VideoCodec.Hevc };
  }
  return undefined;
}
