/**
 * Checks every C layout Atoll hard-codes against the installed headers, by
 * compiling a small C program that prints sizeof/offsetof. Needs a C
 * compiler and libsrt's headers (Debian: gcc, libsrt-openssl-dev).
 */

import assert from "node:assert/strict";
import {
  SRT_EPOLL_EVENT_SIZE,
  SRT_MSGCTRL_SIZE,
  SRT_TRACEBSTATS_SIZE,
  TRACEBSTATS_FIELDS,
} from "./structs.ts";

const fields = Object.keys(TRACEBSTATS_FIELDS);
const program = `
#include <stdio.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <srt/srt.h>
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
${fields.map((f) => `  printf("${f} %zu\\n", offsetof(SRT_TRACEBSTATS, ${f}));`).join("\n")}
  return 0;
}
`;

async function headerLayout(): Promise<Map<string, number>> {
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
      const [name, value] = line.split(" ");
      return [name!, Number(value)];
    }));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("ffi struct sizes and offsets match the installed srt.h and sys/socket.h", async () => {
  const layout = await headerLayout();
  assert.equal(layout.get("SRT_MSGCTRL"), SRT_MSGCTRL_SIZE);
  assert.equal(layout.get("SRT_EPOLL_EVENT"), SRT_EPOLL_EVENT_SIZE);
  assert.equal(layout.get("SRT_TRACEBSTATS"), SRT_TRACEBSTATS_SIZE);
  // The layouts ffi/socket.ts builds by hand.
  assert.equal(layout.get("msghdr"), 56);
  assert.equal(layout.get("msghdr.msg_iov"), 16);
  assert.equal(layout.get("msghdr.msg_control"), 32);
  assert.equal(layout.get("msghdr.msg_controllen"), 40);
  assert.equal(layout.get("iovec"), 16);
  assert.equal(layout.get("CMSG_LEN"), 20);
  assert.equal(layout.get("CMSG_SPACE"), 24);
  for (const [name, { offset }] of Object.entries(TRACEBSTATS_FIELDS)) {
    assert.equal(layout.get(name), offset, `SRT_TRACEBSTATS.${name}`);
  }
});
