/**
 * The dashboard at `/`: one self-contained HTML page (inline CSS and
 * script, no external resources, no build step) that polls
 * `GET /api/streams` and `GET /api/connections` every second, plots each
 * connection's bitrate and RTT over the last five minutes on a canvas,
 * closes a connection with `DELETE /api/connections/ID`, and ends a stream,
 * once the user confirms, with `DELETE /api/streams/NAME`.
 *
 * The page, its style and its script are files in the top-level
 * `static/` folder, read here as text imports: they are part of the
 * module graph, so `deno compile` embeds them. The page names its style and
 * script as files beside it, so that it opens as it is in a browser; this
 * module inlines them.
 *
 * The page renders API data with `textContent` only. Its content security
 * policy allows exactly its own inline script and style (by SHA-256 hash)
 * and same-origin fetches, nothing else.
 *
 * @module
 */

import { createHash } from "node:crypto";
import PAGE from "../../static/dashboard.html" with { type: "text" };
import STYLE from "../../static/dashboard.css" with { type: "text" };
import SCRIPT from "../../static/dashboard.js" with { type: "text" };

/**
 * `page` with `reference`, which must appear exactly once, replaced by a
 * `tag` element holding `content`.
 */
function inline(page: string, reference: string, tag: "style" | "script", content: string): string {
  const parts = page.split(reference);
  if (parts.length !== 2) {
    throw new Error(
      `Cannot build the dashboard: dashboard.html has ${reference} ${
        parts.length - 1
      } times, not once`,
    );
  }
  // The element would end early, and what follows would be markup.
  if (content.toLowerCase().includes(`</${tag}`)) {
    throw new Error(`Cannot build the dashboard: its ${tag} contains </${tag}`);
  }
  return parts.join(`<${tag}>${content}</${tag}>`);
}

/** The dashboard page: a complete HTML document with everything inline. */
export const DASHBOARD_HTML: string = inline(
  inline(PAGE, '<link rel="stylesheet" href="dashboard.css">', "style", STYLE),
  '<script src="dashboard.js"></script>',
  "script",
  SCRIPT,
);

function sha256Source(text: string): string {
  return `'sha256-${createHash("sha256").update(text).digest("base64")}'`;
}

let csp: string | undefined;

/**
 * The page's content security policy: nothing but its own inline script and
 * style (by hash, so an injected one would not run) and same-origin fetches.
 * Hashed when the HTTP API starts (`serveHttp()`), or on first use, then kept.
 */
export function dashboardCsp(): string {
  csp ??= [
    "default-src 'none'",
    `script-src ${sha256Source(SCRIPT)}`,
    `style-src ${sha256Source(STYLE)}`,
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
  return csp;
}

/** `GET /`: the dashboard, never cached, under its content security policy. */
export function dashboardResponse(): Response {
  return new Response(DASHBOARD_HTML, {
    headers: {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      "content-security-policy": dashboardCsp(),
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "x-frame-options": "DENY",
    },
  });
}
