import assert from "node:assert/strict";
import { SrtState } from "../../ffi/srt_socket.ts";

const CLOSE_IN_CALLBACK = new URL("./testdata/close_in_listen_callback.ts", import.meta.url)
  .pathname;

/** Far more than the scenario needs (a few ms of handshake after startup), on a loaded machine. */
const SCENARIO_LIMIT_MS = 10_000;

/**
 * Runs a script that may hang in libsrt, where no JS timer can end it: in a
 * process of its own, killed after `limitMs`. `null` when it was killed.
 */
async function runBounded(
  script: string,
  limitMs: number,
): Promise<{ code: number; stdout: string; stderr: string } | null> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script],
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

Deno.test("acceptConnection() closes its listener while libsrt waits for the listen callback (issue 10)", async () => {
  const result = await runBounded(CLOSE_IN_CALLBACK, SCENARIO_LIMIT_MS);
  assert.ok(
    result !== null,
    `acceptConnection() did not return within ${SCENARIO_LIMIT_MS} ms of being stopped while ` +
      "libsrt's receive thread waited for the listen callback: closing the listener waited " +
      "for a callback that only the blocked JS thread could run",
  );
  assert.notEqual(
    result.code,
    2,
    `the caller's conclusion never reached the listen callback, so nothing was tested: ${result.stderr}`,
  );
  assert.equal(result.code, 0, result.stderr);
  const outcome = JSON.parse(result.stdout);
  assert.equal(outcome.entered, true);
  assert.equal(outcome.reason, "shutdown");
  assert.equal(outcome.decided, 0, "a callback that comes while closing refuses without asking");
  assert.ok(
    outcome.callerState === SrtState.BROKEN || outcome.callerState === SrtState.CLOSED,
    `the caller is refused, not left connecting (state ${outcome.callerState})`,
  );
});
