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
  // MediaMTX's short forms: MODE:NAME[:USER:PASSWORD][:QUERY]
  {
    name: "MediaMTX's publish:NAME:USER:PASSWORD",
    raw: "publish:live/test:alice:PASSWORD1",
    expected: {
      mode: "publish",
      name: "live/test",
      user: "alice",
      password: "PASSWORD1",
      params: {},
    },
  },
  {
    name: "MediaMTX's read:NAME:USER:PASSWORD as play",
    raw: "read:live/test:alice:PASSWORD1",
    expected: { mode: "play", name: "live/test", user: "alice", password: "PASSWORD1", params: {} },
  },
  {
    name: "play:NAME:USER:PASSWORD",
    raw: "play:live/test:alice:PASSWORD1",
    expected: { mode: "play", name: "live/test", user: "alice", password: "PASSWORD1", params: {} },
  },
  {
    name: "MediaMTX's MODE:NAME:QUERY with a key=value query",
    raw: "publish:live/test:jwt=TOKEN1",
    expected: {
      mode: "publish",
      name: "live/test",
      params: { jwt: "TOKEN1" },
      query: "jwt=TOKEN1",
    },
  },
  {
    name: "MediaMTX's MODE:NAME:QUERY with a bare token as query",
    raw: "read:live/test:TOKEN1",
    expected: { mode: "play", name: "live/test", params: {}, query: "TOKEN1" },
  },
  {
    name: "MediaMTX's MODE:NAME:USER:PASSWORD:QUERY",
    raw: "publish:live/test:alice:PASSWORD1:token=TOKEN1&x=1",
    expected: {
      mode: "publish",
      name: "live/test",
      user: "alice",
      password: "PASSWORD1",
      params: { token: "TOKEN1", x: "1" },
      query: "token=TOKEN1&x=1",
    },
  },
  {
    name: "MODE:NAME:USER:PASSWORD with an empty password",
    raw: "publish:live/test:alice:",
    expected: { mode: "publish", name: "live/test", user: "alice", password: "", params: {} },
  },
  {
    name: "a URL-encoded MediaMTX id whose password has reserved characters",
    raw: encodeURIComponent("publish:live/test:alice:P@ss/w?rd#1"),
    expected: {
      mode: "publish",
      name: "live/test",
      user: "alice",
      password: "P@ss/w?rd#1",
      params: {},
    },
  },
  // SRS: a query on the resource, h= for the host, other keys as query parameters
  {
    name: "SRS's #!::r=NAME?secret=...",
    raw: "#!::r=live/livestream?secret=SECRET1,m=publish",
    expected: {
      mode: "publish",
      name: "live/livestream",
      params: { secret: "SECRET1" },
      query: "secret=SECRET1",
    },
  },
  {
    name: "SRS's #!::h=HOST,r=APP/STREAM?QUERY with more keys",
    raw: "#!::h=example.com,r=app/stream?secret=SECRET1&token=TOKEN1,m=publish,key1=value1",
    expected: {
      mode: "publish",
      name: "app/stream",
      params: { h: "example.com", key1: "value1", secret: "SECRET1", token: "TOKEN1" },
      query: "secret=SECRET1&token=TOKEN1",
    },
  },
  {
    name: "a query with base64 padding and an empty pair",
    raw: "#!::r=live/test?token=YWJj==&&x=",
    expected: {
      mode: "play",
      name: "live/test",
      params: { token: "YWJj==", x: "" },
      query: "token=YWJj==&&x=",
    },
  },
  {
    name: "a bare name with a query as play",
    raw: "live/test?secret=SECRET1",
    expected: {
      mode: "play",
      name: "live/test",
      params: { secret: "SECRET1" },
      query: "secret=SECRET1",
    },
  },
  {
    name: "a short form with a query on the name",
    raw: "publish:live/test?secret=SECRET1",
    expected: {
      mode: "publish",
      name: "live/test",
      params: { secret: "SECRET1" },
      query: "secret=SECRET1",
    },
  },
  {
    name: "a query on the name of MODE:NAME:USER:PASSWORD",
    raw: "publish:live/test?secret=SECRET1:alice:PASSWORD1",
    expected: {
      mode: "publish",
      name: "live/test",
      user: "alice",
      password: "PASSWORD1",
      params: { secret: "SECRET1" },
      query: "secret=SECRET1",
    },
  },
  {
    name: "an empty query",
    raw: "live/test?",
    expected: { mode: "play", name: "live/test", params: {}, query: "" },
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
    message: 'Cannot parse stream id "": default stream: invalid stream name: ' +
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
    message: 'Cannot parse stream id "***": unknown mode: expected "publish:", "play:" or "read:"',
  },
  {
    name: "an upper-case short-form mode",
    raw: "PUBLISH:live/test",
    message: 'Cannot parse stream id "***": unknown mode: expected "publish:", "play:" or "read:"',
  },
  {
    name: "an unknown #!:: mode",
    raw: "#!::r=live/test,m=push",
    message:
      'Cannot parse stream id "#!::r=live/test,m=***": unknown mode: expected m=publish or m=request',
  },
  {
    name: "an empty #!:: mode",
    raw: "#!::r=live/test,m=",
    message:
      'Cannot parse stream id "#!::r=live/test,m=***": unknown mode: expected m=publish or m=request',
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
    message: 'Cannot parse stream id "***": unsupported syntax: expected "#!::"',
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
    message: `Cannot parse stream id "publish:***": ` +
      "stream name is 256 bytes long, at most 255 allowed",
  },
  {
    name: "a name over 255 bytes in UTF-8 though shorter in characters",
    raw: "é".repeat(128),
    message: `Cannot parse stream id "***": ` +
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
  { name: "an ampersand", streamName: "live/test&key=1" },
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
      // The name is not shown: text that is no name may be a misplaced credential.
      message: `Cannot parse stream id "${form}***": invalid stream name: ` +
        'expected "/"-separated segments of A-Z a-z 0-9 . _ ~ - (not "." or "..")',
    });
  }
}

invalidCases.push(
  {
    name: "a URL-encoded '..' segment",
    raw: "play:live%2F..%2Fsecret",
    message: 'Cannot parse stream id "play:***": invalid stream name: ' +
      'expected "/"-separated segments of A-Z a-z 0-9 . _ ~ - (not "." or "..")',
  },
  {
    name: "a short form of more than five parts",
    raw: "publish:live/test:alice:PASSWORD1:q=TOKEN1:EXTRA1",
    message:
      'Cannot parse stream id "publish:live/test:***": expected MODE:NAME, MODE:NAME:QUERY, ' +
      'MODE:NAME:USER:PASSWORD or MODE:NAME:USER:PASSWORD:QUERY, got 6 ":"-separated parts',
  },
  {
    name: "a query both after '?' and as the last part",
    raw: "publish:live/test?a=SECRET1:b=TOKEN1",
    message: 'Cannot parse stream id "publish:live/test?a=***:b=***": ' +
      'two queries: after "?" and as the last ":"-separated part',
  },
  {
    name: "a duplicate query key",
    raw: "live/test?a=SECRET1&a=TOKEN1",
    message: 'Cannot parse stream id "live/test?a=***&a=***": duplicate key "a"',
  },
  {
    name: "a query key that is also an Access Control key",
    raw: "#!::r=live/test?t=SECRET1,t=TOKEN1",
    message: 'Cannot parse stream id "#!::r=live/test?t=***,t=***": duplicate key "t"',
  },
  {
    name: "user and password without a mode",
    raw: "alice:PASSWORD1",
    message: 'Cannot parse stream id "***": unknown mode: expected "publish:", "play:" or "read:"',
  },
  {
    name: "a query on the name without '?'",
    raw: "live/test&secret=SECRET1",
    message: 'Cannot parse stream id "***": invalid stream name: ' +
      'expected "/"-separated segments of A-Z a-z 0-9 . _ ~ - (not "." or "..")',
  },
  {
    name: "MediaMTX user and password appended to r=",
    raw: "#!::r=live/test:alice:PASSWORD1,m=publish",
    message: 'Cannot parse stream id "#!::r=***,m=publish": invalid stream name: ' +
      'expected "/"-separated segments of A-Z a-z 0-9 . _ ~ - (not "." or "..")',
  },
  {
    name: "a truncated percent escape",
    raw: "publish%3Alive%2",
    message: 'Cannot parse stream id "***": malformed percent-encoding',
  },
  {
    name: "a percent escape with non-hex digits",
    raw: "live%zztest",
    message: 'Cannot parse stream id "***": malformed percent-encoding',
  },
  {
    name: "a percent escape that is not UTF-8",
    raw: "live/%ff",
    message: 'Cannot parse stream id "***": malformed percent-encoding',
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
    message: 'Cannot parse stream id "***": unknown mode: expected "publish:", "play:" or "read:"',
  });
  assert.throws(() => parseStreamId("#!::r=live/test,m=toString"), {
    name: "TypeError",
    message:
      'Cannot parse stream id "#!::r=live/test,m=***": unknown mode: expected m=publish or m=request',
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
  { raw: "publish:live/test:alice:secret", expected: "publish" },
  { raw: "read:live/test:alice:secret", expected: "play" },
  { raw: "live/test?secret=x", expected: "play" },
  { raw: "#!::r=live/test?secret=x,m=publish", expected: "publish" },
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

/** Every secret the cases below carry: none may be shown, in any form. */
const SECRETS = /PASSWORD1|SESSION1|SECRET1|TOKEN1|EXTRA1/;

/** Ids in every form, parsing or not, and how each is shown. */
const redactCases: { name: string; raw: string; shown: string }[] = [
  {
    name: "SRT Access Control with s= and other keys",
    raw: "#!::r=live/a,m=publish,u=alice,s=SESSION1,t=TOKEN1",
    shown: "#!::r=live/a,m=publish,u=alice,s=***,t=***",
  },
  {
    name: "SRS's query on r=",
    raw: "#!::r=live/a?secret=SECRET1,m=publish",
    shown: "#!::r=live/a?secret=***,m=publish",
  },
  {
    name: "SRS's h= and a query of two pairs",
    raw: "#!::h=example.com,r=app/a?secret=SECRET1&token=TOKEN1,m=publish",
    shown: "#!::h=***,r=app/a?secret=***&token=***,m=publish",
  },
  {
    name: "MediaMTX's MODE:NAME:USER:PASSWORD",
    raw: "publish:live/a:alice:PASSWORD1",
    shown: "publish:live/a:***:***",
  },
  {
    name: "MediaMTX's MODE:NAME:USER:PASSWORD:QUERY",
    raw: "read:live/a:alice:PASSWORD1:jwt=TOKEN1&x=EXTRA1",
    shown: "read:live/a:***:***:jwt=***&x=***",
  },
  {
    name: "MediaMTX's MODE:NAME:QUERY",
    raw: "publish:live/a:jwt=TOKEN1",
    shown: "publish:live/a:jwt=***",
  },
  { name: "a bare token as query", raw: "publish:live/a:TOKEN1", shown: "publish:live/a:***" },
  { name: "a bare name with a query", raw: "live/a?secret=SECRET1", shown: "live/a?secret=***" },
  {
    name: "a short form with a query holding a bare token",
    raw: "publish:live/a?secret=SECRET1&TOKEN1&=EXTRA1",
    shown: "publish:live/a?secret=***&***&***",
  },
  {
    name: "a query on the name and a password",
    raw: "publish:live/a?secret=SECRET1:alice:PASSWORD1",
    shown: "publish:live/a?secret=***:***:***",
  },
  {
    name: "a URL-encoded MediaMTX id",
    raw: encodeURIComponent("publish:live/a:alice:PASSWORD1"),
    shown: "publish:live/a:***:***",
  },
  // Ids that do not parse
  {
    name: "a short form of six parts",
    raw: "publish:live/a:alice:PASSWORD1:q=TOKEN1:EXTRA1",
    shown: "publish:live/a:***",
  },
  { name: "user and password without a mode", raw: "alice:PASSWORD1", shown: "***" },
  { name: "an unknown mode", raw: "PASSWORD1:live/a", shown: "***" },
  { name: "a bare id that is no name", raw: "live/a PASSWORD1", shown: "***" },
  {
    name: "a short form whose name is no name",
    raw: "publish:live/a PASSWORD1",
    shown: "publish:***",
  },
  { name: "an unknown m=", raw: "#!::r=live/a,m=PASSWORD1", shown: "#!::r=live/a,m=***" },
  {
    name: "a user and password appended to r=",
    raw: "#!::r=live/a:alice:PASSWORD1,m=publish",
    shown: "#!::r=***,m=publish",
  },
  { name: "a pair without '='", raw: "#!::r=live/a,PASSWORD1", shown: "#!::r=live/a,***" },
  { name: "a pair with an empty key", raw: "#!::r=live/a,=PASSWORD1", shown: "#!::r=live/a,***" },
  { name: "the nested #!: syntax", raw: "#!:{r=live/a,s=SESSION1}", shown: "***" },
  {
    name: "malformed percent-encoding",
    raw: "publish:live/a:alice:PASSWORD1%",
    shown: "***",
  },
  { name: "malformed percent-encoding in #!::", raw: "#!::s=SESSION1%ZZ", shown: "#!::***" },
  { name: "a colon inside a query", raw: "live/a?t=12:PASSWORD1", shown: "***" },
  {
    name: "a duplicate query key",
    raw: "live/a?a=SECRET1&a=TOKEN1",
    shown: "live/a?a=***&a=***",
  },
];

for (const { name, raw, shown } of redactCases) {
  Deno.test(`redactStreamId() hides the secrets of ${name}`, () => {
    assert.equal(redactStreamId(raw), shown);
    assert.doesNotMatch(shown, SECRETS);
  });
  Deno.test(`parseStreamId() shows no secret of ${name}`, () => {
    try {
      parseStreamId(raw);
    } catch (error) {
      assert.ok(error instanceof TypeError);
      assert.ok(error.message.startsWith(`Cannot parse stream id ${JSON.stringify(shown)}: `));
      assert.doesNotMatch(error.message, SECRETS);
    }
  });
}

Deno.test("redactStreamId() shows no password, session or parameter value of any valid case", () => {
  for (const { raw, defaultStream } of validCases) {
    const id = parseStreamId(raw, defaultStream === undefined ? {} : { defaultStream });
    const shown = redactStreamId(raw);
    const secrets = [id.password, id.session, id.query, ...Object.values(id.params)]
      .filter((secret): secret is string => secret !== undefined && secret.length > 1);
    for (const secret of secrets) {
      assert.ok(!shown.includes(secret), `${JSON.stringify(raw)} shows ${JSON.stringify(secret)}`);
    }
  }
});
