import assert from "node:assert/strict";
import { parseConfig } from "../config/config_file.ts";
import type { RecorderCommand, RecorderReport } from "../ipc/recorder_messages.ts";
import {
  type RecorderEvents,
  type RecorderProcess,
  RecorderSupervisor,
} from "./recorder_supervisor.ts";

/** A recorder process that does what a test says. */
class FakeRecorder implements RecorderProcess {
  static nextPid = 2000;
  readonly pid = FakeRecorder.nextPid++;
  readonly sent: { command: RecorderCommand; fd: number | undefined }[] = [];
  #exited = Promise.withResolvers<void>();
  readonly done = this.#exited.promise;
  #gone = false;

  constructor(readonly dir: string, readonly events: RecorderEvents<FakeRecorder>) {}

  send(command: RecorderCommand, fd?: number): boolean {
    this.sent.push({ command, fd });
    if (command.type === "shutdown") queueMicrotask(() => this.exit(0));
    return true;
  }

  kill(signal: Deno.Signal = "SIGKILL"): void {
    queueMicrotask(() => this.exit(null, signal));
  }

  report(report: RecorderReport): void {
    this.events.onReport(this, report);
  }

  exit(code: number | null, signal: Deno.Signal | null = null): void {
    if (this.#gone) return;
    this.#gone = true;
    this.events.onExit(this, { success: code === 0, code: code ?? 137, signal });
    this.#exited.resolve();
  }
}

const CONFIG = parseConfig(
  [
    "streams:",
    "  - prefix: rec",
    "    record: { dir: /var/rec, rotateSeconds: 5, quotaBytes: 1048576 }",
  ].join("\n"),
  "yaml",
  "test.yaml",
);

function supervisor() {
  const launched: FakeRecorder[] = [];
  const made: string[] = [];
  const recorders = new RecorderSupervisor<FakeRecorder>(CONFIG, {
    launch: (dir, events) => {
      const process = new FakeRecorder(dir, events);
      launched.push(process);
      return process;
    },
    makeDirectory: (dir) => {
      made.push(dir);
    },
    restartDelayMs: { first: 10, max: 40 },
  });
  return { recorders, launched, made, last: () => launched.at(-1)! };
}

const STATS = {
  file: "rec+a_20250102T030405Z.ts",
  bytesWritten: 1000,
  files: 1,
  skips: 0,
  deleted: 0,
};

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

Deno.test("RecorderSupervisor records the streams its rules say, with the buffer and settings", async () => {
  const { recorders, launched, made, last } = supervisor();
  recorders.streamCreated("other", 7, 4096);
  assert.equal(launched.length, 0);
  assert.equal(recorders.info("other"), null);
  recorders.streamCreated("rec/a", 8, 4096);
  assert.deepEqual(made, ["/var/rec"]);
  assert.deepEqual(last().sent, [{
    command: {
      type: "record",
      settings: {
        stream: "rec/a",
        dir: "/var/rec",
        rotateSeconds: 5,
        quotaBytes: 1048576,
        bufferBytes: 4096,
      },
    },
    fd: 8,
  }]);
  last().report({ type: "stats", stats: STATS });
  assert.deepEqual(recorders.info("rec/a"), {
    state: "recording",
    dir: "/var/rec",
    file: STATS.file,
    bytesWritten: 1000,
    files: 1,
  });
  recorders.streamEnded("rec/a");
  assert.equal(last().sent.at(-1)?.command.type, "shutdown");
  await last().done;
  assert.equal(recorders.info("rec/a"), null);
  await recorders.stop(100);
});

Deno.test("RecorderSupervisor starts a crashed recorder again, keeping its counts", async () => {
  const { recorders, launched, last } = supervisor();
  recorders.streamCreated("rec/a", 8, 4096);
  last().report({ type: "stats", stats: STATS });
  last().exit(null, "SIGKILL");
  assert.equal(recorders.info("rec/a")?.state, "stopped");
  await sleep(30);
  assert.equal(launched.length, 2);
  assert.equal(recorders.restarts, 1);
  last().report({ type: "stats", stats: { ...STATS, bytesWritten: 500 } });
  assert.equal(recorders.info("rec/a")?.bytesWritten, 1500);
  assert.equal(recorders.info("rec/a")?.files, 2);
  await recorders.stop(100);
});

Deno.test("RecorderSupervisor does not restart a full disk's recorder until a reload or the stream begins again", async () => {
  const { recorders, launched, last } = supervisor();
  recorders.streamCreated("rec/a", 8, 4096);
  last().report({ type: "stopped", reason: "disk-full", detail: "No space left on device" });
  last().exit(3);
  await sleep(30);
  assert.equal(launched.length, 1);
  assert.equal(recorders.info("rec/a")?.state, "failed");
  assert.equal(recorders.info("rec/a")?.reason, "disk-full");
  assert.equal(recorders.failures.get("rec/a")?.get("disk-full"), 1);
  // The same rules again: a failed recording starts again.
  recorders.setConfig(CONFIG, [{ name: "rec/a", fd: 8, bytes: 4096 }]);
  assert.equal(launched.length, 2);
  assert.equal(recorders.info("rec/a")?.state, "recording");
  // Rules without record: it stops.
  recorders.setConfig(parseConfig("graceMs: 1", "yaml", "x.yaml"), [
    { name: "rec/a", fd: 8, bytes: 4096 },
  ]);
  assert.equal(last().sent.at(-1)?.command.type, "shutdown");
  assert.equal(recorders.info("rec/a"), null);
  await recorders.stop(100);
});

Deno.test("RecorderSupervisor fails a recording whose directory cannot be made", async () => {
  const recorders = new RecorderSupervisor<FakeRecorder>(CONFIG, {
    launch: () => assert.fail("not started"),
    makeDirectory: () => {
      throw new Error("Permission denied");
    },
  });
  recorders.streamCreated("rec/a", 8, 4096);
  assert.equal(recorders.info("rec/a")?.state, "failed");
  assert.equal(recorders.info("rec/a")?.reason, "no-directory");
  await recorders.stop(100);
});

/** A recorder that takes no command: it exits on a signal only (a hung disk, say). */
class DeafRecorder extends FakeRecorder {
  readonly signals: Deno.Signal[] = [];
  override send(command: RecorderCommand, fd?: number): boolean {
    this.sent.push({ command, fd });
    return true;
  }
  override kill(signal: Deno.Signal = "SIGKILL"): void {
    this.signals.push(signal);
    if (signal === "SIGKILL") super.kill(signal);
  }
}

Deno.test("RecorderSupervisor kills a recorder that does not stop after its stream ended", async () => {
  const launched: DeafRecorder[] = [];
  const recorders = new RecorderSupervisor<DeafRecorder>(CONFIG, {
    launch: (dir, events) => {
      const process = new DeafRecorder(dir, events as RecorderEvents<FakeRecorder>);
      launched.push(process);
      return process;
    },
    makeDirectory: () => {},
    endTimeoutMs: 20,
  });
  recorders.streamCreated("rec/a", 8, 4096);
  recorders.streamEnded("rec/a");
  await launched[0]!.done;
  assert.deepEqual(launched[0]!.signals, ["SIGKILL"]);
  await recorders.stop(100);
});

Deno.test("RecorderSupervisor stop() waits for, and kills, recorders still finishing an ended stream", async () => {
  const launched: DeafRecorder[] = [];
  const recorders = new RecorderSupervisor<DeafRecorder>(CONFIG, {
    launch: (dir, events) => {
      const process = new DeafRecorder(dir, events as RecorderEvents<FakeRecorder>);
      launched.push(process);
      return process;
    },
    makeDirectory: () => {},
  });
  recorders.streamCreated("rec/a", 8, 4096);
  recorders.streamEnded("rec/a");
  // A rule change ends one recorder and starts another.
  recorders.streamCreated("rec/b", 9, 4096);
  recorders.streamCreated("rec/b", 9, 4096);
  await recorders.stop(20);
  for (const process of launched) assert.deepEqual(process.signals, ["SIGKILL"]);
});

Deno.test("RecorderSupervisor waits for a directory made off the event loop, and fails when it cannot be", async () => {
  const launched: FakeRecorder[] = [];
  const pending = new Map<string, PromiseWithResolvers<void>>();
  const recorders = new RecorderSupervisor<FakeRecorder>(CONFIG, {
    launch: (dir, events) => {
      const process = new FakeRecorder(dir, events);
      launched.push(process);
      return process;
    },
    makeDirectory: (dir) => {
      const made = Promise.withResolvers<void>();
      pending.set(dir, made);
      return made.promise;
    },
  });
  recorders.streamCreated("rec/a", 8, 4096);
  assert.equal(launched.length, 0, "not started before the directory exists");
  assert.equal(recorders.info("rec/a")?.state, "stopped");
  pending.get("/var/rec")!.resolve();
  await sleep(0);
  assert.equal(launched.length, 1);
  assert.equal(recorders.info("rec/a")?.state, "recording");

  // A stream that ends while its directory is being made starts no recorder.
  recorders.streamCreated("rec/b", 9, 4096);
  recorders.streamEnded("rec/b");
  pending.get("/var/rec")!.resolve();
  await sleep(0);
  assert.equal(launched.length, 1);

  recorders.streamCreated("rec/c", 10, 4096);
  pending.get("/var/rec")!.reject(new Error("Permission denied"));
  await sleep(0);
  assert.equal(recorders.info("rec/c")?.state, "failed");
  assert.equal(recorders.info("rec/c")?.reason, "no-directory");
  await recorders.stop(100);
});
