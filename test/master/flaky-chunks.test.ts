/**
 * Repo.flakyCases past one statement's share of the work, both ways it
 * reads: point lookups (JOBS_PER_STATEMENT jobs × KEYS_PER_STATEMENT cases
 * a statement), when the flaky cases are few beside the jobs' others, and
 * reading every row of the jobs (ROWS_PER_STATEMENT a statement), when
 * they are many. Either way a case's counts add up over every chunk and
 * every chunk of cases is counted. The chunking is findFlakyCases' own
 * (cases/flaky-cases.ts), the same code on both dialects, so it runs on
 * SQLite (a file), where storing the ~80,000 runs it needs takes seconds;
 * repo.conformance.ts runs each dialect's statements both ways.
 */
import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import { JOBS_PER_STATEMENT, KEYS_PER_STATEMENT, ROWS_PER_STATEMENT } from "../../src/master/cases/flaky-cases.ts";
import { SqliteRepo } from "../../src/master/repo/sqlite.ts";
import type { CaseResult } from "../../src/results/model.ts";
import { TempDirs } from "../helpers/temp.ts";
import { makeJobWithTasks } from "./repo.conformance.ts";

const temps = new TempDirs();
afterAll(() => temps.cleanup());

const JOBS = JOBS_PER_STATEMENT + 10;
/** More than a statement's cases; two flake in each job, so each flakes once or twice. */
const FLAKY = KEYS_PER_STATEMENT + 10;

/**
 * JOBS jobs running FLAKY cases and `steady` more that always pass; in job
 * i, cases 2i and 2i + 1 (mod FLAKY) fail, then pass on the retry. Checks
 * flakyCases against the counts kept while storing, over the whole window
 * and over the jobs from the second chunk on.
 */
async function checkChunks(steady: number): Promise<void> {
  const repo = await SqliteRepo.open(join(await temps.make("dt-flaky-chunks-"), "dt.db"));
  try {
    const kase = (name: string, status: CaseResult["status"]): CaseResult => ({ suite: "S", name, status, durationMs: 1, message: null, file: null, line: null });
    /** Per case, the indexes of the jobs it flaked in. */
    const flakedIn = new Map<string, number[]>();
    for (let i = 0; i < JOBS; i++) {
      const { job, tasks, attempts } = makeJobWithTasks(`chunk.${i}`, 1, { createdAt: 1_000 + i });
      await repo.createJob(job, tasks, attempts);
      const flaky = new Set([`f${(2 * i) % FLAKY}`, `f${(2 * i + 1) % FLAKY}`]);
      for (const name of flaky) flakedIn.set(name, [...(flakedIn.get(name) ?? []), i]);
      const at = (attempt: number) => ({ jobId: job.id, taskId: tasks[0]!.taskId, attempt, binary: "bin", reportedAt: 2_000 + i * 10 + attempt });
      const names = [...Array.from({ length: FLAKY }, (_, k) => `f${k}`), ...Array.from({ length: steady }, (_, k) => `s${k}`)];
      await repo.storeCases(at(0), names.map((name) => kase(name, flaky.has(name) ? "failed" : "passed")));
      await repo.storeCases(at(1), [...flaky].map((name) => kase(name, "passed")));
    }
    for (const from of [0, JOBS_PER_STATEMENT]) {
      const rows = await repo.flakyCases({ since: 1_000 + from, minRuns: 1, limit: 1_000 });
      const expected = [...flakedIn].map(([name, jobs]) => [name, jobs.filter((i) => i >= from)] as const).filter(([, jobs]) => jobs.length > 0);
      expect(rows.map((r) => r.name).sort()).toEqual(expected.map(([name]) => name).sort());
      const window = JOBS - from;
      for (const [name, jobs] of expected) {
        const r = rows.find((row) => row.name === name)!;
        expect([name, r.jobs, r.runs, r.failures, r.flaky, r.flakeRate, r.lastFailure?.jobId]).toEqual([name, window, window + jobs.length, jobs.length, jobs.length, jobs.length / window, `chunk.${jobs.at(-1)}`]);
      }
    }
  } finally {
    await repo.close();
  }
}

test(`point lookups: ${FLAKY} flaky cases beside 450 steady ones in ${JOBS} jobs, over chunks of jobs and of cases`, async () => {
  await checkChunks(450);
}, 60_000);

test(`reading every row: ${FLAKY} flaky cases alone in ${JOBS} jobs, ${JOBS * FLAKY} rows over chunks of ${ROWS_PER_STATEMENT}`, async () => {
  expect(JOBS * FLAKY).toBeGreaterThan(ROWS_PER_STATEMENT);
  await checkChunks(0);
}, 60_000);
