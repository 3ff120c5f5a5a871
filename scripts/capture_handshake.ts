/**
 * Records real SRT datagrams for the test vectors in src/protocol/testdata/.
 *
 * A UDP relay on loopback: a caller sends to `--listen`, the relay forwards
 * each datagram to `--upstream` from one socket of its own and passes the
 * answers back, writing every datagram with its direction to `--out` as JSON.
 * The listener sees the relay's upstream socket as its peer, so the SYN
 * cookie in its answer is computed over that address, which is recorded too.
 * Without `--upstream` nothing is forwarded: the caller's datagrams are only
 * recorded (enough for inductions and rendezvous wave-a-hands).
 *
 * The run is bounded: it stops after `--count` datagrams or `--seconds`.
 *
 *   deno run --allow-net --allow-write=FILE scripts/capture_handshake.ts \
 *     --listen 127.0.0.1:7001 --upstream 127.0.0.1:7002 --count 8 --seconds 5 --out FILE
 *
 * @module
 */

import { parseArgs } from "node:util";
import { hexFromBytes } from "../src/ipc/hex.ts";
import { formatHostPort, type HostPort, parseHostPort } from "../src/config/options.ts";

/** One recorded datagram. */
export interface CapturedDatagram {
  /** `caller->listener` or `listener->caller`. */
  direction: "caller->listener" | "listener->caller";
  /** Milliseconds since the first datagram. */
  ms: number;
  hex: string;
}

const { values } = parseArgs({
  args: Deno.args,
  options: {
    listen: { type: "string" },
    upstream: { type: "string" },
    count: { type: "string", default: "8" },
    seconds: { type: "string", default: "5" },
    out: { type: "string" },
  },
});
if (values.listen === undefined || values.out === undefined) {
  throw new TypeError("Missing option: --listen and --out are required");
}
const listenAt = parseHostPort(values.listen, "value for --listen");
const upstreamAt = values.upstream === undefined
  ? undefined
  : parseHostPort(values.upstream, "value for --upstream");
const maxCount = Number(values.count);
const deadline = Date.now() + Number(values.seconds) * 1000;

const front = Deno.listenDatagram({ transport: "udp", ...listenAt });
const back = upstreamAt === undefined
  ? undefined
  : Deno.listenDatagram({ transport: "udp", hostname: listenAt.hostname, port: 0 });
const backAddr = back?.addr;
const datagrams: CapturedDatagram[] = [];
let caller: Deno.NetAddr | undefined;
let first: number | undefined;

function record(direction: CapturedDatagram["direction"], bytes: Uint8Array): void {
  const now = performance.now();
  first ??= now;
  datagrams.push({ direction, ms: Math.round((now - first) * 10) / 10, hex: hexFromBytes(bytes) });
  if (datagrams.length >= maxCount) stop();
}

let stopped = false;
function stop(): void {
  if (stopped) return;
  stopped = true;
  front.close();
  back?.close();
}
const timer = setTimeout(stop, deadline - Date.now());

async function fromCaller(): Promise<void> {
  for (;;) {
    const [bytes, from] = await front.receive();
    caller ??= from as Deno.NetAddr;
    record("caller->listener", bytes);
    if (back !== undefined && upstreamAt !== undefined && !stopped) {
      await back.send(bytes, { transport: "udp", ...upstreamAt });
    }
  }
}

async function fromListener(): Promise<void> {
  if (back === undefined) return;
  for (;;) {
    const [bytes] = await back.receive();
    record("listener->caller", bytes);
    if (caller !== undefined && !stopped) await front.send(bytes, caller);
  }
}

await Promise.allSettled([fromCaller(), fromListener()]);
clearTimeout(timer);

const address = (addr: Deno.Addr | undefined): string | null => {
  if (addr === undefined) return null;
  const { hostname, port } = addr as Deno.NetAddr;
  return formatHostPort({ hostname, port } satisfies HostPort);
};
const capture = {
  relay: formatHostPort(listenAt),
  caller: address(caller),
  listener: upstreamAt === undefined ? null : formatHostPort(upstreamAt),
  /** The address the listener saw as its peer, and computed the SYN cookie over. */
  listenerSawPeer: address(backAddr),
  datagrams,
};
await Deno.writeTextFile(values.out, JSON.stringify(capture, null, 2) + "\n");
console.log(`${datagrams.length} datagrams written to ${values.out}`);
