/** Reuse's tables on MySQL/MariaDB (docs/reuse.md): for MysqlRepo. */
import { and, desc, eq, gte, inArray, type SQL } from "drizzle-orm";
import type { MySql2Database } from "drizzle-orm/mysql2";
import { type CaseLink, type LinkOps, linkCasesWith } from "../reuse/linked-cases.ts";
import { findReusableWith } from "../reuse/reuse-lookup.ts";
import type { CaseStoreOps } from "../cases/case-store.ts";
import type { ReusableResult } from "./repo.ts";
import { attempts, reusableResults } from "./schema-mysql.ts";
import type { ReusableResultRow } from "./schema-sqlite.ts";

export async function forgetReusableOn(db: MySql2Database, taskKey: string): Promise<void> {
  await db.delete(reusableResults).where(eq(reusableResults.taskKey, taskKey));
}

export async function recordReusableOn(db: MySql2Database, row: ReusableResultRow): Promise<void> {
  const { jobId: _j, taskId: _t, ...rest } = row;
  await db.insert(reusableResults).values(row).onDuplicateKeyUpdate({ set: rest });
}

/** What a reuse takes of the original attempt: these columns only, not the whole row (a 2,000-task lookup maps 2,000 of them). */
const reusedColumns = {
  jobId: attempts.jobId, taskId: attempts.taskId, attempt: attempts.attempt, state: attempts.state, exitCode: attempts.exitCode, stdoutKey: attempts.stdoutKey,
  stderrKey: attempts.stderrKey, artifactKey: attempts.artifactKey, artifactMissing: attempts.artifactMissing, outputsRef: attempts.outputsRef,
};

/** Repo.findReusable on MySQL: each batch one indexed read per key; `read` is the repo's way onto a connection. */
export function findReusableOn(read: <T>(body: (db: MySql2Database) => Promise<T>) => Promise<T>, keys: readonly string[], since: number): Promise<Map<string, ReusableResult>> {
  return findReusableWith(keys, (batch) =>
    read((db) =>
      db
        .select({ key: reusableResults.taskKey, savedMs: reusableResults.savedMs, origin: reusedColumns })
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
    ...ops,
    run: (statement) => run(async (db) => void (await db.execute(statement))),
    rows: <T>(statement: SQL) => run(async (db) => (await db.execute(statement))[0] as unknown as T[]),
  };
  return linkCasesWith(linkOps, "mysql", jobId, links);
}
