import { expect, test } from "bun:test";
import { SerialLock, mapLimit } from "../../src/common/concurrency.ts";

test("keeps order and never exceeds the limit", async () => {
  let inFlight = 0;
  let peak = 0;
  const results = await mapLimit([5, 1, 4, 2, 3], 2, async (n) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    await Promise.resolve();
    await new Promise((r) => setImmediate(r));
    inFlight--;
    return n * 10;
  });
  expect(results).toEqual([50, 10, 40, 20, 30]);
  expect(peak).toBe(2);
});

test("after a failure starts nothing new, waits for calls in flight, then rejects with the first error", async () => {
  const started: number[] = [];
  let finished = 0;
  let releaseSlow!: () => void;
  const slowDone = new Promise<void>((r) => (releaseSlow = r));
  const promise = mapLimit([0, 1, 2, 3], 2, async (n) => {
    started.push(n);
    if (n === 0) {
      await slowDone;
      finished++;
      return n;
    }
    throw new Error(`failed ${n}`);
  });
  let settled = false;
  promise.catch(() => {}).finally(() => (settled = true));
  await new Promise((r) => setImmediate(r));
  // Item 1 failed; item 0 is still running, so the promise must not have settled.
  expect(settled).toBe(false);
  releaseSlow();
  await expect(promise).rejects.toThrow("failed 1");
  expect(finished).toBe(1);
  expect(started).toEqual([0, 1]);
});

test("SerialLock runs works one at a time, in order; a failed one does not stop the next", async () => {
  const lock = new SerialLock();
  const log: string[] = [];
  const work = (name: string, fail = false) => async () => {
    log.push(`${name} in`);
    await new Promise((r) => setImmediate(r));
    log.push(`${name} out`);
    if (fail) throw new Error(`${name} failed`);
    return name;
  };
  const results = await Promise.allSettled([lock.run(work("a")), lock.run(work("b", true)), lock.run(work("c"))]);
  expect(log).toEqual(["a in", "a out", "b in", "b out", "c in", "c out"]);
  expect(results.map((r) => (r.status === "fulfilled" ? r.value : (r.reason as Error).message))).toEqual(["a", "b failed", "c"]);
});
