/**
 * Media output process entry when running from source:
 * `deno run … workers/output.ts --control-fd N`. The compiled binary reaches
 * the same code through its internal subcommand (see main.ts).
 *
 * @module
 */

import { runOutputProcess } from "../src/output/main.ts";

if (import.meta.main) Deno.exit(await runOutputProcess(Deno.args));
