import assert from "node:assert/strict";
import {
  mediaPaths,
  type MediaRoute,
  partUri,
  routeMediaPath,
  segmentUri,
  splitDeliveryDirectives,
} from "./media_paths.ts";

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
    ["/live/cam1/part,42.3.ts", { kind: "part", name: "live/cam1", sequence: 42, part: 3 }],
    ["/cam/part,0.0.ts?_HLS_x=1", { kind: "part", name: "cam", sequence: 0, part: 0 }],
    ["/cam/part%2C7.12.ts", { kind: "part", name: "cam", sequence: 7, part: 12 }],
    ["/cam/part,7.ts", undefined],
    ["/cam/part,7.01.ts", undefined],
    ["/cam/part,07.1.ts", undefined],
    ["/cam/part,7.-1.ts", undefined],
    ["/cam/part,7.1234567.ts", undefined],
    ["/part,7.1.ts", undefined],
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
  for (const name of ["cam", "live/cam1", "part", "cam/part"]) {
    for (const [sequence, part] of [[0, 0], [42, 3], [2 ** 40, 999_999]] as const) {
      const path = `/${name}/${partUri(sequence, part)}`;
      assert.deepEqual(routeMediaPath(path), { kind: "part", name, sequence, part }, path);
    }
  }
  // Only a name with a "," could end like a segment's path, and none has one.
  assert.equal(routeMediaPath("/cam/seg,1"), undefined);
});

Deno.test("splitDeliveryDirectives() takes _HLS_msn and _HLS_part off the credential", () => {
  const cases: [string, ReturnType<typeof splitDeliveryDirectives>][] = [
    ["", { query: "" }],
    // Without a directive the query is the credential as given, byte for byte.
    ["expires=9&sig=ab%2f", { query: "expires=9&sig=ab%2f" }],
    ["expires=9&sig=ab&_HLS_msn=42", { query: "expires=9&sig=ab", block: { msn: 42 } }],
    ["_HLS_msn=42&_HLS_part=3&expires=9", { query: "expires=9", block: { msn: 42, part: 3 } }],
    ["_HLS_msn=0&_HLS_part=0", { query: "", block: { msn: 0, part: 0 } }],
    // No delta playlists here: a skip asks for nothing.
    ["_HLS_skip=YES&token=a", { query: "token=a" }],
    ["_HLS_part=1", { error: "_HLS_part needs _HLS_msn" }],
    ["_HLS_msn=-1", { error: '_HLS_msn must be a whole number, not "-1"' }],
    ["_HLS_msn=4&_HLS_part=x", { error: '_HLS_part must be a whole number, not "x"' }],
    ["_HLS_msn=01", { error: '_HLS_msn must be a whole number, not "01"' }],
    ["_HLS_msn=", { error: '_HLS_msn must be a whole number, not ""' }],
  ];
  for (const [query, expected] of cases) {
    assert.deepEqual(splitDeliveryDirectives(query), expected, query);
  }
});
