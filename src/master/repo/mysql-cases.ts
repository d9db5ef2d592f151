/** The test-case tables on MySQL/MariaDB: the storage primitives of cases/case-store.ts and the reads, for MysqlRepo. */
import { and, asc, desc, eq, gt, gte, inArray, isNotNull, lt, ne, or, sql } from "drizzle-orm";
import type { MySql2Database } from "drizzle-orm/mysql2";
import type { PoolConnection } from "mysql2/promise";
import { DtError } from "../../common/errors.ts";
import { caseCounts } from "../cases/case-merge.ts";
import { chooseKnownJob, knownJobCandidates, olderRunBudget, expectedCaseDurations, TIMED_STATUSES } from "../cases/case-durations.ts";
import type { KnownCase } from "../scheduler/shard-planner.ts";
import type { CaseAttempt, CaseStoreOps } from "../cases/case-store.ts";
import type { FlakyOps } from "../cases/flaky-cases.ts";
import type { JobCaseCounts } from "../protocol.ts";
import { driverError, insertChunked, isConnectionLost, type MysqlPool } from "./mysql-connection.ts";
import type { JobCaseQuery, TaskCaseRun } from "./repo.ts";
import type { MySqlColumn } from "drizzle-orm/mysql-core";
import { cases, jobCaseCounts, jobCases, jobs } from "./schema-mysql.ts";
import type { CaseRow, JobCaseRow } from "./schema-sqlite.ts";

/**
 * The primitives on the transaction's connection `conn`; `run` is the
 * repo's way onto it. The job's row is locked to the commit, so a second
 * report of the job merging the same cases waits, then reads what this one
 * stored; the reads lock too, since a locking read sees the latest commit
 * where a plain one may see the transaction's older snapshot.
 */
export function mysqlCaseStoreOps(conn: PoolConnection, pool: MysqlPool, at: CaseAttempt, run: <T>(body: (db: MySql2Database) => Promise<T>) => Promise<T>): CaseStoreOps {
  const insert = async (table: typeof cases | typeof jobCases, rows: readonly object[]) => {
    try {
      await insertChunked(conn, table, rows, pool.maxPacket);
    } catch (err) {
      if (isConnectionLost(err)) throw pool.lost("storeCases", err, "the transaction is rolled back");
      throw new DtError("internal", `storing the cases of attempt ${at.attempt} of task ${at.taskId} in job ${at.jobId} failed: ${driverError(err).message}`, { cause: err });
    }
  };
  return {
    lockJob: async (jobId) => void (await run((db) => db.select({ id: jobs.id }).from(jobs).where(eq(jobs.id, jobId)).for("update"))),
    nextSeq: async (jobId) => {
      const [row] = await run((db) => db.select({ n: sql<number | null>`max(${jobCases.seq})` }).from(jobCases).where(eq(jobCases.jobId, jobId)).for("update"));
      return (row?.n === null || row?.n === undefined ? -1 : Number(row.n)) + 1;
    },
    insertCases: (rows) => insert(cases, rows),
    runsOf: (jobId, keys) =>
      run((db) =>
        db
          .select({ caseKey: cases.caseKey, taskId: cases.taskId, attempt: cases.attempt, caseIndex: cases.caseIndex, status: cases.status, flakyFailures: cases.flakyFailures, durationMs: cases.durationMs, message: cases.message, file: cases.file, line: cases.line })
          .from(cases)
          .where(and(eq(cases.jobId, jobId), inArray(cases.caseKey, [...keys])))
          .for("update"),
      ),
    seqsOf: async (jobId, keys) => {
      const rows = await run((db) =>
        db
          .select({ key: jobCases.caseKey, seq: jobCases.seq, status: jobCases.status })
          .from(jobCases)
          .where(and(eq(jobCases.jobId, jobId), inArray(jobCases.caseKey, [...keys])))
          .for("update"),
      );
      return new Map(rows.map((r) => [r.key, { seq: r.seq, status: r.status }]));
    },
    writeJobCases: async (jobId, replaced, rows) => {
      if (replaced.length > 0) await run((db) => db.delete(jobCases).where(and(eq(jobCases.jobId, jobId), inArray(jobCases.caseKey, [...replaced]))));
      await insert(jobCases, rows);
    },
    addCounts: async (jobId, d) => {
      // Each column reads only its own old value, as MySQL evaluates them left to right.
      const add = (column: MySqlColumn) => sql`${sql.identifier(column.name)} + VALUES(${sql.identifier(column.name)})`;
      await run((db) =>
        db
          .insert(jobCaseCounts)
          .values({ jobId, ...d })
          .onDuplicateKeyUpdate({
            set: { passed: add(jobCaseCounts.passed), failed: add(jobCaseCounts.failed), crashed: add(jobCaseCounts.crashed), flaky: add(jobCaseCounts.flaky), skipped: add(jobCaseCounts.skipped) },
          }),
      );
    },
  };
}

export function listJobCasesOn(db: MySql2Database, jobId: string, query: JobCaseQuery): Promise<JobCaseRow[]> {
  const conditions = [eq(jobCases.jobId, jobId), query.statuses ? inArray(jobCases.status, [...query.statuses]) : undefined, query.afterSeq !== undefined ? gt(jobCases.seq, query.afterSeq) : undefined];
  return db.select().from(jobCases).where(and(...conditions)).orderBy(asc(jobCases.seq)).limit(Math.max(0, query.limit));
}

export async function jobCaseCountsOn(db: MySql2Database, jobId: string): Promise<JobCaseCounts> {
  const [found] = await db.select().from(jobCaseCounts).where(eq(jobCaseCounts.jobId, jobId));
  const { jobId: _, ...row } = found ?? { jobId };
  return caseCounts(new Map(Object.entries(row)));
}

export function caseHistoryOn(db: MySql2Database, caseKey: string, limit: number): Promise<CaseRow[]> {
  return db.select().from(cases).where(eq(cases.caseKey, caseKey)).orderBy(desc(cases.reportedAt), desc(cases.attempt)).limit(Math.max(0, limit));
}

export function taskCaseRunsOn(db: MySql2Database, jobId: string, taskId: string): Promise<TaskCaseRun[]> {
  return db
    .select({ attempt: cases.attempt, suite: cases.suite, name: cases.name, status: cases.status })
    .from(cases)
    .where(and(eq(cases.jobId, jobId), eq(cases.taskId, taskId)))
    .orderBy(asc(cases.attempt), asc(cases.caseIndex));
}

/** Repo.binaryCaseDurations on MySQL: three indexed reads (see cases/case-durations.ts). */
export async function binaryCaseDurationsOn(db: MySql2Database, binary: string): Promise<KnownCase[]> {
  const candidates = await knownJobCandidates(
    async (before) => {
      const [row] = await db.select({ jobId: cases.jobId }).from(cases).where(and(eq(cases.binary, binary), lt(cases.reportedAt, before))).orderBy(desc(cases.reportedAt)).limit(1);
      return row?.jobId ?? null;
    },
    async (jobId) => {
      const [row] = await db.select({ runs: sql<unknown>`count(*)`, first: sql<unknown>`min(${cases.reportedAt})` }).from(cases).where(and(eq(cases.jobId, jobId), eq(cases.binary, binary)));
      return { runs: Number(row?.runs ?? 0), firstReportedAt: Number(row?.first ?? 0) };
    },
  );
  const latest = chooseKnownJob(candidates);
  if (!latest) return [];
  // The job's rows by the clustered primary key (job_id, …): a sequential read of the job, where the (job_id, case_key)
  // index would give them in hash order, each a random read of the table.
  const known = await db
    .select({ caseKey: cases.caseKey, suite: cases.suite, name: cases.name, status: cases.status, durationMs: cases.durationMs, reportedAt: cases.reportedAt })
    .from(cases)
    .where(and(eq(cases.jobId, latest.jobId), eq(cases.binary, binary)));
  // Runs before the latest job's first report: its own rows came with the known cases, and the index skips them
  // (so does an older job's run reported while the latest one ran: a run fewer in a median).
  if (known.length === 0) return [];
  const before = known.reduce((min, c) => Math.min(min, c.reportedAt), Infinity);
  const runs = await db
    .select({ caseKey: cases.caseKey, durationMs: cases.durationMs })
    .from(cases)
    .where(and(eq(cases.binary, binary), lt(cases.reportedAt, before), inArray(cases.status, [...TIMED_STATUSES]), isNotNull(cases.durationMs)))
    .orderBy(desc(cases.reportedAt))
    .limit(olderRunBudget(known.length));
  return expectedCaseDurations(known, runs);
}

/** findFlakyCases' reads (see FlakyOps for the indexes each one uses); `read` is the repo's way onto the pool. */
export function mysqlFlakyOps(read: <T>(what: string, body: (db: MySql2Database) => Promise<T>) => Promise<T>): FlakyOps {
  return {
    windowJobs: async (since) => {
      const rows = await read("flakyCases", (db) =>
        db
          .select({ id: jobs.id, cases: sql<unknown>`coalesce(${jobCaseCounts.passed} + ${jobCaseCounts.failed} + ${jobCaseCounts.crashed} + ${jobCaseCounts.flaky} + ${jobCaseCounts.skipped}, 0)` })
          .from(jobs)
          .leftJoin(jobCaseCounts, eq(jobCaseCounts.jobId, jobs.id))
          .where(gte(jobs.createdAt, since)),
      );
      return rows.map((r) => ({ id: r.id, cases: Number(r.cases) }));
    },
    candidates: (jobIds, binary) =>
      read("flakyCases", (db) =>
        db
          .selectDistinct({ caseKey: jobCases.caseKey, binary: jobCases.binary, suite: jobCases.suite, name: jobCases.name })
          .from(jobCases)
          .where(and(inArray(jobCases.jobId, [...jobIds]), eq(jobCases.status, "flaky"), binary === undefined ? undefined : eq(jobCases.binary, binary))),
      ),
    counts: async (jobIds, keys) => {
      const rows = await read("flakyCases", (db) =>
        db
          .select({
            caseKey: jobCases.caseKey,
            jobs: sql<unknown>`count(*)`,
            runs: sql<unknown>`sum(${jobCases.runs})`,
            failures: sql<unknown>`sum(${jobCases.failures})`,
            flaky: sql<unknown>`sum(case when ${jobCases.status} = 'flaky' then 1 else 0 end)`,
          })
          .from(jobCases)
          // On the primary key (job, case key): with keys, one point lookup per pair; without, each job's rows in a row.
          .where(and(inArray(jobCases.jobId, [...jobIds]), keys === null ? undefined : inArray(jobCases.caseKey, [...keys]), ne(jobCases.status, "skipped")))
          .groupBy(jobCases.caseKey),
      );
      // mysql2 hands SUM back as a DECIMAL string and COUNT as a number.
      return rows.map((r) => ({ caseKey: r.caseKey, jobs: Number(r.jobs), runs: Number(r.runs), failures: Number(r.failures), flaky: Number(r.flaky) }));
    },
    lastFailure: async (caseKey, since) => {
      const [row] = await read("flakyCases", (db) =>
        db
          .select()
          .from(cases)
          .where(and(eq(cases.caseKey, caseKey), gte(cases.reportedAt, since), or(inArray(cases.status, ["failed", "crashed"]), gt(cases.flakyFailures, 0))))
          .orderBy(desc(cases.reportedAt), desc(cases.attempt))
          .limit(1),
      );
      return row ?? null;
    },
  };
}
