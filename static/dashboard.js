/**
 * The dashboard's behaviour: polls `GET /api/streams` and
 * `GET /api/connections` every second, plots each connection's bitrate and
 * RTT, shows what its process costs (CPU, memory), and kicks a connection with `DELETE /api/connections/ID`. Strings
 * from the API only ever reach the DOM through textContent.
 *
 * A classic script, inlined into dashboard.html by src/server/dashboard.ts.
 * `deno check` checks it against these JSDoc types and the API's own
 * response types, with the DOM library (see ./deno.json).
 */
"use strict";

/** @typedef {import("../src/server/api_types.ts").ConnectionInfo} ConnectionInfo */
/** @typedef {import("../src/server/api_types.ts").StreamInfo} StreamInfo */
/** @typedef {{ status: number, ok: boolean, json: unknown, body: string }} ApiResult */
/** @typedef {{ at: number, mbps: number, rttMs: number }} Sample */
/**
 * @typedef {{
 *   row: HTMLTableRowElement,
 *   name: HTMLTableCellElement,
 *   publisher: HTMLTableCellElement,
 *   viewers: HTMLTableCellElement,
 *   waiting: HTMLTableCellElement,
 *   bitrate: HTMLTableCellElement,
 *   raps: HTMLTableCellElement,
 *   skips: HTMLTableCellElement,
 * }} StreamRow
 */
/**
 * @typedef {{
 *   row: HTMLTableRowElement,
 *   id: HTMLElement,
 *   idCell: HTMLTableCellElement,
 *   mode: HTMLTableCellElement,
 *   stream: HTMLTableCellElement,
 *   peer: HTMLTableCellElement,
 *   state: HTMLTableCellElement,
 *   encrypted: HTMLTableCellElement,
 *   mbpsIn: HTMLTableCellElement,
 *   mbpsOut: HTMLTableCellElement,
 *   rtt: HTMLTableCellElement,
 *   lost: HTMLTableCellElement,
 *   skips: HTMLTableCellElement,
 *   p99: HTMLTableCellElement,
 *   cpu: HTMLTableCellElement,
 *   privateDirty: HTMLTableCellElement,
 *   pss: HTMLTableCellElement,
 *   canvas: HTMLCanvasElement,
 *   button: HTMLButtonElement,
 *   kicking: boolean,
 * }} ConnectionRow
 */

const POLL_MS = 1000;
const REFUSED_POLL_MS = 5000;
/** The longest a plot spans; a younger connection's spans its whole minutes so far. */
const WINDOW_MS = 5 * 60 * 1000;
const RECENT_VALUES = 10;
const TOKEN_KEY = "atoll.apiToken";
const PLOT_WIDTH = 200;
const PLOT_HEIGHT = 40;

/**
 * The page's element with this id, which must be a `type`.
 * @template {HTMLElement} T
 * @param {string} id
 * @param {{ new (): T }} type
 * @returns {T}
 */
function byId(id, type) {
  const element = document.getElementById(id);
  if (!(element instanceof type)) throw new TypeError(`The page has no ${type.name} #${id}`);
  return element;
}
const tokenForm = byId("token-form", HTMLFormElement);
const tokenInput = byId("token", HTMLInputElement);
const forgetButton = byId("forget-token", HTMLButtonElement);
const readMessage = byId("read-message", HTMLElement);
const actionMessage = byId("action-message", HTMLElement);
const updated = byId("updated", HTMLElement);
const streamsBody = byId("streams-body", HTMLTableSectionElement);
const streamsEmpty = byId("streams-empty", HTMLElement);
const connectionsBody = byId("connections-body", HTMLTableSectionElement);
const connectionsEmpty = byId("connections-empty", HTMLElement);

/**
 * Samples per connection id, the last WINDOW_MS of them.
 * @type {Map<string, Sample[]>}
 */
const histories = new Map();
/** @type {Map<string, StreamRow>} */
const streamRows = new Map();
/** @type {Map<string, ConnectionRow>} */
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

/** @param {string} value */
function saveToken(value) {
  token = value;
  try {
    if (value === "") sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, value);
  } catch {
    // No storage (a sandboxed frame, say): the token lasts until the page is closed.
  }
}

/**
 * @param {HTMLElement} element
 * @param {"ok" | "info" | "error"} kind
 * @param {string} text
 */
function showMessage(element, kind, text) {
  if (element.textContent === text && element.dataset.kind === kind) return;
  element.dataset.kind = kind;
  element.textContent = text;
}

/** @param {unknown} id */
function shortId(id) {
  return typeof id === "string" ? id.slice(0, 8) : "\u2013";
}

/**
 * @param {unknown} value
 * @param {number} digits
 */
function number(value, digits) {
  return typeof value === "number" && Number.isFinite(value) ? value.toFixed(digits) : "\u2013";
}

/** @param {unknown} value */
function count(value) {
  return typeof value === "number" && Number.isFinite(value) ? String(value) : "\u2013";
}

/** @param {unknown} value bytes */
function mebibytes(value) {
  return typeof value === "number" ? number(value / 1048576, 1) : "\u2013";
}

/** @param {unknown} value */
function text(value) {
  return value === null || value === undefined || value === "" ? "\u2013" : String(value);
}

/**
 * @param {"GET" | "DELETE"} method
 * @param {string} path
 * @param {boolean} withToken
 * @returns {Promise<ApiResult>}
 */
async function api(method, path, withToken) {
  /** @type {Record<string, string>} */
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
  /** @type {unknown} */
  let json = null;
  try {
    json = JSON.parse(body);
  } catch {
    // Not JSON: errorText() shows the text.
  }
  return { status: response.status, ok: response.ok, json, body };
}

/** @param {ApiResult} result */
function errorText(result) {
  const json = result.json;
  if (
    json !== null && typeof json === "object" && "error" in json && typeof json.error === "string"
  ) {
    return json.error;
  }
  const body = result.body.trim().slice(0, 200);
  return "HTTP " + result.status + (body === "" ? "" : ": " + body);
}

/**
 * What went wrong, for a message: the error's message if it has one.
 * @param {unknown} error
 */
function reason(error) {
  return error !== null && typeof error === "object" && "message" in error && error.message
    ? String(error.message)
    : String(error);
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
    showMessage(
      readMessage,
      "error",
      "Atoll is not answering: " + reason(error),
    );
  } finally {
    polling = false;
    timer = setTimeout(poll, pollAgain ? 0 : delay);
    pollAgain = false;
  }
}

/**
 * Reads and shows streams and connections; returns how long to wait before the next read.
 * @returns {Promise<number>}
 */
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
        ? "This Atoll needs the API token to show anything: enter it above. (" +
          errorText(refused) + ")"
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
  // Both are arrays now; each row checks what it shows.
  const streamList = /** @type {StreamInfo[]} */ (streams.json);
  const connectionList = /** @type {ConnectionInfo[]} */ (connections.json);
  const now = Date.now();
  renderStreams(streamList);
  renderConnections(connectionList, now);
  document.body.dataset.state = "live";
  showMessage(readMessage, "ok", "Live: updating every second.");
  updated.textContent = "Last update " + new Date(now).toLocaleTimeString() + ": " +
    streamList.length + " stream(s), " + connectionList.length + " connection(s).";
  return POLL_MS;
}

/**
 * Puts rows in the order of `wanted`, moving only those out of place (a moved row loses focus).
 * @param {HTMLTableSectionElement} body
 * @param {HTMLTableRowElement[]} wanted
 */
function order(body, wanted) {
  wanted.forEach((row, index) => {
    if (body.children[index] !== row) body.insertBefore(row, body.children[index] || null);
  });
}

/**
 * @param {HTMLTableRowElement} row
 * @param {"th" | "td"} kind
 * @param {string} [className]
 */
function cell(row, kind, className) {
  const element = document.createElement(kind);
  if (className) element.className = className;
  row.append(element);
  return element;
}

/** @param {StreamInfo[]} streams */
function renderStreams(streams) {
  /** @type {Set<string>} */
  const seen = new Set();
  /** @type {HTMLTableRowElement[]} */
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

/**
 * @param {string} id
 * @returns {ConnectionRow}
 */
function createConnectionRow(id) {
  const row = document.createElement("tr");
  row.dataset.connectionId = id;
  const idCell = cell(row, "th");
  idCell.scope = "row";
  const code = document.createElement("code");
  idCell.append(code);
  /** @type {ConnectionRow} */
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
    cpu: cell(row, "td", "number"),
    privateDirty: cell(row, "td", "number"),
    pss: cell(row, "td", "number"),
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

/**
 * @param {ConnectionInfo[]} connections
 * @param {number} now
 */
function renderConnections(connections, now) {
  /** @type {Set<string>} */
  const seen = new Set();
  /** @type {HTMLTableRowElement[]} */
  const wanted = [];
  const sorted = connections.filter((c) => c && typeof c.id === "string")
    .sort((a, b) =>
      String(a.startedAt) < String(b.startedAt)
        ? -1
        : String(a.startedAt) > String(b.startedAt)
        ? 1
        : 0
    );
  for (const connection of sorted) {
    const id = connection.id;
    seen.add(id);
    let entry = connectionRows.get(id);
    if (entry === undefined) {
      entry = createConnectionRow(id);
      connectionRows.set(id, entry);
    }
    const publisher = connection.mode === "publish";
    const viewer = connection.viewer && typeof connection.viewer === "object"
      ? connection.viewer
      : null;
    entry.id.textContent = shortId(id);
    entry.idCell.title = id;
    entry.mode.textContent = publisher
      ? "publisher"
      : connection.mode === "play"
      ? "viewer"
      : text(connection.mode);
    entry.stream.textContent = text(
      connection.stream !== null ? connection.stream : connection.streamId,
    );
    entry.peer.textContent = text(connection.peer);
    entry.state.textContent = text(connection.state);
    entry.encrypted.textContent = connection.encrypted ? "yes" : "no";
    entry.mbpsIn.textContent = number(connection.mbpsReceiveRate, 2);
    entry.mbpsOut.textContent = number(connection.mbpsSendRate, 2);
    entry.rtt.textContent = number(connection.rttMs, connection.rttMs < 10 ? 2 : 1);
    entry.lost.textContent = count(connection.packetsLost) + " / " +
      count(connection.packetsRetransmitted);
    entry.skips.textContent = viewer ? count(viewer.skips) : "\u2013";
    entry.p99.textContent = viewer && viewer.latency && viewer.latency.samples > 0
      ? number(viewer.latency.p99Ms, 1)
      : "\u2013";
    // Null until the server has sampled the connection's process.
    entry.cpu.textContent = number(connection.cpuPercent, 1);
    entry.privateDirty.textContent = mebibytes(connection.privateDirtyBytes);
    entry.pss.textContent = mebibytes(connection.pssBytes);
    let samples = histories.get(id);
    if (samples === undefined) {
      samples = [];
      histories.set(id, samples);
    }
    const mbps = publisher ? connection.mbpsReceiveRate : connection.mbpsSendRate;
    samples.push({
      at: now,
      mbps: typeof mbps === "number" && Number.isFinite(mbps) ? mbps : 0,
      rttMs: typeof connection.rttMs === "number" && Number.isFinite(connection.rttMs)
        ? connection.rttMs
        : 0,
    });
    while ((samples[0]?.at ?? now) < now - WINDOW_MS) samples.shift();
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
  /** @type {(name: string, fallback: string) => string} */
  const read = (name, fallback) => style.getPropertyValue(name).trim() || fallback;
  return {
    bitrate: read("--plot-bitrate", "#1f5fbf"),
    rtt: read("--plot-rtt", "#b34700"),
    grid: read("--plot-grid", "#d5d8dd"),
    muted: read("--muted", "#555"),
  };
}

/**
 * @param {CanvasRenderingContext2D} context
 * @param {Sample[]} samples
 * @param {(sample: Sample) => number} pick
 * @param {number} peak
 * @param {number} now
 * @param {number} spanMs
 * @param {string} color
 * @param {number[]} dash
 */
function drawLine(context, samples, pick, peak, now, spanMs, color, dash) {
  /** @type {(sample: Sample) => number} */
  const x = (sample) => PLOT_WIDTH - ((now - sample.at) / spanMs) * PLOT_WIDTH;
  /** @type {(sample: Sample) => number} */
  const y = (sample) => PLOT_HEIGHT - 2 - (pick(sample) / peak) * (PLOT_HEIGHT - 14);
  context.strokeStyle = color;
  context.fillStyle = color;
  context.lineWidth = 1.5;
  context.setLineDash(dash);
  const only = samples.length === 1 ? samples[0] : undefined;
  if (only !== undefined) {
    context.fillRect(x(only) - 2, y(only) - 1, 2, 2);
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
 * @param {HTMLCanvasElement} canvas
 * @param {Sample[]} samples
 * @param {number} now
 * @param {"received" | "sent"} direction
 */
function drawPlot(canvas, samples, now, direction) {
  const ratio = globalThis.devicePixelRatio || 1;
  const width = Math.round(PLOT_WIDTH * ratio);
  const height = Math.round(PLOT_HEIGHT * ratio);
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const first = samples[0];
  const minutes = Math.min(
    WINDOW_MS / 60000,
    Math.max(1, Math.ceil((now - (first ? first.at : now)) / 60000)),
  );
  const spanMs = minutes * 60000;
  const gridMs = minutes === 1 ? 15000 : 60000;
  const context = canvas.getContext("2d");
  if (context === null) throw new Error("This browser cannot draw on a canvas");
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

/**
 * @param {string} id
 * @param {ConnectionRow} entry
 */
async function kick(id, entry) {
  if (entry.kicking) return;
  entry.kicking = true;
  entry.button.disabled = true;
  showMessage(actionMessage, "info", "Kicking connection " + id + "\u2026");
  let done = false;
  try {
    const result = await api("DELETE", "/api/connections/" + encodeURIComponent(id), true);
    if (result.status === 202) {
      done = true;
      entry.button.textContent = "Closing\u2026";
      showMessage(actionMessage, "ok", "Connection " + id + " is being closed.");
    } else {
      const hint = result.status === 401 && token === "" ? " Enter the API token above." : "";
      showMessage(
        actionMessage,
        "error",
        "Could not kick connection " + id + ": " + errorText(result) + hint,
      );
    }
  } catch (error) {
    showMessage(
      actionMessage,
      "error",
      "Could not kick connection " + id + ": " +
        reason(error),
    );
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
  showMessage(
    actionMessage,
    "ok",
    token === "" ? "No API token set." : "API token set for this tab.",
  );
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
