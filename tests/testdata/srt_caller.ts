/**
 * A libsrt caller for tests that need what srt-live-transmit and ffmpeg do
 * not print: the rejection code. Connects (blocking, off the JS thread) to
 * 127.0.0.1:PORT with a stream id and optional passphrase, prints one JSON
 * line `{ connected, rejectReason, rejectText, latencyMs, ms }` and exits.
 *
 *     deno run -A tests/testdata/srt_caller.ts PORT STREAM_ID [PASSPHRASE] [TIMEOUT_MS]
 *
 * @module
 */

import { libsrt, rejectReasonText, SrtOption } from "../../ffi/libsrt.ts";
import { pointerTo } from "../../ffi/pointer.ts";
import {
  closeSocket,
  connectBlocking,
  createCaller,
  setString,
  startSrt,
} from "../../bench/srt.ts";

const [port, streamId, passphrase, timeout] = Deno.args;
startSrt();
const socket = createCaller(streamId ?? "", {
  blocking: true,
  connectTimeoutMs: Number(timeout ?? 5000),
});
if (passphrase) setString(socket, SrtOption.PASSPHRASE, passphrase);
const started = performance.now();
const connected = await connectBlocking(socket, Number(port));
const rejectReason = libsrt().srt_getrejectreason(socket);
/** SRTO_RCVLATENCY: the latency both sides agreed on, the larger of the two. */
const latency = new Int32Array(1);
const size = new Int32Array([4]);
const latencyKnown = connected &&
  libsrt().srt_getsockflag(
      socket,
      SrtOption.RCVLATENCY,
      pointerTo(latency),
      pointerTo(size),
    ) === 0;
console.log(JSON.stringify({
  connected,
  rejectReason,
  rejectText: rejectReasonText(rejectReason),
  latencyMs: latencyKnown ? latency[0] : null,
  ms: Math.round(performance.now() - started),
}));
closeSocket(socket);
libsrt().srt_cleanup();
