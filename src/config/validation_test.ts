import assert from "node:assert/strict";
import { describeSecret, describeValue, nearestKey } from "./validation.ts";

const describeCases: { name: string; value: unknown; secret?: boolean; expected: string }[] = [
  { name: "a string, quoted", value: "abc", expected: '"abc"' },
  {
    name: "a secret string by its length",
    value: "hunter2hunter2",
    secret: true,
    expected: "a string of 14 bytes",
  },
  { name: "a number", value: -1, expected: "-1" },
  { name: "undefined", value: undefined, expected: "undefined" },
  { name: "a bigint", value: 5n, expected: "5n" },
  { name: "an object as JSON", value: { a: 1 }, expected: '{"a":1}' },
  {
    name: "a cyclic object without throwing",
    value: (() => {
      const o: Record<string, unknown> = {};
      o.self = o;
      return o;
    })(),
    expected: "[object Object]",
  },
];

for (const { name, value, secret, expected } of describeCases) {
  Deno.test(`describeValue() shows ${name}`, () => {
    assert.equal(describeValue(value, secret), expected);
  });
}

Deno.test("describeSecret() names a secret by its length in bytes only", () => {
  assert.equal(describeSecret("pässword12"), "a string of 11 bytes");
});

Deno.test("nearestKey() suggests a known key within a typo's distance, or nothing", () => {
  const known = ["playWaitMs", "graceMs", "streams"];
  assert.equal(nearestKey("playwaitms", known), "playWaitMs");
  assert.equal(nearestKey("gracems", known), "graceMs");
  assert.equal(nearestKey("stream", known), "streams");
  assert.equal(nearestKey("latency", known), undefined);
});
