import assert from "node:assert/strict";
import {
  extinfSeconds,
  type MediaPlaylist,
  renderMediaPlaylist,
  targetDurationSeconds,
} from "./hls_playlist.ts";

const segment = (sequence: number, durationMs: number, discontinuity = false) => ({
  sequence,
  durationMs,
  discontinuity,
});

const part = (durationMs: number, independent = false) => ({ durationMs, independent });

const live: MediaPlaylist = {
  segments: [segment(7, 2000), segment(8, 1960, true), segment(9, 2002.2)],
  targetDurationMs: 2000,
  mediaSequence: 7,
  discontinuitySequence: 1,
  ended: false,
};

const goldenCases: { name: string; playlist: MediaPlaylist; text: string[] }[] = [
  {
    name: "a live window after a takeover, one discontinuity gone from it",
    playlist: live,
    text: [
      "#EXTM3U",
      "#EXT-X-VERSION:3",
      "#EXT-X-TARGETDURATION:2",
      "#EXT-X-MEDIA-SEQUENCE:7",
      "#EXT-X-DISCONTINUITY-SEQUENCE:1",
      "#EXTINF:2.000,",
      "s/7.ts",
      "#EXT-X-DISCONTINUITY",
      "#EXTINF:1.960,",
      "s/8.ts",
      "#EXTINF:2.002,",
      "s/9.ts",
    ],
  },
  {
    name: "an ended stream, without discontinuity sequence while it is 0",
    playlist: {
      segments: [segment(0, 2000), segment(1, 733.3333)],
      targetDurationMs: 2000,
      mediaSequence: 0,
      discontinuitySequence: 0,
      ended: true,
    },
    text: [
      "#EXTM3U",
      "#EXT-X-VERSION:3",
      "#EXT-X-TARGETDURATION:2",
      "#EXT-X-MEDIA-SEQUENCE:0",
      "#EXTINF:2.000,",
      "s/0.ts",
      "#EXTINF:0.733,",
      "s/1.ts",
      "#EXT-X-ENDLIST",
    ],
  },
  {
    name: "a live stream before its first segment",
    playlist: {
      segments: [],
      targetDurationMs: 6000,
      mediaSequence: 12,
      discontinuitySequence: 0,
      ended: false,
    },
    text: ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:6", "#EXT-X-MEDIA-SEQUENCE:12"],
  },
  {
    name: "a segment longer than the target, which raises the target duration",
    playlist: {
      segments: [segment(3, 2000), segment(4, 4600)],
      targetDurationMs: 2000,
      mediaSequence: 3,
      discontinuitySequence: 0,
      ended: false,
    },
    text: [
      "#EXTM3U",
      "#EXT-X-VERSION:3",
      "#EXT-X-TARGETDURATION:5",
      "#EXT-X-MEDIA-SEQUENCE:3",
      "#EXTINF:2.000,",
      "s/3.ts",
      "#EXTINF:4.600,",
      "s/4.ts",
    ],
  },
  {
    name: "low-latency HLS: dates, the newest segments' parts, the pending parts and a hint",
    playlist: {
      segments: [
        { ...segment(20, 2000), programDateTimeMs: Date.UTC(2026, 10, 30, 12) },
        {
          ...segment(21, 800),
          programDateTimeMs: Date.UTC(2026, 10, 30, 12, 0, 2),
          parts: [part(400, true), part(400)],
        },
      ],
      targetDurationMs: 2000,
      mediaSequence: 20,
      discontinuitySequence: 0,
      ended: false,
      partTargetMs: 400,
      pending: {
        discontinuity: true,
        programDateTimeMs: Date.UTC(2026, 10, 30, 12, 0, 2, 800),
        parts: [part(400, true), part(360)],
      },
    },
    text: [
      "#EXTM3U",
      "#EXT-X-VERSION:3",
      "#EXT-X-TARGETDURATION:2",
      "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.200",
      "#EXT-X-PART-INF:PART-TARGET=0.400",
      "#EXT-X-MEDIA-SEQUENCE:20",
      "#EXT-X-PROGRAM-DATE-TIME:2026-11-30T12:00:00.000Z",
      "#EXTINF:2.000,",
      "s/20.ts",
      "#EXT-X-PROGRAM-DATE-TIME:2026-11-30T12:00:02.000Z",
      '#EXT-X-PART:DURATION=0.400,URI="s/21.0.ts",INDEPENDENT=YES',
      '#EXT-X-PART:DURATION=0.400,URI="s/21.1.ts"',
      "#EXTINF:0.800,",
      "s/21.ts",
      "#EXT-X-DISCONTINUITY",
      "#EXT-X-PROGRAM-DATE-TIME:2026-11-30T12:00:02.800Z",
      '#EXT-X-PART:DURATION=0.400,URI="s/22.0.ts",INDEPENDENT=YES',
      '#EXT-X-PART:DURATION=0.360,URI="s/22.1.ts"',
      '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="s/22.2.ts"',
    ],
  },
  {
    name: "low-latency HLS waiting for a key frame: only the hint",
    playlist: {
      segments: [],
      targetDurationMs: 2000,
      mediaSequence: 5,
      discontinuitySequence: 0,
      ended: false,
      partTargetMs: 500,
      pending: { discontinuity: false, programDateTimeMs: undefined, parts: [] },
    },
    text: [
      "#EXTM3U",
      "#EXT-X-VERSION:3",
      "#EXT-X-TARGETDURATION:2",
      "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.500",
      "#EXT-X-PART-INF:PART-TARGET=0.500",
      "#EXT-X-MEDIA-SEQUENCE:5",
      '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="s/5.0.ts"',
    ],
  },
  {
    name: "low-latency HLS of an ended stream: parts, no hint",
    playlist: {
      segments: [{ ...segment(3, 800), parts: [part(400, true), part(400)] }],
      targetDurationMs: 2000,
      mediaSequence: 3,
      discontinuitySequence: 0,
      ended: true,
      partTargetMs: 400,
      pending: { discontinuity: false, programDateTimeMs: undefined, parts: [] },
    },
    text: [
      "#EXTM3U",
      "#EXT-X-VERSION:3",
      "#EXT-X-TARGETDURATION:2",
      "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.200",
      "#EXT-X-PART-INF:PART-TARGET=0.400",
      "#EXT-X-MEDIA-SEQUENCE:3",
      '#EXT-X-PART:DURATION=0.400,URI="s/3.0.ts",INDEPENDENT=YES',
      '#EXT-X-PART:DURATION=0.400,URI="s/3.1.ts"',
      "#EXTINF:0.800,",
      "s/3.ts",
      "#EXT-X-ENDLIST",
    ],
  },
];

for (const { name, playlist, text } of goldenCases) {
  Deno.test(`renderMediaPlaylist() writes ${name}`, () => {
    const uriOf = (n: number, part?: number) =>
      part === undefined ? `s/${n}.ts` : `s/${n}.${part}.ts`;
    assert.equal(renderMediaPlaylist(playlist, uriOf), text.join("\n") + "\n");
  });
}

Deno.test("renderMediaPlaylist() refuses a part URI with a quote and a part target of 0", () => {
  const playlist: MediaPlaylist = {
    ...live,
    partTargetMs: 400,
    pending: { discontinuity: false, programDateTimeMs: undefined, parts: [part(400, true)] },
  };
  assert.throws(
    () => renderMediaPlaylist(playlist, (n, p) => p === undefined ? `${n}.ts` : `"${n}.ts`),
    {
      name: "TypeError",
      message: 'Cannot render a media playlist: part 0 of segment 10 has URI "\\"10.ts"',
    },
  );
  assert.throws(
    () => renderMediaPlaylist({ ...playlist, partTargetMs: 0 }, (n) => `${n}.ts`),
    {
      name: "RangeError",
      message: "Cannot render a media playlist: part target 0 ms is not positive",
    },
  );
});

const targetCases: [string, number, number[], number][] = [
  ["the target rounded up", 1500, [], 2],
  ["at least 1 s", 100, [], 1],
  ["not raised by 29.97 fps segments (rounded to the nearest second)", 2000, [2002, 2499], 2],
  ["raised by a segment that rounds up", 2000, [2500], 3],
  ["raised by the duration as written, not as given", 2000, [2499.9996], 3],
  ["raised by the longest segment", 2000, [1000, 6400, 3000], 6],
];

for (const [name, targetDurationMs, durations, seconds] of targetCases) {
  Deno.test(`targetDurationSeconds() is ${name}`, () => {
    const segments = durations.map((durationMs, i) => segment(i, durationMs));
    assert.equal(targetDurationSeconds({ segments, targetDurationMs }), seconds);
  });
}

Deno.test("extinfSeconds() writes seconds with three decimals", () => {
  const cases: [number, string][] = [[2000, "2.000"], [40, "0.040"], [2002.2, "2.002"], [
    0,
    "0.000",
  ]];
  for (const [ms, text] of cases) assert.equal(extinfSeconds(ms), text);
});

const refusals: {
  name: string;
  playlist: MediaPlaylist;
  uri?: string;
  error: RangeErrorConstructor | TypeErrorConstructor;
  message: string;
}[] = [
  {
    name: "a gap in the sequence numbers",
    playlist: { ...live, segments: [segment(7, 2000), segment(9, 2000)] },
    error: RangeError,
    message: "Cannot render a media playlist: segment 1 has sequence 9, not 8",
  },
  {
    name: "a first segment other than the media sequence",
    playlist: { ...live, mediaSequence: 6 },
    error: RangeError,
    message: "Cannot render a media playlist: segment 0 has sequence 7, not 6",
  },
  {
    name: "a negative duration",
    playlist: { ...live, segments: [segment(7, -1)] },
    error: RangeError,
    message: "Cannot render a media playlist: segment 7 lasts -1 ms",
  },
  {
    name: "a negative media sequence",
    playlist: { ...live, segments: [], mediaSequence: -1 },
    error: RangeError,
    message: "Cannot render a media playlist: media sequence -1 is not a count",
  },
  {
    name: "a fractional discontinuity sequence",
    playlist: { ...live, discontinuitySequence: 0.5 },
    error: RangeError,
    message: "Cannot render a media playlist: discontinuity sequence 0.5 is not a count",
  },
  {
    name: "a zero target duration",
    playlist: { ...live, targetDurationMs: 0 },
    error: RangeError,
    message: "Cannot render a media playlist: target duration 0 ms is not positive",
  },
  {
    name: "a URI with a line break",
    playlist: live,
    uri: "7.ts\n#EXT-X-ENDLIST",
    error: TypeError,
    message: 'Cannot render a media playlist: segment 7 has URI "7.ts\\n#EXT-X-ENDLIST"',
  },
  {
    name: "a URI that reads as a tag",
    playlist: live,
    uri: "#7.ts",
    error: TypeError,
    message: 'Cannot render a media playlist: segment 7 has URI "#7.ts"',
  },
  {
    name: "an empty URI",
    playlist: live,
    uri: "",
    error: TypeError,
    message: 'Cannot render a media playlist: segment 7 has URI ""',
  },
];

for (const { name, playlist, uri, error, message } of refusals) {
  Deno.test(`renderMediaPlaylist() refuses ${name}`, () => {
    assert.throws(() => renderMediaPlaylist(playlist, (n) => uri ?? `${n}.ts`), {
      name: error.name,
      message,
    });
  });
}
