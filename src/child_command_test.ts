import assert from "node:assert/strict";
import { buildChildCommand, CHILD_RUN_FLAGS, CHILD_SUBCOMMAND } from "./child_command.ts";

Deno.test("buildChildCommand() runs the worker module with deno from source", () => {
  const command = buildChildCommand(
    {
      execPath: "/usr/bin/deno",
      standalone: false,
      workerUrl: "file:///srv/atoll/workers/peer.ts",
    },
    ["--control-fd", "7"],
  );
  assert.deepEqual(command, {
    command: "/usr/bin/deno",
    args: [...CHILD_RUN_FLAGS, "/srv/atoll/workers/peer.ts", "--control-fd", "7"],
  });
});

Deno.test("buildChildCommand() decodes a worker path with spaces", () => {
  const command = buildChildCommand(
    { execPath: "deno", standalone: false, workerUrl: new URL("file:///my%20dir/peer.ts") },
    [],
  );
  assert.equal(command.args.at(-1), "/my dir/peer.ts");
});

Deno.test("buildChildCommand() re-executes a compiled binary with the internal subcommand", () => {
  const command = buildChildCommand(
    { execPath: "/opt/atoll", standalone: true, workerUrl: "file:///ignored/peer.ts" },
    ["--self-test"],
  );
  assert.deepEqual(command, { command: "/opt/atoll", args: [CHILD_SUBCOMMAND, "--self-test"] });
});

Deno.test("buildChildCommand() gives a child no permission to write files or reach the network", () => {
  const { args } = buildChildCommand(
    { execPath: "deno", standalone: false, workerUrl: "file:///w/peer.ts" },
    [],
  );
  assert.ok(!args.includes("-A") && !args.includes("--allow-all"));
  assert.ok(!args.some((arg) => arg.startsWith("--allow-write")));
  assert.ok(args.includes("--allow-net=127.0.0.1"));
});
