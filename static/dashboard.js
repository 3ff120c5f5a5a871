/**
 * The dashboard's behaviour: polls `GET /api/streams` and
 * `GET /api/connections` every second, plots each connection's bitrate and
 * RTT, shows what its process costs (CPU, memory), kicks a connection with
 * `DELETE /api/connections/ID` and ends a stream, once confirmed, with
 * `DELETE /api/streams/NAME`, and plays a stream's HLS in a preview
 * (hls.js, which the API serves, loaded on the first Play; else the
 * browser's own HLS). Strings from the API only ever reach the DOM
 * through textContent.
 *
 * Every cell or value that shows a field carries `data-field`, so that the
 * browser test reads values by name, not by column position.
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
 *   name: HTMLElement,
 *   tracks: HTMLElement,
 *   httpClients: HTMLElement,
 *   publisher: HTMLTableCellElement,
 *   viewers: HTMLTableCellElement,
 *   waiting: HTMLTableCellElement,
 *   bitrate: HTMLTableCellElement,
 *   raps: HTMLTableCellElement,
 *   skips: HTMLTableCellElement,
 *   button: HTMLButtonElement,
 *   play: HTMLButtonElement,
 *   hlsUrl: string | null,
 *   ending: boolean,
 *   publisherId: string | null,
 *   endedPublisher: string | null,
 * }} StreamRow
 */
/**
 * The little of hls.js the preview uses.
 * @typedef {{ fatal: boolean, type: string, details: string, response?: { code: number } }} HlsError
 * @typedef {{
 *   loadSource(url: string): void,
 *   attachMedia(media: HTMLMediaElement): void,
 *   on(event: string, listener: (event: string, data: HlsError) => void): void,
 *   destroy(): void,
 * }} HlsPlayer
 * @typedef {{
 *   new (config: object): HlsPlayer,
 *   isSupported(): boolean,
 *   Events: { ERROR: string },
 * }} HlsClass
 */
/**
 * The open preview: which stream, and its hls.js player when it uses one.
 * @typedef {{ name: string, player: HlsPlayer | null, closed: boolean }} Preview
 */
/**
 * A connection's two rows: the main figures, and a line of details under them.
 * @typedef {{
 *   row: HTMLTableRowElement,
 *   details: HTMLTableRowElement,
 *   id: HTMLElement,
 *   idCell: HTMLTableCellElement,
 *   mode: HTMLTableCellElement,
 *   stream: HTMLTableCellElement,
 *   state: HTMLTableCellElement,
 *   mbpsIn: HTMLTableCellElement,
 *   mbpsOut: HTMLTableCellElement,
 *   rtt: HTMLTableCellElement,
 *   p99: HTMLTableCellElement,
 *   cpu: HTMLTableCellElement,
 *   peer: HTMLElement,
 *   encrypted: HTMLElement,
 *   lost: HTMLElement,
 *   skips: HTMLElement,
 *   latency: HTMLElement,
 *   privateDirty: HTMLElement,
 *   pss: HTMLElement,
 *   handshake: HTMLElement,
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
const PLOT_WIDTH = 320;
const PLOT_HEIGHT = 72;
/** Room at the top of a plot for its labels. */
const PLOT_LABELS = 16;

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
const previewPanel = byId("preview", HTMLElement);
const previewTitle = byId("preview-title", HTMLElement);
const previewTracks = byId("preview-tracks", HTMLElement);
const previewMessage = byId("preview-message", HTMLElement);
const previewVideo = byId("preview-video", HTMLVideoElement);
const previewClose = byId("preview-close", HTMLButtonElement);

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
/** @type {Preview | null} */
let preview = null;
/** @type {Promise<HlsClass | undefined> | null} */
let hlsLoading = null;

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
 * @param {"GET" | "DELETE" | "POST"} method
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
 * @param {string} field what it shows, as `data-field`
 * @param {string} [className]
 */
function cell(row, kind, field, className) {
  const element = document.createElement(kind);
  element.dataset.field = field;
  if (className) element.className = className;
  row.append(element);
  return element;
}

/**
 * A labelled value in a connection's details line.
 * @param {HTMLElement} parent
 * @param {string} label
 * @param {string} field what it shows, as `data-field`
 * @param {string} [title]
 */
function detail(parent, label, field, title) {
  const item = document.createElement("span");
  item.className = "detail";
  if (title) item.title = title;
  const name = document.createElement("span");
  name.className = "detail-label";
  name.textContent = label + " ";
  const value = document.createElement("span");
  value.dataset.field = field;
  item.append(name, value);
  parent.append(item);
  return value;
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
      entry = createStreamRow(stream.name);
      streamRows.set(stream.name, entry);
    }
    if (entry.ending && stream.publisher !== null && stream.publisher !== entry.endedPublisher) {
      // Published again under the same name (an encoder that reconnects): a new stream to end.
      entry.ending = false;
      entry.button.disabled = false;
      entry.button.textContent = "End stream";
    }
    entry.publisherId = stream.publisher;
    entry.name.textContent = stream.name;
    entry.publisher.textContent = stream.publisher ? shortId(stream.publisher) : "none";
    entry.publisher.title = stream.publisher ? String(stream.publisher) : "";
    entry.viewers.textContent = count(stream.viewers);
    entry.waiting.textContent = count(stream.waiting);
    entry.bitrate.textContent = number(stream.bitrateIn / 1e6, 2);
    const tracks = tracksLine(stream);
    entry.tracks.textContent = tracks;
    entry.tracks.hidden = tracks === "";
    const http = httpLine(stream);
    entry.httpClients.textContent = http;
    entry.httpClients.hidden = http === "";
    entry.hlsUrl = stream.urls && typeof stream.urls.hls === "string" ? stream.urls.hls : null;
    entry.play.disabled = entry.hlsUrl === null;
    entry.play.title = entry.hlsUrl === null
      ? "No preview: Atoll serves no HTTP media (started with --media-listen off)"
      : "Play " + entry.hlsUrl + " here, muted";
    if (preview !== null && preview.name === stream.name) previewTracks.textContent = tracks;
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
  if (preview !== null && !seen.has(preview.name)) {
    showMessage(previewMessage, "info", "Stream " + preview.name + " has ended.");
  }
  order(streamsBody, wanted);
  streamsEmpty.hidden = wanted.length > 0;
}

/**
 * What a stream carries, in one line: "H.264 1280×720 25 fps · AAC 48 kHz
 * stereo · 2.10 Mbit/s"; empty until its publisher's tracks are known.
 * @param {StreamInfo} stream
 * @returns {string}
 */
function tracksLine(stream) {
  const tracks = Array.isArray(stream.tracks) ? stream.tracks : [];
  if (tracks.length === 0) return "";
  const parts = tracks.map((track) => {
    const words = [String(track.codec)];
    if (track.kind === "video") {
      if (track.width !== null && track.height !== null) {
        words.push(track.width + "\u00d7" + track.height);
      }
      if (track.frameRate !== null) words.push(+track.frameRate.toFixed(2) + " fps");
    } else if (track.kind === "audio") {
      if (track.sampleRate !== null) words.push(+(track.sampleRate / 1000).toFixed(1) + " kHz");
      if (track.channels !== null) {
        words.push(
          track.channels === 1 ? "mono" : track.channels === 2 ? "stereo" : track.channels + " ch",
        );
      }
    }
    return words.join(" ");
  });
  parts.push(number(stream.bitrateIn / 1e6, 2) + " Mbit/s");
  return parts.join(" \u00b7 ");
}

/**
 * Who watches a stream over HTTP, as "HTTP-TS 1 · HLS 2 clients"; empty
 * without a media port.
 * @param {StreamInfo} stream
 * @returns {string}
 */
function httpLine(stream) {
  const clients = stream.http;
  if (!clients || typeof clients !== "object") return "";
  return "HTTP-TS " + count(clients.clients) + " \u00b7 HLS " + count(clients.hlsClients) +
    " client(s)";
}

/**
 * @param {string} name
 * @returns {StreamRow}
 */
function createStreamRow(name) {
  const row = document.createElement("tr");
  row.dataset.stream = name;
  const nameCell = cell(row, "th", "name", "name");
  nameCell.scope = "row";
  // The name, and under it a compact line of what the stream carries.
  const nameText = document.createElement("span");
  const tracks = document.createElement("div");
  tracks.className = "tracks";
  tracks.dataset.field = "tracks";
  tracks.hidden = true;
  const http = document.createElement("div");
  http.className = "tracks";
  http.dataset.field = "http";
  http.hidden = true;
  nameCell.append(nameText, tracks, http);
  /** @type {StreamRow} */
  const entry = {
    row,
    name: nameText,
    tracks,
    httpClients: http,
    publisher: cell(row, "td", "publisher"),
    viewers: cell(row, "td", "viewers", "number"),
    waiting: cell(row, "td", "waiting", "number"),
    bitrate: cell(row, "td", "bitrateIn", "number"),
    raps: cell(row, "td", "randomAccessPoints", "number"),
    skips: cell(row, "td", "viewerSkips", "number"),
    button: document.createElement("button"),
    play: document.createElement("button"),
    hlsUrl: null,
    ending: false,
    publisherId: null,
    endedPublisher: null,
  };
  entry.button.type = "button";
  entry.button.className = "danger";
  entry.button.textContent = "End stream";
  entry.button.dataset.stream = name;
  entry.button.setAttribute("aria-label", "End stream " + name);
  entry.button.addEventListener("click", () => endStream(name, entry));
  entry.play.type = "button";
  entry.play.textContent = "Play";
  entry.play.disabled = true;
  entry.play.setAttribute("aria-label", "Play stream " + name);
  entry.play.addEventListener("click", () => openPreview(name, entry));
  cell(row, "td", "action").append(entry.play, entry.button);
  return entry;
}

/**
 * @param {string} id
 * @returns {ConnectionRow}
 */
function createConnectionRow(id) {
  const row = document.createElement("tr");
  row.className = "connection";
  row.dataset.connectionId = id;
  const idCell = cell(row, "th", "id");
  idCell.scope = "row";
  const code = document.createElement("code");
  idCell.append(code);
  const details = document.createElement("tr");
  details.className = "details";
  details.dataset.detailsFor = id;
  const detailsCell = document.createElement("td");
  details.append(detailsCell);
  /** @type {ConnectionRow} */
  const entry = {
    row,
    details,
    id: code,
    idCell,
    mode: cell(row, "td", "mode"),
    stream: cell(row, "td", "stream", "name"),
    state: cell(row, "td", "state"),
    mbpsIn: cell(row, "td", "mbpsIn", "number"),
    mbpsOut: cell(row, "td", "mbpsOut", "number"),
    rtt: cell(row, "td", "rtt", "number"),
    p99: cell(row, "td", "p99", "number"),
    cpu: cell(row, "td", "cpu", "number"),
    peer: detail(detailsCell, "Peer", "peer"),
    encrypted: detail(detailsCell, "Encrypted", "encrypted"),
    lost: detail(detailsCell, "Lost / retransmitted", "lost"),
    skips: detail(
      detailsCell,
      "Skips",
      "skips",
      "Times this viewer fell behind the stream buffer and skipped ahead",
    ),
    latency: detail(
      detailsCell,
      "Server-added p50 / max",
      "latency",
      "Latency Atoll adds to this viewer since it connected, in ms",
    ),
    privateDirty: detail(
      detailsCell,
      "Private (MiB)",
      "privateDirty",
      "Memory only the connection's process has written (Private_Dirty), read every 5 s",
    ),
    pss: detail(
      detailsCell,
      "PSS (MiB)",
      "pss",
      "Proportional set size of the connection's process: its own pages and its share of shared ones (Pss), read every 5 s",
    ),
    handshake: detail(detailsCell, "Handshake", "handshake"),
    canvas: document.createElement("canvas"),
    button: document.createElement("button"),
    kicking: false,
  };
  entry.canvas.dataset.connectionId = id;
  entry.canvas.setAttribute("role", "img");
  cell(row, "td", "plot").append(entry.canvas);
  entry.button.type = "button";
  entry.button.className = "danger";
  entry.button.textContent = "Kick";
  entry.button.dataset.connectionId = id;
  entry.button.setAttribute("aria-label", "Kick connection " + id);
  entry.button.addEventListener("click", () => kick(id, entry));
  cell(row, "td", "action").append(entry.button);
  detailsCell.colSpan = row.cells.length;
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
    // A held viewer's handshake is not answered until its stream has a publisher.
    entry.state.textContent = connection.waiting === true ? "waiting" : text(connection.state);
    entry.state.dataset.state = connection.waiting === true ? "waiting" : String(connection.state);
    entry.state.title = connection.waiting === true ? "Held until the stream has a publisher" : "";
    entry.encrypted.textContent = connection.encrypted ? "yes" : "no";
    entry.mbpsIn.textContent = number(connection.mbpsReceiveRate, 2);
    entry.mbpsOut.textContent = number(connection.mbpsSendRate, 2);
    entry.rtt.textContent = number(connection.rttMs, connection.rttMs < 10 ? 2 : 1);
    entry.lost.textContent = count(connection.packetsLost) + " / " +
      count(connection.packetsRetransmitted);
    const latency = viewer && viewer.latency && viewer.latency.samples > 0 ? viewer.latency : null;
    entry.skips.textContent = viewer ? count(viewer.skips) : "\u2013";
    entry.p99.textContent = latency ? number(latency.p99Ms, 1) : "\u2013";
    entry.latency.textContent = latency
      ? number(latency.p50Ms, 1) + " / " + number(latency.maxMs, 1) + " ms"
      : "\u2013";
    // Null until the server has sampled the connection's process.
    entry.cpu.textContent = number(connection.cpuPercent, 1);
    entry.privateDirty.textContent = mebibytes(connection.privateDirtyBytes);
    entry.pss.textContent = mebibytes(connection.pssBytes);
    entry.handshake.textContent = typeof connection.handshakeMs === "number"
      ? number(connection.handshakeMs, 1) + " ms"
      : "\u2013";
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
    wanted.push(entry.row, entry.details);
  }
  for (const [id, entry] of connectionRows) {
    if (!seen.has(id)) {
      entry.row.remove();
      entry.details.remove();
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
  const y = (sample) => PLOT_HEIGHT - 2 - (pick(sample) / peak) * (PLOT_HEIGHT - PLOT_LABELS - 2);
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
    context.moveTo(x, PLOT_LABELS);
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
  context.font = "12px system-ui, sans-serif";
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

/**
 * Ends stream `name` once the user confirms: its publisher and viewers are
 * closed, held viewers refused.
 * @param {string} name
 * @param {StreamRow} entry
 */
async function endStream(name, entry) {
  if (entry.ending) return;
  const publisher = entry.publisherId;
  const confirmed = confirm(
    "End stream \u201c" + name + "\u201d? Its publisher and viewers are disconnected.",
  );
  if (!confirmed) {
    showMessage(actionMessage, "info", "Stream " + name + " not ended.");
    return;
  }
  entry.ending = true;
  entry.endedPublisher = publisher;
  entry.button.disabled = true;
  showMessage(actionMessage, "info", "Ending stream " + name + "\u2026");
  let done = false;
  try {
    const result = await api("DELETE", "/api/streams/" + encodeURIComponent(name), true);
    if (result.status === 202) {
      done = true;
      entry.button.textContent = "Ending\u2026";
      showMessage(actionMessage, "ok", "Stream " + name + " is being ended.");
    } else {
      const hint = result.status === 401 && token === "" ? " Enter the API token above." : "";
      showMessage(
        actionMessage,
        "error",
        "Could not end stream " + name + ": " + errorText(result) + hint,
      );
    }
  } catch (error) {
    showMessage(actionMessage, "error", "Could not end stream " + name + ": " + reason(error));
  } finally {
    if (!done) {
      entry.ending = false;
      entry.button.disabled = false;
    }
    pollSoon();
  }
}

/**
 * hls.js, from the API (the page's policy lets its own script add it), once.
 * Undefined when it does not load: the preview then tries the browser's own HLS.
 * @returns {Promise<HlsClass | undefined>}
 */
function loadHls() {
  hlsLoading ??= new Promise((resolve) => {
    const script = document.createElement("script");
    script.src = document.body.dataset.hlsScript || "";
    script.addEventListener("load", () => {
      resolve(/** @type {{ Hls?: HlsClass }} */ (/** @type {unknown} */ (globalThis)).Hls);
    });
    script.addEventListener("error", () => {
      hlsLoading = null; // the next Play tries again
      resolve(undefined);
    });
    document.head.append(script);
  });
  return hlsLoading;
}

/**
 * The HLS URL to play stream `name` with: signed by the API when this page
 * has the token (a stream with a read passphrase needs it), else as listed.
 * @param {string} name
 * @param {string} listed
 * @returns {Promise<string>}
 */
async function signedHlsLocation(name, listed) {
  if (token === "") return listed;
  try {
    const result = await api(
      "POST",
      "/api/streams/" + name.split("/").map(encodeURIComponent).join("/") + "/media-url",
      true,
    );
    const minted = result.ok && result.json !== null && typeof result.json === "object"
      ? /** @type {{ hls?: unknown }} */ (result.json).hls
      : undefined;
    return typeof minted === "string" ? minted : listed;
  } catch {
    return listed;
  }
}

/**
 * Opens the preview of stream `name`, closing any other: its HLS, muted,
 * with hls.js where the browser has Media Source Extensions, else natively.
 * @param {string} name
 * @param {StreamRow} entry
 */
async function openPreview(name, entry) {
  const listed = entry.hlsUrl;
  if (listed === null) return;
  closePreview();
  /** @type {Preview} */
  const session = { name, player: null, closed: false };
  preview = session;
  previewTitle.textContent = "Preview: " + name;
  previewTracks.textContent = entry.tracks.textContent;
  previewPanel.hidden = false;
  previewVideo.muted = true;
  delete previewVideo.dataset.player;
  showMessage(previewMessage, "info", "Loading " + listed + "\u2026");
  const url = await signedHlsLocation(name, listed);
  const Hls = await loadHls();
  if (session.closed) return;
  if (Hls !== undefined && Hls.isSupported()) {
    const player = new Hls({
      // A worker would need a blob: script, which the page's policy does not allow.
      enableWorker: false,
      // A stream served on demand answers its first playlist 503 until it has a segment.
      manifestLoadPolicy: {
        default: {
          maxTimeToFirstByteMs: 10000,
          maxLoadTimeMs: 20000,
          timeoutRetry: { maxNumRetry: 2, retryDelayMs: 0, maxRetryDelayMs: 0 },
          errorRetry: { maxNumRetry: 6, retryDelayMs: 1000, maxRetryDelayMs: 4000 },
        },
      },
    });
    session.player = player;
    player.on(Hls.Events.ERROR, (_event, data) => {
      if (!data.fatal || session.closed) return;
      const status = data.response && data.response.code
        ? " (HTTP " + data.response.code + ")"
        : "";
      showMessage(
        previewMessage,
        "error",
        "Cannot play " + url + ": " + data.details + status +
          (data.type === "networkError" ? ". Is the media port reachable from this browser?" : ""),
      );
    });
    player.loadSource(url);
    player.attachMedia(previewVideo);
    previewVideo.dataset.player = "hls.js";
  } else if (previewVideo.canPlayType("application/vnd.apple.mpegurl") !== "") {
    previewVideo.src = url;
    previewVideo.dataset.player = "native";
  } else {
    showMessage(
      previewMessage,
      "error",
      "This browser cannot play HLS: it has no Media Source Extensions for hls.js" +
        (Hls === undefined ? " (which did not load)" : "") + ", nor HLS of its own.",
    );
    return;
  }
  previewVideo.play().catch((error) => {
    if (!session.closed) showMessage(previewMessage, "error", "Cannot play: " + reason(error));
  });
}

/** Stops the preview, if one is open, and lets go of its player and media. */
function closePreview() {
  if (preview === null) return;
  preview.closed = true;
  preview.player?.destroy();
  preview = null;
  previewVideo.pause();
  previewVideo.removeAttribute("src");
  previewVideo.load();
  delete previewVideo.dataset.player;
  previewPanel.hidden = true;
}

previewVideo.addEventListener("playing", () => {
  if (preview === null) return;
  const player = previewVideo.dataset.player === "native" ? "the browser's own HLS" : "hls.js";
  showMessage(previewMessage, "ok", "Playing, muted, with " + player + ".");
});
previewVideo.addEventListener("error", () => {
  // hls.js reports its own errors; this is the browser's, with native HLS or a decoder's.
  if (preview === null || !previewVideo.error) return;
  showMessage(
    previewMessage,
    "error",
    "The browser cannot play it: " +
      (previewVideo.error.message || "code " + previewVideo.error.code),
  );
});
previewClose.addEventListener("click", closePreview);

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
