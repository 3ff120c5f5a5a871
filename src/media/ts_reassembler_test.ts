import assert from "node:assert/strict";
import { concat } from "../../tests/support/bytes.ts";
import { SeededRandom } from "../../tests/support/random.ts";
import { bytesFromHex as hex } from "../ipc/hex.ts";
import { TS_PACKET_SIZE } from "./mpegts.ts";
import {
  discardNotice,
  NOT_TS_NOTICE_BYTES,
  PACKETS_PER_MESSAGE,
  TsReassembler,
} from "./ts_reassembler.ts";
// Imported as bytes, not read: this folder's tests run without any permission.
import H264_AAC_FIXTURE from "./testdata/h264_aac_64x64.m2ts" with { type: "bytes" };

/** Packet `n` of a test stream: PID 0x100, counter n, and a payload of n repeated. */
function packet(n: number): Uint8Array {
  return concat(hex(`47 0100 ${(0x10 | (n & 15)).toString(16)}`), new Uint8Array(184).fill(n));
}

function packets(...numbers: number[]): Uint8Array {
  return concat(...numbers.map(packet));
}

/** `bytes` cut into chunks of `size`, as a sender with that payload size sends them. */
function chunked(bytes: Uint8Array, size: number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let offset = 0; offset < bytes.length; offset += size) {
    chunks.push(bytes.subarray(offset, offset + size));
  }
  return chunks;
}

/** Pushes every chunk, then flushes; returns copies of the messages emitted. */
function reassemble(reassembler: TsReassembler, chunks: Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  const emit = (message: Uint8Array) => out.push(message.slice());
  for (const chunk of chunks) reassembler.push(chunk, emit);
  reassembler.flush(emit);
  return out;
}

/** Packet numbers in messages, read back from the test packets' payload. */
function numbersOf(messages: Uint8Array[]): number[][] {
  return messages.map((message) => {
    assert.equal(message.length % TS_PACKET_SIZE, 0);
    const numbers: number[] = [];
    for (let o = 0; o < message.length; o += TS_PACKET_SIZE) {
      assert.deepEqual(message.subarray(o, o + TS_PACKET_SIZE), packet(message[o + 4]!));
      numbers.push(message[o + 4]!);
    }
    return numbers;
  });
}

const cases: {
  name: string;
  chunks: () => Uint8Array[];
  messages: number[][];
  discarded: number;
  syncLosses?: number;
}[] = [
  {
    name: "passes 7 whole packets per message through as they are",
    chunks: () => [packets(1, 2, 3, 4, 5, 6, 7), packets(8, 9, 10, 11, 12, 13, 14)],
    messages: [[1, 2, 3, 4, 5, 6, 7], [8, 9, 10, 11, 12, 13, 14]],
    discarded: 0,
  },
  {
    name: "regroups 1456-byte messages into 7-packet ones",
    chunks: () => chunked(packets(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), 1456),
    messages: [[1, 2, 3, 4, 5, 6, 7], [8, 9, 10, 11, 12, 13, 14], [15]],
    discarded: 0,
  },
  {
    name: "joins a packet split over three 100-byte messages",
    chunks: () => chunked(packets(1, 2, 3), 100),
    messages: [[1, 2, 3]],
    discarded: 0,
  },
  {
    // Packet 3 cannot be told from one cut short, whose next packet starts 4 bytes late.
    name: "discards garbage between packets, and the packet before it",
    chunks: () => [concat(packets(1, 2, 3), hex("de ad be ef"), packets(4, 5, 6))],
    messages: [[1, 2, 4, 5, 6]],
    discarded: 188 + 4,
    syncLosses: 1,
  },
  {
    // A sync byte right after packet 3 vouches for it.
    name: "discards garbage between packets that starts with a sync byte",
    chunks: () => [concat(packets(1, 2, 3), hex("47 01 00"), packets(4, 5, 6))],
    messages: [[1, 2, 3, 4, 5, 6]],
    discarded: 3,
    syncLosses: 1,
  },
  {
    // The last packet of a message is passed on before the next one shows what follows it.
    name: "discards garbage at the start of a message after a whole packet",
    chunks: () => [packets(1, 2, 3), concat(hex("00 00 01 e0"), packets(4, 5, 6))],
    messages: [[1, 2, 3, 4, 5, 6]],
    discarded: 4,
    syncLosses: 1,
  },
  {
    name: "drops a packet cut short by a lost message, and resyncs",
    chunks: () => {
      const stream = packets(1, 2, 3, 4, 5, 6);
      // Packet 3 loses its last 100 bytes: the message that carried them never came.
      return [stream.subarray(0, 3 * 188 - 100), stream.subarray(3 * 188)];
    },
    messages: [[1, 2, 4, 5, 6]],
    discarded: 188 - 100,
    syncLosses: 1,
  },
  {
    name: "skips the rest of a packet when a stream starts inside it",
    chunks: () => [packets(1, 2, 3, 4).subarray(100)],
    messages: [[2, 3, 4]],
    discarded: 88,
  },
  {
    name: "waits for three sync bytes 188 apart before trusting a boundary",
    chunks: () => [packet(1), packet(2)],
    messages: [],
    discarded: 0,
  },
  {
    name: "discards a lone packet between noise",
    chunks: () => [concat(new Uint8Array(500).fill(0x11), packet(1), new Uint8Array(500))],
    messages: [],
    discarded: 500 + 188 + 500,
  },
  {
    name: "discards zeros",
    chunks: () => [new Uint8Array(1316), new Uint8Array(1316)],
    messages: [],
    discarded: 2 * 1316,
  },
  {
    name: "discards text",
    chunks: () => chunked(new TextEncoder().encode("POST /x HTTP/1.1\r\n".repeat(100)), 1456),
    messages: [],
    discarded: 18 * 100,
  },
];

for (const { name, chunks, messages, discarded, syncLosses = 0 } of cases) {
  Deno.test(`TsReassembler ${name}`, () => {
    const reassembler = new TsReassembler();
    const out = reassemble(reassembler, chunks());
    assert.deepEqual(numbersOf(out), messages);
    assert.equal(reassembler.discardedBytes, discarded);
    assert.equal(reassembler.syncLosses, syncLosses);
    assert.equal(reassembler.packets, messages.flat().length);
  });
}

Deno.test("TsReassembler hands a 7-packet message on as the same view, without a copy", () => {
  const reassembler = new TsReassembler();
  const seen: Uint8Array[] = [];
  const first = packets(1, 2, 3, 4, 5, 6, 7);
  const second = packets(8, 9, 10, 11, 12, 13, 14);
  reassembler.push(first, (message) => seen.push(message));
  reassembler.push(second, (message) => seen.push(message));
  assert.equal(seen.length, 2);
  assert.equal(seen[1], second);
});

Deno.test("TsReassembler holds back at most an unconfirmed boundary's bytes", () => {
  const reassembler = new TsReassembler();
  const random = new SeededRandom(7);
  const noise = new Uint8Array(100_000);
  for (let i = 0; i < noise.length; i++) noise[i] = random.uint32() & 0xff;
  for (const chunk of chunked(noise, 1456)) {
    reassembler.push(chunk, () => assert.fail("noise made a packet"));
    assert.ok(reassembler.pendingBytes <= 2 * TS_PACKET_SIZE, `${reassembler.pendingBytes}`);
  }
  assert.equal(reassembler.discardedBytes + reassembler.pendingBytes, noise.length);
});

Deno.test("TsReassembler rebuilds a real stream sent in 1456-byte messages", () => {
  const reassembler = new TsReassembler();
  const out = reassemble(reassembler, chunked(H264_AAC_FIXTURE, 1456));
  assert.deepEqual(concat(...out), H264_AAC_FIXTURE);
  assert.ok(out.slice(0, -1).every((message) => message.length === 1316));
  assert.equal(reassembler.discardedBytes, 0);
  assert.equal(reassembler.packets, H264_AAC_FIXTURE.length / TS_PACKET_SIZE);
});

Deno.test("TsReassembler rebuilds a real stream whatever the message sizes", () => {
  const random = new SeededRandom(1456);
  for (let round = 0; round < 20; round++) {
    const chunks: Uint8Array[] = [];
    for (let offset = 0; offset < H264_AAC_FIXTURE.length;) {
      const size = 1 + (random.uint32() % 1500);
      chunks.push(H264_AAC_FIXTURE.subarray(offset, offset + size));
      offset += size;
    }
    const reassembler = new TsReassembler();
    const out = reassemble(reassembler, chunks);
    assert.deepEqual(concat(...out), H264_AAC_FIXTURE, `round ${round}`);
    assert.ok(out.every((m) => m.length <= PACKETS_PER_MESSAGE * TS_PACKET_SIZE));
    assert.equal(reassembler.discardedBytes, 0);
  }
});

Deno.test("TsReassembler passes on only whole packets of a real stream that lost a message", () => {
  const chunks = chunked(H264_AAC_FIXTURE, 1456);
  const lost = chunks.splice(10, 1)[0]!;
  const reassembler = new TsReassembler();
  const out = concat(...reassemble(reassembler, chunks));
  const original = new Set<string>();
  for (let o = 0; o < H264_AAC_FIXTURE.length; o += TS_PACKET_SIZE) {
    original.add(H264_AAC_FIXTURE.subarray(o, o + TS_PACKET_SIZE).join());
  }
  for (let o = 0; o < out.length; o += TS_PACKET_SIZE) {
    assert.ok(original.has(out.subarray(o, o + TS_PACKET_SIZE).join()), `packet at ${o}`);
  }
  // Only the two packets the lost message cut into are discarded, besides what it carried.
  assert.equal(reassembler.syncLosses, 1);
  assert.equal(out.length + reassembler.discardedBytes + lost.length, H264_AAC_FIXTURE.length);
  assert.equal(H264_AAC_FIXTURE.length - out.length - lost.length, reassembler.discardedBytes);
  assert.ok(reassembler.discardedBytes < 2 * TS_PACKET_SIZE);
});

Deno.test("discardNotice() says nothing until bytes were discarded, or too few to judge", () => {
  assert.equal(discardNotice({ discardedBytes: 0, packets: 0 }), undefined);
  assert.equal(discardNotice({ discardedBytes: 0, packets: 500 }), undefined);
  // A sender that starts inside a packet discards its rest before the first whole one.
  assert.equal(discardNotice({ discardedBytes: 187, packets: 0 }), undefined);
  assert.equal(discardNotice({ discardedBytes: NOT_TS_NOTICE_BYTES - 1, packets: 0 }), undefined);
});

Deno.test("discardNotice() tells input that is not MPEG-TS from a stream that lost sync", () => {
  const reassembler = new TsReassembler();
  reassemble(
    reassembler,
    chunked(new TextEncoder().encode("not a transport stream\n".repeat(100)), 1456),
  );
  assert.match(discardNotice(reassembler)!, /^sends no MPEG-TS .* in 2300 bytes\): discarding/);
  const broken = new TsReassembler();
  reassemble(broken, [concat(packets(1, 2, 3), hex("de ad"), packets(4, 5, 6))]);
  assert.match(discardNotice(broken)!, /^lost MPEG-TS packet sync: discarded 190 bytes/);
});

Deno.test("TsReassembler accounts for every byte of a mangled real stream, and emits only packets", () => {
  // Seeded, so the fuzz run is the same every time.
  const random = new SeededRandom(0x47);
  for (let round = 0; round < 50; round++) {
    const chunks: Uint8Array[] = [];
    for (let offset = 0; offset < H264_AAC_FIXTURE.length;) {
      const size = 1 + (random.uint32() % 1500);
      const chunk = H264_AAC_FIXTURE.slice(offset, offset + size);
      offset += size;
      const mangle = random.uint32() % 10;
      if (mangle === 0) continue; // lost
      if (mangle === 1) chunk[random.uint32() % chunk.length] = 0x47;
      if (mangle === 2) chunks.push(random.bytes(random.uint32() % 400));
      chunks.push(chunk);
    }
    const reassembler = new TsReassembler();
    let out = 0;
    const emit = (message: Uint8Array) => {
      assert.ok(message.length > 0 && message.length <= PACKETS_PER_MESSAGE * TS_PACKET_SIZE);
      assert.equal(message.length % TS_PACKET_SIZE, 0);
      for (let o = 0; o < message.length; o += TS_PACKET_SIZE) assert.equal(message[o], 0x47);
      out += message.length;
    };
    let total = 0;
    for (const chunk of chunks) {
      reassembler.push(chunk, emit);
      total += chunk.length;
      if (random.uint32() % 4 === 0) reassembler.flush(emit);
    }
    reassembler.flush(emit);
    assert.equal(out + reassembler.discardedBytes + reassembler.pendingBytes, total);
    assert.equal(out, reassembler.packets * TS_PACKET_SIZE);
    assert.ok(out > H264_AAC_FIXTURE.length / 2, `round ${round}: only ${out} bytes out`);
  }
});
