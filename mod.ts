/**
 * Atoll: an SRT media server that runs every SRT peer in its own OS process,
 * on the system's unmodified libsrt.
 *
 * ```ts
 * import { AtollServer, parseConfig } from "./mod.ts";
 *
 * await using server = await AtollServer.start(
 *   { srtListen: { hostname: "127.0.0.1", port: 0 } },
 *   { config: parseConfig("streams: [{ prefix: live, maxViewers: 10 }]", "yaml", "inline") },
 * );
 * console.log(server.srtAddress, server.connections(), server.streams());
 * ```
 *
 * Another project imports this file by path or URL; it needs none of Atoll's
 * deno.json, only Atoll's unstable APIs turned on (`--unstable-net` and
 * `--unstable-raw-imports`, or `"unstable"` in its own deno.json) and `-A`:
 * FFI for libsrt and libc, the network, and running `deno` for each peer.
 *
 * Linux only: the design hands each peer a UDP socket `connect()`ed to it.
 *
 * @module
 */

export { AtollServer, DROP_REASONS, type StartOptions, StartupError } from "./src/server/server.ts";
export type {
  ConnectionInfo,
  DropReason,
  HttpStreamInfo,
  MediaUrls,
  ServerCounters,
  ServerStats,
  StreamInfo,
  StreamState,
  TrackInfo,
} from "./src/server/api_types.ts";
export {
  DEFAULT_OPTIONS,
  type HostPort,
  type LogFormat,
  type LogLevel,
  resolveOptions,
  type ServerOptions,
} from "./src/config/options.ts";
export {
  type AtollConfig,
  type BufferSize,
  ConfigError,
  DEFAULT_CONFIG,
  loadConfig,
  parseConfig,
  rulesFor,
  type StreamEntry,
  type StreamRules,
} from "./src/config/config_file.ts";
export { RejectCode } from "./src/protocol/reject_codes.ts";
export { classifyDatagram, type Datagram, type DatagramKind } from "./src/protocol/classify.ts";
export { parseStreamId, type StreamId, type StreamMode } from "./src/protocol/stream_id.ts";
export { setupLogging } from "./src/server/log.ts";
