import assert from "node:assert/strict";
import { OwnedFd } from "./owned_fd.ts";
import { libc, RLIMIT_NOFILE } from "./libc.ts";
import { pointerTo } from "./pointer.ts";
import {
  acceptUnix,
  encodeSockaddr,
  fileLimit,
  limitAcceptedSendBuffer,
  listenUnix,
  nameOf,
  openConnectedUdpSocket,
  openSocketPair,
  raiseFileLimit,
  receiveWithFd,
  receiveWithFdNow,
  sendBufferSize,
  sendDatagram,
  sendMessage,
  sendWithFd,
  takeQueuedDatagrams,
  UNIX_PATH_MAX,
} from "./socket.ts";

/** A UDP socket closed by `using`. */
function udpSocket(options: Deno.UdpListenOptions & { transport: "udp" }) {
  const conn = Deno.listenDatagram(options);
  return Object.assign(conn, { [Symbol.dispose]: () => conn.close() });
}

Deno.test("encodeSockaddr() and nameOf() round-trip as getnameinfo prints them", async (t) => {
  const cases = [
    {
      endpoint: { hostname: "127.0.0.1", port: 9000 },
      family: undefined,
      name: "127.0.0.1",
      size: 16,
    },
    { endpoint: { hostname: "::1", port: 1 }, family: undefined, name: "::1", size: 28 },
    {
      endpoint: { hostname: "[2001:db8::1]", port: 65535 },
      family: undefined,
      name: "2001:db8::1",
      size: 28,
    },
    {
      endpoint: { hostname: "127.0.0.1", port: 5000 },
      family: 10,
      name: "::ffff:127.0.0.1",
      size: 28,
    },
    {
      endpoint: { hostname: "::ffff:10.1.2.3", port: 5000 },
      family: undefined,
      name: "::ffff:10.1.2.3",
      size: 28,
    },
  ];
  for (const { endpoint, family, name, size } of cases) {
    await t.step(`${endpoint.hostname} (family ${family ?? "auto"})`, () => {
      const sockaddr = encodeSockaddr(endpoint, family);
      assert.equal(sockaddr.byteLength, size);
      assert.deepEqual(nameOf(sockaddr), { hostname: name, port: endpoint.port });
    });
  }
});

Deno.test("encodeSockaddr() rejects a hostname that is not an IP address", () => {
  assert.throws(
    () => encodeSockaddr({ hostname: "example.com", port: 1 }),
    /Cannot parse IP address "example.com"/,
  );
});

Deno.test("sendWithFd() carries a working socket and its payload to the other end", async () => {
  const [a, b] = openSocketPair();
  using _a = a;
  using _b = b;
  using receiver = udpSocket({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const port = (receiver.addr as Deno.NetAddr).port;
  using udp = openConnectedUdpSocket({ hostname: "127.0.0.1", port: 0 }, {
    hostname: "127.0.0.1",
    port,
  });
  sendWithFd(a.fd, new TextEncoder().encode('{"hello":1}'), udp.fd);
  const message = await receiveWithFd(b.fd);
  assert.ok(message !== null && message.fd !== undefined);
  using received = message.fd;
  assert.equal(new TextDecoder().decode(message.payload), '{"hello":1}');
  assert.notEqual(received.fd, udp.fd, "the receiver gets its own descriptor");
  sendDatagram(received.fd, new Uint8Array([1, 2, 3]));
  const [bytes] = await receiver.receive();
  assert.deepEqual([...bytes], [1, 2, 3]);
});

Deno.test("receiveWithFd() resolves null once the other end is closed", async () => {
  const [a, b] = openSocketPair();
  using _b = b;
  a.close();
  assert.equal(await receiveWithFd(b.fd), null);
});

Deno.test("receiveWithFdNow() waits on the JS thread: timeout, message, fd, close", () => {
  const [a, b] = openSocketPair();
  using _a = a;
  using _b = b;
  const started = performance.now();
  assert.equal(receiveWithFdNow(b.fd, 50), "timeout");
  assert.ok(performance.now() - started >= 45);

  sendMessage(a.fd, new TextEncoder().encode("plain"));
  const plain = receiveWithFdNow(b.fd, 1000);
  assert.ok(plain !== null && plain !== "timeout");
  assert.equal(new TextDecoder().decode(plain.payload), "plain");
  assert.equal(plain.fd, undefined);

  const [c, d] = openSocketPair();
  using _d = d;
  sendMessage(a.fd, new TextEncoder().encode("with fd"), c.fd);
  c.close();
  const withFd = receiveWithFdNow(b.fd, 1000);
  assert.ok(withFd !== null && withFd !== "timeout" && withFd.fd !== undefined);
  using passed = withFd.fd;
  // The passed descriptor works: what goes in one end comes out of the other.
  sendMessage(passed.fd, new TextEncoder().encode("through"));
  const through = receiveWithFdNow(d.fd, 1000);
  assert.ok(through !== null && through !== "timeout");
  assert.equal(new TextDecoder().decode(through.payload), "through");

  a.close();
  assert.equal(receiveWithFdNow(b.fd, 1000), null);
});

Deno.test("a connected socket on the listening port takes over that peer's datagrams", async () => {
  using listening = udpSocket({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
    reuseAddress: true,
  });
  const local = listening.addr as Deno.NetAddr;
  using peer = udpSocket({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  using other = udpSocket({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  using connected = openConnectedUdpSocket(local, peer.addr as Deno.NetAddr);
  // The connected socket sends from the public port...
  sendDatagram(connected.fd, new Uint8Array([7]));
  const [, from] = await peer.receive();
  assert.equal((from as Deno.NetAddr).port, local.port);
  // ...and another peer still reaches the listening socket.
  await other.send(new Uint8Array([9]), local);
  const [bytes, sender] = await listening.receive();
  assert.deepEqual([...bytes], [9]);
  assert.equal((sender as Deno.NetAddr).port, (other.addr as Deno.NetAddr).port);
});

Deno.test("takeQueuedDatagrams() returns what other peers sent between bind() and connect()", async () => {
  using listening = udpSocket({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
    reuseAddress: true,
  });
  const local = listening.addr as Deno.NetAddr;
  // openConnectedUdpSocket binds and connects at once, so build the gap by hand.
  const { AF_INET, SOCK_DGRAM, SOCK_CLOEXEC, SOL_SOCKET, SO_REUSEADDR, SO_REUSEPORT, libc } =
    await import("./libc.ts");
  using socket = new OwnedFd(libc().socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  const fd = socket.fd;
  const one = new Uint8Array(new Int32Array([1]).buffer);
  for (const option of [SO_REUSEADDR, SO_REUSEPORT]) {
    libc().setsockopt(fd, SOL_SOCKET, option, pointerTo(one), 4);
  }
  const address = encodeSockaddr(local);
  assert.equal(libc().bind(fd, pointerTo(address), address.byteLength), 0);
  const peers = [0, 1, 2].map(() =>
    udpSocket({ transport: "udp", hostname: "127.0.0.1", port: 0 })
  );
  try {
    for (const [i, peer] of peers.entries()) await peer.send(new Uint8Array([i]), local);
    const first = encodeSockaddr(peers[0]!.addr as Deno.NetAddr);
    assert.equal(libc().connect(fd, pointerTo(first), first.byteLength), 0);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const taken = takeQueuedDatagrams(fd);
    // The newest socket in the reuse group wins, so all three were queued here.
    assert.deepEqual(
      taken.map(({ bytes, from }) => [bytes[0], from.port]),
      peers.map((peer, i) => [i, (peer.addr as Deno.NetAddr).port]),
    );
    assert.deepEqual(takeQueuedDatagrams(fd), [], "drained");
  } finally {
    for (const peer of peers) peer[Symbol.dispose]();
  }
});

Deno.test("raiseFileLimit() raises the soft limit to the hard one, and fileLimit() reads both", () => {
  const before = fileLimit();
  assert.ok(before.soft <= before.hard);
  // Lower the soft limit a little (allowed to any process), as a shell's `ulimit -Sn` would.
  const lowered = new BigUint64Array([BigInt(before.hard - 1), BigInt(before.hard)]);
  assert.equal(libc().setrlimit(RLIMIT_NOFILE, pointerTo(lowered)), 0);
  assert.deepEqual(fileLimit(), { soft: before.hard - 1, hard: before.hard });
  const raised = raiseFileLimit();
  assert.deepEqual(raised, { soft: before.hard, hard: before.hard });
  assert.deepEqual(fileLimit(), raised);
  // Already raised: nothing changes.
  assert.deepEqual(raiseFileLimit(), raised);
});

Deno.test("listenUnix() and acceptUnix() take a Deno.connect() on a Unix socket path", async () => {
  const dir = await Deno.makeTempDir({ prefix: "atoll_unix_" });
  try {
    const path = `${dir}/child.sock`;
    using listener = listenUnix(path);
    assert.throws(() => listenUnix(path), /bind failed: Address already in use/);
    const accepting = acceptUnix(listener.fd);
    const client = await Deno.connect({ transport: "unix", path });
    const accepted = await accepting;
    assert.ok(accepted !== null);
    using server = accepted;
    const hello = new TextEncoder().encode("hello\n");
    assert.equal(Number(libc().send(server.fd, pointerTo(hello), BigInt(hello.byteLength), 0)), 6);
    const read = new Uint8Array(16);
    assert.equal(await client.read(read), 6);
    await client.write(new TextEncoder().encode("bye"));
    const message = await receiveWithFd(server.fd);
    assert.equal(new TextDecoder().decode(message?.payload), "bye");
    client.close();
    assert.equal(await receiveWithFd(server.fd), null, "the other end closed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("listenUnix() refuses a path longer than a sockaddr_un holds", () => {
  assert.throws(() => listenUnix(`/tmp/${"x".repeat(UNIX_PATH_MAX)}`), /Unix socket path too long/);
});

Deno.test("limitAcceptedSendBuffer() finds a Deno listener by port, and what it accepts inherits the size", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  const fd = limitAcceptedSendBuffer(port, 65536);
  assert.ok(fd !== undefined, "the listener is found");
  assert.equal(sendBufferSize(fd), 2 * 65536, "the kernel keeps twice what is set");
  const client = await Deno.connect({ hostname: "127.0.0.1", port });
  const accepted = await listener.accept();
  try {
    const isSocket = (n: number) => {
      try {
        return Deno.readLinkSync(`/proc/self/fd/${n}`).startsWith("socket:");
      } catch {
        return false; // the listing's own fd, closed by now
      }
    };
    const sizes = [...Deno.readDirSync("/proc/self/fd")]
      .map((entry) => Number(entry.name))
      .filter(isSocket)
      .map((n) => sendBufferSize(n));
    // The listener and the accepted socket; the client's own is the kernel's default.
    assert.equal(sizes.filter((size) => size === 2 * 65536).length, 2, `sizes ${sizes}`);
  } finally {
    accepted.close();
    client.close();
  }
  assert.equal(limitAcceptedSendBuffer(1, 65536), undefined, "no listener on port 1");
});
