import assert from "node:assert/strict";
import { SeededRandom } from "../../tests/support/random.ts";
import { expandName, parseSrtUrl, redactSrtUrl, type SrtUrl, SrtUrlError } from "./srt_url.ts";

const LONGEST_NAME = "a".repeat(255);
/** A passphrase of 10 bytes that tests look for in messages. */
const SECRET = "SECRET1234";

const validCases: { name: string; text: string; streamName?: string; expected: SrtUrl }[] = [
  // Addresses
  {
    name: "a host name and a port",
    text: "srt://origin.example:9000",
    expected: { hostname: "origin.example", port: 9000, mode: "caller" },
  },
  {
    name: "the scheme in capitals, the host name kept as written",
    text: "SRT://Origin.Example:9000",
    expected: { hostname: "Origin.Example", port: 9000, mode: "caller" },
  },
  {
    name: "an IPv4 address",
    text: "srt://192.0.2.10:9000",
    expected: { hostname: "192.0.2.10", port: 9000, mode: "caller" },
  },
  {
    name: "the IPv6 loopback, stored without brackets",
    text: "srt://[::1]:9000",
    expected: { hostname: "::1", port: 9000, mode: "caller" },
  },
  {
    name: "an IPv6 address with a run of zero groups",
    text: "srt://[2001:db8::5]:9000",
    expected: { hostname: "2001:db8::5", port: 9000, mode: "caller" },
  },
  {
    name: "an IPv6 address of eight groups",
    text: "srt://[2001:DB8:0:0:0:0:0:5]:9000",
    expected: { hostname: "2001:DB8:0:0:0:0:0:5", port: 9000, mode: "caller" },
  },
  {
    name: "an IPv4-mapped IPv6 address",
    text: "srt://[::ffff:192.0.2.1]:9000",
    expected: { hostname: "::ffff:192.0.2.1", port: 9000, mode: "caller" },
  },
  {
    name: "a host name with an underscore (a container's service name)",
    text: "srt://srt_origin:9000",
    expected: { hostname: "srt_origin", port: 9000, mode: "caller" },
  },
  {
    name: "a fully qualified host name with its trailing dot",
    text: "srt://origin.example.:9000",
    expected: { hostname: "origin.example.", port: 9000, mode: "caller" },
  },
  {
    name: "port 1",
    text: "srt://h:1",
    expected: { hostname: "h", port: 1, mode: "caller" },
  },
  {
    name: "port 65535",
    text: "srt://h:65535",
    expected: { hostname: "h", port: 65_535, mode: "caller" },
  },
  {
    name: "a trailing slash before the query",
    text: "srt://h:9000/?streamid=live/x",
    expected: { hostname: "h", port: 9000, streamId: "live/x", mode: "caller" },
  },
  // Queries
  {
    name: "an empty query",
    text: "srt://h:9000?",
    expected: { hostname: "h", port: 9000, mode: "caller" },
  },
  {
    name: "stray ampersands",
    text: "srt://h:9000?&latency=200&&",
    expected: { hostname: "h", port: 9000, latencyMs: 200, mode: "caller" },
  },
  {
    name: "an Access Control stream id with a literal #",
    text: "srt://h:9000?streamid=#!::r=live/x,m=publish",
    expected: { hostname: "h", port: 9000, streamId: "#!::r=live/x,m=publish", mode: "caller" },
  },
  {
    name: "an Access Control stream id with # as %23",
    text: "srt://h:9000?streamid=%23!::r=live/x,m=request",
    expected: { hostname: "h", port: 9000, streamId: "#!::r=live/x,m=request", mode: "caller" },
  },
  {
    name: "a stream id entirely percent-encoded",
    text: `srt://h:9000?streamid=${encodeURIComponent("#!::r=live/x,m=publish,u=alice")}`,
    expected: {
      hostname: "h",
      port: 9000,
      streamId: "#!::r=live/x,m=publish,u=alice",
      mode: "caller",
    },
  },
  {
    name: "a stream id holding ?, = and an encoded &",
    text: "srt://h:9000?streamid=live/x?token=abc%26user=bob&latency=80",
    expected: {
      hostname: "h",
      port: 9000,
      streamId: "live/x?token=abc&user=bob",
      latencyMs: 80,
      mode: "caller",
    },
  },
  {
    name: "a stream id in UTF-8",
    text: "srt://h:9000?streamid=cam%C3%A9ra",
    expected: { hostname: "h", port: 9000, streamId: "caméra", mode: "caller" },
  },
  {
    name: "a stream id of 512 bytes",
    text: `srt://h:9000?streamid=${"s".repeat(512)}`,
    expected: { hostname: "h", port: 9000, streamId: "s".repeat(512), mode: "caller" },
  },
  {
    name: "every caller key",
    text: "srt://h:9000?streamid=live/x&passphrase=0123456789&pbkeylen=32&latency=200" +
      "&connect_timeout=5000&mode=caller",
    expected: {
      hostname: "h",
      port: 9000,
      streamId: "live/x",
      passphrase: "0123456789",
      pbkeylen: 32,
      latencyMs: 200,
      connectTimeoutMs: 5000,
      mode: "caller",
    },
  },
  {
    name: "keys in another order, conntimeo for the connect timeout",
    text: "srt://h:9000?conntimeo=100&latency=0&pbkeylen=0&streamid=x",
    expected: {
      hostname: "h",
      port: 9000,
      streamId: "x",
      pbkeylen: 0,
      latencyMs: 0,
      connectTimeoutMs: 100,
      mode: "caller",
    },
  },
  {
    name: "the longest latency and connect timeout",
    text: "srt://h:9000?latency=60000&connect_timeout=120000",
    expected: {
      hostname: "h",
      port: 9000,
      latencyMs: 60_000,
      connectTimeoutMs: 120_000,
      mode: "caller",
    },
  },
  {
    name: "a passphrase with + kept as +",
    text: "srt://h:9000?passphrase=a+b+c+d+e+f",
    expected: { hostname: "h", port: 9000, passphrase: "a+b+c+d+e+f", mode: "caller" },
  },
  {
    name: "a passphrase with encoded spaces",
    text: "srt://h:9000?passphrase=my%20secret%20phrase",
    expected: { hostname: "h", port: 9000, passphrase: "my secret phrase", mode: "caller" },
  },
  {
    name: "a passphrase of 79 bytes",
    text: `srt://h:9000?passphrase=${"p".repeat(79)}`,
    expected: { hostname: "h", port: 9000, passphrase: "p".repeat(79), mode: "caller" },
  },
  // Rendezvous
  {
    name: "a rendezvous, its local port the remote's",
    text: "srt://192.0.2.10:9000?mode=rendezvous",
    expected: { hostname: "192.0.2.10", port: 9000, mode: "rendezvous", localPort: 9000 },
  },
  {
    name: "a rendezvous with its local port as port (srt-live-transmit's name)",
    text: "srt://192.0.2.10:9000?mode=rendezvous&port=9001",
    expected: { hostname: "192.0.2.10", port: 9000, mode: "rendezvous", localPort: 9001 },
  },
  {
    name: "a rendezvous with its local port as localport, given first",
    text: "srt://192.0.2.10:9000?localport=9001&mode=rendezvous",
    expected: { hostname: "192.0.2.10", port: 9000, mode: "rendezvous", localPort: 9001 },
  },
  // {name}
  {
    name: "{name} kept when no name is given",
    text: "srt://origin.example:9000?streamid=#!::r={name},m=request",
    expected: {
      hostname: "origin.example",
      port: 9000,
      streamId: "#!::r={name},m=request",
      mode: "caller",
    },
  },
  {
    name: "{name} replaced by the name given",
    text: "srt://origin.example:9000?streamid=#!::r={name},m=request",
    streamName: "live/cam1",
    expected: {
      hostname: "origin.example",
      port: 9000,
      streamId: "#!::r=live/cam1,m=request",
      mode: "caller",
    },
  },
  {
    name: "every {name} replaced",
    text: "srt://h:9000?streamid=#!::r=edge/{name},m=publish,u={name}",
    streamName: "a/b",
    expected: {
      hostname: "h",
      port: 9000,
      streamId: "#!::r=edge/a/b,m=publish,u=a/b",
      mode: "caller",
    },
  },
  {
    name: "a name with URL syntax in it, taken literally",
    text: "srt://h:9000?streamid={name}",
    streamName: "x&passphrase=%41",
    expected: { hostname: "h", port: 9000, streamId: "x&passphrase=%41", mode: "caller" },
  },
  {
    name: "a template of 512 bytes once {name} is a name of 255 bytes",
    text: `srt://h:9000?streamid={name}${"x".repeat(257)}`,
    expected: { hostname: "h", port: 9000, streamId: `{name}${"x".repeat(257)}`, mode: "caller" },
  },
  {
    name: "a template of 512 bytes expanded with a name of 255 bytes",
    text: `srt://h:9000?streamid={name}${"x".repeat(257)}`,
    streamName: LONGEST_NAME,
    expected: {
      hostname: "h",
      port: 9000,
      streamId: `${LONGEST_NAME}${"x".repeat(257)}`,
      mode: "caller",
    },
  },
  {
    name: "a long template with a short name given",
    text: `srt://h:9000?streamid={name}${"x".repeat(500)}`,
    streamName: "live",
    expected: { hostname: "h", port: 9000, streamId: `live${"x".repeat(500)}`, mode: "caller" },
  },
];

for (const { name, text, streamName, expected } of validCases) {
  Deno.test(`parseSrtUrl() reads ${name}`, () => {
    const options = streamName === undefined ? {} : { name: streamName };
    assert.deepEqual(parseSrtUrl(text, options), expected);
  });
}

/** One row per error; `message` is what follows `Invalid SRT URL "<shown>": `. */
const invalidCases: { name: string; text: string; shown?: string; message: string }[] = [
  // Scheme
  { name: "an empty text", text: "", message: "expected srt://HOST:PORT" },
  {
    name: "a missing scheme",
    text: "origin.example:9000?streamid=x",
    message: "expected srt://HOST:PORT",
  },
  { name: "a scheme with one slash", text: "srt:/h:9000", message: "expected srt://HOST:PORT" },
  {
    name: "another scheme",
    text: "udp://h:9000",
    message: 'expected the srt:// scheme, got "udp://"',
  },
  {
    name: "a scheme that only starts with srt",
    text: "srtp://h:9000",
    message: 'expected the srt:// scheme, got "srtp://"',
  },
  // Host
  {
    name: "no host and no port",
    text: "srt://",
    message: "missing host: expected srt://HOST:PORT",
  },
  {
    name: "a port without a host (a listener's URL)",
    text: "srt://:9000",
    message: "missing host: expected srt://HOST:PORT",
  },
  {
    name: "a host with a space",
    text: "srt://origin example:9000",
    message: 'invalid host "origin example": expected a host name or an IP address',
  },
  {
    name: "a host label starting with -",
    text: "srt://-origin.example:9000",
    message: 'invalid host "-origin.example": expected a host name or an IP address',
  },
  {
    name: "an empty host label",
    text: "srt://origin..example:9000",
    message: 'invalid host "origin..example": expected a host name or an IP address',
  },
  {
    name: "an IPv4 address with a part over 255",
    text: "srt://192.0.2.256:9000",
    message: 'invalid host "192.0.2.256": expected a host name or an IP address',
  },
  {
    name: "an IPv4 address of three parts",
    text: "srt://192.0.2:9000",
    message: 'invalid host "192.0.2": expected a host name or an IP address',
  },
  {
    name: "an IPv6 address without brackets",
    text: "srt://::1:9000",
    message: "an IPv6 address must be in brackets, as in srt://[::1]:9000",
  },
  {
    name: "an IPv6 address without brackets or port",
    text: "srt://2001:db8::5",
    message: "an IPv6 address must be in brackets, as in srt://[::1]:9000",
  },
  {
    name: "an IPv6 address with a non-hex group",
    text: "srt://[::g]:9000",
    message: 'invalid IPv6 address "::g"',
  },
  {
    name: "an IPv6 address of nine groups",
    text: "srt://[1:2:3:4:5:6:7:8:9]:9000",
    message: 'invalid IPv6 address "1:2:3:4:5:6:7:8:9"',
  },
  {
    name: "an IPv6 address with two runs of zero groups",
    text: "srt://[1::2::3]:9000",
    message: 'invalid IPv6 address "1::2::3"',
  },
  {
    name: "an IPv6 address with a zone",
    text: "srt://[fe80::1%25eth0]:9000",
    message: 'invalid IPv6 address "fe80::1%25eth0"',
  },
  { name: "empty brackets", text: "srt://[]:9000", message: 'invalid IPv6 address ""' },
  {
    name: "an unclosed bracket",
    text: "srt://[::1:9000",
    message: 'expected "]" after an IPv6 address',
  },
  {
    name: "a port not after a colon",
    text: "srt://[::1]9000",
    message: 'expected ":PORT" after "]"',
  },
  {
    name: "user info",
    text: `srt://alice:${SECRET}@h:9000`,
    shown: "srt://***@h:9000",
    message: 'unexpected user info before "@": SRT has none ' +
      "(give a passphrase as ?passphrase=, or credentials in the streamid)",
  },
  {
    name: "a path",
    text: "srt://h:9000/live/x",
    message: "unexpected path after the port: an SRT URL has none (give the stream as ?streamid=)",
  },
  // Port
  { name: "a missing port", text: "srt://h", message: "missing port: expected srt://HOST:PORT" },
  {
    name: "an empty port",
    text: "srt://h:?streamid=x",
    message: "missing port: expected srt://HOST:PORT",
  },
  {
    name: "a missing port before the query",
    text: "srt://h?streamid=x",
    message: "missing port: expected srt://HOST:PORT",
  },
  {
    name: "a missing port after an IPv6 address",
    text: "srt://[::1]",
    message: "missing port: expected srt://HOST:PORT",
  },
  {
    name: "port 0",
    text: "srt://h:0",
    message: 'invalid port "0": expected an integer from 1 to 65535',
  },
  {
    name: "port 65536",
    text: "srt://h:65536",
    message: 'invalid port "65536": expected an integer from 1 to 65535',
  },
  {
    name: "a port that is no number",
    text: "srt://h:http",
    message: 'invalid port "http": expected an integer from 1 to 65535',
  },
  {
    name: "a negative port",
    text: "srt://h:-1",
    message: 'invalid port "-1": expected an integer from 1 to 65535',
  },
  {
    name: "a fragment read as part of the port",
    text: "srt://h:9000#x",
    message: 'invalid port "9000#x": expected an integer from 1 to 65535',
  },
  // Query syntax
  {
    name: "a pair without =",
    text: `srt://h:9000?${SECRET}`,
    shown: "srt://h:9000?***",
    message: 'expected key=value pairs after "?", got one without "="',
  },
  {
    name: "an unknown key differing in case from a known one",
    text: "srt://h:9000?streamId=x",
    shown: "srt://h:9000?streamId=***",
    message: 'unknown key "streamId" (did you mean "streamid"?): expected one of streamid, ' +
      "passphrase, pbkeylen, latency, connect_timeout, conntimeo, mode, port, localport",
  },
  {
    name: "an unknown key",
    text: "srt://h:9000?maxbw=1000",
    shown: "srt://h:9000?maxbw=***",
    message: 'unknown key "maxbw": expected one of streamid, passphrase, pbkeylen, latency, ' +
      "connect_timeout, conntimeo, mode, port, localport",
  },
  {
    name: "an empty key",
    text: "srt://h:9000?=x",
    shown: "srt://h:9000?=***",
    message: 'unknown key "": expected one of streamid, passphrase, pbkeylen, latency, ' +
      "connect_timeout, conntimeo, mode, port, localport",
  },
  {
    name: "an unknown key that looks like no key, not shown",
    text: "srt://h:9000?alice:PASSWORD1=x",
    shown: "srt://h:9000?***=***",
    message: "unknown key: expected one of streamid, passphrase, pbkeylen, latency, " +
      "connect_timeout, conntimeo, mode, port, localport",
  },
  {
    name: "a key given twice",
    text: "srt://h:9000?latency=100&streamid=x&latency=200",
    message: "latency is given twice",
  },
  {
    name: "both names of the connect timeout",
    text: "srt://h:9000?connect_timeout=1000&conntimeo=1000",
    message: "connect_timeout and conntimeo name the same setting: give one",
  },
  {
    name: "both names of the local port",
    text: "srt://h:9000?mode=rendezvous&localport=9001&port=9001",
    message: "port and localport name the same setting: give one",
  },
  {
    name: "a control character",
    text: "srt://h:9000?streamid=x\n",
    shown: "srt://h:9000?streamid=***",
    message: "it contains a control character",
  },
  // {name}
  {
    name: "{name} in the host",
    text: "srt://{name}:9000",
    message: "{name} may only appear in the value of streamid, not in the host or port",
  },
  {
    name: "{name} in the port",
    text: "srt://h:{name}?streamid={name}",
    message: "{name} may only appear in the value of streamid, not in the host or port",
  },
  {
    name: "{name} in the value of latency",
    text: "srt://h:9000?latency={name}",
    shown: "srt://h:9000?latency=***",
    message: "{name} may only appear in the value of streamid, not of latency",
  },
  {
    name: "{name} in the passphrase",
    text: "srt://h:9000?passphrase={name}-secret",
    shown: "srt://h:9000?passphrase=***",
    message: "{name} may only appear in the value of streamid, not of passphrase",
  },
  // streamid
  {
    name: "an empty stream id",
    text: "srt://h:9000?streamid=",
    message: "streamid: expected 1 to 512 bytes, got none",
  },
  {
    name: "a stream id of 513 bytes",
    text: `srt://h:9000?streamid=${"s".repeat(513)}`,
    shown: "srt://h:9000?streamid=***",
    message: "streamid: expected at most 512 bytes, got 513",
  },
  {
    name: "a stream id of 512 characters and 513 bytes",
    text: `srt://h:9000?streamid=%C3%A9${"s".repeat(511)}`,
    shown: "srt://h:9000?streamid=***",
    message: "streamid: expected at most 512 bytes, got 513",
  },
  {
    name: "a template over 512 bytes once {name} is a name of 255 bytes",
    text: `srt://h:9000?streamid={name}${"x".repeat(258)}`,
    shown: "srt://h:9000?streamid=***",
    message: "streamid: expected at most 512 bytes, got 513 with {name} standing for a stream " +
      "name of 255 bytes (the longest allowed)",
  },
  {
    // Checked so that the URL is valid for every stream; with a name given it may pass.
    name: "a template with {name} twice, each counted as 255 bytes",
    text: "srt://h:9000?streamid=#!::r=edge/{name},m=publish,u={name}",
    message: "streamid: expected at most 512 bytes, got 534 with {name} standing for a stream " +
      "name of 255 bytes (the longest allowed)",
  },
  {
    name: "malformed percent-encoding in the stream id",
    text: "srt://h:9000?streamid=live%ZZ",
    shown: "srt://h:9000?streamid=***",
    message: "streamid: malformed percent-encoding",
  },
  {
    name: "a control character encoded in the stream id",
    text: "srt://h:9000?streamid=live%00x",
    shown: "srt://h:9000?streamid=***",
    message: "streamid: it contains a control character",
  },
  // passphrase, pbkeylen
  {
    name: "a passphrase of 9 bytes",
    text: "srt://h:9000?passphrase=SECRET123",
    shown: "srt://h:9000?passphrase=***",
    message: "passphrase: expected 10 to 79 bytes, got 9",
  },
  {
    name: "a passphrase of 80 bytes",
    text: `srt://h:9000?passphrase=${SECRET.repeat(8)}`,
    shown: "srt://h:9000?passphrase=***",
    message: "passphrase: expected 10 to 79 bytes, got 80",
  },
  {
    name: "an empty passphrase",
    text: "srt://h:9000?passphrase=",
    shown: "srt://h:9000?passphrase=***",
    message: "passphrase: expected 10 to 79 bytes, got 0",
  },
  {
    name: "malformed percent-encoding in the passphrase",
    text: `srt://h:9000?passphrase=${SECRET}%E0%A4%A`,
    shown: "srt://h:9000?passphrase=***",
    message: "passphrase: malformed percent-encoding",
  },
  {
    name: "a pbkeylen of 20",
    text: "srt://h:9000?pbkeylen=20",
    message: 'pbkeylen: expected 0, 16, 24 or 32, got "20"',
  },
  {
    name: "a pbkeylen in bits",
    text: "srt://h:9000?pbkeylen=128",
    message: 'pbkeylen: expected 0, 16, 24 or 32, got "128"',
  },
  {
    name: "an empty pbkeylen",
    text: "srt://h:9000?pbkeylen=",
    message: 'pbkeylen: expected 0, 16, 24 or 32, got ""',
  },
  // latency, connect timeout
  {
    name: "a latency over 60000",
    text: "srt://h:9000?latency=60001",
    message: 'latency: expected an integer from 0 to 60000 (milliseconds), got "60001"',
  },
  {
    name: "a negative latency",
    text: "srt://h:9000?latency=-1",
    message: 'latency: expected an integer from 0 to 60000 (milliseconds), got "-1"',
  },
  {
    name: "a latency in exponent notation",
    text: "srt://h:9000?latency=1e3",
    shown: "srt://h:9000?latency=***",
    message: "latency: expected an integer from 0 to 60000 (milliseconds), got no number",
  },
  {
    name: "a latency with a unit",
    text: "srt://h:9000?latency=200ms",
    shown: "srt://h:9000?latency=***",
    message: "latency: expected an integer from 0 to 60000 (milliseconds), got no number",
  },
  {
    name: "an empty latency",
    text: "srt://h:9000?latency=",
    message: 'latency: expected an integer from 0 to 60000 (milliseconds), got ""',
  },
  {
    name: "a connect timeout under 100 ms",
    text: "srt://h:9000?connect_timeout=99",
    message: 'connect_timeout: expected an integer from 100 to 120000 (milliseconds), got "99"',
  },
  {
    name: "a conntimeo over two minutes",
    text: "srt://h:9000?conntimeo=120001",
    message: 'conntimeo: expected an integer from 100 to 120000 (milliseconds), got "120001"',
  },
  // mode, local port
  {
    name: "mode=listener",
    text: "srt://h:9000?mode=listener",
    message: 'mode: "listener" is not supported: Atoll listens on its own port, ' +
      "and a relay calls out (caller or rendezvous)",
  },
  {
    name: "mode=server, srt-live-transmit's listener",
    text: "srt://h:9000?mode=server",
    message: 'mode: "server" is not supported: Atoll listens on its own port, ' +
      "and a relay calls out (caller or rendezvous)",
  },
  {
    name: "an unknown mode",
    text: "srt://h:9000?mode=push",
    shown: "srt://h:9000?mode=***",
    message: 'mode: expected "caller" or "rendezvous", got an unknown mode',
  },
  {
    name: "mode=client, srt-live-transmit's caller",
    text: "srt://h:9000?mode=client",
    message: 'mode: expected "caller" or "rendezvous", got "client"',
  },
  {
    name: "a mode in capitals",
    text: "srt://h:9000?mode=Caller",
    shown: "srt://h:9000?mode=***",
    message: 'mode: expected "caller" or "rendezvous", got an unknown mode',
  },
  {
    name: "a localport without rendezvous",
    text: "srt://h:9000?localport=9001",
    message: "localport: a local port is only for mode=rendezvous " +
      "(a caller's is chosen by the system)",
  },
  {
    name: "a port (the local port) with mode=caller",
    text: "srt://h:9000?mode=caller&port=9001",
    message: "port: a local port is only for mode=rendezvous (a caller's is chosen by the system)",
  },
  {
    name: "a local port of 0",
    text: "srt://h:9000?mode=rendezvous&localport=0",
    message: 'localport: expected an integer from 1 to 65535, got "0"',
  },
];

for (const { name, text, shown = text, message } of invalidCases) {
  Deno.test(`parseSrtUrl() rejects ${name}`, () => {
    assert.throws(() => parseSrtUrl(text), {
      name: "SrtUrlError",
      message: `Invalid SRT URL ${JSON.stringify(shown)}: ${message}`,
    });
  });
}

Deno.test("parseSrtUrl() shows no passphrase in any error", () => {
  for (const { text } of invalidCases) {
    const withSecret = text.includes("?")
      ? `${text}&passphrase=${SECRET}`
      : `${text}?passphrase=${SECRET}`;
    assert.throws(() => parseSrtUrl(withSecret), (error: unknown) => {
      assert.ok(error instanceof SrtUrlError);
      assert.ok(!error.message.includes(SECRET), error.message);
      return true;
    });
  }
});

Deno.test("parseSrtUrl() throws SrtUrlError, a TypeError with the URL shown and the detail", () => {
  const text = `srt://h?passphrase=${SECRET}`;
  assert.throws(() => parseSrtUrl(text), (error: unknown) => {
    assert.ok(error instanceof SrtUrlError);
    assert.ok(error instanceof TypeError);
    assert.equal(error.url, "srt://h?passphrase=***");
    assert.equal(error.detail, "missing port: expected srt://HOST:PORT");
    return true;
  });
});

Deno.test("parseSrtUrl() checks a long stream id with the name given, not the longest name", () => {
  const text = `srt://h:9000?streamid={name}${"x".repeat(300)}`;
  assert.throws(() => parseSrtUrl(text), /got 555 with \{name\} standing for a stream name/);
  assert.equal(parseSrtUrl(text, { name: "live" }).streamId, `live${"x".repeat(300)}`);
  assert.throws(() => parseSrtUrl(text, { name: "a".repeat(213) }), {
    message: 'Invalid SRT URL "srt://h:9000?streamid=***": streamid: expected at most 512 bytes, ' +
      "got 513",
  });
});

Deno.test("parseSrtUrl() parses with any valid name a template that parses without one", () => {
  const templates = validCases.filter((c) => c.streamName === undefined).map((c) => c.text);
  for (const template of templates) {
    for (const name of ["x", "live/cam-1.main_~", LONGEST_NAME]) {
      const url = parseSrtUrl(template, { name });
      const streamId = parseSrtUrl(template).streamId;
      if (streamId !== undefined) assert.equal(url.streamId, expandName(streamId, name));
    }
  }
});

const expandCases: { name: string; template: string; streamName: string; expected: string }[] = [
  { name: "one {name}", template: "r={name}", streamName: "live/x", expected: "r=live/x" },
  {
    name: "every {name}",
    template: "{name}/{name}",
    streamName: "a",
    expected: "a/a",
  },
  { name: "no {name}", template: "srt://h:9000", streamName: "a", expected: "srt://h:9000" },
  {
    name: "a name holding replacement patterns, taken literally",
    template: "r={name}",
    streamName: "$&$$$'",
    expected: "r=$&$$$'",
  },
  { name: "a {NAME} in capitals, left", template: "{NAME}", streamName: "a", expected: "{NAME}" },
];

for (const { name, template, streamName, expected } of expandCases) {
  Deno.test(`expandName() replaces ${name}`, () => {
    assert.equal(expandName(template, streamName), expected);
  });
}

/** Every secret the cases below carry: none may be shown. */
const SECRETS = /SECRET1234|PASSWORD1|SESSION1|TOKEN1/;

const redactCases: { name: string; text: string; shown: string }[] = [
  {
    name: "a URL without secrets, shown as given",
    text: "srt://[::1]:9000/?streamid=%23!::r=live/x,m=request&latency=200&pbkeylen=16" +
      "&connect_timeout=5000&mode=rendezvous&port=9001",
    shown: "srt://[::1]:9000/?streamid=%23!::r=live/x,m=request&latency=200&pbkeylen=16" +
      "&connect_timeout=5000&mode=rendezvous&port=9001",
  },
  {
    name: "a passphrase",
    text: "srt://h:9000?streamid=#!::r=live/x,m=publish&passphrase=SECRET1234&latency=80",
    shown: "srt://h:9000?streamid=#!::r=live/x,m=publish&passphrase=***&latency=80",
  },
  {
    name: "a passphrase given twice",
    text: "srt://h:9000?passphrase=SECRET1234&passphrase=SECRET1234",
    shown: "srt://h:9000?passphrase=***&passphrase=***",
  },
  {
    name: "a misspelt passphrase key",
    text: "srt://h:9000?pasphrase=SECRET1234",
    shown: "srt://h:9000?pasphrase=***",
  },
  {
    name: "a passphrase key in capitals",
    text: "srt://h:9000?Passphrase=SECRET1234",
    shown: "srt://h:9000?Passphrase=***",
  },
  {
    name: "a stream id pasted as the value of a number or a mode",
    text: "srt://h:9000?latency=publish:x:u:PASSWORD1&mode=PASSWORD1&localport=-1",
    shown: "srt://h:9000?latency=***&mode=***&localport=-1",
  },
  {
    name: "a bare token, and a bare known key",
    text: "srt://h:9000?SECRET1234&latency",
    shown: "srt://h:9000?***&latency",
  },
  {
    name: "a session in an Access Control stream id",
    text: "srt://h:9000?streamid=#!::r=live/x,m=publish,u=alice,s=SESSION1",
    shown: "srt://h:9000?streamid=#!::r=live/x,m=publish,u=alice,s=***",
  },
  {
    name: "a session in a %23 stream id",
    text: "srt://h:9000?streamid=%23!::r=live/x,s=SESSION1",
    shown: "srt://h:9000?streamid=#!::r=live/x,s=***",
  },
  {
    name: "MediaMTX's user and password in the stream id",
    text: "srt://h:8890?streamid=publish:live/x:alice:PASSWORD1",
    shown: "srt://h:8890?streamid=publish:live/x:***:***",
  },
  {
    name: "a query in the stream id, its & encoded",
    text: "srt://h:9000?streamid=live/x?token=TOKEN1%26user=bob&latency=80",
    shown: "srt://h:9000?streamid=live/x?token=***%26user=***&latency=80",
  },
  {
    name: "a {name} template with a passphrase",
    text: "srt://h:9000?streamid=#!::r={name},m=request&passphrase=SECRET1234",
    shown: "srt://h:9000?streamid=#!::r={name},m=request&passphrase=***",
  },
  {
    name: "a {name} template with a session",
    text: "srt://h:9000?streamid=#!::r=edge/{name},s=SESSION1",
    shown: "srt://h:9000?streamid=#!::r=edge/{name},s=***",
  },
  {
    name: "a stream id with malformed percent-encoding",
    text: "srt://h:9000?streamid=PASSWORD1%ZZ",
    shown: "srt://h:9000?streamid=***",
  },
  {
    // As redactStreamId() shows ids: text that is no valid stream name may be a credential.
    name: "a stream id that is no valid stream name, hidden whole",
    text: "srt://h:9000?streamid=cam%C3%A9ra:alice:PASSWORD1",
    shown: "srt://h:9000?streamid=***",
  },
  {
    name: "user info",
    text: "srt://alice:PASSWORD1@h:9000?latency=80",
    shown: "srt://***@h:9000?latency=80",
  },
  {
    name: "text that is no URL",
    text: "origin:9000",
    shown: "origin:9000",
  },
  { name: "an empty text", text: "", shown: "" },
];

for (const { name, text, shown } of redactCases) {
  Deno.test(`redactSrtUrl() hides the secrets of ${name}`, () => {
    assert.equal(redactSrtUrl(text), shown);
    assert.doesNotMatch(shown, SECRETS);
  });
}

Deno.test("redactSrtUrl() shows the address of every valid URL, and no passphrase", () => {
  for (const { text, streamName } of validCases) {
    const shown = redactSrtUrl(text);
    assert.ok(shown.startsWith(text.split("?")[0]!), shown);
    const passphrase = parseSrtUrl(text, streamName === undefined ? {} : { name: streamName })
      .passphrase;
    if (passphrase !== undefined) assert.ok(!shown.includes(passphrase), shown);
  }
});

/** What random URLs are made of: valid, broken and tricky pieces. */
const ADDRESSES = ["srt://h:9000", "SRT://[::1]:9000/", "srt://10.0.0.1:1"];
const ADDRESS_PIECES = [
  "srt://",
  "udp://",
  "h",
  "[",
  "]",
  "::1",
  ":",
  "9000",
  "0",
  "/",
  "@",
  "{name}",
  "%",
  "é",
  " ",
  "?",
  "&",
  "\n",
];
const KEYS = [
  "streamid",
  "passphrase",
  "pbkeylen",
  "latency",
  "connect_timeout",
  "conntimeo",
  "mode",
  "port",
  "localport",
  "Streamid",
  "",
];
const VALUES = [
  "live/x",
  "#!::r={name},m=publish",
  "%23!::r=x,s=SESSION1",
  "publish:x:u:PASSWORD1",
  "16",
  "120",
  "5000",
  "caller",
  "rendezvous",
  "listener",
  "9001",
  "%ZZ",
  "%00",
  "%26",
  "{name}",
  "=",
  "?",
  "",
];
const QUERY_PIECES = ["&", "=", "?", ...KEYS, ...VALUES];

function pick(random: SeededRandom, pieces: readonly string[]): string {
  return pieces[random.uint32() % pieces.length]!;
}

/** An address, a passphrase first, then pairs (or, one time in four, any pieces at all). */
function randomUrl(random: SeededRandom): string {
  const address = random.uint32() % 2 === 0
    ? pick(random, ADDRESSES)
    : Array.from({ length: random.uint32() % 6 }, () => pick(random, ADDRESS_PIECES)).join("");
  const count = random.uint32() % 4;
  const rest = random.uint32() % 4 === 0
    ? Array.from({ length: count * 3 }, () => pick(random, QUERY_PIECES)).join("")
    : Array.from({ length: count }, () => `&${pick(random, KEYS)}=${pick(random, VALUES)}`)
      .join("");
  return `${address}?passphrase=${SECRET}${rest}`;
}

Deno.test("parseSrtUrl() and redactSrtUrl() never show a secret of pseudo-random URLs", () => {
  // Seeded, so the fuzz run is the same every time.
  const random = new SeededRandom(0x5127);
  const outcomes = new Set<string>();
  for (let i = 0; i < 20_000; i++) {
    const text = randomUrl(random);
    assert.doesNotMatch(redactSrtUrl(text), SECRETS, text);
    try {
      const url = parseSrtUrl(text, random.uint32() % 2 === 0 ? {} : { name: "live/x" });
      outcomes.add(url.mode);
    } catch (error) {
      assert.ok(error instanceof SrtUrlError, String(error));
      assert.doesNotMatch(error.message, SECRETS, text);
      outcomes.add("error");
    }
  }
  assert.deepEqual([...outcomes].sort(), ["caller", "error", "rendezvous"]);
});
