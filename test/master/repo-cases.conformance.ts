/**
 * The Repo's test-case storage, part of the Repo conformance suite
 * (repo.conformance.ts calls it inside each implementation's describe).
 */
import { expect, test } from "bun:test";
import { caseKey } from "../../src/master/cases/case-key.ts";
import { CASES_PER_BATCH, type CaseAttempt } from "../../src/master/cases/case-store.ts";
import type { Repo, TaskCaseRun } from "../../src/master/repo/repo.ts";
import type { CaseResult } from "../../src/results/model.ts";

const T0 = 1_700_000_000_000;

const run = (suite: string, name: string, status: CaseResult["status"], over: Partial<CaseResult> = {}): CaseResult => ({
  suite, name, status, durationMs: 3, message: status === "passed" ? null : `${name} ${status}`, file: null, line: null, ...over,
});
const at = (jobId: string, taskId: string, attempt: number, binary = "bin", reportedAt = T0 + attempt): CaseAttempt => ({ jobId, taskId, attempt, binary, reportedAt });

/** Adds the case-storage tests; `repo` gives the repo that beforeEach opened. */
export function repoCaseConformance(repo: () => Repo, seedJob: (id: string) => Promise<void>): void {
  test("storeCases keeps every field; a job's cases merge over attempts: a pass after a failure is flaky", async () => {
    const r = repo();
    await seedJob("cases.1");
    const message = `Expected: "ü ✓" \u{1F600}\n${"x".repeat(4_000)}`;
    await r.storeCases(at("cases.1", "t0", 0), [
      run("Suite", "ok", "passed"), run("Suite", "flip", "failed", { message, file: "a/b_test.cc", line: 17, durationMs: null }), run("Suite", "gone", "crashed"), run("Suite", "skip", "skipped"),
    ]);
    expect(await r.jobCaseCounts("cases.1")).toEqual({ total: 4, passed: 1, failed: 2, flaky: 0, skipped: 1 });
    await r.storeCases(at("cases.1", "t0", 1), [run("Suite", "ok", "passed"), run("Suite", "flip", "passed", { durationMs: 8 }), run("Suite", "gone", "crashed"), run("Suite", "rerun", "passed", { flakyFailures: 2 })]);
    expect(await r.jobCaseCounts("cases.1")).toEqual({ total: 5, passed: 1, failed: 1, flaky: 2, skipped: 1 });
    const listed = await r.listJobCases("cases.1", { limit: 100 });
    expect(listed.map((c) => [c.name, c.status, c.attempt, c.runs, c.failures, c.seq])).toEqual([
      ["ok", "passed", 1, 2, 0, 0], ["flip", "flaky", 1, 2, 1, 1], ["gone", "crashed", 1, 2, 2, 2], ["skip", "skipped", 0, 1, 0, 3], ["rerun", "flaky", 1, 1, 2, 4],
    ]);
    // A flaky case shows the failure it had, with the passing run's duration.
    expect(listed[1]).toMatchObject({ binary: "bin", suite: "Suite", taskId: "t0", durationMs: 8, message, file: "a/b_test.cc", line: 17 });
    expect((await r.listJobCases("cases.1", { statuses: ["failed", "crashed"], limit: 100 })).map((c) => c.name)).toEqual(["gone"]);
    expect((await r.listJobCases("cases.1", { afterSeq: 1, limit: 2 })).map((c) => c.name)).toEqual(["gone", "skip"]);
    const history = await r.caseHistory(caseKey("bin", "Suite", "flip"), 10);
    expect(history.map((h) => [h.attempt, h.status, h.durationMs, h.reportedAt])).toEqual([[1, "passed", 8, T0 + 1], [0, "failed", null, T0]]);
    expect(history[1]).toMatchObject({ jobId: "cases.1", taskId: "t0", caseIndex: 1, message, file: "a/b_test.cc", line: 17, flakyFailures: 0 });
    expect(await r.jobCaseCounts("nope")).toEqual({ total: 0, passed: 0, failed: 0, flaky: 0, skipped: 0 });
  });

  test("a case in several tasks (shards that all ran it) is one case, the worst of them", async () => {
    const r = repo();
    await seedJob("cases.2");
    await r.storeCases(at("cases.2", "s0", 0), [run("S", "a", "passed"), run("S", "b", "passed")]);
    await r.storeCases(at("cases.2", "s1", 0), [run("S", "a", "failed"), run("S", "b", "skipped")]);
    // The same names under another binary are other cases.
    await r.storeCases(at("cases.2", "o0", 0, "other"), [run("S", "a", "passed")]);
    expect(await r.jobCaseCounts("cases.2")).toEqual({ total: 3, passed: 2, failed: 1, flaky: 0, skipped: 0 });
    expect((await r.listJobCases("cases.2", { limit: 10 })).map((c) => [c.binary, c.name, c.status, c.taskId, c.runs])).toEqual([
      ["bin", "a", "failed", "s1", 2], ["bin", "b", "passed", "s0", 2], ["other", "a", "passed", "o0", 1],
    ]);
  });

  test("history spans jobs, newest first, bounded by its limit", async () => {
    const r = repo();
    for (const [i, status] of (["passed", "failed", "passed"] as const).entries()) {
      await seedJob(`hist.${i}`);
      await r.storeCases(at(`hist.${i}`, "t", 0, "bin", T0 + i * 1000), [run("H", "c", status)]);
    }
    const history = await r.caseHistory(caseKey("bin", "H", "c"), 2);
    expect(history.map((h) => [h.jobId, h.status])).toEqual([["hist.2", "passed"], ["hist.1", "failed"]]);
  });

  test(`a report of more cases than a batch (${CASES_PER_BATCH}) goes in whole, a name repeated across batches merged`, async () => {
    const r = repo();
    await seedJob("cases.big");
    const n = CASES_PER_BATCH * 2 + 17;
    const list = Array.from({ length: n }, (_, i) => run("Big", `c${i}`, i % 10 === 0 ? "failed" : "passed"));
    // A runner that reports one case twice (a rerun within the run): the later entry is its last run.
    list.push(run("Big", "c0", "passed"));
    await r.storeCases(at("cases.big", "t", 0), list);
    const failing = Math.ceil(n / 10) - 1;
    expect(await r.jobCaseCounts("cases.big")).toEqual({ total: n, passed: n - failing - 1, failed: failing, flaky: 1, skipped: 0 });
    const seqs = (await r.listJobCases("cases.big", { limit: n + 10 })).map((c) => c.seq);
    expect(seqs).toEqual(Array.from({ length: n }, (_, i) => i));
  });

  test("cases stored in a transaction that fails are not stored", async () => {
    const r = repo();
    await seedJob("cases.tx");
    const boom = new Error("boom");
    await expect(r.transaction(async (tx) => {
      await tx.storeCases(at("cases.tx", "t", 0), [run("S", "a", "passed")]);
      throw boom;
    })).rejects.toBe(boom);
    expect(await r.jobCaseCounts("cases.tx")).toEqual({ total: 0, passed: 0, failed: 0, flaky: 0, skipped: 0 });
    expect(await r.caseHistory(caseKey("bin", "S", "a"), 10)).toEqual([]);
  });

  test("binaryCaseDurations: the latest job's cases of the binary, each with the median of its latest timed runs", async () => {
    const r = repo();
    expect(await r.binaryCaseDurations("planned")).toEqual([]);
    await seedJob("dur.1");
    await seedJob("dur.2");
    await r.storeCases(at("dur.1", "t0", 0, "planned", T0), [run("S", "a", "passed", { durationMs: 10 }), run("S", "b", "passed", { durationMs: 20 }), run("S", "gone", "passed", { durationMs: 5 })]);
    // Another binary in the same job, and one whose name extends this one's: neither is this binary's.
    await r.storeCases(at("dur.2", "t9", 0, "planned.0", T0 + 100), [run("S", "a", "passed", { durationMs: 999 }), run("S", "other", "passed")]);
    await r.storeCases(at("dur.2", "t1", 0, "planned", T0 + 100), [
      run("S", "a", "passed", { durationMs: 30 }), run("S", "b", "skipped", { durationMs: 1 }), run("S", "new", "failed", { durationMs: 40 }), run("S", "c", "crashed", { durationMs: null }),
    ]);
    const known = (await r.binaryCaseDurations("planned")).sort((x, y) => x.name.localeCompare(y.name));
    // gone: not in the latest job; b: a skip says nothing of its time; c: no timed run, so the median of the others (20, 20, 40).
    expect(known).toEqual([
      { suite: "S", name: "a", expectedMs: 20 }, { suite: "S", name: "b", expectedMs: 20 }, { suite: "S", name: "c", expectedMs: 20 }, { suite: "S", name: "new", expectedMs: 40 },
    ]);
    // Only the latest DURATION_RUNS_PER_CASE (3) runs count: a fourth, older one of 1,000 ms does not move the median.
    await seedJob("dur.0");
    await r.storeCases(at("dur.0", "t0", 0, "planned", T0 - 100), [run("S", "a", "passed", { durationMs: 1_000 })]);
    await seedJob("dur.3");
    await r.storeCases(at("dur.3", "t0", 0, "planned", T0 + 200), [
      run("S", "a", "passed", { durationMs: 50 }), run("S", "b", "passed", { durationMs: 20 }), run("S", "c", "passed", { durationMs: 10 }), run("S", "new", "passed", { durationMs: 40 }),
    ]);
    // a: 50, 30, 10 (not the 1,000 before them); b: 20, 20; c: 10; new: 40, 40.
    expect((await r.binaryCaseDurations("planned")).sort((x, y) => x.name.localeCompare(y.name)).map((c) => [c.name, c.expectedMs])).toEqual([["a", 30], ["b", 20], ["c", 10], ["new", 40]]);
    // A newer job that reported only one case so far (still running, or run with a narrow filter) does not make the others unknown:
    // the newest of the latest three jobs with about the most cases (dur.3) names them.
    await seedJob("dur.4");
    await r.storeCases(at("dur.4", "t0", 0, "planned", T0 + 300), [run("S", "a", "passed", { durationMs: 70 })]);
    expect((await r.binaryCaseDurations("planned")).map((c) => c.name).sort()).toEqual(["a", "b", "c", "new"]);
  });

  test("job flags: added and listed oldest first, per job, up to the limit", async () => {
    const r = repo();
    const flag = (jobId: string, n: number) => ({ jobId, taskId: `t${n}`, attempt: n, kind: "case_selection" as const, text: `flag ${n} ü ${"x".repeat(n * 1000)}`, createdAt: T0 + n });
    expect(await r.listJobFlags("flags.1", 10)).toEqual([]);
    await r.addJobFlag(flag("flags.1", 1));
    await r.addJobFlag(flag("flags.2", 2));
    await r.addJobFlag(flag("flags.1", 3));
    expect(await r.listJobFlags("flags.1", 10)).toEqual([flag("flags.1", 1), flag("flags.1", 3)]);
    expect(await r.listJobFlags("flags.1", 1)).toEqual([flag("flags.1", 1)]);
    expect(await r.listJobFlags("flags.2", 10)).toEqual([flag("flags.2", 2)]);
  });
}

/** Adds the tests of what a retry of only the failed cases reads; `repo` gives the repo that beforeEach opened. */
export function repoTaskCaseRunsConformance(repo: () => Repo, seedJob: (id: string) => Promise<void>): void {
  test("taskCaseRuns gives one task's runs by attempt then report order, no other task's or job's; inside the transaction that stored them too", async () => {
    const r = repo();
    await seedJob("runs.1");
    await seedJob("runs.2");
    await r.storeCases(at("runs.1", "t0", 0), [run("S", "b", "failed"), run("S", "a", "passed"), run("T", "c", "crashed")]);
    await r.storeCases(at("runs.1", "t1", 0), [run("S", "a", "failed")]);
    await r.storeCases(at("runs.2", "t0", 0), [run("S", "z", "passed")]);
    const seen = await r.transaction(async (tx) => {
      await tx.storeCases(at("runs.1", "t0", 1), [run("S", "b", "passed"), run("T", "c", "skipped")]);
      return tx.taskCaseRuns("runs.1", "t0");
    });
    const expected: TaskCaseRun[] = [
      { attempt: 0, suite: "S", name: "b", status: "failed" }, { attempt: 0, suite: "S", name: "a", status: "passed" }, { attempt: 0, suite: "T", name: "c", status: "crashed" },
      { attempt: 1, suite: "S", name: "b", status: "passed" }, { attempt: 1, suite: "T", name: "c", status: "skipped" },
    ];
    expect(seen).toEqual(expected);
    expect(await r.taskCaseRuns("runs.1", "t0")).toEqual(expected);
    expect(await r.taskCaseRuns("runs.1", "t1")).toEqual([{ attempt: 0, suite: "S", name: "a", status: "failed" }]);
    expect(await r.taskCaseRuns("runs.1", "nope")).toEqual([]);
    expect(await r.taskCaseRuns("nope", "t0")).toEqual([]);
  });
}
