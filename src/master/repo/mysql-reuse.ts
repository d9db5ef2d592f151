/** Reuse's tables on MySQL/MariaDB (docs/reuse.md): for MysqlRepo. */
import { and, desc, eq, gte, inArray, sql } from "drizzle-orm";
import type { MySql2Database } from "drizzle-orm/mysql2";
import { type CaseLink, type LinkOps, linkCasesWith } from "../reuse/linked-cases.ts";
import { findReusableWith } from "../reuse/reuse-lookup.ts";
import type { CaseStoreOps } from "../cases/case-store.ts";
import type { ReusableResult } from "./repo.ts";
import { attempts, jobCases, reusableResults } from "./schema-mysql.ts";
import type { ReusableResultRow } from "./schema-sqlite.ts";

export async function recordReusableOn(db: MySql2Database, row: ReusableResultRow): Promise<void> {
  const { jobId: _j, taskId: _t, ...rest } = row;
  await db.insert(reusableResults).values(row).onDuplicateKeyUpdate({ set: rest });
}

/** Repo.findReusable on MySQL: each batch one indexed read per key; `read` is the repo's way onto a connection. */
export function findReusableOn(read: <T>(body: (db: MySql2Database) => Promise<T>) => Promise<T>, keys: readonly string[], since: number): Promise<Map<string, ReusableResult>> {
  return findReusableWith(keys, (batch) =>
    read((db) =>
      db
        .select({ key: reusableResults.taskKey, savedMs: reusableResults.savedMs, origin: attempts })
        .from(reusableResults)
        .innerJoin(attempts, and(eq(attempts.jobId, reusableResults.jobId), eq(attempts.taskId, reusableResults.taskId), eq(attempts.attempt, reusableResults.attempt)))
        .where(and(inArray(reusableResults.taskKey, batch), gte(reusableResults.reportedAt, since), eq(attempts.state, "SUCCEEDED")))
        .orderBy(desc(reusableResults.reportedAt)),
    ),
  );
}

/** Repo.linkReusedCases on MySQL, over storeCases' primitives (which lock the job's row to the commit). */
export function linkReusedCasesOn(ops: CaseStoreOps, run: <T>(body: (db: MySql2Database) => Promise<T>) => Promise<T>, jobId: string, links: readonly CaseLink[]): Promise<void> {
  const linkOps: LinkOps = {
    lockJob: ops.lockJob,
    nextSeq: ops.nextSeq,
    addCounts: ops.addCounts,
    run: (statement) => run(async (db) => void (await db.execute(statement))),
    statusCounts: (id) =>
      run(async (db) => new Map((await db.select({ status: jobCases.status, n: sql<number>`count(*)` }).from(jobCases).where(eq(jobCases.jobId, id)).groupBy(jobCases.status)).map((r) => [r.status, Number(r.n)]))),
  };
  return linkCasesWith(linkOps, "mysql", jobId, links);
}
