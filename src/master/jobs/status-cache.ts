/**
 * A job's counts as its watchers read them, kept while nothing of the job
 * changes, and the sliced reads of a whole job that computing them takes.
 */
import { yieldToEventLoop } from "../../common/concurrency.ts";
import type { Attempt, AttemptHead, Job, Task } from "../model.ts";
import type { JobCounts, JobFlagView } from "../protocol.ts";
import { MAX_SHOWN_FLAGS } from "../protocol.ts";
import type { MemoryReclaimer } from "../../common/reclaim.ts";
import type { ChangeTracker } from "../repo/change-tracking.ts";
import type { Repo, TaskHeadRow } from "../repo/repo.ts";
import { type DistTestJobStatus, distTestJobStatus, groupAttempts, jobCounts } from "./status.ts";

/** Tasks whose attempts one read of a job's summary takes: 5,000 rows cost SQLite ~30 ms, so a poll of a huge job lets other requests in between. */
export const SUMMARY_SLICE_TASKS = 5_000;

/**
 * Jobs whose counts are kept: the most recently used. More than the index
 * page lists (its last day, 500 jobs at most): with 100 kept, each view of a
 * busy day's index, and each poll of its live region, read most of the
 * listed jobs' attempts again. An entry is a job's counts and its flags
 * (rare), about a kilobyte.
 */
const KEPT_JOBS = 1_000;

/** A job's counts as last read, under the change version they were read at, with the ETA last computed for them. */
export interface JobStatusEntry {
  version: number;
  job: Job;
  counts: JobCounts;
  distTest: DistTestJobStatus;
  flags: JobFlagView[];
  /** The latest report of any of its attempts (or its cancel): when it finished, once it has. */
  lastChangeAt: number;
  eta?: { at: number; sec: number | null };
}

/**
 * Every attempt of a job, read SUMMARY_SLICE_TASKS tasks at a time with
 * the event loop free between slices: one read of a 100,000-task job
 * holds it for a second or more (SQLite reads, mysql2 decodes, drizzle
 * maps rows synchronously).
 */
export function readAllAttempts(repo: Repo, jobId: string): Promise<Attempt[]> {
  return readBySlices((slice) => repo.getAttempts(jobId, slice));
}

/** What counting every attempt of a job takes of each (Repo.getAttemptHeads), read as readAllAttempts reads the attempts. */
export function readAllAttemptHeads(repo: Repo, jobId: string): Promise<AttemptHead[]> {
  return readBySlices((slice) => repo.getAttemptHeads(jobId, slice));
}

/** Every task of a job, read as readAllAttempts reads attempts. */
export function readAllTasks(repo: Repo, jobId: string): Promise<Task[]> {
  return readBySlices((slice) => repo.getTasks(jobId, slice));
}

/** What names every task of a job (Repo.getTaskHeads), read as readAllTasks reads the tasks. */
export function readAllTaskHeads(repo: Repo, jobId: string): Promise<TaskHeadRow[]> {
  return readBySlices((slice) => repo.getTaskHeads(jobId, slice));
}

/**
 * A job's rows of its tasks (or their attempts), SUMMARY_SLICE_TASKS tasks
 * at a time with the event loop free between slices. A job's tasks are
 * indexed 0…n-1, each with an attempt, so the first empty slice is the end.
 */
async function readBySlices<T>(read: (slice: { from: number; to: number }) => Promise<T[]>): Promise<T[]> {
  const all: T[] = [];
  for (let from = 0; ; from += SUMMARY_SLICE_TASKS) {
    if (from > 0) await yieldToEventLoop();
    const slice = await read({ from, to: from + SUMMARY_SLICE_TASKS });
    if (slice.length === 0) return all;
    for (const row of slice) all.push(row);
  }
}

/** The latest report of any of the job's attempts, or its cancel, or its submit: when it finished, once it has. */
export function lastChangeAt(job: Job, attempts: readonly AttemptHead[]): number {
  let at = job.canceledAt ?? job.createdAt;
  for (const a of attempts) if (a.reportedAt !== null && a.reportedAt > at) at = a.reportedAt;
  return at;
}

/** The job's first MAX_SHOWN_FLAGS flags, as the API shows them. */
export async function readJobFlags(repo: Repo, jobId: string): Promise<JobFlagView[]> {
  return (await repo.listJobFlags(jobId, MAX_SHOWN_FLAGS)).map((f) => ({ task_id: f.taskId, attempt: f.attempt, kind: f.kind, text: f.text, created_at: f.createdAt }));
}

/**
 * A job's counts, from memory while nothing of the job was written since
 * they were computed (a 100,000-task job's poll then costs no database
 * read). The most recently used KEPT_JOBS jobs are kept.
 */
export class JobStatusCache {
  private readonly entries = new Map<string, JobStatusEntry>();
  /** Reads in progress, by job and version. */
  private readonly reading = new Map<string, Promise<JobStatusEntry | null>>();

  constructor(
    private readonly repo: Repo,
    private readonly changes: ChangeTracker,
    private readonly reclaimer?: MemoryReclaimer,
  ) {}

  async get(jobId: string): Promise<JobStatusEntry | null> {
    const version = this.changes.version(jobId);
    const cached = this.entries.get(jobId);
    if (cached && cached.version === version) {
      this.entries.delete(jobId);
      this.entries.set(jobId, cached);
      return cached;
    }
    // Every watcher of a job is woken by the same change: they share one read of it.
    const key = `${jobId}\u0000${version}`;
    const pending = this.reading.get(key);
    if (pending) return pending;
    const read = this.read(jobId, version).finally(() => this.reading.delete(key));
    this.reading.set(key, read);
    return read;
  }

  private async read(jobId: string, version: number): Promise<JobStatusEntry | null> {
    const job = await this.repo.getJob(jobId);
    if (!job) return null;
    const attempts = await readAllAttemptHeads(this.repo, jobId);
    const groups = groupAttempts(attempts);
    // Counted in the database over the job's per-case rows, which each report keeps merged: no case is read here.
    const counts: JobCounts = { ...jobCounts(groups, job), cases: await this.repo.jobCaseCounts(jobId) };
    const entry = { version, job, counts, distTest: distTestJobStatus(groups, job), flags: await readJobFlags(this.repo, jobId), lastChangeAt: lastChangeAt(job, attempts) };
    this.entries.delete(jobId);
    this.entries.set(jobId, entry);
    if (this.entries.size > KEPT_JOBS) this.entries.delete(this.entries.keys().next().value!);
    // Every attempt was read to count them, and only the counts are kept.
    this.reclaimer?.after(attempts.length);
    return entry;
  }
}
