/**
 * How a job's runs of one test case (over attempts and shards) become the
 * case's status in the job. Pure, so both Repo dialects share it.
 *
 * Per task: the status of the last attempt that ran the case; a pass after
 * a failure or crash in an earlier attempt of the same task (or after the
 * runner's own failed reruns) is flaky. Over tasks (a sharded binary whose
 * runner ignored the shard variables runs a case in every shard): the worst
 * wins, crashed > failed > flaky > passed > skipped.
 */
import type { CaseStatus } from "../../results/model.ts";
import type { JobCaseCounts, JobCaseStatus } from "../protocol.ts";

export const CASE_STATUSES = ["passed", "failed", "skipped", "crashed"] as const satisfies readonly CaseStatus[];
export const JOB_CASE_STATUSES = ["passed", "failed", "skipped", "crashed", "flaky"] as const satisfies readonly JobCaseStatus[];

/** What the merge reads of one run (a `cases` row). */
export interface CaseRun {
  taskId: string;
  attempt: number;
  caseIndex: number;
  status: CaseStatus;
  flakyFailures: number;
  durationMs: number | null;
  message: string | null;
  file: string | null;
  line: number | null;
}

/** The merged fields of a `job_cases` row. */
export interface MergedCase {
  status: JobCaseStatus;
  taskId: string;
  attempt: number;
  durationMs: number | null;
  message: string | null;
  file: string | null;
  line: number | null;
  runs: number;
  failures: number;
}

const SEVERITY: Record<JobCaseStatus, number> = { crashed: 4, failed: 3, flaky: 2, passed: 1, skipped: 0 };

/**
 * The most `failures` a merged case records: MySQL's INT. Each run may add
 * 10,000 reruns (CASE_LIMITS.maxFlakyFailures) and a report may repeat a
 * case 200,000 times, so two such reports would overflow the column, and on
 * a strict server every later report of the job would fail with a 500.
 */
export const MAX_MERGED_FAILURES = 2 ** 31 - 1;
const isFailure = (s: CaseStatus) => s === "failed" || s === "crashed";

/** The merge of one case's runs (at least one). */
export function mergeRuns(runs: readonly CaseRun[]): MergedCase {
  const byTask = new Map<string, CaseRun[]>();
  let failures = 0;
  for (const r of runs) {
    (byTask.get(r.taskId) ?? byTask.set(r.taskId, []).get(r.taskId)!).push(r);
    failures += (isFailure(r.status) ? 1 : 0) + r.flakyFailures;
  }
  let best: { status: JobCaseStatus; last: CaseRun; shown: CaseRun } | null = null;
  for (const taskRuns of byTask.values()) {
    taskRuns.sort((a, b) => a.attempt - b.attempt || a.caseIndex - b.caseIndex);
    const last = taskRuns[taskRuns.length - 1]!;
    const lastFailure = taskRuns.findLast((r) => isFailure(r.status));
    const status: JobCaseStatus = last.status === "passed" && (lastFailure !== undefined || last.flakyFailures > 0) ? "flaky" : last.status;
    // A flaky case shows the failure it had, which is what a reader looks for.
    const shown = status === "flaky" && lastFailure ? lastFailure : last;
    if (!best || SEVERITY[status] > SEVERITY[best.status]) best = { status, last, shown };
  }
  const { status, last, shown } = best!;
  return { status, taskId: last.taskId, attempt: last.attempt, durationMs: last.durationMs, message: shown.message, file: shown.file, line: shown.line, runs: runs.length, failures: Math.min(failures, MAX_MERGED_FAILURES) };
}

/** A job's counts from its cases' statuses counted (`failed` includes crashed). */
export function caseCounts(byStatus: ReadonlyMap<string, number | unknown>): JobCaseCounts {
  const n = (s: JobCaseStatus) => Number(byStatus.get(s) ?? 0);
  const counts = { passed: n("passed"), failed: n("failed") + n("crashed"), flaky: n("flaky"), skipped: n("skipped") };
  return { total: counts.passed + counts.failed + counts.flaky + counts.skipped, ...counts };
}

/**
 * The flake rate of a case's runs (rows of any jobs): flaky task runs ÷ task
 * runs, a task's runs merged as in its job; null for none. What
 * tests/history shows and --auto-quarantine compares with its rate.
 */
export function taskFlakeRate(runs: readonly (CaseRun & { jobId: string })[]): { rate: number; taskRuns: number; flaky: number } | null {
  const byTask = new Map<string, CaseRun[]>();
  for (const r of runs) {
    const key = `${r.jobId}\0${r.taskId}`;
    (byTask.get(key) ?? byTask.set(key, []).get(key)!).push(r);
  }
  if (byTask.size === 0) return null;
  let flaky = 0;
  for (const taskRuns of byTask.values()) if (mergeRuns(taskRuns).status === "flaky") flaky++;
  return { rate: flaky / byTask.size, taskRuns: byTask.size, flaky };
}
