/**
 * Repo.flakyCases, part of the Repo conformance suite (repo.conformance.ts
 * calls it inside each implementation's describe): which cases were flaky
 * over a window of jobs, their counts and rate, the window, min_runs, the
 * binary filter, the limit and the order.
 */
import { expect, test } from "bun:test";
import type { CaseAttempt } from "../../src/master/cases/case-store.ts";
import type { FlakyCaseStats, FlakyQuery } from "../../src/master/cases/flaky-cases.ts";
import type { Repo } from "../../src/master/repo/repo.ts";
import type { CaseResult } from "../../src/results/model.ts";

const T0 = 1_700_000_000_000;
const DAY = 86_400_000;
/** The window's start: every job but "old" was created after it. */
const W = T0 + 10 * DAY;

const run = (name: string, status: CaseResult["status"], over: Partial<CaseResult> = {}): CaseResult => ({
  suite: "S", name, status, durationMs: 3, message: status === "passed" ? null : `${name} ${status}`, file: null, line: null, ...over,
});

/** Adds the flaky-case tests; `seedJob` stores a job created at `createdAt`. */
export function repoFlakyConformance(repo: () => Repo, seedJob: (id: string, createdAt: number) => Promise<void>): void {
  /** Stores a job's attempts: per attempt of task "t" (binary "bin") its cases; `extra` other tasks' attempts. */
  async function job(id: string, createdAt: number, attempts: CaseResult[][], extra: { task: string; binary: string; attempts: CaseResult[][] }[] = []): Promise<void> {
    await seedJob(id, createdAt);
    if (steady > 0) attempts = [[...attempts[0]!, ...Array.from({ length: steady }, (_, k) => run(`steady${k}`, "passed"))], ...attempts.slice(1)];
    const at = (taskId: string, attempt: number, binary: string): CaseAttempt => ({ jobId: id, taskId, attempt, binary, reportedAt: createdAt + 100 + attempt });
    for (const [i, list] of attempts.entries()) await repo().storeCases(at("t", i, "bin"), list);
    for (const e of extra) for (const [i, list] of e.attempts.entries()) await repo().storeCases(at(e.task, i, e.binary), list);
  }

  /** Cases that always pass, added to each job's first attempt (seedHistory's `steady`). */
  let steady = 0;

  /**
   * The history every test reads: see each case's comment for what it
   * shows. `steadyCases` always-passing cases beside them in each job make
   * the flaky ones few among the jobs' cases, so flakyCases reads them by
   * point lookups rather than reading every row (cases/flaky-cases.ts).
   */
  async function seedHistory(steadyCases = 0): Promise<void> {
    steady = steadyCases;
    // Before the window: S.flip was flaky there too, which a window from W must not count.
    await job("old", T0, [[run("flip", "failed")], [run("flip", "passed")]]);
    await job("j1", W + 1, [
      [run("flip", "failed"), run("always", "failed"), run("ok", "passed"), run("skipped", "failed"), run("rerun", "passed", { flakyFailures: 3 })],
      [run("flip", "passed"), run("always", "failed"), run("skipped", "failed")],
      [run("skipped", "passed")],
    ]);
    await job("j2", W + 2, [[run("flip", "passed"), run("always", "failed"), run("ok", "passed"), run("skipped", "skipped"), run("rerun", "passed")]], [
      // The same name in another binary is another case.
      { task: "o", binary: "other", attempts: [[run("flip", "failed")], [run("flip", "passed")]] },
    ]);
    await job("j3", W + 3, [[run("flip", "failed", { message: "j3's failure" }), run("always", "failed"), run("skipped", "skipped")], [run("flip", "passed"), run("always", "failed")]]);
    await job("j4", W + 4, [[run("flip", "passed"), run("always", "failed"), run("skipped", "skipped"), run("once", "crashed")], [run("once", "passed")]]);
  }

  const query = (over: Partial<FlakyQuery> = {}): FlakyQuery => ({ since: W, minRuns: 1, limit: 50, ...over });
  const summary = (rows: FlakyCaseStats[]) => rows.map((r) => [`${r.binary}:${r.name}`, r.jobs, r.runs, r.failures, r.flaky, r.flakeRate]);

  /** What the whole window holds (see seedHistory), flakiest first. */
  const WINDOW = [
    // Flaky in j1 (two failed attempts, then a pass), skipped in the others: one job ran it, so its rate is 1.
    ["bin:skipped", 1, 3, 2, 1, 1],
    // Crashed, then passed, in the only job that ran it.
    ["bin:once", 1, 2, 1, 1, 1],
    ["other:flip", 1, 2, 1, 1, 1],
    // Flaky in j1 and j3 of the four jobs that ran it; the old job's flake is outside the window.
    ["bin:flip", 4, 6, 2, 2, 0.5],
    // Passed after three failed reruns of its runner in j1, passed in j2.
    ["bin:rerun", 2, 2, 3, 1, 0.5],
  ];

  test("flakyCases: only cases flaky in a job of the window, by rate, then flaky jobs, failures and name; a job counts once, skips not at all", async () => {
    await seedHistory();
    const rows = await repo().flakyCases(query());
    expect(summary(rows)).toEqual(WINDOW);
    // always failed and ok passed: neither is flaky.
    const flip = rows.find((r) => r.binary === "bin" && r.name === "flip")!;
    expect(flip).toMatchObject({ suite: "S", caseKey: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(flip.lastFailure).toMatchObject({ jobId: "j3", taskId: "t", attempt: 0, status: "failed", message: "j3's failure", reportedAt: W + 3 + 100, binary: "bin", suite: "S", name: "flip" });
    // A pass after the runner's reruns is the failure it had.
    expect(rows.find((r) => r.name === "rerun")!.lastFailure).toMatchObject({ jobId: "j1", attempt: 0, status: "passed", flakyFailures: 3 });
    expect(rows.find((r) => r.name === "once")!.lastFailure).toMatchObject({ jobId: "j4", attempt: 0, status: "crashed" });
  });

  test("flakyCases: min_runs counts jobs, not runs; the limit keeps the flakiest; binary filters; since moves the window", async () => {
    await seedHistory();
    // S.skipped had 3 runs but in one job: min_runs 2 leaves it out.
    expect(summary(await repo().flakyCases(query({ minRuns: 2 })))).toEqual([["bin:flip", 4, 6, 2, 2, 0.5], ["bin:rerun", 2, 2, 3, 1, 0.5]]);
    expect(await repo().flakyCases(query({ minRuns: 5 }))).toEqual([]);
    expect(summary(await repo().flakyCases(query({ limit: 2 }))).map((r) => r[0])).toEqual(["bin:skipped", "bin:once"]);
    expect(summary(await repo().flakyCases(query({ binary: "other" })))).toEqual([["other:flip", 1, 2, 1, 1, 1]]);
    expect(await repo().flakyCases(query({ binary: "nope" }))).toEqual([]);
    // From T0 the old job counts: S.flip was flaky in 3 of 5 jobs.
    expect(summary(await repo().flakyCases(query({ since: T0, minRuns: 2 })))).toEqual([["bin:flip", 5, 8, 3, 3, 0.6], ["bin:rerun", 2, 2, 3, 1, 0.5]]);
    // Only j4 (created at W + 4): S.once alone was flaky in it.
    expect(summary(await repo().flakyCases(query({ since: W + 4 })))).toEqual([["bin:once", 1, 2, 1, 1, 1]]);
    expect(await repo().flakyCases(query({ since: W + DAY }))).toEqual([]);
  });

  test("flakyCases among 40 steady cases a job (read by point lookups) counts the same as alone (read row by row)", async () => {
    await seedHistory(40);
    expect(summary(await repo().flakyCases(query()))).toEqual(WINDOW);
    expect(summary(await repo().flakyCases(query({ since: T0, minRuns: 2 })))).toEqual([["bin:flip", 5, 8, 3, 3, 0.6], ["bin:rerun", 2, 2, 3, 1, 0.5]]);
    expect(summary(await repo().flakyCases(query({ binary: "other" })))).toEqual([["other:flip", 1, 2, 1, 1, 1]]);
  });

  test("flakyCases on a repo without cases is empty", async () => {
    expect(await repo().flakyCases(query({ since: 0 }))).toEqual([]);
  });
}
