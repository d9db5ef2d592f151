/** The test-case tables on SQLite: the storage primitives of cases/case-store.ts and the reads, for SqliteRepo. */
import { and, asc, desc, eq, gt, gte, inArray, isNotNull, lt, ne, or, sql } from "drizzle-orm";
import type { BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import { DtError } from "../../common/errors.ts";
import { caseCounts } from "../cases/case-merge.ts";
import { KNOWN_JOB_CANDIDATES, type KnownCaseRow, type KnownJobCandidate, chooseKnownJob, olderRunBudget, expectedCaseDurations, TIMED_STATUSES } from "../cases/case-durations.ts";
import type { KnownCase } from "../scheduler/shard-planner.ts";
import type { CaseAttempt, CaseStoreOps } from "../cases/case-store.ts";
import type { FlakyOps } from "../cases/flaky-cases.ts";
import type { JobCaseCounts } from "../protocol.ts";
import type { JobCaseQuery, TaskCaseRun } from "./repo.ts";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import { type CaseRow, cases, jobCaseCounts, type JobCaseRow, jobCases, jobs } from "./schema-sqlite.ts";
import { type Connection, insertRows, sqliteMessage } from "./sqlite-connection.ts";

/** The primitives on `conn`; `run` is the repo's way onto the connection (a transaction's, as storeCases calls it). */
export function sqliteCaseStoreOps(conn: Connection, at: CaseAttempt, run: <T>(body: (db: BunSQLiteDatabase) => T) => Promise<T>): CaseStoreOps {
  return {
    lockJob: async () => {
      // BEGIN IMMEDIATE and the gate serialize every writer already.
    },
    nextSeq: (jobId) => run((db) => (db.select({ n: sql<number | null>`max(${jobCases.seq})` }).from(jobCases).where(eq(jobCases.jobId, jobId)).get()?.n ?? -1) + 1),
    insertCases: async (rows) => {
      try {
        await run(() => insertRows(conn, cases, rows));
      } catch (err) {
        throw new DtError("internal", `storing the cases of attempt ${at.attempt} of task ${at.taskId} in job ${at.jobId} failed: ${sqliteMessage(err)}`, { cause: err });
      }
    },
    runsOf: (jobId, keys) =>
      run((db) =>
        db
          .select({ caseKey: cases.caseKey, taskId: cases.taskId, attempt: cases.attempt, caseIndex: cases.caseIndex, status: cases.status, flakyFailures: cases.flakyFailures, durationMs: cases.durationMs, message: cases.message, file: cases.file, line: cases.line })
          .from(cases)
          .where(and(eq(cases.jobId, jobId), inArray(cases.caseKey, [...keys])))
          .all(),
      ),
    seqsOf: (jobId, keys) =>
      run((db) =>
        new Map(
          db
            .select({ key: jobCases.caseKey, seq: jobCases.seq, status: jobCases.status })
            .from(jobCases)
            .where(and(eq(jobCases.jobId, jobId), inArray(jobCases.caseKey, [...keys])))
            .all()
            .map((r) => [r.key, { seq: r.seq, status: r.status }]),
        ),
      ),
    writeJobCases: async (jobId, replaced, rows) => {
      if (replaced.length > 0) await run((db) => db.delete(jobCases).where(and(eq(jobCases.jobId, jobId), inArray(jobCases.caseKey, [...replaced]))).run());
      await run(() => insertRows(conn, jobCases, rows));
    },
    addCounts: async (jobId, d) => {
      const add = (column: SQLiteColumn) => sql`${column} + excluded.${sql.identifier(column.name)}`;
      await run((db) =>
        db
          .insert(jobCaseCounts)
          .values({ jobId, ...d })
          .onConflictDoUpdate({
            target: jobCaseCounts.jobId,
            set: { passed: add(jobCaseCounts.passed), failed: add(jobCaseCounts.failed), crashed: add(jobCaseCounts.crashed), flaky: add(jobCaseCounts.flaky), skipped: add(jobCaseCounts.skipped) },
          })
          .run(),
      );
    },
  };
}

export function listJobCasesOn(db: BunSQLiteDatabase, jobId: string, query: JobCaseQuery): JobCaseRow[] {
  const conditions = [eq(jobCases.jobId, jobId), query.statuses ? inArray(jobCases.status, [...query.statuses]) : undefined, query.afterSeq !== undefined ? gt(jobCases.seq, query.afterSeq) : undefined];
  return db.select().from(jobCases).where(and(...conditions)).orderBy(asc(jobCases.seq)).limit(Math.max(0, query.limit)).all();
}

export function jobCaseCountsOn(db: BunSQLiteDatabase, jobId: string): JobCaseCounts {
  const { jobId: _, ...row } = db.select().from(jobCaseCounts).where(eq(jobCaseCounts.jobId, jobId)).get() ?? { jobId };
  return caseCounts(new Map(Object.entries(row)));
}

export function caseHistoryOn(db: BunSQLiteDatabase, caseKey: string, limit: number): CaseRow[] {
  return db.select().from(cases).where(eq(cases.caseKey, caseKey)).orderBy(desc(cases.reportedAt), desc(cases.attempt)).limit(Math.max(0, limit)).all();
}

export function taskCaseRunsOn(db: BunSQLiteDatabase, jobId: string, taskId: string): TaskCaseRun[] {
  return db
    .select({ attempt: cases.attempt, suite: cases.suite, name: cases.name, status: cases.status })
    .from(cases)
    .where(and(eq(cases.jobId, jobId), eq(cases.taskId, taskId)))
    .orderBy(asc(cases.attempt), asc(cases.caseIndex))
    .all();
}

/** Repo.binaryCaseDurations on SQLite: three indexed reads (see cases/case-durations.ts), 0.45 s for 100,000 cases with 3 jobs of history (bench/shard-plan.ts). */
export function binaryCaseDurationsOn(db: BunSQLiteDatabase, binary: string): KnownCase[] {
  const candidates: KnownJobCandidate[] = [];
  // knownJobCandidates' steps, synchronous as bun:sqlite is: up to three index seeks and counts.
  let until = Number.MAX_SAFE_INTEGER;
  while (candidates.length < KNOWN_JOB_CANDIDATES) {
    const row = db.select({ jobId: cases.jobId }).from(cases).where(and(eq(cases.binary, binary), lt(cases.reportedAt, until))).orderBy(desc(cases.reportedAt)).limit(1).get();
    if (!row || candidates.some((c) => c.jobId === row.jobId)) break;
    // db.all, not db.get: drizzle's get on raw SQL gives the row's values as an array.
    const [stats] = db.all<{ runs: number; first: number }>(sql`
      SELECT count(*) AS runs, min(reported_at) AS first FROM cases INDEXED BY sqlite_autoindex_cases_1
      WHERE job_id = ${row.jobId} AND test_binary = ${binary}`);
    if (!stats) break;
    candidates.push({ jobId: row.jobId, runs: stats.runs, firstReportedAt: stats.first });
    until = stats.first;
  }
  const latest = chooseKnownJob(candidates);
  if (!latest) return [];
  // The job's rows in the primary key's order, which is the order they were stored in: a sequential read of the job. The
  // (job_id, case_key) index would name only this binary's rows, but in hash order, each a random read of the table (5 times
  // slower for 100,000 cases, measured); (test_binary) would read every job's rows of the binary. Named, so that SQLite's
  // planner, which prefers the binary's index here, cannot choose another.
  const known = db.all<KnownCaseRow & { reportedAt: number }>(sql`
    SELECT case_key AS caseKey, suite, name, status, duration_ms AS durationMs, reported_at AS reportedAt
    FROM cases INDEXED BY sqlite_autoindex_cases_1
    WHERE job_id = ${latest.jobId} AND test_binary = ${binary}`);
  // Runs before the latest job's first report: its own rows came with the known cases, and the index skips them
  // (so does an older job's run reported while the latest one ran: a run fewer in a median).
  if (known.length === 0) return [];
  const before = known.reduce((min, c) => Math.min(min, c.reportedAt), Infinity);
  const runs = db
    .select({ caseKey: cases.caseKey, durationMs: cases.durationMs })
    .from(cases)
    .where(and(eq(cases.binary, binary), lt(cases.reportedAt, before), inArray(cases.status, [...TIMED_STATUSES]), isNotNull(cases.durationMs)))
    .orderBy(desc(cases.reportedAt))
    .limit(olderRunBudget(known.length))
    .all();
  return expectedCaseDurations(known, runs);
}

/** findFlakyCases' reads (see FlakyOps for the indexes each one uses); `run` is the repo's way onto the connection. */
export function sqliteFlakyOps(run: <T>(body: (db: BunSQLiteDatabase) => T) => Promise<T>): FlakyOps {
  return {
    windowJobs: (since) =>
      run((db) =>
        db
          .select({ id: jobs.id, cases: sql<number>`coalesce(${jobCaseCounts.passed} + ${jobCaseCounts.failed} + ${jobCaseCounts.crashed} + ${jobCaseCounts.flaky} + ${jobCaseCounts.skipped}, 0)` })
          .from(jobs)
          .leftJoin(jobCaseCounts, eq(jobCaseCounts.jobId, jobs.id))
          .where(gte(jobs.createdAt, since))
          .all(),
      ),
    candidates: (jobIds, binary) =>
      run((db) =>
        db
          .selectDistinct({ caseKey: jobCases.caseKey, binary: jobCases.binary, suite: jobCases.suite, name: jobCases.name })
          .from(jobCases)
          .where(and(inArray(jobCases.jobId, [...jobIds]), eq(jobCases.status, "flaky"), binary === undefined ? undefined : eq(jobCases.binary, binary)))
          .all(),
      ),
    counts: (jobIds, keys) =>
      run((db) =>
        db
          .select({
            caseKey: jobCases.caseKey,
            jobs: sql<number>`count(*)`,
            runs: sql<number>`sum(${jobCases.runs})`,
            failures: sql<number>`sum(${jobCases.failures})`,
            flaky: sql<number>`sum(case when ${jobCases.status} = 'flaky' then 1 else 0 end)`,
          })
          .from(jobCases)
          // On the primary key (job, case key): with keys, one point lookup per pair; without, each job's rows in a row.
          .where(and(inArray(jobCases.jobId, [...jobIds]), keys === null ? undefined : inArray(jobCases.caseKey, [...keys]), ne(jobCases.status, "skipped")))
          .groupBy(jobCases.caseKey)
          .all(),
      ),
    lastFailure: (caseKey, since) =>
      run(
        (db) =>
          db
            .select()
            .from(cases)
            .where(and(eq(cases.caseKey, caseKey), gte(cases.reportedAt, since), or(inArray(cases.status, ["failed", "crashed"]), gt(cases.flakyFailures, 0))))
            .orderBy(desc(cases.reportedAt), desc(cases.attempt))
            .limit(1)
            .get() ?? null,
      ),
  };
}
