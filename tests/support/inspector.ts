/**
 * A minimal client of the V8 inspector protocol, for a process started with
 * `--inspect=127.0.0.1:0`: enough to force a full garbage collection and
 * read the heap that is left, so that a test can tell memory a process
 * still holds from garbage it has not collected yet.
 *
 * @module
 */

/** The address a process prints when started with `--inspect`. */
export const INSPECTOR_LINE = /Debugger listening on (ws:\/\/\S+)/;

/** One inspector session over its WebSocket. */
export class Inspector implements Disposable {
  #socket: WebSocket;
  #nextId = 1;
  #pending = new Map<number, (message: InspectorReply) => void>();

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.onmessage = (event) => {
      const message = JSON.parse(String(event.data)) as InspectorReply;
      if (message.id === undefined) return;
      this.#pending.get(message.id)?.(message);
      this.#pending.delete(message.id);
    };
  }

  /** Connects to the inspector at `url` (from {@link INSPECTOR_LINE}). */
  static connect(url: string, timeoutMs = 5000): Promise<Inspector> {
    const socket = new WebSocket(url);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.close();
        reject(new Error(`no inspector at ${url} within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.onopen = () => {
        clearTimeout(timer);
        resolve(new Inspector(socket));
      };
      socket.onerror = (event) => {
        clearTimeout(timer);
        reject(new Error(`cannot reach the inspector at ${url}: ${String(event)}`));
      };
    });
  }

  /** Sends `method` and returns its result; throws on a protocol error or after `timeoutMs`. */
  call(method: string, params: object = {}, timeoutMs = 10_000): Promise<Record<string, unknown>> {
    const id = this.#nextId++;
    this.#socket.send(JSON.stringify({ id, method, params }));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${method}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, (reply) => {
        clearTimeout(timer);
        if (reply.error !== undefined) reject(new Error(`${method}: ${reply.error.message}`));
        else resolve(reply.result ?? {});
      });
    });
  }

  /** Collects all garbage, then returns the bytes of the JavaScript heap still in use. */
  async liveHeapBytes(): Promise<number> {
    await this.call("HeapProfiler.collectGarbage");
    const usage = await this.call("Runtime.getHeapUsage");
    return Number(usage.usedSize);
  }

  [Symbol.dispose](): void {
    this.#socket.close();
  }
}

interface InspectorReply {
  id?: number;
  result?: Record<string, unknown>;
  error?: { message: string };
}
