/** Reuse's tables on SQLite (docs/reuse.md): for SqliteRepo. */
import { and, desc, eq, gte, inArray, type SQL } from "drizzle-orm";
import type { BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import { type CaseLink, type LinkOps, linkCasesWith } from "../reuse/linked-cases.ts";
import { findReusableWith } from "../reuse/reuse-lookup.ts";
import type { ReusableResult } from "./repo.ts";
import { attempts, type ReusableResultRow, reusableResults } from "./schema-sqlite.ts";
import type { CaseStoreOps } from "../cases/case-store.ts";

/** Drops every result kept for the key: an identical run gave another answer (see Repo.forgetReusable). */
export function forgetReusableOn(db: BunSQLiteDatabase, taskKey: string): void {
  db.delete(reusableResults).where(eq(reusableResults.taskKey, taskKey)).run();
}

export function recordReusableOn(db: BunSQLiteDatabase, row: ReusableResultRow): void {
  const { jobId: _j, taskId: _t, ...rest } = row;
  db.insert(reusableResults).values(row).onConflictDoUpdate({ target: [reusableResults.jobId, reusableResults.taskId], set: rest }).run();
}

/** What a reuse takes of the original attempt: these columns only, not the whole row (a 2,000-task lookup maps 2,000 of them). */
const reusedColumns = {
  jobId: attempts.jobId, taskId: attempts.taskId, attempt: attempts.attempt, state: attempts.state, exitCode: attempts.exitCode, stdoutKey: attempts.stdoutKey,
  stderrKey: attempts.stderrKey, artifactKey: attempts.artifactKey, artifactMissing: attempts.artifactMissing, outputsRef: attempts.outputsRef,
};

/** Repo.findReusable on SQLite: each batch one indexed read per key; `run` is the repo's way onto the connection. */
export function findReusableOn(run: <T>(body: (db: BunSQLiteDatabase) => T) => Promise<T>, keys: readonly string[], since: number): Promise<Map<string, ReusableResult>> {
  return findReusableWith(keys, (batch) =>
    run((db) =>
      db
        .select({ key: reusableResults.taskKey, savedMs: reusableResults.savedMs, origin: reusedColumns })
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
    ...ops,
    run: (statement) => run((db) => void db.run(statement)),
    rows: <T>(statement: SQL) => run((db) => db.all<T>(statement)),
  };
  return linkCasesWith(linkOps, "sqlite", jobId, links);
}
