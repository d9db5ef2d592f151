import type { Job } from "../master/model.ts";
import { TERMINAL_STATES } from "../master/model.ts";
import type { AttemptView, TaskView } from "../master/protocol.ts";

/** One attempt of one task: a row of dist_test's `dist_test_tasks` table, which listed attempts, not tasks. */
export interface TaskRow {
  task: TaskView;
  attempt: AttemptView;
  /** Over: the attempt reported, or its job was canceled (job_status counts both as finished). */
  ended: boolean;
}

/** The attempts of a job's tasks as rows, by task index, then attempt. */
export function taskRows(job: Pick<Job, "canceledAt">, tasks: readonly TaskView[]): TaskRow[] {
  return tasks.flatMap((task) => task.attempts.map((attempt) => ({ task, attempt, ended: TERMINAL_STATES.has(attempt.state) || job.canceledAt !== null })));
}

/** A quarantined failure counts as a success, as job_status counts it (jobs/status.ts). */
const succeeded = (r: TaskRow) => r.attempt.state === "SUCCEEDED" || r.attempt.quarantined === true;
const failed = (r: TaskRow) => r.ended && !succeeded(r);

/**
 * The row filters of `/tasks?status=` and of the job page. Failed is
 * dist_test's `status != 0`: any ending but success, canceled and lost
 * attempts included, matching job_status's failed_tasks.
 */
export const ROW_FILTERS = {
  failed,
  succeeded,
  finished: (r: TaskRow) => r.ended,
  running: (r: TaskRow) => !r.ended,
  timedout: (r: TaskRow) => r.attempt.state === "TIMED_OUT",
  /** dist_test's task-flaky: a failed attempt of a group that passed later or is being retried. */
  flaky: (r: TaskRow) => failed(r) && (r.task.group === "flaky" || r.task.group === "retrying"),
} as const satisfies Record<string, (r: TaskRow) => boolean>;

/** A filter's name, as `status=` gives it. */
export type RowFilter = keyof typeof ROW_FILTERS;

/** The filters dist_test's `/tasks` accepted; the job page offers all of ROW_FILTERS. */
export const API_ROW_FILTERS: readonly RowFilter[] = ["failed", "succeeded", "finished"];

/** True for a filter name among `allowed` (all of ROW_FILTERS by default). */
export function isRowFilter(value: string, allowed: readonly string[] = Object.keys(ROW_FILTERS)): value is RowFilter {
  return allowed.includes(value);
}
