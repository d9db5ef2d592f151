import { expect, test } from "bun:test";
import { formatDuration, plainLine } from "../../src/client/progress.ts";
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
