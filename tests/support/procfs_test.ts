import assert from "node:assert/strict";
import {
  childrenOf,
  commandLine,
  cpuTicks,
  fdTargets,
  freeUdpPort,
  inetSockets,
  isAlive,
  readMemory,
  socketInodes,
  udpPortBound,
} from "./procfs.ts";
import { ManagedProcess } from "./process.ts";

Deno.test("childrenOf(), isAlive() and commandLine() see a child process", async () => {
  await using child = ManagedProcess.start("sleep", "sleep", ["30"]);
  assert.ok(childrenOf(Deno.pid).includes(child.pid));
  assert.equal(isAlive(child.pid), true);
  assert.match(commandLine(child.pid), /(^|\/)sleep 30$/);
  child.kill();
  await child.done;
  assert.equal(isAlive(child.pid), false);
  assert.equal(commandLine(child.pid), "");
});

Deno.test("a bound UDP socket shows in fdTargets(), socketInodes(), inetSockets() and udpPortBound()", () => {
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const { port } = socket.addr as Deno.NetAddr;
    assert.equal(udpPortBound(port), true);
    const inet = inetSockets(["udp"]);
    const mine = [...socketInodes(Deno.pid)].map((inode) => inet.get(inode));
    assert.ok(
      mine.some((s) => s?.protocol === "udp" && s.localPort === port),
      JSON.stringify(mine),
    );
    assert.ok([...fdTargets(Deno.pid).values()].some((target) => target.startsWith("socket:[")));
  } finally {
    socket.close();
  }
});

Deno.test("freeUdpPort() returns a port nobody holds", () => {
  const port = freeUdpPort();
  assert.ok(port > 0 && port < 65536);
  assert.equal(udpPortBound(port), false);
});

Deno.test("cpuTicks() and readMemory() read this process", () => {
  assert.ok(cpuTicks(Deno.pid)! >= 0);
  const memory = readMemory(Deno.pid);
  assert.ok(memory.rssKb > 0 && memory.pssKb > 0, JSON.stringify(memory));
  assert.equal(memory.streamBufferRssKb, 0);
});
