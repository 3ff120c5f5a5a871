import assert from "node:assert/strict";
import { type AtollConfig, parseConfig } from "../config/config_file.ts";
import { OUTPUT_STATS_INTERVAL_MS } from "../ipc/output_messages.ts";
import { decideHttpDemand, demandHoldMs } from "./http_demand.ts";

const EDGE = `
playWaitMs: 2500
streams:
  - prefix: edge
    source: "srt://origin.example:9000?streamid=#!::r={name},m=request"
  - prefix: edge/closed
    source: "srt://origin.example:9000?streamid=#!::r={name},m=request"
    modes: [publish]
`;

/** The decision over `yaml`, with the streams that exist and those a pull runs for. */
function decide(
  name: string,
  { yaml = EDGE, exists = [] as string[], pulls = [] as string[] } = {},
) {
  const asked: { name: string; holdMs: number }[] = [];
  const config: AtollConfig = parseConfig(yaml, "yaml", "test.yaml");
  const waitMs = decideHttpDemand(name, {
    config,
    exists: (stream) => exists.includes(stream),
    pull: (stream, holdMs) => {
      asked.push({ name: stream, holdMs });
      return pulls.includes(stream);
    },
  });
  return { waitMs, asked };
}

Deno.test("decideHttpDemand() starts a pull and waits the play wait for a stream a rule pulls", () => {
  const { waitMs, asked } = decide("edge/cam", { pulls: ["edge/cam"] });
  assert.equal(waitMs, 2500);
  assert.deepEqual(asked, [{ name: "edge/cam", holdMs: 2500 + 2 * OUTPUT_STATS_INTERVAL_MS }]);
});

Deno.test("decideHttpDemand() answers 0 for a stream nothing pulls, which is 404 at once", () => {
  assert.equal(decide("studio/cam").waitMs, 0);
});

Deno.test("decideHttpDemand() waits for a stream that began meanwhile, its buffer on the way", () => {
  assert.equal(decide("studio/cam", { exists: ["studio/cam"] }).waitMs, 2500);
});

Deno.test("decideHttpDemand() starts no pull for a stream its rule allows no play of, or with no play wait", () => {
  const closed = decide("edge/closed/cam", { pulls: ["edge/closed/cam"] });
  assert.deepEqual(closed, { waitMs: 0, asked: [] });
  const noWait = decide("edge/cam", {
    yaml: `playWaitMs: 0\n${EDGE.replace("playWaitMs: 2500", "")}`,
  });
  assert.deepEqual(
    noWait,
    { waitMs: 0, asked: [] },
    "as an SRT viewer, which then waits for nothing",
  );
});

Deno.test("demandHoldMs() outlasts the wait and the media output's first report of the client", () => {
  assert.ok(demandHoldMs(1000) > 1000 + OUTPUT_STATS_INTERVAL_MS);
});
