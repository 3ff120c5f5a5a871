import assert from "node:assert/strict";
import { openPath, tryLockFile } from "./file_lock.ts";
import { O_RDWR } from "./libc.ts";

Deno.test("tryLockFile() locks a file once, until its holder closes it, and creates it if need be", async () => {
  const dir = await Deno.makeTempDir({ prefix: "atoll_lock_" });
  try {
    const path = `${dir}/lock`;
    const held = tryLockFile(path);
    assert.ok(held !== undefined);
    assert.ok(Deno.statSync(path).isFile);
    assert.equal(tryLockFile(path), undefined, "a second open file description is refused");
    // Another process is refused as well.
    const other = await new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { tryLockFile } from "${new URL("./file_lock.ts", import.meta.url)}";
        console.log(tryLockFile("${path}") === undefined ? "held" : "free");`,
      ],
    }).output();
    assert.equal(new TextDecoder().decode(other.stdout).trim(), "held");
    held.close();
    const again = tryLockFile(path);
    assert.ok(again !== undefined, "free once closed");
    again.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openPath() names the path in its error", () => {
  assert.throws(
    () => openPath("/nonexistent/atoll/file", O_RDWR),
    /open \/nonexistent\/atoll\/file failed: No such file/,
  );
});
