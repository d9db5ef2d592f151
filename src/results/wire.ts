/**
 * The test-case layer on the wire (snake_case, as the rest of the HTTP
 * contract in src/master/protocol.ts, which re-exports these): what a slave
 * reports with an attempt's result, and what the master's native API
 * answers about a job's cases and a case's history.
 */
import { type CaseStatus, MAX_CASE_MESSAGE_CHARS } from "./model.ts";

/**
 * A job's test cases, each counted once by its identity (binary, suite,
 * name) across attempts and shards, by its final status: `failed` includes
 * crashed cases; `flaky` is a case that failed (or crashed) in an attempt and
 * passed in a later one of the same task, or passed after its runner's own
 * reruns (Surefire's flakyFailure).
 */
export interface JobCaseCounts {
  total: number;
  passed: number;
  failed: number;
  flaky: number;
  skipped: number;
}

/** One test case as a slave reports it with an attempt's result (the wire form of results/model.ts CaseResult). */
export interface CaseReport {
  suite: string;
  name: string;
  status: CaseStatus;
  duration_ms: number | null;
  message: string | null;
  file: string | null;
  line: number | null;
  /** Reruns that failed before the pass, within the attempt (Surefire's flakyFailure/rerunFailure); 0 when absent. */
  flaky_failures?: number;
}

/** A case's final status in a job: its statuses over attempts and shards merged (see JobCaseCounts). */
export type JobCaseStatus = CaseStatus | "flaky";

/** One test case of a job (GET jobs/:job/cases). */
export interface JobCaseView {
  /** The task's description without the shard suffix: a sharded binary's cases are one set. */
  binary: string;
  suite: string;
  name: string;
  status: JobCaseStatus;
  /** The run that decided the status: its task, attempt and measured duration. */
  task_id: string;
  attempt: number;
  duration_ms: number | null;
  /** The failure's text and place: of the last failing run for failed, crashed and flaky cases, else of the last run (a skip's reason). */
  message: string | null;
  file: string | null;
  line: number | null;
  /** Runs of the case in this job (over attempts and shards), and how many of them failed or crashed (plus a runner's own failed reruns). */
  runs: number;
  failures: number;
  /**
   * Set on a failed or crashed case whose failure was quarantined when it
   * was reported (see docs/quarantine.md): it did not fail the job. Absent
   * otherwise, and from masters before quarantine.
   */
  quarantined?: { id: number; reason: string; until: number | null };
  /**
   * Set when the case's task did not run but reused an identical task's
   * result (docs/reuse.md): the run of that job this case's result is.
   * Absent otherwise, and from masters before reuse.
   */
  reused_from?: { job_id: string; task_id: string; attempt: number };
}

export interface JobCasesPage {
  job_id: string;
  cases: JobCaseView[];
  /** Pass as `?cursor=` for the next page; null on the last. */
  next_cursor: string | null;
}

/** One past result of a case (GET tests/history). */
export interface CaseHistoryEntry {
  job_id: string;
  task_id: string;
  attempt: number;
  status: CaseStatus;
  duration_ms: number | null;
  /** When the attempt was reported (epoch ms). */
  reported_at: number;
}

export interface CaseHistory {
  binary: string;
  suite: string;
  case: string;
  /** Newest first. */
  results: CaseHistoryEntry[];
  /**
   * Of the tasks in `results` that ran the case, the share that was flaky
   * (failed or crashed, and passed in a later attempt of the same task, or
   * passed after the runner's reruns); null when there are none.
   */
  flake_rate: number | null;
}

/** A flaky case's latest failing run (GET tests/flaky): where to read why it failed. */
export interface FlakyCaseFailure {
  job_id: string;
  task_id: string;
  attempt: number;
  /** failed or crashed; passed for a run that passed only after its runner's own failed reruns. */
  status: CaseStatus;
  /** When the attempt was reported (epoch ms). */
  reported_at: number;
  message: string | null;
  /** The master's page of that attempt's stdout (`view_log`), absolute. */
  log_link: string;
}

/**
 * One test case's flakiness over the jobs created since the query's
 * `since` (GET tests/flaky). A job counts once whatever its attempts and
 * shards, by the case's merged status in it (JobCaseStatus); jobs that only
 * skipped the case do not count.
 */
export interface FlakyCase {
  binary: string;
  suite: string;
  name: string;
  /** Jobs that ran the case. */
  jobs: number;
  /** Its runs in those jobs, over attempts and shards. */
  runs: number;
  /** Runs that failed or crashed, plus runners' own failed reruns (as JobCaseView's `failures`). */
  failures: number;
  /** Jobs in which the case was flaky: it failed or crashed and then passed in a later attempt of the same task, or passed after its runner's reruns. */
  flaky: number;
  /** flaky ÷ jobs: the share of the jobs that ran the case in which it was flaky. */
  flake_rate: number;
  /** Its latest failing run reported since `since`; null when none is stored (cannot happen for a flaky case unless its runs were deleted). */
  last_failure: FlakyCaseFailure | null;
  /** The case's history (GET tests/history), absolute. */
  history_link: string;
}

/** GET tests/flaky: the cases with the highest flake rate, highest first (then most flaky jobs). */
export interface FlakyCases {
  /** The window's start (epoch ms): jobs created at or after it. */
  since: number;
  min_runs: number;
  /** Only this binary's cases; null for all. */
  binary: string | null;
  cases: FlakyCase[];
}

/**
 * Bounds on one case's strings and numbers: what the master stores for each
 * (it refuses a report whole past them), and what a slave holds its cases to
 * before sending them; more than any real runner writes.
 */
export const CASE_LIMITS = {
  /** gtest's `Suite/Param`, a JUnit classname (a Java package path), a pytest module path. */
  maxSuiteChars: 1_000,
  /** A parameterized name (gtest's `Case/17`, pytest's `test_x[a-b-c]`) can be long; longer is a generated id, not a name. */
  maxNameChars: 2_000,
  maxMessageChars: MAX_CASE_MESSAGE_CHARS,
  maxFileChars: 1_000,
  /** 24 days in ms: a MySQL INT; a test longer than that is a timeout, not a duration. */
  maxDurationMs: 2 ** 31 - 1,
  maxLine: 2 ** 31 - 1,
  maxFlakyFailures: 10_000,
} as const;

/** Cases one result report may carry: googletest's own suite has ~1,100; the largest single binaries in the wild a few 10,000s. */
export const MAX_REPORTED_CASES = 200_000;
/** Notes per report, each of at most MAX_RESULT_NOTE_CHARS characters. */
export const MAX_RESULT_NOTES = 100;
export const MAX_RESULT_NOTE_CHARS = 1_000;
