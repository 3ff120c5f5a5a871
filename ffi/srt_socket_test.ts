import assert from "node:assert/strict";
import { libsrt, SrtErrno, SrtError, SrtState, unwrap } from "./libsrt.ts";
import { OwnedFd } from "./owned_fd.ts";
import { encodeSockaddr, openConnectedUdpSocket } from "./socket.ts";
import { setIncomingInt, setIncomingString, SrtOption, SrtSocket } from "./srt_socket.ts";
import { withSrt } from "./_test_util.ts";

Deno.test("option setters name the option after srt.h in their errors", () => {
  withSrt(() => {
    const gone = 0x1234567;
    assert.throws(
      () => setIncomingInt(gone, SrtOption.LATENCY, 120),
      (error: unknown) =>
        error instanceof SrtError && error.op === "srt_setsockflag(SRTO_LATENCY)" &&
        error.code === SrtErrno.EINVSOCK,
    );
    assert.throws(
      () => setIncomingString(gone, SrtOption.PASSPHRASE, "0123456789abcdef"),
      (error: unknown) =>
        error instanceof SrtError && error.op === "srt_setsockflag(SRTO_PASSPHRASE)",
    );
  });
});

Deno.test("SrtSocket.bindAcquire() hands the fd over to libsrt, emptying the OwnedFd", () => {
  withSrt(() => {
    const udp = openConnectedUdpSocket(
      { hostname: "127.0.0.1", port: 0 },
      // UDP connect() needs nobody listening there.
      { hostname: "127.0.0.1", port: 9 },
    );
    using socket = SrtSocket.create();
    socket.bindAcquire(udp);
    assert.ok(udp.closed, "the OwnedFd gave the fd up");
    udp.close(); // closes nothing: libsrt owns the fd now
  });
});

Deno.test("SrtSocket.bindAcquire() gives the fd up even when libsrt refuses it", () => {
  withSrt(() => {
    const udp = openConnectedUdpSocket(
      { hostname: "127.0.0.1", port: 0 },
      // UDP connect() needs nobody listening there.
      { hostname: "127.0.0.1", port: 9 },
    );
    const number = udp.fd;
    const socket = SrtSocket.create();
    socket.close();
    assert.throws(
      () => socket.bindAcquire(udp),
      (error: unknown) => error instanceof SrtError && error.op === "srt_bind_acquire",
    );
    assert.ok(udp.closed, "never closed twice: libsrt may have closed it");
    // libsrt refused a closed socket before touching the fd: it is still open here.
    new OwnedFd(number).close();
  });
});

Deno.test("SrtSocket.receiveWaiting() waits off the JS thread for a message, and ends with the connection", async () => {
  const srt = libsrt();
  srt.srt_setloglevel(2);
  unwrap("srt_startup", srt.srt_startup());
  try {
    const free = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const port = (free.addr as Deno.NetAddr).port;
    free.close();
    using listener = SrtSocket.create();
    listener.bind(encodeSockaddr({ hostname: "127.0.0.1", port }));
    listener.listen(1);
    using caller = SrtSocket.create();
    // Both blocking (libsrt's default): libsrt's own threads answer the caller.
    caller.connect(encodeSockaddr({ hostname: "127.0.0.1", port }));
    const accepted = listener.accept();
    assert.ok(accepted !== undefined);
    using connection = accepted;
    const buffer = new Uint8Array(1500);
    const waiting = connection.receiveWaiting(buffer);
    let settled = false;
    waiting.then(() => settled = true);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(settled, false, "nothing sent yet: still waiting");
    assert.equal(caller.send(new TextEncoder().encode("hello")), true);
    assert.equal(await waiting, 5);
    assert.equal(new TextDecoder().decode(buffer.subarray(0, 5)), "hello");
    const started = performance.now();
    const ending = connection.receiveWaiting(buffer);
    caller.close();
    assert.ok(await ending < 0, "the peer's shutdown ends the wait");
    assert.ok(performance.now() - started < 1500, "without waiting for a timeout");
    assert.ok(connection.state >= SrtState.BROKEN);
  } finally {
    srt.srt_cleanup();
  }
});
