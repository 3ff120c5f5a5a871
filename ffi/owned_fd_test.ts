/**
 * Tests tell open from closed through the other end of a socket pair, not by
 * the number: test modules share this process, so a closed number may be
 * reused at once by another one.
 */

import assert from "node:assert/strict";
import { OwnedFd } from "./owned_fd.ts";
import { openSocketPair, receiveWithFdNow, sendMessage } from "./socket.ts";

const ping = new TextEncoder().encode("ping");

/** Whether `end` still works: a message sent on it reaches `peer`. */
function works(end: number, peer: OwnedFd): boolean {
  sendMessage(end, ping);
  const received = receiveWithFdNow(peer.fd, 1000);
  return received !== null && received !== "timeout";
}

/** Whether `peer` sees its other end closed. */
function peerSeesClose(peer: OwnedFd): boolean {
  return receiveWithFdNow(peer.fd, 1000) === null;
}

Deno.test("OwnedFd.close() closes once; a second close leaves a reused number alone", () => {
  const [owned, peer] = openSocketPair();
  using _peer = peer;
  owned.close();
  assert.ok(owned.closed);
  assert.ok(peerSeesClose(peer));
  // The kernel hands out the lowest free number: most likely the one just closed.
  const [next, nextPeer] = openSocketPair();
  using _next = next;
  using _nextPeer = nextPeer;
  owned.close();
  assert.ok(works(next.fd, nextPeer), "the second close() closed nothing");
});

Deno.test("OwnedFd is closed at the end of a `using` scope", () => {
  const [owned, peer] = openSocketPair();
  using _peer = peer;
  {
    using scoped = owned;
    assert.ok(works(scoped.fd, peer));
  }
  assert.ok(owned.closed);
  assert.ok(peerSeesClose(peer));
});

Deno.test("OwnedFd.fd throws once the descriptor is closed", () => {
  const [owned, peer] = openSocketPair();
  using _peer = peer;
  owned.close();
  assert.throws(() => owned.fd, TypeError);
});

Deno.test("OwnedFd.take() moves ownership: the old owner closes nothing", () => {
  const [first, peer] = openSocketPair();
  using _peer = peer;
  const number = first.fd;
  {
    using second = first.take();
    assert.equal(second.fd, number);
    assert.ok(first.closed);
    first.close();
    assert.ok(works(second.fd, peer));
  }
  assert.ok(peerSeesClose(peer));
});

Deno.test("OwnedFd.release() hands the number on and no longer closes it", () => {
  const [owned, peer] = openSocketPair();
  using _peer = peer;
  let number: number;
  {
    using released = owned;
    number = released.release();
    assert.throws(() => released.release(), TypeError, "released twice");
  }
  assert.ok(works(number, peer), "disposing a released OwnedFd closed it");
  new OwnedFd(number).close();
  assert.ok(peerSeesClose(peer));
});

Deno.test("new OwnedFd() refuses what is not a descriptor number", () => {
  for (const bad of [-1, 1.5, NaN]) {
    assert.throws(() => new OwnedFd(bad), RangeError, String(bad));
  }
});
