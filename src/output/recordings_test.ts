import assert from "node:assert/strict";
import { recordingFileName } from "../ipc/recording_files.ts";
import {
  openRecording,
  recordingOfTarget,
  RECORDINGS_PREFIX,
  sendFile,
  tokenRefusal,
} from "./recordings.ts";
import type { ResponseSink } from "./ts_stream.ts";

const NAME = recordingFileName("live/cam1", Date.UTC(2025, 0, 2, 12, 0, 5));

Deno.test("recordingOfTarget() takes recording names only, and no path out of the directory", () => {
  assert.equal(recordingOfTarget("/live/cam1.ts"), undefined);
  assert.deepEqual(recordingOfTarget(`${RECORDINGS_PREFIX}${NAME}?x=1`), { file: NAME });
  assert.deepEqual(
    recordingOfTarget(`${RECORDINGS_PREFIX}${encodeURIComponent(NAME)}`),
    { file: NAME },
  );
  for (
    const file of [
      "..%2F..%2Fetc%2Fpasswd",
      "..",
      "%2E%2E",
      `sub%2F${NAME}`,
      "notes.txt",
      "%E0%A4%A",
      "",
    ]
  ) {
    assert.equal(recordingOfTarget(`${RECORDINGS_PREFIX}${file}`), "invalid", file);
  }
});

Deno.test("tokenRefusal() lets the right bearer token through and says what is wrong otherwise", () => {
  const access = { token: "s3cret", dirs: [] };
  assert.equal(tokenRefusal(access, "Bearer s3cret"), undefined);
  assert.equal(tokenRefusal(access, "bearer   s3cret "), undefined);
  assert.equal(tokenRefusal({ token: null, dirs: [] }, "Bearer s3cret")?.status, 403);
  assert.deepEqual(tokenRefusal(access, null), {
    status: 401,
    message: "Missing Authorization: Bearer token",
    challenge: true,
  });
  assert.equal(tokenRefusal(access, "Basic czNjcmV0")?.status, 401);
  assert.equal(tokenRefusal(access, "Bearer s3cre")?.status, 403);
  assert.equal(tokenRefusal(access, "Bearer s3cret2")?.status, 403);
});

Deno.test("openRecording() finds a regular file in the directories given, never through a symlink", async () => {
  const outside = await Deno.makeTempDir({ prefix: "atoll_outside_" });
  const first = await Deno.makeTempDir({ prefix: "atoll_recordings_" });
  const second = await Deno.makeTempDir({ prefix: "atoll_recordings_" });
  try {
    const other = recordingFileName("live/cam2", Date.UTC(2025, 0, 2, 12, 0, 5));
    await Deno.writeTextFile(`${outside}/secret`, "secret");
    await Deno.symlink(`${outside}/secret`, `${first}/${other}`);
    await Deno.writeFile(`${second}/${NAME}`, new Uint8Array(1000));
    await Deno.mkdir(`${first}/${recordingFileName("live/dir", 0)}`);

    const found = await openRecording(["/nonexistent/atoll", first, second], NAME);
    assert.ok(found !== undefined);
    using file = found.file;
    assert.equal(found.bytes, 1000);
    assert.equal((await file.stat()).size, 1000);

    assert.equal(await openRecording([first, second], other), undefined, "a symlink");
    assert.equal(await openRecording([first], recordingFileName("live/dir", 0)), undefined);
    assert.equal(await openRecording([outside], NAME), undefined);
  } finally {
    for (const dir of [outside, first, second]) await Deno.remove(dir, { recursive: true });
  }
});

/** A sink that keeps what it is given, `limit` bytes a write at most. */
function collector(limit = Infinity) {
  const chunks: Uint8Array[] = [];
  const sink: ResponseSink = {
    write(bytes) {
      const n = Math.min(bytes.length, limit);
      chunks.push(bytes.slice(0, n));
      return Promise.resolve(n);
    },
    close() {},
  };
  return { sink, bytes: () => new Uint8Array(chunks.flatMap((chunk) => [...chunk])) };
}

Deno.test("sendFile() sends the head, then only the announced bytes of a longer file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "atoll_recordings_" });
  try {
    const content = Uint8Array.from({ length: 200_000 }, (_, i) => i % 251);
    await Deno.writeFile(`${dir}/${NAME}`, content);
    using file = await Deno.open(`${dir}/${NAME}`);
    const { sink, bytes } = collector(10_000);
    const head = new TextEncoder().encode("HTTP/1.1 200 OK\r\n\r\n");
    assert.equal(await sendFile(sink, head, file, 150_000), true);
    const sent = bytes();
    assert.deepEqual(sent.subarray(0, head.length), head);
    assert.deepEqual(sent.subarray(head.length), content.subarray(0, 150_000));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sendFile() answers false when the file is shorter than announced, or the client went", async () => {
  const dir = await Deno.makeTempDir({ prefix: "atoll_recordings_" });
  try {
    await Deno.writeFile(`${dir}/${NAME}`, new Uint8Array(1000));
    using file = await Deno.open(`${dir}/${NAME}`);
    assert.equal(await sendFile(collector().sink, new Uint8Array(1), file, 2000), false);
    const gone: ResponseSink = { write: () => Promise.reject(new Error("reset")), close() {} };
    assert.equal(await sendFile(gone, new Uint8Array(1), file, 10), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
