import assert from "node:assert/strict";
import { bytesFromHex, hexFromBytes } from "./hex.ts";

Deno.test("bytesFromHex() reads digits of either case and ignores whitespace", () => {
  assert.deepEqual([...bytesFromHex("80 00 00 00\n  0aFf")], [0x80, 0, 0, 0, 0x0a, 0xff]);
  assert.deepEqual([...bytesFromHex("")], []);
});

Deno.test("bytesFromHex() rejects an odd number of digits and non-hex characters", () => {
  assert.throws(() => bytesFromHex("abc"), new TypeError("Odd number of hex digits: 3"));
  assert.throws(() => bytesFromHex("0g"), new TypeError("Bad hex digits at 0"));
  assert.throws(() => bytesFromHex("00+1"), new TypeError("Bad hex digits at 2"));
});

Deno.test("hexFromBytes() and bytesFromHex() round-trip every byte value", () => {
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  const text = hexFromBytes(all);
  assert.equal(text.slice(0, 8), "00010203");
  assert.equal(text.length, 512);
  assert.deepEqual(bytesFromHex(text), all);
});
