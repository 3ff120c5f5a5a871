/**
 * A publisher in its own process, for `ffi/shm_test.ts`: maps the stream
 * buffer behind an inherited fd, attaches as its writer and writes numbered,
 * self-checking messages, waking readers after each.
 *
 *     deno run --allow-ffi stream_buffer_writer.ts <fd> <tag> <count | forever> [hang]
 *
 * With `forever` it writes in a tight loop until it is killed. With `hang`,
 * after `count` messages it starts one more, scribbles over its payload and
 * spins inside the write, its slot odd, until it is killed.
 *
 * @module
 */

import { futexWake, SharedMapping } from "../shm.ts";
import {
  _internals,
  HEADER_BYTES,
  MessageFlags,
  SlotOffset,
  StreamWriter,
  WAKE_WORD_OFFSET,
} from "../../src/media/stream_buffer.ts";

const SMALLEST = 188;
const LARGEST = 1316;

/** Writes message `index` of writer `tag` into `into`; returns its length. */
export function fillMessage(tag: number, index: number, into: Uint8Array): number {
  const length = SMALLEST + (index * 37) % (LARGEST - SMALLEST + 1);
  const view = new DataView(into.buffer, into.byteOffset, length);
  view.setUint32(0, tag, true);
  view.setUint32(4, index, true);
  view.setUint32(8, length, true);
  let sum = 0;
  for (let i = 16; i < length; i++) {
    const byte = (tag * 131 + index * 7 + i) & 0xff;
    into[i] = byte;
    sum = (sum + byte) >>> 0;
  }
  view.setUint32(12, sum, true);
  return length;
}

/** Every random-access message of the fixture's streams. */
export function flagsOf(index: number): number {
  return index % 8 === 0 ? MessageFlags.RandomAccess : 0;
}

/**
 * Checks that `message` is exactly what {@link fillMessage} wrote; returns
 * its tag and index, or a description of what is wrong.
 */
export function checkMessage(message: Uint8Array): { tag: number; index: number } | string {
  if (message.byteLength < 16) return `${message.byteLength} bytes is too short`;
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  const tag = view.getUint32(0, true);
  const index = view.getUint32(4, true);
  const length = view.getUint32(8, true);
  if (length !== message.byteLength) {
    return `message ${tag}/${index}: length ${length} ≠ ${message.byteLength}`;
  }
  let sum = 0;
  for (let i = 16; i < length; i++) {
    if (message[i] !== ((tag * 131 + index * 7 + i) & 0xff)) {
      return `message ${tag}/${index}: byte ${i} is wrong`;
    }
    sum = (sum + message[i]!) >>> 0;
  }
  if (sum !== view.getUint32(12, true)) return `message ${tag}/${index}: bad checksum`;
  return { tag, index };
}

if (import.meta.main) {
  const [fdText, tagText, countText, then] = Deno.args;
  const fd = Number(fdText);
  const tag = Number(tagText);
  const count = countText === "forever" ? Infinity : Number(countText);
  using mapping = SharedMapping.map(fd);
  const writer = StreamWriter.attach(mapping.buffer);
  const message = new Uint8Array(LARGEST);
  let index = 0;
  for (; index < count; index++) {
    const length = fillMessage(tag, index, message);
    writer.write(message.subarray(0, length), flagsOf(index), performance.now() * 1000);
    futexWake(mapping, WAKE_WORD_OFFSET);
  }
  if (then === "hang") {
    _internals.beforeSlotCommit = (slot) => {
      const payload = HEADER_BYTES + slot * writer.layout.slotSize + SlotOffset.payload;
      new Uint8Array(mapping.buffer, payload + 100, 100).fill(0xee);
      for (;;) {
        // Die here: killed with the slot odd and its payload torn.
      }
    };
    const length = fillMessage(tag, index, message);
    writer.write(message.subarray(0, length), flagsOf(index), performance.now() * 1000);
  }
}
