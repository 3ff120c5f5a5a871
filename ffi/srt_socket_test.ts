import assert from "node:assert/strict";
import { SrtErrno, SrtError } from "./libsrt.ts";
import { OwnedFd } from "./owned_fd.ts";
import { openConnectedUdpSocket } from "./socket.ts";
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
