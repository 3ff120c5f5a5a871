import assert from "node:assert/strict";
import { describeRejectCode, describeRejectReason, RejectCode } from "./reject_codes.ts";

Deno.test("describeRejectCode() names Atoll's codes, and gives the number of others", () => {
  assert.equal(describeRejectCode(RejectCode.Conflict), "1409 conflict");
  assert.equal(describeRejectCode(RejectCode.Down), "1503 service down");
  assert.equal(describeRejectCode(2001), "2001");
});

Deno.test("describeRejectReason() says what any reject reason means", () => {
  const cases: [number, string][] = [
    [0, "0 unknown"],
    [2, "2 rejected by the peer"],
    [10, "10 wrong passphrase"],
    [11, "11 passphrase required or unexpected"],
    [16, "16 connection timeout"],
    [99, "99 (libsrt)"],
    [1403, "1403 forbidden"],
    [1404, "1404 not found"],
    [1405, "1405 bad mode"],
    [1409, "1409 conflict"],
    [1499, "1499 (server-defined)"],
    [2001, "2001 (application-defined)"],
  ];
  for (const [code, text] of cases) assert.equal(describeRejectReason(code), text);
});
