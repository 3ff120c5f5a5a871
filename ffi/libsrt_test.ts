import assert from "node:assert/strict";
import {
  lastSrtError,
  libsrt,
  SRT_ERROR,
  SrtErrno,
  SrtError,
  SrtOption,
  srtOptionName,
  unwrap,
} from "./libsrt.ts";
import { encodeSockaddr } from "./socket.ts";
import { pointerTo } from "./pointer.ts";
import { withSrt } from "./_test_util.ts";

Deno.test("new SrtError() says the operation, libsrt's message, its code and the errno", () => {
  const error = new SrtError("srt_bind", 1003, "Connection setup failure", 99);
  assert.equal(error.name, "SrtError");
  assert.equal(error.op, "srt_bind");
  assert.equal(error.code, 1003);
  assert.equal(error.errno, 99);
  assert.equal(
    error.message,
    "srt_bind failed: Connection setup failure (SRT error 1003, errno 99)",
  );
  const plain = new SrtError("srt_listen", 5004, "Invalid socket ID");
  assert.equal(plain.errno, 0);
  assert.equal(plain.message, "srt_listen failed: Invalid socket ID (SRT error 5004)");
});

Deno.test("lastSrtError() carries the code, op and message of the call that just failed", () => {
  withSrt(() => {
    assert.equal(libsrt().srt_listen(0x1234567, 1), SRT_ERROR);
    const error = lastSrtError("srt_listen");
    assert.ok(error instanceof SrtError);
    assert.equal(error.op, "srt_listen");
    assert.equal(error.code, SrtErrno.EINVSOCK);
    assert.match(error.message, /^srt_listen failed: .+ \(SRT error 5004/);
  });
});

Deno.test("lastSrtError() carries the system errno behind a libsrt error", () => {
  withSrt(() => {
    const socket = libsrt().srt_create_socket();
    try {
      // 192.0.2.1 (TEST-NET-1) is no address of this machine.
      const address = encodeSockaddr({ hostname: "192.0.2.1", port: 5000 });
      assert.equal(libsrt().srt_bind(socket, pointerTo(address), address.byteLength), SRT_ERROR);
      const error = lastSrtError("srt_bind");
      assert.equal(error.errno, 99, `EADDRNOTAVAIL: ${error.message}`);
      assert.match(error.message, /\(SRT error \d+, errno 99\)$/);
    } finally {
      libsrt().srt_close(socket);
    }
  });
});

Deno.test("unwrap() passes a result through and throws the last error for SRT_ERROR", () => {
  withSrt(() => {
    assert.equal(unwrap("srt_epoll_create", 7), 7);
    assert.throws(
      () => unwrap("srt_listen", libsrt().srt_listen(0x1234567, 1)),
      (error: unknown) =>
        error instanceof SrtError && error.op === "srt_listen" &&
        error.code === SrtErrno.EINVSOCK,
    );
  });
});

Deno.test("srtOptionName() names an option after srt.h", () => {
  assert.equal(srtOptionName(SrtOption.LATENCY), "SRTO_LATENCY");
  assert.equal(srtOptionName(SrtOption.STREAMID), "SRTO_STREAMID");
  for (const [name, value] of Object.entries(SrtOption)) {
    assert.equal(srtOptionName(value), `SRTO_${name}`);
  }
});

Deno.test("openLibsrt() throws one LibSrtNotFoundError naming the file it tried and the package", async () => {
  // In a child process: this one has libsrt loaded already.
  const script = `
    import { libsrt } from ${JSON.stringify(new URL("./libsrt.ts", import.meta.url).href)};
    try { libsrt(); } catch (error) { console.log(JSON.stringify([error.name, error.message])); }
  `;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", script],
    env: { ATOLL_LIBSRT: "/nonexistent/libsrt.so" },
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const [name, message] = JSON.parse(new TextDecoder().decode(output.stdout));
  assert.equal(name, "LibSrtNotFoundError");
  assert.match(message, /^Cannot load libsrt: check the path in ATOLL_LIBSRT/);
  assert.match(message, /libsrt1\.5-openssl/);
  assert.match(message, /\(tried \/nonexistent\/libsrt\.so: [^)]+\)$/);
  assert.ok(!message.includes("\n"), "one line");
});
