import { expect, test } from "bun:test";
import { formatDuration, plainLine, ProgressPrinter } from "../../src/client/progress.ts";
import { Captured } from "./harness.ts";
import { summaryOf } from "./fake-master.ts";

test("the plain line is dist_test's, with failed and retries only when there are some, then dt's extras", () => {
  const counts = (c: Parameters<typeof summaryOf>[1]) => summaryOf("j", c).counts;
  expect(plainLine(counts({ total_tasks: 3, finished: 1 }), 0)).toBe(" 0.0s\t 1/3 tests complete");
  expect(plainLine(counts({ total_tasks: 3, finished: 3, failed: 1, retries: 1 }), 10_000)).toBe(" 10.0s\t 3/3 tests complete (1 failed) (1 retries)");
  expect(plainLine(counts({ total_tasks: 3, finished: 2, canceled: 2, queued: 1 }), 1_234)).toBe(" 1.2s\t 2/3 tests complete (2 canceled) (0 running, 1 queued)");
});

test("durations read as a person would say them", () => {
  expect([0, 42_400, 185_000, 3_725_000].map(formatDuration)).toEqual(["0s", "42s", "3m05s", "1h02m"]);
});

test("off a terminal, a changed line waits out minIntervalMs (the watch is told when it is due); the final line never waits", () => {
  const out = new Captured();
  const p = new ProgressPrinter(out, { tty: false, color: false, startMs: 0, minIntervalMs: 1_000 });
  const running = (finished: number) => summaryOf("j", { total_tasks: 3, finished, succeeded: finished, running: 3 - finished });
  p.update(running(0), 0);
  expect(p.dueInMs(0)).toBeUndefined();
  p.update(running(1), 200);
  expect(p.dueInMs(200)).toBe(800);
  p.update(running(1), 1_000);
  expect(p.dueInMs(1_000)).toBeUndefined();
  p.update(running(2), 1_100);
  p.update(summaryOf("j", { total_tasks: 3, finished: 3, succeeded: 3 }), 1_150);
  expect(out.text).toBe([" 0.0s\t 0/3 tests complete (3 running, 0 queued)", " 1.0s\t 1/3 tests complete (2 running, 0 queued)", " 1.1s\t 3/3 tests complete", ""].join("\n"));
});

test("off a terminal, a held-back line that the counts go back on (a lease given back) is no longer due: the watch would ask every millisecond", () => {
  const out = new Captured();
  const p = new ProgressPrinter(out, { tty: false, color: false, startMs: 0, minIntervalMs: 1_000 });
  const split = (running: number) => summaryOf("j", { total_tasks: 2, running, queued: 2 - running });
  p.update(split(1), 0);
  p.update(split(2), 100);
  expect(p.dueInMs(100)).toBe(900);
  p.update(split(1), 200);
  expect(p.dueInMs(200)).toBeUndefined();
  expect(p.dueInMs(5_000)).toBeUndefined();
  expect(out.text).toBe(" 0.0s\t 0/2 tests complete (1 running, 1 queued)\n");
});
