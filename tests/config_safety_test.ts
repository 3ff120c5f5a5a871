/**
 * The config fails closed, against real peers: a reload that would take
 * protection from a live stream (an empty or truncated file, a dropped
 * passphrase) is refused by SIGHUP and by `POST /api/reload` unless the file
 * says `allowUnprotected: true`; and every stream name the README allows
 * (up to 255 bytes) can be published and played.
 */

import assert from "node:assert/strict";
import {
  Atoll,
  ffmpegPublisher,
  ffmpegViewer,
  probeVideo,
  tryConnect,
  waitFor,
} from "./support/mod.ts";

const TOKEN = "operator-token-0123456789";
const PUBLISH_SECRET = "publish-secret-1";
const READ_SECRET = "read-secret-1234";

const PROTECTED = [
  "streams:",
  "  - prefix: secure",
  `    publishPassphrase: ${PUBLISH_SECRET}`,
  `    readPassphrase: ${READ_SECRET}`,
].join("\n") + "\n";

/** `POST /api/reload`: the status, and the `error` of a refusal (the body of a success). */
async function reload(atoll: Atoll): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${atoll.httpPort}/api/reload`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  const body = await response.text();
  return { status: response.status, body: response.ok ? body : JSON.parse(body).error };
}

/** Sends SIGHUP and returns the reason the error line of the reload it caused gives. */
async function sighupRefused(atoll: Atoll): Promise<string> {
  const refusals = () =>
    atoll.logs.filter((l) => l.level.toLowerCase() === "error" && /not reloaded/.test(l.message));
  const before = refusals().length;
  atoll.signal("SIGHUP");
  const line = await waitFor("the reload's outcome", () => {
    if (atoll.findLog((l) => /Config reloaded/.test(l.message)) !== undefined) {
      throw new Error("SIGHUP reloaded a file that takes protection from a live stream");
    }
    return refusals()[before];
  });
  return String(line.properties.error);
}

/** A viewer without the read passphrase is still turned away: 11, passphrase missing. */
let checks = 0;

async function assertStillProtected(atoll: Atoll, after: string): Promise<void> {
  // Each check's stream id differs (a query on the name), so the refusals
  // before it do not back this caller off: it sees libsrt's own answer.
  const viewer = await tryConnect(atoll.srtPort, `play:secure/cam?check=${++checks}`);
  assert.equal(viewer.connected, false, `a viewer without the passphrase got in after ${after}`);
  assert.equal(viewer.rejectReason, 11, viewer.rejectText);
}

Deno.test("a reload that would take protection from a live stream is refused unless the file says allowUnprotected: true", async () => {
  const dir = await Deno.makeTempDir({ prefix: "atoll_config_safety_" });
  const path = `${dir}/atoll.yaml`;
  await Deno.writeTextFile(path, PROTECTED);
  try {
    await using atoll = await Atoll.start(["--config", path], {
      env: { ATOLL_API_TOKEN: TOKEN },
    });
    await using _publisher = await ffmpegPublisher(
      `srt://127.0.0.1:${atoll.srtPort}?streamid=publish:secure/cam&passphrase=${PUBLISH_SECRET}`,
    );
    await waitFor(
      "the protected publisher sending",
      async () =>
        (await atoll.connections()).some((c) =>
          c.stream === "secure/cam" && c.mode === "publish" && c.bytesReceived > 0
        ),
      { timeoutMs: 15_000 },
    );
    await assertStillProtected(atoll, "startup");

    const files: { what: string; text: string; reason: RegExp }[] = [
      { what: "an empty file", text: "", reason: /it sets nothing \(empty or only comments\)/ },
      {
        what: "a file of comments",
        text: "# streams:\n#   - prefix: secure\n",
        reason: /it sets nothing/,
      },
      {
        what: "a file without the read passphrase",
        text: PROTECTED.replace(`    readPassphrase: ${READ_SECRET}\n`, ""),
        reason: /callers: "secure\/cam" loses its readPassphrase; .*allowUnprotected: true/,
      },
    ];
    for (const { what, text, reason } of files) {
      await Deno.writeTextFile(path, text);
      const logged = await sighupRefused(atoll);
      assert.match(logged, /^Refusing config /);
      assert.match(logged, reason, what);
      await assertStillProtected(atoll, `SIGHUP with ${what}`);

      const answer = await reload(atoll);
      assert.equal(answer.status, 400, `${what}: ${answer.body}`);
      assert.match(answer.body, /Config not reloaded, the old one stays: Refusing config /);
      assert.match(answer.body, reason, what);
      assert.doesNotMatch(answer.body, /secret/, "no passphrase in the answer");
      await assertStillProtected(atoll, `POST /api/reload with ${what}`);
    }

    // Said explicitly: accepted, and the stream is open to viewers without a passphrase.
    await Deno.writeTextFile(
      path,
      "allowUnprotected: true\n" + PROTECTED.replace(`    readPassphrase: ${READ_SECRET}\n`, ""),
    );
    const answer = await reload(atoll);
    assert.equal(answer.status, 200, answer.body);
    const open = await tryConnect(atoll.srtPort, "play:secure/cam");
    assert.equal(open.connected, true, open.rejectText);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a stream name of 255 bytes, the README's longest, is published and played", async () => {
  const name = `long/${"n".repeat(125)}/${"m".repeat(124)}`;
  assert.equal(new TextEncoder().encode(name).length, 255);
  await using atoll = await Atoll.start();
  await using _publisher = await ffmpegPublisher(
    `srt://127.0.0.1:${atoll.srtPort}?streamid=publish:${name}`,
  );
  await waitFor(
    "the publisher sending",
    async () => (await atoll.streams()).find((s) => s.name === name && s.bytesIn > 0),
    { timeoutMs: 15_000 },
  );

  const dir = await Deno.makeTempDir({ prefix: "atoll_long_name_" });
  try {
    const out = `${dir}/out.ts`;
    await using viewer = ffmpegViewer(
      `srt://127.0.0.1:${atoll.srtPort}?streamid=play:${name}`,
      out,
      2,
    );
    const status = await viewer.exit(20_000);
    assert.equal(status.code, 0, "the viewer played to its end");
    const video = await probeVideo(out);
    assert.ok(video.frames > 0, `the viewer got no frames: ${video.errors}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
