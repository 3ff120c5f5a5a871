import assert from "node:assert/strict";
import { DemandGate, KEPT_REFUSAL_MS, MAX_PENDING_DEMANDS } from "./demand.ts";

function gate() {
  const sent: [number, string][] = [];
  let now = 0;
  const demand = new DemandGate((id, stream) => sent.push([id, stream]), () => now);
  return { demand, sent, advance: (ms: number) => now += ms };
}

Deno.test("DemandGate asks once per stream while an ask is under way", async () => {
  const { demand, sent } = gate();
  const first = demand.ask("live/cam1");
  const alike = demand.ask("live/cam1");
  const other = demand.ask("live/cam2");
  assert.deepEqual(sent.map(([, stream]) => stream), ["live/cam1", "live/cam2"]);
  demand.answered(sent[0]![0], 2500);
  demand.answered(sent[1]![0], 1000);
  assert.equal(await first, 2500);
  assert.equal(await alike, 2500);
  assert.equal(await other, 1000);
  demand.ask("live/cam1");
  assert.equal(sent.length, 3, "a pull that starts is asked for again: it is not kept");
  demand.close();
});

Deno.test("DemandGate keeps a refusal for a while, and drops it on a reload", async () => {
  const { demand, sent, advance } = gate();
  const first = demand.ask("nobody/pulls");
  demand.answered(sent[0]![0], 0);
  assert.equal(await first, 0);
  advance(KEPT_REFUSAL_MS - 1);
  assert.equal(await demand.ask("nobody/pulls"), 0);
  assert.equal(sent.length, 1, "kept");
  advance(1);
  demand.ask("nobody/pulls");
  assert.equal(sent.length, 2, "asked again once it lapsed");
  demand.answered(sent[1]![0], 0);
  demand.reset(1000);
  demand.ask("nobody/pulls");
  assert.equal(sent.length, 3, "a reload may have given it a source");
  // A refusal asked before a reload is not kept after it.
  demand.reset(1000);
  demand.answered(sent[2]![0], 0);
  demand.ask("nobody/pulls");
  assert.equal(sent.length, 4);
  demand.close();
});

Deno.test("DemandGate ends an ask unanswered after the wait, and ignores a late answer", async () => {
  const { demand, sent } = gate();
  demand.reset(20);
  const ask = demand.ask("live/cam1");
  assert.equal(await ask, "unanswered");
  demand.answered(sent[0]![0], 0);
  demand.ask("live/cam1");
  assert.equal(sent.length, 2, "the late refusal was not kept");
  demand.close();
});

Deno.test("DemandGate answers unanswered at once beyond its pending bound", async () => {
  const { demand, sent } = gate();
  for (let i = 0; i < MAX_PENDING_DEMANDS; i++) demand.ask(`s/${i}`);
  assert.equal(await demand.ask("one/more"), "unanswered");
  assert.equal(sent.length, MAX_PENDING_DEMANDS);
  demand.close();
});
