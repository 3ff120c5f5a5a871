import assert from "node:assert/strict";
import { defaultStateDir, StateDir } from "./state_dir.ts";
import { StartupError } from "./startup_error.ts";

Deno.test("defaultStateDir() is one directory per SRT port, where the user may write", () => {
  const cases: [Parameters<typeof defaultStateDir>, string][] = [
    [[9000, { XDG_RUNTIME_DIR: "/run/user/1000" }, 1000], "/run/user/1000/atoll/9000"],
    [[9000, {}, 0], "/run/atoll/9000"],
    [[9001, {}, 1000], "/tmp/atoll-1000/9001"],
    [[9000, { XDG_RUNTIME_DIR: "relative" }, 0], "/run/atoll/9000"],
    [[9000, {}, null], "/tmp/atoll-user/9000"],
  ];
  for (const [args, expected] of cases) assert.equal(defaultStateDir(...args), expected);
});

Deno.test("StateDir.open() makes the directory, locks it for one main process, and writes its pid", async () => {
  const base = await Deno.makeTempDir({ prefix: "atoll_state_test_" });
  try {
    const path = `${base}/a/9000`;
    const state = StateDir.open(path);
    assert.equal(Deno.readTextFileSync(`${path}/lock`), `${Deno.pid}\n`);
    assert.equal(Deno.statSync(state.childrenDir).mode! & 0o777, 0o700);
    assert.throws(
      () => StateDir.open(path),
      (error: unknown) =>
        error instanceof StartupError &&
        error.message ===
          `Cannot use state directory ${path}: another Atoll (process ${Deno.pid}) is using it; give each Atoll its own with --state-dir`,
    );
    state.close();
    StateDir.open(path).close();
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("StateDir.open() says why it cannot make the directory", () => {
  assert.throws(
    () => StateDir.open("/proc/atoll/9000"),
    (error: unknown) =>
      error instanceof StartupError &&
      /^Cannot use state directory \/proc\/atoll\/9000: /.test(error.message),
  );
});

Deno.test("StateDir.orphanSockets() lists the children's sockets by pid, and nothing else", async () => {
  const base = await Deno.makeTempDir({ prefix: "atoll_state_test_" });
  try {
    const state = StateDir.open(base);
    for (const name of ["4242.sock", "17.sock", "notes.txt", "0.sock", "9.sock.tmp"]) {
      Deno.writeTextFileSync(`${state.childrenDir}/${name}`, "");
    }
    assert.deepEqual(state.orphanSockets(), [
      { pid: 17, path: `${base}/children/17.sock` },
      { pid: 4242, path: `${base}/children/4242.sock` },
    ]);
    state.close();
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});
