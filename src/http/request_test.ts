import assert from "node:assert/strict";
import { headerEnd, hostName, isAllowedHost, parseRequestHead } from "./request.ts";

Deno.test("parseRequestHead() reads the request line, headers and Content-Length", () => {
  const head = parseRequestHead(
    "POST /api/reload?x=1 HTTP/1.1\r\nHost: localhost:8080\r\nContent-Length: 12\r\nX-A:  b ",
    100,
  );
  assert.equal(head.method, "POST");
  assert.equal(head.target, "/api/reload?x=1");
  assert.equal(head.version, "1.1");
  assert.equal(head.contentLength, 12);
  assert.equal(head.headers.get("host"), "localhost:8080");
  assert.equal(head.headers.get("x-a"), "b");
  assert.equal(parseRequestHead("GET / HTTP/1.0", 100).version, "1.0");
});

Deno.test("parseRequestHead() refuses what the API does not serve, with the status to answer", () => {
  const cases: [string, string, number, RegExp][] = [
    ["no version", "GET /", 400, /Malformed request line/],
    ["HTTP/2", "GET / HTTP/2.0", 400, /Malformed request line/],
    ["an absolute URL", "GET http://a/ HTTP/1.1", 400, /must be a path/],
    ["a folded header", "GET / HTTP/1.1\r\nHost: a\r\n folded", 400, /Malformed header line/],
    ["a header without a colon", "GET / HTTP/1.1\r\nHost", 400, /Malformed header line/],
    ["a chunked body", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked", 411, /Content-Length/],
    ["a bad length", "POST / HTTP/1.1\r\nContent-Length: -1", 400, /Malformed Content-Length/],
    ["two lengths", "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2", 400, /Malformed/],
    ["a body too large", "POST / HTTP/1.1\r\nContent-Length: 101", 413, /at most 100 bytes/],
  ];
  for (const [name, text, status, message] of cases) {
    assert.throws(
      () => parseRequestHead(text, 100),
      (error: Error & { status?: number }) =>
        error.status === status && message.test(error.message),
      name,
    );
  }
});

Deno.test("hostName() takes the name of a Host header, without port or brackets", () => {
  const cases: [string, string | undefined][] = [
    ["localhost", "localhost"],
    ["LocalHost:8080", "localhost"],
    ["127.0.0.1:8080", "127.0.0.1"],
    ["[::1]:8080", "::1"],
    ["[::1]", "::1"],
    ["media.example", "media.example"],
    ["a b", undefined],
    ["evil.example@127.0.0.1", undefined],
    ["127.0.0.1:8080:1", undefined],
    ["", undefined],
  ];
  for (const [header, name] of cases) assert.equal(hostName(header), name, header);
});

Deno.test("isAllowedHost() answers loopback names, the bound address and allowed names only", () => {
  for (const host of ["localhost:8081", "127.0.0.1", "[::1]:8081", "10.0.0.5", "Media.Example"]) {
    assert.equal(isAllowedHost(host, "10.0.0.5", ["media.example"]), true, host);
  }
  assert.equal(isAllowedHost("[fd00::1]:8081", "0.0.0.0", ["[fd00::1]"]), true);
  assert.equal(isAllowedHost("rebound.example", "127.0.0.1", ["media.example"]), false);
  assert.equal(isAllowedHost("evil.example@127.0.0.1", "127.0.0.1"), false);
  assert.equal(isAllowedHost(null, "127.0.0.1"), false);
  assert.equal(isAllowedHost(null, "127.0.0.1", ["*"]), true);
  assert.equal(isAllowedHost("anything.example", "127.0.0.1", ["*"]), true);
});

Deno.test("headerEnd() finds the end of the head, or says it has not come", () => {
  const encode = (text: string) => new TextEncoder().encode(text);
  const head = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  assert.equal(headerEnd(encode(`${head}body`)), head.length);
  assert.equal(headerEnd(encode("GET / HTTP/1.1\r\nHost: a\r\n")), -1);
  assert.equal(headerEnd(encode("")), -1);
});
