import assert from "node:assert/strict";
import { EXPECTED_ARGUMENTS, IGNORED_SIGNALS, runHelperMain } from "./helper_main.ts";

function fake(serve: (controlFd: number) => Promise<number>, flushed = Promise.resolve()) {
  const calls: string[] = [];
  return {
    calls,
    options: {
      name: "Test process",
      setsid: () => {
        calls.push("setsid");
        throw new Error("EPERM");
      },
      ignoreSignal: (signal: string) => calls.push(`ignore ${signal}`),
      serve: (controlFd: number) => {
        calls.push(`serve ${controlFd}`);
        return serve(controlFd);
      },
      logError: (message: string) => calls.push(`error ${message}`),
      flushed: () => flushed,
      flushMs: 10,
    },
  };
}

Deno.test("runHelperMain() serves on the control fd and returns its exit code", async () => {
  const { calls, options } = fake(() => Promise.resolve(7));
  assert.equal(await runHelperMain(["--control-fd", "5"], options), 7);
  assert.deepEqual(calls, [
    "setsid",
    ...IGNORED_SIGNALS.map((signal) => `ignore ${signal}`),
    "serve 5",
  ]);
});

Deno.test("runHelperMain() rejects other arguments with an error log and exit code 1", async () => {
  for (const args of [[], ["--control-fd", "2"], ["--control-fd", "x"], ["--fd", "5"]]) {
    const { calls, options } = fake(() => Promise.resolve(0));
    assert.equal(await runHelperMain(args, options), 1);
    assert.deepEqual(calls, [
      `error Test process failed: TypeError: Invalid test process arguments "${
        args.join(" ")
      }": ${EXPECTED_ARGUMENTS}`,
    ]);
  }
});

Deno.test("runHelperMain() reports a failure to serve and exits 1", async () => {
  const { calls, options } = fake(() => Promise.reject(new Error("boom")));
  assert.equal(await runHelperMain(["--control-fd", "3"], options), 1);
  assert.equal(calls.at(-1), "error Test process failed: Error: boom");
});

Deno.test("runHelperMain() waits for the last reports to go out before it returns", async () => {
  let flushed = false;
  const reports = new Promise<void>((resolve) => setTimeout(resolve, 5)).then(() => {
    flushed = true;
  });
  const { options } = fake(() => Promise.resolve(0), reports);
  assert.equal(await runHelperMain(["--control-fd", "3"], { ...options, flushMs: 5000 }), 0);
  assert.ok(flushed, "returned before the reports went out");
});

Deno.test("runHelperMain() waits for the reports no longer than its flush time", async () => {
  const { options } = fake(() => Promise.resolve(0), new Promise(() => {}));
  const started = performance.now();
  assert.equal(await runHelperMain(["--control-fd", "3"], options), 0);
  // flushMs is 10: far below the default of 2000 ms.
  const tookMs = performance.now() - started;
  assert.ok(tookMs < 1000, `took ${tookMs} ms`);
});
