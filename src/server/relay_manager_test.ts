import assert from "node:assert/strict";
import { type AtollConfig, parseConfig } from "../config/config_file.ts";
import type { RelayRemote } from "../ipc/messages.ts";
import {
  MAX_HTTP_HELD,
  parseRelayRequest,
  type RelayHost,
  relayId,
  type RelayInfo,
  RelayManager,
  type RelaySpec,
  retryDelayMs,
} from "./relay_manager.ts";

interface Audience {
  publisher: string | null;
  viewers: string[];
  waiting: number;
}

/** The server as the relay manager sees it: children, streams and the clock, all by hand. */
class FakeServer implements RelayHost {
  nowMs = 0;
  childReady = true;
  random = () => 0.5;
  started: { relayId: string; spec: RelaySpec; remote: RelayRemote; id: string }[] = [];
  stopped: { id: string; detail: string }[] = [];
  logs: { level: string; message: string; relay: string; state: string }[] = [];
  audiences = new Map<string, Audience>();
  /** HTTP clients per stream, as the media output would report them. */
  http = new Map<string, number>();
  #next = 0;

  start(relayId: string, spec: RelaySpec, remote: RelayRemote): string | undefined {
    if (!this.childReady) return undefined;
    const id = `c${++this.#next}`;
    this.started.push({ relayId, spec, remote, id });
    return id;
  }
  stop(id: string, detail: string): void {
    this.stopped.push({ id, detail });
  }
  audience(name: string): Audience | undefined {
    return this.audiences.get(name);
  }
  streamNames(): string[] {
    return [...this.audiences.keys()];
  }
  httpViewers(name: string): number {
    return this.http.get(name) ?? 0;
  }
  resolve(hostname: string): Promise<string> {
    if (hostname.endsWith(".invalid")) return Promise.reject(new Error("not found"));
    return Promise.resolve(hostname === "origin.example" ? "192.0.2.10" : hostname);
  }
  monotonicMs(): number {
    return this.nowMs;
  }
  wallMs(): number {
    return 1_700_000_000_000 + this.nowMs;
  }
  log(level: "debug" | "info" | "warning", message: string, relay: RelayInfo): void {
    this.logs.push({ level, message, relay: relay.id, state: relay.state });
  }
  /** The newest attempt started. */
  get last() {
    const last = this.started.at(-1);
    assert.ok(last !== undefined, "an attempt was started");
    return last;
  }
}

function config(yaml: string): AtollConfig {
  return parseConfig(yaml, "yaml", "test.yaml");
}

/** Lets the resolver's promise settle. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await Promise.resolve();
}

function setup(yaml: string): { server: FakeServer; relays: RelayManager } {
  const server = new FakeServer();
  return { server, relays: new RelayManager(config(yaml), server) };
}

const ALWAYS = `
streams:
  - name: live/cam
    sourceMode: always
    source: "srt://origin.example:9000?streamid=#!::r={name},m=request&passphrase=0123456789ab&latency=300"
`;

Deno.test("RelayManager starts an always source at once, with the URL resolved and {name} expanded", async () => {
  const { server, relays } = setup(ALWAYS);
  relays.tick();
  await settle();
  assert.equal(server.started.length, 1);
  const { spec, remote } = server.last;
  assert.equal(spec.direction, "pull");
  assert.equal(spec.stream, "live/cam");
  assert.deepEqual(
    { ...remote, url: undefined },
    {
      url: undefined,
      hostname: "192.0.2.10",
      port: 9000,
      streamId: "#!::r=live/cam,m=request",
      passphrase: "0123456789ab",
      latencyMs: 300,
      connectTimeoutMs: 3000,
    },
  );
  assert.ok(
    !remote.url.includes("0123456789ab"),
    `the URL shown hides the passphrase: ${remote.url}`,
  );
  const [relay] = relays.list();
  assert.equal(relay?.state, "connecting");
  assert.equal(relay?.connectionId, server.last.id);
  relays.connected(server.last.id);
  assert.equal(relays.list()[0]?.state, "connected");
  assert.equal(relays.ofConnection(server.last.id)?.id, relay?.id);
});

Deno.test("RelayManager retries a failed relay with a doubling backoff, and logs a failure once until it changes", async () => {
  const { server, relays } = setup(ALWAYS);
  relays.tick();
  await settle();
  const closed = { reason: "handshake-timeout" as const, detail: "no answer within 3000 ms" };
  for (const [attempt, delayMs] of [[1, 1000], [2, 2000], [3, 4000]] as const) {
    relays.ended(server.last.id, closed);
    const [relay] = relays.list();
    assert.equal(relay?.state, "retrying");
    assert.equal(relay?.retries, attempt);
    assert.equal(relay?.retryInMs, delayMs, `retry ${attempt}`);
    assert.match(relay?.lastError ?? "", /handshake-timeout: no answer/);
    server.nowMs += delayMs - 1;
    relays.tick();
    await settle();
    assert.equal(server.started.length, attempt, "not before its time");
    server.nowMs += 1;
    relays.tick();
    await settle();
    assert.equal(server.started.length, attempt + 1, "at its time");
  }
  const warnings = server.logs.filter((line) => line.level === "warning");
  assert.equal(warnings.length, 1, JSON.stringify(server.logs));
  assert.match(warnings[0]!.message, /retrying in 1\.0 s/);
  // A new reason is worth a warning again.
  relays.ended(server.last.id, { reason: "rejected", detail: "1403" });
  assert.equal(server.logs.filter((line) => line.level === "warning").length, 2);
});

Deno.test("retryDelayMs() doubles from 1 s up to 30 s, with ±20 % jitter", () => {
  const cases: [number, number, number][] = [
    [1, 0.5, 1000],
    [2, 0.5, 2000],
    [5, 0.5, 16_000],
    [6, 0.5, 30_000],
    [60, 0.5, 30_000],
    [1, 0, 800],
    [1, 0.999999, 1200],
  ];
  for (const [retries, random, expected] of cases) {
    assert.equal(retryDelayMs(retries, random), expected, `retry ${retries}, random ${random}`);
  }
});

Deno.test("RelayManager forgets earlier failures once a connection lasted 10 s", async () => {
  const { server, relays } = setup(ALWAYS);
  relays.tick();
  await settle();
  relays.ended(server.last.id, { reason: "error", detail: "x" });
  server.nowMs += 1000;
  relays.tick();
  await settle();
  relays.connected(server.last.id);
  server.nowMs += 10_000;
  relays.ended(server.last.id, { reason: "broken", detail: "peer gone" });
  const [relay] = relays.list();
  assert.equal(relay?.retries, 1, "this loss is the first failure in a row");
  assert.match(relay?.lastError ?? "", /^lost after 10 s \(broken: peer gone\)/);
});

const ON_DEMAND = `
streamDefaults:
  source: "srt://origin.example:9000?streamid=#!::r={name},m=request"
  sourceLingerMs: 5000
`;

Deno.test("RelayManager pulls an on-demand source while it has viewers, and lingers after the last", async () => {
  const { server, relays } = setup(ON_DEMAND);
  relays.tick();
  await settle();
  assert.equal(server.started.length, 0, "nobody asked");
  server.audiences.set("edge/a", { publisher: null, viewers: [], waiting: 1 });
  relays.demand("edge/a");
  await settle();
  assert.equal(server.started.length, 1);
  const pull = server.last.id;
  relays.connected(pull);
  server.audiences.set("edge/a", { publisher: pull, viewers: ["v1"], waiting: 0 });
  server.nowMs += 60_000;
  relays.tick();
  assert.deepEqual(server.stopped, [], "watched: stays");
  server.audiences.set("edge/a", { publisher: pull, viewers: [], waiting: 0 });
  relays.tick();
  server.nowMs += 5000;
  relays.tick();
  assert.deepEqual(server.stopped, [], "lingers");
  server.nowMs += 1;
  relays.tick();
  const [stop] = server.stopped as { id: string; detail: string }[];
  assert.match(stop?.detail ?? "", /nobody watched stream "edge\/a" for 5000 ms/);
  relays.ended(pull, { reason: "shutdown", detail: "asked" });
  assert.deepEqual(relays.list(), [], "an idle on-demand source is forgotten until asked again");
  assert.equal(server.logs.filter((line) => line.level === "warning").length, 0);
});

Deno.test("RelayManager pulls an on-demand source for HTTP viewers alone, held until they are reported", async () => {
  const { server, relays } = setup(ON_DEMAND);
  // An HTTP request: no SRT viewer waits, the demand holds the pull 8 s by itself.
  assert.equal(relays.demand("edge/a", 8000), true);
  await settle();
  assert.equal(server.started.length, 1);
  const pull = server.last.id;
  relays.connected(pull);
  server.audiences.set("edge/a", { publisher: pull, viewers: [], waiting: 0 });
  server.nowMs += 7999;
  relays.tick();
  assert.deepEqual(server.stopped, [], "held by the demand, past the 5 s linger");
  // Reported now: an HLS client (or HTTP-TS one) holds it for as long as it is counted.
  server.http.set("edge/a", 1);
  server.nowMs += 60_000;
  relays.tick();
  assert.deepEqual(server.stopped, [], "watched over HTTP: stays");
  server.http.set("edge/a", 0);
  relays.tick();
  server.nowMs += 5000;
  relays.tick();
  assert.deepEqual(server.stopped, [], "lingers");
  server.nowMs += 1;
  relays.tick();
  const [stop] = server.stopped as { id: string; detail: string }[];
  assert.match(stop?.detail ?? "", /nobody watched stream "edge\/a" for 5000 ms/);
  relays.ended(pull, { reason: "shutdown", detail: "asked" });
  assert.deepEqual(relays.list(), []);
});

Deno.test("RelayManager holds few pulls for HTTP requests nobody watches yet, and none past a refusal", async () => {
  const { server, relays } = setup(ON_DEMAND);
  for (let i = 0; i < MAX_HTTP_HELD; i++) {
    assert.equal(relays.demand(`edge/s${i}`, 8000), true, `stream ${i}`);
  }
  await settle();
  assert.equal(server.started.length, MAX_HTTP_HELD);
  // Made-up names asked for over HTTP: past the cap, no pull starts.
  assert.equal(relays.demand("edge/one-more", 8000), false, "over the cap");
  await settle();
  assert.equal(server.started.length, MAX_HTTP_HELD);
  assert.equal(relays.demand("edge/s0", 8000), true, "one already pulling is still served");
  // Once one of them is watched, it leaves the count and another may start.
  server.audiences.set("edge/s1", { publisher: null, viewers: [], waiting: 1 });
  assert.equal(relays.demand("edge/one-more", 8000), true, "room again");
  await settle();
  assert.equal(server.started.length, MAX_HTTP_HELD + 1);

  // Refused before it connected (no such stream at the origin): the hold goes, and once the
  // linger is over nothing retries it.
  const refused = server.started.find((start) => start.spec.stream === "edge/s2")!;
  relays.ended(refused.id, { reason: "rejected", detail: "1404 no such stream" });
  server.nowMs += 5001;
  relays.tick();
  await settle();
  assert.equal(
    server.started.filter((start) => start.spec.stream === "edge/s2").length,
    1,
    "not retried for the hold",
  );
});

Deno.test("RelayManager.demand() says whether a source of the stream runs", async () => {
  const { server, relays } = setup(`
streams:
  - prefix: edge
    source: "srt://origin.example:9000?streamid=#!::r={name},m=request"
  - name: kept/on
    sourceMode: always
    source: "srt://origin.example:9000?streamid=#!::r={name},m=request"
`);
  assert.equal(relays.demand("other/a"), false, "no rule pulls it");
  assert.equal(relays.demand("kept/on"), true, "an always source");
  assert.equal(relays.demand("edge/a"), true, "an on-demand source");
  await settle();
  const added = relays.add({ direction: "pull", stream: "api/b", url: "srt://192.0.2.40:9000" });
  assert.equal(relays.demand("api/b"), true, "a pull added through the API");
  relays.remove(added.id);
  assert.equal(relays.demand("api/b"), false, "removed");
  const edge = relays.list().find((relay) => relay.stream === "edge/a")!;
  relays.remove(edge.id);
  assert.equal(relays.demand("edge/a"), false, "stopped through the API");
  assert.equal(relays.demand("edge/b"), true, "another stream of the same rule is not stopped");
  relays.stop();
  assert.equal(relays.demand("edge/c"), false, "the server is stopping");
  await settle();
  assert.deepEqual(server.started.map(({ spec }) => spec.stream).sort(), ["edge/a", "kept/on"]);
});

Deno.test("RelayManager runs a backup source only while no other publisher holds the stream", async () => {
  const { server, relays } = setup(`
streams:
  - name: live/main
    source: "srt://192.0.2.20:9000"
    sourceMode: always
    sourceRole: backup
`);
  server.audiences.set("live/main", { publisher: "encoder", viewers: [], waiting: 0 });
  relays.tick();
  await settle();
  assert.equal(server.started.length, 0, "the encoder holds the stream");
  assert.equal(relays.list()[0]?.state, "idle");
  server.audiences.set("live/main", { publisher: null, viewers: ["v"], waiting: 0 });
  relays.tick();
  await settle();
  assert.equal(server.started.length, 1);
  const backup = server.last.id;
  relays.connected(backup);
  server.audiences.set("live/main", { publisher: backup, viewers: ["v"], waiting: 0 });
  relays.tick();
  assert.deepEqual(server.stopped, []);
  // The encoder is back: the stream table closed the backup (replaced); no retry follows.
  server.audiences.set("live/main", { publisher: "encoder2", viewers: ["v"], waiting: 0 });
  relays.ended(backup, { reason: "shutdown", detail: "replaced by a new publisher" });
  assert.equal(relays.list()[0]?.state, "idle");
  assert.equal(relays.list()[0]?.retries, 0);
});

Deno.test("RelayManager pushes a stream to each destination while it has a publisher", async () => {
  const { server, relays } = setup(`
streams:
  - prefix: live
    push: ["srt://192.0.2.30:9000?streamid={name}", "srt://192.0.2.31:9000"]
`);
  relays.tick();
  assert.equal(server.started.length, 0);
  server.audiences.set("live/a", { publisher: "p", viewers: [], waiting: 0 });
  server.audiences.set("other", { publisher: "q", viewers: [], waiting: 0 });
  relays.tick();
  await settle();
  assert.deepEqual(
    server.started.map((
      { spec, remote },
    ) => [spec.direction, spec.stream, remote.hostname, remote.streamId]),
    [["push", "live/a", "192.0.2.30", "live/a"], ["push", "live/a", "192.0.2.31", undefined]],
  );
  // The publisher leaves: a push that is not connected is dropped, one connected stays with
  // the stream's viewers through the grace period, and ends with the stream.
  const [first, second] = server.started;
  relays.connected(first!.id);
  relays.ended(second!.id, { reason: "error", detail: "x" });
  server.audiences.set("live/a", { publisher: null, viewers: [first!.id], waiting: 0 });
  relays.tick();
  assert.deepEqual(relays.list().map((relay) => [relay.connectionId, relay.state]), [
    [first!.id, "connected"],
  ]);
  assert.deepEqual(server.stopped, []);
  server.audiences.delete("live/a");
  relays.ended(first!.id, { reason: "shutdown", detail: "no publisher returned" });
  relays.tick();
  assert.deepEqual(relays.list(), []);
  assert.equal(server.started.length, 2, "no push without a publisher");
});

Deno.test("RelayManager waits for a child, and fails an attempt that gets none within 5 s", async () => {
  const { server, relays } = setup(ALWAYS);
  server.childReady = false;
  relays.tick();
  await settle();
  assert.equal(relays.list()[0]?.state, "connecting");
  server.nowMs += 1000;
  server.childReady = true;
  relays.tick();
  assert.equal(server.started.length, 1, "the next tick with a child ready starts it");
  relays.ended(server.last.id, { reason: "error", detail: "x" });
  server.childReady = false;
  server.nowMs += 1000;
  relays.tick();
  await settle();
  server.nowMs += 5001;
  relays.tick();
  const [relay] = relays.list();
  assert.equal(relay?.state, "retrying");
  assert.equal(relay?.lastError, "no child was ready within 5000 ms");
});

Deno.test("RelayManager retries a host it cannot resolve", async () => {
  const { server, relays } = setup(`
streams:
  - name: a
    sourceMode: always
    source: "srt://nowhere.invalid:9000"
`);
  relays.tick();
  await settle();
  assert.equal(server.started.length, 0);
  const [relay] = relays.list();
  assert.equal(relay?.state, "retrying");
  assert.equal(relay?.lastError, 'cannot resolve "nowhere.invalid": not found');
});

Deno.test("RelayManager adds and stops relays through the API, and refuses a second source", async () => {
  const { server, relays } = setup(`
streams:
  - prefix: edge
    source: "srt://origin.example:9000?streamid=#!::r={name},m=request"
`);
  const added = relays.add({ direction: "pull", stream: "studio/b", url: "srt://192.0.2.40:9000" });
  await settle();
  assert.equal(added.origin, "api");
  assert.equal(added.sourceMode, "always");
  assert.equal(server.started.length, 1);
  assert.throws(
    () => relays.add({ direction: "pull", stream: "studio/b", url: "srt://192.0.2.41:9000" }),
    /Stream "studio\/b" has a source already: srt:\/\/192\.0\.2\.40:9000/,
  );
  assert.throws(
    () => relays.add({ direction: "pull", stream: "edge/x", url: "srt://192.0.2.41:9000" }),
    /Stream "edge\/x" has a source already/,
  );
  assert.throws(
    () => relays.add({ direction: "push", stream: "studio/b", url: "http://x" }),
    /Invalid SRT URL/,
  );
  assert.equal(relays.remove(added.id), true);
  assert.deepEqual(server.stopped, [{
    id: server.last.id,
    detail: "the relay was stopped through the API",
  }]);
  assert.deepEqual(relays.list(), []);
  relays.ended(server.last.id, { reason: "shutdown", detail: "asked" });
  relays.tick();
  await settle();
  assert.equal(server.started.length, 1, "a stopped relay never runs again");
  assert.equal(relays.remove(added.id), false);
});

Deno.test("RelayManager stops a relay whose rule a new config drops, and keeps one that did not change", async () => {
  const { server, relays } = setup(`
streams:
  - name: a
    sourceMode: always
    source: "srt://192.0.2.50:9000"
  - name: b
    sourceMode: always
    source: "srt://192.0.2.51:9000"
`);
  relays.tick();
  await settle();
  assert.equal(server.started.length, 2);
  relays.setConfig(config(`
streams:
  - name: b
    sourceMode: always
    source: "srt://192.0.2.51:9000"
`));
  assert.deepEqual(server.stopped.map(({ id }) => id), [server.started[0]!.id]);
  assert.deepEqual(relays.list().map((relay) => relay.stream), ["b"]);
  assert.equal(relays.list()[0]?.connectionId, server.started[1]!.id, "b's attempt goes on");
});

Deno.test("RelayManager starts nothing once stopped", async () => {
  const { server, relays } = setup(ALWAYS);
  relays.stop();
  relays.tick();
  relays.demand("live/cam");
  await settle();
  assert.equal(server.started.length, 0);
});

Deno.test("parseRelayRequest() takes a pull or push and says what is wrong otherwise", () => {
  assert.deepEqual(
    parseRelayRequest({
      direction: "pull",
      stream: "a/b",
      url: "srt://h:1",
      sourceMode: "on-demand",
    }),
    { direction: "pull", stream: "a/b", url: "srt://h:1", sourceMode: "on-demand" },
  );
  const bad: [unknown, RegExp][] = [
    [null, /JSON object/],
    [[], /JSON object/],
    [{ direction: "pull", stream: "a", url: "srt://h:1", extra: 1 }, /Unknown key "extra"/],
    [{ direction: "both", stream: "a", url: "srt://h:1" }, /"direction" must be "pull" or "push"/],
    [{ direction: "pull", stream: "../a", url: "srt://h:1" }, /"stream" must be a stream name/],
    [{ direction: "pull", stream: "a" }, /"url" must be an srt:\/\/ URL/],
    [{ direction: "push", stream: "a", url: "srt://h:1", sourceMode: "always" }, /for a pull only/],
    [
      { direction: "pull", stream: "a", url: "srt://h:1", sourceMode: "later" },
      /"always" or "on-demand"/,
    ],
  ];
  for (const [body, message] of bad) {
    assert.throws(() => parseRelayRequest(body), message, JSON.stringify(body));
  }
});

Deno.test("RelayManager keeps a configured relay stopped through the API until the config is reloaded", async () => {
  const { server, relays } = setup(ALWAYS);
  relays.tick();
  await settle();
  const [relay] = relays.list();
  assert.equal(relays.remove(relay!.id), true);
  relays.ended(server.last.id, { reason: "shutdown", detail: "asked" });
  server.nowMs += 60_000;
  relays.tick();
  relays.demand("live/cam");
  await settle();
  assert.equal(server.started.length, 1, "stopped, it does not come back");
  assert.deepEqual(relays.list(), []);
  relays.setConfig(config(ALWAYS));
  await settle();
  assert.equal(server.started.length, 2, "a reload starts it again");
});

Deno.test("RelayManager pulls an on-demand source for viewers left without a publisher (adopted after a restart)", async () => {
  const { server, relays } = setup(ON_DEMAND);
  server.audiences.set("edge/a", { publisher: null, viewers: ["adopted-viewer"], waiting: 0 });
  server.audiences.set("edge/b", { publisher: "caller", viewers: ["v"], waiting: 0 });
  relays.tick();
  await settle();
  assert.deepEqual(server.started.map(({ spec }) => spec.stream), ["edge/a"]);
});

Deno.test("relayId() tells URLs apart by what they show, never by their passphrase", () => {
  const id = (url: string) => relayId({ direction: "push", stream: "a", url });
  assert.match(id("srt://h:1"), /^push:a@[0-9a-f]{8}$/);
  assert.notEqual(id("srt://h:1"), id("srt://h:2"));
  assert.equal(
    id("srt://h:1?passphrase=first-secret-1"),
    id("srt://h:1?passphrase=other-secret-2"),
  );
});
