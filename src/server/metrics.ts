/**
 * The Prometheus text exposition (format 0.0.4) behind `GET /metrics`: a
 * fixed-bucket {@link Histogram} for durations the server measures, and
 * {@link renderMetrics}, which turns one {@link MetricsSnapshot} of the
 * server into the page. Pure: the server gathers the snapshot, this module
 * only names, converts to base units (seconds, bytes) and escapes.
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

import type { LatencySummary } from "../media/latency_histogram.ts";
import type { LinkStats } from "../ipc/messages.ts";
import type { StreamInfo } from "./api_types.ts";

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
  & Omit<LinkStats, OptionalLinkStat>
  & Partial<Pick<LinkStats, OptionalLinkStat>>;

/** One stream, as the stream manager reports it. */
export type StreamMetrics = StreamInfo;

type MetricType = "counter" | "gauge" | "histogram";

interface Sample {
  /** Appended to the family's name: `_bucket`, `_sum`, `_count` or nothing. */
  suffix?: string;
  labels?: Readonly<Record<string, string>>;
  value: number;
}

const CONNECTION_STATES = ["handshaking", "connected"] as const;
const CONNECTION_MODES = ["publish", "play"] as const;

/** Mbit/s, as libsrt reports rates, to bytes per second. */
const BYTES_PER_SECOND_PER_MBPS = 1e6 / 8;

/** Renders the whole exposition (text format 0.0.4), ending with a newline. */
export function renderMetrics(snapshot: MetricsSnapshot): string {
  const { counters, connections, streams } = snapshot;
  const lines: string[] = [];
  const family = (name: string, type: MetricType, help: string, samples: readonly Sample[]) => {
    if (samples.length === 0) return;
    lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
    for (const { suffix = "", labels = {}, value } of samples) {
      lines.push(`${name}${suffix}${formatLabels(labels)} ${formatValue(value)}`);
    }
  };
  const byLabel = (label: string, values: Record<string, number>): Sample[] =>
    Object.entries(values).map(([key, value]) => ({ labels: { [label]: key }, value }));
  const perConnection = (
    name: string,
    type: MetricType,
    help: string,
    value: (connection: ConnectionMetrics) => number | undefined,
  ) =>
    family(
      name,
      type,
      help,
      connections.flatMap((connection) => {
        const v = value(connection);
        return v === undefined ? [] : [{ labels: connectionLabels(connection), value: v }];
      }),
    );
  const perStream = (
    name: string,
    type: MetricType,
    help: string,
    value: (stream: StreamMetrics) => number,
  ) =>
    family(
      name,
      type,
      help,
      streams.map((stream) => ({ labels: { stream: stream.name }, value: value(stream) })),
    );
  const histogram = (name: string, help: string, h: HistogramSnapshot) =>
    family(name, "histogram", help, [
      ...h.bounds.map((bound, i) => ({
        suffix: "_bucket",
        labels: { le: formatValue(bound) },
        value: h.counts[i] ?? 0,
      })),
      { suffix: "_bucket", labels: { le: "+Inf" }, value: h.count },
      { suffix: "_sum", value: h.sum },
      { suffix: "_count", value: h.count },
    ]);

  family(
    "atoll_datagrams_total",
    "counter",
    "UDP datagrams received on the listener, by classification",
    byLabel("kind", counters.datagrams),
  );
  family(
    "atoll_datagrams_dropped_total",
    "counter",
    "Datagrams the listener dropped, by reason",
    byLabel("reason", counters.dropped),
  );
  family("atoll_children_started_total", "counter", "Child processes started", [
    { value: counters.childrenStarted },
  ]);
  family("atoll_children_crashed_total", "counter", "Child processes that exited unexpectedly", [
    { value: counters.childrenCrashed },
  ]);
  family(
    "atoll_connections_accepted_total",
    "counter",
    "Callers handed over to a child",
    [{ value: counters.connectionsAccepted }],
  );
  family(
    "atoll_connections_closed_total",
    "counter",
    "Connections ended, by reason",
    byLabel("reason", counters.connectionsClosed),
  );
  family(
    "atoll_connections_rejected_total",
    "counter",
    "Callers refused by access control, by SRT rejection code",
    byLabel("code", snapshot.rejections),
  );
  family("atoll_children_idle", "gauge", "Started children waiting for a caller", [
    { value: snapshot.idleChildren },
  ]);
  family("atoll_children_starting", "gauge", "Children spawned but not ready yet", [
    { value: snapshot.startingChildren },
  ]);
  family(
    "atoll_connections",
    "gauge",
    "Live connections, by state and mode",
    CONNECTION_STATES.flatMap((state) =>
      CONNECTION_MODES.map((mode) => ({
        labels: { state, mode },
        value: connections.filter((c) => c.state === state && c.mode === mode).length,
      }))
    ),
  );
  histogram(
    "atoll_child_start_seconds",
    "Time from spawning a child to its being ready",
    snapshot.childStartSeconds,
  );
  histogram(
    "atoll_handshake_seconds",
    "Time from handing a caller over to a child to its being connected",
    snapshot.handshakeSeconds,
  );

  perConnection(
    "atoll_connection_received_bytes_total",
    "counter",
    "Bytes received on the connection",
    (c) => c.bytesReceived,
  );
  perConnection(
    "atoll_connection_sent_bytes_total",
    "counter",
    "Bytes sent on the connection",
    (c) => c.bytesSent,
  );
  perConnection(
    "atoll_connection_received_packets_total",
    "counter",
    "Packets received on the connection",
    (c) => c.packetsReceived,
  );
  perConnection(
    "atoll_connection_sent_packets_total",
    "counter",
    "Packets sent on the connection",
    (c) => c.packetsSent,
  );
  perConnection(
    "atoll_connection_lost_packets_total",
    "counter",
    "Packets lost on the connection, either way",
    (c) => c.packetsLost,
  );
  perConnection(
    "atoll_connection_retransmitted_packets_total",
    "counter",
    "Packets retransmitted on the connection",
    (c) => c.packetsRetransmitted,
  );
  perConnection(
    "atoll_connection_dropped_packets_total",
    "counter",
    "Packets dropped as too late to play, either way",
    (c) => c.packetsDropped,
  );
  perConnection(
    "atoll_connection_rtt_seconds",
    "gauge",
    "Smoothed round-trip time of the connection",
    (c) => seconds(c.rttMs),
  );
  perConnection(
    "atoll_connection_receive_rate_bytes_per_second",
    "gauge",
    "Receiving rate of the connection",
    (c) => c.mbpsReceiveRate * BYTES_PER_SECOND_PER_MBPS,
  );
  perConnection(
    "atoll_connection_send_rate_bytes_per_second",
    "gauge",
    "Sending rate of the connection",
    (c) => c.mbpsSendRate * BYTES_PER_SECOND_PER_MBPS,
  );
  perConnection(
    "atoll_connection_bandwidth_bytes_per_second",
    "gauge",
    "Estimated bandwidth of the link",
    (c) => c.mbpsBandwidth === undefined ? undefined : c.mbpsBandwidth * BYTES_PER_SECOND_PER_MBPS,
  );
  perConnection(
    "atoll_connection_belated_packets_total",
    "counter",
    "Packets received too late and ignored",
    (c) => c.packetsBelated,
  );
  perConnection(
    "atoll_connection_send_buffer_packets",
    "gauge",
    "Packets in the send buffer, unacknowledged",
    (c) => c.sendBufferPackets,
  );
  perConnection(
    "atoll_connection_send_buffer_seconds",
    "gauge",
    "Timespan of the packets in the send buffer",
    (c) => c.sendBufferMs === undefined ? undefined : seconds(c.sendBufferMs),
  );
  perConnection(
    "atoll_connection_receive_buffer_packets",
    "gauge",
    "Packets in the receive buffer, not yet delivered",
    (c) => c.receiveBufferPackets,
  );
  perConnection(
    "atoll_connection_receive_buffer_seconds",
    "gauge",
    "Timespan of the packets in the receive buffer",
    (c) => c.receiveBufferMs === undefined ? undefined : seconds(c.receiveBufferMs),
  );
  perConnection(
    "atoll_connection_flow_window_packets",
    "gauge",
    "Flow window of the connection",
    (c) => c.flowWindowPackets,
  );

  perConnection(
    "atoll_viewer_skips_total",
    "counter",
    "Times the viewer fell behind and jumped to the newest random-access point",
    (c) => c.viewer?.skips,
  );
  perConnection(
    "atoll_viewer_server_latency_samples_total",
    "counter",
    "Messages whose server-added latency the viewer measured",
    (c) => c.viewer?.latency.samples,
  );
  // A viewer without samples has no latency to show, rather than a latency of 0.
  const latencies = connections.flatMap((c) =>
    c.viewer && c.viewer.latency.samples > 0
      ? [{ labels: connectionLabels(c), latency: c.viewer.latency }]
      : []
  );
  family(
    "atoll_viewer_server_latency_seconds",
    "gauge",
    "Server-added latency (publisher's child received to viewer's child sent) at a percentile, since the viewer connected",
    latencies.flatMap(({ labels, latency }) => [
      { labels: { ...labels, percentile: "50" }, value: seconds(latency.p50Ms) },
      { labels: { ...labels, percentile: "99" }, value: seconds(latency.p99Ms) },
    ]),
  );
  family(
    "atoll_viewer_server_latency_max_seconds",
    "gauge",
    "Largest server-added latency since the viewer connected",
    latencies.map(({ labels, latency }) => ({ labels, value: seconds(latency.maxMs) })),
  );

  perStream("atoll_stream_viewers", "gauge", "Viewers playing the stream", (s) => s.viewers);
  perStream(
    "atoll_stream_waiting_viewers",
    "gauge",
    "Viewers waiting for the stream's publisher",
    (s) => s.waiting,
  );
  perStream(
    "atoll_stream_publishers",
    "gauge",
    "Whether the stream has a publisher (0 or 1)",
    (s) => s.publisher === null ? 0 : 1,
  );
  perStream(
    "atoll_stream_received_bytes_total",
    "counter",
    "Bytes the stream's publisher sent into its buffer",
    (s) => s.bytesIn,
  );
  perStream(
    "atoll_stream_receive_rate_bytes_per_second",
    "gauge",
    "Incoming rate of the stream",
    (s) => s.bitrateIn / 8,
  );
  perStream(
    "atoll_stream_random_access_points_total",
    "counter",
    "Random-access points (keyframes) seen in the stream",
    (s) => s.randomAccessPoints,
  );
  perStream(
    "atoll_stream_viewer_skips_total",
    "counter",
    "Times the stream's viewers fell behind and skipped ahead",
    (s) => s.viewerSkips,
  );

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
