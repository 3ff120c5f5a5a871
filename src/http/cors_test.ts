import assert from "node:assert/strict";
import { allowedOrigin } from "./cors.ts";

Deno.test("allowedOrigin() allows a page from the host the request names, on any port", () => {
  const cases: [string | null, string | null, string | undefined][] = [
    ["http://127.0.0.1:8080", "127.0.0.1:8081", "http://127.0.0.1:8080"],
    ["http://atoll.example:8080", "atoll.example:8081", "http://atoll.example:8080"],
    ["https://atoll.example", "atoll.example:8081", "https://atoll.example"],
    ["http://[::1]:8080", "[::1]:8081", "http://[::1]:8080"],
    // Loopback names are one machine.
    ["http://localhost:8080", "127.0.0.1:8081", "http://localhost:8080"],
    ["http://127.0.0.1:8080", "[::1]:8081", "http://127.0.0.1:8080"],
  ];
  for (const [origin, host, expected] of cases) {
    assert.equal(allowedOrigin(origin, host), expected, `${origin} for ${host}`);
  }
});

Deno.test("allowedOrigin() refuses other sites, odd origins and missing headers", () => {
  const cases: [string | null, string | null][] = [
    ["http://evil.example", "127.0.0.1:8081"],
    ["http://evil.example:8081", "atoll.example:8081"],
    ["http://atoll.example.evil.example", "atoll.example:8081"],
    ["null", "127.0.0.1:8081"],
    ["http://127.0.0.1:8080/path", "127.0.0.1:8081"],
    ["http://127.0.0.1:8080; x", "127.0.0.1:8081"],
    ["file://", "127.0.0.1:8081"],
    [null, "127.0.0.1:8081"],
    ["http://127.0.0.1:8080", null],
  ];
  for (const [origin, host] of cases) {
    assert.equal(allowedOrigin(origin, host), undefined, `${origin} for ${host}`);
  }
});
