/**
 * Relay children end to end, each on its own: the real child entry
 * (workers/peer.ts, started as the main process starts it) is given a
 * relay assignment and its decision on a control socket pair, with a stream
 * buffer made here, and calls srt-live-transmit as the remote server.
 */

import assert from "node:assert/strict";
import { createSharedMemory, SharedMapping } from "../../ffi/shm.ts";
import { openSocketPair, sendMessage, setCloseOnExec } from "../../ffi/socket.ts";
import type { OwnedFd } from "../../ffi/owned_fd.ts";
import { buildChildCommand } from "../server/child_command.ts";
import { readLines } from "../ipc/lines.ts";
import {
  type AccessDecision,
  type ChildMessage,
  parseChildMessage,
  type PeerSettings,
  type RelayAssignment,
  type RelayRemote,
  shutdownLine,
} from "../ipc/messages.ts";
import {
  initializeStreamBuffer,
  MessageFlags,
  readBufferCounters,
  type ReadResult,
  StreamBuffer,
  StreamReader,
} from "../media/stream_buffer.ts";
import { TS_PACKET_SIZE } from "../media/mpegts.ts";
import { ManagedProcess } from "../../tests/support/process.ts";
import { probeVideo, sampleTs } from "../../tests/support/peers.ts";
import { freeUdpPort, udpPortBound } from "../../tests/support/procfs.ts";
import { sleep, waitFor } from "../../tests/support/wait.ts";

const WORKER = new URL("../../workers/peer.ts", import.meta.url);
const encoder = new TextEncoder();

const settings: PeerSettings = {
  latencyMs: 120,
  pbkeylen: 0,
  idleTimeoutMs: 5000,
  handshakeTimeoutMs: 3000,
  fastHandshake: false,
  decisionTimeoutMs: 5000,
};

/** A relay child as the main process starts one, and what it reports. */
class RelayChild implements AsyncDisposable {
  readonly messages: ChildMessage[] = [];
  /** Lines that are not reports (libsrt's or Deno's own), for failure messages. */
  readonly output: string[] = [];
  readonly done: Promise<Deno.CommandStatus>;
  #process: Deno.ChildProcess;
  #control: OwnedFd;
  #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #arrived: (() => void) | undefined;
  /** Set once stdout has ended: no report can come any more. */
  #exitedNow = false;

  constructor() {
    const [parent, child] = openSocketPair();
    this.#control = parent;
    using childEnd = child;
    const command = buildChildCommand(
      { execPath: Deno.execPath(), standalone: false, workerUrl: WORKER, env: Deno.env.toObject() },
      ["--control-fd", String(childEnd.fd)],
    );
    setCloseOnExec(childEnd.fd, false);
    const process = new Deno.Command(command.command, {
      args: command.args,
      env: command.env,
      clearEnv: true,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#process = process;
    const stdin = process.stdin.getWriter();
    stdin.closed.catch(() => {});
    this.#stdin = stdin;
    const reading = Promise.all([
      this.#read(process.stdout, true),
      this.#read(process.stderr, false),
    ]);
    this.done = (async () => {
      const status = await process.status;
      await reading;
      await stdin.abort().catch(() => {});
      parent.close();
      this.#arrived?.();
      return status;
    })();
  }

  /** Sends the relay, then (unless none) the main process's decision with `bufferFd`. */
  assign(relay: RelayAssignment, decision?: AccessDecision, bufferFd?: number): void {
    sendMessage(this.#control.fd, encoder.encode(JSON.stringify(relay)));
    if (decision !== undefined) {
      sendMessage(this.#control.fd, encoder.encode(JSON.stringify(decision)), bufferFd);
    }
  }

  /** The first report of `type`, waiting at most `timeoutMs`. */
  async report<T extends ChildMessage["type"]>(
    type: T,
    timeoutMs: number,
  ): Promise<Extract<ChildMessage, { type: T }>> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find((message) => message.type === type);
      if (found !== undefined) return found as Extract<ChildMessage, { type: T }>;
      const left = deadline - performance.now();
      if (left <= 0 || this.#exitedNow) {
        throw new Error(`No ${type} report within ${timeoutMs} ms: ${this.#transcript()}`);
      }
      const arrived = new Promise<void>((resolve) => this.#arrived = resolve);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([arrived, new Promise((resolve) => timer = setTimeout(resolve, left))]);
      clearTimeout(timer);
    }
  }

  shutdown(detail?: string): Promise<void> {
    return this.#stdin.write(shutdownLine(detail));
  }

  /** Closes stdin without a `shutdown`: to the child, its main process is gone. */
  closeStdin(): Promise<void> {
    return this.#stdin.close().catch(() => {});
  }

  /** The exit code, killing the child after `timeoutMs`. */
  async exitCode(timeoutMs: number): Promise<number> {
    const timer = setTimeout(() => this.#kill(), timeoutMs);
    try {
      return (await this.done).code;
    } finally {
      clearTimeout(timer);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#kill();
    await this.done;
  }

  #kill(): void {
    try {
      this.#process.kill("SIGKILL");
    } catch {
      // Exited already.
    }
  }

  #transcript(): string {
    return [...this.messages.map((message) => JSON.stringify(message)), ...this.output].join("\n");
  }

  async #read(stream: ReadableStream<Uint8Array>, reports: boolean): Promise<void> {
    for await (const line of readLines(stream)) {
      try {
        if (!reports) throw new TypeError("not a report");
        this.messages.push(parseChildMessage(line));
      } catch {
        this.output.push(line);
      }
      this.#arrived?.();
    }
    if (reports) this.#exitedNow = true;
  }
}

/** A stream buffer as the main process makes one: a memfd, mapped and laid out. */
function streamBuffer(): { memory: OwnedFd; mapping: SharedMapping } & Disposable {
  const bytes = StreamBuffer.layout({ slots: 1024 }).bytes;
  const memory = createSharedMemory("atoll:relay-test", bytes);
  const mapping = SharedMapping.map(memory.fd, bytes);
  initializeStreamBuffer(mapping.buffer);
  return {
    memory,
    mapping,
    [Symbol.dispose]() {
      mapping.close();
      memory.close();
    },
  };
}

function relayTo(
  direction: "pull" | "push",
  port: number,
  remote: Partial<RelayRemote> = {},
): RelayAssignment {
  return {
    type: "relay",
    connectionId: `relay-${direction}`,
    direction,
    remote: {
      url: `srt://127.0.0.1:${port}`,
      hostname: "127.0.0.1",
      port,
      connectTimeoutMs: 3000,
      ...remote,
    },
    settings,
  };
}

function accept(mode: "publish" | "play", bufferBytes: number): AccessDecision {
  return { type: "accept", stream: "live/relayed", mode, bufferBytes };
}

/** srt-live-transmit as the remote server: an SRT listener on `port` from or to stdin/stdout. */
async function remoteServer(
  port: number,
  direction: "source" | "sink",
  options: { query?: string; output?: string } = {},
): Promise<ManagedProcess> {
  const srt = `srt://127.0.0.1:${port}?mode=listener${options.query ?? ""}`;
  const server = ManagedProcess.start(
    "srt-live-transmit",
    "srt-live-transmit",
    ["-q", "-a:no", ...(direction === "source" ? ["file://con", srt] : [srt, "file://con"])],
    direction === "source"
      ? { stdin: "piped", stdout: "null" }
      : { stdout: options.output === undefined ? "null" : { file: options.output } },
  );
  await waitFor(`srt-live-transmit on ${port}`, () => udpPortBound(port), { timeoutMs: 5000 });
  return server;
}

/** Writes the sample MPEG-TS into a source's stdin once, at about 2 Mbit/s, in 1316-byte chunks. */
async function feedSample(source: ManagedProcess): Promise<number> {
  const sample = await Deno.readFile(await sampleTs());
  const chunk = 7 * TS_PACKET_SIZE;
  // 2 Mbit/s is 19 chunks every 100 ms: 2 every 10 ms.
  for (let offset = 0; offset < sample.byteLength; offset += 2 * chunk) {
    await source.write(sample.subarray(offset, offset + 2 * chunk));
    await sleep(10);
  }
  return sample.byteLength;
}

function assertTsPackets(bytes: Uint8Array, what: string): void {
  assert.equal(bytes.byteLength % TS_PACKET_SIZE, 0, `${what}: ${bytes.byteLength} bytes`);
  for (let offset = 0; offset < bytes.byteLength; offset += TS_PACKET_SIZE) {
    assert.equal(bytes[offset], 0x47, `${what}: no sync byte at ${offset}`);
  }
}

function pidOf(packet: Uint8Array): number {
  return ((packet[1]! & 0x1f) << 8) | packet[2]!;
}

Deno.test("a pull relay child calls a remote server and fills the stream buffer with its MPEG-TS", async () => {
  const port = freeUdpPort();
  using buffer = streamBuffer();
  await using source = await remoteServer(port, "source");
  await using child = new RelayChild();
  child.assign(
    relayTo("pull", port, { streamId: "#!::r=live/a,m=request" }),
    accept("publish", buffer.mapping.bytes),
    buffer.memory.fd,
  );
  const connected = await child.report("connected", 5000);
  assert.deepEqual({ ...connected, handshakeMs: 0 }, {
    type: "connected",
    streamId: "#!::r=live/a,m=request",
    mode: "publish",
    encrypted: false,
    handshakeMs: 0,
  });
  assert.ok(connected.handshakeMs < 1000, `${connected.handshakeMs} ms`);
  const sent = await feedSample(source);
  const expected = Math.floor(sent / (7 * TS_PACKET_SIZE));
  await waitFor(
    "the remote's messages in the buffer",
    () => readBufferCounters(buffer.mapping.buffer).messagesIn >= expected,
    { timeoutMs: 5000 },
  );
  const counters = readBufferCounters(buffer.mapping.buffer);
  assert.ok(counters.randomAccessPoints > 0, JSON.stringify(counters));
  assert.equal(counters.bytesDiscarded, 0);
  const reader = StreamReader.attach(buffer.mapping.buffer);
  const message = new Uint8Array(reader.layout.slotPayload);
  const first = reader.read(message);
  assert.ok(first.kind === "message" && (first.flags & MessageFlags.RandomAccess) !== 0);
  for (let result: ReadResult = first; result.kind === "message"; result = reader.read(message)) {
    assertTsPackets(message.subarray(0, result.length), `message ${result.number}`);
  }
  const programInfo = reader.programInfo();
  assert.ok(programInfo !== undefined && pidOf(programInfo) === 0, "PAT first");
  const tracks = await child.report("tracks", 3000);
  assert.deepEqual(
    tracks.tracks.map(({ kind, codec, width, height }) => ({ kind, codec, width, height })),
    [{ kind: "video", codec: "H.264", width: 320, height: 240 }],
  );
  // The main process goes away without a shutdown: a relay is not adopted, it stops.
  await child.closeStdin();
  assert.equal(await child.exitCode(3000), 0);
  const closed = await child.report("closed", 0);
  assert.equal(closed.reason, "shutdown");
  assert.equal(closed.detail, "the main process is gone");
  assert.ok(closed.stats !== null && closed.stats.bytesReceived >= sent * 0.9);
});

Deno.test("a push relay child plays the stream to a remote server from PAT, PMT and a key frame", async () => {
  const [sourcePort, sinkPort] = [freeUdpPort(), freeUdpPort()];
  const output = await Deno.makeTempFile({ prefix: "atoll_relay_", suffix: ".ts" });
  try {
    using buffer = streamBuffer();
    await using source = await remoteServer(sourcePort, "source");
    await using sink = await remoteServer(sinkPort, "sink", { output });
    // The stream's publisher is a pull relay; the push relay is its viewer.
    await using pull = new RelayChild();
    await using push = new RelayChild();
    pull.assign(
      relayTo("pull", sourcePort),
      accept("publish", buffer.mapping.bytes),
      buffer.memory.fd,
    );
    push.assign(
      relayTo("push", sinkPort, { streamId: "live/out" }),
      accept("play", buffer.mapping.bytes),
      buffer.memory.fd,
    );
    const [, pushed] = await Promise.all([
      pull.report("connected", 5000),
      push.report("connected", 5000),
    ]);
    assert.equal(pushed.mode, "play");
    assert.equal(pushed.streamId, "live/out");
    const sent = await feedSample(source);
    await waitFor("the stream at the remote server", () => {
      const size = Deno.statSync(output).size;
      return size >= sent * 0.5 && size;
    }, { timeoutMs: 5000 });
    await push.shutdown("test over");
    assert.equal(await push.exitCode(3000), 0);
    const closed = await push.report("closed", 0);
    assert.deepEqual([closed.reason, closed.detail], ["shutdown", "test over"]);
    assert.ok(closed.stats !== null && closed.stats.bytesSent > 0);
    // Without auto-reconnect, the sink ends with the connection, having written all it got.
    await sink.exit(3000);
    const received = await Deno.readFile(output);
    assertTsPackets(received, "what the remote server received");
    assert.equal(pidOf(received), 0, "a PAT first");
    const video = await probeVideo(output);
    assert.ok(video.frames > 0 && video.firstIsKey, JSON.stringify(video));
    await pull.shutdown();
    assert.equal(await pull.exitCode(3000), 0);
  } finally {
    await Deno.remove(output);
  }
});

Deno.test("a relay child refused by the main process reports it and exits 0 without calling out", async () => {
  await using child = new RelayChild();
  child.assign(relayTo("pull", freeUdpPort()), { type: "reject", code: 1409, reason: "taken" });
  assert.equal(await child.exitCode(5000), 0);
  assert.deepEqual(await child.report("closed", 0), {
    type: "closed",
    reason: "rejected",
    detail: "the server refused the pull relay with 1409 conflict: taken",
    stats: null,
  });
  assert.equal(child.messages.some((message) => message.type === "connected"), false);
});

Deno.test("a relay child says which code the remote rejected it with, and what it means", async () => {
  const port = freeUdpPort();
  using buffer = streamBuffer();
  await using _remote = await remoteServer(port, "sink", { query: "&passphrase=the-right-one" });
  await using child = new RelayChild();
  const url = `srt://127.0.0.1:${port}?passphrase=***`;
  child.assign(
    relayTo("push", port, { url, passphrase: "the-wrong-one" }),
    accept("play", buffer.mapping.bytes),
    buffer.memory.fd,
  );
  assert.equal(await child.exitCode(5000), 0);
  assert.deepEqual(await child.report("closed", 0), {
    type: "closed",
    reason: "rejected",
    detail: `${url} rejected the connection: 10 wrong passphrase`,
    stats: null,
  });
});

Deno.test("a relay child reports a handshake timeout when nobody answers", async () => {
  using buffer = streamBuffer();
  const port = freeUdpPort();
  await using child = new RelayChild();
  child.assign(
    relayTo("pull", port, { connectTimeoutMs: 300 }),
    accept("publish", buffer.mapping.bytes),
    buffer.memory.fd,
  );
  assert.equal(await child.exitCode(5000), 0);
  assert.deepEqual(await child.report("closed", 0), {
    type: "closed",
    reason: "handshake-timeout",
    detail: `no answer from srt://127.0.0.1:${port} within 300 ms`,
    stats: null,
  });
});

Deno.test("a shutdown, or the main process going, ends a relay child's wait or pending connect within a second", async () => {
  using buffer = streamBuffer();
  const cases = [
    { waiting: "decision", end: "shutdown" },
    { waiting: "connect", end: "shutdown" },
    { waiting: "connect", end: "stdin closed" },
  ] as const;
  for (const { waiting, end } of cases) {
    const what = `${end} while waiting for its ${waiting}`;
    await using child = new RelayChild();
    // A rendezvous binds its local port at once: the sign that the connect is under way.
    const localPort = freeUdpPort();
    const relay = relayTo("pull", freeUdpPort(), {
      connectTimeoutMs: 10_000,
      rendezvous: { localPort },
    });
    if (waiting === "decision") child.assign(relay);
    else child.assign(relay, accept("publish", buffer.mapping.bytes), buffer.memory.fd);
    await child.report("ready", 10_000);
    if (waiting === "connect") {
      await waitFor("the rendezvous port", () => udpPortBound(localPort), { timeoutMs: 5000 });
    } else await sleep(200);
    const started = performance.now();
    await (end === "shutdown" ? child.shutdown("leaving") : child.closeStdin());
    assert.equal(await child.exitCode(5000), 0, what);
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 1000, `${what}: ${Math.round(elapsed)} ms`);
    const closed = await child.report("closed", 0);
    assert.deepEqual(
      [closed.reason, closed.detail, closed.stats],
      ["shutdown", end === "shutdown" ? "leaving" : "the main process is gone", null],
      what,
    );
  }
});

Deno.test("a relay child fails (exit 1) on a decision whose mode does not fit its direction", async () => {
  using buffer = streamBuffer();
  await using child = new RelayChild();
  child.assign(
    relayTo("pull", freeUdpPort()),
    accept("play", buffer.mapping.bytes),
    buffer.memory.fd,
  );
  assert.equal(await child.exitCode(5000), 1);
  const closed = await child.report("closed", 0);
  assert.equal(closed.reason, "error");
  assert.match(closed.detail, /mode "play", expected "publish"/);
});
