/**
 * Watches the receive queue of a child's UDP socket while its caller's
 * handshake is held, to tell whether the caller is still there
 * (`judgeCaller()` in `src/protocol/caller_presence.ts` decides). The queue
 * is read with `getsockopt(SO_MEMINFO)`: its bytes and the datagrams
 * dropped, without taking anything away from libsrt (`recv` would), where
 * `FIONREAD` gives only the next datagram's size.
 *
 * @module
 */

import {
  libc,
  SK_MEMINFO_DROPS,
  SK_MEMINFO_RMEM_ALLOC,
  SK_MEMINFO_VARS,
  SO_MEMINFO,
  SOL_SOCKET,
} from "../../ffi/libc.ts";
import { pointerTo } from "../../ffi/pointer.ts";
import {
  CALLER_SILENCE_MS,
  type CallerJudgement,
  judgeCaller,
  queueChanged,
  type QueueSample,
  trimSamples,
} from "../protocol/caller_presence.ts";

/** How often {@link CallerWatch.confirm} looks at the queue. */
const CONFIRM_STEP_MS = 50;
/** Bounds {@link CallerWatch.confirm}: past `CALLER_SILENCE_MS` with room to spare. */
const MAX_CONFIRM_STEPS = Math.ceil((2 * CALLER_SILENCE_MS) / CONFIRM_STEP_MS);

/** Samples one UDP socket's receive queue; see the module doc. */
export class CallerWatch {
  readonly #fd: number;
  readonly #memory = new Uint32Array(SK_MEMINFO_VARS);
  readonly #length = new Uint32Array(1);
  #samples: QueueSample[] = [];

  /** `fd` stays open while libsrt holds it; it is only read, never closed here. */
  constructor(fd: number) {
    this.#fd = fd;
  }

  /** Forgets earlier samples and takes the first: a conclusion just arrived. */
  start(nowMs = performance.now()): void {
    this.#samples = [];
    this.sample(nowMs);
  }

  /** Takes one sample; a queue that cannot be read counts as a change. */
  sample(nowMs = performance.now()): void {
    this.#length[0] = this.#memory.byteLength;
    const read = libc().getsockopt(
          this.#fd,
          SOL_SOCKET,
          SO_MEMINFO,
          pointerTo(this.#memory),
          pointerTo(this.#length),
        ) === 0 && this.#length[0] > SK_MEMINFO_DROPS * 4;
    this.#samples.push({
      atMs: nowMs,
      queuedBytes: read ? this.#memory[SK_MEMINFO_RMEM_ALLOC]! : null,
      drops: read ? this.#memory[SK_MEMINFO_DROPS]! : null,
    });
    this.#samples = trimSamples(this.#samples);
  }

  /** Whether the caller gave up, judged from the samples so far. */
  judge(): CallerJudgement {
    return judgeCaller(this.#samples);
  }

  /**
   * Before an acceptance after a wait: waits for the caller to send again,
   * sampling every {@link CONFIRM_STEP_MS}, until the queue changes (present)
   * or `CALLER_SILENCE_MS` of silence (gone). A caller that gave up cannot
   * pass this, however late in its retransmission period it stopped. Blocks
   * the JavaScript thread, which waits in the listen callback anyway.
   */
  confirm(): CallerJudgement {
    this.sample();
    const before = this.#samples.at(-1)!;
    let judged = this.judge();
    const sleeper = new Int32Array(new SharedArrayBuffer(4));
    for (let step = 0; judged.state !== "gone" && step < MAX_CONFIRM_STEPS; step++) {
      Atomics.wait(sleeper, 0, 0, CONFIRM_STEP_MS);
      this.sample();
      judged = this.judge();
      if (queueChanged(before, this.#samples.at(-1)!)) return judged;
    }
    return judged;
  }
}
