import assert from "node:assert/strict";
import { AddressCookies, COOKIE_PERIOD_MS, hmacCookie } from "./address_cookie.ts";

const SECRET = new TextEncoder().encode("0123456789abcdef0123456789abcdef");
const PEER = "127.0.0.1:5000";

Deno.test("hmacCookie() is the first 4 bytes of HMAC-SHA256 (RFC 4231 test case 2)", () => {
  // Key "Jefe", data "what do ya want for nothing?": 5bdcc146bf60754e...
  assert.equal(
    hmacCookie(new TextEncoder().encode("Jefe"), "what do ya want for nothing?"),
    0x5bdcc146,
  );
});

Deno.test("AddressCookies accepts this and the previous period's cookie, and nothing older", () => {
  const cookies = new AddressCookies(SECRET);
  const issued = 10 * COOKIE_PERIOD_MS + 59_000;
  const cookie = cookies.cookieFor(PEER, issued);
  assert.equal(cookies.verify(PEER, cookie, issued), true);
  assert.equal(cookies.verify(PEER, cookie, issued + 1000), true, "the next period");
  assert.equal(cookies.verify(PEER, cookie, issued + COOKIE_PERIOD_MS + 1000), false, "too old");
  assert.equal(cookies.verify(PEER, cookie ^ 1, issued), false);
});

Deno.test("AddressCookies binds the cookie to the peer's address and port, and to the secret", () => {
  const cookies = new AddressCookies(SECRET);
  const cookie = cookies.cookieFor(PEER, 0);
  for (const other of ["127.0.0.1:5001", "127.0.0.2:5000", "[::1]:5000"]) {
    assert.equal(cookies.verify(other, cookie, 0), false, other);
  }
  const otherSecret = new AddressCookies(SECRET.map((byte) => byte ^ 0xff));
  assert.equal(otherSecret.verify(PEER, cookie, 0), false);
  assert.notEqual(
    AddressCookies.random().cookieFor(PEER, 0),
    AddressCookies.random().cookieFor(PEER, 0),
  );
});

Deno.test("AddressCookies refuses a short secret", () => {
  assert.throws(() => new AddressCookies(new Uint8Array(15)), /16 bytes or more, got 15/);
});
