import assert from "node:assert/strict";
import { describeMode, parseStreamId, redactStreamId, type StreamId } from "./stream_id.ts";

const LONGEST_NAME = "a".repeat(255);
const TOO_LONG_NAME = "a".repeat(256);

/** Expected results; `raw` is filled in from the input. */
const validCases: {
  name: string;
  raw: string;
  defaultStream?: string;
  expected: Omit<StreamId, "raw">;
}[] = [
  // Bare names
  {
    name: "a bare name as play",
    raw: "live/test",
    expected: { mode: "play", name: "live/test", params: {} },
  },
  {
    name: "a one-segment bare name",
    raw: "test",
    expected: { mode: "play", name: "test", params: {} },
  },
  {
    name: "every allowed name character",
    raw: "AZaz09._~-/x",
    expected: { mode: "play", name: "AZaz09._~-/x", params: {} },
  },
  {
    name: "segments that only contain dots beyond two",
    raw: "live/.../.hidden/a..b",
    expected: { mode: "play", name: "live/.../.hidden/a..b", params: {} },
  },
  {
    name: "a name of exactly 255 bytes",
    raw: LONGEST_NAME,
    expected: { mode: "play", name: LONGEST_NAME, params: {} },
  },
  // Short forms
  {
    name: "publish:NAME",
    raw: "publish:live/test",
    expected: { mode: "publish", name: "live/test", params: {} },
  },
  {
    name: "play:NAME",
    raw: "play:live/test",
    expected: { mode: "play", name: "live/test", params: {} },
  },
  {
    name: "read:NAME as play",
    raw: "read:live/test",
    expected: { mode: "play", name: "live/test", params: {} },
  },
  // SRT Access Control
  {
    name: "#!:: with m=publish",
    raw: "#!::r=live/test,m=publish",
    expected: { mode: "publish", name: "live/test", params: {} },
  },
  {
    name: "#!:: with m=request as play",
    raw: "#!::r=live/test,m=request",
    expected: { mode: "play", name: "live/test", params: {} },
  },
  {
    name: "#!:: without m as play",
    raw: "#!::r=live/test",
    expected: { mode: "play", name: "live/test", params: {} },
  },
  {
    name: "#!:: with keys in another order",
    raw: "#!::m=publish,u=alice,r=live/test,s=abc123",
    expected: { mode: "publish", name: "live/test", user: "alice", session: "abc123", params: {} },
  },
  {
    name: "#!:: with user and session",
    raw: "#!::r=live/test,m=publish,u=alice,s=abc123",
    expected: { mode: "publish", name: "live/test", user: "alice", session: "abc123", params: {} },
  },
  {
    name: "#!:: keeping unknown keys in params",
    raw: "#!::r=live/test,h=example.com,t=stream,token=xyz",
    expected: {
      mode: "play",
      name: "live/test",
      params: { h: "example.com", t: "stream", token: "xyz" },
    },
  },
  {
    name: "#!:: with a value containing '=' (base64 padding)",
    raw: "#!::r=live/test,m=publish,token=YWJj==",
    expected: { mode: "publish", name: "live/test", params: { token: "YWJj==" } },
  },
  {
    name: "#!:: with an empty user",
    raw: "#!::r=live/test,u=",
    expected: { mode: "play", name: "live/test", user: "", params: {} },
  },
  {
    name: "#!:: without r, using the default stream",
    raw: "#!::m=publish,u=alice",
    defaultStream: "live/default",
    expected: { mode: "publish", name: "live/default", user: "alice", params: {} },
  },
  // Empty id
  {
    name: "an empty id as publish to the default stream",
    raw: "",
    defaultStream: "live/default",
    expected: { mode: "publish", name: "live/default", params: {} },
  },
  // URL-encoded ids (OBS #2990, OME #454)
  {
    name: "an OBS-style URL-encoded #!:: id",
    raw: "%23%21%3A%3Ar%3Dlive%2Ftest%2Cm%3Dpublish",
    expected: { mode: "publish", name: "live/test", params: {} },
  },
  {
    name: "a URL-encoded #!:: id in lower-case hex",
    raw: "%23%21%3a%3ar%3dlive%2ftest%2cm%3dpublish%2cu%3dalice",
    expected: { mode: "publish", name: "live/test", user: "alice", params: {} },
  },
  {
    name: "a partly URL-encoded #!:: id",
    raw: "#!::r=live%2Ftest,m=publish",
    expected: { mode: "publish", name: "live/test", params: {} },
  },
  {
    name: "a URL-encoded short form",
    raw: "publish%3Alive%2Ftest",
    expected: { mode: "publish", name: "live/test", params: {} },
  },
  {
    name: "a URL-encoded bare name",
    raw: "live%2Ftest",
    expected: { mode: "play", name: "live/test", params: {} },
  },
  {
    name: "a URL-encoded tilde in a name",
    raw: "play:live/%7Euser",
    expected: { mode: "play", name: "live/~user", params: {} },
  },
];

for (const { name, raw, defaultStream, expected } of validCases) {
  Deno.test(`parseStreamId() reads ${name}`, () => {
    const options = defaultStream === undefined ? {} : { defaultStream };
    assert.deepEqual(parseStreamId(raw, options), { ...expected, raw });
  });
}

const invalidCases: { name: string; raw: string; defaultStream?: string; message: string }[] = [
  {
    name: "an empty id without a default stream",
    raw: "",
    message: 'Cannot parse stream id "": no stream id and no default stream',
  },
  {
    name: "an empty id with an invalid default stream",
    raw: "",
    defaultStream: "../etc",
    message: 'Cannot parse stream id "": default stream: invalid stream name "../etc": ' +
      'expected "/"-separated segments of A-Z a-z 0-9 . _ ~ - (not "." or "..")',
  },
  {
    name: "#!:: without r and without a default stream",
    raw: "#!::m=publish",
    message: 'Cannot parse stream id "#!::m=publish": no stream id and no default stream',
  },
  {
    name: "an unknown short-form mode",
    raw: "push:live/test",
    message: 'Cannot parse stream id "push:live/test": unknown mode "push"',
  },
  {
    name: "an upper-case short-form mode",
    raw: "PUBLISH:live/test",
    message: 'Cannot parse stream id "PUBLISH:live/test": unknown mode "PUBLISH"',
  },
  {
    name: "an unknown #!:: mode",
    raw: "#!::r=live/test,m=push",
    message: 'Cannot parse stream id "#!::r=live/test,m=push": unknown mode "push"',
  },
  {
    name: "an empty #!:: mode",
    raw: "#!::r=live/test,m=",
    message: 'Cannot parse stream id "#!::r=live/test,m=": unknown mode ""',
  },
  {
    name: "m=bidirectional",
    raw: "#!::r=live/test,m=bidirectional",
    message: 'Cannot parse stream id "#!::r=live/test,m=bidirectional": ' +
      'unsupported mode "bidirectional"',
  },
  {
    name: "a duplicate key",
    raw: "#!::r=live/a,m=publish,r=live/b",
    message: 'Cannot parse stream id "#!::r=live/a,m=publish,r=live/b": duplicate key "r"',
  },
  {
    name: "a duplicate unknown key",
    raw: "#!::r=live/a,x=1,x=2",
    message: 'Cannot parse stream id "#!::r=live/a,x=***,x=***": duplicate key "x"',
  },
  {
    name: "a trailing comma",
    raw: "#!::r=live/test,m=publish,",
    message: 'Cannot parse stream id "#!::r=live/test,m=publish,": empty key-value pair',
  },
  {
    name: "two commas in a row",
    raw: "#!::r=live/test,,m=publish",
    message: 'Cannot parse stream id "#!::r=live/test,,m=publish": empty key-value pair',
  },
  {
    name: "#!:: with nothing after it",
    raw: "#!::",
    message: 'Cannot parse stream id "#!::": empty key-value pair',
  },
  {
    name: "a pair without '='",
    raw: "#!::r=live/test,publish",
    message:
      'Cannot parse stream id "#!::r=live/test,***": expected key=value, got a pair without "="',
  },
  {
    name: "a pair with an empty key",
    raw: "#!::=live/test",
    message: 'Cannot parse stream id "#!::***": expected key=value, got a pair with an empty key',
  },
  {
    name: "the nested #!: syntax",
    raw: "#!:{r=live/test}",
    message: 'Cannot parse stream id "#!:{r=live/test}": unsupported syntax: expected "#!::"',
  },
  {
    name: "an empty name after publish:",
    raw: "publish:",
    message: 'Cannot parse stream id "publish:": empty stream name',
  },
  {
    name: "an empty r",
    raw: "#!::r=,m=publish",
    message: 'Cannot parse stream id "#!::r=,m=publish": empty stream name',
  },
  {
    name: "a name of 256 bytes",
    raw: `publish:${TOO_LONG_NAME}`,
    message: `Cannot parse stream id "publish:${TOO_LONG_NAME}": ` +
      "stream name is 256 bytes long, at most 255 allowed",
  },
  {
    name: "a name over 255 bytes in UTF-8 though shorter in characters",
    raw: "é".repeat(128),
    message: `Cannot parse stream id "${"é".repeat(128)}": ` +
      "stream name is 256 bytes long, at most 255 allowed",
  },
];

/** Names the grammar refuses, each tried in every form. */
const invalidNames: { name: string; streamName: string }[] = [
  { name: "a '..' segment", streamName: "live/../secret" },
  { name: "a leading '..' segment", streamName: "../secret" },
  { name: "a '.' segment", streamName: "live/./test" },
  { name: "a lone '.'", streamName: "." },
  { name: "a leading slash", streamName: "/live/test" },
  { name: "a trailing slash", streamName: "live/test/" },
  { name: "an empty segment", streamName: "live//test" },
  { name: "a space", streamName: "live/my test" },
  { name: "a query string", streamName: "live/test?key=1" },
  { name: "a backslash", streamName: "live\\test" },
  { name: "a non-ASCII letter", streamName: "live/tést" },
  { name: "a NUL character", streamName: "live/\0" },
];

for (const { name, streamName } of invalidNames) {
  for (const form of ["publish:", "play:", "#!::r="]) {
    const raw = `${form}${streamName}`;
    invalidCases.push({
      name: `${name} in ${form}NAME`,
      raw,
      message: `Cannot parse stream id ${JSON.stringify(raw)}: invalid stream name ${
        JSON.stringify(streamName)
      }: expected "/"-separated segments of A-Z a-z 0-9 . _ ~ - (not "." or "..")`,
    });
  }
}

invalidCases.push(
  {
    name: "a URL-encoded '..' segment",
    raw: "play:live%2F..%2Fsecret",
    message: 'Cannot parse stream id "play:live%2F..%2Fsecret": invalid stream name ' +
      '"live/../secret": expected "/"-separated segments of A-Z a-z 0-9 . _ ~ - (not "." or "..")',
  },
  {
    name: "a name with a colon (user and password appended)",
    raw: "publish:live/test:alice:secret",
    message: 'Cannot parse stream id "publish:live/test:alice:secret": invalid stream name ' +
      '"live/test:alice:secret": ' +
      'expected "/"-separated segments of A-Z a-z 0-9 . _ ~ - (not "." or "..")',
  },
  {
    name: "a truncated percent escape",
    raw: "publish%3Alive%2",
    message: 'Cannot parse stream id "publish%3Alive%2": malformed percent-encoding',
  },
  {
    name: "a percent escape with non-hex digits",
    raw: "live%zztest",
    message: 'Cannot parse stream id "live%zztest": malformed percent-encoding',
  },
  {
    name: "a percent escape that is not UTF-8",
    raw: "live/%ff",
    message: 'Cannot parse stream id "live/%ff": malformed percent-encoding',
  },
);

for (const { name, raw, defaultStream, message } of invalidCases) {
  Deno.test(`parseStreamId() rejects ${name}`, () => {
    const options = defaultStream === undefined ? {} : { defaultStream };
    assert.throws(() => parseStreamId(raw, options), { name: "TypeError", message });
  });
}

Deno.test("parseStreamId() keeps the raw id before URL decoding", () => {
  const raw = "%23%21%3A%3Ar%3Dlive%2Ftest";
  assert.equal(parseStreamId(raw).raw, raw);
});

Deno.test("parseStreamId() ignores the default stream when the id names one", () => {
  assert.equal(parseStreamId("publish:live/a", { defaultStream: "live/b" }).name, "live/a");
});

Deno.test("parseStreamId() does not read params from the object prototype", () => {
  const id = parseStreamId("#!::r=live/test,__proto__=x,constructor=y");
  assert.deepEqual(Object.keys(id.params).sort(), ["__proto__", "constructor"].sort());
  assert.equal(Object.getPrototypeOf(id.params), Object.prototype);
  assert.throws(() => parseStreamId("constructor:live/test"), {
    name: "TypeError",
    message: 'Cannot parse stream id "constructor:live/test": unknown mode "constructor"',
  });
  assert.throws(() => parseStreamId("#!::r=live/test,m=toString"), {
    name: "TypeError",
    message: 'Cannot parse stream id "#!::r=live/test,m=toString": unknown mode "toString"',
  });
});

const modeCases: { raw: string; expected: "publish" | "play" }[] = [
  { raw: "", expected: "publish" },
  { raw: "publish:live/test", expected: "publish" },
  { raw: "play:live/test", expected: "play" },
  { raw: "read:live/test", expected: "play" },
  { raw: "live/test", expected: "play" },
  { raw: "#!::r=live/test,m=publish", expected: "publish" },
  { raw: "#!::r=live/test,m=request", expected: "play" },
  { raw: "#!::r=live/test", expected: "play" },
  { raw: "#!::m=publish", expected: "publish" },
  { raw: "%23%21%3A%3Ar%3Dlive%2Ftest%2Cm%3Dpublish", expected: "publish" },
  // Unparseable ids count as publish.
  { raw: "push:live/test", expected: "publish" },
  { raw: "#!::r=live/test,m=bidirectional", expected: "publish" },
  { raw: "play:live/../x", expected: "publish" },
  { raw: "live%zz", expected: "publish" },
  { raw: "#!::r=live/test,", expected: "publish" },
];

for (const { raw, expected } of modeCases) {
  Deno.test(`describeMode() gives ${expected} for ${JSON.stringify(raw)}`, () => {
    assert.equal(describeMode(raw), expected);
  });
}

Deno.test("redactStreamId() hides every Access Control value but r, m and u", async (t) => {
  const cases: [string, string][] = [
    [
      "#!::r=live/a,m=publish,u=alice,s=SESSION,t=stream",
      "#!::r=live/a,m=publish,u=alice,s=***,t=***",
    ],
    [
      encodeURIComponent("#!::s=SECRET,r=live/a"),
      "#!::s=***,r=live/a",
    ],
    ["#!::r=live/a,token", "#!::r=live/a,***"],
    ["#!::r=live/a,,m=publish,", "#!::r=live/a,,m=publish,"],
    ["publish:live/a", "publish:live/a"],
    ["live/a", "live/a"],
    ["", ""],
    ["#!::s=%ZZ", "#!::***"],
  ];
  for (const [raw, shown] of cases) {
    await t.step(JSON.stringify(raw), () => assert.equal(redactStreamId(raw), shown));
  }
});
