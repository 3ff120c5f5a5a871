import assert from "node:assert/strict";
import { checkMediaSignature, sameText, signMediaUrl } from "./media_signature.ts";

/** The scheme computed here on its own, from WebCrypto, as a reader of the README would. */
async function independentSignature(passphrase: string, message: string): Promise<string> {
  const bytes = (text: string) => new TextEncoder().encode(text);
  const keyBytes = await crypto.subtle.digest("SHA-256", bytes("atoll-media-url\n" + passphrase));
  const key = await crypto.subtle.importKey(
    "raw",
    keyBytes,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, bytes(message)));
  return [...mac].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

Deno.test("signMediaUrl() signs NAME\\nEXPIRES with the passphrase's derived key", async () => {
  for (
    const [passphrase, name, expires] of [
      ["0123456789abcdef", "live/cam1", 1_800_000_000],
      ["another passphrase", "a", 0],
      ["ünïcode pass phrase", "x-y_z.1", 4_102_444_800],
    ] as const
  ) {
    assert.equal(
      await signMediaUrl(passphrase, name, expires),
      await independentSignature(passphrase, `${name}\n${expires}`),
    );
  }
});

Deno.test("checkMediaSignature() accepts a good one and refuses wrong, expired and malformed", async () => {
  const pass = "0123456789abcdef";
  const sig = await signMediaUrl(pass, "cam", 1000);
  const cases: [string, string, string, number, string | undefined][] = [
    ["cam", "1000", sig, 999, undefined],
    ["cam", "1000", sig.toUpperCase(), 999, undefined],
    ["cam", "1000", sig, 1000, "expired"],
    ["cam", "1001", sig, 999, "wrong"],
    ["other", "1000", sig, 999, "wrong"],
    ["cam", "1000", "0".repeat(64), 999, "wrong"],
    ["cam", "1000", sig.slice(2), 999, "malformed"],
    ["cam", "-1", sig, 999, "malformed"],
    ["cam", "01000", sig, 999, "malformed"],
    ["cam", "1e3", sig, 999, "malformed"],
  ];
  for (const [name, expires, signature, now, expected] of cases) {
    assert.equal(
      await checkMediaSignature(pass, name, { expires, sig: signature }, now),
      expected,
      `${name} ${expires} ${signature} at ${now}`,
    );
  }
  assert.equal(
    await checkMediaSignature("other pass", "cam", { expires: "1000", sig }, 999),
    "wrong",
  );
});

Deno.test("sameText() compares whole strings", () => {
  assert.equal(sameText("abc", "abc"), true);
  assert.equal(sameText("abc", "abd"), false);
  assert.equal(sameText("abc", "abcd"), false);
  assert.equal(sameText("", ""), true);
});
