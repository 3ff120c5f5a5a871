import assert from "node:assert/strict";
import { mediaPaths, type MediaRoute, routeMediaPath } from "./media_paths.ts";

Deno.test("routeMediaPath() finds the stream and the kind of media a path names", () => {
  const cases: [string, MediaRoute | undefined][] = [
    ["/live/cam1.ts", { kind: "ts", name: "live/cam1" }],
    ["/cam.ts", { kind: "ts", name: "cam" }],
    ["/live/cam1.ts?token=x", { kind: "ts", name: "live/cam1" }],
    ["/live%2Fcam1.ts", { kind: "ts", name: "live/cam1" }],
    ["/a.ts.ts", { kind: "ts", name: "a.ts" }],
    ["/live/cam1/index.m3u8", { kind: "hls", name: "live/cam1" }],
    ["/live/cam1/index.m3u8.ts", { kind: "ts", name: "live/cam1/index.m3u8" }],
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
