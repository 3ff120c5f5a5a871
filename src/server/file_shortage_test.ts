import assert from "node:assert/strict";
import { fileLimit } from "../../ffi/socket.ts";
import { describeFailure, fileShortageText } from "./file_shortage.ts";

Deno.test("fileShortageText() names this process's hard limit for EMFILE, nothing for other errors", () => {
  const emfile = Object.assign(new Error("Too many open files (os error 24)"), { code: "EMFILE" });
  const text = fileShortageText(emfile);
  assert.ok(text?.startsWith(`too many open files (the hard limit is ${fileLimit().hard})`), text);
  assert.equal(fileShortageText(new Deno.errors.NotFound("gone")), undefined);
});

Deno.test("describeFailure() keeps the message of an error that is not a shortage", () => {
  assert.equal(describeFailure(new Error("Connection refused")), "Connection refused");
  assert.equal(describeFailure("plain"), "plain");
  assert.match(
    describeFailure(Object.assign(new Error("x"), { errno: 24 })),
    /^too many open files/,
  );
});
