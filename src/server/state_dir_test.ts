import assert from "node:assert/strict";
import { defaultStateDir, MAX_STATE_DIR_BYTES, pathProblem, StateDir } from "./state_dir.ts";
import { StartupError } from "./startup_error.ts";

Deno.test("defaultStateDir() is one directory per SRT port, where the user may write", () => {
  const cases: [Parameters<typeof defaultStateDir>, string][] = [
    [[9000, { XDG_RUNTIME_DIR: "/run/user/1000" }, 1000], "/run/user/1000/atoll/9000"],
    [[9000, { XDG_RUNTIME_DIR: "/run/user/0" }, 0], "/run/atoll/9000"],
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

Deno.test("StateDir.open() refuses a directory others could change, and a lock that is a symbolic link", async () => {
  const base = await Deno.makeTempDir({ prefix: "atoll_state_test_" });
  const refusal = (path: string, reason: RegExp) =>
    assert.throws(
      () => StateDir.open(path),
      (error: unknown) =>
        error instanceof StartupError &&
        error.message.startsWith(`Cannot use state directory ${path}: `) &&
        reason.test(error.message),
    );
  try {
    const open = `${base}/open`;
    Deno.mkdirSync(open);
    Deno.chmodSync(open, 0o777);
    refusal(open, /can be changed by other users \(mode 777\): make it 0700/);

    const linked = `${base}/linked`;
    Deno.mkdirSync(`${linked}/children`, { recursive: true });
    Deno.writeTextFileSync(`${base}/victim.txt`, "keep me");
    Deno.symlinkSync(`${base}/victim.txt`, `${linked}/lock`);
    refusal(linked, /lock failed/);
    assert.equal(
      Deno.readTextFileSync(`${base}/victim.txt`),
      "keep me",
      "nothing written through it",
    );

    Deno.symlinkSync(`${base}/open`, `${base}/alias`);
    refusal(`${base}/alias`, /is a symbolic link/);

    if (Deno.uid() === 0) {
      const foreign = `${base}/foreign`;
      Deno.mkdirSync(foreign, { mode: 0o700 });
      Deno.chownSync(foreign, 4242, 4242);
      refusal(`${foreign}/9000`, /belongs to user 4242, not to this one \(0\)/);
    }
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("pathProblem() refuses a state directory whose sockets' names would not fit, or that a permission list cannot name", () => {
  assert.equal(pathProblem("/run/atoll/9000"), undefined);
  assert.equal(pathProblem(`/${"d".repeat(MAX_STATE_DIR_BYTES - 1)}`), undefined);
  assert.match(pathProblem(`/${"d".repeat(MAX_STATE_DIR_BYTES)}`)!, /81 bytes long, at most 80/);
  assert.match(pathProblem("/run/a,b")!, /comma/);
  assert.match(pathProblem("run/atoll")!, /not an absolute path/);
  assert.throws(
    () => StateDir.open("/tmp/a,b"),
    /Cannot use state directory \/tmp\/a,b: its path contains a comma/,
  );
});

Deno.test("StateDir.close({ tidy: true }) leaves nothing behind, and nothing of anyone else's is removed", async () => {
  const base = await Deno.makeTempDir({ prefix: "atoll_state_test_" });
  try {
    const path = `${base}/9000`;
    StateDir.open(path).close({ tidy: true });
    assert.deepEqual([...Deno.readDirSync(base)], [], "the directory is gone");
    const kept = StateDir.open(path);
    Deno.writeTextFileSync(`${kept.childrenDir}/notes.txt`, "an operator's file");
    kept.close({ tidy: true });
    assert.deepEqual([...Deno.readDirSync(path)].map((e) => e.name), ["children"]);
    assert.deepEqual([...Deno.readDirSync(`${path}/children`)].map((e) => e.name), ["notes.txt"]);
    StateDir.open(path).close();
    assert.ok(Deno.statSync(`${path}/lock`).isFile, "a plain close (a crash, an upgrade) keeps it");
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("StateDir.open() after a tidy close makes the directory anew and locks it again", async () => {
  const base = await Deno.makeTempDir({ prefix: "atoll_state_test_" });
  try {
    const path = `${base}/9000`;
    const first = StateDir.open(path);
    // A process that opened the old lock file just before it went.
    const late = await Deno.open(`${path}/lock`);
    first.close({ tidy: true });
    const second = StateDir.open(path);
    assert.equal(Deno.readTextFileSync(`${path}/lock`), `${Deno.pid}\n`);
    assert.throws(() => StateDir.open(path), /another Atoll/);
    second.close();
    late.close();
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});
