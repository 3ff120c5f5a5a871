import assert from "node:assert/strict";
import { mediaPaths, type MediaRoute, routeMediaPath, segmentUri } from "./media_paths.ts";

Deno.test("routeMediaPath() finds the stream and the kind of media a path names", () => {
  const cases: [string, MediaRoute | undefined][] = [
    ["/live/cam1.ts", { kind: "ts", name: "live/cam1" }],
    ["/cam.ts", { kind: "ts", name: "cam" }],
    ["/live/cam1.ts?token=x", { kind: "ts", name: "live/cam1" }],
    ["/live%2Fcam1.ts", { kind: "ts", name: "live/cam1" }],
    ["/a.ts.ts", { kind: "ts", name: "a.ts" }],
    ["/live/cam1/index.m3u8", { kind: "hls", name: "live/cam1" }],
    ["/live/cam1/index.m3u8.ts", { kind: "ts", name: "live/cam1/index.m3u8" }],
    ["/live/cam1/seg,42.ts", { kind: "segment", name: "live/cam1", sequence: 42 }],
    ["/cam/seg,0.ts", { kind: "segment", name: "cam", sequence: 0 }],
    ["/cam/seg%2C7.ts?x=1", { kind: "segment", name: "cam", sequence: 7 }],
    ["/cam/seg.ts", { kind: "ts", name: "cam/seg" }],
    ["/cam/seg,07.ts", undefined],
    ["/cam/seg,-1.ts", undefined],
    ["/cam/seg,1.5.ts", undefined],
    ["/cam/seg,99999999999999999.ts", undefined],
    ["/seg,1.ts", undefined],
    ["/a,b/seg,1.ts", undefined],
    ["/cam/seg,1.ts/index.m3u8", undefined],
    ["/", undefined],
    ["/.ts", undefined],
    ["/live/cam1", undefined],
    ["/live/../cam1.ts", undefined],
    ["//cam1.ts", undefined],
    ["/live/cam 1.ts", undefined],
    ["/live/cam1%.ts", undefined],
    ["/index.m3u8", undefined],
    ["live/cam1.ts", undefined],
  ];
  for (const [path, route] of cases) assert.deepEqual(routeMediaPath(path), route, path);
});

Deno.test("mediaPaths() are the paths routeMediaPath() routes back to the stream", () => {
  for (const name of ["cam", "live/cam1", "a/b.c/d_e~f-g", "x.ts"]) {
    const paths = mediaPaths(name);
    assert.deepEqual(routeMediaPath(paths.ts), { kind: "ts", name });
    assert.deepEqual(routeMediaPath(paths.hls), { kind: "hls", name });
  }
  assert.deepEqual(mediaPaths("live/cam1"), {
    ts: "/live/cam1.ts",
    hls: "/live/cam1/index.m3u8",
  });
});

Deno.test("A segment's path never routes to a stream's HTTP-TS, whatever the stream's name", () => {
  for (const name of ["cam", "live/cam1", "seg", "cam/seg", "x.ts"]) {
    for (const sequence of [0, 1, 42, 2 ** 40]) {
      const path = `/${name}/${segmentUri(sequence)}`;
      assert.deepEqual(routeMediaPath(path), { kind: "segment", name, sequence }, path);
    }
  }
  // Only a name with a "," could end like a segment's path, and none has one.
  assert.equal(routeMediaPath("/cam/seg,1"), undefined);
});
