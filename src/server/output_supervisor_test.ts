import assert from "node:assert/strict";
import {
  DEFAULT_CONFIG,
  HLS_PART_MS as CONFIG_PART_MS,
  HLS_SEGMENT_MS as CONFIG_SEGMENT_MS,
  HLS_WINDOW as CONFIG_WINDOW,
} from "../config/config_file.ts";
import {
  DEFAULT_HLS_RULES,
  HLS_PART_MS,
  HLS_SEGMENT_MS,
  HLS_WINDOW,
  type HlsRules,
  type OutputCommand,
  type OutputReport,
  type OutputStreamStats,
} from "../ipc/output_messages.ts";
import {
  type OutputEvents,
  type OutputProcess,
  OutputSupervisor,
  type StreamBufferRef,
} from "./output_supervisor.ts";

/** An output process that does what a test says: reports, exits, refuses commands. */
class FakeOutput implements OutputProcess {
  static nextPid = 1000;
  readonly pid = FakeOutput.nextPid++;
  readonly sent: { command: OutputCommand; fd: number | undefined }[] = [];
  readonly signals: Deno.Signal[] = [];
  /** Whether send() takes commands (false: its socket pair is full). */
  reading = true;
  /** Whether SIGTERM or a shutdown command makes it exit. */
  obeys = true;
  #exited = Promise.withResolvers<void>();
  readonly done = this.#exited.promise;
  #gone = false;

  constructor(readonly events: OutputEvents<FakeOutput>) {}

  send(command: OutputCommand, fd?: number): boolean {
    if (!this.reading) return false;
    this.sent.push({ command, fd });
    if (command.type === "shutdown" && this.obeys) queueMicrotask(() => this.exit(0));
    return true;
  }

  kill(signal: Deno.Signal = "SIGKILL"): void {
    this.signals.push(signal);
    if (signal === "SIGKILL" || this.obeys) queueMicrotask(() => this.exit(null, signal));
  }

  report(report: OutputReport): void {
    this.events.onReport(this, report);
  }

  exit(code: number | null, signal: Deno.Signal | null = null): void {
    if (this.#gone) return;
    this.#gone = true;
    const status = { success: code === 0, code: code ?? 137, signal } as Deno.CommandStatus;
    this.events.onExit(this, status);
    this.#exited.resolve();
  }

  /** The types of the commands it was sent, with the stream of each that has one. */
  commands(): string[] {
    return this.sent.map(({ command }) =>
      "name" in command ? `${command.type} ${command.name}` : command.type
    );
  }
}

const SETTINGS = {
  listen: { hostname: "127.0.0.1", port: 0 },
  maxConnections: 10,
  headerTimeoutMs: 1000,
  allowedHosts: [],
};

function supervisor(streams: StreamBufferRef[] = []) {
  const launched: FakeOutput[] = [];
  let now = 0;
  const output = new OutputSupervisor<FakeOutput>(SETTINGS, {
    launch: (events) => {
      const process = new FakeOutput(events);
      launched.push(process);
      return process;
    },
    streams: () => streams,
    now: () => now,
    restartDelayMs: { first: 10, max: 40 },
  });
  return {
    output,
    launched,
    advance: (ms: number) => now += ms,
    last: () => launched.at(-1)!,
  };
}

const LISTENING: OutputReport = {
  type: "listening",
  address: { hostname: "127.0.0.1", port: 40123 },
};

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

Deno.test("OutputSupervisor starts the process with its settings and every stream, and waits until it listens", async () => {
  const { output, launched, last } = supervisor([{ name: "live/a", fd: 7, bytes: 4096 }]);
  const started = output.start();
  assert.equal(launched.length, 1);
  assert.deepEqual(last().commands(), ["settings", "recordings", "access-rules", "stream live/a"]);
  assert.deepEqual(last().sent[0]?.command, { type: "settings", settings: SETTINGS });
  assert.deepEqual(last().sent[1]?.command, { type: "recordings", token: null, dirs: [] });
  assert.equal(last().sent[3]?.fd, 7);
  assert.equal(output.up, false);
  last().report(LISTENING);
  assert.deepEqual(await started, LISTENING.address);
  assert.deepEqual(output.address, LISTENING.address);
  assert.equal(output.up, true);
  assert.equal(output.pid, last().pid);
  await output.stop(100);
});

Deno.test("OutputSupervisor's first start fails with the reason the process gives, and nothing restarts", async () => {
  const { output, launched, last } = supervisor();
  const started = output.start();
  last().report({ type: "listen-failed", detail: "address in use" });
  await assert.rejects(started, /address in use/);
  last().exit(2);
  await sleep(30);
  assert.equal(launched.length, 1);

  const other = supervisor();
  const exited = other.output.start();
  other.last().exit(1);
  await assert.rejects(exited, /exited before it listened \(exit code 1\)/);
});

Deno.test("OutputSupervisor starts a dead process again on its port, with every stream, backing off", async () => {
  const streams: StreamBufferRef[] = [{ name: "live/a", fd: 7, bytes: 4096 }];
  const { output, launched, last, advance } = supervisor(streams);
  const started = output.start();
  last().report(LISTENING);
  await started;
  streams.push({ name: "live/b", fd: 8, bytes: 4096 });
  output.streamCreated("live/b", 8, 4096);

  last().exit(null, "SIGKILL");
  assert.equal(output.up, false);
  assert.equal(output.pid, undefined);
  await sleep(5);
  assert.equal(launched.length, 1, "not before the first delay");
  await sleep(20);
  assert.equal(launched.length, 2);
  assert.equal(output.restarts, 1);
  // The port it had, so its URLs stay right; and every stream there is now.
  assert.deepEqual(last().sent[0]?.command, {
    type: "settings",
    settings: { ...SETTINGS, listen: LISTENING.address },
  });
  assert.deepEqual(last().commands(), [
    "settings",
    "recordings",
    "access-rules",
    "stream live/a",
    "stream live/b",
  ]);
  last().report(LISTENING);
  assert.equal(output.up, true);

  // Dying again at once: twice the delay. After a long run: the first delay again.
  last().exit(1);
  await sleep(12);
  assert.equal(launched.length, 2, "the second restart waits 20 ms");
  await sleep(20);
  assert.equal(launched.length, 3);
  advance(60_000);
  last().exit(1);
  await sleep(15);
  assert.equal(launched.length, 4, "a process that ran for a minute is started after 10 ms again");
  await output.stop(100);
});

/** Stats of one stream as the output process reports them; HLS figures zero unless given. */
function reported(name: string, counts: Partial<OutputStreamStats>): OutputStreamStats {
  return { name, ...ZERO, ...counts };
}
const ZERO = {
  clients: 0,
  bytesSent: 0,
  skips: 0,
  hlsClients: 0,
  hlsSegments: 0,
  hlsBytesSent: 0,
};

Deno.test("OutputSupervisor sends streams as they begin and end, and keeps counts over restarts", async () => {
  const streams: StreamBufferRef[] = [];
  const { output, last } = supervisor(streams);
  const started = output.start();
  last().report(LISTENING);
  await started;
  streams.push({ name: "live/a", fd: 9, bytes: 8192 });
  output.streamCreated("live/a", 9, 8192);
  assert.deepEqual(last().sent.at(-1), {
    command: { type: "stream", name: "live/a", bufferBytes: 8192, hls: DEFAULT_HLS_RULES },
    fd: 9,
  });
  const first = { clients: 2, bytesSent: 1000, skips: 1, hlsClients: 3, hlsSegments: 4 };
  last().report({
    type: "stats",
    streams: [reported("live/a", { ...first, hlsBytesSent: 5000 })],
    rateLimited: { hls: 2, "http-ts": 1 },
  });
  assert.deepEqual(output.httpStats("live/a"), { ...first, hlsBytesSent: 5000 });
  assert.deepEqual(output.rateLimited(), { hls: 2, "http-ts": 1 });
  assert.deepEqual(output.httpStats("live/none"), ZERO);

  last().exit(null, "SIGKILL");
  assert.deepEqual(output.httpStats("live/a"), {
    ...ZERO,
    bytesSent: 1000,
    skips: 1,
    hlsSegments: 4,
    hlsBytesSent: 5000,
  });
  assert.deepEqual(output.rateLimited(), { hls: 2, "http-ts": 1 });
  await sleep(25);
  last().report(LISTENING);
  last().report({
    type: "stats",
    streams: [reported("live/a", { clients: 1, bytesSent: 500, hlsClients: 1, hlsSegments: 2 })],
    rateLimited: { hls: 1, "http-ts": 0 },
  });
  assert.deepEqual(output.rateLimited(), { hls: 3, "http-ts": 1 });
  assert.deepEqual(output.httpStats("live/a"), {
    clients: 1,
    bytesSent: 1500,
    skips: 1,
    hlsClients: 1,
    hlsSegments: 6,
    hlsBytesSent: 5000,
  });

  streams.pop();
  output.streamEnded("live/a");
  assert.deepEqual(last().sent.at(-1)?.command, { type: "stream-ended", name: "live/a" });
  assert.deepEqual(output.httpStats("live/a"), ZERO);
  // A report it sent before it read that the stream ended counts for nothing.
  last().report({
    type: "stats",
    streams: [reported("live/a", { clients: 1, bytesSent: 600, hlsSegments: 1 })],
    rateLimited: { hls: 1, "http-ts": 0 },
  });
  assert.deepEqual(output.httpStats("live/a"), ZERO);
  await output.stop(100);
});

Deno.test("OutputSupervisor sends each stream's HLS rules, and after a reload only the changed ones", async () => {
  const streams: StreamBufferRef[] = [
    { name: "live/a", fd: 7, bytes: 4096 },
    { name: "live/b", fd: 8, bytes: 4096 },
  ];
  let rules: Record<string, HlsRules> = {
    "live/a": { mode: "always", segmentMs: 4000, window: 10, partMs: 400 },
  };
  const output = new OutputSupervisor<FakeOutput>(SETTINGS, {
    launch: (events) => process = new FakeOutput(events),
    streams: () => streams,
    hlsRules: (name) => rules[name] ?? DEFAULT_HLS_RULES,
  });
  let process: FakeOutput | undefined;
  const started = output.start();
  process!.report(LISTENING);
  await started;
  // After its settings and the recordings it may serve: each stream, with its rules.
  const streamCommands = () =>
    process!.sent.map(({ command }) => command).filter((command) =>
      command.type.startsWith("stream")
    );
  assert.deepEqual(streamCommands(), [
    { type: "stream", name: "live/a", bufferBytes: 4096, hls: rules["live/a"] },
    { type: "stream", name: "live/b", bufferBytes: 4096, hls: DEFAULT_HLS_RULES },
  ]);
  output.rulesChanged();
  assert.equal(streamCommands().length, 2, "nothing changed, nothing sent");
  rules = { "live/b": { mode: "on-demand", segmentMs: 1000, window: 3, partMs: 0 } };
  output.rulesChanged();
  assert.deepEqual(streamCommands().slice(2), [
    { type: "stream-rules", name: "live/a", hls: DEFAULT_HLS_RULES },
    { type: "stream-rules", name: "live/b", hls: rules["live/b"] },
  ]);
  await output.stop(100);
});

Deno.test("OutputSupervisor kills a process that stops reading its commands, and starts another", async () => {
  const { output, launched, last } = supervisor();
  const started = output.start();
  last().report(LISTENING);
  await started;
  const stuck = last();
  stuck.reading = false;
  output.streamCreated("live/a", 9, 8192);
  await sleep(0);
  assert.deepEqual(stuck.signals, ["SIGKILL"]);
  await sleep(25);
  assert.equal(launched.length, 2);
  await output.stop(100);
});

Deno.test("OutputSupervisor.stop() asks first, kills after the timeout, and restarts nothing", async () => {
  const { output, launched, last } = supervisor();
  const started = output.start();
  last().report(LISTENING);
  await started;
  await output.stop(100);
  assert.deepEqual(last().commands(), ["settings", "recordings", "access-rules", "shutdown"]);
  assert.deepEqual(last().signals, []);

  const stubborn = supervisor();
  const again = stubborn.output.start();
  stubborn.last().report(LISTENING);
  await again;
  stubborn.last().obeys = false;
  await stubborn.output.stop(20);
  assert.deepEqual(stubborn.last().signals, ["SIGKILL"]);
  await sleep(25);
  assert.equal(launched.length, 1);
  assert.equal(stubborn.launched.length, 1);
});

Deno.test("the output process takes the HLS rules the config file allows, with the same defaults", () => {
  assert.deepEqual(HLS_SEGMENT_MS, CONFIG_SEGMENT_MS);
  assert.deepEqual(HLS_WINDOW, CONFIG_WINDOW);
  assert.deepEqual(HLS_PART_MS, CONFIG_PART_MS);
  const { hls, hlsSegmentMs, hlsWindow, hlsPartMs } = DEFAULT_CONFIG.streamDefaults;
  assert.deepEqual(DEFAULT_HLS_RULES, {
    mode: hls,
    segmentMs: hlsSegmentMs,
    window: hlsWindow,
    partMs: hlsPartMs,
  });
});

Deno.test("OutputSupervisor answers access requests, and a reload resets kept answers", async () => {
  const asked: string[] = [];
  let process: FakeOutput | undefined;
  const output = new OutputSupervisor<FakeOutput>(SETTINGS, {
    launch: (events) => process = new FakeOutput(events),
    streams: () => [],
    decideAccess: (request) => {
      asked.push(request.stream);
      return Promise.resolve({ allowed: false, status: 403, message: "No", ttlMs: 5 });
    },
    accessWaitMs: () => 2500,
  });
  const started = output.start();
  process!.report(LISTENING);
  await started;
  const access = {
    stream: "live/a",
    protocol: "hls",
    peer: "192.0.2.1:1",
    query: "",
    bearer: null,
  };
  process!.report({ type: "access-request", id: 7, request: { ...access, protocol: "hls" } });
  await sleep(0);
  assert.deepEqual(asked, ["live/a"]);
  const commands = () => process!.sent.map(({ command }) => command);
  assert.deepEqual(commands().at(-1), {
    type: "access-answer",
    id: 7,
    answer: { allowed: false, status: 403, message: "No", ttlMs: 5 },
  });
  assert.deepEqual(commands().find((command) => command.type === "access-rules"), {
    type: "access-rules",
    waitMs: 2500,
  });
  output.rulesChanged();
  assert.deepEqual(commands().at(-1), { type: "access-rules", waitMs: 2500 });
  await output.stop(100);
});

Deno.test("OutputSupervisor answers a demand with the wait decided, and counts HTTP viewers from stats", async () => {
  const demanded: string[] = [];
  let process: FakeOutput | undefined;
  const output = new OutputSupervisor<FakeOutput>(SETTINGS, {
    launch: (events) => process = new FakeOutput(events),
    streams: () => [{ name: "edge/a", fd: 3, bytes: 1024 }],
    demand: (name) => {
      demanded.push(name);
      return name === "edge/a" ? 2500 : 0;
    },
  });
  const started = output.start();
  process!.report(LISTENING);
  await started;
  const commands = () => process!.sent.map(({ command }) => command);
  process!.report({ type: "demand", id: 4, stream: "edge/a" });
  assert.deepEqual(commands().at(-1), { type: "demand-answer", id: 4, waitMs: 2500 });
  process!.report({ type: "demand", id: 5, stream: "studio/b" });
  assert.deepEqual(commands().at(-1), { type: "demand-answer", id: 5, waitMs: 0 });
  assert.deepEqual(demanded, ["edge/a", "studio/b"]);

  assert.equal(output.httpViewers("edge/a"), 0);
  const stats = { bytesSent: 0, skips: 0, hlsSegments: 0, hlsBytesSent: 0 };
  process!.report({
    type: "stats",
    streams: [{ name: "edge/a", clients: 1, hlsClients: 2, ...stats }],
    rateLimited: { hls: 0, "http-ts": 0 },
  });
  assert.equal(output.httpViewers("edge/a"), 3, "HTTP-TS clients and HLS clients");
  process!.exit(1);
  assert.equal(output.httpViewers("edge/a"), 0, "its clients went with it");
  await output.stop(100);
});

Deno.test("OutputSupervisor answers a demand with no wait when it has no decider", async () => {
  let process: FakeOutput | undefined;
  const output = new OutputSupervisor<FakeOutput>(SETTINGS, {
    launch: (events) => process = new FakeOutput(events),
    streams: () => [],
  });
  const started = output.start();
  process!.report(LISTENING);
  await started;
  process!.report({ type: "demand", id: 1, stream: "edge/a" });
  assert.deepEqual(process!.sent.at(-1)?.command, { type: "demand-answer", id: 1, waitMs: 0 });
  await output.stop(100);
});
