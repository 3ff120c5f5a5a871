/**
 * The container image's recipe cannot drift from the code, though no image
 * is built here (no Docker engine runs): its command is one Atoll accepts,
 * its ports are the ones that command listens on, and its module cache is
 * filled for the main process and every kind of child process.
 */

import assert from "node:assert/strict";
import { parseCommandLine } from "../src/config/cli.ts";

const ROOT = new URL("../", import.meta.url);
const DOCKERFILE = await Deno.readTextFile(new URL("Dockerfile", ROOT));

/** The JSON array of the instruction `name` (`CMD`, `ENTRYPOINT`). */
function execForm(name: string): string[] {
  const match = new RegExp(`^${name} (\\[.*\\])$`, "m").exec(DOCKERFILE);
  assert.ok(match !== null, `the Dockerfile has a ${name} in exec form`);
  return JSON.parse(match[1]!);
}

Deno.test("the image's command is one Atoll serves with, on the ports it exposes", () => {
  const line = parseCommandLine(execForm("CMD"), "test");
  assert.equal(line.kind, "serve");
  if (line.kind !== "serve") return;
  const { options } = line;
  const exposed = /^EXPOSE (.*)$/m.exec(DOCKERFILE)?.[1]?.split(/\s+/) ?? [];
  // `off` would be no address at all.
  const media = typeof options.mediaListen === "object" ? options.mediaListen : undefined;
  assert.ok(media !== undefined, "the image serves media");
  for (
    const [what, port] of [
      ["SRT", `${options.srtListen.port}/udp`],
      ["HTTP", `${options.httpListen.port}/tcp`],
      ["media", `${media?.port}/tcp`],
    ]
  ) {
    assert.ok(exposed.includes(port!), `${what} port ${port} is exposed: ${exposed.join(" ")}`);
  }
  // Published beyond the container's loopback, through -p.
  assert.equal(options.httpListen.hostname, "0.0.0.0");
  assert.equal(media?.hostname, "0.0.0.0");
});

Deno.test("the image caches the modules of the main process and of every child it starts", async () => {
  const cached = /^RUN deno cache --frozen (.*)$/m.exec(DOCKERFILE)?.[1]?.split(/\s+/) ?? [];
  assert.ok(cached.includes("main.ts"));
  for await (const entry of Deno.readDir(new URL("workers/", ROOT))) {
    if (!entry.isFile || !entry.name.endsWith(".ts")) continue;
    assert.ok(cached.includes(`workers/${entry.name}`), `workers/${entry.name} is cached`);
  }
  assert.deepEqual(execForm("ENTRYPOINT").slice(0, 3), ["deno", "run", "--cached-only"]);
});
