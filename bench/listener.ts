/**
 * The baseline: a minimal single-process libsrt listener. One socket bound
 * to 127.0.0.1 (one UDP port, one libsrt multiplexer), `srt_listen` with a
 * backlog of 256, and one epoll loop that accepts every caller and reads
 * (and drops) whatever they send until they close.
 *
 *     deno run -A bench/listener.ts [--max-seconds 600]
 *
 * Prints `{"type":"listening","port":N}` on stdout once it listens; stops on
 * SIGTERM, when stdin closes, or after `--max-seconds`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  libsrt,
  SRT_EPOLL_ERR,
  SRT_EPOLL_IN,
  SRT_INVALID_SOCK,
  SrtOption,
  SrtState,
  unwrap,
} from "../ffi/libsrt.ts";
import { pointerTo } from "../ffi/pointer.ts";
import { encodeSockaddr } from "../ffi/socket.ts";
import {
  closeSocket,
  createSocket,
  EpollSet,
  localPort,
  messageControlPointer,
  setInt,
  socketState,
  startSrt,
} from "./srt.ts";

const BACKLOG = 256;

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: { "max-seconds": { type: "string", default: "600" } },
    strict: true,
  });
  const deadline = performance.now() + Number(values["max-seconds"]) * 1000;
  let stopping = false;
  Deno.addSignalListener("SIGTERM", () => stopping = true);
  (async () => {
    for await (const _ of Deno.stdin.readable) { /* drain until closed */ }
    stopping = true;
  })();

  startSrt();
  const srt = libsrt();
  const listener = createSocket();
  setInt(listener, SrtOption.TRANSTYPE, 0);
  setInt(listener, SrtOption.RCVSYN, 0);
  setInt(listener, SrtOption.SNDSYN, 0);
  const address = encodeSockaddr({ hostname: "127.0.0.1", port: 0 });
  unwrap("srt_bind", srt.srt_bind(listener, pointerTo(address), address.byteLength));
  unwrap("srt_listen", srt.srt_listen(listener, BACKLOG));
  const epoll = new EpollSet(1024);
  epoll.add(listener, SRT_EPOLL_IN | SRT_EPOLL_ERR);
  console.log(JSON.stringify({ type: "listening", port: localPort(listener) }));

  const accepted = new Set<number>();
  const buffer = new Uint8Array(1500);
  const bufferPointer = pointerTo(buffer);
  let total = 0;
  while (!stopping && performance.now() < deadline) {
    const ready = await epoll.wait(100);
    for (const { socket } of ready) {
      if (socket === listener) {
        for (;;) {
          const connection = srt.srt_accept(listener, null, null);
          if (connection === SRT_INVALID_SOCK) break;
          accepted.add(connection);
          total++;
          epoll.add(connection, SRT_EPOLL_IN | SRT_EPOLL_ERR);
        }
        continue;
      }
      while (
        srt.srt_recvmsg2(socket, bufferPointer, buffer.byteLength, messageControlPointer) > 0
      ) {
        // Dropped: the baseline only accepts.
      }
      if (socketState(socket) >= SrtState.BROKEN) {
        epoll.remove(socket);
        closeSocket(socket);
        accepted.delete(socket);
      }
    }
  }
  for (const socket of accepted) closeSocket(socket);
  closeSocket(listener);
  epoll.release();
  srt.srt_cleanup();
  console.log(JSON.stringify({ type: "stopped", accepted: total }));
}

if (import.meta.main) {
  await main();
  Deno.exit(0);
}
