import assert from "node:assert/strict";
import {
  buildChildCommand,
  buildOutputCommand,
  buildRecorderCommand,
  CHILD_ENVIRONMENT,
  CHILD_RUN_FLAGS,
  CHILD_SUBCOMMAND,
  childEnvironment,
  HELPER_RUN_FLAGS,
  isChildCommandLine,
  OUTPUT_SUBCOMMAND,
  RECORDER_SUBCOMMAND,
} from "./child_command.ts";

Deno.test("buildChildCommand() runs the worker module with deno from source", () => {
  const command = buildChildCommand(
    {
      execPath: "/usr/bin/deno",
      standalone: false,
      workerUrl: "file:///srv/atoll/workers/peer.ts",
      env: {},
    },
    ["--control-fd", "7"],
  );
  assert.deepEqual(command, {
    command: "/usr/bin/deno",
    args: [...CHILD_RUN_FLAGS, "/srv/atoll/workers/peer.ts", "--control-fd", "7"],
    env: { ...CHILD_ENVIRONMENT },
  });
});

Deno.test("buildChildCommand() decodes a worker path with spaces", () => {
  const command = buildChildCommand(
    {
      execPath: "deno",
      standalone: false,
      workerUrl: new URL("file:///my%20dir/peer.ts"),
      env: {},
    },
    [],
  );
  assert.equal(command.args.at(-1), "/my dir/peer.ts");
});

Deno.test("buildChildCommand() re-executes a compiled binary with the internal subcommand", () => {
  const command = buildChildCommand(
    { execPath: "/opt/atoll", standalone: true, workerUrl: "file:///ignored/peer.ts", env: {} },
    ["--self-test"],
  );
  assert.deepEqual(command, {
    command: "/opt/atoll",
    args: [CHILD_SUBCOMMAND, "--self-test"],
    env: { ...CHILD_ENVIRONMENT },
  });
});

Deno.test("buildChildCommand() lets a child write in its state directory alone, and reach only loopback", () => {
  const runtime = { execPath: "deno", standalone: false, workerUrl: "file:///w/peer.ts", env: {} };
  const { args } = buildChildCommand(runtime, []);
  assert.ok(!args.includes("-A") && !args.includes("--allow-all"));
  assert.ok(!args.some((arg) => arg.startsWith("--allow-write")));
  assert.ok(args.includes("--allow-net=127.0.0.1"));
  const withState = buildChildCommand(runtime, ["--control-fd", "5"], "/run/atoll/9000").args;
  assert.deepEqual(withState.filter((arg) => arg.startsWith("--allow-write")), [
    "--allow-write=/run/atoll/9000",
  ]);
  assert.deepEqual(withState.slice(-3), ["/w/peer.ts", "--control-fd", "5"]);
});

Deno.test("childEnvironment() keeps the environment, caps V8's young generation and malloc arenas", () => {
  assert.deepEqual(childEnvironment({ PATH: "/bin", HOME: "/root", UNSET: undefined }), {
    PATH: "/bin",
    HOME: "/root",
    DENO_V8_FLAGS: "--max-semi-space-size=1",
    MALLOC_ARENA_MAX: "2",
  });
});

Deno.test("childEnvironment() keeps the API token and the passphrase from children", () => {
  const env = childEnvironment({
    PATH: "/bin",
    ATOLL_API_TOKEN: "operator-token-0123456789",
    ATOLL_PASSPHRASE: "correct horse",
    ATOLL_LIBSRT: "/opt/libsrt.so",
  });
  assert.ok(!("ATOLL_API_TOKEN" in env) && !("ATOLL_PASSPHRASE" in env));
  assert.equal(env.ATOLL_LIBSRT, "/opt/libsrt.so");
});

Deno.test("childEnvironment() lets the operator's DENO_V8_FLAGS and MALLOC_ARENA_MAX win", () => {
  assert.deepEqual(
    childEnvironment({
      DENO_V8_FLAGS: "--max-semi-space-size=4,--stack-size=2000",
      MALLOC_ARENA_MAX: "8",
    }),
    {
      // V8 applies flags in order, so the operator's later value wins.
      DENO_V8_FLAGS: "--max-semi-space-size=1,--max-semi-space-size=4,--stack-size=2000",
      MALLOC_ARENA_MAX: "8",
    },
  );
});

Deno.test("isChildCommandLine() knows a child's command line, from source or compiled, and nothing else", () => {
  const cases: [string, boolean][] = [
    [
      ["/usr/bin/deno", ...CHILD_RUN_FLAGS, "/srv/atoll/workers/peer.ts", "--control-fd", "5"].join(
        "\0",
      ) + "\0",
      true,
    ],
    [["/usr/local/bin/atoll", CHILD_SUBCOMMAND, "--control-fd", "5"].join("\0") + "\0", true],
    [["/usr/bin/deno", "run", "-A", "/srv/atoll/main.ts"].join("\0"), false],
    [["/usr/bin/deno", "run", "/srv/atoll/workers/peer.ts", "--self-test"].join("\0"), false],
    [["/bin/sleep", "100"].join("\0"), false],
    ["", false],
  ];
  for (const [cmdline, expected] of cases) {
    assert.equal(isChildCommandLine(cmdline), expected, cmdline.replaceAll("\0", " "));
  }
});

Deno.test("buildOutputCommand() runs the output worker, listening on the media host alone", () => {
  const runtime = {
    execPath: "/usr/bin/deno",
    standalone: false,
    env: { PATH: "/bin", ATOLL_API_TOKEN: "operator-token-0123456789" },
  };
  const options = { listenHost: "127.0.0.1", args: ["--control-fd", "6"] };
  assert.deepEqual(buildOutputCommand(runtime, "file:///srv/atoll/workers/output.ts", options), {
    command: "/usr/bin/deno",
    args: [
      ...HELPER_RUN_FLAGS,
      "--allow-net=127.0.0.1",
      "/srv/atoll/workers/output.ts",
      "--control-fd",
      "6",
    ],
    env: { PATH: "/bin" },
  });
  const ipv6 = buildOutputCommand(runtime, "file:///w/output.ts", { ...options, listenHost: "::" });
  assert.ok(ipv6.args.includes("--allow-net=[::]"));
  assert.ok(!ipv6.args.some((arg) => arg.startsWith("--allow-write") || arg === "-A"));
});

Deno.test("buildOutputCommand() re-executes a compiled binary with its own subcommand", () => {
  const command = buildOutputCommand(
    { execPath: "/opt/atoll", standalone: true, env: {} },
    "file:///ignored/output.ts",
    { listenHost: "0.0.0.0", args: ["--control-fd", "6"] },
  );
  assert.deepEqual(command, {
    command: "/opt/atoll",
    args: [OUTPUT_SUBCOMMAND, "--control-fd", "6"],
    env: {},
  });
});

Deno.test("isChildCommandLine() does not take the output process for a peer child", () => {
  assert.equal(
    isChildCommandLine(
      ["deno", "run", "/srv/atoll/workers/output.ts", "--control-fd", "6"].join("\0"),
    ),
    false,
  );
  assert.equal(
    isChildCommandLine(["/opt/atoll", OUTPUT_SUBCOMMAND, "--control-fd", "6"].join("\0")),
    false,
  );
});

Deno.test("buildRecorderCommand() runs the recorder worker, writing in its directory alone", () => {
  const command = buildRecorderCommand(
    {
      execPath: "/usr/bin/deno",
      standalone: false,
      env: { HOME: "/root", ATOLL_API_TOKEN: "secret-token-value" },
    },
    "file:///srv/atoll/workers/recorder.ts",
    { dir: "/var/rec", args: ["--control-fd", "5"] },
  );
  assert.deepEqual(command, {
    command: "/usr/bin/deno",
    args: [
      ...HELPER_RUN_FLAGS,
      "--allow-write=/var/rec",
      "/srv/atoll/workers/recorder.ts",
      "--control-fd",
      "5",
    ],
    env: { HOME: "/root" },
  });
  assert.equal(isChildCommandLine(command.args.join("\0")), false);
});

Deno.test("buildRecorderCommand() re-executes a compiled binary with its own subcommand", () => {
  const command = buildRecorderCommand(
    { execPath: "/usr/local/bin/atoll", standalone: true, env: {} },
    "file:///ignored/recorder.ts",
    { dir: "/var/rec", args: ["--control-fd", "5"] },
  );
  assert.deepEqual(command, {
    command: "/usr/local/bin/atoll",
    args: [RECORDER_SUBCOMMAND, "--control-fd", "5"],
    env: {},
  });
  assert.equal(isChildCommandLine(command.args.join("\0")), false);
});
