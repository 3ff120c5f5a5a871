import assert from "node:assert/strict";
import { ChildPool, POOL_QUIET_MS, type PooledChild } from "./child_pool.ts";

let nextPid = 1;

class FakeChild implements PooledChild {
  readonly pid = nextPid++;
  ready = false;
  shutdowns = 0;
  requestShutdown(): void {
    this.shutdowns++;
  }
}

function pool(limits: { size: number; max: number; maxStarting: number }) {
  const started: FakeChild[] = [];
  const clock = { ms: 0, waiting: 0 };
  const children = new ChildPool(limits, () => {
    const child = new FakeChild();
    started.push(child);
    return child;
  }, { now: () => clock.ms, waiting: () => clock.waiting });
  return { children, started, clock };
}

Deno.test("ChildPool starts at most maxStarting at once, and only as many as the floor and the callers waiting", () => {
  const { children, started, clock } = pool({ size: 2, max: 8, maxStarting: 3 });
  children.fill();
  assert.equal(started.length, 2, "the floor");
  clock.waiting = 5;
  children.fill();
  assert.equal(started.length, 3, "three starting at once");
  started[0]!.ready = true;
  assert.equal(children.take(), started[0]);
  children.fill();
  assert.equal(started.length, 4, "a ready child taken frees a start");
  clock.waiting = 0;
  for (const child of started) child.ready = true;
  children.fill();
  assert.equal(children.children.length, 3, "never more than the floor plus the callers waiting");
});

Deno.test("ChildPool starts nothing while paused, and what it lacks once resumed", () => {
  const { children, started } = pool({ size: 2, max: 8, maxStarting: 3 });
  children.paused = true;
  children.fill();
  assert.equal(started.length, 0);
  children.paused = false;
  children.fill();
  assert.equal(started.length, 2);
});

Deno.test("ChildPool grows its floor as callers wait, up to max, and halves it after a quiet period", () => {
  const { children, started, clock } = pool({ size: 2, max: 5, maxStarting: 10 });
  for (let i = 0; i < 6; i++) children.outpaced();
  assert.equal(children.floor, 5, "capped at max");
  children.fill();
  assert.equal(started.length, 5);
  for (const child of started) child.ready = true;
  clock.ms += POOL_QUIET_MS - 1;
  children.fill();
  assert.equal(children.floor, 5, "not quiet long enough");
  clock.ms += 1;
  children.fill();
  assert.equal(children.floor, 3, "halfway back to size");
  assert.equal(started.filter((c) => c.shutdowns === 1).length, 2, "the idle surplus retired");
  assert.equal(children.idle.length, 3);
  clock.ms += POOL_QUIET_MS;
  children.fill();
  assert.equal(children.floor, 2);
  clock.ms += POOL_QUIET_MS;
  children.fill();
  assert.equal(children.floor, 2, "never below size");
  children.stop();
});

Deno.test("ChildPool shrinks after a quiet period with no event to call fill()", async () => {
  const started: FakeChild[] = [];
  const children = new ChildPool({ size: 1, max: 4, maxStarting: 4 }, () => {
    const child = new FakeChild();
    child.ready = true;
    started.push(child);
    return child;
  }, { quietMs: 50 });
  children.outpaced();
  children.outpaced();
  children.fill();
  assert.equal(children.floor, 3);
  assert.equal(children.idle.length, 3);
  // Nothing calls fill() from here on: the pool's own timer does.
  await new Promise((resolve) => setTimeout(resolve, 250));
  assert.equal(children.floor, 1, "halved twice: 3 -> 2 -> 1");
  assert.equal(started.filter((c) => c.shutdowns === 1).length, 2);
  children.stop();
});

Deno.test("ChildPool backs off starts that fail, and starts again when they work", async () => {
  let failing = true;
  const started: FakeChild[] = [];
  const children = new ChildPool({ size: 1, max: 1, maxStarting: 1 }, () => {
    if (failing) throw new Error("EMFILE: too many open files");
    const child = new FakeChild();
    started.push(child);
    return child;
  });
  children.fill();
  children.fill(); // backing off: no second attempt now
  assert.equal(started.length, 0);
  failing = false;
  await new Promise((resolve) => setTimeout(resolve, 400)); // the first retry is after 250 ms
  assert.equal(started.length, 1);
  children.stop();
});
