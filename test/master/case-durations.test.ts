import { describe, expect, test } from "bun:test";
import { MAX_OLDER_RUN_ROWS, chooseKnownJob, expectedCaseDurations, olderRunBudget } from "../../src/master/cases/case-durations.ts";

const known = (key: string, status = "passed", durationMs: number | null = null) => ({ caseKey: key, suite: "S", name: key, status, durationMs });
const run = (key: string, durationMs: number | null) => ({ caseKey: key, durationMs });

test("the median of the latest three timed runs, the latest job's first; one slow run does not move it", () => {
  const out = expectedCaseDurations([known("a", "passed", 100)], [run("a", 5_000), run("a", 110), run("a", 1)]);
  // 100 (latest job), 5,000, 110: the 1 ms run is the fourth.
  expect(out).toEqual([{ suite: "S", name: "a", expectedMs: 110 }]);
  expect(expectedCaseDurations([known("a", "failed", 10)], [run("a", 30)])).toEqual([{ suite: "S", name: "a", expectedMs: 20 }]);
});

test("a skipped or crashed run, a null or negative duration, says nothing; a case without a timed run gets the median of the others", () => {
  const out = expectedCaseDurations(
    [known("a", "passed", 10), known("b", "passed", 30), known("c", "passed", 50), known("d", "skipped", 1), known("e", "crashed", 999), known("f", "passed", -5)],
    [run("d", null)],
  );
  expect(out.map((c) => [c.name, c.expectedMs])).toEqual([["a", 10], ["b", 30], ["c", 50], ["d", 30], ["e", 30], ["f", 30]]);
  expect(expectedCaseDurations([known("x", "skipped")], [])).toEqual([{ suite: "S", name: "x", expectedMs: 0 }]);
});

test("a case the latest job ran twice (a retry) is one known case; older runs of cases it did not run are not known", () => {
  const out = expectedCaseDurations([known("a", "failed", 40), known("a", "passed", 20)], [run("gone", 7), run("a", 30)]);
  expect(out).toEqual([{ suite: "S", name: "a", expectedMs: 30 }]);
});

test("older rows read: two per known case, at most MAX_OLDER_RUN_ROWS", () => {
  expect(olderRunBudget(10)).toBe(20);
  expect(olderRunBudget(1_000_000)).toBe(MAX_OLDER_RUN_ROWS);
});

describe("chooseKnownJob", () => {
  const job = (jobId: string, runs: number) => ({ jobId, runs, firstReportedAt: 0 });
  test("the newest job with at least 90% of the most cases any candidate reported", () => {
    expect(chooseKnownJob([])).toBeNull();
    expect(chooseKnownJob([job("new", 100), job("old", 100)])?.jobId).toBe("new");
    // Two cases removed from the binary: the latest still names its cases.
    expect(chooseKnownJob([job("new", 98), job("old", 100)])?.jobId).toBe("new");
    // Still running, or filtered: an older job that ran the whole binary names them.
    expect(chooseKnownJob([job("running", 12), job("whole", 100), job("older", 100)])?.jobId).toBe("whole");
    expect(chooseKnownJob([job("a", 0), job("b", 0)])?.jobId).toBe("a");
  });
});
