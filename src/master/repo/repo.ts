import type { CaseResult, CaseStatus } from "../../results/model.ts";
import type { CaseAttempt } from "../cases/case-store.ts";
import type { BinaryHistoryRows } from "../jobs/binary-history.ts";
import type { FlakyCaseStats, FlakyQuery } from "../cases/flaky-cases.ts";
import type { Attempt, AttemptHead, AttemptState, Job, JobFlag, ReusedResultFields, SlaveInfo, Task } from "../model.ts";
import type { KnownCase } from "../scheduler/shard-planner.ts";
import type { JobCaseCounts, JobCaseStatus } from "../protocol.ts";
import type { NewQuarantineEntry, QuarantineEntry } from "../quarantine/entry.ts";
import type { CaseRow, JobCaseRow, QuarantinedCaseRow, ReusableResultRow } from "./schema-sqlite.ts";
import type { CaseLink } from "../reuse/linked-cases.ts";

/** A result a task with its key may take (docs/reuse.md): the attempt that ran, and what running it took. */
export interface ReusableResult {
  origin: ReusedResultFields;
  savedMs: number;
}

export interface JobFilter {
  user?: string;
  name?: string;
  /** Jobs created at or after this time (epoch ms). */
  since?: number;
  until?: number;
  /** Newest first; default 100. */
  limit?: number;
}

/** A page of a job's cases: in the order first reported (seq), after the cursor. */
export interface JobCaseQuery {
  /** Only cases whose merged status is one of these; all when absent. */
  statuses?: readonly JobCaseStatus[];
  /** The last seq of the previous page. */
  afterSeq?: number;
  limit: number;
}

/** What getTaskHeads reads of a task. */
export type TaskHeadRow = Pick<Task, "index" | "taskId" | "description" | "shardIndex" | "shardCount">;

/** One run of a case by one attempt of a task: what a retry's choice of cases reads (scheduler/retry-filter.ts). */
export interface TaskCaseRun {
  attempt: number;
  suite: string;
  name: string;
  status: CaseStatus;
}

/** Which quarantine entries to list: newest first (by id). */
/** One run of a job's case: the attempt of the task that ran it (a job_cases row's deciding run). */
export interface CaseRunKey {
  caseKey: string;
  taskId: string;
  attempt: number;
}

export interface QuarantineQuery {
  /** Only those active at this time (not removed by then, not past their `until`); all when absent. */
  activeAt?: number;
  limit: number;
}

/** Fields of an attempt that change after it is created. */
export type AttemptPatch = Partial<Omit<Attempt, "jobId" | "taskId" | "attempt">>;

/**
 * Everything the master stores: jobs, tasks, attempts, duration history and
 * slaves. The master is the only writer. Implementations: drizzle on SQLite
 * (repo/sqlite.ts) and on MySQL/MariaDB (repo/mysql.ts). Every
 * implementation passes test/master/repo.conformance.ts.
 */
export interface Repo {
  /**
   * Stores a job with its tasks and their first attempts, all or nothing.
   * Throws DtError invalid_input naming the id when the job id exists.
   * Must take 100,000 tasks in a few seconds (batched inserts).
   */
  createJob(job: Job, tasks: readonly Task[], attempts: readonly Attempt[]): Promise<void>;
  getJob(jobId: string): Promise<Job | null>;
  /** Newest first. */
  listJobs(filter: JobFilter): Promise<Job[]>;
  setJobCanceled(jobId: string, at: number): Promise<void>;
  /** In index order; with `slice`, only those whose index is in [from, to) (see getAttempts). */
  getTasks(jobId: string, slice?: { from: number; to: number }): Promise<Task[]>;
  getTask(jobId: string, taskId: string): Promise<Task | null>;
  /** getTasks' order and slices, with only what names a task and places it: a job page's rows read every task's, so the rest is left in the database. */
  getTaskHeads(jobId: string, slice?: { from: number; to: number }): Promise<TaskHeadRow[]>;
  /**
   * All attempts of a job, by task index then attempt; with `tasks`, only
   * those of the tasks whose index is in [from, to). A job's tasks are
   * indexed 0…n-1 and each has an attempt, so a caller reading a huge job
   * in slices (yielding between them) is done at the first empty slice.
   */
  getAttempts(jobId: string, tasks?: { from: number; to: number }): Promise<Attempt[]>;
  /** getAttempts' order and slices, with only the AttemptHead fields: what counting a job or drawing its rows reads. */
  getAttemptHeads(jobId: string, tasks?: { from: number; to: number }): Promise<AttemptHead[]>;
  getAttempt(jobId: string, taskId: string, attempt: number): Promise<Attempt | null>;
  findAttemptByLease(leaseId: string): Promise<Attempt | null>;
  /** Attempts of every job that are not in a terminal state: what a restarted master rebuilds its queue and leases from. */
  openAttempts(): Promise<Attempt[]>;
  insertAttempt(attempt: Attempt): Promise<void>;
  /**
   * Applies `patch` to the attempt if its state is one of `from` (any state
   * when omitted); true if it did. Makes transitions idempotent: a repeated
   * result report finds the attempt already terminal and changes nothing.
   */
  updateAttempt(jobId: string, taskId: string, attempt: number, patch: AttemptPatch, from?: readonly AttemptState[]): Promise<boolean>;
  /**
   * Ends up to `limit` of the job's QUEUED attempts CANCELED (message
   * `[canceled]`, reported at `at`) in one statement; returns how many. A
   * cancel calls it until it returns less than `limit`, yielding between
   * calls, so a 100,000-task job never holds the database (or, on SQLite,
   * the event loop) for more than one batch. Repeatable: a second run finds
   * nothing QUEUED.
   */
  cancelQueuedAttempts(jobId: string, at: number, limit: number): Promise<number>;
  /** Runs `fn` in one transaction: all its writes or none. */
  transaction<T>(fn: (repo: Repo) => Promise<T>): Promise<T>;
  /** Expected duration (ms) per key, for the keys that have history. */
  expectedDurations(keys: readonly string[]): Promise<Map<string, number>>;
  /** Folds a measured duration into the key's history: new = 0.7 · old + 0.3 · measured (dist_test's EWMA). */
  recordDuration(key: string, ms: number, at: number): Promise<void>;
  /**
   * Stores one attempt's test cases (a few thousand rows per statement,
   * yielding between them) and merges each into the job's row for that
   * case (cases/case-merge.ts). Call it once per attempt, inside the
   * transaction that ends the attempt: storing it twice would count its
   * runs twice.
   */
  storeCases(at: CaseAttempt, cases: readonly CaseResult[]): Promise<void>;
  /** A page of the job's cases, one row per case (binary, suite, name), by seq. */
  listJobCases(jobId: string, query: JobCaseQuery): Promise<JobCaseRow[]>;
  /** The job's cases counted by merged status; all zero when it has none. */
  jobCaseCounts(jobId: string): Promise<JobCaseCounts>;
  /**
   * Every case run of one task's attempts, by attempt then report order: a
   * failed attempt's retry reads them to run only what failed. One index
   * range (the cases' primary key starts with job, task, attempt).
   */
  taskCaseRuns(jobId: string, taskId: string): Promise<TaskCaseRun[]>;
  /** The latest `limit` runs of one case (by case key, cases/case-key.ts) over all jobs, newest first. */
  caseHistory(caseKey: string, limit: number): Promise<CaseRow[]>;
  /**
   * The binary's latest `query.limit` runs over jobs (a run: one job's
   * tasks of the binary, with their attempts), newest first, reading at most
   * `query.maxTasks` tasks (jobs/binary-history.ts). Indexed reads of the
   * runs shown only (binary_tasks_history_idx).
   */
  binaryHistory(binary: string, query: { limit: number; maxTasks: number }): Promise<BinaryHistoryRows>;
  /** Stores a quarantine entry; returns it with its id. */
  addQuarantine(entry: NewQuarantineEntry): Promise<QuarantineEntry>;
  /**
   * Marks the entry removed at `at` by `by` (the row stays, for history and
   * for past jobs' verdicts); a second removal keeps the first's time.
   * Returns the entry, or null when there is no entry `id`.
   */
  removeQuarantine(id: number, at: number, by: string): Promise<QuarantineEntry | null>;
  listQuarantine(query: QuarantineQuery): Promise<QuarantineEntry[]>;
  /** Records failed runs that were quarantined when reported (repeats are kept once). */
  recordQuarantinedCases(rows: readonly QuarantinedCaseRow[]): Promise<void>;
  /**
   * The entry that quarantined each of these runs of the job's cases, by
   * case key; runs not quarantined are absent. A run, not any run of the
   * case: a later attempt's failure after the entry ended is not quarantined.
   */
  jobQuarantines(jobId: string, runs: readonly CaseRunKey[]): Promise<Map<string, QuarantineEntry>>;
  /**
   * The binary's known cases with their expected durations, for the shard
   * planner (cases/case-durations.ts says which and how). Bounded: three
   * indexed reads, the latest job's rows of the binary and at most
   * MAX_OLDER_RUN_ROWS older ones.
   */
  binaryCaseDurations(binary: string): Promise<KnownCase[]>;
  /** Records a finding on the job (JobFlag). */
  addJobFlag(flag: JobFlag): Promise<void>;
  /** The job's first `limit` flags, oldest first. */
  listJobFlags(jobId: string, limit: number): Promise<JobFlag[]>;
  /**
   * The cases flaky in at least one job created since `query.since`, by
   * flake rate (flaky jobs ÷ jobs that ran them), highest first, then by
   * flaky jobs; at most `query.limit`, each with its latest failure
   * (cases/flaky-cases.ts). Reads the window's jobs' merged rows of the
   * flaky cases only, never the whole history.
   */
  flakyCases(query: FlakyQuery): Promise<FlakyCaseStats[]>;
  /** Keeps a SUCCEEDED first attempt of an idempotent task for later identical tasks (one row per task: a second call replaces it). */
  recordReusable(row: ReusableResultRow): Promise<void>;
  /** Drops every result kept for `taskKey`: an identical task's first run just proved them flaky (it failed, or passed only on a rerun). */
  forgetReusable(taskKey: string): Promise<void>;
  /**
   * The newest result recorded at or after `since` for each of these keys
   * that has one, with the attempt it came from: one indexed read per key,
   * KEYS_PER_LOOKUP keys a statement, the event loop free between them.
   */
  findReusable(keys: readonly string[], since: number): Promise<Map<string, ReusableResult>>;
  /**
   * Gives the job rows for the cases of the attempts its tasks took results
   * from (reuse/linked-cases.ts); runs inside the caller's transaction, as
   * storeCases does.
   */
  linkReusedCases(jobId: string, links: readonly CaseLink[]): Promise<void>;
  upsertSlave(slave: SlaveInfo): Promise<void>;
  listSlaves(): Promise<SlaveInfo[]>;
  /**
   * Resolves once the database answers a trivial query (SELECT 1); rejects
   * with a DtError naming the database and why otherwise. For readiness
   * probes: callers bound the wait themselves.
   */
  ping(): Promise<void>;
  close(): Promise<void>;
}
