/**
 * The Prometheus text exposition (format 0.0.4) behind `GET /metrics`: a
 * fixed-bucket {@link Histogram} for durations the server measures, and
 * {@link renderMetrics}, which turns one {@link MetricsSnapshot} of the
 * server into the page. Pure: the server gathers the snapshot, this module
 * only names, converts to base units (seconds, bytes) and escapes. Every
 * family is one row of a table (name, type, help, and what its samples and
 * their labels are in a snapshot), rendered by one loop.
 *
 * Names follow Prometheus' conventions and pass `promtool check metrics`:
 * counters end in `_total`, rates are in bytes per second (promtool asks for
 * the base unit bytes, not bits), and the viewers' latency percentiles are a
 * gauge with a `percentile` label, since `quantile` is reserved for summaries
 * and a summary would need a `_sum` the children do not measure.
 *
 * A family without samples is left out, as Prometheus' own clients do, so
 * the server should put the keys it knows of (close reasons, datagram kinds)
 * in the snapshot with 0: a counter that appears only at its first increment
 * loses that increment to `rate()`.
 *
 * @module
 */

import { RELAY_STATES, type RelayState } from "./relay_manager.ts";
import type { LatencySummary } from "../media/latency_histogram.ts";
import type { LinkStats } from "../ipc/messages.ts";
import type { HttpStreamInfo, RecordingInfo, StreamInfo } from "./api_types.ts";

/** The `Content-Type` of {@link renderMetrics}'s output. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/**
 * Buckets for spawn → child ready, in seconds: a child loads Deno and
 * libsrt in tens to hundreds of milliseconds, more on a loaded machine.
 */
export const CHILD_START_BUCKETS: readonly number[] = [
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

/**
 * Buckets for handover → connected, in seconds: the SRT handshake's
 * conclusion takes a round trip, from under a millisecond on a LAN to
 * seconds over a lossy long link.
 */
export const HANDSHAKE_BUCKETS: readonly number[] = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

/** A {@link Histogram}'s counts at one moment. */
export interface HistogramSnapshot {
  /** Upper bounds of the buckets, ascending, in seconds (`+Inf` is implied). */
  bounds: readonly number[];
  /** Cumulative, as Prometheus wants: `counts[i]` observations were ≤ `bounds[i]`. */
  counts: readonly number[];
  /** Sum of the observations, in seconds. */
  sum: number;
  /** All observations: the `+Inf` bucket. */
  count: number;
}

/** Fixed-bucket histogram (cumulative buckets as Prometheus wants), le in seconds. */
export class Histogram {
  readonly #bounds: readonly number[];
  /** Per bucket, not cumulative; the last one counts what is above every bound. */
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  /** `bounds`: the buckets' upper bounds, finite and strictly ascending, in seconds. */
  constructor(bounds: readonly number[]) {
    for (const [i, bound] of bounds.entries()) {
      if (!Number.isFinite(bound) || (i > 0 && !(bound > bounds[i - 1]!))) {
        const list = bounds.join(", ");
        throw new RangeError(
          `Invalid histogram bounds [${list}]: each must be finite and above the one before`,
        );
      }
    }
    this.#bounds = [...bounds];
    this.#counts = new Array(bounds.length + 1).fill(0);
  }

  /** Adds one duration; negative ones (clock noise) count as 0, NaN is ignored. */
  observe(seconds: number): void {
    if (Number.isNaN(seconds)) return;
    const value = seconds > 0 ? seconds : 0;
    let bucket = 0;
    while (bucket < this.#bounds.length && value > this.#bounds[bucket]!) bucket++;
    this.#counts[bucket]!++;
    this.#sum += value;
    this.#count++;
  }

  snapshot(): HistogramSnapshot {
    let seen = 0;
    return {
      bounds: this.#bounds,
      counts: this.#bounds.map((_, bucket) => seen += this.#counts[bucket]!),
      sum: this.#sum,
      count: this.#count,
    };
  }
}

/** Everything `GET /metrics` shows, gathered by the server at one moment. */
export interface MetricsSnapshot {
  counters: {
    /** By classification kind, e.g. induction, conclusion, data, garbage. */
    datagrams: Record<string, number>;
    /** By drop reason. */
    dropped: Record<string, number>;
    inductionsAnswered: number;
    callersRejected: number;
    childrenStarted: number;
    childrenCrashed: number;
    connectionsAccepted: number;
    /** By close reason (peer-closed, broken, handshake-timeout, rejected, shutdown, error, crashed). */
    connectionsClosed: Record<string, number>;
  };
  /** Access rejections by code as a string, e.g. `"1400": 3`. */
  rejections: Record<string, number>;
  /** Spawn → child ready. */
  childStartSeconds: HistogramSnapshot;
  /** Handover → connected. */
  handshakeSeconds: HistogramSnapshot;
  connections: ConnectionMetrics[];
  streams: StreamMetrics[];
  idleChildren: number;
  startingChildren: number;
  /** Idle children the pool keeps now. */
  poolFloor: number;
  /** Callers admitted and waiting for a child. */
  waitingCallers: number;
  /** Every relay's direction and state. */
  relays: { direction: "pull" | "push"; state: RelayState }[];
  /** Relay attempts started and failed (or lost) since start. */
  relayCounts: { attempts: number; failures: number };
  /**
   * HTTP media access refusals, by protocol (`hls`, `http-ts`) and reason:
   * decisions that refused, and requests refused as `rate-limited`.
   */
  mediaRefusals: { protocol: string; reason: string; count: number }[];
  /** The media output process: whether it listens now, and how often it was started again; null when off. */
  output: { up: boolean; restarts: number } | null;
  /** Recordings that stopped by themselves since start, by stream and reason (`disk-full`, …). */
  recordingFailures: { stream: string; reason: string; count: number }[];
}

/** Link statistics a connection may lack; their families then leave it out. */
type OptionalLinkStat =
  | "mbpsBandwidth"
  | "packetsBelated"
  | "sendBufferPackets"
  | "sendBufferMs"
  | "receiveBufferPackets"
  | "receiveBufferMs"
  | "flowWindowPackets";

/** One connection and its link statistics, in the units libsrt reports (see {@link LinkStats}). */
export type ConnectionMetrics =
  & {
    id: string;
    stream: string | null;
    mode: "publish" | "play";
    peer: string;
    state: "handshaking" | "connected";
    /** What a viewer's child measured of its stream since it connected. */
    viewer?: { skips: number; latency: Omit<LatencySummary, "atLeast"> } | null;
  }
  & Partial<ConnectionResources>
  & Omit<LinkStats, OptionalLinkStat>
  & Partial<Pick<LinkStats, OptionalLinkStat>>;

/** What a connection's child costs, as the resource sampler read it (null: not yet). */
export interface ConnectionResources {
  /** CPU use over the last sampling interval, in % of one core. */
  cpuPercent: number | null;
  privateDirtyBytes: number | null;
  pssBytes: number | null;
}

/** One stream, as the stream manager reports it. */
export type StreamMetrics = StreamInfo;

type MetricType = "counter" | "gauge" | "histogram";

interface Sample {
  /** Appended to the family's name: `_bucket`, `_sum`, `_count` or nothing. */
  suffix?: string;
  labels?: Readonly<Record<string, string>>;
  value: number;
}

/** A family's samples in a snapshot; none leaves the family out of the page. */
type Samples = (snapshot: MetricsSnapshot) => readonly Sample[];

/** One metric family: how Prometheus sees it, and where its samples come from. */
interface MetricFamily {
  name: string;
  type: MetricType;
  help: string;
  samples: Samples;
}

const CONNECTION_STATES = ["handshaking", "connected"] as const;
const CONNECTION_MODES = ["publish", "play"] as const;

/** Mbit/s, as libsrt reports rates, to bytes per second. */
const BYTES_PER_SECOND_PER_MBPS = 1e6 / 8;

/** One sample without labels. */
function single(value: (snapshot: MetricsSnapshot) => number): Samples {
  return (snapshot) => [{ value: value(snapshot) }];
}

/** One sample per key of a record, labelled with the key. */
function byLabel(
  label: string,
  values: (snapshot: MetricsSnapshot) => Record<string, number>,
): Samples {
  return (snapshot) =>
    Object.entries(values(snapshot)).map(([key, value]) => ({ labels: { [label]: key }, value }));
}

/** One sample per connection that has the value, labelled as {@link connectionLabels} says. */
function perConnection(value: (connection: ConnectionMetrics) => number | undefined): Samples {
  return ({ connections }) =>
    connections.flatMap((connection) => {
      const v = value(connection);
      return v === undefined ? [] : [{ labels: connectionLabels(connection), value: v }];
    });
}

/**
 * Samples per viewer that has measured its latency, labelled as its
 * connection plus the sample's own labels. A viewer without samples has no
 * latency to show, rather than a latency of 0.
 */
function perMeasuredViewer(
  samples: (latency: Omit<LatencySummary, "atLeast">) => readonly Sample[],
): Samples {
  return ({ connections }) =>
    connections.flatMap((c) =>
      c.viewer && c.viewer.latency.samples > 0
        ? samples(c.viewer.latency).map(({ labels, value }) => ({
          labels: { ...connectionLabels(c), ...labels },
          value,
        }))
        : []
    );
}

/** One sample per stream, labelled with its name. */
function perStream(value: (stream: StreamMetrics) => number): Samples {
  return ({ streams }) =>
    streams.map((stream) => ({ labels: { stream: stream.name }, value: value(stream) }));
}

/** One sample per stream served by the media output, labelled with its name. */
function perHttpStream(value: (http: HttpStreamInfo) => number): Samples {
  return ({ streams }) =>
    streams.flatMap((stream) =>
      stream.http === null ? [] : [{ labels: { stream: stream.name }, value: value(stream.http) }]
    );
}

/** One sample per recorded stream, labelled with its name. */
function perRecording(value: (recording: RecordingInfo) => number): Samples {
  return ({ streams }) =>
    streams.flatMap((stream) =>
      stream.recording === null
        ? []
        : [{ labels: { stream: stream.name }, value: value(stream.recording) }]
    );
}

/** A histogram's cumulative buckets, `+Inf` included, then `_sum` and `_count`. */
function histogram(of: (snapshot: MetricsSnapshot) => HistogramSnapshot): Samples {
  return (snapshot) => {
    const h = of(snapshot);
    return [
      ...h.bounds.map((bound, i) => ({
        suffix: "_bucket",
        labels: { le: formatValue(bound) },
        value: h.counts[i] ?? 0,
      })),
      { suffix: "_bucket", labels: { le: "+Inf" }, value: h.count },
      { suffix: "_sum", value: h.sum },
      { suffix: "_count", value: h.count },
    ];
  };
}

/**
 * What each connection's child process costs, read from /proc by the main
 * process: a connection not sampled yet has no series.
 */
const CONNECTION_RESOURCE_FAMILIES: readonly MetricFamily[] = [
  {
    name: "atoll_connection_cpu_ratio",
    type: "gauge",
    help: "CPU use of the connection's child process over the last second (1 is one core)",
    samples: perConnection((c) =>
      c.cpuPercent === undefined || c.cpuPercent === null
        ? undefined
        : Number((c.cpuPercent / 100).toPrecision(15))
    ),
  },
  {
    name: "atoll_connection_private_dirty_bytes",
    type: "gauge",
    help: "Private_Dirty of the connection's child process (smaps_rollup)",
    samples: perConnection((c) => c.privateDirtyBytes ?? undefined),
  },
  {
    name: "atoll_connection_pss_bytes",
    type: "gauge",
    help: "Proportional set size of the connection's child process (smaps_rollup)",
    samples: perConnection((c) => c.pssBytes ?? undefined),
  },
];

/** Every family on the page, in the order it shows them. */
const FAMILIES: readonly MetricFamily[] = [
  {
    name: "atoll_datagrams_total",
    type: "counter",
    help: "UDP datagrams received on the listener, by classification",
    samples: byLabel("kind", (s) => s.counters.datagrams),
  },
  {
    name: "atoll_datagrams_dropped_total",
    type: "counter",
    help: "Datagrams the listener dropped, by reason",
    samples: byLabel("reason", (s) => s.counters.dropped),
  },
  {
    name: "atoll_inductions_answered_total",
    type: "counter",
    help: "Inductions the main process answered with its own cookie, before any child",
    samples: single((s) => s.counters.inductionsAnswered),
  },
  {
    name: "atoll_callers_rejected_total",
    type: "counter",
    help: "Callers the main process refused itself with an SRT rejection (see dropped reasons)",
    samples: single((s) => s.counters.callersRejected),
  },
  {
    name: "atoll_children_started_total",
    type: "counter",
    help: "Child processes started",
    samples: single((s) => s.counters.childrenStarted),
  },
  {
    name: "atoll_children_crashed_total",
    type: "counter",
    help: "Child processes that exited unexpectedly",
    samples: single((s) => s.counters.childrenCrashed),
  },
  {
    name: "atoll_connections_accepted_total",
    type: "counter",
    help: "Callers handed over to a child",
    samples: single((s) => s.counters.connectionsAccepted),
  },
  {
    name: "atoll_connections_closed_total",
    type: "counter",
    help: "Connections ended, by reason",
    samples: byLabel("reason", (s) => s.counters.connectionsClosed),
  },
  {
    name: "atoll_connections_rejected_total",
    type: "counter",
    help: "Callers refused by access control, by SRT rejection code",
    samples: byLabel("code", (s) => s.rejections),
  },
  {
    name: "atoll_children_idle",
    type: "gauge",
    help: "Started children waiting for a caller",
    samples: single((s) => s.idleChildren),
  },
  {
    name: "atoll_children_starting",
    type: "gauge",
    help: "Children spawned but not ready yet",
    samples: single((s) => s.startingChildren),
  },
  {
    name: "atoll_pool_floor",
    type: "gauge",
    help: "Idle children the pool keeps now: --pool-size, more after bursts",
    samples: single((s) => s.poolFloor),
  },
  {
    name: "atoll_callers_waiting",
    type: "gauge",
    help: "Callers admitted and waiting for a child, first in, first out",
    samples: single((s) => s.waitingCallers),
  },
  {
    name: "atoll_relays",
    type: "gauge",
    help: "Relays (pulls and pushes), by direction and state",
    samples: ({ relays }) =>
      (["pull", "push"] as const).flatMap((direction) =>
        RELAY_STATES.filter((state) => state !== "stopped").map((state) => ({
          labels: { direction, state },
          value: relays.filter((r) => r.direction === direction && r.state === state).length,
        }))
      ),
  },
  {
    name: "atoll_relay_attempts_total",
    type: "counter",
    help: "Relay connection attempts started",
    samples: single((s) => s.relayCounts.attempts),
  },
  {
    name: "atoll_relay_failures_total",
    type: "counter",
    help: "Relay attempts that failed and relay connections lost, each followed by a retry",
    samples: single((s) => s.relayCounts.failures),
  },
  {
    name: "atoll_output_up",
    type: "gauge",
    help: "Whether the media output process listens (1) or is being started again (0)",
    samples: ({ output }) => output === null ? [] : [{ value: output.up ? 1 : 0 }],
  },
  {
    name: "atoll_output_restarts_total",
    type: "counter",
    help: "Times the media output process was started again after it died",
    samples: ({ output }) => output === null ? [] : [{ value: output.restarts }],
  },
  {
    name: "atoll_http_media_refusals_total",
    type: "counter",
    help:
      "HTTP media access refusals, by protocol and reason: one per decision (kept 15 s for a client and credential), one per request over its client's rate of access checks (rate-limited)",
    samples: ({ mediaRefusals }) =>
      mediaRefusals.map(({ protocol, reason, count }) => ({
        labels: { protocol, reason },
        value: count,
      })),
  },
  {
    name: "atoll_connections",
    type: "gauge",
    help: "Live connections, by state and mode",
    // Every state and mode, zeros included, so that a series never vanishes.
    samples: ({ connections }) =>
      CONNECTION_STATES.flatMap((state) =>
        CONNECTION_MODES.map((mode) => ({
          labels: { state, mode },
          value: connections.filter((c) => c.state === state && c.mode === mode).length,
        }))
      ),
  },
  {
    name: "atoll_child_start_seconds",
    type: "histogram",
    help: "Time from spawning a child to its being ready",
    samples: histogram((s) => s.childStartSeconds),
  },
  {
    name: "atoll_handshake_seconds",
    type: "histogram",
    help: "Time from handing a caller over to a child to its being connected",
    samples: histogram((s) => s.handshakeSeconds),
  },
  {
    name: "atoll_connection_received_bytes_total",
    type: "counter",
    help: "Bytes received on the connection",
    samples: perConnection((c) => c.bytesReceived),
  },
  {
    name: "atoll_connection_sent_bytes_total",
    type: "counter",
    help: "Bytes sent on the connection",
    samples: perConnection((c) => c.bytesSent),
  },
  {
    name: "atoll_connection_received_packets_total",
    type: "counter",
    help: "Packets received on the connection",
    samples: perConnection((c) => c.packetsReceived),
  },
  {
    name: "atoll_connection_sent_packets_total",
    type: "counter",
    help: "Packets sent on the connection",
    samples: perConnection((c) => c.packetsSent),
  },
  {
    name: "atoll_connection_lost_packets_total",
    type: "counter",
    help: "Packets lost on the connection, either way",
    samples: perConnection((c) => c.packetsLost),
  },
  {
    name: "atoll_connection_retransmitted_packets_total",
    type: "counter",
    help: "Packets retransmitted on the connection",
    samples: perConnection((c) => c.packetsRetransmitted),
  },
  {
    name: "atoll_connection_dropped_packets_total",
    type: "counter",
    help: "Packets dropped as too late to play, either way",
    samples: perConnection((c) => c.packetsDropped),
  },
  {
    name: "atoll_connection_rtt_seconds",
    type: "gauge",
    help: "Smoothed round-trip time of the connection",
    samples: perConnection((c) => seconds(c.rttMs)),
  },
  {
    name: "atoll_connection_receive_rate_bytes_per_second",
    type: "gauge",
    help: "Receiving rate of the connection",
    samples: perConnection((c) => c.mbpsReceiveRate * BYTES_PER_SECOND_PER_MBPS),
  },
  {
    name: "atoll_connection_send_rate_bytes_per_second",
    type: "gauge",
    help: "Sending rate of the connection",
    samples: perConnection((c) => c.mbpsSendRate * BYTES_PER_SECOND_PER_MBPS),
  },
  {
    name: "atoll_connection_bandwidth_bytes_per_second",
    type: "gauge",
    help: "Estimated bandwidth of the link",
    samples: perConnection((c) =>
      c.mbpsBandwidth === undefined ? undefined : c.mbpsBandwidth * BYTES_PER_SECOND_PER_MBPS
    ),
  },
  {
    name: "atoll_connection_belated_packets_total",
    type: "counter",
    help: "Packets received too late and ignored",
    samples: perConnection((c) => c.packetsBelated),
  },
  {
    name: "atoll_connection_send_buffer_packets",
    type: "gauge",
    help: "Packets in the send buffer, unacknowledged",
    samples: perConnection((c) => c.sendBufferPackets),
  },
  {
    name: "atoll_connection_send_buffer_seconds",
    type: "gauge",
    help: "Timespan of the packets in the send buffer",
    samples: perConnection((c) =>
      c.sendBufferMs === undefined ? undefined : seconds(c.sendBufferMs)
    ),
  },
  {
    name: "atoll_connection_receive_buffer_packets",
    type: "gauge",
    help: "Packets in the receive buffer, not yet delivered",
    samples: perConnection((c) => c.receiveBufferPackets),
  },
  {
    name: "atoll_connection_receive_buffer_seconds",
    type: "gauge",
    help: "Timespan of the packets in the receive buffer",
    samples: perConnection((c) =>
      c.receiveBufferMs === undefined ? undefined : seconds(c.receiveBufferMs)
    ),
  },
  {
    name: "atoll_connection_flow_window_packets",
    type: "gauge",
    help: "Flow window of the connection",
    samples: perConnection((c) => c.flowWindowPackets),
  },
  ...CONNECTION_RESOURCE_FAMILIES,
  {
    name: "atoll_viewer_skips_total",
    type: "counter",
    help: "Times the viewer fell behind and jumped to the newest random-access point",
    samples: perConnection((c) => c.viewer?.skips),
  },
  {
    name: "atoll_viewer_server_latency_samples_total",
    type: "counter",
    help: "Messages whose server-added latency the viewer measured",
    samples: perConnection((c) => c.viewer?.latency.samples),
  },
  {
    name: "atoll_viewer_server_latency_seconds",
    type: "gauge",
    help:
      "Server-added latency (publisher's child received to viewer's child sent) at a percentile, since the viewer connected",
    samples: perMeasuredViewer((latency) => [
      { labels: { percentile: "50" }, value: seconds(latency.p50Ms) },
      { labels: { percentile: "99" }, value: seconds(latency.p99Ms) },
    ]),
  },
  {
    name: "atoll_viewer_server_latency_max_seconds",
    type: "gauge",
    help: "Largest server-added latency since the viewer connected",
    samples: perMeasuredViewer((latency) => [{ value: seconds(latency.maxMs) }]),
  },
  {
    name: "atoll_stream_viewers",
    type: "gauge",
    help: "Viewers playing the stream",
    samples: perStream((s) => s.viewers),
  },
  {
    name: "atoll_stream_waiting_viewers",
    type: "gauge",
    help: "Viewers waiting for the stream's publisher",
    samples: perStream((s) => s.waiting),
  },
  {
    name: "atoll_stream_publishers",
    type: "gauge",
    help: "Whether the stream has a publisher (0 or 1)",
    samples: perStream((s) => s.publisher === null ? 0 : 1),
  },
  {
    name: "atoll_stream_received_bytes_total",
    type: "counter",
    help: "Bytes the stream's publisher sent into its buffer",
    samples: perStream((s) => s.bytesIn),
  },
  {
    name: "atoll_stream_receive_rate_bytes_per_second",
    type: "gauge",
    help: "Incoming rate of the stream",
    samples: perStream((s) => s.bitrateIn / 8),
  },
  {
    name: "atoll_stream_discarded_bytes_total",
    type: "counter",
    help: "Bytes the stream's publishers sent that were not whole MPEG-TS packets, discarded",
    samples: perStream((s) => s.bytesDiscarded),
  },
  {
    name: "atoll_stream_random_access_points_total",
    type: "counter",
    help: "Random-access points (keyframes) seen in the stream",
    samples: perStream((s) => s.randomAccessPoints),
  },
  {
    name: "atoll_stream_viewer_skips_total",
    type: "counter",
    help: "Times the stream's viewers fell behind and skipped ahead",
    samples: perStream((s) => s.viewerSkips),
  },
  {
    name: "atoll_stream_http_clients",
    type: "gauge",
    help: "HTTP-TS clients of the stream, on the media output",
    samples: perHttpStream((http) => http.clients),
  },
  {
    name: "atoll_stream_http_sent_bytes_total",
    type: "counter",
    help: "Bytes the media output sent the stream's HTTP-TS clients",
    samples: perHttpStream((http) => http.bytesSent),
  },
  {
    name: "atoll_stream_http_skips_total",
    type: "counter",
    help: "Times the stream's HTTP-TS clients fell behind and skipped ahead",
    samples: perHttpStream((http) => http.skips),
  },
  {
    name: "atoll_stream_http_hls_clients",
    type: "gauge",
    help: "Client addresses that fetched the stream's HLS playlist or a segment in the last 30 s",
    samples: perHttpStream((http) => http.hlsClients),
  },
  {
    name: "atoll_stream_http_hls_segments_total",
    type: "counter",
    help: "HLS segments the media output made of the stream",
    samples: perHttpStream((http) => http.hlsSegments),
  },
  {
    name: "atoll_stream_http_hls_sent_bytes_total",
    type: "counter",
    help: "Bytes of HLS playlists and segments the media output sent for the stream",
    samples: perHttpStream((http) => http.hlsBytesSent),
  },
  {
    name: "atoll_recording_active",
    type: "gauge",
    help:
      "Whether the stream's recorder writes it now (1), or not: being started again or failed (0)",
    samples: perRecording((recording) => recording.state === "recording" ? 1 : 0),
  },
  {
    name: "atoll_recording_bytes_total",
    type: "counter",
    help: "Bytes of the stream written to recording files since it began",
    samples: perRecording((recording) => recording.bytesWritten),
  },
  {
    name: "atoll_recording_failures_total",
    type: "counter",
    help:
      "Recordings of the stream that stopped by themselves (disk-full, write-error, no-directory)",
    samples: ({ recordingFailures }) =>
      recordingFailures.map(({ stream, reason, count }) => ({
        labels: { stream, reason },
        value: count,
      })),
  },
];

/** Renders the whole exposition (text format 0.0.4), ending with a newline. */
export function renderMetrics(snapshot: MetricsSnapshot): string {
  const lines: string[] = [];
  for (const { name, type, help, samples } of FAMILIES) {
    const found = samples(snapshot);
    if (found.length === 0) continue;
    lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
    for (const { suffix = "", labels = {}, value } of found) {
      lines.push(`${name}${suffix}${formatLabels(labels)} ${formatValue(value)}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

/**
 * Milliseconds to seconds, rounded to 15 significant digits (what a double
 * holds exactly) so that 2.1 ms reads 0.0021, not 0.0021000000000000003.
 */
function seconds(ms: number): number {
  return Number((ms / 1000).toPrecision(15));
}

function connectionLabels(connection: ConnectionMetrics): Record<string, string> {
  return {
    id: connection.id,
    stream: connection.stream ?? "",
    mode: connection.mode,
    peer: connection.peer,
  };
}

function formatLabels(labels: Readonly<Record<string, string>>): string {
  const pairs = Object.entries(labels).map(([name, value]) =>
    `${name}="${escapeLabelValue(value)}"`
  );
  return pairs.length === 0 ? "" : `{${pairs.join(",")}}`;
}

/** The exposition format's escapes in a label value: backslash, double quote, newline. */
function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => c === "\n" ? "\\n" : `\\${c}`);
}

/** In a HELP line only backslash and newline are escaped. */
function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => c === "\n" ? "\\n" : "\\\\");
}

/**
 * A sample value as Go's ParseFloat reads it: integers plainly up to 1e21,
 * beyond that JS's `1e+21` (valid Go syntax), and `NaN`, `+Inf`, `-Inf`.
 */
function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}
