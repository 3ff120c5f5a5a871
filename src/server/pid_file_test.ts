import assert from "node:assert/strict";
import {
  isAtollMainCommandLine,
  judgePidFile,
  parsePid,
  PidFile,
  type PidFileHolder,
  type PidFileSystem,
} from "./pid_file.ts";
import { StartupError } from "./startup_error.ts";

const parseCases: { text: string; pid: number | undefined }[] = [
  { text: "1234\n", pid: 1234 },
  { text: "1234", pid: 1234 },
  { text: " 42 \n", pid: 42 },
  { text: "1", pid: 1 },
  { text: "4194304\n", pid: 4_194_304 },
  { text: "4194305\n", pid: undefined },
  { text: "0\n", pid: undefined },
  { text: "-5\n", pid: undefined },
  { text: "12 34\n", pid: undefined },
  { text: "1e3\n", pid: undefined },
  { text: "0x10\n", pid: undefined },
  { text: "", pid: undefined },
  { text: "atoll\n", pid: undefined },
];

for (const { text, pid } of parseCases) {
  Deno.test(`parsePid() reads ${JSON.stringify(text)} as ${pid}`, () => {
    assert.equal(parsePid(text), pid);
  });
}

const commandLineCases: { name: string; argv: string[]; program: string; atoll: boolean }[] = [
  {
    name: "Atoll from source",
    argv: ["/usr/bin/deno", "run", "-A", "main.ts", "--pid-file", "/run/atoll.pid"],
    program: "deno",
    atoll: true,
  },
  {
    name: "Atoll from source with --pid-file=PATH",
    argv: ["deno", "run", "-A", "/srv/atoll/main.ts", "--pid-file=/run/atoll.pid"],
    program: "deno",
    atoll: true,
  },
  {
    name: "the compiled binary",
    argv: ["/usr/local/bin/atoll", "--pid-file", "/run/atoll.pid"],
    program: "atoll",
    atoll: true,
  },
  {
    name: "a peer child from source",
    argv: ["/usr/bin/deno", "run", "--no-config", "workers/peer.ts", "--control-fd", "3"],
    program: "deno",
    atoll: false,
  },
  {
    name: "a peer child of the compiled binary",
    argv: ["/usr/local/bin/atoll", "__atoll_peer", "--control-fd", "3"],
    program: "atoll",
    atoll: false,
  },
  {
    name: "Atoll without a pid file",
    argv: ["/usr/bin/deno", "run", "-A", "main.ts"],
    program: "deno",
    atoll: false,
  },
  {
    name: "another program given --pid-file",
    argv: ["/usr/sbin/nginx", "--pid-file", "/run/atoll.pid"],
    program: "deno",
    atoll: false,
  },
  { name: "no arguments at all", argv: [], program: "deno", atoll: false },
];

for (const { name, argv, program, atoll } of commandLineCases) {
  Deno.test(`isAtollMainCommandLine() says ${atoll} for ${name}`, () => {
    assert.equal(isAtollMainCommandLine(argv, program), atoll);
  });
}

/** A system where `running` maps pids to their arguments and this process is 100. */
function systemWith(running: Record<number, string[]>): PidFileSystem {
  return {
    ownPid: 100,
    programName: "deno",
    commandLineOf: (pid) => running[pid],
  };
}

const ATOLL = ["/usr/bin/deno", "run", "-A", "main.ts", "--pid-file", "/run/atoll.pid"];

const judgeCases: {
  name: string;
  text: string | undefined;
  running: Record<number, string[]>;
  expected: PidFileHolder;
}[] = [
  { name: "no file", text: undefined, running: {}, expected: { kind: "none" } },
  {
    name: "a running Atoll main process",
    text: "200\n",
    running: { 200: ATOLL },
    expected: { kind: "running", pid: 200 },
  },
  {
    name: "a dead pid",
    text: "200\n",
    running: {},
    expected: { kind: "stale", reason: "process 200 is gone" },
  },
  {
    name: "a pid reused by another program",
    text: "200\n",
    running: { 200: ["/usr/bin/sleep", "100"] },
    expected: { kind: "stale", reason: "process 200 is not an Atoll main process" },
  },
  {
    name: "this process's own pid (a container restarted)",
    text: "100\n",
    running: { 100: ATOLL },
    expected: { kind: "stale", reason: "it names this process, 100" },
  },
  {
    name: "text that is no pid",
    text: "hello\n",
    running: {},
    expected: { kind: "stale", reason: "it holds no pid" },
  },
  {
    name: "an empty file",
    text: "",
    running: {},
    expected: { kind: "stale", reason: "it holds no pid" },
  },
];

Deno.test("judgePidFile() leaves the running main process an upgrade takes over from to be replaced", () => {
  assert.deepEqual(judgePidFile("200\n", { ...systemWith({ 200: ATOLL }), predecessor: 200 }), {
    kind: "none",
  });
  assert.deepEqual(judgePidFile("201\n", { ...systemWith({ 201: ATOLL }), predecessor: 200 }), {
    kind: "running",
    pid: 201,
  });
});

for (const { name, text, running, expected } of judgeCases) {
  Deno.test(`judgePidFile() reads ${name}`, () => {
    assert.deepEqual(judgePidFile(text, systemWith(running)), expected);
  });
}

/** A fresh folder for one test; removed by the returned function. */
async function tempDir(): Promise<{ dir: string; [Symbol.asyncDispose](): Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "atoll_pid_file_" });
  return { dir, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

async function entries(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((entry) => entry.name).sort();
}

Deno.test("PidFile puts the pid in place only on publish(), atomically, and removes it", async () => {
  await using temp = await tempDir();
  const path = `${temp.dir}/atoll.pid`;
  const pidFile = await PidFile.prepare(path, 4321, systemWith({}));
  const [temporary, ...more] = await entries(temp.dir);
  assert.deepEqual(more, []);
  assert.match(temporary!, /^\.atoll\.pid\..*\.tmp$/);
  assert.equal(await Deno.readTextFile(`${temp.dir}/${temporary}`), "4321\n");

  await pidFile.publish();
  assert.deepEqual(await entries(temp.dir), ["atoll.pid"]);
  assert.equal(await Deno.readTextFile(path), "4321\n");
  assert.equal((await Deno.stat(path)).mode! & 0o777, 0o644);

  await pidFile.remove();
  assert.deepEqual(await entries(temp.dir), []);
  await pidFile.remove(); // twice is fine
});

Deno.test("PidFile.remove() before publish() removes only the temporary file", async () => {
  await using temp = await tempDir();
  await Deno.writeTextFile(`${temp.dir}/atoll.pid`, "999999\n");
  const pidFile = await PidFile.prepare(`${temp.dir}/atoll.pid`, 4321, systemWith({}));
  await pidFile.remove();
  assert.deepEqual(await entries(temp.dir), ["atoll.pid"]);
  assert.equal(await Deno.readTextFile(`${temp.dir}/atoll.pid`), "999999\n");
});

Deno.test("PidFile.remove() leaves a file another process wrote since", async () => {
  await using temp = await tempDir();
  const path = `${temp.dir}/atoll.pid`;
  const pidFile = await PidFile.prepare(path, 4321, systemWith({}));
  await pidFile.publish();
  await Deno.writeTextFile(path, "5555\n");
  await pidFile.remove();
  assert.equal(await Deno.readTextFile(path), "5555\n");
});

/** A reader that fails as `open()` does when the process has no descriptor left, once `short`. */
function shortReader() {
  const reader = {
    short: false,
    readTextFile: (path: string) =>
      reader.short
        ? Promise.reject(
          Object.assign(new Error(`Too many open files (os error 24): readfile '${path}'`), {
            code: "EMFILE",
          }),
        )
        : Deno.readTextFile(path),
  };
  return reader;
}

Deno.test("PidFile.remove() out of descriptors removes the file it put in place, by lstat", async () => {
  await using temp = await tempDir();
  const path = `${temp.dir}/atoll.pid`;
  const reader = shortReader();
  const pidFile = await PidFile.prepare(path, 4321, { ...systemWith({}), ...reader });
  await pidFile.publish();
  reader.short = true;
  await pidFile.remove();
  assert.deepEqual(await entries(temp.dir), []);
});

Deno.test("PidFile.remove() out of descriptors leaves a file another process wrote since", async () => {
  await using temp = await tempDir();
  const path = `${temp.dir}/atoll.pid`;
  const reader = shortReader();
  const pidFile = await PidFile.prepare(path, 4321, { ...systemWith({}), ...reader });
  await pidFile.publish();
  await Deno.writeTextFile(path, "55555\n");
  reader.short = true;
  await pidFile.remove();
  assert.equal(await Deno.readTextFile(path), "55555\n");
});

Deno.test("PidFile.prepare() refuses a file that names a running Atoll main process", async () => {
  await using temp = await tempDir();
  const path = `${temp.dir}/atoll.pid`;
  await Deno.writeTextFile(path, "200\n");
  await assert.rejects(PidFile.prepare(path, 4321, systemWith({ 200: ATOLL })), (error) => {
    assert.ok(error instanceof StartupError);
    assert.equal(
      error.message,
      `Cannot use pid file ${path}: Atoll is already running as process 200`,
    );
    return true;
  });
  assert.deepEqual(await entries(temp.dir), ["atoll.pid"], "nothing written");
  assert.equal(await Deno.readTextFile(path), "200\n");
});

Deno.test("PidFile replaces a stale file", async () => {
  await using temp = await tempDir();
  const path = `${temp.dir}/atoll.pid`;
  await Deno.writeTextFile(path, "200\n");
  const pidFile = await PidFile.prepare(path, 4321, systemWith({}));
  await pidFile.publish();
  assert.equal(await Deno.readTextFile(path), "4321\n");
  await pidFile.remove();
});

Deno.test("PidFile.prepare() sees this test process as not Atoll, through /proc", async () => {
  await using temp = await tempDir();
  const path = `${temp.dir}/atoll.pid`;
  // `deno test ...`: the same program, but no --pid-file.
  await Deno.writeTextFile(path, `${Deno.pid}\n`);
  await using pidFile = await PidFile.prepare(path, 4321);
  await pidFile.publish();
  assert.equal(await Deno.readTextFile(path), "4321\n");
});

Deno.test("PidFile.prepare() refuses, through /proc, a running process given --pid-file", async () => {
  await using temp = await tempDir();
  const path = `${temp.dir}/atoll.pid`;
  // The same program given --pid-file: what an Atoll main process looks like from outside.
  const process = new Deno.Command(Deno.execPath(), {
    args: ["eval", "setTimeout(() => {}, 30_000)", "--pid-file", path],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await Deno.writeTextFile(path, `${process.pid}\n`);
    await assert.rejects(PidFile.prepare(path, 4321), {
      name: "StartupError",
      message: `Cannot use pid file ${path}: Atoll is already running as process ${process.pid}`,
    });
  } finally {
    process.kill("SIGKILL");
    await process.status;
  }
});

Deno.test("PidFile.prepare() names the file it cannot write", async () => {
  await using temp = await tempDir();
  const path = `${temp.dir}/missing/atoll.pid`;
  await assert.rejects(PidFile.prepare(path, 4321, systemWith({})), (error) => {
    assert.ok(error instanceof StartupError);
    assert.ok(error.message.startsWith(`Cannot write pid file ${path}: `), error.message);
    assert.ok(!error.message.includes("\n"));
    return true;
  });
});
