/**
 * Where children run on the CPU (README, "Processes and the CPU"): in the
 * main process's session, so that where the kernel shares the CPUs between
 * sessions first the main process and its children are one, each child in
 * a process group of its own (a terminal's Ctrl-C reaches the main process
 * only: signals_test.ts), and every thread of a child at `--child-nice`,
 * below the main process, which then gets the CPU before any of them.
 */

import assert from "node:assert/strict";
import { Atoll } from "./support/mod.ts";

/** The fields of /proc/PID(/task/TID)/stat after the command name. */
function statOf(path: string): { pgrp: number; session: number; nice: number } {
  const stat = Deno.readTextFileSync(path);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { pgrp: Number(fields[2]), session: Number(fields[3]), nice: Number(fields[16]) };
}

/** Each thread's nice value, of process `pid`. */
function threadNices(pid: number): number[] {
  return [...Deno.readDirSync(`/proc/${pid}/task`)].map((task) =>
    statOf(`/proc/${pid}/task/${task.name}/stat`).nice
  );
}

Deno.test("children run in the main process's session, each in a group of its own, every thread at --child-nice", async () => {
  // Atoll starts at this process's nice value (0, unless the suite itself runs under nice).
  const own = statOf("/proc/self/stat").nice;
  const cases: [string[], number][] = [[[], 10], [["--child-nice", "15"], 15], [
    ["--child-nice", "0"],
    0,
  ]];
  for (const [args, below] of cases) {
    await using atoll = await Atoll.start(args, { readyPool: true });
    const main = statOf(`/proc/${atoll.pid}/stat`);
    assert.equal(main.nice, own, "the main process keeps its own nice value");
    const nice = Math.min(19, own + below);
    const children = atoll.childPids();
    assert.ok(children.length >= 2, `the pool: ${children}`);
    for (const pid of children) {
      const child = statOf(`/proc/${pid}/stat`);
      assert.equal(child.session, main.session, `child ${pid} is in the main process's session`);
      assert.equal(child.pgrp, pid, `child ${pid} leads a process group of its own`);
      const nices = threadNices(pid);
      assert.ok(nices.length > 2, `child ${pid} has its runtime's threads`);
      assert.deepEqual(nices, nices.map(() => nice), `every thread of child ${pid} at ${nice}`);
    }
  }
});

Deno.test("--child-nice outside 0 to 19 is refused at start", async () => {
  for (const value of ["-1", "20", "x"]) {
    const result = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("../main.ts", import.meta.url).pathname, "--child-nice", value],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(result.code, 2, value);
    assert.match(new TextDecoder().decode(result.stderr), /child-nice/, value);
  }
});
