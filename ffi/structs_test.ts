/**
 * Checks every C layout Atoll hard-codes against the installed headers, by
 * compiling a small C program that prints sizeof/offsetof (and, for the
 * statistics, each field's C type). Needs a C compiler and libsrt's headers
 * (Debian: gcc, libsrt-openssl-dev). Then reads statistics from a real
 * libsrt connection on loopback.
 */

import assert from "node:assert/strict";
import { libsrt, SRT_EPOLL_IN, SRTT_LIVE } from "./libsrt.ts";
import { encodeSockaddr } from "./socket.ts";
import { SrtEpoll, SrtOption, SrtSocket, SrtState } from "./srt_socket.ts";
import {
  readTraceStats,
  SRT_EPOLL_EVENT_SIZE,
  SRT_MSGCTRL_SIZE,
  SRT_TRACEBSTATS_SIZE,
  TRACEBSTATS_FIELDS,
  type TraceStats,
} from "./structs.ts";
import { freeUdpPort } from "../tests/support/procfs.ts";
import { waitFor } from "../tests/support/wait.ts";

const fields = Object.keys(TRACEBSTATS_FIELDS);
const program = `
#include <stdio.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <srt/srt.h>
#define C_TYPE(x) _Generic((x), int: "i32", int64_t: "i64", uint64_t: "u64", double: "f64", \\
  default: "unexpected")
int main(void) {
  printf("SRT_MSGCTRL %zu\\n", sizeof(SRT_MSGCTRL));
  printf("SRT_EPOLL_EVENT %zu\\n", sizeof(SRT_EPOLL_EVENT));
  printf("SRT_TRACEBSTATS %zu\\n", sizeof(SRT_TRACEBSTATS));
  printf("msghdr %zu\\n", sizeof(struct msghdr));
  printf("msghdr.msg_iov %zu\\n", offsetof(struct msghdr, msg_iov));
  printf("msghdr.msg_control %zu\\n", offsetof(struct msghdr, msg_control));
  printf("msghdr.msg_controllen %zu\\n", offsetof(struct msghdr, msg_controllen));
  printf("iovec %zu\\n", sizeof(struct iovec));
  printf("CMSG_LEN %zu\\n", (size_t)CMSG_LEN(sizeof(int)));
  printf("CMSG_SPACE %zu\\n", (size_t)CMSG_SPACE(sizeof(int)));
  SRT_TRACEBSTATS stats;
${
  fields.map((f) =>
    `  printf("${f} %zu %s\\n", offsetof(SRT_TRACEBSTATS, ${f}), C_TYPE(stats.${f}));`
  ).join("\n")
}
  (void)stats;
  return 0;
}
`;

/** Each name the program prints, with its number and, for statistics fields, its type. */
async function headerLayout(): Promise<Map<string, { value: number; type?: string }>> {
  const dir = await Deno.makeTempDir({ prefix: "atoll_layout_" });
  try {
    await Deno.writeTextFile(`${dir}/layout.c`, program);
    const compile = await new Deno.Command("cc", {
      args: [`${dir}/layout.c`, "-o", `${dir}/layout`],
      stderr: "piped",
    }).output();
    assert.ok(compile.success, `cc failed: ${new TextDecoder().decode(compile.stderr)}`);
    const run = await new Deno.Command(`${dir}/layout`, { stdout: "piped" }).output();
    const lines = new TextDecoder().decode(run.stdout).trim().split("\n");
    return new Map(lines.map((line) => {
      const [name, value, type] = line.split(" ");
      return [
        name!,
        type === undefined ? { value: Number(value) } : { value: Number(value), type },
      ];
    }));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("ffi struct sizes, offsets and stats field types match the installed srt.h and sys/socket.h", async () => {
  const layout = await headerLayout();
  const value = (name: string) => layout.get(name)?.value;
  assert.equal(value("SRT_MSGCTRL"), SRT_MSGCTRL_SIZE);
  assert.equal(value("SRT_EPOLL_EVENT"), SRT_EPOLL_EVENT_SIZE);
  assert.equal(value("SRT_TRACEBSTATS"), SRT_TRACEBSTATS_SIZE);
  // The layouts ffi/socket.ts builds by hand.
  assert.equal(value("msghdr"), 56);
  assert.equal(value("msghdr.msg_iov"), 16);
  assert.equal(value("msghdr.msg_control"), 32);
  assert.equal(value("msghdr.msg_controllen"), 40);
  assert.equal(value("iovec"), 16);
  assert.equal(value("CMSG_LEN"), 20);
  assert.equal(value("CMSG_SPACE"), 24);
  for (const [name, { offset, type }] of Object.entries(TRACEBSTATS_FIELDS)) {
    assert.deepEqual(layout.get(name), { value: offset, type }, `SRT_TRACEBSTATS.${name}`);
  }
});

Deno.test("readTraceStats() decodes each field by its offset and type", () => {
  const bytes = new Uint8Array(SRT_TRACEBSTATS_SIZE);
  const view = new DataView(bytes.buffer);
  const expected: Record<string, number> = {};
  let seed = 1;
  for (const [name, { offset, type }] of Object.entries(TRACEBSTATS_FIELDS)) {
    seed += 1;
    // Distinct values that would show a wrong width, sign or kind.
    if (type === "i32") {
      expected[name] = -seed * 1000;
      view.setInt32(offset, -seed * 1000, true);
    } else if (type === "i64") {
      expected[name] = 2 ** 40 + seed;
      view.setBigInt64(offset, BigInt(2 ** 40 + seed), true);
    } else if (type === "u64") {
      expected[name] = 2 ** 52 + seed;
      view.setBigUint64(offset, BigInt(2 ** 52 + seed), true);
    } else {
      expected[name] = seed + 0.25;
      view.setFloat64(offset, seed + 0.25, true);
    }
  }
  assert.deepEqual(readTraceStats(bytes), expected);
});

/** Polled every few milliseconds, for 3 s at most. */
const SOON = { timeoutMs: 3000, intervalMs: 5 };

Deno.test("srt_bstats on a live loopback connection reads sane statistics", async () => {
  const srt = libsrt();
  srt.srt_setloglevel(2);
  srt.srt_startup();
  try {
    // A port free a moment ago: libsrt binds it next (Atoll's table has no srt_getsockname).
    const address = encodeSockaddr({ hostname: "127.0.0.1", port: freeUdpPort() });
    using listener = SrtSocket.create();
    listener.setInt(SrtOption.TRANSTYPE, SRTT_LIVE, "TRANSTYPE");
    listener.setBoolean(SrtOption.RCVSYN, false, "RCVSYN");
    listener.setInt(SrtOption.LATENCY, 40, "LATENCY");
    listener.bind(address);
    listener.listen(1);
    using caller = SrtSocket.create();
    caller.setInt(SrtOption.TRANSTYPE, SRTT_LIVE, "TRANSTYPE");
    caller.setBoolean(SrtOption.RCVSYN, false, "RCVSYN");
    caller.setInt(SrtOption.LATENCY, 40, "LATENCY");
    caller.connect(address);

    using epoll = new SrtEpoll();
    epoll.add(listener, SRT_EPOLL_IN);
    let accepted: SrtSocket | undefined;
    const deadline = performance.now() + 3000;
    while (accepted === undefined && performance.now() < deadline) {
      await epoll.wait(100);
      accepted = listener.accept();
    }
    assert.ok(accepted !== undefined, "no connection within 3 s");
    using server = accepted;
    await waitFor("the caller to connect", () => caller.state === SrtState.CONNECTED, SOON);

    // Both directions, so each side has sent, received and been acknowledged.
    const count = 20;
    const message = new Uint8Array(1316).fill(0x47);
    for (let i = 0; i < count; i++) {
      assert.ok(caller.send(message));
      assert.ok(server.send(message));
    }
    const buffer = new Uint8Array(1500);
    let toServer = 0;
    let toCaller = 0;
    await waitFor("every message to arrive", () => {
      while (toServer < count && server.receive(buffer) > 0) toServer++;
      while (toCaller < count && caller.receive(buffer) > 0) toCaller++;
      return toServer === count && toCaller === count;
    }, SOON);

    const sides: [string, TraceStats][] = [["caller", caller.stats()], ["server", server.stats()]];
    for (const [side, stats] of sides) {
      const where = (field: string) => `${side} ${field}: ${JSON.stringify(stats)}`;
      for (const [field, value] of Object.entries(stats)) {
        assert.ok(Number.isFinite(value), where(field));
      }
      assert.equal(stats.pktSentTotal, count, where("pktSentTotal"));
      assert.equal(stats.pktRecvTotal, count, where("pktRecvTotal"));
      assert.equal(stats.byteSentTotal, stats.byteRecvTotal, where("byteSentTotal"));
      assert.ok(stats.byteSentTotal >= count * message.byteLength, where("byteSentTotal"));
      for (
        const field of [
          "pktSndLossTotal",
          "pktRcvLossTotal",
          "pktRetransTotal",
          "pktSndDropTotal",
          "pktRcvDropTotal",
          "pktRcvBelated",
        ] as const
      ) {
        assert.equal(stats[field], 0, where(field));
      }
      assert.ok(stats.pktFlowWindow > 0, where("pktFlowWindow"));
      assert.ok(stats.msRTT > 0 && stats.msRTT < 1000, where("msRTT"));
      assert.ok(stats.mbpsBandwidth >= 0, where("mbpsBandwidth"));
      assert.ok(stats.byteAvailSndBuf > 0 && stats.byteAvailRcvBuf > 0, where("byteAvail*"));
      for (const field of ["pktSndBuf", "msSndBuf", "pktRcvBuf", "msRcvBuf"] as const) {
        assert.ok(stats[field] >= 0 && stats[field] <= 1000 * count, where(field));
      }
      // Both sides asked for 40 ms (the server's socket inherits the listener's).
      assert.equal(stats.msRcvTsbPdDelay, 40, where("msRcvTsbPdDelay"));
    }
  } finally {
    srt.srt_cleanup();
  }
});
