/** How a job's runs of one case merge into its status (src/master/cases/case-merge.ts). */
import { describe, expect, test } from "bun:test";
import { type CaseRun, MAX_MERGED_FAILURES, caseCounts, mergeRuns } from "../../src/master/cases/case-merge.ts";
import { caseKey, caseKeyer } from "../../src/master/cases/case-key.ts";

const run = (taskId: string, attempt: number, status: CaseRun["status"], over: Partial<CaseRun> = {}): CaseRun => ({
  taskId, attempt, caseIndex: 0, status, flakyFailures: 0, durationMs: attempt, message: status === "passed" ? null : `${status}@${attempt}`, file: null, line: null, ...over,
});

describe("mergeRuns", () => {
  test("within a task the last attempt decides; a pass after a failure or crash is flaky, showing that failure", () => {
    expect(mergeRuns([run("t", 1, "passed"), run("t", 0, "failed")])).toMatchObject({ status: "flaky", attempt: 1, durationMs: 1, message: "failed@0", runs: 2, failures: 1 });
    expect(mergeRuns([run("t", 0, "crashed"), run("t", 1, "passed")])).toMatchObject({ status: "flaky", message: "crashed@0" });
    expect(mergeRuns([run("t", 0, "passed"), run("t", 1, "failed")])).toMatchObject({ status: "failed", attempt: 1, message: "failed@1" });
    // A skip is not a pass: a case that failed and was then skipped is skipped, not flaky.
    expect(mergeRuns([run("t", 0, "failed"), run("t", 1, "skipped")])).toMatchObject({ status: "skipped", message: "skipped@1", failures: 1 });
    expect(mergeRuns([run("t", 0, "passed"), run("t", 1, "passed")])).toMatchObject({ status: "passed", failures: 0 });
  });

  test("a pass after the runner's own failed reruns is flaky", () => {
    expect(mergeRuns([run("t", 0, "passed", { flakyFailures: 2, message: "rerun failure" })])).toMatchObject({ status: "flaky", message: "rerun failure", failures: 2 });
  });

  test("over tasks the worst wins: crashed, failed, flaky, passed, skipped", () => {
    const order = ["skipped", "passed", "flaky", "failed", "crashed"] as const;
    const of = (s: (typeof order)[number], task: string) => (s === "flaky" ? [run(task, 0, "failed"), run(task, 1, "passed")] : [run(task, 0, s)]);
    for (const [i, worse] of order.entries()) {
      for (const better of order.slice(0, i)) {
        expect(mergeRuns([...of(better, "a"), ...of(worse, "b")]).status).toBe(worse);
        expect(mergeRuns([...of(worse, "a"), ...of(better, "b")]).status).toBe(worse);
      }
    }
    expect(mergeRuns([run("a", 0, "passed"), run("b", 0, "failed")])).toMatchObject({ taskId: "b", runs: 2 });
  });

  test("failures stop at MySQL's INT, however many reruns hostile reports claim", () => {
    const claimed = Array.from({ length: 300_000 }, (_, i) => run("t", 0, "passed", { caseIndex: i, flakyFailures: 10_000 }));
    expect(mergeRuns(claimed)).toMatchObject({ status: "flaky", runs: 300_000, failures: MAX_MERGED_FAILURES });
    expect(MAX_MERGED_FAILURES).toBe(2 ** 31 - 1);
  });

  test("one case reported twice in one attempt: the later entry is its last run", () => {
    expect(mergeRuns([run("t", 0, "failed", { caseIndex: 0 }), run("t", 0, "passed", { caseIndex: 5 })]).status).toBe("flaky");
  });
});

test("caseCounts counts crashed cases as failed", () => {
  expect(caseCounts(new Map([["passed", 3], ["crashed", 1], ["failed", 2], ["flaky", 1], ["skipped", 4]]))).toEqual({ total: 11, passed: 3, failed: 3, flaky: 1, skipped: 4 });
  expect(caseCounts(new Map())).toEqual({ total: 0, passed: 0, failed: 0, flaky: 0, skipped: 0 });
});

test("caseKey: 32 hex digits, one suite's cases share a prefix, the parts cannot run into each other", () => {
  const key = caseKey("bin", "Suite", "Name");
  expect(key).toMatch(/^[0-9a-f]{32}$/);
  expect(caseKeyer("bin")("Suite", "Name")).toBe(key);
  expect(caseKey("bin", "Suite", "Other").slice(0, 16)).toBe(key.slice(0, 16));
  expect(caseKey("bin", "Suite", "Other")).not.toBe(key);
  expect(caseKey("bin", "SuiteN", "ame")).not.toBe(key);
  expect(caseKey("bin.0", "Suite", "Name")).not.toBe(key);
});
