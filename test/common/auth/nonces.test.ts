import { expect, test } from "bun:test";
import { NONCE_TTL_MS, NonceBook } from "../../../src/common/auth/nonces.ts";
import { ManualClock } from "../../../src/common/clock.ts";

test("a nonce count is accepted once; a repeat is a replay", () => {
  const book = new NonceBook(new ManualClock());
  const nonce = book.issue();
  expect(book.use(nonce, 1)).toBe("ok");
  expect(book.use(nonce, 2)).toBe("ok");
  expect(book.use(nonce, 1)).toBe("replayed");
  expect(book.use(nonce, 2)).toBe("replayed");
});

test("counts may arrive out of order within the window, not far below the highest", () => {
  const book = new NonceBook(new ManualClock());
  const nonce = book.issue();
  expect(book.use(nonce, 5)).toBe("ok");
  expect(book.use(nonce, 3)).toBe("ok");
  expect(book.use(nonce, 4)).toBe("ok");
  expect(book.use(nonce, 3)).toBe("replayed");
  expect(book.use(nonce, 5000)).toBe("ok");
  // Below the window a count cannot be told from a replay: refused.
  expect(book.use(nonce, 6)).toBe("replayed");
  // The window's memory is pruned, but what is inside it is still remembered.
  for (let nc = 5001; nc < 9000; nc++) expect(book.use(nonce, nc)).toBe("ok");
  expect(book.use(nonce, 8500)).toBe("replayed");
});

test("a nonce expires after its lifetime: stale, whatever its count", () => {
  const clock = new ManualClock();
  const book = new NonceBook(clock);
  const nonce = book.issue();
  expect(book.isFresh(nonce)).toBe(true);
  clock.advance(NONCE_TTL_MS - 1);
  expect(book.use(nonce, 1)).toBe("ok");
  clock.advance(2);
  expect(book.isFresh(nonce)).toBe(false);
  expect(book.use(nonce, 2)).toBe("stale");
});

test("a tampered, truncated, foreign or future nonce is not ours: stale", () => {
  const clock = new ManualClock();
  const book = new NonceBook(clock);
  const nonce = book.issue();
  const flipped = `${nonce.slice(0, 5)}${nonce[5] === "A" ? "B" : "A"}${nonce.slice(6)}`;
  expect(book.use(flipped, 1)).toBe("stale");
  expect(book.use(nonce.slice(0, -2), 1)).toBe("stale");
  expect(book.use("", 1)).toBe("stale");
  expect(book.use("not base64 !", 1)).toBe("stale");
  expect(book.use("x".repeat(10_000), 1)).toBe("stale");
  // Another process (a restarted master) signs with another key.
  expect(new NonceBook(clock).use(nonce, 1)).toBe("stale");
  const later = new ManualClock(clock.now() + 60_000);
  const fromTheFuture = new NonceBook(later);
  const futureNonce = fromTheFuture.issue();
  later.advance(-60_000);
  expect(fromTheFuture.use(futureNonce, 1)).toBe("stale");
});
