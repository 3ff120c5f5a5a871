/**
 * The dashboard at `/`: one self-contained HTML page (inline CSS and
 * script, no external resources, no build step) that polls
 * `GET /api/streams` and `GET /api/connections` every second, plots each
 * connection's bitrate and RTT over the last five minutes on a canvas, and
 * closes a connection with `DELETE /api/connections/ID`.
 *
 * The page renders API data with `textContent` only. Its content security
 * policy allows exactly its own inline script and style (by SHA-256 hash)
 * and same-origin fetches, nothing else.
 *
 * @module
 */

/** How the page looks; colours are custom properties so the canvas plots can read them. */
const STYLE = `
:root {
  color-scheme: light dark;
  --text: #1b1b1b;
  --muted: #555;
  --background: #fff;
  --surface: #f3f4f6;
  --border: #c8ccd2;
  --accent: #1f5fbf;
  --ok: #1d6b32;
  --error: #a4161a;
  --plot-bitrate: #1f5fbf;
  --plot-rtt: #b34700;
  --plot-grid: #d5d8dd;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  line-height: 1.4;
}
@media (prefers-color-scheme: dark) {
  :root {
    --text: #e8e8e8;
    --muted: #aaa;
    --background: #16181c;
    --surface: #22252b;
    --border: #444a53;
    --accent: #7fb0ff;
    --ok: #7bd88f;
    --error: #ff8a80;
    --plot-bitrate: #7fb0ff;
    --plot-rtt: #ffb066;
    --plot-grid: #3a3f47;
  }
}
body { margin: 0 auto; padding: 1rem 1.5rem 2rem; max-width: 110rem; color: var(--text); background: var(--background); }
h1 { font-size: 1.5rem; margin: 0 0 0.75rem; }
h2 { font-size: 1.2rem; margin: 1.5rem 0 0.5rem; }
form { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: center; }
label { font-weight: 600; }
input { font: inherit; padding: 0.3rem 0.5rem; min-width: 18rem; border: 1px solid var(--border); border-radius: 4px; background: var(--background); color: var(--text); }
button { font: inherit; padding: 0.3rem 0.8rem; border: 1px solid var(--border); border-radius: 4px; background: var(--surface); color: var(--text); cursor: pointer; }
button:hover:not(:disabled) { border-color: var(--accent); }
button:disabled { cursor: default; opacity: 0.6; }
button.kick { border-color: var(--error); color: var(--error); }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.hint, .updated, .legend { color: var(--muted); font-size: 0.9rem; margin: 0.25rem 0; }
.message { margin: 0.5rem 0; padding: 0.4rem 0.75rem; border-left: 4px solid var(--border); background: var(--surface); }
.message:empty { display: none; }
.message[data-kind="ok"] { border-color: var(--ok); }
.message[data-kind="error"] { border-color: var(--error); color: var(--error); font-weight: 600; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
caption { text-align: left; }
th, td { padding: 0.3rem 0.5rem; border-bottom: 1px solid var(--border); text-align: left; vertical-align: middle; white-space: nowrap; }
thead th { background: var(--surface); font-size: 0.9rem; white-space: normal; vertical-align: bottom; }
td.number, th.number { text-align: right; }
canvas { display: block; width: 200px; height: 40px; }
.key-bitrate { color: var(--plot-bitrate); font-weight: 600; }
.key-rtt { color: var(--plot-rtt); font-weight: 600; }
[hidden] { display: none !important; }
/* Data from before a failed read stays, dimmed, until the next good one. */
body:not([data-state="live"]) .scroll { opacity: 0.55; }
`;

/** The page's behaviour. Strings from the API only ever reach the DOM through textContent. */
const SCRIPT = `
"use strict";
const POLL_MS = 1000;
const REFUSED_POLL_MS = 5000;
/** The longest a plot spans; a younger connection's spans its whole minutes so far. */
const WINDOW_MS = 5 * 60 * 1000;
const RECENT_VALUES = 10;
const TOKEN_KEY = "atoll.apiToken";
const PLOT_WIDTH = 200;
const PLOT_HEIGHT = 40;

const byId = (id) => document.getElementById(id);
const tokenForm = byId("token-form");
const tokenInput = byId("token");
const forgetButton = byId("forget-token");
const readMessage = byId("read-message");
const actionMessage = byId("action-message");
const updated = byId("updated");
const streamsBody = byId("streams-body");
const streamsEmpty = byId("streams-empty");
const connectionsBody = byId("connections-body");
const connectionsEmpty = byId("connections-empty");

/** Samples per connection id: { at, mbps, rttMs }, the last WINDOW_MS of them. */
const histories = new Map();
const streamRows = new Map();
const connectionRows = new Map();
let token = loadToken();
let readsNeedToken = false;
let timer = 0;
let polling = false;
let pollAgain = false;

function loadToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return "";
  }
}

function saveToken(value) {
  token = value;
  try {
    if (value === "") sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, value);
  } catch {
    // No storage (a sandboxed frame, say): the token lasts until the page is closed.
  }
}

function showMessage(element, kind, text) {
  if (element.textContent === text && element.dataset.kind === kind) return;
  element.dataset.kind = kind;
  element.textContent = text;
}

function shortId(id) {
  return typeof id === "string" ? id.slice(0, 8) : "\\u2013";
}

function number(value, digits) {
  return typeof value === "number" && Number.isFinite(value) ? value.toFixed(digits) : "\\u2013";
}

function count(value) {
  return typeof value === "number" && Number.isFinite(value) ? String(value) : "\\u2013";
}

function text(value) {
  return value === null || value === undefined || value === "" ? "\\u2013" : String(value);
}

async function api(method, path, withToken) {
  const headers = {};
  if (withToken && token !== "") headers.authorization = "Bearer " + token;
  // A server that stalls without closing must show as an error, not as stale "live" data.
  const response = await fetch(path, {
    method,
    headers,
    cache: "no-store",
    credentials: "omit",
    signal: AbortSignal.timeout(5000),
  });
  const body = await response.text();
  let json = null;
  try {
    json = JSON.parse(body);
  } catch {
    // Not JSON: errorText() shows the text.
  }
  return { status: response.status, ok: response.ok, json, body };
}

function errorText(result) {
  if (result.json !== null && typeof result.json === "object" && typeof result.json.error === "string") {
    return result.json.error;
  }
  const body = result.body.trim().slice(0, 200);
  return "HTTP " + result.status + (body === "" ? "" : ": " + body);
}

function pollSoon() {
  if (polling) {
    pollAgain = true;
    return;
  }
  clearTimeout(timer);
  poll();
}

async function poll() {
  polling = true;
  let delay = POLL_MS;
  try {
    delay = await refresh();
  } catch (error) {
    document.body.dataset.state = "error";
    showMessage(readMessage, "error", "Atoll is not answering: " + (error && error.message ? error.message : String(error)));
  } finally {
    polling = false;
    timer = setTimeout(poll, pollAgain ? 0 : delay);
    pollAgain = false;
  }
}

/** Reads and shows streams and connections; returns how long to wait before the next read. */
async function refresh() {
  const withToken = readsNeedToken;
  const [streams, connections] = await Promise.all([
    api("GET", "/api/streams", withToken),
    api("GET", "/api/connections", withToken),
  ]);
  const refused = [streams, connections].find((r) => r.status === 401 || r.status === 403);
  if (refused !== undefined) {
    readsNeedToken = true;
    // Reads need the token here: ask again with it at once.
    if (!withToken && token !== "") return 0;
    document.body.dataset.state = "needs-token";
    showMessage(
      readMessage,
      "error",
      token === ""
        ? "This Atoll needs the API token to show anything: enter it above. (" + errorText(refused) + ")"
        : "Atoll refused the API token: " + errorText(refused),
    );
    // Asking again every second would only fill the log; a new token asks at once.
    return REFUSED_POLL_MS;
  }
  const failed = [streams, connections].find((r) => !r.ok || !Array.isArray(r.json));
  if (failed !== undefined) {
    document.body.dataset.state = "error";
    showMessage(readMessage, "error", "Atoll answered " + failed.status + ": " + errorText(failed));
    return POLL_MS;
  }
  const now = Date.now();
  renderStreams(streams.json);
  renderConnections(connections.json, now);
  document.body.dataset.state = "live";
  showMessage(readMessage, "ok", "Live: updating every second.");
  updated.textContent = "Last update " + new Date(now).toLocaleTimeString() + ": " +
    streams.json.length + " stream(s), " + connections.json.length + " connection(s).";
  return POLL_MS;
}

/** Puts rows in the order of \`wanted\`, moving only those out of place (a moved row loses focus). */
function order(body, wanted) {
  wanted.forEach((row, index) => {
    if (body.children[index] !== row) body.insertBefore(row, body.children[index] || null);
  });
}

function cell(row, kind, className) {
  const element = document.createElement(kind);
  if (className) element.className = className;
  row.append(element);
  return element;
}

function renderStreams(streams) {
  const seen = new Set();
  const wanted = [];
  const sorted = streams.filter((s) => s && typeof s.name === "string")
    .sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  for (const stream of sorted) {
    seen.add(stream.name);
    let entry = streamRows.get(stream.name);
    if (entry === undefined) {
      const row = document.createElement("tr");
      row.dataset.stream = stream.name;
      const name = cell(row, "th");
      name.scope = "row";
      entry = {
        row,
        name,
        publisher: cell(row, "td"),
        viewers: cell(row, "td", "number"),
        waiting: cell(row, "td", "number"),
        bitrate: cell(row, "td", "number"),
        raps: cell(row, "td", "number"),
        skips: cell(row, "td", "number"),
      };
      streamRows.set(stream.name, entry);
    }
    entry.name.textContent = stream.name;
    entry.publisher.textContent = stream.publisher ? shortId(stream.publisher) : "none";
    entry.publisher.title = stream.publisher ? String(stream.publisher) : "";
    entry.viewers.textContent = count(stream.viewers);
    entry.waiting.textContent = count(stream.waiting);
    entry.bitrate.textContent = number(stream.bitrateIn / 1e6, 2);
    entry.raps.textContent = count(stream.randomAccessPoints);
    entry.skips.textContent = count(stream.viewerSkips);
    wanted.push(entry.row);
  }
  for (const [name, entry] of streamRows) {
    if (!seen.has(name)) {
      entry.row.remove();
      streamRows.delete(name);
    }
  }
  order(streamsBody, wanted);
  streamsEmpty.hidden = wanted.length > 0;
}

function createConnectionRow(id) {
  const row = document.createElement("tr");
  row.dataset.connectionId = id;
  const idCell = cell(row, "th");
  idCell.scope = "row";
  const code = document.createElement("code");
  idCell.append(code);
  const entry = {
    row,
    id: code,
    idCell,
    mode: cell(row, "td"),
    stream: cell(row, "td"),
    peer: cell(row, "td"),
    state: cell(row, "td"),
    encrypted: cell(row, "td"),
    mbpsIn: cell(row, "td", "number"),
    mbpsOut: cell(row, "td", "number"),
    rtt: cell(row, "td", "number"),
    lost: cell(row, "td", "number"),
    skips: cell(row, "td", "number"),
    p99: cell(row, "td", "number"),
    canvas: document.createElement("canvas"),
    button: document.createElement("button"),
    kicking: false,
  };
  entry.canvas.dataset.connectionId = id;
  entry.canvas.setAttribute("role", "img");
  cell(row, "td").append(entry.canvas);
  entry.button.type = "button";
  entry.button.className = "kick";
  entry.button.textContent = "Kick";
  entry.button.dataset.connectionId = id;
  entry.button.setAttribute("aria-label", "Kick connection " + id);
  entry.button.addEventListener("click", () => kick(id, entry));
  cell(row, "td").append(entry.button);
  return entry;
}

function renderConnections(connections, now) {
  const seen = new Set();
  const wanted = [];
  const sorted = connections.filter((c) => c && typeof c.id === "string")
    .sort((a, b) => String(a.startedAt) < String(b.startedAt) ? -1 : String(a.startedAt) > String(b.startedAt) ? 1 : 0);
  for (const connection of sorted) {
    const id = connection.id;
    seen.add(id);
    let entry = connectionRows.get(id);
    if (entry === undefined) {
      entry = createConnectionRow(id);
      connectionRows.set(id, entry);
    }
    const publisher = connection.mode === "publish";
    const viewer = connection.viewer && typeof connection.viewer === "object" ? connection.viewer : null;
    entry.id.textContent = shortId(id);
    entry.idCell.title = id;
    entry.mode.textContent = publisher ? "publisher" : connection.mode === "play" ? "viewer" : text(connection.mode);
    entry.stream.textContent = text(connection.stream !== null ? connection.stream : connection.streamId);
    entry.peer.textContent = text(connection.peer);
    entry.state.textContent = text(connection.state);
    entry.encrypted.textContent = connection.encrypted ? "yes" : "no";
    entry.mbpsIn.textContent = number(connection.mbpsReceiveRate, 2);
    entry.mbpsOut.textContent = number(connection.mbpsSendRate, 2);
    entry.rtt.textContent = number(connection.rttMs, connection.rttMs < 10 ? 2 : 1);
    entry.lost.textContent = count(connection.packetsLost) + " / " + count(connection.packetsRetransmitted);
    entry.skips.textContent = viewer ? count(viewer.skips) : "\\u2013";
    entry.p99.textContent = viewer && viewer.latency && viewer.latency.samples > 0
      ? number(viewer.latency.p99Ms, 1)
      : "\\u2013";
    let samples = histories.get(id);
    if (samples === undefined) {
      samples = [];
      histories.set(id, samples);
    }
    const mbps = publisher ? connection.mbpsReceiveRate : connection.mbpsSendRate;
    samples.push({
      at: now,
      mbps: typeof mbps === "number" && Number.isFinite(mbps) ? mbps : 0,
      rttMs: typeof connection.rttMs === "number" && Number.isFinite(connection.rttMs) ? connection.rttMs : 0,
    });
    while (samples.length > 0 && samples[0].at < now - WINDOW_MS) samples.shift();
    drawPlot(entry.canvas, samples, now, publisher ? "received" : "sent");
    wanted.push(entry.row);
  }
  for (const [id, entry] of connectionRows) {
    if (!seen.has(id)) {
      entry.row.remove();
      connectionRows.delete(id);
    }
  }
  for (const id of histories.keys()) {
    if (!seen.has(id)) histories.delete(id);
  }
  order(connectionsBody, wanted);
  connectionsEmpty.hidden = wanted.length > 0;
}

function plotColors() {
  const style = getComputedStyle(document.documentElement);
  const read = (name, fallback) => style.getPropertyValue(name).trim() || fallback;
  return {
    bitrate: read("--plot-bitrate", "#1f5fbf"),
    rtt: read("--plot-rtt", "#b34700"),
    grid: read("--plot-grid", "#d5d8dd"),
    muted: read("--muted", "#555"),
  };
}

function drawLine(context, samples, pick, peak, now, spanMs, color, dash) {
  const x = (sample) => PLOT_WIDTH - ((now - sample.at) / spanMs) * PLOT_WIDTH;
  const y = (sample) => PLOT_HEIGHT - 2 - (pick(sample) / peak) * (PLOT_HEIGHT - 14);
  context.strokeStyle = color;
  context.fillStyle = color;
  context.lineWidth = 1.5;
  context.setLineDash(dash);
  if (samples.length === 1) {
    context.fillRect(x(samples[0]) - 2, y(samples[0]) - 1, 2, 2);
  } else {
    context.beginPath();
    samples.forEach((sample, index) => {
      if (index === 0) context.moveTo(x(sample), y(sample));
      else context.lineTo(x(sample), y(sample));
    });
    context.stroke();
  }
  context.setLineDash([]);
}

/**
 * Draws bitrate (solid) and RTT (dashed), each scaled to its own peak,
 * newest at the right. The plot spans the whole minutes the samples cover,
 * one to five, so a new connection's line is not a sliver at the edge.
 */
function drawPlot(canvas, samples, now, direction) {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.round(PLOT_WIDTH * ratio);
  const height = Math.round(PLOT_HEIGHT * ratio);
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const first = samples[0];
  const minutes = Math.min(WINDOW_MS / 60000, Math.max(1, Math.ceil((now - (first ? first.at : now)) / 60000)));
  const spanMs = minutes * 60000;
  const gridMs = minutes === 1 ? 15000 : 60000;
  const context = canvas.getContext("2d");
  const colors = plotColors();
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  context.clearRect(0, 0, PLOT_WIDTH, PLOT_HEIGHT);
  context.strokeStyle = colors.grid;
  context.lineWidth = 1;
  context.beginPath();
  for (let at = gridMs; at < spanMs; at += gridMs) {
    const x = Math.round(PLOT_WIDTH - (at / spanMs) * PLOT_WIDTH) + 0.5;
    context.moveTo(x, 12);
    context.lineTo(x, PLOT_HEIGHT);
  }
  context.moveTo(0, PLOT_HEIGHT - 1.5);
  context.lineTo(PLOT_WIDTH, PLOT_HEIGHT - 1.5);
  context.stroke();
  let peakMbps = 0;
  let peakRtt = 0;
  for (const sample of samples) {
    peakMbps = Math.max(peakMbps, sample.mbps);
    peakRtt = Math.max(peakRtt, sample.rttMs);
  }
  drawLine(context, samples, (s) => s.mbps, peakMbps || 1, now, spanMs, colors.bitrate, []);
  drawLine(context, samples, (s) => s.rttMs, peakRtt || 1, now, spanMs, colors.rtt, [3, 2]);
  context.font = "10px system-ui, sans-serif";
  context.textBaseline = "top";
  context.fillStyle = colors.bitrate;
  context.textAlign = "left";
  context.fillText(peakMbps.toFixed(2) + " Mb/s", 1, 0);
  context.fillStyle = colors.rtt;
  context.textAlign = "right";
  context.fillText(peakRtt.toFixed(peakRtt < 10 ? 2 : 1) + " ms", PLOT_WIDTH - 1, 0);
  context.textAlign = "center";
  context.fillStyle = colors.muted;
  context.fillText(minutes + " min", PLOT_WIDTH / 2, 0);
  const last = samples[samples.length - 1];
  canvas.dataset.points = String(samples.length);
  canvas.dataset.spanMs = String(spanMs);
  canvas.dataset.lastMbps = String(last ? last.mbps : 0);
  canvas.dataset.lastRttMs = String(last ? last.rttMs : 0);
  canvas.dataset.peakMbps = String(peakMbps);
  canvas.dataset.peakRttMs = String(peakRtt);
  canvas.dataset.recentMbps = samples.slice(-RECENT_VALUES).map((s) => s.mbps).join(" ");
  canvas.setAttribute(
    "aria-label",
    "Bitrate " + direction + " and RTT over the last " + minutes + " minute(s): now " +
      (last ? last.mbps.toFixed(2) : "0") + " Mbit/s (peak " + peakMbps.toFixed(2) + "), RTT " +
      (last ? last.rttMs.toFixed(2) : "0") + " ms (peak " + peakRtt.toFixed(2) + ")",
  );
}

async function kick(id, entry) {
  if (entry.kicking) return;
  entry.kicking = true;
  entry.button.disabled = true;
  showMessage(actionMessage, "info", "Kicking connection " + id + "\\u2026");
  let done = false;
  try {
    const result = await api("DELETE", "/api/connections/" + encodeURIComponent(id), true);
    if (result.status === 202) {
      done = true;
      entry.button.textContent = "Closing\\u2026";
      showMessage(actionMessage, "ok", "Connection " + id + " is being closed.");
    } else {
      const hint = result.status === 401 && token === "" ? " Enter the API token above." : "";
      showMessage(actionMessage, "error", "Could not kick connection " + id + ": " + errorText(result) + hint);
    }
  } catch (error) {
    showMessage(actionMessage, "error", "Could not kick connection " + id + ": " + (error && error.message ? error.message : String(error)));
  } finally {
    if (!done) {
      entry.kicking = false;
      entry.button.disabled = false;
    }
    pollSoon();
  }
}

tokenInput.value = token;
tokenForm.addEventListener("submit", (event) => {
  event.preventDefault();
  saveToken(tokenInput.value.trim());
  showMessage(actionMessage, "ok", token === "" ? "No API token set." : "API token set for this tab.");
  pollSoon();
});
forgetButton.addEventListener("click", () => {
  tokenInput.value = "";
  saveToken("");
  readsNeedToken = false;
  showMessage(actionMessage, "ok", "API token forgotten.");
  pollSoon();
});
poll();
`;

const BODY = `
<header>
<h1>Atoll</h1>
<form id="token-form" autocomplete="off">
<label for="token">API token</label>
<input id="token" name="token" type="password" spellcheck="false" autocomplete="off" aria-describedby="token-hint">
<button type="submit">Use token</button>
<button type="button" id="forget-token">Forget</button>
</form>
<p class="hint" id="token-hint">Needed to kick connections, and to read anything when Atoll is configured with <code>apiTokenForReads</code>. Kept in this tab only (sessionStorage).</p>
<p class="message" id="read-message" role="status" aria-live="polite"></p>
<p class="message" id="action-message" role="status" aria-live="polite"></p>
<p class="updated" id="updated"></p>
</header>
<main>
<section aria-labelledby="streams-title">
<h2 id="streams-title">Streams</h2>
<div class="scroll" role="region" aria-labelledby="streams-title" tabindex="0">
<table id="streams">
<thead><tr>
<th scope="col">Name</th>
<th scope="col">Publisher</th>
<th scope="col" class="number">Viewers</th>
<th scope="col" class="number">Waiting</th>
<th scope="col" class="number">Bitrate in (Mbit/s)</th>
<th scope="col" class="number">Random-access points</th>
<th scope="col" class="number">Viewer skips</th>
</tr></thead>
<tbody id="streams-body"></tbody>
</table>
</div>
<p id="streams-empty" class="hint" hidden>No streams.</p>
</section>
<section aria-labelledby="connections-title">
<h2 id="connections-title">Connections</h2>
<p class="legend">Plots: <span class="key-bitrate">solid line, bitrate</span> (received for publishers, sent for viewers) and <span class="key-rtt">dashed line, RTT</span> over the last minutes (up to 5, span shown at the top), newest at the right, each scaled to the peak shown above it.</p>
<div class="scroll" role="region" aria-labelledby="connections-title" tabindex="0">
<table id="connections">
<thead><tr>
<th scope="col">Id</th>
<th scope="col">Mode</th>
<th scope="col">Stream</th>
<th scope="col">Peer</th>
<th scope="col">State</th>
<th scope="col">Encrypted</th>
<th scope="col" class="number">In (Mbit/s)</th>
<th scope="col" class="number">Out (Mbit/s)</th>
<th scope="col" class="number">RTT (ms)</th>
<th scope="col" class="number">Lost / retransmitted</th>
<th scope="col" class="number">Skips</th>
<th scope="col" class="number">Server latency p99 (ms)</th>
<th scope="col">Bitrate and RTT</th>
<th scope="col">Action</th>
</tr></thead>
<tbody id="connections-body"></tbody>
</table>
</div>
<p id="connections-empty" class="hint" hidden>No connections.</p>
</section>
</main>
`;

/** The dashboard page: a complete HTML document with everything inline. */
export const DASHBOARD_HTML: string = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Atoll</title>
<style>${STYLE}</style>
</head>
<body data-state="loading">
${BODY}
<script>${SCRIPT}</script>
</body>
</html>
`;

async function sha256Source(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return `'sha256-${btoa(String.fromCharCode(...new Uint8Array(digest)))}'`;
}

/**
 * The page's content security policy: nothing but its own inline script and
 * style (by hash, so an injected one would not run) and same-origin fetches.
 */
export const DASHBOARD_CSP: string = [
  "default-src 'none'",
  `script-src ${await sha256Source(SCRIPT)}`,
  `style-src ${await sha256Source(STYLE)}`,
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** `GET /`: the dashboard, never cached, under its content security policy. */
export function dashboardResponse(): Response {
  return new Response(DASHBOARD_HTML, {
    headers: {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      "content-security-policy": DASHBOARD_CSP,
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "x-frame-options": "DENY",
    },
  });
}
