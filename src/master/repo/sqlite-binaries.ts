/** binary_tasks on SQLite: the reads of a binary's history (jobs/binary-history.ts), for SqliteRepo. */
import { and, asc, desc, eq, inArray } from "drizzle-orm";
import type { BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import type { BinaryHistoryOps } from "../jobs/binary-history.ts";
import { attempts, binaryTasks, jobs, tasks } from "./schema-sqlite.ts";

/** `run` is the repo's way onto the connection. */
export function sqliteBinaryHistoryOps(run: <T>(body: (db: BunSQLiteDatabase) => T) => Promise<T>): BinaryHistoryOps {
  return {
    latestRuns: (binary, limit) =>
      run((db) =>
        db
          .select({ jobId: binaryTasks.jobId, createdAt: binaryTasks.createdAt })
          .from(binaryTasks)
          .where(eq(binaryTasks.binary, binary))
          // Grouped in the index's order, so the walk stops after `limit` jobs instead of reading the binary's whole history.
          .groupBy(binaryTasks.createdAt, binaryTasks.jobId)
          .orderBy(desc(binaryTasks.createdAt), desc(binaryTasks.jobId))
          .limit(Math.max(0, limit))
          .all(),
      ),
    jobs: (ids) => run((db) => (ids.length === 0 ? [] : db.select().from(jobs).where(inArray(jobs.id, [...ids])).all())),
    runTaskIds: (binary, ref, limit) =>
      run((db) =>
        db
          .select({ taskId: binaryTasks.taskId })
          .from(binaryTasks)
          .where(and(eq(binaryTasks.binary, binary), eq(binaryTasks.createdAt, ref.createdAt), eq(binaryTasks.jobId, ref.jobId)))
          .orderBy(asc(binaryTasks.index))
          .limit(Math.max(0, limit))
          .all()
          .map((r) => r.taskId),
      ),
    tasks: (jobId, taskIds) => run((db) => (taskIds.length === 0 ? [] : db.select().from(tasks).where(and(eq(tasks.jobId, jobId), inArray(tasks.taskId, [...taskIds]))).all())),
    attempts: (jobId, taskIds) => run((db) => (taskIds.length === 0 ? [] : db.select().from(attempts).where(and(eq(attempts.jobId, jobId), inArray(attempts.taskId, [...taskIds]))).all())),
  };
}
