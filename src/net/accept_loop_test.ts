import assert from "node:assert/strict";
import {
  acceptConnections,
  type AcceptLoopOptions,
  type ConnectionSource,
  ConnectionTimeout,
} from "./accept_loop.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What a loop told, in order. */
type Told = (string | number)[];

/**
 * A loopback listener whose first `failures` accepts fail as EMFILE does
 * (the connection waits in the kernel's queue meanwhile).
 */
function flakyListener(failures = 0): { source: ConnectionSource; port: number } {
  const listener = Deno.listen({ transport: "tcp", hostname: "127.0.0.1", port: 0 });
  let left = failures;
  return {
    port: listener.addr.port,
    source: {
      accept: () =>
        left-- > 0
          ? Promise.reject(new Error("Too many open files (os error 24)"))
          : listener.accept(),
      close: () => listener.close(),
    },
  };
}

/** Options that serve with `serve`, refuse with "busy", and write down what they are told. */
function options(
  told: Told,
  serve: (conn: Deno.Conn) => Promise<void>,
  more: Partial<AcceptLoopOptions> = {},
): AcceptLoopOptions {
  return {
    maxConnections: 10,
    serve,
    refuse: async (conn) => {
      await conn.write(encoder.encode("busy"));
    },
    onAcceptFailing: (error) => told.push(`failing: ${(error as Error).message}`),
    onAcceptRecovered: (failures) => told.push("recovered", failures),
    onServeError: (error) => told.push(`serve failed: ${(error as Error).message}`),
    onLoopEnded: (error) => told.push(`ended: ${error}`),
    ...more,
  };
}

/** Reads until the other side closes. */
async function readAll(conn: Deno.Conn): Promise<string> {
  let text = "";
  const buffer = new Uint8Array(1024);
  for (;;) {
    const n = await conn.read(buffer);
    if (n === null) return text;
    text += decoder.decode(buffer.subarray(0, n));
  }
}

/** Serves "hello" and closes (the loop closes it). */
async function hello(conn: Deno.Conn): Promise<void> {
  await conn.write(encoder.encode("hello"));
}

Deno.test("acceptConnections() serves each connection and closes it when served", async () => {
  const told: Told = [];
  const { source, port } = flakyListener();
  const loop = acceptConnections(source, options(told, hello));
  try {
    for (let i = 0; i < 3; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      assert.equal(await readAll(conn), "hello");
      conn.close();
    }
  } finally {
    await loop.shutdown();
  }
  assert.deepEqual(told, []);
  assert.equal(loop.connections, 0);
});

Deno.test("acceptConnections() refuses connections over the cap and serves the open one", async () => {
  const told: Told = [];
  const { source, port } = flakyListener();
  const release = Promise.withResolvers<void>();
  const loop = acceptConnections(
    source,
    options(told, async (conn) => {
      await conn.write(encoder.encode("served"));
      await release.promise;
    }, { maxConnections: 1 }),
  );
  const first = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const buffer = new Uint8Array(16);
    const n = await first.read(buffer);
    assert.equal(decoder.decode(buffer.subarray(0, n ?? 0)), "served");
    assert.equal(loop.connections, 1);
    const over = await Deno.connect({ hostname: "127.0.0.1", port });
    assert.equal(await readAll(over), "busy", "refused, then closed");
    over.close();
    assert.equal(loop.connections, 1, "a refused connection is not counted");
    release.resolve();
    assert.equal(await readAll(first), "");
  } finally {
    first.close();
    await loop.shutdown();
  }
});

Deno.test("acceptConnections() retries failed accepts, tells of the episode once, and of its end", async () => {
  const told: Told = [];
  const { source, port } = flakyListener(4);
  const loop = acceptConnections(source, options(told, hello, { recoveredAfterMs: 100 }));
  try {
    // Queued in the kernel while accepts fail, served once one works.
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    assert.equal(await readAll(conn), "hello");
    conn.close();
    assert.deepEqual(told, ["failing: Too many open files (os error 24)"]);
    await new Promise((resolve) => setTimeout(resolve, 250));
    assert.deepEqual(told, ["failing: Too many open files (os error 24)", "recovered", 4]);
  } finally {
    await loop.shutdown();
  }
});

Deno.test("acceptConnections() tells a failed serve and goes on", async () => {
  const told: Told = [];
  const { source, port } = flakyListener();
  let calls = 0;
  const loop = acceptConnections(
    source,
    options(told, async (conn) => {
      if (calls++ === 0) throw new Error("bug");
      await hello(conn);
    }),
  );
  try {
    const first = await Deno.connect({ hostname: "127.0.0.1", port });
    assert.equal(await readAll(first), "", "closed all the same");
    first.close();
    const second = await Deno.connect({ hostname: "127.0.0.1", port });
    assert.equal(await readAll(second), "hello");
    second.close();
  } finally {
    await loop.shutdown();
  }
  assert.deepEqual(told, ["serve failed: bug"]);
});

Deno.test("acceptConnections() shutdown closes idle connections, lets a spared one finish, stops accepting", async () => {
  const told: Told = [];
  const { source, port } = flakyListener();
  const finishing = new Set<Deno.Conn>();
  let served = 0;
  const loop = acceptConnections(
    source,
    options(told, async (conn) => {
      served++;
      const buffer = new Uint8Array(16);
      // Idle until a byte comes, then busy for 100 ms.
      if (await conn.read(buffer).catch(() => null) === null) return;
      finishing.add(conn);
      await new Promise((resolve) => setTimeout(resolve, 100));
      await conn.write(encoder.encode("done"));
    }),
  );
  const idle = await Deno.connect({ hostname: "127.0.0.1", port });
  const busy = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await busy.write(encoder.encode("go"));
    while (served < 2 || finishing.size === 0) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(loop.connections, 2);
    await loop.shutdown({ spare: (conn) => finishing.has(conn), graceMs: 1000 });
    assert.equal(loop.stopping, true);
    assert.equal(await readAll(idle), "");
    assert.equal(await readAll(busy), "done");
    assert.equal(loop.connections, 0);
    await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port }));
    await loop.shutdown(); // twice is fine
  } finally {
    idle.close();
    busy.close();
  }
  assert.deepEqual(told, []);
});

Deno.test("ConnectionTimeout closes what it guards when it runs out, and not once cleared", async () => {
  let closed = 0;
  const conn = { close: () => closed++ };
  const cleared = new ConnectionTimeout(conn, 20);
  cleared.arm();
  cleared.clear();
  {
    using rearmed = new ConnectionTimeout(conn, 40);
    rearmed.arm();
    await new Promise((resolve) => setTimeout(resolve, 30));
    rearmed.arm(); // from now: 40 ms again
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(rearmed.expired, false);
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(rearmed.expired, true);
  }
  assert.equal(closed, 1);
  assert.equal(cleared.expired, false);
});
