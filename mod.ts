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
 * Linux only: the design hands each peer a UDP socket `connect()`ed to it.
 *
 * @module
 */

export {
  AtollServer,
  type ConnectionInfo,
  DROP_REASONS,
  type DropReason,
  type ServerCounters,
  type StartOptions,
  StartupError,
} from "./src/server.ts";
export {
  DEFAULT_OPTIONS,
  type HostPort,
  type LogFormat,
  type LogLevel,
  resolveOptions,
  type ServerOptions,
} from "./src/options.ts";
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
} from "./src/config.ts";
export type { StreamInfo } from "./src/stream_router.ts";
export { RejectCode } from "./src/reject_codes.ts";
export { classifyDatagram, type Datagram, type DatagramKind } from "./src/classify.ts";
export { parseStreamId, type StreamId, type StreamMode } from "./src/stream_id.ts";
export { setupLogging } from "./src/log.ts";
