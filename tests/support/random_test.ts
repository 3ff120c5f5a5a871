import assert from "node:assert/strict";
import { SeededRandom } from "./random.ts";

// Values of the Mulberry32 copies this class replaced, so the fuzz inputs and
// generated datagrams of the tests that used them are unchanged.
Deno.test("SeededRandom.uint32() gives Mulberry32's sequence", () => {
  const random = new SeededRandom(0x5eed);
  assert.deepEqual([random.uint32(), random.uint32(), random.uint32()], [
    3049564378,
    1229806541,
    4088390650,
  ]);
});

Deno.test("SeededRandom.float() is uint32() / 2^32, in [0, 1)", () => {
  const random = new SeededRandom(0x5eed);
  random.uint32();
  random.uint32();
  random.uint32();
  assert.deepEqual([random.float(), random.float()], [0.10175976227037609, 0.3784139291383326]);
  for (let i = 0; i < 1000; i++) {
    const value = random.float();
    assert.ok(value >= 0 && value < 1, String(value));
  }
});

Deno.test("SeededRandom.bytes() takes the low byte of each uint32()", () => {
  assert.deepEqual([...new SeededRandom(1).bytes(8)], [243, 201, 235, 253, 43, 48, 240, 92]);
  assert.deepEqual([...new SeededRandom(2).bytes(4)], [177, 230, 139, 224]);
});

Deno.test("SeededRandom gives the same sequence for the same seed, another for another", () => {
  const a = new SeededRandom(7).bytes(64);
  assert.deepEqual(new SeededRandom(7).bytes(64), a);
  assert.notDeepEqual(new SeededRandom(8).bytes(64), a);
});
