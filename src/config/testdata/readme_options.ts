/**
 * The README's option table, for tests that check the code against what
 * users are told.
 *
 * @module
 */

/**
 * Each flag of the README's option table with its default column, backticks
 * removed: `--latency` → `120`, `--passphrase` → `none`, a switch → "".
 */
export async function readmeOptionDefaults(): Promise<Map<string, string>> {
  const readme = await Deno.readTextFile(new URL("../../../README.md", import.meta.url));
  const defaults = new Map<string, string>();
  for (const line of readme.split("\n").filter((l) => l.startsWith("| `--"))) {
    const [, option = "", shown = ""] = line.split("|").map((cell) => cell.trim());
    const flag = /^`(--[a-z-]+)/.exec(option)?.[1];
    if (flag !== undefined) defaults.set(flag, shown.replaceAll("`", ""));
  }
  return defaults;
}
