/**
 * A static file server for the HTTP bench's reference (bench/http.ts):
 * serves the files of one directory (ffmpeg's HLS output) over HTTP, the
 * way nginx or `python3 -m http.server` would, with `Deno.serve`, so the
 * reference runs on the same runtime as Atoll's output process.
 *
 *     deno run -A bench/static_server.ts --dir DIR [--port 0]
 *
 * Prints `{"type":"listening","port":P}` once it listens. No directory
 * listings, no ranges, no caching headers: GET and HEAD of a file name.
 *
 * @module
 */

import { parseArgs } from "node:util";

const TYPES: Record<string, string> = {
  m3u8: "application/vnd.apple.mpegurl",
  ts: "video/mp2t",
};

function main(): void {
  const { values } = parseArgs({
    args: Deno.args,
    options: { dir: { type: "string" }, port: { type: "string", default: "0" } },
    strict: true,
  });
  const dir = values.dir;
  if (dir === undefined) throw new TypeError("Usage: static_server.ts --dir DIR [--port P]");
  Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
  Deno.serve({
    hostname: "127.0.0.1",
    port: Number(values.port),
    onListen: ({ port }) => console.log(JSON.stringify({ type: "listening", port })),
  }, async (request) => {
    const name = decodeURIComponent(new URL(request.url).pathname.slice(1));
    if (name === "" || name.includes("/") || name.startsWith(".")) {
      return new Response("not found\n", { status: 404 });
    }
    try {
      const file = await Deno.open(`${dir}/${name}`);
      const size = (await file.stat()).size;
      const headers = {
        "content-type": TYPES[name.split(".").at(-1) ?? ""] ?? "application/octet-stream",
        "content-length": String(size),
      };
      if (request.method === "HEAD") {
        file.close();
        return new Response(null, { headers });
      }
      return new Response(file.readable, { headers });
    } catch {
      return new Response("not found\n", { status: 404 });
    }
  });
}

if (import.meta.main) main();
