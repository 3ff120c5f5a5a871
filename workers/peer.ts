/**
 * Child process entry when running from source:
 * `deno run … workers/peer.ts --control-fd N`. The compiled binary reaches
 * the same code through its internal subcommand (see main.ts).
 *
 * @module
 */

import { runPeerProcess } from "../src/peer/main.ts";

if (import.meta.main) Deno.exit(await runPeerProcess(Deno.args));
