import assert from "node:assert/strict";
import {
  loopDuration,
  pesStartAt,
  shiftTimestamps,
  TS_PACKET_BYTES,
  VideoPtsScanner,
} from "./ts_time.ts";

/** A TS packet on PID 0x100 starting a video PES with PTS and DTS, and a PCR. */
function videoPacket(pts: number, dts: number, pcrBase: number): Uint8Array {
  const packet = new Uint8Array(TS_PACKET_BYTES).fill(0xff);
  packet.set([0x47, 0x41, 0x00, 0x30, 7, 0x10]);
  // PCR base (33 bits), 6 reserved bits, extension 0.
  packet.set([
    Math.floor(pcrBase / 2 ** 25) & 0xff,
    Math.floor(pcrBase / 2 ** 17) & 0xff,
    Math.floor(pcrBase / 2 ** 9) & 0xff,
    Math.floor(pcrBase / 2) & 0xff,
    ((pcrBase & 1) << 7) | 0x7e,
    0,
  ], 6);
  const pes = 12;
  packet.set([0, 0, 1, 0xe0, 0, 0, 0x80, 0xc0, 10], pes);
  const timestamp = (value: number, marker: number) => [
    (marker << 4) | (Math.floor(value / 2 ** 30) << 1) | 1,
    (value >> 22) & 0xff,
    (((value >> 15) & 0x7f) << 1) | 1,
    (value >> 7) & 0xff,
    ((value & 0x7f) << 1) | 1,
  ];
  packet.set(timestamp(pts, 3), pes + 9);
  packet.set(timestamp(dts, 1), pes + 14);
  return packet;
}

function pcrBaseOf(packet: Uint8Array): number {
  return packet[6]! * 2 ** 25 + (packet[7]! << 17) + (packet[8]! << 9) + (packet[9]! << 1) +
    (packet[10]! >> 7);
}

Deno.test("pesStartAt() reads a video PES's PTS", () => {
  const packet = videoPacket(2 ** 32 + 12345, 2 ** 32, 99);
  const pes = pesStartAt(packet, 0);
  assert.equal(pes?.streamId, 0xe0);
  assert.equal(pes?.pts, 2 ** 32 + 12345);
});

Deno.test("shiftTimestamps() moves PTS, DTS and PCR by the offset, wrapping at 2^33", () => {
  const packet = videoPacket(1000, 900, 800);
  shiftTimestamps(packet, 2 ** 33 - 500);
  assert.equal(pesStartAt(packet, 0)?.pts, 500);
  const dts = pesStartAt(packet, 0)!.dtsAt;
  const again = videoPacket(0, 400, 300);
  assert.deepEqual([...packet.subarray(dts, dts + 5)], [...again.subarray(dts, dts + 5)]);
  assert.equal(pcrBaseOf(packet), 300);
});

Deno.test("VideoPtsScanner finds PES starts across chunks of any size", () => {
  const stream = new Uint8Array(3 * TS_PACKET_BYTES);
  [3600, 7200, 10800].forEach((pts, n) => stream.set(videoPacket(pts, pts, pts), n * 188));
  const scanner = new VideoPtsScanner();
  const found = [100, 250, 564].flatMap((end, n, ends) =>
    scanner.push(stream.subarray(n === 0 ? 0 : ends[n - 1]!, end))
  );
  assert.deepEqual(found, [3600, 7200, 10800]);
});

Deno.test("loopDuration() is frames times the frame step", () => {
  const stream = new Uint8Array(4 * TS_PACKET_BYTES);
  [0, 3600, 7200, 10800].forEach((pts, n) => stream.set(videoPacket(pts, pts, pts), n * 188));
  assert.equal(loopDuration(stream), 4 * 3600);
});
