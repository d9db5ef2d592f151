import type { Attempt, Job } from "../model.ts";
import type { Repo } from "./repo.ts";

/** 100,000 jobs: a few MB, and far more than are open at once. */
export const DEFAULT_TRACKED_JOBS = 100_000;

/**
 * A Repo that counts writes per job: `version(jobId)` changes whenever one
 * of the job's attempts (or the job) is written through it. Lets the master
 * serve a job's summary from memory until something changed, instead of
 * reading 100,000 attempts on every poll.
 */
export class ChangeTracker {
  /** Each job's version: the number of the last change to it, counted over all jobs, so no number is given twice. */
  private readonly versions = new Map<string, number>();
  private readonly listeners = new Set<(jobId: string) => void>();
  /** Changes counted since start. */
  private changes = 0;
  /**
   * The version of every job not in `versions` (never changed, or forgotten):
   * the count when one was last forgotten, so a forgotten job's version only
   * ever grows and cannot match one it had before (a summary cached under it).
   */
  private floor = 0;

  constructor(
    /** Jobs whose version is kept; the least recently changed is forgotten past it (a long-running master sees millions of jobs). */
    private readonly maxJobs = DEFAULT_TRACKED_JOBS,
  ) {}

  version(jobId: string): number {
    return this.versions.get(jobId) ?? this.floor;
  }

  bump(jobId: string): void {
    this.versions.delete(jobId);
    this.versions.set(jobId, ++this.changes);
    if (this.versions.size > this.maxJobs) {
      this.versions.delete(this.versions.keys().next().value!);
      this.floor = this.changes;
    }
    for (const listener of this.listeners) listener(jobId);
  }

  /** Changes of all jobs counted since start: grows with every write of any job, for a view of many jobs (the index page). */
  get total(): number {
    return this.changes;
  }

  /** Jobs whose version is kept now. */
  get size(): number {
    return this.versions.size;
  }

  /** Calls `listener` after every change of any job (once committed); returns how to stop. */
  onChange(listener: (jobId: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * `repo`, with every write recorded here. Writes inside a transaction are
   * recorded again once it commits: a summary read on another connection
   * between the write and the commit (MySQL's pool) saw the old rows, and
   * must not be kept under the new version.
   */
  wrap(repo: Repo, touched?: Set<string>): Repo {
    const tracker = this;
    const bump = (jobId: string) => {
      tracker.bump(jobId);
      touched?.add(jobId);
    };
    return new Proxy(repo, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (typeof value !== "function") return value;
        switch (prop) {
          case "createJob":
            return async (job: Job, ...rest: unknown[]) => {
              await value.call(target, job, ...rest);
              bump(job.id);
            };
          case "setJobCanceled":
          case "updateAttempt":
          case "cancelQueuedAttempts":
          case "linkReusedCases":
            return async (jobId: string, ...rest: unknown[]) => {
              const result = await value.call(target, jobId, ...rest);
              bump(jobId);
              return result;
            };
          case "insertAttempt":
            return async (attempt: Attempt) => {
              await value.call(target, attempt);
              bump(attempt.jobId);
            };
          case "storeCases":
          case "addJobFlag":
            return async (at: { jobId: string }, ...rest: unknown[]) => {
              await value.call(target, at, ...rest);
              bump(at.jobId);
            };
          case "transaction":
            return async (fn: (tx: Repo) => Promise<unknown>) => {
              const inTx = new Set<string>();
              const result = await value.call(target, (tx: Repo) => fn(tracker.wrap(tx, inTx)));
              for (const jobId of inTx) bump(jobId);
              return result;
            };
          default:
            return value.bind(target);
        }
      },
    });
  }
}
