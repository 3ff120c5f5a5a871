/**
 * Checks every C number Atoll hard-codes against the installed headers, by
 * compiling a small C program that prints them: struct sizes and offsets
 * (and, for the statistics, each field's C type), and every constant of
 * `libsrt_constants.ts`, `libc.ts`, `RejectCode` and `LibsrtRejectReason`.
 * The list is derived from those modules' exports, so a new constant or
 * layout is checked without touching this test (or fails it, when it has
 * no C name). Needs a C compiler and libsrt's headers (Debian: gcc,
 * libsrt-openssl-dev). Then reads statistics from a real libsrt connection
 * on loopback.
 */

import assert from "node:assert/strict";
import * as libcExports from "./libc.ts";
import type { CLayout } from "./libc.ts";
import * as srtConstants from "./libsrt_constants.ts";
import { C_PREFIXES, libsrt, SRT_EPOLL_IN, SRTT_LIVE } from "./libsrt.ts";
import { encodeSockaddr } from "./socket.ts";
import { SrtEpoll, SrtOption, SrtSocket, SrtState } from "./srt_socket.ts";
import * as structExports from "./structs.ts";
import {
  readTraceStats,
  SRT_EPOLL_EVENT_SIZE,
  SRT_MSGCTRL_SIZE,
  SRT_TRACEBSTATS_SIZE,
  TRACEBSTATS_FIELDS,
  type TraceStats,
} from "./structs.ts";
import {
  LibsrtRejectReason,
  REJECT_CODE_C_NAMES,
  RejectCode,
} from "../src/protocol/reject_codes.ts";
import { freeUdpPort } from "../tests/support/procfs.ts";
import { waitFor } from "../tests/support/wait.ts";

/** One number the code assumes, and the C expression that gives it. */
interface HeaderCheck {
  /** Where the code keeps it: `SrtOption.LATENCY`, `MSGHDR.msg_iov`. */
  name: string;
  expression: string;
  value: number | bigint;
  /** The header's value may be smaller (a buffer size that must fit the struct). */
  atMost?: boolean;
}

/** libc.ts exports whose C expression is not their own name. */
const LIBC_EXPRESSIONS: Record<string, string> = {
  SYS_FUTEX: "SYS_futex",
  MAP_FAILED: "(uintptr_t)MAP_FAILED",
  STAT_SIZE_OFFSET: "offsetof(struct stat, st_size)",
  STAT_BYTES: "sizeof(struct stat)",
  CMSG_LEN_FD: "CMSG_LEN(sizeof(int))",
  CMSG_SPACE_FD: "CMSG_SPACE(sizeof(int))",
};

function isLayout(value: unknown): value is CLayout {
  return typeof value === "object" && value !== null && "type" in value && "size" in value &&
    "offsets" in value;
}

function layoutChecks(name: string, layout: CLayout): HeaderCheck[] {
  return [
    { name: `${name} size`, expression: `sizeof(${layout.type})`, value: layout.size },
    ...Object.entries(layout.offsets).map(([field, offset]) => ({
      name: `${name}.${field}`,
      expression: `offsetof(${layout.type}, ${field})`,
      value: offset,
    })),
  ];
}

/** Every constant and layout the code uses, from the modules that define them. */
function headerChecks(): HeaderCheck[] {
  const checks: HeaderCheck[] = [];
  for (const [name, value] of Object.entries(srtConstants)) {
    if (typeof value === "function" || name === "C_PREFIXES") continue;
    if (typeof value === "number") {
      checks.push({ name, expression: name, value });
      continue;
    }
    const prefix = (C_PREFIXES as Record<string, string>)[name];
    if (prefix === undefined) {
      throw new Error(`libsrt_constants.ts: ${name} has no C_PREFIXES entry`);
    }
    for (const [key, item] of Object.entries(value as Record<string, number>)) {
      checks.push({ name: `${name}.${key}`, expression: `${prefix}${key}`, value: item });
    }
  }
  for (const [key, value] of Object.entries(RejectCode)) {
    const expression = REJECT_CODE_C_NAMES[key as keyof typeof RejectCode];
    checks.push({ name: `RejectCode.${key}`, expression, value });
  }
  for (const [key, value] of Object.entries(LibsrtRejectReason)) {
    checks.push({ name: `LibsrtRejectReason.${key}`, expression: `SRT_REJ_${key}`, value });
  }
  for (const [name, value] of Object.entries(libcExports)) {
    if (typeof value === "number" || typeof value === "bigint") {
      const expression = LIBC_EXPRESSIONS[name] ?? name;
      checks.push({ name, expression, value, ...(name === "STAT_BYTES" ? { atMost: true } : {}) });
    } else if (isLayout(value)) {
      checks.push(...layoutChecks(name, value));
    }
  }
  for (const [name, value] of Object.entries(structExports)) {
    if (isLayout(value)) checks.push(...layoutChecks(name, value));
  }
  return checks;
}

const checks = headerChecks();
const fields = Object.keys(TRACEBSTATS_FIELDS);
const program = `
#define _GNU_SOURCE
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <time.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <linux/sockios.h>
#include <linux/sock_diag.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <linux/futex.h>
#include <srt/srt.h>
#include <srt/access_control.h>
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
${
  checks.map(({ expression }, i) => `  printf("check:${i} %lld\\n", (long long)(${expression}));`)
    .join("\n")
}
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

let compiled: ReturnType<typeof headerLayout> | undefined;

/** {@link headerLayout}, compiled once for every test of this file. */
function headerLayoutOnce(): ReturnType<typeof headerLayout> {
  compiled ??= headerLayout();
  return compiled;
}

Deno.test("ffi struct sizes, offsets and stats field types match the installed srt.h and sys/socket.h", async () => {
  const layout = await headerLayoutOnce();
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

Deno.test("every constant and layout the ffi code uses matches the installed headers", async () => {
  const layout = await headerLayoutOnce();
  const expected: Record<string, string> = {};
  const actual: Record<string, string> = {};
  for (const [i, { name, expression, value, atMost }] of checks.entries()) {
    const header = layout.get(`check:${i}`)?.value;
    const key = `${name} (${expression})`;
    // Compared as 64-bit signed integers: MAP_FAILED is all ones.
    const assumed = BigInt.asIntN(64, BigInt(value));
    expected[key] = String(assumed);
    actual[key] = header === undefined
      ? "missing"
      : atMost && BigInt(header) <= assumed
      ? String(assumed)
      : String(BigInt(header));
  }
  assert.deepEqual(actual, expected);
});

Deno.test("the header check covers each kind of constant the code uses", () => {
  const names = new Set(checks.map((check) => check.name));
  for (
    const name of [
      "SrtOption.LATENCY",
      "SrtState.CONNECTED",
      "SrtErrno.EASYNCRCV",
      "SrtKmState.SECURED",
      "SRT_EPOLL_ERR",
      "SRT_REJ_UNKNOWN",
      "RejectCode.Conflict",
      "LibsrtRejectReason.BADSECRET",
      "SRT_MSGCTRL.srctime",
      "SRT_EPOLL_EVENT.events",
      "MSGHDR.msg_controllen",
      "SO_REUSEPORT",
      "SYS_FUTEX",
    ]
  ) {
    assert.ok(names.has(name), name);
  }
  for (const option of Object.keys(SrtOption)) assert.ok(names.has(`SrtOption.${option}`));
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
    listener.setInt(SrtOption.TRANSTYPE, SRTT_LIVE);
    listener.setBoolean(SrtOption.RCVSYN, false);
    listener.setInt(SrtOption.LATENCY, 40);
    listener.bind(address);
    listener.listen(1);
    using caller = SrtSocket.create();
    caller.setInt(SrtOption.TRANSTYPE, SRTT_LIVE);
    caller.setBoolean(SrtOption.RCVSYN, false);
    caller.setInt(SrtOption.LATENCY, 40);
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
