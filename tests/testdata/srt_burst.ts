/**
 * Many libsrt callers at once, as encoders reconnecting after a blip: each
 * connects without blocking (as ffmpeg and srt-live-transmit do), and each
 * one that fails tries again 1 s later, up to ROUNDS rounds in all. Prints
 * one JSON line with each round's outcome (connected, refused by code,
 * timed out), then holds the connections open until its standard input
 * closes.
 *
 *     deno run -A tests/testdata/srt_burst.ts PORT COUNT PREFIX TIMEOUT_MS ROUNDS
 *
 * Stream ids are `${PREFIX}${n}`.
 *
 * @module
 */

import { libsrt } from "../../ffi/libsrt.ts";
import { type CallerGroup, connectGroup } from "../../bench/callers.ts";
import { startSrt } from "../../bench/srt.ts";

/** libsrt's SRT_REJ_TIMEOUT: the caller gave up without an answer. */
const SRT_REJ_TIMEOUT = 16;
const RETRY_AFTER_MS = 1000;

export interface BurstRound {
  attempted: number;
  connected: number;
  /** Callers refused, by reject reason. */
  refused: Record<string, number>;
  /** Callers that got no answer before their timeout. */
  timedOut: number;
  /** Connect times of the callers connected this round, in ms, sorted. */
  connectMs: number[];
}

export interface BurstResult {
  rounds: BurstRound[];
  connected: number;
}

const [port, count, prefix, timeoutMs, rounds] = Deno.args.map((a, i) => i === 2 ? a : Number(a));
startSrt();
const groups: CallerGroup[] = [];
let waiting = Array.from({ length: Number(count) }, (_, n) => `${prefix}${n}`);
const result: BurstResult = { rounds: [], connected: 0 };
for (let round = 0; round < Number(rounds) && waiting.length > 0; round++) {
  if (round > 0) await new Promise((resolve) => setTimeout(resolve, RETRY_AFTER_MS));
  const group = await connectGroup(Number(port), waiting, {
    kind: "async",
    prefix: String(prefix),
    connectTimeoutMs: Number(timeoutMs),
  });
  groups.push(group);
  const outcome: BurstRound = {
    attempted: waiting.length,
    connected: 0,
    refused: {},
    timedOut: 0,
    connectMs: [],
  };
  const failed: string[] = [];
  group.results.forEach((caller, i) => {
    if (caller.connectMs !== null) {
      outcome.connected++;
      outcome.connectMs.push(Math.round(caller.connectMs));
      return;
    }
    failed.push(caller.streamId);
    const reason = libsrt().srt_getrejectreason(group.sockets[i]!);
    if (reason === SRT_REJ_TIMEOUT) outcome.timedOut++;
    else outcome.refused[reason] = (outcome.refused[reason] ?? 0) + 1;
  });
  outcome.connectMs.sort((a, b) => a - b);
  result.rounds.push(outcome);
  result.connected += outcome.connected;
  waiting = failed;
}
console.log(JSON.stringify(result));
// Hold the connections until told to stop.
for await (const _ of Deno.stdin.readable) { /* nothing to read */ }
for (const group of groups) group.close();
libsrt().srt_cleanup();
