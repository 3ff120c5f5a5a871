import assert from "node:assert/strict";
import {
  describeFileShortage,
  fileBudget,
  type FileBudgetInput,
  fileLimitProblem,
  FILES_PER_CHILD,
  FILES_PER_CONNECTION,
  FILES_PER_OUTPUT_PROCESS,
  fileShortageOf,
  RESERVED_FILES,
  WORST_FILES_PER_CONNECTION,
} from "./file_budget.ts";

const DEFAULTS: FileBudgetInput = {
  hardLimit: 20_000,
  openAtStart: 30,
  maxConnections: 1000,
  poolMax: 2,
  httpMaxConnections: 100,
};

Deno.test("FILES_PER_CONNECTION: a stream's first caller holds its child and the stream's buffer", () => {
  assert.equal(FILES_PER_CHILD, 5);
  assert.deepEqual(FILES_PER_CONNECTION, { publisher: 6, heldViewer: 6, viewer: 5, handshake: 5 });
  assert.equal(WORST_FILES_PER_CONNECTION, 6);
});

Deno.test("fileBudget() counts the worst case per connection, the pool, HTTP and what is open", () => {
  const fixed = 30 + RESERVED_FILES + 2 * 5 + 100;
  assert.deepEqual(fileBudget(DEFAULTS), {
    fixed,
    needed: fixed + 1000 * 6,
    connections: Math.floor((20_000 - fixed) / 6),
  });
  // The machine: a hard limit of 900 holds far fewer than 1000.
  assert.equal(fileBudget({ ...DEFAULTS, hardLimit: 900 }).connections, 122);
  assert.equal(fileBudget({ ...DEFAULTS, hardLimit: 100 }).connections, 0);
  // The media output process's handle is one more fixed cost.
  assert.equal(FILES_PER_OUTPUT_PROCESS, 4);
  assert.equal(fileBudget({ ...DEFAULTS, mediaOutput: true }).fixed, fixed + 4);
});

Deno.test("fileLimitProblem() is silent when the hard limit holds --max-connections", () => {
  assert.equal(fileLimitProblem(DEFAULTS), undefined);
  const exact = fileBudget(DEFAULTS).needed;
  assert.equal(fileLimitProblem({ ...DEFAULTS, hardLimit: exact }), undefined);
  assert.notEqual(fileLimitProblem({ ...DEFAULTS, hardLimit: exact - 1 }), undefined);
});

Deno.test("fileLimitProblem() warns with what the hard limit allows and how to raise it", () => {
  const problem = fileLimitProblem({ ...DEFAULTS, hardLimit: 900 });
  assert.equal(problem?.refuse, false);
  assert.equal(
    problem?.message,
    "The hard open-file limit 900 allows about 122 connection(s), not the 1000 of --max-connections: " +
      "Atoll needs 6 per connection (the first on a stream; a viewer takes 5), plus 164 for Atoll itself, " +
      "up to 2 prestarted children and 100 HTTP connections, 6164 in all; raise the hard limit " +
      "(ulimit -Hn 6164 in the starting shell, LimitNOFILE=6164 in a systemd unit, docker run " +
      "--ulimit nofile=6164:6164) or lower --max-connections. Connections past the limit are refused",
  );
});

Deno.test("fileLimitProblem() refuses to start when not one connection fits", () => {
  const problem = fileLimitProblem({ ...DEFAULTS, hardLimit: 169 });
  assert.equal(problem?.refuse, true);
  assert.match(
    problem!.message,
    /^The hard open-file limit 169 leaves no room for a single connection/,
  );
  assert.match(problem!.message, /ulimit -Hn 170 .*LimitNOFILE=170 .*--ulimit nofile=170:170\) or/);
  assert.equal(fileLimitProblem({ ...DEFAULTS, hardLimit: 170 })?.refuse, false);
});

Deno.test("fileShortageOf() tells EMFILE and ENFILE from other errors, through causes", () => {
  const emfile = Object.assign(new Error("Too many open files (os error 24)"), { code: "EMFILE" });
  const cases: [string, unknown, ReturnType<typeof fileShortageOf>][] = [
    ["Deno's EMFILE", emfile, "process"],
    ["Deno's ENFILE", Object.assign(new Error("x"), { code: "ENFILE" }), "system"],
    ["an FFI errno", Object.assign(new Error("socket failed"), { errno: 24 }), "process"],
    ["an FFI ENFILE", Object.assign(new Error("socket failed"), { errno: 23 }), "system"],
    [
      "fetch's wrapped cause",
      new TypeError("fetch failed", {
        cause: new Error(
          "client error (Connect): tcp open error: Too many open files (os error 24)",
        ),
      }),
      "process",
    ],
    [
      "the system's, by message",
      new Error("Too many open files in system (os error 23)"),
      "system",
    ],
    ["another errno", Object.assign(new Error("Permission denied"), { code: "EACCES" }), undefined],
    ["not found", new Deno.errors.NotFound("gone"), undefined],
    ["not an error", "Too many", undefined],
    ["nothing", undefined, undefined],
  ];
  for (const [what, error, expected] of cases) assert.equal(fileShortageOf(error), expected, what);
});

Deno.test("describeFileShortage() names the limit that was hit", () => {
  assert.equal(
    describeFileShortage("process", 900),
    "too many open files (the hard limit is 900): raise the hard limit (ulimit -Hn N in the " +
      "starting shell, LimitNOFILE=N in a systemd unit, docker run --ulimit nofile=N:N)",
  );
  assert.match(describeFileShortage("process"), /^too many open files \(the hard limit\): raise/);
  assert.match(describeFileShortage("system", 900), /in the system .*fs\.file-max/);
});
