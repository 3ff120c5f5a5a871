import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { parseSrtUrl } from "../protocol/srt_url.ts";
import {
  type AtollConfig,
  ConfigError,
  DEFAULT_CONFIG,
  loadConfig,
  parseConfig,
  recordingOf,
  reloadRefusal,
  rulesFor,
  type StreamRules,
} from "./config_file.ts";
import { OPTION_RULES } from "./options.ts";

const SOURCE = "/etc/atoll.yaml";
const BUILT_IN_RULES: StreamRules = {
  modes: ["publish", "play"],
  buffer: { seconds: 4 },
  sourceMode: "on-demand",
  sourceLingerMs: 10_000,
  sourceRole: "primary",
  hls: "on-demand",
  hlsSegmentMs: 2000,
  hlsWindow: 6,
  hlsPartMs: 400,
};
/** A pull of the stream of the same name from an origin: the edge of a relay tree. */
const ORIGIN_URL = "srt://origin.example:9000?streamid=#!::r={name},m=request";
const SRT_KEYS = "streamid, passphrase, pbkeylen, latency, connect_timeout, conntimeo, mode, " +
  "port, localport";
const NAME_RULE = 'expected a stream name ("/"-separated segments of A-Z a-z 0-9 . _ ~ -, ' +
  'not "." or "..", at most 255 bytes)';

function fixture(name: string): string {
  return fileURLToPath(new URL(`./testdata/${name}`, import.meta.url));
}

/** The configuration that testdata/full.yaml and full.json describe. */
const FULL_CONFIG: AtollConfig = {
  defaultStream: "live/default",
  playWaitMs: 5000,
  publisherTimeoutMs: 3000,
  graceMs: 0,
  apiToken: "0123456789abcdef-token",
  apiTokenForReads: true,
  streamDefaults: {
    modes: ["publish"],
    buffer: { seconds: 2.5 },
    latencyMs: 120,
    sourceMode: "on-demand",
    sourceLingerMs: 5000,
    sourceRole: "backup",
    hls: "on-demand",
    hlsSegmentMs: 2000,
    hlsWindow: 6,
    hlsPartMs: 400,
  },
  streams: [
    {
      prefix: "live",
      rules: {
        publishPassphrase: "publish secret",
        readPassphrase: "viewer secret",
        modes: ["publish", "play"],
        maxViewers: 50,
        latencyMs: 200,
        buffer: { bytes: 8388608 },
      },
    },
    { prefix: "live/events", rules: { maxViewers: 500, push: [] } },
    {
      name: "studio/main",
      rules: {
        modes: ["play"],
        source: "srt://192.0.2.10:9000?streamid=#!::r={name},m=request&latency=200",
        sourceMode: "always",
        sourceRole: "primary",
        push: [
          "srt://cdn.example:9000?streamid=#!::r={name},m=publish&passphrase=push passphrase",
          "srt://[2001:db8::5]:9000?streamid=%23!::r=atoll/{name},m=publish",
        ],
      },
    },
    {
      prefix: "edge",
      rules: {
        source: "srt://origin.example:9000?streamid=#!::r={name},m=request",
        sourceMode: "on-demand",
        sourceLingerMs: 0,
      },
    },
  ],
  allowUnprotected: false,
};

Deno.test("DEFAULT_CONFIG holds the defaults the README documents", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  // "`playWaitMs` (default 10 s)" and the like, in milliseconds.
  const documentedMs = (key: string): number => {
    const match = new RegExp(`\`${key}\` \\(default ([0-9.]+) s\\)`).exec(readme);
    assert.ok(match !== null, `the README gives no default for ${key}`);
    return Number(match[1]) * 1000;
  };
  assert.equal(DEFAULT_CONFIG.playWaitMs, documentedMs("playWaitMs"));
  assert.equal(DEFAULT_CONFIG.publisherTimeoutMs, documentedMs("publisherTimeoutMs"));
  assert.equal(DEFAULT_CONFIG.graceMs, documentedMs("graceMs"));
  // "Reads are open unless `apiTokenForReads: true` is in the config file".
  assert.match(readme, /open unless `apiTokenForReads: true`/);
  assert.equal(DEFAULT_CONFIG.apiTokenForReads, false);
  // The example's streamDefaults are "the built-in defaults above".
  const example = /### Configuration file[^]*?```yaml\n([^]*?)```/.exec(readme)?.[1];
  assert.ok(example !== undefined, "the README has no example configuration");
  assert.match(readme, /then from the built-in defaults above/);
  assert.deepEqual(
    DEFAULT_CONFIG.streamDefaults,
    parseConfig(example, "yaml", "README.md").streamDefaults,
  );
  assert.deepEqual(BUILT_IN_RULES, DEFAULT_CONFIG.streamDefaults, "this file's copy agrees");
  assert.deepEqual(DEFAULT_CONFIG.streams, []);
  assert.ok(!("defaultStream" in DEFAULT_CONFIG));
  assert.ok(!("apiToken" in DEFAULT_CONFIG));
});

Deno.test("every example of the README's configuration file section is a valid config", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  const section = /### Configuration file\n([^]*?)\n## /.exec(readme)?.[1] ?? "";
  const examples = [...section.matchAll(/```yaml\n([^]*?)```/g)].map((match) => match[1]!);
  assert.ok(examples.length >= 3, "the README shows the config and relay examples");
  for (const example of examples) parseConfig(example, "yaml", "README.md");
});

const emptyCases: { name: string; text: string; format: "json" | "yaml" }[] = [
  { name: "an empty YAML file", text: "", format: "yaml" },
  { name: "a YAML file of comments", text: "# nothing here\n", format: "yaml" },
  { name: "an empty YAML mapping", text: "{}", format: "yaml" },
  { name: "an empty JSON file", text: "", format: "json" },
  { name: "a JSON file of white space", text: " \n\t\n", format: "json" },
  { name: "an empty JSON object", text: "{}", format: "json" },
  { name: "an empty JSON object after a byte order mark", text: "\uFEFF{}", format: "json" },
];

for (const { name, text, format } of emptyCases) {
  Deno.test(`parseConfig() gives the defaults for ${name}`, () => {
    assert.deepEqual(parseConfig(text, format, SOURCE), DEFAULT_CONFIG);
  });
}

Deno.test("parseConfig() gives equal configs for a full YAML file and the same JSON", async () => {
  const yaml = parseConfig(await Deno.readTextFile(fixture("full.yaml")), "yaml", "full.yaml");
  const json = parseConfig(await Deno.readTextFile(fixture("full.json")), "json", "full.json");
  assert.deepEqual(yaml, FULL_CONFIG);
  assert.deepEqual(json, FULL_CONFIG);
});

Deno.test("parseConfig() keeps only the rules an entry sets", () => {
  const config = parseConfig("streams: [{ name: a, maxViewers: 3 }]", "yaml", SOURCE);
  assert.deepEqual(config.streams, [{ name: "a", rules: { maxViewers: 3 } }]);
});

Deno.test("parseConfig() fills streamDefaults from the built-in defaults", () => {
  const config = parseConfig("streamDefaults: { maxViewers: 3 }", "yaml", SOURCE);
  assert.deepEqual(config.streamDefaults, { ...BUILT_IN_RULES, maxViewers: 3 });
});

Deno.test("parseConfig() stores a prefix without its trailing slash", () => {
  const config = parseConfig('{ "streams": [{ "prefix": "live/" }] }', "json", SOURCE);
  assert.deepEqual(config.streams, [{ prefix: "live", rules: {} }]);
});

Deno.test("parseConfig() returns a deeply frozen config", () => {
  const config = parseConfig(
    "streamDefaults: { buffer: { bytes: 65536 } }\nstreams: [{ prefix: live, modes: [play] }]",
    "yaml",
    SOURCE,
  );
  for (const config_ of [config, DEFAULT_CONFIG]) {
    assert.ok(Object.isFrozen(config_));
    assert.ok(Object.isFrozen(config_.streams));
    assert.ok(Object.isFrozen(config_.streamDefaults));
    assert.ok(Object.isFrozen(config_.streamDefaults.modes));
    assert.ok(Object.isFrozen(config_.streamDefaults.buffer));
  }
  const entry = config.streams[0];
  assert.ok(entry !== undefined);
  assert.ok(Object.isFrozen(entry));
  assert.ok(Object.isFrozen(entry.rules));
  assert.ok(Object.isFrozen(entry.rules.modes));
});

Deno.test("parseConfig() shares no objects between YAML aliases in its result", () => {
  const config = parseConfig(
    "streams:\n  - { name: a, modes: &modes [play] }\n  - { name: b, modes: *modes }",
    "yaml",
    SOURCE,
  );
  assert.deepEqual(config.streams.map((entry) => entry.rules.modes), [["play"], ["play"]]);
  assert.notEqual(config.streams[0]?.rules.modes, config.streams[1]?.rules.modes);
});

/** Values at the edges of what is accepted, each in its own file, and what the config holds. */
const acceptedCases: { name: string; yaml: string; expected: Partial<AtollConfig> }[] = [
  {
    name: "timeouts of 0",
    yaml: "playWaitMs: 0\npublisherTimeoutMs: 0\ngraceMs: 0",
    expected: { playWaitMs: 0, publisherTimeoutMs: 0, graceMs: 0 },
  },
  {
    name: "timeouts of ten minutes",
    yaml: "playWaitMs: 600000\npublisherTimeoutMs: 600000\ngraceMs: 600000",
    expected: { playWaitMs: 600_000, publisherTimeoutMs: 600_000, graceMs: 600_000 },
  },
  {
    name: "a passphrase of 10 bytes",
    yaml: 'streamDefaults: { readPassphrase: "0123456789" }',
    expected: { streamDefaults: { ...BUILT_IN_RULES, readPassphrase: "0123456789" } },
  },
  {
    name: "a passphrase of 79 bytes",
    yaml: `streamDefaults: { readPassphrase: "${"p".repeat(79)}" }`,
    expected: { streamDefaults: { ...BUILT_IN_RULES, readPassphrase: "p".repeat(79) } },
  },
  {
    name: "a latency of 0",
    yaml: "streamDefaults: { latencyMs: 0 }",
    expected: { streamDefaults: { ...BUILT_IN_RULES, latencyMs: 0 } },
  },
  {
    name: "a latency of 60000",
    yaml: "streamDefaults: { latencyMs: 60000 }",
    expected: { streamDefaults: { ...BUILT_IN_RULES, latencyMs: 60_000 } },
  },
  {
    name: "one viewer",
    yaml: "streamDefaults: { maxViewers: 1 }",
    expected: { streamDefaults: { ...BUILT_IN_RULES, maxViewers: 1 } },
  },
  {
    name: "a buffer of 0.5 seconds",
    yaml: "streamDefaults: { buffer: { seconds: 0.5 } }",
    expected: { streamDefaults: { ...BUILT_IN_RULES, buffer: { seconds: 0.5 } } },
  },
  {
    name: "a buffer of 120 seconds",
    yaml: "streamDefaults: { buffer: { seconds: 120 } }",
    expected: { streamDefaults: { ...BUILT_IN_RULES, buffer: { seconds: 120 } } },
  },
  {
    name: "a buffer of 64 KiB",
    yaml: "streamDefaults: { buffer: { bytes: 65536 } }",
    expected: { streamDefaults: { ...BUILT_IN_RULES, buffer: { bytes: 65_536 } } },
  },
  {
    name: "a buffer of 1 GiB",
    yaml: "streamDefaults: { buffer: { bytes: 1073741824 } }",
    expected: { streamDefaults: { ...BUILT_IN_RULES, buffer: { bytes: 1_073_741_824 } } },
  },
  {
    name: "play before publish",
    yaml: "streamDefaults: { modes: [play, publish] }",
    expected: { streamDefaults: { ...BUILT_IN_RULES, modes: ["play", "publish"] } },
  },
  {
    name: "a stream name of 255 bytes",
    yaml: `defaultStream: ${"a".repeat(255)}`,
    expected: { defaultStream: "a".repeat(255) },
  },
  {
    name: "the same text as a name and a prefix",
    yaml: "streams: [{ name: live }, { prefix: live }]",
    expected: { streams: [{ name: "live", rules: {} }, { prefix: "live", rules: {} }] },
  },
  {
    name: "a prefix and a longer one",
    yaml: "streams: [{ prefix: live }, { prefix: live/a }]",
    expected: { streams: [{ prefix: "live", rules: {} }, { prefix: "live/a", rules: {} }] },
  },
  // Relays
  {
    name: "a source in streamDefaults, relaying every stream from an origin",
    yaml: `streamDefaults: { source: "${ORIGIN_URL}", sourceMode: on-demand }`,
    expected: { streamDefaults: { ...BUILT_IN_RULES, source: ORIGIN_URL } },
  },
  {
    name: "a source given percent-encoded with %23",
    yaml: 'streams: [{ prefix: edge, source: "srt://o:9000?streamid=%23!::r={name},m=request" }]',
    expected: {
      streams: [{
        prefix: "edge",
        rules: { source: "srt://o:9000?streamid=%23!::r={name},m=request" },
      }],
    },
  },
  {
    name: "sourceMode always in a name entry with its own source",
    yaml: "streams: [{ name: studio/main, source: srt://192.0.2.10:9000, sourceMode: always }]",
    expected: {
      streams: [{
        name: "studio/main",
        rules: { source: "srt://192.0.2.10:9000", sourceMode: "always" },
      }],
    },
  },
  {
    name: "sourceMode always in a name entry, the source from streamDefaults",
    yaml: `streamDefaults: { source: "${ORIGIN_URL}" }\n` +
      "streams: [{ name: studio/main, sourceMode: always }]",
    expected: {
      streamDefaults: { ...BUILT_IN_RULES, source: ORIGIN_URL },
      streams: [{ name: "studio/main", rules: { sourceMode: "always" } }],
    },
  },
  {
    name: "relay settings without a source, which mean nothing",
    yaml:
      "streams: [{ prefix: live, sourceMode: on-demand, sourceRole: backup, sourceLingerMs: 0 }]",
    expected: {
      streams: [{
        prefix: "live",
        rules: { sourceMode: "on-demand", sourceRole: "backup", sourceLingerMs: 0 },
      }],
    },
  },
  {
    name: "HLS rules at their bounds, always for a prefix",
    yaml: "streamDefaults: { hlsSegmentMs: 1000, hlsWindow: 30, hlsPartMs: 0 }\n" +
      "streams: [{ prefix: live, hls: always, hlsSegmentMs: 10000, hlsWindow: 3, hlsPartMs: 5000 },\n" +
      "  { name: a, hlsPartMs: 200 }]",
    expected: {
      streamDefaults: { ...BUILT_IN_RULES, hlsSegmentMs: 1000, hlsWindow: 30, hlsPartMs: 0 },
      streams: [{
        prefix: "live",
        rules: { hls: "always", hlsSegmentMs: 10_000, hlsWindow: 3, hlsPartMs: 5000 },
      }, { name: "a", rules: { hlsPartMs: 200 } }],
    },
  },
  {
    name: "a sourceLingerMs of an hour",
    yaml: "streamDefaults: { sourceLingerMs: 3600000 }",
    expected: { streamDefaults: { ...BUILT_IN_RULES, sourceLingerMs: 3_600_000 } },
  },
  {
    name: "a name entry's source with {name} twice, checked with its name",
    yaml: 'streams: [{ name: in, source: "srt://h:9000?streamid=#!::r=e/{name},u={name}' +
      `${"x".repeat(400)}" }]`,
    expected: {
      streams: [{
        name: "in",
        rules: { source: `srt://h:9000?streamid=#!::r=e/{name},u={name}${"x".repeat(400)}` },
      }],
    },
  },
  {
    name: "16 push URLs to one host, each with its stream id",
    yaml: `streams: [{ prefix: live, push: [${
      Array.from({ length: 16 }, (_, i) => `"srt://cdn.example:9000?streamid=${i}/{name}"`)
    }] }]`,
    expected: {
      streams: [{
        prefix: "live",
        rules: {
          push: Array.from(
            { length: 16 },
            (_, i) => `srt://cdn.example:9000?streamid=${i}/{name}`,
          ),
        },
      }],
    },
  },
  {
    name: "an empty push list in a name entry, switching off the pushes of streamDefaults",
    yaml: "streamDefaults: { push: [srt://cdn.example:9000] }\nstreams: [{ name: a, push: [] }]",
    expected: {
      streamDefaults: { ...BUILT_IN_RULES, push: ["srt://cdn.example:9000"] },
      streams: [{ name: "a", rules: { push: [] } }],
    },
  },
  {
    name: "a default stream that a name entry lets publish",
    yaml:
      "defaultStream: in\nstreamDefaults: { modes: [play] }\nstreams: [{ name: in, modes: [publish] }]",
    expected: {
      defaultStream: "in",
      streamDefaults: { ...BUILT_IN_RULES, modes: ["play"] },
      streams: [{ name: "in", rules: { modes: ["publish"] } }],
    },
  },
];

for (const { name, yaml, expected } of acceptedCases) {
  Deno.test(`parseConfig() accepts ${name}`, () => {
    assert.deepEqual(parseConfig(yaml, "yaml", SOURCE), { ...DEFAULT_CONFIG, ...expected });
  });
}

/** One row per validation error; `message` is the whole message after `Invalid config SOURCE: `. */
const invalidCases: { name: string; yaml: string; message: string }[] = [
  // The file as a whole
  {
    name: "a list at the top level",
    yaml: "- playWaitMs: 1",
    message: "expected an object at the top level, got a list",
  },
  {
    name: "a scalar at the top level",
    yaml: "hello",
    message: 'expected an object at the top level, got "hello"',
  },
  {
    name: "an unknown top-level key, suggesting a near one",
    yaml: "playWait: 1000",
    message: 'playWait: unknown key (did you mean "playWaitMs"?)',
  },
  {
    name: "an unknown top-level key with no near one",
    yaml: "colour: red",
    message: "colour: unknown key",
  },
  {
    name: "an unknown key named __proto__",
    yaml: "__proto__: { playWaitMs: 1 }",
    message: "__proto__: unknown key",
  },
  // defaultStream
  {
    name: "a default stream that is not a string",
    yaml: "defaultStream: 5",
    message: `defaultStream: ${NAME_RULE}, got 5`,
  },
  {
    name: "a default stream with a '..' segment",
    yaml: "defaultStream: live/../x",
    message: `defaultStream: ${NAME_RULE}, got "live/../x"`,
  },
  {
    name: "a default stream that is only valid after URL decoding",
    yaml: "defaultStream: live%2Fx",
    message: `defaultStream: ${NAME_RULE}, got "live%2Fx"`,
  },
  {
    name: "a default stream of 256 bytes",
    yaml: `defaultStream: ${"a".repeat(256)}`,
    message: `defaultStream: ${NAME_RULE}, got a string of 256 bytes`,
  },
  {
    name: "a default stream whose rules do not allow publish",
    yaml: "defaultStream: live/default\nstreams: [{ prefix: live, modes: [play] }]",
    message: 'defaultStream: "live/default" does not allow publish (its modes are ["play"])',
  },
  // Timeouts
  {
    name: "a negative playWaitMs",
    yaml: "playWaitMs: -1",
    message: "playWaitMs: expected an integer from 0 to 600000, got -1",
  },
  {
    name: "a fractional playWaitMs",
    yaml: "playWaitMs: 1.5",
    message: "playWaitMs: expected an integer from 0 to 600000, got 1.5",
  },
  {
    name: "a playWaitMs given as a string",
    yaml: 'playWaitMs: "1000"',
    message: 'playWaitMs: expected an integer from 0 to 600000, got "1000"',
  },
  {
    name: "a publisherTimeoutMs with no value",
    yaml: "publisherTimeoutMs:",
    message: "publisherTimeoutMs: expected an integer from 0 to 600000, got null",
  },
  {
    name: "a graceMs over ten minutes",
    yaml: "graceMs: 600001",
    message: "graceMs: expected an integer from 0 to 600000, got 600001",
  },
  // authHook
  {
    name: "an authHook without a url",
    yaml: "authHook: { timeoutMs: 500 }",
    message: 'authHook: expected a "url"',
  },
  {
    name: "an authHook url that is not http",
    yaml: "authHook: { url: ftp://auth.example/ }",
    message: 'authHook.url: expected an http:// or https:// URL, got "ftp://auth.example/"',
  },
  {
    name: "an authHook timeout out of range",
    yaml: "authHook: { url: http://127.0.0.1:9/auth, timeoutMs: 50 }",
    message: "authHook.timeoutMs: expected an integer from 100 to 60000, got 50",
  },
  {
    name: "an authHook with an unknown key",
    yaml: "authHook: { url: http://127.0.0.1:9/auth, timeout: 500 }",
    message: 'authHook.timeout: unknown key (did you mean "timeoutMs"?)',
  },
  // apiToken, apiTokenForReads
  {
    name: "a short apiToken, without showing it",
    yaml: "apiToken: short-secret",
    message: "apiToken: expected 16 to 256 visible ASCII characters, got a string of 12",
  },
  {
    name: "an apiToken with a space",
    yaml: 'apiToken: "0123456789 abcdef-token"',
    message: "apiToken: expected 16 to 256 visible ASCII characters, got a string of 23",
  },
  {
    name: "a numeric apiToken",
    yaml: "apiToken: 1234567890123456789",
    message: "apiToken: expected 16 to 256 visible ASCII characters, got number",
  },
  {
    name: "an allowUnprotected that is not a boolean",
    yaml: "allowUnprotected: 1",
    message: "allowUnprotected: expected true or false, got 1",
  },
  {
    name: "an apiTokenForReads that is not a boolean",
    yaml: "apiTokenForReads: yes-please",
    message: 'apiTokenForReads: expected true or false, got "yes-please"',
  },
  // streamDefaults
  {
    name: "streamDefaults that is not an object",
    yaml: "streamDefaults: []",
    message: "streamDefaults: expected an object, got an empty list",
  },
  {
    name: "a name in streamDefaults",
    yaml: "streamDefaults: { name: live }",
    message: "streamDefaults.name: unknown key",
  },
  {
    name: "an invalid rule in streamDefaults",
    yaml: "streamDefaults: { buffer: { seconds: 0 } }",
    message: "streamDefaults.buffer.seconds: expected a number from 0.5 to 120, got 0",
  },
  // streams and their entries
  {
    name: "streams that is not a list",
    yaml: "streams: { name: live }",
    message: "streams: expected a list of stream entries, got an object",
  },
  {
    name: "an entry that is not an object",
    yaml: "streams: [live]",
    message: 'streams[0]: expected an object, got "live"',
  },
  {
    name: "an entry with both name and prefix",
    yaml: "streams: [{ name: a, prefix: b }]",
    message: 'streams[0]: expected exactly one of "name" or "prefix", got both',
  },
  {
    name: "an entry with neither name nor prefix",
    yaml: "streams: [{ name: a }, { maxViewers: 1 }]",
    message: 'streams[1]: expected exactly one of "name" or "prefix", got neither',
  },
  {
    name: "an unknown entry key differing in case from a known one",
    yaml: "streams: [{ prefix: live, maxviewers: 5 }]",
    message: 'streams[0].maxviewers: unknown key (did you mean "maxViewers"?)',
  },
  {
    name: "an unknown entry key with a typo",
    yaml: "streams: [{ prefix: live, latency: 5 }]",
    message: 'streams[0].latency: unknown key (did you mean "latencyMs"?)',
  },
  {
    name: "a name with a space",
    yaml: 'streams: [{ name: "a b" }]',
    message: `streams[0].name: ${NAME_RULE}, got "a b"`,
  },
  {
    name: "a name that is a number",
    yaml: "streams: [{ name: 5 }]",
    message: `streams[0].name: ${NAME_RULE}, got 5`,
  },
  {
    name: "a name with a trailing slash",
    yaml: "streams: [{ name: live/ }]",
    message: `streams[0].name: ${NAME_RULE}, got "live/"`,
  },
  {
    name: "a prefix with a leading slash",
    yaml: "streams: [{ prefix: /live }]",
    message: `streams[0].prefix: ${NAME_RULE}, got "/live"`,
  },
  {
    name: "a prefix with two trailing slashes",
    yaml: "streams: [{ prefix: live// }]",
    message: `streams[0].prefix: ${NAME_RULE}, got "live//"`,
  },
  {
    name: "an empty prefix",
    yaml: 'streams: [{ prefix: "" }]',
    message: `streams[0].prefix: ${NAME_RULE}, got ""`,
  },
  {
    name: "a prefix of '.'",
    yaml: "streams: [{ prefix: . }]",
    message: `streams[0].prefix: ${NAME_RULE}, got "."`,
  },
  {
    name: "two entries with the same name",
    yaml: "streams: [{ name: studio/main }, { prefix: x }, { name: studio/main }]",
    message: 'streams[2].name: "studio/main" duplicates streams[0].name',
  },
  {
    name: "two entries with the same prefix, one with a trailing slash",
    yaml: "streams: [{ prefix: live }, { prefix: live/ }]",
    message: 'streams[1].prefix: "live/" duplicates streams[0].prefix',
  },
  // Passphrases
  {
    name: "a publish passphrase of 9 bytes",
    yaml: 'streams: [{ prefix: live, publishPassphrase: "123456789" }]',
    message: "streams[0].publishPassphrase: expected a string of 10 to 79 bytes, " +
      "got a string of 9 bytes",
  },
  {
    name: "a read passphrase of 80 bytes in 40 characters",
    yaml: `streams: [{ prefix: live, readPassphrase: "${"é".repeat(40)}" }]`,
    message: "streams[0].readPassphrase: expected a string of 10 to 79 bytes, " +
      "got a string of 80 bytes",
  },
  {
    name: "a passphrase that is a number",
    yaml: "streamDefaults: { readPassphrase: 12345678901 }",
    message: "streamDefaults.readPassphrase: expected a string of 10 to 79 bytes, got a number",
  },
  // modes
  {
    name: "modes that is not a list",
    yaml: "streams: [{ prefix: live, modes: publish }]",
    message: 'streams[0].modes: expected a non-empty list of "publish" and "play", got "publish"',
  },
  {
    name: "an empty list of modes",
    yaml: "streams: [{ prefix: live, modes: [] }]",
    message: 'streams[0].modes: expected a non-empty list of "publish" and "play", ' +
      "got an empty list",
  },
  {
    name: "an unknown mode",
    yaml: "streams: [{ prefix: live, modes: [publish, read] }]",
    message: 'streams[0].modes[1]: expected "publish" or "play", got "read"',
  },
  {
    name: "a mode listed twice",
    yaml: "streams: [{ prefix: live, modes: [play, publish, play] }]",
    message: 'streams[0].modes[2]: "play" is listed twice',
  },
  // maxViewers
  {
    name: "a negative maxViewers",
    yaml: "streams: [{ prefix: a }, { prefix: b }, { prefix: c, maxViewers: -1 }]",
    message: "streams[2].maxViewers: expected a positive integer, got -1",
  },
  {
    name: "a maxViewers of 0",
    yaml: "streams: [{ prefix: live, maxViewers: 0 }]",
    message: "streams[0].maxViewers: expected a positive integer, got 0",
  },
  {
    name: "a fractional maxViewers",
    yaml: "streams: [{ prefix: live, maxViewers: 2.5 }]",
    message: "streams[0].maxViewers: expected a positive integer, got 2.5",
  },
  {
    name: "a maxViewers given as a string",
    yaml: 'streams: [{ prefix: live, maxViewers: "50" }]',
    message: 'streams[0].maxViewers: expected a positive integer, got "50"',
  },
  // latencyMs
  {
    name: "a latency over 60000",
    yaml: "streams: [{ prefix: live, latencyMs: 60001 }]",
    message: "streams[0].latencyMs: expected an integer from 0 to 60000, got 60001",
  },
  {
    name: "a negative latency",
    yaml: "streams: [{ prefix: live, latencyMs: -1 }]",
    message: "streams[0].latencyMs: expected an integer from 0 to 60000, got -1",
  },
  {
    name: "a fractional latency",
    yaml: "streams: [{ prefix: live, latencyMs: 120.5 }]",
    message: "streams[0].latencyMs: expected an integer from 0 to 60000, got 120.5",
  },
  // buffer
  {
    name: "a buffer that is a number",
    yaml: "streams: [{ prefix: live, buffer: 4 }]",
    message: 'streams[0].buffer: expected an object with "seconds" or "bytes", got 4',
  },
  {
    name: "a buffer with both seconds and bytes",
    yaml: "streams: [{ prefix: live, buffer: { seconds: 4, bytes: 65536 } }]",
    message: 'streams[0].buffer: expected exactly one of "seconds" or "bytes", got both',
  },
  {
    name: "a buffer with neither seconds nor bytes",
    yaml: "streams: [{ prefix: live, buffer: {} }]",
    message: 'streams[0].buffer: expected exactly one of "seconds" or "bytes", got neither',
  },
  {
    name: "an unknown buffer key",
    yaml: "streams: [{ prefix: live, buffer: { second: 4 } }]",
    message: 'streams[0].buffer.second: unknown key (did you mean "seconds"?)',
  },
  {
    name: "a buffer of 0.4 seconds",
    yaml: "streams: [{ prefix: live, buffer: { seconds: 0.4 } }]",
    message: "streams[0].buffer.seconds: expected a number from 0.5 to 120, got 0.4",
  },
  {
    name: "a buffer of 121 seconds",
    yaml: "streams: [{ prefix: live, buffer: { seconds: 121 } }]",
    message: "streams[0].buffer.seconds: expected a number from 0.5 to 120, got 121",
  },
  {
    name: "a buffer of NaN seconds",
    yaml: "streams: [{ prefix: live, buffer: { seconds: .nan } }]",
    message: "streams[0].buffer.seconds: expected a number from 0.5 to 120, got NaN",
  },
  {
    name: "a buffer of seconds given as a string",
    yaml: 'streams: [{ prefix: live, buffer: { seconds: "4" } }]',
    message: 'streams[0].buffer.seconds: expected a number from 0.5 to 120, got "4"',
  },
  {
    name: "a buffer of 1 byte under 64 KiB",
    yaml: "streams: [{ prefix: live, buffer: { bytes: 65535 } }]",
    message: "streams[0].buffer.bytes: expected an integer from 65536 (64 KiB) to " +
      "1073741824 (1 GiB), got 65535",
  },
  {
    name: "a buffer of 1 byte over 1 GiB",
    yaml: "streams: [{ prefix: live, buffer: { bytes: 1073741825 } }]",
    message: "streams[0].buffer.bytes: expected an integer from 65536 (64 KiB) to " +
      "1073741824 (1 GiB), got 1073741825",
  },
  {
    name: "a fractional number of buffer bytes",
    yaml: "streams: [{ prefix: live, buffer: { bytes: 65536.5 } }]",
    message: "streams[0].buffer.bytes: expected an integer from 65536 (64 KiB) to " +
      "1073741824 (1 GiB), got 65536.5",
  },
  // source
  {
    name: "a source that is not a string",
    yaml: "streams: [{ prefix: live, source: 9000 }]",
    message: "streams[0].source: expected an srt:// URL, got 9000",
  },
  {
    name: "a source of another scheme",
    yaml: "streamDefaults: { source: udp://h:9000 }",
    message: 'streamDefaults.source: invalid SRT URL "udp://h:9000": ' +
      'expected the srt:// scheme, got "udp://"',
  },
  {
    name: "a source without a port",
    yaml: 'streams: [{ prefix: edge, source: "srt://origin.example?streamid=#!::r={name}" }]',
    message: 'streams[0].source: invalid SRT URL "srt://origin.example?streamid=#!::r={name}": ' +
      "missing port: expected srt://HOST:PORT",
  },
  {
    name: "a source with {name} in its host",
    yaml: 'streams: [{ prefix: edge, source: "srt://{name}.example:9000" }]',
    message: 'streams[0].source: invalid SRT URL "srt://{name}.example:9000": ' +
      "{name} may only appear in the value of streamid, not in the host or port",
  },
  {
    name: "a source to call as a listener",
    yaml: 'streams: [{ name: a, source: "srt://h:9000?mode=listener" }]',
    message: 'streams[0].source: invalid SRT URL "srt://h:9000?mode=listener": ' +
      'mode: "listener" is not supported: Atoll listens on its own port, ' +
      "and a relay calls out (caller or rendezvous)",
  },
  {
    name: "a source with an unknown key",
    yaml: 'streams: [{ name: a, source: "srt://h:9000?streamId=x" }]',
    message: 'streams[0].source: invalid SRT URL "srt://h:9000?streamId=***": unknown key ' +
      `"streamId" (did you mean "streamid"?): expected one of ${SRT_KEYS}`,
  },
  {
    name: "a prefix's source with {name} twice, too long for the longest name",
    yaml: 'streams: [{ prefix: in, source: "srt://h:9000?streamid=#!::r=e/{name},u={name}" }]',
    message:
      'streams[0].source: invalid SRT URL "srt://h:9000?streamid=#!::r=e/{name},u={name}": ' +
      "streamid: expected at most 512 bytes, got 521 with {name} standing for a stream name of " +
      "255 bytes (the longest allowed)",
  },
  {
    name: "an unknown key near source",
    yaml: "streams: [{ prefix: live, sources: srt://h:9000 }]",
    message: 'streams[0].sources: unknown key (did you mean "source"?)',
  },
  // sourceMode, sourceLingerMs, sourceRole
  {
    name: "sourceMode always in streamDefaults",
    yaml: `streamDefaults: { source: "${ORIGIN_URL}", sourceMode: always }`,
    message: 'streamDefaults.sourceMode: "always" is only allowed in an entry with a "name", ' +
      "the stream to keep pulled",
  },
  {
    name: "sourceMode always in a prefix entry",
    yaml: `streams: [{ prefix: edge, source: "${ORIGIN_URL}", sourceMode: always }]`,
    message: 'streams[0].sourceMode: "always" is only allowed in an entry with a "name", ' +
      "the stream to keep pulled",
  },
  {
    name: "sourceMode always in a name entry without a source",
    yaml: `streams: [{ prefix: studio, source: "${ORIGIN_URL}" }, ` +
      "{ name: studio/main, sourceMode: always }]",
    message: 'streams[1].sourceMode: "always" needs a source, in this entry or in streamDefaults',
  },
  {
    name: "an unknown sourceMode",
    yaml: "streams: [{ name: a, sourceMode: sometimes }]",
    message: 'streams[0].sourceMode: expected "always" or "on-demand", got "sometimes"',
  },
  {
    name: "a negative sourceLingerMs",
    yaml: "streamDefaults: { sourceLingerMs: -1 }",
    message: "streamDefaults.sourceLingerMs: expected an integer from 0 to 3600000, got -1",
  },
  {
    name: "a sourceLingerMs over an hour",
    yaml: "streams: [{ prefix: live, sourceLingerMs: 3600001 }]",
    message: "streams[0].sourceLingerMs: expected an integer from 0 to 3600000, got 3600001",
  },
  {
    name: "a sourceLingerMs with a unit",
    yaml: "streams: [{ prefix: live, sourceLingerMs: 10s }]",
    message: 'streams[0].sourceLingerMs: expected an integer from 0 to 3600000, got "10s"',
  },
  {
    name: "an unknown sourceRole",
    yaml: "streams: [{ prefix: live, sourceRole: secondary }]",
    message: 'streams[0].sourceRole: expected "primary" or "backup", got "secondary"',
  },
  // hls, hlsSegmentMs, hlsWindow, hlsPartMs
  {
    name: "an unknown hls mode",
    yaml: "streams: [{ prefix: live, hls: off }]",
    message: 'streams[0].hls: expected "on-demand" or "always", got "off"',
  },
  {
    name: "an hlsSegmentMs under a second",
    yaml: "streamDefaults: { hlsSegmentMs: 999 }",
    message: "streamDefaults.hlsSegmentMs: expected an integer from 1000 to 10000, got 999",
  },
  {
    name: "an hlsSegmentMs over 10 s",
    yaml: "streams: [{ name: a, hlsSegmentMs: 10001 }]",
    message: "streams[0].hlsSegmentMs: expected an integer from 1000 to 10000, got 10001",
  },
  {
    name: "an hlsPartMs of 199",
    yaml: "streams: [{ prefix: live, hlsPartMs: 199 }]",
    message: "streams[0].hlsPartMs: expected 0 (no parts) or an integer from 200 to 5000, got 199",
  },
  {
    name: "an hlsPartMs over 5 s",
    yaml: "streamDefaults: { hlsPartMs: 5001 }",
    message:
      "streamDefaults.hlsPartMs: expected 0 (no parts) or an integer from 200 to 5000, got 5001",
  },
  {
    name: "an hlsWindow of 2",
    yaml: "streams: [{ prefix: live, hlsWindow: 2 }]",
    message: "streams[0].hlsWindow: expected an integer from 3 to 30, got 2",
  },
  {
    name: "an hlsWindow that is not whole",
    yaml: "streamDefaults: { hlsWindow: 4.5 }",
    message: "streamDefaults.hlsWindow: expected an integer from 3 to 30, got 4.5",
  },
  // push
  {
    name: "a push that is one URL, not a list",
    yaml: "streams: [{ prefix: live, push: srt://cdn.example:9000 }]",
    message: 'streams[0].push: expected a list of srt:// URLs, got "srt://cdn.example:9000"',
  },
  {
    name: "a push URL that is not a string",
    yaml: "streamDefaults: { push: [{ url: srt://cdn.example:9000 }] }",
    message: "streamDefaults.push[0]: expected an srt:// URL, got an object",
  },
  {
    name: "an invalid push URL, with its index",
    yaml: "streams:\n  - { prefix: a }\n  - { prefix: b }\n" +
      '  - { prefix: c, push: [srt://cdn.example:9000, "srt://cdn.example:9000?latency=-5"] }',
    message: 'streams[2].push[1]: invalid SRT URL "srt://cdn.example:9000?latency=-5": ' +
      'latency: expected an integer from 0 to 60000 (milliseconds), got "-5"',
  },
  {
    name: "a push URL with {name} in a passphrase",
    yaml: 'streams: [{ prefix: live, push: ["srt://h:9000?passphrase={name}-passphrase"] }]',
    message: 'streams[0].push[0]: invalid SRT URL "srt://h:9000?passphrase=***": ' +
      "{name} may only appear in the value of streamid, not of passphrase",
  },
  {
    name: "17 push URLs",
    yaml: `streams: [{ prefix: live, push: [${
      Array.from({ length: 17 }, (_, i) => `"srt://cdn.example:9000?streamid=${i}"`)
    }] }]`,
    message: "streams[0].push: expected at most 16 URLs, got 17",
  },
  {
    name: "two push URLs to the same place, written differently",
    yaml: "streams: [{ prefix: live, push: [" +
      '"srt://cdn.example:9000?streamid=#!::r={name}&latency=80", ' +
      '"srt://CDN.example:9000/?streamid=%23!::r={name}"] }]',
    message: "streams[0].push[1]: the same host, port and streamid as streams[0].push[0]",
  },
];

for (const { name, yaml, message } of invalidCases) {
  Deno.test(`parseConfig() rejects ${name}`, () => {
    assert.throws(() => parseConfig(yaml, "yaml", SOURCE), {
      name: "ConfigError",
      message: `Invalid config ${SOURCE}: ${message}`,
    });
  });
}

Deno.test("parseConfig() throws ConfigError instances", () => {
  assert.throws(() => parseConfig("[]", "json", "x.json"), ConfigError);
});

Deno.test("parseConfig() reports the same key path for JSON as for YAML", () => {
  assert.throws(
    () => parseConfig('{ "streams": [{ "prefix": "live", "maxViewers": -1 }] }', "json", "a.json"),
    {
      message: "Invalid config a.json: streams[0].maxViewers: expected a positive integer, got -1",
    },
  );
});

Deno.test("parseConfig() never shows a passphrase or an object that may hold one", () => {
  const secret = "123456789";
  for (
    const text of [
      `streams: [{ prefix: live, publishPassphrase: "${secret}" }]`,
      `streamDefaults: { readPassphrase: ${secret} }`,
      `streams: { publishPassphrase: "${secret}0" }`,
      `- { publishPassphrase: "${secret}0" }`,
      `streams: [{ prefix: live, source: "srt://h:9000?passphrase=${secret}" }]`,
      `streams: [{ prefix: live, source: "srt://h:9000?passphrase=${secret}0&latency=x" }]`,
      `streamDefaults: { push: ["srt://h?passphrase=${secret}0"] }`,
      `streamDefaults: { push: ["srt://h:9000?pasphrase=${secret}0"] }`,
    ]
  ) {
    assert.throws(() => parseConfig(text, "yaml", SOURCE), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.ok(!error.message.includes(secret), error.message);
      return true;
    });
  }
});

const syntaxCases: { name: string; text: string; format: "json" | "yaml"; message: string }[] = [
  {
    name: "a YAML syntax error, with its line and column",
    text: "playWaitMs: 1000\nstreams:\n  - name: a\n   prefix: b\n",
    format: "yaml",
    message: "YAML syntax error: Sequence item without - indicator at line 4, column 1",
  },
  {
    name: "an unclosed YAML flow sequence, with its line and column",
    text: "streams: [{ name: a }\ngraceMs: 1",
    format: "yaml",
    message: "YAML syntax error: Flow sequence in block collection must be sufficiently " +
      "indented and end with a ] at line 2, column 1",
  },
  {
    name: "a duplicate YAML key",
    text: "graceMs: 1\ngraceMs: 2",
    format: "yaml",
    message: "YAML syntax error: Map keys must be unique at line 2, column 1",
  },
  {
    name: "an unknown YAML tag",
    text: "graceMs: !seconds 1",
    format: "yaml",
    message: "YAML syntax error: Unresolved tag: !seconds at line 1, column 10",
  },
  {
    name: "a YAML alias with no anchor",
    text: "graceMs: *grace",
    format: "yaml",
    message: "YAML syntax error: Unresolved alias (the anchor must be set before the alias): grace",
  },
  {
    name: "a JSON syntax error, with its line and column",
    text: '{\n  "graceMs": 1,\n}',
    format: "json",
    message: "JSON syntax error: Expected double-quoted property name in JSON at position 18 " +
      "(line 3 column 1)",
  },
];

for (const { name, text, format, message } of syntaxCases) {
  Deno.test(`parseConfig() rejects ${name}`, () => {
    assert.throws(() => parseConfig(text, format, SOURCE), {
      name: "ConfigError",
      message: `Invalid config ${SOURCE}: ${message}`,
    });
  });
}

/** Entries in an order that puts each winner before and after the entries it beats. */
const RULES_CONFIG_YAML = `
streamDefaults: { maxViewers: 10, latencyMs: 100 }
streams:
  - name: live/events/keynote
    modes: [play]
  - prefix: live
    maxViewers: 50
  - prefix: live/events/
    maxViewers: 500
  - name: studio/main
    buffer: { bytes: 65536 }
  - prefix: live/events/day1/hall
    latencyMs: 300
`;

const rulesCases: { name: string; streamName: string; expected: StreamRules }[] = [
  {
    name: "the prefix itself",
    streamName: "live",
    expected: { ...BUILT_IN_RULES, maxViewers: 50, latencyMs: 100 },
  },
  {
    name: "a name under a prefix",
    streamName: "live/x",
    expected: { ...BUILT_IN_RULES, maxViewers: 50, latencyMs: 100 },
  },
  {
    name: "a name that only starts with a prefix's text",
    streamName: "lively",
    expected: { ...BUILT_IN_RULES, maxViewers: 10, latencyMs: 100 },
  },
  {
    name: "a name under a longer prefix given with a trailing slash",
    streamName: "live/events/day1",
    expected: { ...BUILT_IN_RULES, maxViewers: 500, latencyMs: 100 },
  },
  {
    name: "a name past a longer prefix's text but not at its boundary",
    streamName: "live/eventsx",
    expected: { ...BUILT_IN_RULES, maxViewers: 50, latencyMs: 100 },
  },
  {
    name: "the longest of three matching prefixes, listed last",
    streamName: "live/events/day1/hall/a",
    expected: { ...BUILT_IN_RULES, maxViewers: 10, latencyMs: 300 },
  },
  {
    name: "an exact name over matching prefixes, taking nothing from them",
    streamName: "live/events/keynote",
    expected: { ...BUILT_IN_RULES, modes: ["play"], maxViewers: 10, latencyMs: 100 },
  },
  {
    name: "an exact name with no prefix",
    streamName: "studio/main",
    expected: { ...BUILT_IN_RULES, buffer: { bytes: 65536 }, maxViewers: 10, latencyMs: 100 },
  },
  {
    name: "a name under an exact name, which it does not match",
    streamName: "studio/main/backup",
    expected: { ...BUILT_IN_RULES, maxViewers: 10, latencyMs: 100 },
  },
  {
    name: "a name no entry matches",
    streamName: "other",
    expected: { ...BUILT_IN_RULES, maxViewers: 10, latencyMs: 100 },
  },
];

for (const { name, streamName, expected } of rulesCases) {
  Deno.test(`rulesFor() gives ${name}`, () => {
    const config = parseConfig(RULES_CONFIG_YAML, "yaml", SOURCE);
    assert.deepEqual(rulesFor(config, streamName), expected);
    const reversed = { ...config, streams: [...config.streams].reverse() };
    assert.deepEqual(rulesFor(reversed, streamName), expected, "entries in reverse order");
  });
}

Deno.test("rulesFor() gives the built-in defaults when the file sets no rules", () => {
  assert.deepEqual(rulesFor(DEFAULT_CONFIG, "live/x"), BUILT_IN_RULES);
  const config = parseConfig("streams: [{ prefix: live, maxViewers: 5 }]", "yaml", SOURCE);
  assert.deepEqual(rulesFor(config, "live/x"), { ...BUILT_IN_RULES, maxViewers: 5 });
});

Deno.test("rulesFor() gives the relay keys like any other rule", () => {
  const config = parseConfig(
    `streamDefaults: { source: "${ORIGIN_URL}", push: [srt://cdn.example:9000] }\n` +
      "streams:\n" +
      "  - { prefix: live, push: [], sourceRole: backup }\n" +
      "  - { name: live/main, sourceMode: always }\n",
    "yaml",
    SOURCE,
  );
  const relayed = { ...BUILT_IN_RULES, source: ORIGIN_URL };
  assert.deepEqual(rulesFor(config, "other"), { ...relayed, push: ["srt://cdn.example:9000"] });
  assert.deepEqual(rulesFor(config, "live/x"), { ...relayed, push: [], sourceRole: "backup" });
  // A name entry takes nothing from prefixes: the push of streamDefaults is back.
  assert.deepEqual(rulesFor(config, "live/main"), {
    ...relayed,
    push: ["srt://cdn.example:9000"],
    sourceMode: "always",
  });
});

Deno.test("rulesFor() returns frozen rules", () => {
  const rules = rulesFor(parseConfig(RULES_CONFIG_YAML, "yaml", SOURCE), "live/x");
  assert.ok(Object.isFrozen(rules));
  assert.ok(Object.isFrozen(rules.modes));
  assert.ok(Object.isFrozen(rules.buffer));
});

const loadCases: { file: string; expected: AtollConfig }[] = [
  { file: "full.yaml", expected: FULL_CONFIG },
  { file: "full.json", expected: FULL_CONFIG },
  { file: "empty.yaml", expected: DEFAULT_CONFIG },
  { file: "json_content.conf", expected: { ...DEFAULT_CONFIG, playWaitMs: 1000 } },
  { file: "yaml_content.conf", expected: { ...DEFAULT_CONFIG, playWaitMs: 1000 } },
];

for (const { file, expected } of loadCases) {
  Deno.test(`loadConfig() reads ${file}`, async () => {
    assert.deepEqual(await loadConfig(fixture(file)), expected);
  });
}

const loadErrorCases: { name: string; file: string; message: (path: string) => string }[] = [
  {
    name: "a missing file",
    file: "missing.yaml",
    message: (path) => `Cannot read config ${path}: file not found`,
  },
  {
    name: "a .json file with an invalid value",
    file: "invalid.json",
    message: (path) =>
      `Invalid config ${path}: graceMs: expected an integer from 0 to 600000, got -1`,
  },
  {
    name: "a file of another extension that is neither JSON nor YAML, naming both errors",
    file: "bad_syntax.conf",
    message: (path) =>
      `Invalid config ${path}: neither JSON ` +
      `(Unexpected token 'p', "playWaitMs"... is not valid JSON) nor YAML ` +
      "(Nested mappings are not allowed in compact mappings at line 1, column 13); " +
      "name the file .json, .yaml or .yml to choose",
  },
];

for (const { name, file, message } of loadErrorCases) {
  Deno.test(`loadConfig() rejects ${name}`, async () => {
    const path = fixture(file);
    await assert.rejects(loadConfig(path), { name: "ConfigError", message: message(path) });
  });
}

Deno.test("loadConfig() rejects a .yml file with a syntax error, with its line", async () => {
  // Written at run time: as a fixture, its syntax error would fail `deno fmt`.
  const directory = await Deno.makeTempDir();
  try {
    const path = `${directory}/atoll.yml`;
    await Deno.writeTextFile(path, "streams:\n  - name: a\n  prefix: b\n");
    await assert.rejects(loadConfig(path), {
      name: "ConfigError",
      message: `Invalid config ${path}: YAML syntax error: ` +
        "All mapping items must start at the same column at line 3, column 1",
    });
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("parseConfig() reads an authHook, with a 2 s timeout unless set", () => {
  assert.deepEqual(
    parseConfig("authHook: { url: http://127.0.0.1:9/auth }", "yaml", "a.yaml").authHook,
    {
      url: "http://127.0.0.1:9/auth",
      timeoutMs: 2000,
    },
  );
  assert.deepEqual(
    parseConfig(
      '{"authHook": {"url": "https://auth.example/srt", "timeoutMs": 500}}',
      "json",
      "a.json",
    )
      .authHook,
    { url: "https://auth.example/srt", timeoutMs: 500 },
  );
});

/** The config a reload starts from: protected streams under live/, an authHook. */
const PROTECTED_YAML = `
authHook: { url: http://127.0.0.1:9/auth }
streams:
  - prefix: live
    publishPassphrase: publish-secret
    readPassphrase: viewer-secret
    modes: [publish, play]
    maxViewers: 5
  - name: studio/main
    modes: [play]
`;
const PROTECTED = parseConfig(PROTECTED_YAML, "yaml", "old.yaml");

const reloadCases: {
  name: string;
  yaml: string;
  live: string[];
  /** A pattern the reason matches, or undefined when the reload may go ahead. */
  refused: RegExp | undefined;
}[] = [
  {
    name: "the same file",
    yaml: PROTECTED_YAML,
    live: ["live/a", "studio/main"],
    refused: undefined,
  },
  {
    name: "a file that tightens (a new passphrase, fewer viewers)",
    yaml: PROTECTED_YAML.replace("publish-secret", "new-publish-secret").replace(" 5", " 2"),
    live: ["live/a"],
    refused: undefined,
  },
  {
    name: "a file dropping a passphrase of a stream nobody uses",
    yaml: PROTECTED_YAML.replace("    readPassphrase: viewer-secret\n", ""),
    live: ["other/stream"],
    refused: undefined,
  },
  {
    name: "an empty file, even with no stream live",
    yaml: "",
    live: [],
    refused: /^Refusing config new\.yaml: it sets nothing \(empty or only comments\)/,
  },
  { name: "a file of comments", yaml: "# streams:\n", live: [], refused: /it sets nothing/ },
  { name: "an empty mapping", yaml: "{}", live: [], refused: /it sets nothing/ },
  {
    name: "a file dropping a live stream's read passphrase",
    yaml: PROTECTED_YAML.replace("    readPassphrase: viewer-secret\n", ""),
    live: ["live/a"],
    refused:
      /^Refusing config new\.yaml: it takes protection from streams that have callers: "live\/a" loses its readPassphrase; to mean that, add allowUnprotected: true to it$/,
  },
  {
    name: "a file dropping a live stream's publish passphrase and maxViewers",
    yaml: PROTECTED_YAML.replace("    publishPassphrase: publish-secret\n", "").replace(
      "    maxViewers: 5\n",
      "",
    ),
    live: ["live/a/b"],
    refused: /"live\/a\/b" loses its publishPassphrase, "live\/a\/b" loses its maxViewers;/,
  },
  {
    name: "a file giving a live play-only stream publishing",
    yaml: PROTECTED_YAML.replace("modes: [play]", "modes: [play, publish]"),
    live: ["studio/main"],
    refused: /"studio\/main" gains mode publish;/,
  },
  {
    name: "a file whose entry for a live stream is gone",
    yaml: "authHook: { url: http://127.0.0.1:9/auth }\nplayWaitMs: 100\n",
    live: ["studio/main"],
    refused: /"studio\/main" gains mode publish;/,
  },
  {
    name: "a file without the authHook while a stream is live",
    yaml: PROTECTED_YAML.replace("authHook: { url: http://127.0.0.1:9/auth }\n", ""),
    live: ["studio/main"],
    refused: /callers: the authHook is removed;/,
  },
  {
    name: "a file without the authHook while no stream is live",
    yaml: PROTECTED_YAML.replace("authHook: { url: http://127.0.0.1:9/auth }\n", ""),
    live: [],
    refused: undefined,
  },
  {
    name: "a file dropping every rule of many live streams, listing five",
    yaml: "playWaitMs: 100",
    live: ["live/1", "live/2", "live/3"],
    refused:
      /callers: the authHook is removed, "live\/1" loses its publishPassphrase, "live\/1" loses its readPassphrase, "live\/1" loses its maxViewers, "live\/2" loses its publishPassphrase and 5 more;/,
  },
  {
    name: "a file adding relays to live streams",
    yaml: `${PROTECTED_YAML}streamDefaults:\n  push: ["srt://cdn.example:9000?streamid={name}"]\n`
      .replace(
        "    maxViewers: 5\n",
        `    maxViewers: 5\n    source: "${ORIGIN_URL}"\n    sourceRole: backup\n`,
      ).replace(
        "    modes: [play]\n",
        "    modes: [play]\n    source: srt://192.0.2.10:9000\n    sourceMode: always\n",
      ),
    live: ["live/a", "studio/main"],
    refused: undefined,
  },
  {
    name: "a file dropping protection that says allowUnprotected: true",
    yaml: "allowUnprotected: true",
    live: ["live/a", "studio/main"],
    refused: undefined,
  },
];

for (const { name, yaml, live, refused } of reloadCases) {
  Deno.test(`reloadRefusal() ${refused === undefined ? "allows" : "refuses"} ${name}`, () => {
    const next = parseConfig(yaml, "yaml", "new.yaml");
    const reason = reloadRefusal(PROTECTED, next, { source: "new.yaml", liveStreams: live });
    if (refused === undefined) assert.equal(reason, undefined);
    else assert.match(reason ?? "(allowed)", refused);
  });
}

Deno.test("reloadRefusal() allows changing or removing the relays of live streams", () => {
  const relayed = `${PROTECTED_YAML}streamDefaults:\n  sourceLingerMs: 0\n` +
    `  source: "${ORIGIN_URL}"\n  push: ["srt://cdn.example:9000?streamid={name}"]\n`;
  const previous = parseConfig(relayed, "yaml", "old.yaml");
  const live = ["live/a", "studio/main", "other"];
  for (
    const yaml of [
      PROTECTED_YAML,
      relayed.replace("origin.example", "backup-origin.example").replace("cdn.example", "cdn2"),
      relayed.replace("sourceLingerMs: 0", "sourceLingerMs: 60000\n  sourceRole: backup"),
      relayed.replace("modes: [play]", "modes: [play]\n    push: []"),
    ]
  ) {
    const next = parseConfig(yaml, "yaml", "new.yaml");
    assert.equal(
      reloadRefusal(previous, next, { source: "new.yaml", liveStreams: live }),
      undefined,
    );
  }
});

Deno.test("parseSrtUrl() takes the latencies and passphrases that the server's options take", () => {
  const accepts = (query: string): boolean => {
    try {
      parseSrtUrl(`srt://h:9000?${query}`);
      return true;
    } catch {
      return false;
    }
  };
  for (const latency of [-1, 0, 1, 59_999, 60_000, 60_001]) {
    assert.equal(
      accepts(`latency=${latency}`),
      OPTION_RULES.latencyMs.isValid(latency),
      `${latency}`,
    );
  }
  for (const passphrase of ["p".repeat(9), "p".repeat(10), "é".repeat(39) + "p", "é".repeat(40)]) {
    assert.equal(
      accepts(`passphrase=${encodeURIComponent(passphrase)}`),
      OPTION_RULES.passphrase.isValid(passphrase),
      `${passphrase.length} characters`,
    );
  }
});

Deno.test("reloadRefusal() never shows a passphrase", () => {
  const next = parseConfig("playWaitMs: 100", "yaml", "new.yaml");
  const reason = reloadRefusal(PROTECTED, next, { source: "new.yaml", liveStreams: ["live/a"] });
  assert.ok(reason !== undefined);
  assert.doesNotMatch(reason, /secret/);
});

Deno.test("parseConfig() takes a record rule, with a default rotation, and false to turn it off", () => {
  const config = parseConfig(
    [
      "streamDefaults:",
      "  record: { dir: /var/rec, quotaBytes: 1048576 }",
      "streams:",
      "  - prefix: live",
      "    record: { dir: /srv/live, rotateSeconds: 60, quotaBytes: 2000000 }",
      "  - name: live/off",
      "    record: false",
    ].join("\n"),
    "yaml",
    SOURCE,
  );
  assert.deepEqual(rulesFor(config, "other").record, {
    dir: "/var/rec",
    rotateSeconds: 600,
    quotaBytes: 1048576,
  });
  assert.deepEqual(recordingOf(rulesFor(config, "live/a")), {
    dir: "/srv/live",
    rotateSeconds: 60,
    quotaBytes: 2000000,
  });
  assert.equal(recordingOf(rulesFor(config, "live/off")), undefined);
  assert.equal(recordingOf(rulesFor(DEFAULT_CONFIG, "x")), undefined);
});

Deno.test("parseConfig() refuses a record rule that is not usable", () => {
  for (
    const [record, problem] of [
      ["{ quotaBytes: 1048576 }", 'streamDefaults.record: expected a "dir"'],
      ["{ dir: /x }", 'streamDefaults.record: expected a "quotaBytes"'],
      ["{ dir: rel, quotaBytes: 1048576 }", "streamDefaults.record.dir: expected an absolute path"],
      [
        '{ dir: "/srv/a,b", quotaBytes: 1048576 }',
        "streamDefaults.record.dir: expected an absolute path without a comma",
      ],
      ["{ dir: /x, quotaBytes: 1000 }", "streamDefaults.record.quotaBytes: expected an integer"],
      [
        "{ dir: /x, quotaBytes: 1048576, rotateSeconds: 0.5 }",
        "streamDefaults.record.rotateSeconds: expected an integer from 1 to 86400",
      ],
      ["{ dir: /x, quotaBytes: 1048576, rotate: 5 }", "streamDefaults.record.rotate: unknown key"],
      ["true", "streamDefaults.record: expected an object"],
    ] as const
  ) {
    assert.throws(
      () => parseConfig(`streamDefaults:\n  record: ${record}\n`, "yaml", SOURCE),
      (error: Error) => error instanceof ConfigError && error.message.includes(problem),
      record,
    );
  }
});
