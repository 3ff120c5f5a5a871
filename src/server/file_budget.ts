/**
 * What the main process spends of its open-file limit, and what to say when
 * the limit runs out. Pure: the limit and the open count are passed in.
 *
 * The main process holds no descriptor of a peer's media: each connection's
 * UDP socket goes to its child, and the main process keeps only its handle
 * on the child and, per stream, the stream's buffer. Counted with
 * `ls -l /proc/PID/fd` before and after each kind of connection (Deno 2,
 * Linux 6.18; tests/fd_exhaustion_test.ts checks the counts):
 *
 * | what                      | fds | which                                                |
 * | ------------------------- | --- | ---------------------------------------------------- |
 * | a child (idle, or any     | 5   | its control socket (our end of the pair), its pidfd  |
 * | connection's)             |     | (Deno waits on it), and pipes to its stdin, from its |
 * |                           |     | stdout and from its stderr                           |
 * | a stream                  | 1   | its buffer, a memfd (`/memfd:atoll:NAME`), from its  |
 * |                           |     | first caller (publisher or held viewer) to its end   |
 * | a publisher               | 6   | its child, and its stream's buffer (if it is first)  |
 * | a held viewer             | 6   | its child, and the buffer of the stream it waits for |
 * |                           |     | (if it is first)                                     |
 * | a viewer                  | 5   | its child (the stream and its buffer exist)          |
 * | a caller in its handshake | 5   | its child                                            |
 * | an HTTP connection        | 1   | its TCP socket                                       |
 * | the media output process  | 4   | its control socket, its pidfd, and pipes from its    |
 * |                           |     | stdout and stderr (its HTTP clients are its own)     |
 *
 * Rendezvous peers are connections like any other. While a child starts, a
 * few more are open for a moment (the child's ends of its pipes and of the
 * pair, closed once it runs); while a peer is handed over, 1 (its connected
 * UDP socket, closed once the child has its copy).
 *
 * @module
 */

/** A child's handle: control socket, pidfd, and its stdin, stdout and stderr pipes. */
export const FILES_PER_CHILD = 5;
/** The media output process's handle: control socket, pidfd, stdout and stderr pipes. */
export const FILES_PER_OUTPUT_PROCESS = 4;
/** A stream's buffer: one memfd, held from the stream's first caller until the stream ends. */
export const FILES_PER_STREAM = 1;

/** The main process's descriptors per connection, by kind, at most. */
export const FILES_PER_CONNECTION = {
  /** Its child, and its stream's buffer when it is the stream's first caller. */
  publisher: FILES_PER_CHILD + FILES_PER_STREAM,
  /** A viewer waiting for a publisher: its child, and the stream's buffer when it is the first to wait. */
  heldViewer: FILES_PER_CHILD + FILES_PER_STREAM,
  /** A viewer of a live stream: its child; the buffer is the stream's, counted with its first caller. */
  viewer: FILES_PER_CHILD,
  /** A caller still in its handshake, not yet publisher or viewer: its child. */
  handshake: FILES_PER_CHILD,
} as const;

/** The worst case per connection, for capacity: every connection the first of a stream of its own. */
export const WORST_FILES_PER_CONNECTION = Math.max(...Object.values(FILES_PER_CONNECTION));

/**
 * Descriptors kept free on top of those open at startup, the pool, HTTP and
 * the connections: the SRT and HTTP listening sockets (bound after the
 * check), a child starting (its ends, for a moment), a peer being handed over (1),
 * a /proc read of the resource sampler, a config reload, the pid file, and
 * the authorization hook's HTTP connections.
 */
export const RESERVED_FILES = 24;

/** What the open-file budget depends on. */
export interface FileBudgetInput {
  /** The hard limit on open files (the soft one is raised to it). */
  hardLimit: number;
  /** Descriptors open before the server binds and starts children (Deno's own, stdio). */
  openAtStart: number;
  maxConnections: number;
  /** Prestarted children at most (`--pool-max`: the pool grows to it after bursts). */
  poolMax: number;
  httpMaxConnections: number;
  /** Whether a media output process runs (`--media-listen` not off). */
  mediaOutput?: boolean;
}

/** What the hard limit allows. */
export interface FileBudget {
  /** Descriptors that `maxConnections` worst-case connections need, everything else included. */
  needed: number;
  /** Descriptors everything but the connections needs. */
  fixed: number;
  /** Worst-case connections that fit under the hard limit (0 when none fits). */
  connections: number;
}

/** How many connections the hard limit allows, and how many descriptors the options need. */
export function fileBudget(input: FileBudgetInput): FileBudget {
  const fixed = input.openAtStart + RESERVED_FILES + input.poolMax * FILES_PER_CHILD +
    input.httpMaxConnections + (input.mediaOutput ? FILES_PER_OUTPUT_PROCESS : 0);
  return {
    needed: fixed + input.maxConnections * WORST_FILES_PER_CONNECTION,
    fixed,
    connections: Math.max(0, Math.floor((input.hardLimit - fixed) / WORST_FILES_PER_CONNECTION)),
  };
}

/** How to raise the hard limit to `files` (N when not given). */
export function raiseFileLimitAdvice(files?: number): string {
  const n = files ?? "N";
  return `raise the hard limit (ulimit -Hn ${n} in the starting shell, LimitNOFILE=${n} in a ` +
    `systemd unit, docker run --ulimit nofile=${n}:${n})`;
}

/**
 * The startup line about the hard limit: undefined when it allows
 * `maxConnections`, else what it allows and how to raise it. `refuse` is
 * true when not a single connection fits: Atoll does not start then.
 */
export function fileLimitProblem(
  input: FileBudgetInput,
): { refuse: boolean; message: string } | undefined {
  const budget = fileBudget(input);
  if (budget.connections >= input.maxConnections) return undefined;
  const cost = `${WORST_FILES_PER_CONNECTION} per connection (the first on a stream; a viewer ` +
    `takes ${FILES_PER_CONNECTION.viewer}), plus ${budget.fixed} for Atoll itself, ` +
    `up to ${input.poolMax} prestarted children and ${input.httpMaxConnections} HTTP connections`;
  if (budget.connections === 0) {
    return {
      refuse: true,
      message: `The hard open-file limit ${input.hardLimit} leaves no room for a single ` +
        `connection: Atoll needs ${cost}; ` +
        `${raiseFileLimitAdvice(budget.fixed + WORST_FILES_PER_CONNECTION)} or lower ` +
        `--http-max-connections and --pool-max`,
    };
  }
  return {
    refuse: false,
    message: `The hard open-file limit ${input.hardLimit} allows about ${budget.connections} ` +
      `connection(s), not the ${input.maxConnections} of --max-connections: Atoll needs ${cost}, ` +
      `${budget.needed} in all; ${raiseFileLimitAdvice(budget.needed)} or lower ` +
      `--max-connections. Connections past the limit are refused`,
  };
}

/** Which limit an error hit: this process's (EMFILE) or the system's (ENFILE). */
export type FileShortage = "process" | "system";

/** errno values, as Linux numbers them. */
const ENFILE = 23;
const EMFILE = 24;

/**
 * Whether `error` (or an error it was caused by: `fetch` wraps the socket's)
 * says that no descriptor could be opened. Deno's errors carry `code`
 * (`"EMFILE"`) and `(os error 24)` in their message; Atoll's FFI errors
 * carry `errno`.
 */
export function fileShortageOf(error: unknown): FileShortage | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Object; depth++) {
    const { code, errno, message } = current as {
      code?: unknown;
      errno?: unknown;
      message?: unknown;
    };
    if (code === "ENFILE" || errno === ENFILE) return "system";
    if (code === "EMFILE" || errno === EMFILE) return "process";
    if (typeof message === "string") {
      if (/too many open files in (the )?system|os error 23\b/i.test(message)) return "system";
      if (/too many open files|os error 24\b/i.test(message)) return "process";
    }
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * The words for a log line about a shortage: the limit that was hit, and
 * what to do. `hardLimit` is this process's hard limit on open files, if known.
 */
export function describeFileShortage(shortage: FileShortage, hardLimit?: number): string {
  if (shortage === "system") {
    return "too many open files in the system (the kernel's fs.file-max is reached)";
  }
  const limit = hardLimit === undefined ? "the hard limit" : `the hard limit is ${hardLimit}`;
  return `too many open files (${limit}): ${raiseFileLimitAdvice()}`;
}
