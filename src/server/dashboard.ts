/**
 * The dashboard at `/`: one HTML page (inline CSS and script, no build
 * step, nothing from elsewhere) that polls `GET /api/streams` and
 * `GET /api/connections` every second, plots each connection's bitrate and
 * RTT over the last five minutes on a canvas, closes a connection with
 * `DELETE /api/connections/ID`, ends a stream, once the user confirms, with
 * `DELETE /api/streams/NAME`, and previews a stream's HLS from the media
 * port (loading hls.js from this server on the first Play).
 *
 * The page, its style and its script are files in the top-level
 * `static/` folder, read here as text imports: they are part of the
 * module graph, so `deno compile` embeds them. The page names its style and
 * script as files beside it, so that it opens as it is in a browser; this
 * module inlines them.
 *
 * The page renders API data with `textContent` only. Its content security
 * policy allows exactly its own inline script and style (by SHA-256 hash),
 * the scripts that script adds ('strict-dynamic': hls.js, for the preview),
 * same-origin fetches, and HLS from the media port, nothing else.
 *
 * The preview plays a stream's HLS with hls.js, an npm package imported
 * here as text (so fetched and cached with the rest of the module graph)
 * and served at {@link HLS_JS_PATH}, a path that names
 * its version, so that browsers may keep it for long.
 *
 * @module
 */

import { createHash } from "node:crypto";
import PAGE from "../../static/dashboard.html" with { type: "text" };
import STYLE from "../../static/dashboard.css" with { type: "text" };
import SCRIPT from "../../static/dashboard.js" with { type: "text" };
// The light build: HLS without subtitles, alternate audio or DRM, which a preview does not need.
// Full specifier, not the import map: projects that embed Atoll do not have its deno.json.
// deno-lint-ignore no-import-prefix
import HLS_JS from "npm:hls.js@1.7.4/dist/hls.light.min.js" with { type: "text" };

/** The version of hls.js in the import above (exactly: the path below names it). */
export const HLS_JS_VERSION = "1.7.4";
/** Where the API serves hls.js: the page loads it from there when a preview opens. */
export const HLS_JS_PATH = `/static/hls-${HLS_JS_VERSION}.light.min.js`;

/**
 * `page` with `reference`, which must appear exactly once, replaced by a
 * `tag` element holding `content`.
 */
function inline(page: string, reference: string, tag: "style" | "script", content: string): string {
  // The element would end early, and what follows would be markup.
  if (content.toLowerCase().includes(`</${tag}`)) {
    throw new Error(`Cannot build the dashboard: its ${tag} contains </${tag}`);
  }
  return replaceOnce(page, reference, `<${tag}>${content}</${tag}>`);
}

/** `page` with `reference`, which must appear exactly once, replaced by `replacement`. */
function replaceOnce(page: string, reference: string, replacement: string): string {
  const parts = page.split(reference);
  if (parts.length !== 2) {
    throw new Error(
      `Cannot build the dashboard: dashboard.html has ${reference} ${
        parts.length - 1
      } times, not once`,
    );
  }
  return parts.join(replacement);
}

/** The dashboard page: a complete HTML document with everything inline. */
export const DASHBOARD_HTML: string = replaceOnce(
  inline(
    inline(PAGE, '<link rel="stylesheet" href="dashboard.css">', "style", STYLE),
    '<script src="dashboard.js"></script>',
    "script",
    SCRIPT,
  ),
  // The page names hls.js as a file beside it; the API serves it at a path of its own.
  'data-hls-script="hls.light.min.js"',
  `data-hls-script="${HLS_JS_PATH}"`,
);

function sha256Source(text: string): string {
  return `'sha256-${createHash("sha256").update(text).digest("base64")}'`;
}

let hashes: { script: string; style: string } | undefined;

/**
 * The page's content security policy: nothing but its own inline script and
 * style (by hash, so an injected one would not run), the scripts its script
 * adds (hls.js), same-origin fetches, and, with `mediaOrigin`
 * (`http://HOST:PORT` of the media port, as the page's user reaches it),
 * HLS from there: fetched by hls.js, played from the `blob:` URL of a media
 * source, or played by the browser itself.
 * Hashed when the HTTP API starts (`serveHttp()`), or on first use, then kept.
 */
export function dashboardCsp(mediaOrigin?: string): string {
  hashes ??= { script: sha256Source(SCRIPT), style: sha256Source(STYLE) };
  // Only a plain origin: it goes into a header whose parts `;` and spaces separate.
  const media = mediaOrigin !== undefined &&
      /^http:\/\/(\[[0-9a-f:.]+\]|[a-z0-9._-]+):[0-9]{1,5}$/i.test(mediaOrigin)
    ? mediaOrigin
    : undefined;
  return [
    "default-src 'none'",
    `script-src ${hashes.script} 'strict-dynamic'`,
    `style-src ${hashes.style}`,
    media === undefined ? "connect-src 'self'" : `connect-src 'self' ${media}`,
    media === undefined ? "media-src 'none'" : `media-src ${media} blob:`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/**
 * `GET /`: the dashboard, never cached, under its content security policy;
 * `mediaOrigin` as for {@link dashboardCsp}.
 */
export function dashboardResponse(mediaOrigin?: string): Response {
  return new Response(DASHBOARD_HTML, {
    headers: {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      "content-security-policy": dashboardCsp(mediaOrigin),
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "x-frame-options": "DENY",
    },
  });
}

/**
 * `GET` {@link HLS_JS_PATH}: hls.js as the npm package has it. Its path
 * names its version, so browsers may keep it for a year.
 */
export function hlsScriptResponse(): Response {
  return new Response(HLS_JS, {
    headers: {
      "content-type": "text/javascript; charset=utf-8",
      "cache-control": "public, max-age=31536000, immutable",
      "x-content-type-options": "nosniff",
    },
  });
}
