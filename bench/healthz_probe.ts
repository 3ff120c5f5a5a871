/**
 * Times Atoll's `/healthz` from a process of its own, so that the bench's
 * callers (hundreds of libsrt sockets and their threads) do not delay the
 * clock that times it. Every `--interval-ms` it opens a TCP connection, sends
 * `GET /healthz` with `Connection: close` (as a health checker such as
 * curl or a container runtime does: a new connection each time, so Atoll's
 * accept loop is timed too) and reads the answer to its end.
 *
 *     deno run -A bench/healthz_probe.ts --port HTTP_PORT [--interval-ms 100] [--max-seconds 300]
 *
 * Prints one JSON line per request, `{"at":EPOCH_MS,"ms":N,"status":200,"lateMs":N}`:
 * `at` is when it was sent (wall clock, to match the bench's windows),
 * `status` 0 when it failed or took over 5 s, and `lateMs` how late this
 * process itself started it (its own timer, or the previous request still
 * running): a large `lateMs` says the probe was starved, not only Atoll.
 * Requests go one at a time. Stops on SIGTERM, when stdin closes, or after
 * `--max-seconds`.
 *
 * @module
 */

import { parseArgs } from "node:util";

/** A request that takes longer counts as failed (status 0). */
const REQUEST_TIMEOUT_MS = 5000;

export interface ProbeSample {
  /** Epoch ms when the request was sent. */
  at: number;
  /** From connecting to the last byte of the answer, in ms. */
  ms: number;
  /** The HTTP status, or 0 when the request failed or timed out. */
  status: number;
  /** How much later than planned this process started the request, in ms. */
  lateMs: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One `GET /healthz` on a new connection: the status, or 0. */
async function healthz(port: number): Promise<number> {
  const connection = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => connection.close(), REQUEST_TIMEOUT_MS);
  try {
    await connection.write(encoder.encode(
      `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`,
    ));
    let head = "";
    const buffer = new Uint8Array(4096);
    for (;;) {
      const read = await connection.read(buffer);
      if (read === null) break;
      head += decoder.decode(buffer.subarray(0, read));
    }
    return Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
  } finally {
    clearTimeout(timer);
    try {
      connection.close();
    } catch {
      // Closed by the timer already.
    }
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      port: { type: "string" },
      "interval-ms": { type: "string", default: "100" },
      "max-seconds": { type: "string", default: "300" },
    },
    strict: true,
  });
  const port = Number(values.port);
  const intervalMs = Number(values["interval-ms"]);
  const maxSeconds = Number(values["max-seconds"]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`--port must be 1 to 65535, not ${values.port}`);
  }
  if (!(intervalMs >= 10) || !(maxSeconds > 0 && maxSeconds <= 3600)) {
    throw new RangeError("--interval-ms must be at least 10, --max-seconds 1 to 3600");
  }
  let stopping = false;
  Deno.addSignalListener("SIGTERM", () => stopping = true);
  (async () => {
    for await (const _ of Deno.stdin.readable) { /* drain until closed */ }
    stopping = true;
  })();

  const started = performance.now();
  const deadline = started + maxSeconds * 1000;
  for (let n = 0; !stopping && performance.now() < deadline; n++) {
    const planned = started + n * intervalMs;
    const wait = planned - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    if (stopping) break;
    const at = Date.now();
    const sent = performance.now();
    const status = await healthz(port).catch(() => 0);
    const sample: ProbeSample = {
      at,
      ms: Math.round((performance.now() - sent) * 100) / 100,
      status,
      lateMs: Math.max(0, Math.round(sent - planned)),
    };
    console.log(JSON.stringify(sample));
    // After a slow answer, start again on the plan instead of catching up in a rush.
    if (performance.now() - planned > intervalMs) {
      n = Math.floor((performance.now() - started) / intervalMs);
    }
  }
}

if (import.meta.main) {
  await main();
  Deno.exit(0);
}
