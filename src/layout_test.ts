/**
 * The folders say where code runs and whether it is pure; this test keeps
 * them honest by reading every module's imports.
 */

import assert from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** What each folder may import from this repository (besides itself). */
const ALLOWED: Record<string, readonly string[]> = {
  "src/protocol": [],
  "src/media": [],
  "src/http": ["src/protocol"],
  "src/ipc": ["src/media", "src/protocol"],
  "src/config": ["src/protocol"],
  // Network plumbing both HTTP servers share (the accept loop): it uses the
  // system, and knows nothing of the processes that use it.
  "src/net": [],
  "src/server": [
    "src/protocol",
    "src/media",
    "src/http",
    "src/ipc",
    "src/net",
    "src/config",
    "ffi",
    "workers",
    "static",
  ],
  "src/peer": ["src/protocol", "src/media", "src/ipc", "ffi"],
  // The media output process: it reads stream buffers and serves HTTP, and
  // knows nothing of the main process's decisions or of SRT peers.
  "src/output": ["src/protocol", "src/media", "src/http", "src/ipc", "src/net", "ffi"],
  // A recorder process: it reads one stream buffer and writes files.
  "src/recorder": ["src/protocol", "src/media", "src/ipc", "ffi"],
  "ffi": [],
};

/** Folders whose modules must not touch the system: no `Deno.*`, no FFI. */
const PURE = ["src/protocol", "src/media", "src/http", "src/ipc"];

async function modulesUnder(folder: string): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(join(ROOT, folder))) {
    const path = `${folder}/${entry.name}`;
    if (entry.isDirectory && entry.name !== "testdata") found.push(...await modulesUnder(path));
    else if (entry.isFile && path.endsWith(".ts") && !path.endsWith("_test.ts")) found.push(path);
  }
  return found;
}

function folderOf(path: string): string | undefined {
  return Object.keys(ALLOWED).find((folder) => path === folder || path.startsWith(`${folder}/`));
}

/** The repository-relative paths a module imports or re-exports. */
function importsOf(module: string, text: string): string[] {
  const specifiers = [...text.matchAll(/^\s*(?:import|export)\b[^"']*?["'](\.{1,2}\/[^"']+)["']/gm)]
    .map((match) => match[1]!);
  return specifiers.map((specifier) => relative(ROOT, resolve(ROOT, dirname(module), specifier)));
}

/** The text without comments, so a doc that names `Deno.x` is not a use of it. */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
}

Deno.test("each folder imports only what its place in the architecture allows", async () => {
  const problems: string[] = [];
  for (const folder of Object.keys(ALLOWED)) {
    for (const module of await modulesUnder(folder)) {
      const text = await Deno.readTextFile(join(ROOT, module));
      for (const target of importsOf(module, text)) {
        const targetFolder = folderOf(target) ?? target.split("/")[0]!;
        if (targetFolder === folder) continue;
        if (!ALLOWED[folder]!.includes(targetFolder)) problems.push(`${module} imports ${target}`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

Deno.test("the pure folders use no Deno API and no FFI", async () => {
  const problems: string[] = [];
  for (const folder of PURE) {
    for (const module of await modulesUnder(folder)) {
      const text = code(await Deno.readTextFile(join(ROOT, module)));
      if (/\bDeno\./.test(text)) problems.push(`${module} uses Deno.*`);
    }
  }
  assert.deepEqual(problems, []);
});

Deno.test("the main process, the SRT children, the media output and the recorders import none of each other", () => {
  for (
    const [folder, others] of [
      ["src/server", ["src/peer", "src/output", "src/recorder"]],
      ["src/peer", ["src/server", "src/output", "src/recorder"]],
      ["src/output", ["src/server", "src/peer", "src/recorder"]],
      ["src/recorder", ["src/server", "src/peer", "src/output"]],
    ] as const
  ) {
    for (const other of others) assert.equal(ALLOWED[folder]!.includes(other), false);
  }
});

Deno.test("the layout check sees a forbidden import (it can fail)", () => {
  const imports = importsOf(
    "src/peer/x.ts",
    'import { a } from "../server/server.ts";\nexport { b } from "./y.ts";\n',
  );
  assert.deepEqual(imports, ["src/server/server.ts", "src/peer/y.ts"]);
  assert.equal(folderOf(imports[0]!), "src/server");
  assert.equal(ALLOWED["src/peer"]!.includes("src/server"), false);
});
