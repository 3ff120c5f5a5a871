/**
 * A child's start path: what a compiled binary's child runs (`main.ts
 * __atoll_peer`) works and says ready, and neither entry statically loads
 * what a child does not need before its connection (the main process's
 * modules, npm packages). The cost of each is in BENCHMARKS.md, "Child start".
 *
 * @module
 */

import assert from "node:assert/strict";
import { ChildHandle } from "../src/server/child_handle.ts";
import { childEnvironment } from "../src/server/child_command.ts";
import { compiledChildArgs } from "./support/atoll.ts";
import type { ChildMessage } from "../src/ipc/messages.ts";

const ROOT = new URL("../", import.meta.url);

Deno.test("main.ts __atoll_peer, a compiled binary's child path, says ready and stops when asked", async () => {
  const messages: ChildMessage[] = [];
  const output: string[] = [];
  const ready = Promise.withResolvers<void>();
  const child = ChildHandle.spawn((controlFd) => ({
    command: Deno.execPath(),
    args: compiledChildArgs(controlFd),
    env: childEnvironment(Deno.env.toObject()),
  }), {
    onMessage: (_child, message) => {
      messages.push(message);
      if (message.type === "ready") ready.resolve();
    },
    onOutput: (_child, line) => output.push(line),
    onExit: () => ready.resolve(),
  });
  const timer = setTimeout(() => child.kill(), 20_000);
  try {
    await ready.promise;
    assert.equal(messages[0]?.type, "ready", output.join("\n"));
    child.requestShutdown();
    const status = await child.done;
    assert.equal(status.code, 0, output.join("\n"));
  } finally {
    clearTimeout(timer);
    child.kill();
    await child.done;
  }
});

/**
 * What a child loads only once it knows what it serves: a prestarted child
 * that waits for its connection does without them.
 */
const LOADED_ON_DEMAND = [
  "src/peer/carry.ts",
  "src/peer/publish_loop.ts",
  "src/peer/play_loop.ts",
  "src/peer/relay.ts",
  "ffi/srt_connect.ts",
];

interface InfoDependency {
  code?: { specifier: string };
  isDynamic?: boolean;
}

/** Modules `entry` loads before running any of its code: static imports only, types left out. */
async function staticallyLoaded(entry: string): Promise<string[]> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "--config", new URL("deno.json", ROOT).pathname, entry],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  const info = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    roots: string[];
    modules: { specifier: string; dependencies?: InfoDependency[] }[];
  };
  const bySpecifier = new Map(info.modules.map((module) => [module.specifier, module]));
  const seen = new Set<string>();
  const visit = (specifier: string) => {
    if (seen.has(specifier)) return;
    seen.add(specifier);
    for (const dependency of bySpecifier.get(specifier)?.dependencies ?? []) {
      if (dependency.code !== undefined && !dependency.isDynamic) visit(dependency.code.specifier);
    }
  };
  for (const root of info.roots) visit(root);
  return [...seen].map((specifier) => specifier.replace(ROOT.href, ""));
}

Deno.test("a child's entries statically load no npm package and no main-process module", async () => {
  for (const entry of ["main.ts", "workers/peer.ts"]) {
    const loaded = await staticallyLoaded(new URL(entry, ROOT).pathname);
    assert.ok(loaded.includes(entry), `${entry}: ${loaded.join(", ")}`);
    const unwanted = loaded.filter((specifier) =>
      !specifier.startsWith("file:") && specifier.includes(":") ||
      specifier.startsWith("src/server/") && specifier !== "src/server/child_command.ts" ||
      specifier.startsWith("src/config/") || specifier.startsWith("static/")
    );
    assert.deepEqual(unwanted, [], `${entry} loads them before it can start a child`);
    const early = loaded.filter((specifier) => LOADED_ON_DEMAND.includes(specifier));
    assert.deepEqual(early, [], `${entry} loads them before its child has a connection`);
  }
});
