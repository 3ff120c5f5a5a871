import assert from "node:assert/strict";
import {
  CHILD_START_BUCKETS,
  type ConnectionMetrics,
  HANDSHAKE_BUCKETS,
  Histogram,
  type HistogramSnapshot,
  type MetricsSnapshot,
  renderMetrics,
  type StreamMetrics,
} from "./metrics.ts";

function emptyHistogram(bounds: readonly number[] = [0.1, 1]): HistogramSnapshot {
  return new Histogram(bounds).snapshot();
}

function emptySnapshot(): MetricsSnapshot {
  return {
    counters: {
      datagrams: {},
      dropped: {},
      inductionsAnswered: 0,
      callersRejected: 0,
      childrenStarted: 0,
      childrenCrashed: 0,
      connectionsAccepted: 0,
      connectionsClosed: {},
    },
    rejections: {},
    childStartSeconds: emptyHistogram(),
    handshakeSeconds: emptyHistogram(),
    connections: [],
    streams: [],
    idleChildren: 0,
    startingChildren: 0,
    poolFloor: 2,
    waitingCallers: 0,
    relays: [],
    relayCounts: { attempts: 0, failures: 0 },
    mediaRefusals: [],
    output: null,
    recordingFailures: [],
  };
}

function connection(overrides: Partial<ConnectionMetrics> = {}): ConnectionMetrics {
  return {
    id: "c1",
    stream: "live/cam1",
    mode: "publish",
    peer: "192.0.2.7:40000",
    state: "connected",
    bytesReceived: 1_316_000,
    bytesSent: 4_096,
    packetsReceived: 1_000,
    packetsSent: 120,
    packetsLost: 3,
    packetsRetransmitted: 2,
    packetsDropped: 1,
    rttMs: 12.5,
    mbpsReceiveRate: 4,
    mbpsSendRate: 0.5,
    ...overrides,
  };
}

function stream(overrides: Partial<StreamMetrics> = {}): StreamMetrics {
  return {
    name: "live/cam1",
    publisher: "c1",
    viewers: 2,
    waiting: 1,
    bytesIn: 1_316_000,
    bitrateIn: 4_000_000,
    bytesDiscarded: 0,
    randomAccessPoints: 7,
    viewerSkips: 1,
    tracks: [],
    http: {
      clients: 3,
      bytesSent: 987_654,
      skips: 2,
      hlsClients: 4,
      hlsSegments: 120,
      hlsBytesSent: 7_654_321,
    },
    recording: null,
    urls: {
      ts: "http://127.0.0.1:8081/live/cam1.ts",
      hls: "http://127.0.0.1:8081/live/cam1/index.m3u8",
    },
    ...overrides,
  };
}

/** A server with a publisher, two viewers, a caller mid-handshake and some history. */
function realisticSnapshot(): MetricsSnapshot {
  const childStart = new Histogram(CHILD_START_BUCKETS);
  for (const seconds of [0.08, 0.12, 0.15, 0.31, 2]) childStart.observe(seconds);
  const handshake = new Histogram(HANDSHAKE_BUCKETS);
  for (const seconds of [0.0004, 0.003, 0.02, 0.02, 12]) handshake.observe(seconds);
  const linkExtras = {
    mbpsBandwidth: 950.5,
    packetsBelated: 4,
    sendBufferPackets: 12,
    sendBufferMs: 40,
    receiveBufferPackets: 30,
    receiveBufferMs: 120,
    flowWindowPackets: 8192,
  };
  return {
    counters: {
      datagrams: { induction: 12, conclusion: 11, data: 98_765_432, garbage: 3 },
      dropped: { "unknown-peer": 2, "queue-full": 0 },
      inductionsAnswered: 14,
      callersRejected: 5,
      childrenStarted: 9,
      childrenCrashed: 1,
      connectionsAccepted: 6,
      connectionsClosed: {
        "peer-closed": 2,
        broken: 0,
        "handshake-timeout": 0,
        rejected: 1,
        shutdown: 0,
        error: 0,
        crashed: 1,
      },
    },
    rejections: { "1400": 1, "1409": 2 },
    childStartSeconds: childStart.snapshot(),
    handshakeSeconds: handshake.snapshot(),
    connections: [
      connection({
        ...linkExtras,
        viewer: null,
        cpuPercent: 3.5,
        privateDirtyBytes: 17_608_704,
        pssBytes: 28_101_632,
      }),
      connection({
        id: "c2",
        mode: "play",
        peer: "[2001:db8::1]:5000",
        ...linkExtras,
        viewer: { skips: 1, latency: { samples: 5_000, p50Ms: 0.4, p99Ms: 2.1, maxMs: 9.8 } },
        cpuPercent: 0.7,
        privateDirtyBytes: 13_660_160,
        pssBytes: 21_715_968,
      }),
      connection({
        id: "c3",
        mode: "play",
        peer: "198.51.100.4:6000",
        viewer: { skips: 0, latency: { samples: 0, p50Ms: 0, p99Ms: 0, maxMs: 0 } },
        // Sampled once: a memory reading, no CPU rate yet.
        cpuPercent: null,
        privateDirtyBytes: 13_000_000,
        pssBytes: null,
      }),
      connection({ id: "c4", stream: null, mode: "play", state: "handshaking" }),
    ],
    streams: [
      stream({
        recording: {
          state: "recording",
          dir: "/var/rec",
          file: "live+cam1_20250102T030405Z.ts",
          bytesWritten: 5_000_000,
          files: 3,
        },
      }),
      stream({
        name: 'odd\\name "quoted"\nline',
        publisher: null,
        viewers: 0,
        bitrateIn: 0,
        bytesDiscarded: 2912,
        http: null,
        urls: null,
      }),
    ],
    idleChildren: 2,
    startingChildren: 1,
    poolFloor: 3,
    waitingCallers: 4,
    relays: [{ direction: "pull", state: "connected" }, { direction: "push", state: "retrying" }],
    relayCounts: { attempts: 5, failures: 3 },
    mediaRefusals: [
      { protocol: "hls", reason: "expired", count: 2 },
      { protocol: "http-ts", reason: "rate-limited", count: 7 },
    ],
    output: { up: true, restarts: 1 },
    recordingFailures: [{ stream: "live/cam2", reason: "disk-full", count: 1 }],
  };
}

/** The value of the one series written exactly as `series` (name and labels). */
function valueOf(text: string, series: string): string | undefined {
  const matches = text.split("\n").filter((line) => line.startsWith(`${series} `));
  assert.ok(matches.length <= 1, `${series} appears ${matches.length} times`);
  return matches[0]?.slice(series.length + 1);
}

/** Names of the families in the order their TYPE lines come. */
function familyNames(text: string): string[] {
  return text.split("\n").filter((line) => line.startsWith("# TYPE ")).map((line) =>
    line.split(" ")[2]!
  );
}

Deno.test("Histogram.snapshot() counts cumulatively, with everything in count (+Inf)", () => {
  const cases: { observations: number[]; counts: number[]; sum: number; count: number }[] = [
    { observations: [], counts: [0, 0, 0], sum: 0, count: 0 },
    // A value on a bound falls in that bucket (le is "less than or equal").
    { observations: [0.1, 0.5, 1, 1.5], counts: [1, 2, 3], sum: 3.1, count: 4 },
    { observations: [0.05, 0.05, 7], counts: [2, 2, 2], sum: 7.1, count: 3 },
    { observations: [20, 30], counts: [0, 0, 0], sum: 50, count: 2 },
  ];
  for (const { observations, counts, sum, count } of cases) {
    const histogram = new Histogram([0.1, 0.5, 1]);
    for (const seconds of observations) histogram.observe(seconds);
    const snapshot = histogram.snapshot();
    assert.deepEqual(snapshot.bounds, [0.1, 0.5, 1]);
    assert.deepEqual(snapshot.counts, counts, `observations ${observations}`);
    assert.ok(Math.abs(snapshot.sum - sum) < 1e-9, `sum ${snapshot.sum}, expected ${sum}`);
    assert.equal(snapshot.count, count);
  }
});

Deno.test("Histogram.observe() counts a negative duration as 0 and ignores NaN", () => {
  const histogram = new Histogram([0.1]);
  histogram.observe(-0.002);
  histogram.observe(NaN);
  histogram.observe(Infinity);
  assert.deepEqual(histogram.snapshot(), { bounds: [0.1], counts: [1], sum: Infinity, count: 2 });
});

Deno.test("Histogram rejects bounds that are not finite and strictly ascending", () => {
  for (const bounds of [[1, 0.5], [0.1, 0.1], [0.1, NaN], [0.1, Infinity], [-Infinity, 1]]) {
    assert.throws(() => new Histogram(bounds), RangeError, `bounds ${bounds}`);
  }
  assert.deepEqual(new Histogram([]).snapshot(), { bounds: [], counts: [], sum: 0, count: 0 });
});

Deno.test("The default buckets are finite and strictly ascending, in seconds", () => {
  for (const bounds of [CHILD_START_BUCKETS, HANDSHAKE_BUCKETS]) {
    assert.doesNotThrow(() => new Histogram(bounds));
    assert.equal(bounds.at(-1), 10);
  }
  assert.equal(CHILD_START_BUCKETS[0], 0.01);
  assert.equal(HANDSHAKE_BUCKETS[0], 0.001);
});

Deno.test("renderMetrics() names every family of a full snapshot, in order", () => {
  assert.deepEqual(familyNames(renderMetrics(realisticSnapshot())), [
    "atoll_datagrams_total",
    "atoll_datagrams_dropped_total",
    "atoll_inductions_answered_total",
    "atoll_callers_rejected_total",
    "atoll_children_started_total",
    "atoll_children_crashed_total",
    "atoll_connections_accepted_total",
    "atoll_connections_closed_total",
    "atoll_connections_rejected_total",
    "atoll_children_idle",
    "atoll_children_starting",
    "atoll_pool_floor",
    "atoll_callers_waiting",
    "atoll_relays",
    "atoll_relay_attempts_total",
    "atoll_relay_failures_total",
    "atoll_output_up",
    "atoll_output_restarts_total",
    "atoll_http_media_refusals_total",
    "atoll_connections",
    "atoll_child_start_seconds",
    "atoll_handshake_seconds",
    "atoll_connection_received_bytes_total",
    "atoll_connection_sent_bytes_total",
    "atoll_connection_received_packets_total",
    "atoll_connection_sent_packets_total",
    "atoll_connection_lost_packets_total",
    "atoll_connection_retransmitted_packets_total",
    "atoll_connection_dropped_packets_total",
    "atoll_connection_rtt_seconds",
    "atoll_connection_receive_rate_bytes_per_second",
    "atoll_connection_send_rate_bytes_per_second",
    "atoll_connection_bandwidth_bytes_per_second",
    "atoll_connection_belated_packets_total",
    "atoll_connection_send_buffer_packets",
    "atoll_connection_send_buffer_seconds",
    "atoll_connection_receive_buffer_packets",
    "atoll_connection_receive_buffer_seconds",
    "atoll_connection_flow_window_packets",
    "atoll_connection_cpu_ratio",
    "atoll_connection_private_dirty_bytes",
    "atoll_connection_pss_bytes",
    "atoll_viewer_skips_total",
    "atoll_viewer_server_latency_samples_total",
    "atoll_viewer_server_latency_seconds",
    "atoll_viewer_server_latency_max_seconds",
    "atoll_stream_viewers",
    "atoll_stream_waiting_viewers",
    "atoll_stream_publishers",
    "atoll_stream_received_bytes_total",
    "atoll_stream_receive_rate_bytes_per_second",
    "atoll_stream_discarded_bytes_total",
    "atoll_stream_random_access_points_total",
    "atoll_stream_viewer_skips_total",
    "atoll_stream_http_clients",
    "atoll_stream_http_sent_bytes_total",
    "atoll_stream_http_skips_total",
    "atoll_stream_http_hls_clients",
    "atoll_stream_http_hls_segments_total",
    "atoll_stream_http_hls_sent_bytes_total",
    "atoll_recording_active",
    "atoll_recording_bytes_total",
    "atoll_recording_failures_total",
  ]);
});

Deno.test("renderMetrics() gives each family HELP then TYPE once, its samples together after them", () => {
  for (const [name, snapshot] of [["empty", emptySnapshot()], ["full", realisticSnapshot()]]) {
    const text = renderMetrics(snapshot as MetricsSnapshot);
    assert.ok(text.endsWith("\n") && !text.endsWith("\n\n"), `${name}: ends with one newline`);
    const seen = new Set<string>();
    let current: { name: string; type: string } | undefined;
    let pendingHelp: string | undefined;
    for (const line of text.slice(0, -1).split("\n")) {
      const [hash, keyword, family, rest] = line.split(" ");
      if (hash === "#" && keyword === "HELP") {
        assert.ok(!seen.has(family!), `${name}: ${family} described twice`);
        assert.ok(rest !== undefined && rest.length > 0, `${name}: ${family} has an empty HELP`);
        pendingHelp = family;
        seen.add(family!);
      } else if (hash === "#" && keyword === "TYPE") {
        assert.equal(family, pendingHelp, `${name}: TYPE of ${family} right after its HELP`);
        assert.ok(["counter", "gauge", "histogram"].includes(rest!));
        current = { name: family!, type: rest! };
        pendingHelp = undefined;
      } else {
        assert.ok(current !== undefined, `${name}: sample before any TYPE: ${line}`);
        assert.equal(pendingHelp, undefined, `${name}: sample between HELP and TYPE: ${line}`);
        const series = line.split(/[{ ]/)[0]!;
        const suffixes = current.type === "histogram" ? ["_bucket", "_sum", "_count"] : [""];
        assert.ok(
          suffixes.some((suffix) => series === `${current!.name}${suffix}`),
          `${name}: ${series} under the TYPE of ${current.name}`,
        );
      }
    }
  }
});

Deno.test("renderMetrics() leaves out a family without samples", () => {
  const text = renderMetrics(emptySnapshot());
  for (
    const absent of [
      "atoll_datagrams_total",
      "atoll_connection_rtt_seconds",
      "atoll_stream_viewers",
    ]
  ) {
    assert.ok(!text.includes(absent), `${absent} in\n${text}`);
  }
  assert.equal(valueOf(text, "atoll_children_started_total"), "0");
  assert.equal(valueOf(text, "atoll_children_idle"), "0");
});

Deno.test("renderMetrics() escapes backslash, double quote and newline in label values", () => {
  const cases = [
    { value: "plain", escaped: "plain" },
    { value: "back\\slash", escaped: "back\\\\slash" },
    { value: 'a "quoted" name', escaped: 'a \\"quoted\\" name' },
    { value: "two\nlines", escaped: "two\\nlines" },
    { value: '\\"\n', escaped: '\\\\\\"\\n' },
    { value: "", escaped: "" },
    { value: "ünïcode/€", escaped: "ünïcode/€" },
  ];
  for (const { value, escaped } of cases) {
    const snapshot = emptySnapshot();
    snapshot.streams = [stream({ name: value, viewers: 3 })];
    const text = renderMetrics(snapshot);
    assert.equal(valueOf(text, `atoll_stream_viewers{stream="${escaped}"}`), "3", text);
    // Every sample stays on one line.
    assert.equal(text.split("\n").filter((l) => l.startsWith("atoll_stream_viewers")).length, 1);
  }
});

Deno.test("renderMetrics() writes numbers as Go's ParseFloat reads them", () => {
  const cases: [number, string][] = [
    [0, "0"],
    [-0, "0"],
    [42, "42"],
    [0.25, "0.25"],
    [2 ** 53, "9007199254740992"],
    [123_456_789_012_345_680_000, "123456789012345680000"],
    [1e21, "1e+21"],
    [NaN, "NaN"],
    [Infinity, "+Inf"],
    [-Infinity, "-Inf"],
  ];
  for (const [value, expected] of cases) {
    const snapshot = emptySnapshot();
    snapshot.counters.childrenStarted = value;
    assert.equal(valueOf(renderMetrics(snapshot), "atoll_children_started_total"), expected);
  }
});

Deno.test("renderMetrics() labels counters by kind, reason and code", () => {
  const text = renderMetrics(realisticSnapshot());
  const cases: [string, string][] = [
    ['atoll_datagrams_total{kind="data"}', "98765432"],
    ['atoll_datagrams_dropped_total{reason="queue-full"}', "0"],
    ['atoll_connections_closed_total{reason="crashed"}', "1"],
    ['atoll_connections_closed_total{reason="handshake-timeout"}', "0"],
    ['atoll_connections_rejected_total{code="1409"}', "2"],
    ["atoll_children_crashed_total", "1"],
    ["atoll_connections_accepted_total", "6"],
    ["atoll_children_starting", "1"],
  ];
  for (const [series, value] of cases) assert.equal(valueOf(text, series), value, series);
});

Deno.test("renderMetrics() counts connections for every state and mode, zeros included", () => {
  const cases: { connections: ConnectionMetrics[]; expected: Record<string, string> }[] = [
    {
      connections: [],
      expected: {
        "handshaking,publish": "0",
        "handshaking,play": "0",
        "connected,publish": "0",
        "connected,play": "0",
      },
    },
    {
      connections: realisticSnapshot().connections,
      expected: {
        "handshaking,publish": "0",
        "handshaking,play": "1",
        "connected,publish": "1",
        "connected,play": "2",
      },
    },
  ];
  for (const { connections, expected } of cases) {
    const text = renderMetrics({ ...emptySnapshot(), connections });
    for (const [key, value] of Object.entries(expected)) {
      const [state, mode] = key.split(",");
      assert.equal(valueOf(text, `atoll_connections{state="${state}",mode="${mode}"}`), value, key);
    }
    assert.equal(text.split("\n").filter((l) => l.startsWith("atoll_connections{")).length, 4);
  }
});

Deno.test("renderMetrics() writes histograms with cumulative buckets, +Inf, _sum and _count", () => {
  const histogram = new Histogram([0.01, 0.1, 1]);
  for (const seconds of [0.005, 0.05, 0.05, 0.5, 3]) histogram.observe(seconds);
  const text = renderMetrics({ ...emptySnapshot(), handshakeSeconds: histogram.snapshot() });
  const lines = text.split("\n").filter((line) => line.startsWith("atoll_handshake_seconds"));
  assert.deepEqual(lines, [
    'atoll_handshake_seconds_bucket{le="0.01"} 1',
    'atoll_handshake_seconds_bucket{le="0.1"} 3',
    'atoll_handshake_seconds_bucket{le="1"} 4',
    'atoll_handshake_seconds_bucket{le="+Inf"} 5',
    "atoll_handshake_seconds_sum 3.605",
    "atoll_handshake_seconds_count 5",
  ]);
  const empty = renderMetrics(emptySnapshot());
  assert.equal(valueOf(empty, 'atoll_child_start_seconds_bucket{le="+Inf"}'), "0");
  assert.equal(valueOf(empty, "atoll_child_start_seconds_count"), "0");
});

Deno.test("renderMetrics() labels a connection by id, stream, mode and peer, in base units", () => {
  const text = renderMetrics(realisticSnapshot());
  const c2 = 'id="c2",stream="live/cam1",mode="play",peer="[2001:db8::1]:5000"';
  const c4 = 'id="c4",stream="",mode="play",peer="192.0.2.7:40000"';
  const cases: [string, string][] = [
    [`atoll_connection_received_bytes_total{${c2}}`, "1316000"],
    [`atoll_connection_sent_packets_total{${c2}}`, "120"],
    [`atoll_connection_lost_packets_total{${c2}}`, "3"],
    [`atoll_connection_retransmitted_packets_total{${c2}}`, "2"],
    [`atoll_connection_dropped_packets_total{${c2}}`, "1"],
    [`atoll_connection_rtt_seconds{${c2}}`, "0.0125"],
    [`atoll_connection_receive_rate_bytes_per_second{${c2}}`, "500000"],
    [`atoll_connection_send_rate_bytes_per_second{${c2}}`, "62500"],
    [`atoll_connection_bandwidth_bytes_per_second{${c2}}`, "118812500"],
    [`atoll_connection_belated_packets_total{${c2}}`, "4"],
    [`atoll_connection_send_buffer_packets{${c2}}`, "12"],
    [`atoll_connection_send_buffer_seconds{${c2}}`, "0.04"],
    [`atoll_connection_receive_buffer_packets{${c2}}`, "30"],
    [`atoll_connection_receive_buffer_seconds{${c2}}`, "0.12"],
    [`atoll_connection_flow_window_packets{${c2}}`, "8192"],
    [`atoll_connection_received_bytes_total{${c4}}`, "1316000"],
  ];
  for (const [series, value] of cases) assert.equal(valueOf(text, series), value, series);
});

Deno.test("renderMetrics() leaves out link statistics a connection lacks", () => {
  const optional = [
    "atoll_connection_bandwidth_bytes_per_second",
    "atoll_connection_belated_packets_total",
    "atoll_connection_send_buffer_packets",
    "atoll_connection_send_buffer_seconds",
    "atoll_connection_receive_buffer_packets",
    "atoll_connection_receive_buffer_seconds",
    "atoll_connection_flow_window_packets",
    "atoll_viewer_skips_total",
    "atoll_viewer_server_latency_samples_total",
    "atoll_viewer_server_latency_seconds",
    "atoll_viewer_server_latency_max_seconds",
  ];
  const text = renderMetrics({ ...emptySnapshot(), connections: [connection()] });
  for (const name of optional) assert.ok(!text.includes(name), `${name} in\n${text}`);
  // Only c3's and c4's are absent when others have them.
  const full = renderMetrics(realisticSnapshot());
  for (const id of ["c3", "c4"]) {
    assert.ok(!full.includes(`atoll_connection_flow_window_packets{id="${id}"`), id);
  }
  assert.ok(full.includes('atoll_connection_flow_window_packets{id="c1"'));
});

Deno.test("renderMetrics() shows a viewer's skips and latency, without latency before samples", () => {
  const text = renderMetrics(realisticSnapshot());
  const c2 = 'id="c2",stream="live/cam1",mode="play",peer="[2001:db8::1]:5000"';
  const c3 = 'id="c3",stream="live/cam1",mode="play",peer="198.51.100.4:6000"';
  const cases: [string, string | undefined][] = [
    [`atoll_viewer_skips_total{${c2}}`, "1"],
    [`atoll_viewer_server_latency_samples_total{${c2}}`, "5000"],
    [`atoll_viewer_server_latency_seconds{${c2},percentile="50"}`, "0.0004"],
    [`atoll_viewer_server_latency_seconds{${c2},percentile="99"}`, "0.0021"],
    [`atoll_viewer_server_latency_max_seconds{${c2}}`, "0.0098"],
    [`atoll_viewer_skips_total{${c3}}`, "0"],
    [`atoll_viewer_server_latency_samples_total{${c3}}`, "0"],
    [`atoll_viewer_server_latency_seconds{${c3},percentile="50"}`, undefined],
    [`atoll_viewer_server_latency_max_seconds{${c3}}`, undefined],
  ];
  for (const [series, value] of cases) assert.equal(valueOf(text, series), value, series);
  // The publisher (viewer: null) has no viewer series.
  assert.ok(!text.includes('atoll_viewer_skips_total{id="c1"'));
});

Deno.test("renderMetrics() shows each stream by name, its rate in bytes per second", () => {
  const text = renderMetrics(realisticSnapshot());
  const odd = 'stream="odd\\\\name \\"quoted\\"\\nline"';
  const cases: [string, string | undefined][] = [
    ['atoll_stream_viewers{stream="live/cam1"}', "2"],
    ['atoll_stream_waiting_viewers{stream="live/cam1"}', "1"],
    ['atoll_stream_publishers{stream="live/cam1"}', "1"],
    ['atoll_stream_received_bytes_total{stream="live/cam1"}', "1316000"],
    ['atoll_stream_receive_rate_bytes_per_second{stream="live/cam1"}', "500000"],
    ['atoll_stream_random_access_points_total{stream="live/cam1"}', "7"],
    ['atoll_stream_viewer_skips_total{stream="live/cam1"}', "1"],
    [`atoll_stream_publishers{${odd}}`, "0"],
    [`atoll_stream_viewers{${odd}}`, "0"],
    ['atoll_stream_http_clients{stream="live/cam1"}', "3"],
    ['atoll_stream_http_sent_bytes_total{stream="live/cam1"}', "987654"],
    ['atoll_stream_http_skips_total{stream="live/cam1"}', "2"],
    ['atoll_stream_http_hls_clients{stream="live/cam1"}', "4"],
    ['atoll_stream_http_hls_segments_total{stream="live/cam1"}', "120"],
    ['atoll_stream_http_hls_sent_bytes_total{stream="live/cam1"}', "7654321"],
    // A stream the media output does not serve has no HTTP series.
    [`atoll_stream_http_clients{${odd}}`, undefined],
    ["atoll_output_up", "1"],
    ["atoll_output_restarts_total", "1"],
  ];
  for (const [series, value] of cases) assert.equal(valueOf(text, series), value, series);
  assert.ok(
    !renderMetrics(emptySnapshot()).includes("atoll_output_"),
    "no media output, no series",
  );
});

Deno.test("renderMetrics() shows each child's CPU as a ratio and its memory in bytes, once sampled", () => {
  const text = renderMetrics(realisticSnapshot());
  const c1 = 'id="c1",stream="live/cam1",mode="publish",peer="192.0.2.7:40000"';
  const c2 = 'id="c2",stream="live/cam1",mode="play",peer="[2001:db8::1]:5000"';
  const c3 = 'id="c3",stream="live/cam1",mode="play",peer="198.51.100.4:6000"';
  const cases: [string, string | undefined][] = [
    [`atoll_connection_cpu_ratio{${c1}}`, "0.035"],
    [`atoll_connection_private_dirty_bytes{${c1}}`, "17608704"],
    [`atoll_connection_pss_bytes{${c1}}`, "28101632"],
    [`atoll_connection_cpu_ratio{${c2}}`, "0.007"],
    [`atoll_connection_private_dirty_bytes{${c2}}`, "13660160"],
    [`atoll_connection_pss_bytes{${c2}}`, "21715968"],
    // Null is not sampled yet: no series rather than a 0.
    [`atoll_connection_cpu_ratio{${c3}}`, undefined],
    [`atoll_connection_private_dirty_bytes{${c3}}`, "13000000"],
    [`atoll_connection_pss_bytes{${c3}}`, undefined],
  ];
  for (const [series, value] of cases) assert.equal(valueOf(text, series), value, series);
  // c4 has no resource figures at all.
  assert.ok(!text.includes('atoll_connection_cpu_ratio{id="c4"'));
  const none = renderMetrics({ ...emptySnapshot(), connections: [connection()] });
  assert.ok(!none.includes("atoll_connection_cpu_ratio"), none);
  assert.ok(!none.includes("atoll_connection_pss_bytes"), none);
});

/** Runs `promtool check metrics` on `text`: its exit code and everything it printed. */
async function promtoolCheck(text: string): Promise<{ code: number; output: string }> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("promtool", {
      args: ["check", "metrics"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error("Cannot run promtool: not installed (scripts/setup.sh --test installs it)");
    }
    throw error;
  }
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { code, output: decoder.decode(stdout) + decoder.decode(stderr) };
}

Deno.test("promtool check metrics accepts the exposition without lint problems", async (t) => {
  const extremes = realisticSnapshot();
  extremes.counters.childrenStarted = 1e21;
  extremes.counters.datagrams = { data: NaN, garbage: Infinity };
  extremes.connections[0]!.rttMs = -Infinity;
  const cases: [string, MetricsSnapshot][] = [
    ["a realistic snapshot", realisticSnapshot()],
    ["an empty snapshot", emptySnapshot()],
    ["extreme values", extremes],
  ];
  for (const [name, snapshot] of cases) {
    await t.step(name, async () => {
      const { code, output } = await promtoolCheck(renderMetrics(snapshot));
      assert.equal(output.trim(), "", `promtool printed:\n${output}`);
      assert.equal(code, 0);
    });
  }
});

Deno.test("renderMetrics() writes exactly the golden exposition of an empty and a full snapshot", async () => {
  const cases: [string, MetricsSnapshot][] = [
    ["metrics_empty.prom", emptySnapshot()],
    ["metrics_realistic.prom", realisticSnapshot()],
  ];
  for (const [file, snapshot] of cases) {
    const golden = await Deno.readTextFile(new URL(`./testdata/${file}`, import.meta.url));
    assert.equal(renderMetrics(snapshot), golden, file);
  }
});
