/**
 * The domain of a distributed run, shared by the master, the slave and the
 * client. Times are epoch milliseconds; ids are strings.
 */
import type { OutputsRef } from "../isolate/outputs/outputs-ref.ts";
import type { CaseFilterSpec, CaseSelection } from "./cases/case-filter.ts";

/** Where one attempt of a task is. Terminal states end with the attempt's report. */
export const ATTEMPT_STATES = [
  "QUEUED",
  "LEASED",
  "FETCHING",
  "RUNNING",
  "UPLOADING",
  "SUCCEEDED",
  "FAILED",
  "TIMED_OUT",
  "CANCELED",
  "SLAVE_LOST",
  "INFRA_FAILED",
  "NO_RESOURCE",
] as const;
export type AttemptState = (typeof ATTEMPT_STATES)[number];

export const TERMINAL_STATES: ReadonlySet<AttemptState> = new Set(["SUCCEEDED", "FAILED", "TIMED_OUT", "CANCELED", "SLAVE_LOST", "INFRA_FAILED", "NO_RESOURCE"]);
/** States in which a slave holds the attempt. */
export const ACTIVE_STATES: ReadonlySet<AttemptState> = new Set(["LEASED", "FETCHING", "RUNNING", "UPLOADING"]);

/** Outcomes a slave may report for an attempt it ran. */
export type ReportedState = "SUCCEEDED" | "FAILED" | "TIMED_OUT" | "CANCELED" | "INFRA_FAILED";

/**
 * What a job's counts and its page's rows read of each attempt
 * (Repo.getAttemptHeads): a read of every attempt of a big job leaves the
 * rest in the database.
 */
export type AttemptHead = Pick<Attempt, "taskId" | "attempt" | "retry" | "state" | "quarantined" | "leasedAt" | "reportedAt" | "reusedFrom">;

export interface Job {
  /** dist_test's job_id: `[NAME.]<user>.<unix_ts>.<pid>`; at most 100 characters of [A-Za-z0-9._-]. */
  id: string;
  user: string;
  name: string | null;
  priority: number;
  createdAt: number;
  /** Set by cancel; the job then reads finished. */
  canceledAt: number | null;
}

export interface Task {
  jobId: string;
  /** `<isolate_hash>.<index>`, dist_test's form. */
  taskId: string;
  index: number;
  isolateHash: string;
  description: string;
  /** Seconds; 0 means none. */
  timeoutSec: number;
  maxRetries: number;
  artifactGlobs: string[];
  /** Globs over the outputs naming the result files (the task's `result_globs`); null: the default, DEFAULT_RESULT_GLOBS. */
  resultGlobs: string[] | null;
  env: Record<string, string>;
  dimensions: Record<string, string>;
  priority: number;
  /**
   * Which shard of its binary this task is (`shards: N` in the request),
   * and of how many; both null for a task that is not sharded. A shard's
   * description is `<binary>.<shardIndex>` (see taskBinary).
   */
  shardIndex: number | null;
  shardCount: number | null;
  /** How the runner takes a case filter (the task's `case_filter`); null: googletest's GTEST_FILTER. */
  caseFilter: CaseFilterSpec | null;
  /** The cases this task runs (an auto shard's); null: all of them, or its numeric shard's. */
  caseSelection: CaseSelection | null;
  /** What a retry runs: only the failed cases (`cases`, the default) or the whole task again (`task`). */
  retryMode: RetryMode;
  /**
   * The task may take another's result instead of running: a SUCCEEDED
   * first attempt of a task with the same key, or one running now in
   * another job (docs/reuse.md). Set by the task's `idempotent` or the
   * job's `reuse: true`; false in a job with `reuse: false`, which runs
   * every task.
   */
  idempotent: boolean;
  /**
   * The digest of what decides the task's result (reuse/task-key.ts), for a
   * task its submitter called idempotent (in a `reuse: false` job too): its
   * reusable results are kept for later tasks, and its run may stand for
   * identical tasks in flight. Null otherwise.
   */
  taskKey: string | null;
}

/** What of an attempt another takes when it reuses its result (reuse/submit-reuse.ts reusedFields). */
export type ReusedResultFields = Pick<Attempt, "jobId" | "taskId" | "attempt" | "state" | "exitCode" | "stdoutKey" | "stderrKey" | "artifactKey" | "artifactMissing" | "outputsRef">;

/** One attempt of one task of one job. */
export interface RunRef {
  jobId: string;
  taskId: string;
  attempt: number;
}

/**
 * The attempt whose result an attempt took instead of running
 * (docs/reuse.md): its logs, outputs, artifacts and cases are that one's.
 * On a QUEUED attempt it names the attempt of another job it waits for.
 */
export interface ReuseOrigin extends RunRef {
  /** What running it took (command start to end, ms): the time the reuse saved; 0 while waiting. */
  savedMs: number;
  /** The origin ran while this attempt waited for it (an identical task of another job in flight), rather than before it was submitted. */
  inFlight: boolean;
}

/**
 * Something the master found wrong with a job's runs that is no test's
 * failure; shown with the job. `case_selection`: a shard ran cases outside
 * its filter, or missed cases of it (cases/selection-check.ts).
 */
export interface JobFlag {
  jobId: string;
  taskId: string;
  attempt: number;
  kind: JobFlagKind;
  /** At most MAX_FLAG_TEXT characters. */
  text: string;
  createdAt: number;
}

export const JOB_FLAG_KINDS = ["case_selection"] as const;
export type JobFlagKind = (typeof JOB_FLAG_KINDS)[number];

export const RETRY_MODES = ["cases", "task"] as const;
export type RetryMode = (typeof RETRY_MODES)[number];

/**
 * The test binary a task runs: its description, without the shard suffix
 * the master's expansion added. A sharded binary's cases are one set.
 */
export function taskBinary(task: Pick<Task, "description" | "shardIndex" | "shardCount">): string {
  if (task.shardCount === null || task.shardIndex === null) return task.description;
  const suffix = `.${task.shardIndex}`;
  return task.description.endsWith(suffix) ? task.description.slice(0, -suffix.length) : task.description;
}

/** Per-phase timestamps of an attempt, the latencies the Swarming design names. */
export interface AttemptTimes {
  queuedAt: number;
  leasedAt: number | null;
  fetchDoneAt: number | null;
  mapDoneAt: number | null;
  commandStartAt: number | null;
  commandEndAt: number | null;
  uploadDoneAt: number | null;
  reportedAt: number | null;
}

export interface CacheCounts {
  itemsHot: number;
  bytesHot: number;
  itemsCold: number;
  bytesCold: number;
}

export interface Attempt extends AttemptTimes {
  jobId: string;
  taskId: string;
  /** 0, 1, 2…: one row per try, whatever ended the previous one. */
  attempt: number;
  /**
   * How many test-failure retries this attempt has used: an attempt requeued
   * after SLAVE_LOST keeps its predecessor's count, so a lost slave costs no
   * retries. A task group is failed when an attempt fails with retry == maxRetries.
   */
  retry: number;
  state: AttemptState;
  slave: string | null;
  leaseId: string | null;
  leaseExpiresAt: number | null;
  exitCode: number | null;
  stdoutKey: string | null;
  stderrKey: string | null;
  artifactKey: string | null;
  /** The artifact upload gave up (store down); the result still counts. */
  artifactMissing: boolean;
  cache: CacheCounts | null;
  /** What the command left in ISOLATED_OUTDIR, as a tree in the CAS; null when nothing was written, kept or uploaded. */
  outputsRef: OutputsRef | null;
  /** Why the attempt ended as it did when that is not the exit code: infra error text, "[canceled]", … */
  message: string | null;
  /** The cases this attempt runs when not its task's: a retry's failed cases. */
  caseSelection: CaseSelection | null;
  /**
   * Set when the attempt FAILED or TIMED_OUT and every failed or crashed case
   * it reported (at least one) was quarantined when it was reported: its
   * group then ends "quarantined" (finished, not failed) and it is not
   * retried. Decided once, at report time, so removing or expiring the
   * quarantine later does not change the job's verdict.
   */
  quarantined: boolean;
  /**
   * SUCCEEDED: the attempt never ran, it took this attempt's result (a
   * reuse, or an identical task's run in another job it waited for).
   * QUEUED: it waits for this attempt of another job (in flight). Null for
   * an attempt that runs.
   */
  reusedFrom: ReuseOrigin | null;
}

export interface SlaveInfo {
  name: string;
  dimensions: Record<string, string>;
  slots: number;
  version: string;
  state: "idle" | "busy" | "draining" | "lost";
  lastSeenAt: number;
  registeredAt: number;
}
