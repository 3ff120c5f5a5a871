/**
 * Recorder process entry when running from source:
 * `deno run … workers/recorder.ts --control-fd N`. The compiled binary
 * reaches the same code through its internal subcommand (see main.ts).
 *
 * @module
 */

import { runRecorderProcess } from "../src/recorder/main.ts";

if (import.meta.main) Deno.exit(await runRecorderProcess(Deno.args));
