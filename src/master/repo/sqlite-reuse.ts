/** Reuse's tables on SQLite (docs/reuse.md): for SqliteRepo. */
import { and, desc, eq, gte, inArray, sql } from "drizzle-orm";
import type { BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import { type CaseLink, type LinkOps, linkCasesWith } from "../reuse/linked-cases.ts";
import { findReusableWith } from "../reuse/reuse-lookup.ts";
import type { ReusableResult } from "./repo.ts";
import { attempts, jobCases, type ReusableResultRow, reusableResults } from "./schema-sqlite.ts";
import type { CaseStoreOps } from "../cases/case-store.ts";

export function recordReusableOn(db: BunSQLiteDatabase, row: ReusableResultRow): void {
  const { jobId: _j, taskId: _t, ...rest } = row;
  db.insert(reusableResults).values(row).onConflictDoUpdate({ target: [reusableResults.jobId, reusableResults.taskId], set: rest }).run();
}

/** Repo.findReusable on SQLite: each batch one indexed read per key; `run` is the repo's way onto the connection. */
export function findReusableOn(run: <T>(body: (db: BunSQLiteDatabase) => T) => Promise<T>, keys: readonly string[], since: number): Promise<Map<string, ReusableResult>> {
  return findReusableWith(keys, (batch) =>
    run((db) =>
      db
        .select({ key: reusableResults.taskKey, savedMs: reusableResults.savedMs, origin: attempts })
        .from(reusableResults)
        .innerJoin(attempts, and(eq(attempts.jobId, reusableResults.jobId), eq(attempts.taskId, reusableResults.taskId), eq(attempts.attempt, reusableResults.attempt)))
        .where(and(inArray(reusableResults.taskKey, batch), gte(reusableResults.reportedAt, since), eq(attempts.state, "SUCCEEDED")))
        .orderBy(desc(reusableResults.reportedAt))
        .all(),
    ),
  );
}

/** Repo.linkReusedCases on SQLite, over storeCases' primitives. */
export function linkReusedCasesOn(ops: CaseStoreOps, run: <T>(body: (db: BunSQLiteDatabase) => T) => Promise<T>, jobId: string, links: readonly CaseLink[]): Promise<void> {
  const linkOps: LinkOps = {
    lockJob: ops.lockJob,
    nextSeq: ops.nextSeq,
    addCounts: ops.addCounts,
    run: (statement) => run((db) => void db.run(statement)),
    statusCounts: (id) =>
      run((db) => new Map(db.select({ status: jobCases.status, n: sql<number>`count(*)` }).from(jobCases).where(eq(jobCases.jobId, id)).groupBy(jobCases.status).all().map((r) => [r.status, Number(r.n)]))),
  };
  return linkCasesWith(linkOps, "sqlite", jobId, links);
}
