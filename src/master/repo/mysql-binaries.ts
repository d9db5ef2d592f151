/** binary_tasks on MySQL: the reads of a binary's history (jobs/binary-history.ts), for MysqlRepo. */
import { and, asc, desc, eq, inArray } from "drizzle-orm";
import type { MySql2Database } from "drizzle-orm/mysql2";
import type { BinaryHistoryOps } from "../jobs/binary-history.ts";
import { attempts, binaryTasks, jobs, tasks } from "./schema-mysql.ts";

/** `read` is the repo's way onto a connection, naming the operation for its errors. */
export function mysqlBinaryHistoryOps(read: <T>(what: string, body: (db: MySql2Database) => Promise<T>) => Promise<T>): BinaryHistoryOps {
  const none = <T>(): Promise<T[]> => Promise.resolve([]);
  return {
    latestRuns: (binary, limit) =>
      read("binaryHistory", (db) =>
        db
          .select({ jobId: binaryTasks.jobId, createdAt: binaryTasks.createdAt })
          .from(binaryTasks)
          .where(eq(binaryTasks.binary, binary))
          // Grouped in the index's order, so the walk stops after `limit` jobs instead of reading the binary's whole history.
          .groupBy(binaryTasks.createdAt, binaryTasks.jobId)
          .orderBy(desc(binaryTasks.createdAt), desc(binaryTasks.jobId))
          .limit(Math.max(0, limit)),
      ),
    jobs: (ids) => (ids.length === 0 ? none() : read("binaryHistory", (db) => db.select().from(jobs).where(inArray(jobs.id, [...ids])))),
    runTaskIds: async (binary, ref, limit) =>
      (
        await read("binaryHistory", (db) =>
          db
            .select({ taskId: binaryTasks.taskId })
            .from(binaryTasks)
            .where(and(eq(binaryTasks.binary, binary), eq(binaryTasks.createdAt, ref.createdAt), eq(binaryTasks.jobId, ref.jobId)))
            .orderBy(asc(binaryTasks.index))
            .limit(Math.max(0, limit)),
        )
      ).map((r) => r.taskId),
    tasks: (jobId, taskIds) => (taskIds.length === 0 ? none() : read("binaryHistory", (db) => db.select().from(tasks).where(and(eq(tasks.jobId, jobId), inArray(tasks.taskId, [...taskIds]))))),
    attempts: (jobId, taskIds) => (taskIds.length === 0 ? none() : read("binaryHistory", (db) => db.select().from(attempts).where(and(eq(attempts.jobId, jobId), inArray(attempts.taskId, [...taskIds]))))),
  };
}
