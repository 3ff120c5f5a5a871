/**
 * Entry of every child process: `--control-fd N` serves one SRT peer,
 * `--self-test` runs the fast handshake self-test with settings read from
 * stdin (so a passphrase never shows in the process list).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { report, runPeerChild } from "./peer_child.ts";
import { selfTestProcess } from "./self_test.ts";
import { parsePeerSettings } from "./messages.ts";
import { readLines } from "./lines.ts";

/** Runs a child with its own arguments; resolves to its exit code. */
export async function runPeerProcess(args: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: { "control-fd": { type: "string" }, "self-test": { type: "boolean" } },
    strict: true,
  });
  try {
    if (values["self-test"]) {
      const line = (await readLines(Deno.stdin.readable).next()).value ?? "";
      report(await selfTestProcess(parsePeerSettings(line)));
      return 0;
    }
    const fd = Number(values["control-fd"]);
    if (!Number.isInteger(fd) || fd < 3) {
      throw new TypeError(`Invalid --control-fd: ${values["control-fd"]}`);
    }
    return await runPeerChild(fd);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    report({ type: "closed", reason: "error", detail, stats: null });
    return 1;
  }
}
