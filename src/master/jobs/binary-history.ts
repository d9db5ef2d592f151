/**
 * A test binary's latest runs over jobs (GET tests/binary_history): the same
 * on both dialects over five reads each Repo gives (BinaryHistoryOps).
 *
 * A run is one job's tasks of the binary (its one task, or its shards; a
 * binary is a task's description without the shard suffix, model.ts
 * taskBinary) with their attempts. The jobs come from one walk back along
 * binary_tasks_history_idx (binary, job's creation time, job, task index),
 * each run's task ids from the same index's range for that job, then the
 * tasks and their attempts by their primary keys: the cost follows the runs
 * shown, never the binary's whole history, its jobs' other tasks nor other
 * binaries'. A bound on the tasks read (a binary of 10,000 shards)
 * ends the answer early, saying so.
 */
import type { Attempt, Job, Task } from "../model.ts";
import { groupAttempts } from "./status.ts";

/** One job that ran the binary, as binary_tasks keys it. */
export interface BinaryRunRef {
  jobId: string;
  /** The job's created_at. */
  createdAt: number;
}

/** The reads a dialect gives readBinaryHistory: each one index's range or point lookups, so no query planner can choose to read a whole job. */
export interface BinaryHistoryOps {
  /** The latest `limit` jobs that ran the binary, newest first (then by job id, descending). */
  latestRuns(binary: string, limit: number): Promise<BinaryRunRef[]>;
  /** These jobs, in any order. */
  jobs(ids: readonly string[]): Promise<Job[]>;
  /** The ids of the run's tasks of the binary, by task index, at most `limit`: binary_tasks_history_idx alone. */
  runTaskIds(binary: string, run: BinaryRunRef, limit: number): Promise<string[]>;
  /** These tasks of the job (at most IDS_PER_STATEMENT), in any order: the tasks' primary key. */
  tasks(jobId: string, taskIds: readonly string[]): Promise<Task[]>;
  /** Every attempt of these tasks of the job (at most IDS_PER_STATEMENT), in any order: the attempts' primary key. */
  attempts(jobId: string, taskIds: readonly string[]): Promise<Attempt[]>;
}

/** Task ids one statement names: a few thousand keep each well under SQLite's limit of bound values and MySQL's packet. */
export const IDS_PER_STATEMENT = 1_000;

/** One run as stored: the job, and its tasks of the binary with their attempts, oldest attempt first. */
export interface BinaryRunRows {
  job: Job;
  tasks: { task: Task; attempts: Attempt[] }[];
  /** False when the run has more tasks of the binary than the answer's bound left room for: only its first are here. */
  complete: boolean;
}

export interface BinaryHistoryRows {
  /** Newest first. */
  runs: BinaryRunRows[];
  /** True when older runs were left out because the tasks read reached `maxTasks`. */
  truncated: boolean;
}

/** The binary's latest `query.limit` runs, newest first, with at most `query.maxTasks` tasks over all of them (a first run bigger than that is cut, and says so). */
export async function readBinaryHistory(ops: BinaryHistoryOps, binary: string, query: { limit: number; maxTasks: number }): Promise<BinaryHistoryRows> {
  const refs = await ops.latestRuns(binary, query.limit);
  if (refs.length === 0) return { runs: [], truncated: false };
  const jobs = new Map((await ops.jobs(refs.map((r) => r.jobId))).map((j) => [j.id, j]));
  const runs: BinaryRunRows[] = [];
  let room = query.maxTasks;
  for (const [i, ref] of refs.entries()) {
    const job = jobs.get(ref.jobId);
    if (!job) continue;
    if (room === 0) return { runs, truncated: true };
    const ids = await ops.runTaskIds(binary, ref, room + 1);
    const complete = ids.length <= room;
    // A later run that does not fit is left out whole: a run cut short would read as one with fewer shards.
    if (!complete && runs.length > 0) return { runs, truncated: true };
    runs.push({ job, tasks: await readRunTasks(ops, job.id, complete ? ids : ids.slice(0, room)), complete });
    room -= Math.min(ids.length, room);
    if (!complete) return { runs, truncated: i < refs.length - 1 };
  }
  return { runs, truncated: false };
}

/** These tasks of the job with their attempts, by task index then attempt, IDS_PER_STATEMENT tasks a statement. */
async function readRunTasks(ops: BinaryHistoryOps, jobId: string, ids: readonly string[]): Promise<BinaryRunRows["tasks"]> {
  const tasks: Task[] = [];
  const attempts: Attempt[] = [];
  for (let from = 0; from < ids.length; from += IDS_PER_STATEMENT) {
    const chunk = ids.slice(from, from + IDS_PER_STATEMENT);
    tasks.push(...(await ops.tasks(jobId, chunk)));
    attempts.push(...(await ops.attempts(jobId, chunk)));
  }
  tasks.sort((a, b) => a.index - b.index);
  const groups = groupAttempts(attempts);
  return tasks.map((task) => ({ task, attempts: groups.get(task.taskId) ?? [] }));
}
