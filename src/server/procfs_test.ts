import assert from "node:assert/strict";
import {
  childNiceValue,
  cpuPercent,
  parseCpuSeconds,
  parseNice,
  parseSmapsRollup,
  udpSocketInodes,
  USER_HZ,
} from "./procfs.ts";

/** Text captured from real processes: an Atoll publisher's child, an idle child, `tab) (x y`. */
function vector(name: string): string {
  return Deno.readTextFileSync(new URL(`./testdata/proc/${name}`, import.meta.url));
}

Deno.test("parseCpuSeconds() adds utime and stime of real /proc/PID/stat text", () => {
  const cases: { file: string; seconds: number }[] = [
    // utime 9, stime 3 ticks.
    { file: "publisher_stat.txt", seconds: 0.12 },
    // The command name "tab) (x y" holds spaces and parentheses.
    { file: "odd_name_stat.txt", seconds: 0 },
  ];
  for (const { file, seconds } of cases) assert.equal(parseCpuSeconds(vector(file)), seconds, file);
});

Deno.test("parseCpuSeconds() counts fields from the command name's last parenthesis", () => {
  const stat = "7 (a) b) R 1 1 1 0 -1 0 0 0 0 0 250 75 0 0 20 0 1 0 1 0 0";
  assert.equal(parseCpuSeconds(stat), 3.25);
});

Deno.test("parseCpuSeconds() rejects text without a command name or without the times", () => {
  for (
    const stat of [
      "",
      "24076 deno S 1 2 3",
      "24076 (deno) S 1 2 3",
      "1 (x) S 1 1 1 0 -1 0 0 0 0 0 x 3",
    ]
  ) {
    assert.throws(() => parseCpuSeconds(stat), TypeError, JSON.stringify(stat));
  }
});

Deno.test("parseNice() reads field 19 of /proc/PID/stat, counted from the command name's last parenthesis", () => {
  const cases: [string, number][] = [
    [vector("publisher_stat.txt"), 0],
    [vector("odd_name_stat.txt"), 0],
    ["7 (a) b) R 1 1 1 0 -1 0 0 0 0 0 250 75 0 0 30 10 1 0 1 0 0", 10],
    ["7 (a) R 1 1 1 0 -1 0 0 0 0 0 250 75 0 0 0 -20 1 0 1 0 0", -20],
  ];
  for (const [stat, nice] of cases) assert.equal(parseNice(stat), nice, stat.slice(0, 40));
  for (const stat of ["", "7 (a) R 1 1 1", "7 (a) R 1 1 1 0 -1 0 0 0 0 0 250 75 0 0 30 20 1"]) {
    assert.throws(() => parseNice(stat), TypeError, JSON.stringify(stat));
  }
});

Deno.test("childNiceValue() puts children that many steps below the main process, at most 19", () => {
  assert.equal(childNiceValue(0, 10), 10);
  assert.equal(childNiceValue(5, 10), 15);
  assert.equal(childNiceValue(15, 10), 19);
  assert.equal(childNiceValue(-5, 10), 5);
});

Deno.test("parseSmapsRollup() reads Private_Dirty and Pss of real smaps_rollup text, in bytes", () => {
  const cases: { file: string; privateDirtyKb: number; pssKb: number }[] = [
    { file: "publisher_smaps_rollup.txt", privateDirtyKb: 17196, pssKb: 27443 },
    { file: "idle_smaps_rollup.txt", privateDirtyKb: 13340, pssKb: 21207 },
  ];
  for (const { file, privateDirtyKb, pssKb } of cases) {
    assert.deepEqual(parseSmapsRollup(vector(file)), {
      privateDirtyBytes: privateDirtyKb * 1024,
      pssBytes: pssKb * 1024,
    }, file);
  }
});

Deno.test("parseSmapsRollup() does not take Pss_Dirty or another Pss_ line for Pss", () => {
  const text = "Rss: 10 kB\nPss_Dirty: 7 kB\nPss_Anon: 6 kB\nPss: 5 kB\nPrivate_Dirty: 4 kB\n";
  assert.deepEqual(parseSmapsRollup(text), { privateDirtyBytes: 4096, pssBytes: 5120 });
});

Deno.test("parseSmapsRollup() rejects text without the fields", () => {
  const rollup = vector("publisher_smaps_rollup.txt");
  const cases = ["", rollup.replace(/^Pss:.*\n/m, ""), rollup.replace(/^Private_Dirty:.*\n/m, "")];
  for (const text of cases) assert.throws(() => parseSmapsRollup(text), TypeError);
});

Deno.test("cpuPercent() is CPU time over wall time in % of one core, null when it cannot be", () => {
  const cases: { used: number; elapsedMs: number; expected: number | null }[] = [
    { used: 0.05, elapsedMs: 1000, expected: 5 },
    { used: 0.01, elapsedMs: 3000, expected: 0.3 },
    { used: 1.5, elapsedMs: 1000, expected: 150 },
    { used: 0, elapsedMs: 1000, expected: 0 },
    { used: 0.01, elapsedMs: 0, expected: null },
    { used: -0.5, elapsedMs: 1000, expected: null },
  ];
  for (const { used, elapsedMs, expected } of cases) {
    const from = { cpuSeconds: 10, atMs: 5000 };
    const to = { cpuSeconds: 10 + used, atMs: 5000 + elapsedMs };
    assert.equal(cpuPercent(from, to), expected, `${used} s in ${elapsedMs} ms`);
  }
});

Deno.test("USER_HZ is this system's clock tick rate (getconf CLK_TCK)", async () => {
  const { stdout, success } = await new Deno.Command("getconf", { args: ["CLK_TCK"] }).output();
  assert.ok(success);
  assert.equal(Number(new TextDecoder().decode(stdout).trim()), USER_HZ);
});

Deno.test("procfs.ts is pure: no Deno API, so its parsers run anywhere", async () => {
  const source = await Deno.readTextFile(new URL("./procfs.ts", import.meta.url));
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  assert.doesNotMatch(code, /\bDeno\./);
  assert.doesNotMatch(code, /^\s*import\b/m, "and it imports nothing");
});

Deno.test("udpSocketInodes() finds the sockets bound to a port in /proc/net/udp and udp6", () => {
  // Captured: a listening socket and a connected one on port 9000 (0x2328), another port.
  const udp = [
    "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops",
    "    7: 0100007F:2328 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4790339 2 00000000f012face 0",
    "   12: 0100007F:2328 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 4790401 2 00000000f012fb0e 0",
    "   40: 00000000:AC00 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4786216 2 00000000f505aaec 0",
  ].join("\n");
  assert.deepEqual(udpSocketInodes(udp, 9000), [4790339, 4790401]);
  assert.deepEqual(udpSocketInodes(udp, 44032), [4786216]);
  assert.deepEqual(udpSocketInodes(udp, 9001), []);
  const udp6 = [
    "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops",
    "   3: 00000000000000000000000001000000:2328 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 5000001 2 0000000000000000 0",
  ].join("\n");
  assert.deepEqual(udpSocketInodes(udp6, 9000), [5000001]);
  assert.deepEqual(udpSocketInodes("", 9000), []);
});
