import assert from "node:assert/strict";
import {
  DASHBOARD_HTML,
  dashboardCsp,
  dashboardResponse,
  HLS_JS_PATH,
  HLS_JS_VERSION,
  hlsScriptResponse,
} from "./dashboard.ts";

const DASHBOARD_CSP = dashboardCsp();

/** The text between `<tag>` and `</tag>`, for each such element. */
function elements(tag: string): string[] {
  return [...DASHBOARD_HTML.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, "g"))]
    .map((match) => match[1]!);
}

async function sha256Source(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return `'sha256-${btoa(String.fromCharCode(...new Uint8Array(digest)))}'`;
}

function directives(policy: string): Map<string, string[]> {
  return new Map(
    policy.split(";").map((part) => part.trim().split(/\s+/)).map((
      [name, ...values],
    ) => [name!, values]),
  );
}

Deno.test("DASHBOARD_HTML loads nothing from elsewhere", () => {
  const forbidden: [string, RegExp][] = [
    ["an absolute URL", /https?:/i],
    [
      "a protocol-relative or absolute src/href/action",
      /\b(?:src|href|action)\s*=\s*["']?\s*\S*\/\//i,
    ],
    ["an external script", /<script\s[^>]*src/i],
    ["a stylesheet link", /<link\b/i],
    ["a CSS import or url()", /@import|url\(/i],
    ["an iframe, image or object", /<(?:iframe|img|object|embed)\b/i],
  ];
  for (const [what, pattern] of forbidden) {
    assert.doesNotMatch(DASHBOARD_HTML, pattern, `the page has ${what}`);
  }
});

Deno.test("DASHBOARD_HTML renders API data as text, never as markup", () => {
  const [script] = elements("script");
  assert.ok(script !== undefined);
  const forbidden: [string, RegExp][] = [
    ["innerHTML", /innerHTML/],
    ["outerHTML", /outerHTML/],
    ["insertAdjacentHTML", /insertAdjacentHTML/],
    ["document.write", /document\.write/],
    ["eval", /\beval\(|new Function/],
  ];
  for (const [what, pattern] of forbidden) {
    assert.doesNotMatch(script, pattern, `the script uses ${what}`);
  }
  assert.match(script, /\.textContent = /);
});

Deno.test("DASHBOARD_HTML is one document with one inline script and style the policy allows", async () => {
  assert.match(DASHBOARD_HTML, /^<!doctype html>\n<html lang="en">/);
  assert.match(DASHBOARD_HTML, /<meta charset="utf-8">/);
  const scripts = elements("script");
  const styles = elements("style");
  assert.equal(scripts.length, 1);
  assert.equal(styles.length, 1);
  // Inline handlers and style attributes would be blocked by the policy.
  assert.doesNotMatch(DASHBOARD_HTML, /<[^>]+\son\w+\s*=/i);
  assert.doesNotMatch(DASHBOARD_HTML, /<[^>]+\sstyle\s*=/i);
  // The script at least parses (the browser test runs it).
  assert.doesNotThrow(() => new Function(scripts[0]!));
  const policy = directives(DASHBOARD_CSP);
  // 'strict-dynamic': the scripts that script adds (hls.js) run, and no other.
  assert.deepEqual(policy.get("script-src"), [
    await sha256Source(scripts[0]!),
    "'strict-dynamic'",
  ]);
  assert.deepEqual(policy.get("style-src"), [await sha256Source(styles[0]!)]);
});

Deno.test("dashboardResponse() serves the page uncached under a strict content security policy", async () => {
  const response = dashboardResponse();
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "text/html; charset=utf-8");
  assert.equal(response.headers.get("cache-control"), "no-store");
  assert.equal(response.headers.get("x-content-type-options"), "nosniff");
  const csp = response.headers.get("content-security-policy");
  assert.equal(csp, DASHBOARD_CSP);
  const policy = directives(csp!);
  assert.deepEqual(policy.get("default-src"), ["'none'"]);
  assert.deepEqual(policy.get("connect-src"), ["'self'"]);
  assert.deepEqual(policy.get("media-src"), ["'none'"]);
  assert.deepEqual(policy.get("base-uri"), ["'none'"]);
  assert.deepEqual(policy.get("form-action"), ["'none'"]);
  assert.deepEqual(policy.get("frame-ancestors"), ["'none'"]);
  assert.doesNotMatch(csp!, /unsafe-inline|unsafe-eval|\*|https?:|data:/);
  assert.equal(await response.text(), DASHBOARD_HTML);
});

Deno.test("DASHBOARD_HTML inlines static/dashboard.css and static/dashboard.js as they are", async () => {
  const read = (file: string) =>
    Deno.readTextFile(new URL(`../../static/${file}`, import.meta.url));
  assert.deepEqual(elements("style"), [await read("dashboard.css")]);
  assert.deepEqual(elements("script"), [await read("dashboard.js")]);
});

Deno.test("dashboardResponse() lets the preview read HLS from the media port it is given, nothing else", () => {
  const policy = directives(
    dashboardResponse("http://127.0.0.1:8081").headers.get("content-security-policy")!,
  );
  assert.deepEqual(policy.get("connect-src"), ["'self'", "http://127.0.0.1:8081"]);
  // hls.js plays from a media source's blob: URL; the browser's own HLS from the port.
  assert.deepEqual(policy.get("media-src"), ["http://127.0.0.1:8081", "blob:"]);
  assert.deepEqual(
    directives(dashboardCsp("http://[::1]:8081")).get("connect-src"),
    ["'self'", "http://[::1]:8081"],
  );
  // Anything but a plain origin stays out of the header.
  for (const odd of ["http://a:1; script-src *", "http://a:1 *", "https://a", "http://a"]) {
    const oddPolicy = directives(dashboardCsp(odd));
    assert.deepEqual(oddPolicy.get("connect-src"), ["'self'"], odd);
    assert.deepEqual(oddPolicy.get("media-src"), ["'none'"], odd);
  }
});

Deno.test("hlsScriptResponse() serves the pinned hls.js as script, cached for long at a path that names its version", async () => {
  assert.ok(HLS_JS_PATH.includes(HLS_JS_VERSION));
  assert.ok(DASHBOARD_HTML.includes(`data-hls-script="${HLS_JS_PATH}"`));
  const response = hlsScriptResponse();
  assert.equal(response.headers.get("content-type"), "text/javascript; charset=utf-8");
  assert.equal(response.headers.get("cache-control"), "public, max-age=31536000, immutable");
  assert.equal(response.headers.get("x-content-type-options"), "nosniff");
  const script = await response.text();
  // The version the path names is the one served, and it defines the Hls global.
  assert.ok(script.includes(`"${HLS_JS_VERSION}"`), "hls.js names another version");
  assert.match(script, /\.Hls=/);
  assert.doesNotThrow(() => new Function(script));
});
