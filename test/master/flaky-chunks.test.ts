/**
 * Repo.flakyCases past one statement's share of the work
 * (JOBS_PER_STATEMENT jobs × KEYS_PER_STATEMENT cases): the counts of a
 * case add up over every chunk of jobs, and every chunk of cases is
 * counted. The chunking is findFlakyCases' own (cases/flaky-cases.ts),
 * the same code on both dialects, so it runs on SQLite (a file), where
 * storing the ~50,000 runs it needs takes seconds; repo.conformance.ts
 * covers each dialect's statements.
 */
import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import { JOBS_PER_STATEMENT, KEYS_PER_STATEMENT } from "../../src/master/cases/flaky-cases.ts";
import { SqliteRepo } from "../../src/master/repo/sqlite.ts";
import type { CaseResult } from "../../src/results/model.ts";
import { TempDirs } from "../helpers/temp.ts";
import { makeJobWithTasks } from "./repo.conformance.ts";

const temps = new TempDirs();
afterAll(() => temps.cleanup());

test(`flakyCases over ${JOBS_PER_STATEMENT * 2 + 30} jobs and ${KEYS_PER_STATEMENT + 10} flaky cases: every chunk counted, counts summed over chunks`, async () => {
  const repo = await SqliteRepo.open(join(await temps.make("dt-flaky-chunks-"), "dt.db"));
  try {
    const jobs = JOBS_PER_STATEMENT * 2 + 30;
    const caseCount = KEYS_PER_STATEMENT + 10;
    const kase = (k: number, status: CaseResult["status"]): CaseResult => ({ suite: "S", name: `c${k}`, status, durationMs: 1, message: null, file: null, line: null });
    for (let i = 0; i < jobs; i++) {
      const { job, tasks, attempts } = makeJobWithTasks(`chunk.${i}`, 1, { createdAt: 1_000 + i });
      await repo.createJob(job, tasks, attempts);
      // In job i, case i mod caseCount fails, then passes on the retry: cases below jobs - caseCount flake twice, the others once.
      const flaky = i % caseCount;
      const at = (attempt: number) => ({ jobId: job.id, taskId: tasks[0]!.taskId, attempt, binary: "bin", reportedAt: 2_000 + i * 10 + attempt });
      await repo.storeCases(at(0), Array.from({ length: caseCount }, (_, k) => kase(k, k === flaky ? "failed" : "passed")));
      await repo.storeCases(at(1), [kase(flaky, "passed")]);
    }
    const twice = jobs - caseCount;
    const rows = await repo.flakyCases({ since: 0, minRuns: 1, limit: 1_000 });
    expect(rows).toHaveLength(caseCount);
    for (const r of rows) {
      const k = Number(r.name.slice(1));
      const flaky = k < twice ? 2 : 1;
      expect([r.name, r.jobs, r.runs, r.failures, r.flaky, r.flakeRate]).toEqual([r.name, jobs, jobs + flaky, flaky, flaky, flaky / jobs]);
      // Its latest failure is in the last job where it failed.
      expect(r.lastFailure?.jobId).toBe(`chunk.${k + (flaky - 1) * caseCount}`);
    }
    expect(rows.slice(0, twice).map((r) => r.name).sort()).toEqual(Array.from({ length: twice }, (_, k) => `c${k}`).sort());
    // A window from the second chunk of jobs on: the first chunk's flakes are out.
    const later = await repo.flakyCases({ since: 1_000 + JOBS_PER_STATEMENT, minRuns: 1, limit: 1_000 });
    expect(later.every((r) => r.jobs === jobs - JOBS_PER_STATEMENT)).toBe(true);
    expect(later.map((r) => Number(r.name.slice(1))).sort((a, b) => a - b)).toEqual(
      [...new Set(Array.from({ length: jobs - JOBS_PER_STATEMENT }, (_, j) => (j + JOBS_PER_STATEMENT) % caseCount))].sort((a, b) => a - b),
    );
  } finally {
    await repo.close();
  }
}, 60_000);
