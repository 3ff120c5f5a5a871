/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />

/**
 * A worker for ffi/shm_test.ts: maps the memory file `fd` (shared with the
 * test, same process), waits `delayMs`, bumps the word at `offset` and wakes
 * its waiters, then says how many woke.
 *
 * @module
 */

import { futexWake, SharedMapping } from "../shm.ts";

self.onmessage = async (event: MessageEvent<{ fd: number; offset: number; delayMs: number }>) => {
  const { fd, offset, delayMs } = event.data;
  using mapping = SharedMapping.map(fd);
  await new Promise((resolve) => setTimeout(resolve, delayMs));
  Atomics.add(new Int32Array(mapping.buffer), offset / 4, 1);
  self.postMessage(futexWake(mapping, offset));
  self.close();
};
