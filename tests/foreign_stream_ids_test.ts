/**
 * Stream ids written for other servers (MediaMTX's `publish:PATH:USER:PASS`,
 * SRS's `r=live/cam?secret=...`), sent by real SRT callers: each connects,
 * the authorization hook gets its credentials, and no secret of any id,
 * accepted or rejected, shows in the log, `/api/connections` or `/metrics`.
 */

import assert from "node:assert/strict";
import {
  type Atoll,
  type ManagedProcess,
  publisherOf,
  sleep,
  srtLiveTransmitCaller,
  startWithConfig,
  tryConnect,
  waitFor,
} from "./support/mod.ts";

/** Every secret sent below; none may show anywhere but in the hook's requests. */
const SECRETS = [
  "USER1",
  "PASSWORD1",
  "TOKEN1",
  "SECRET2",
  "TOKEN2",
  "USER3",
  "PASSWORD3",
  "SECRET4",
  "TOKEN5",
  "PASSWORD6",
  "EXTRA6",
  "PASSWORD7",
  "PASSWORD8",
];

/** Writes TS-sized chunks to `peer` until `stop()` (at most about a minute). */
function keepFeeding(peer: ManagedProcess) {
  let stopped = false;
  const done = (async () => {
    const chunk = new Uint8Array(1316).fill(0x47);
    for (let i = 0; i < 3000 && !stopped; i++) {
      await peer.write(chunk).catch(() => {
        stopped = true;
      });
      await sleep(20);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await done;
    },
  };
}

/** What Atoll shows of itself: the whole log, `/api/connections` and `/metrics`. */
async function everythingShown(atoll: Atoll): Promise<string> {
  const metrics = await (await fetch(`http://127.0.0.1:${atoll.httpPort}/metrics`)).text();
  return [JSON.stringify(await atoll.connections()), metrics, ...atoll.output].join("\n");
}

function assertNoSecret(text: string, where: string): void {
  for (const secret of SECRETS) assert.ok(!text.includes(secret), `${where} shows ${secret}`);
}

Deno.test("MediaMTX and SRS stream ids connect, give the hook their credentials, and show no secret", async () => {
  const asked: Record<string, unknown>[] = [];
  const hook = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      asked.push(await request.json());
      return new Response(null, { status: 204 });
    },
  );
  const publishers: ManagedProcess[] = [];
  const feeders: { stop(): Promise<void> }[] = [];
  try {
    await using atoll = await startWithConfig(
      `authHook: { url: "http://127.0.0.1:${hook.addr.port}/srt", timeoutMs: 2000 }\n`,
    );
    // srt-live-transmit sends the id as written: URL-encoded, as in an srt:// URL.
    const publish = async (streamId: string, stream: string) => {
      const publisher = srtLiveTransmitCaller(atoll.srtPort, encodeURIComponent(streamId));
      publishers.push(publisher);
      feeders.push(keepFeeding(publisher));
      return await publisherOf(atoll, stream);
    };
    const mediamtx = await publish("publish:live/mtx:USER1:PASSWORD1:jwt=TOKEN1", "live/mtx");
    const srs = await publish(
      "#!::h=example.com,r=live/srs?secret=SECRET2&token=TOKEN2,m=publish",
      "live/srs",
    );
    assert.equal(mediamtx.streamId, "publish:live/mtx:***:***:jwt=***");
    assert.equal(srs.streamId, "#!::h=***,r=live/srs?secret=***&token=***,m=publish");

    // Viewers, sent verbatim by a libsrt caller.
    const viewers = [
      "read:live/mtx:USER3:PASSWORD3",
      "read:live/mtx",
      "live/srs?secret=SECRET4",
      "play:live/srs:TOKEN5",
      "#!::r=live/srs?secret=SECRET4,m=request",
    ];
    for (const streamId of viewers) {
      const viewer = await tryConnect(atoll.srtPort, streamId);
      assert.equal(viewer.connected, true, `${streamId}: ${viewer.rejectText}`);
    }
    // Ids that do not parse, each holding a secret.
    for (
      const streamId of [
        "read:live/mtx:USER3:PASSWORD6:q=TOKEN1:EXTRA6",
        "USER3:PASSWORD7",
        "#!::r=live/mtx:USER3:PASSWORD8,m=request",
      ]
    ) {
      const refused = await tryConnect(atoll.srtPort, streamId);
      assert.equal(refused.rejectReason, 1400, `${streamId}: ${refused.rejectText}`);
    }

    const credentials = asked.map((body) => ({
      action: body.action,
      stream: body.stream,
      user: body.user,
      password: body.password,
      session: body.session,
      params: body.params,
      query: body.query,
    }));
    assert.deepEqual(credentials, [
      {
        action: "publish",
        stream: "live/mtx",
        user: "USER1",
        password: "PASSWORD1",
        session: null,
        params: { jwt: "TOKEN1" },
        query: "jwt=TOKEN1",
      },
      {
        action: "publish",
        stream: "live/srs",
        user: null,
        password: null,
        session: null,
        params: { h: "example.com", secret: "SECRET2", token: "TOKEN2" },
        query: "secret=SECRET2&token=TOKEN2",
      },
      {
        action: "play",
        stream: "live/mtx",
        user: "USER3",
        password: "PASSWORD3",
        session: null,
        params: {},
        query: null,
      },
      {
        action: "play",
        stream: "live/mtx",
        user: null,
        password: null,
        session: null,
        params: {},
        query: null,
      },
      {
        action: "play",
        stream: "live/srs",
        user: null,
        password: null,
        session: null,
        params: { secret: "SECRET4" },
        query: "secret=SECRET4",
      },
      {
        action: "play",
        stream: "live/srs",
        user: null,
        password: null,
        session: null,
        params: {},
        query: "TOKEN5",
      },
      {
        action: "play",
        stream: "live/srs",
        user: null,
        password: null,
        session: null,
        params: { secret: "SECRET4" },
        query: "secret=SECRET4",
      },
    ]);
    // The hook got each id as sent.
    assert.equal(
      asked[0]!.streamId,
      encodeURIComponent("publish:live/mtx:USER1:PASSWORD1:jwt=TOKEN1"),
    );
    assert.equal(asked[2]!.streamId, "read:live/mtx:USER3:PASSWORD3");

    // Shown while the publishers are up, and after every connection closed.
    assertNoSecret(await everythingShown(atoll), "Atoll, with the publishers up,");
    for (const feeder of feeders) await feeder.stop();
    for (const publisher of publishers) publisher.kill();
    for (const publisher of publishers) await publisher.exit();
    await waitFor(
      "every connection's closing line",
      () => atoll.logs.filter((l) => "reason" in l.properties).length === 10,
    );
    const rejections = atoll.logs.filter((l) => /rejected \(1400 bad request\)/.test(l.message));
    assert.equal(rejections.length, 3, "each malformed id is logged");
    assertNoSecret(await everythingShown(atoll), "Atoll");
  } finally {
    for (const feeder of feeders) await feeder.stop();
    for (const publisher of publishers) publisher.kill();
    for (const publisher of publishers) await publisher.exit();
    await hook.shutdown();
  }
});

Deno.test("a rendezvous peer's malformed stream id is logged without its secret when refused", async () => {
  // Only the side libsrt elects initiator sends its stream id in rendezvous:
  // try until Atoll got it (each try is refused either way: no default stream).
  await using atoll = await startWithConfig("playWaitMs: 500\n");
  const streamId = "publish:live/rv:USER3:PASSWORD6:q=TOKEN1:EXTRA6";
  let detail: string | undefined;
  for (let attempt = 1; attempt <= 8 && detail === undefined; attempt++) {
    // srt-live-transmit binds a rendezvous socket to `port`: borrow a free one.
    const probe = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const localPort = (probe.addr as Deno.NetAddr).port;
    probe.close();
    await using caller = srtLiveTransmitCaller(
      atoll.srtPort,
      encodeURIComponent(streamId),
      `mode=rendezvous&port=${localPort}`,
    );
    const closed = await waitFor("the rendezvous peer refused", () => {
      const lines = atoll.logs.filter((l) => l.properties.reason === "rejected");
      return lines.length === attempt && lines.at(-1)!;
    });
    caller.kill();
    if (!String(closed.properties.detail).startsWith('rejected stream id ""')) {
      detail = String(closed.properties.detail);
    }
  }
  assert.ok(detail !== undefined, "Atoll never got the rendezvous peer's stream id");
  assert.match(detail, /^rejected stream id "publish:live\/rv:\*\*\*" with 1400/);
  assertNoSecret(await everythingShown(atoll), "Atoll");
});
