/**
 * The fast-handshake gate: children answer a caller's induction themselves
 * only with a libsrt version whose SYN cookie is known, and only after a
 * self-test child has connected a real libsrt caller through the same code
 * at startup. Otherwise libsrt answers the caller's retransmission itself,
 * which is slower but never wrong (docs/design.md, "Fast path").
 *
 * @module
 */

import { formatSrtVersion } from "../../ffi/libsrt.ts";
import { DEFAULT_CONFIG } from "../config/config_file.ts";
import type { ServerOptions } from "../config/options.ts";
import type { ChildMessage } from "../ipc/messages.ts";
import { FAST_HANDSHAKE_VERSIONS } from "../protocol/induction_response.ts";
import { buildChildCommand, type ChildRuntime } from "./child_command.ts";
import { ChildHandle } from "./child_handle.ts";
import { logger } from "./log.ts";
import { describeExit, peerSettings } from "./supervisor.ts";

const log = logger("server");

/** How long the self-test child may take before it counts as failed. */
const SELF_TEST_TIMEOUT_MS = 10_000;

/** Fast handshake only when asked for, for known libsrt versions whose self-test passes. */
export async function decideFastHandshake(
  options: ServerOptions,
  srtVersion: number,
  runtime: ChildRuntime,
): Promise<boolean> {
  if (!options.fastHandshake) return false;
  if (!FAST_HANDSHAKE_VERSIONS.includes(srtVersion)) {
    log.warning("Fast handshake off: not known to work with libsrt {version}", {
      version: formatSrtVersion(srtVersion),
    });
    return false;
  }
  const result = await runSelfTestChild(options, runtime);
  if (result.passed) {
    log.debug("Fast handshake self-test passed in {ms} ms", { ms: result.setupMs.toFixed(1) });
  } else {
    log.warning("Fast handshake off: self-test failed: {detail}", { detail: result.detail });
  }
  return result.passed;
}

type SelfTestMessage = Extract<ChildMessage, { type: "self-test" }>;

async function runSelfTestChild(
  options: ServerOptions,
  runtime: ChildRuntime,
): Promise<SelfTestMessage> {
  let result: SelfTestMessage | undefined;
  const output: string[] = [];
  const child = ChildHandle.spawn(() => buildChildCommand(runtime, ["--self-test"]), {
    onMessage: (_child, message) => {
      if (message.type === "self-test") result = message;
      if (message.type === "closed") output.push(message.detail);
    },
    onOutput: (_child, line) => output.push(line),
    onExit: () => {},
  });
  child.writeLine(JSON.stringify(peerSettings(options, true, DEFAULT_CONFIG)));
  const timer = setTimeout(() => child.kill(), SELF_TEST_TIMEOUT_MS);
  const status = await child.done;
  clearTimeout(timer);
  return result ?? {
    type: "self-test",
    passed: false,
    setupMs: 0,
    detail: `self-test child ${describeExit(status)}${
      output.length ? `: ${output.join(" | ")}` : ""
    }`,
  };
}
