import assert from "node:assert/strict";
import { resolveOptions } from "../config/options.ts";
import { FAST_HANDSHAKE_VERSIONS } from "../protocol/induction_response.ts";
import type { ChildRuntime } from "./child_command.ts";
import { decideFastHandshake } from "./fast_handshake.ts";

/** A runtime that fails the test if anything tries to start a child with it. */
const NO_CHILDREN: ChildRuntime = {
  execPath: "/nonexistent/no-child-may-start",
  standalone: false,
  workerUrl: "file:///nonexistent/peer.ts",
  env: {},
};

/** Every version in "1.5.A to 1.5.B", as srt_getversion() numbers them. */
function versionsIn(text: string, where: string): number[] {
  const match = /\b1\.5\.(\d) to 1\.5\.(\d)\b/.exec(text);
  assert.ok(match, `${where} names no version range`);
  const [first, last] = [Number(match[1]), Number(match[2])];
  return Array.from({ length: last - first + 1 }, (_, i) => 0x010500 + first + i);
}

Deno.test("the fast handshake trusts exactly the libsrt versions the README and docs/design.md name", async () => {
  for (const file of ["../../README.md", "../../docs/design.md"]) {
    const text = await Deno.readTextFile(new URL(file, import.meta.url));
    assert.deepEqual(FAST_HANDSHAKE_VERSIONS, versionsIn(text, file));
  }
});

Deno.test("decideFastHandshake() says no, without a self-test child, when off or for an unknown libsrt", async () => {
  const on = resolveOptions({ fastHandshake: true });
  assert.equal(
    await decideFastHandshake(resolveOptions({ fastHandshake: false }), 0x010501, NO_CHILDREN),
    false,
  );
  for (const version of [0x010403, 0x010500, 0x010505, 0x010600]) {
    assert.equal(await decideFastHandshake(on, version, NO_CHILDREN), false, version.toString(16));
  }
});
