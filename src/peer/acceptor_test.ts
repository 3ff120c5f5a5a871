import assert from "node:assert/strict";
import { SrtState } from "../../ffi/srt_socket.ts";

const CLOSE_IN_CALLBACK = new URL("./testdata/close_in_listen_callback.ts", import.meta.url)
  .pathname;

/** Far more than the scenario needs (a few ms of handshake after startup), on a loaded machine. */
const SCENARIO_LIMIT_MS = 10_000;

/**
 * Runs a script (`args`: its path and arguments) that may hang in libsrt,
 * where no JS timer can end it: in a process of its own, killed after
 * `limitMs`. `null` when it was killed.
 */
async function runBounded(
  args: string[],
  limitMs: number,
): Promise<{ code: number; stdout: string; stderr: string } | null> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    child.kill("SIGKILL");
  }, limitMs);
  try {
    const output = await child.output();
    const decoder = new TextDecoder();
    return killed ? null : {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}

/** Runs one mode of testdata/close_in_listen_callback.ts and checks it neither hung nor accepted the caller that came during the close. */
async function closeInListenCallback(
  mode: "handshake" | "accepted",
): Promise<Record<string, unknown>> {
  const result = await runBounded([CLOSE_IN_CALLBACK, mode], SCENARIO_LIMIT_MS);
  assert.ok(
    result !== null,
    `The listener's close did not return within ${SCENARIO_LIMIT_MS} ms (${mode}) while ` +
      "libsrt's receive thread waited for the listen callback: it waited for a callback " +
      "that only the blocked JS thread could run",
  );
  assert.notEqual(
    result.code,
    2,
    `the caller's conclusion never reached the listen callback, so nothing was tested: ${result.stderr}`,
  );
  assert.equal(result.code, 0, result.stderr);
  const outcome = JSON.parse(result.stdout);
  assert.equal(outcome.entered, true);
  assert.ok(
    outcome.callerState === SrtState.BROKEN || outcome.callerState === SrtState.CLOSED,
    `the caller that came during the close is refused, not left connecting (state ${outcome.callerState})`,
  );
  return outcome;
}

Deno.test("acceptConnection() stops while libsrt waits for the listen callback, and refuses that caller without asking", async () => {
  const outcome = await closeInListenCallback("handshake");
  assert.equal(outcome.result, "shutdown");
  assert.equal(outcome.decided, 0, "a callback that comes while closing refuses without asking");
});

Deno.test("AcceptedConnection.close() returns while a caller restarted on the same port waits for the listen callback", async () => {
  const outcome = await closeInListenCallback("accepted");
  assert.equal(outcome.result, "accepted");
  assert.equal(outcome.decided, 1, "only the first caller was asked about");
});
