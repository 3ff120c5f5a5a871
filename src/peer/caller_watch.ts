/**
 * Watches the receive queue of a child's UDP socket while its caller's
 * handshake is held, to tell whether the caller is still there
 * (`judgeCaller()` in `src/protocol/caller_presence.ts` decides). The queue
 * is read from `/proc/self/net/udp` and `udp6` by the socket's inode:
 * reading it takes nothing away from libsrt, unlike `recv`, and `FIONREAD`
 * gives only the next datagram's size.
 *
 * @module
 */

import {
  type CallerJudgement,
  findUdpQueue,
  judgeCaller,
  type QueueSample,
  trimSamples,
} from "../protocol/caller_presence.ts";

const TABLES = ["/proc/self/net/udp", "/proc/self/net/udp6"] as const;

/** The inode of the socket behind `fd` (`socket:[N]`), or undefined. */
function socketInode(fd: number): number | undefined {
  try {
    const match = /^socket:\[(\d+)\]$/.exec(Deno.readLinkSync(`/proc/self/fd/${fd}`));
    return match === null ? undefined : Number(match[1]);
  } catch {
    return undefined;
  }
}

/** Samples one UDP socket's receive queue; see the module doc. */
export class CallerWatch {
  readonly #inode: number | undefined;
  #table: string | undefined;
  #samples: QueueSample[] = [];

  /** `fd` must still be open; the inode is looked up now, so libsrt may take the fd later. */
  constructor(fd: number) {
    this.#inode = socketInode(fd);
  }

  /** Forgets earlier samples and takes the first: a conclusion just arrived. */
  start(nowMs = performance.now()): void {
    this.#samples = [];
    this.sample(nowMs);
  }

  /** Takes one sample; a queue that cannot be read counts as a change. */
  sample(nowMs = performance.now()): void {
    const queue = this.#read();
    this.#samples.push({
      atMs: nowMs,
      queuedBytes: queue?.queuedBytes ?? null,
      drops: queue?.drops ?? null,
    });
    this.#samples = trimSamples(this.#samples);
  }

  /** Whether the caller gave up, judged from the samples so far. */
  judge(): CallerJudgement {
    return judgeCaller(this.#samples);
  }

  #read(): { queuedBytes: number; drops: number } | undefined {
    if (this.#inode === undefined) return undefined;
    const tables = this.#table === undefined ? TABLES : [this.#table];
    for (const table of tables) {
      try {
        const found = findUdpQueue(Deno.readTextFileSync(table), this.#inode);
        if (found !== undefined) {
          this.#table = table;
          return found;
        }
      } catch {
        // An unreadable table leaves the caller present.
      }
    }
    return undefined;
  }
}
