import assert from "node:assert/strict";
import { FRAME_BITS, readBars } from "./frame_bars.ts";

/** A grey frame carrying `number` as the bars of frame_bars.ts draw it. */
function barsFrame(number: number, width: number, height: number): Uint8Array {
  const gray = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const bit = Math.floor(number / 2 ** Math.floor(x * FRAME_BITS / width)) % 2;
      gray[y * width + x] = (y < height / 2 ? bit : 1 - bit) * 255;
    }
  }
  return gray;
}

Deno.test("readBars() reads back the numbers the bars carry", () => {
  for (const number of [0, 1, 2, 25, 1234, 65535]) {
    assert.equal(readBars(barsFrame(number, 320, 240), 320, 240), number);
  }
});

Deno.test("readBars() reads a frame of another size", () => {
  assert.equal(readBars(barsFrame(4321, 640, 360), 640, 360), 4321);
});

Deno.test("readBars() calls a frame whose halves agree unreadable", () => {
  const gray = barsFrame(7, 320, 240);
  // The bottom half of bar 3 (a 0 bit: white below) turned black, as the top.
  for (let y = 120; y < 240; y++) gray.fill(0, y * 320 + 60, y * 320 + 80);
  assert.equal(readBars(gray, 320, 240), -1);
  assert.equal(readBars(new Uint8Array(320 * 240).fill(128), 320, 240), -1);
});

Deno.test("readBars() rejects a short frame", () => {
  assert.throws(() => readBars(new Uint8Array(10), 320, 240), RangeError);
});
