import assert from "node:assert/strict";
import {
  buildChildCommand,
  CHILD_ENVIRONMENT,
  CHILD_RUN_FLAGS,
  CHILD_SUBCOMMAND,
  childEnvironment,
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

Deno.test("buildChildCommand() gives a child no permission to write files or reach the network", () => {
  const { args } = buildChildCommand(
    { execPath: "deno", standalone: false, workerUrl: "file:///w/peer.ts", env: {} },
    [],
  );
  assert.ok(!args.includes("-A") && !args.includes("--allow-all"));
  assert.ok(!args.some((arg) => arg.startsWith("--allow-write")));
  assert.ok(args.includes("--allow-net=127.0.0.1"));
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
