import assert from "node:assert/strict";
import {
  parseRecordingFileName,
  recordingFileName,
  recordingsOverQuota,
} from "./recording_files.ts";

const START = Date.UTC(2025, 0, 2, 3, 4, 5, 678);

Deno.test("recordingFileName() names a file by stream and UTC start second", () => {
  assert.equal(recordingFileName("live/cam1", START), "live+cam1_20250102T030405Z.ts");
  assert.equal(recordingFileName("a", START, 3), "a_20250102T030405Z-3.ts");
  assert.throws(() => recordingFileName("../x", START), TypeError);
  assert.throws(() => recordingFileName("a", START, 0), RangeError);
});

Deno.test("parseRecordingFileName() takes back what recordingFileName() made", () => {
  for (const [stream, sequence] of [["live/cam1", 1], ["a.b_c~d-e/f", 2], ["x", 17]] as const) {
    const name = recordingFileName(stream, START, sequence);
    assert.deepEqual(parseRecordingFileName(name), {
      stream,
      startMs: START - 678,
      sequence,
    });
  }
});

Deno.test("parseRecordingFileName() refuses anything else", () => {
  for (
    const name of [
      "",
      "x.ts",
      "../x_20250102T030405Z.ts",
      "a/b_20250102T030405Z.ts",
      "..+x_20250102T030405Z.ts",
      "+x_20250102T030405Z.ts",
      "x_20250230T030405Z.ts", // no 30 February
      "x_20250102T030405Z-1.ts", // the first file has no sequence
      "x_20250102T030405Z-01.ts",
      "x_20250102T030405Z.ts.part",
      "x_20250102T030405.ts",
      "x%2Fy_20250102T030405Z.ts",
    ]
  ) {
    assert.equal(parseRecordingFileName(name), undefined, name);
  }
});

Deno.test("recordingsOverQuota() deletes the oldest first, never the current file", () => {
  const files = [
    { name: "s_20250102T030410Z.ts", bytes: 100 },
    { name: "s_20250102T030400Z.ts", bytes: 100 },
    { name: "s_20250102T030400Z-2.ts", bytes: 100 },
    { name: "notes.txt", bytes: 10_000 },
    { name: "s_20250102T030420Z.ts", bytes: 100 },
  ];
  assert.deepEqual(recordingsOverQuota(files, { quotaBytes: 400 }), []);
  assert.deepEqual(recordingsOverQuota(files, { quotaBytes: 250 }), [
    "s_20250102T030400Z.ts",
    "s_20250102T030400Z-2.ts",
  ]);
  assert.deepEqual(
    recordingsOverQuota(files, { quotaBytes: 50, current: "s_20250102T030420Z.ts" }),
    ["s_20250102T030400Z.ts", "s_20250102T030400Z-2.ts", "s_20250102T030410Z.ts"],
  );
  // The current file alone over the quota stays.
  assert.deepEqual(
    recordingsOverQuota([{ name: "s_20250102T030420Z.ts", bytes: 900 }], {
      quotaBytes: 50,
      current: "s_20250102T030420Z.ts",
    }),
    [],
  );
});
