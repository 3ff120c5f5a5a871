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
];

for (const { name, playlist, text } of goldenCases) {
  Deno.test(`renderMediaPlaylist() writes ${name}`, () => {
    assert.equal(renderMediaPlaylist(playlist, (n) => `s/${n}.ts`), text.join("\n") + "\n");
  });
}

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
