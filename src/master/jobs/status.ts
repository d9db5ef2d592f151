import { ACTIVE_STATES, type Attempt, type AttemptHead, type Job, TERMINAL_STATES } from "../model.ts";
import type { GroupState, JobCounts } from "../protocol.ts";

/** All attempts of one task id, oldest first: dist_test's "group". */
export type Group = readonly AttemptHead[];

/** Attempts of a job grouped by task id, each group ordered by attempt. */
export function groupAttempts<A extends Pick<Attempt, "taskId" | "attempt">>(attempts: readonly A[]): Map<string, A[]> {
  const groups = new Map<string, A[]>();
  for (const a of attempts) (groups.get(a.taskId) ?? groups.set(a.taskId, []).get(a.taskId)!).push(a);
  for (const g of groups.values()) g.sort((x, y) => x.attempt - y.attempt);
  return groups;
}

/**
 * A test failure. Infrastructure endings (a lost slave, a slave's own
 * failure, no slave able to run it) are not: a task they hit and that then
 * passes is not flaky.
 */
const isFailure = (a: AttemptHead) => (a.state === "FAILED" || a.state === "TIMED_OUT") && !a.quarantined;

/** A failure whose failing cases were all quarantined when reported (Attempt.quarantined): the operator's decision that it fails nothing. */
const isQuarantinedFailure = (a: AttemptHead) => (a.state === "FAILED" || a.state === "TIMED_OUT") && a.quarantined;

/**
 * Where a group stands. A canceled job's unfinished groups read canceled at
 * once, whatever their slaves still report (dist_test's jobs hung in
 * "running" after a cancel).
 */
export function groupState(group: Group, job: Pick<Job, "canceledAt">): GroupState {
  const succeeded = group.some((a) => a.state === "SUCCEEDED");
  const failed = group.some(isFailure);
  if (succeeded) return failed ? "flaky" : "succeeded";
  const last = group[group.length - 1]!;
  if (last.state === "CANCELED") return "canceled";
  // Not retried, so a quarantined failure is its group's last attempt: finished, and not failed.
  if (isQuarantinedFailure(last)) return "quarantined";
  // Ended for good before any cancel: still failed, whatever happened to the job after.
  if (TERMINAL_STATES.has(last.state)) return "failed";
  if (job.canceledAt !== null) return "canceled";
  if (last.state === "QUEUED") return failed ? "retrying" : "queued";
  if (ACTIVE_STATES.has(last.state)) return failed ? "retrying" : "running";
  return "failed";
}

/** True once a group will change no more. */
export function groupFinished(state: GroupState): boolean {
  return state === "succeeded" || state === "flaky" || state === "quarantined" || state === "failed" || state === "canceled";
}

/**
 * True for an attempt that is a test retry: its predecessor failed (or
 * timed out) and it spent one of the task's retries. The other attempts
 * after the first are requeues after an infrastructure loss (SLAVE_LOST,
 * INFRA_FAILED), which keep their predecessor's retry count.
 */
export function isTestRetry(attempt: AttemptHead, previous: AttemptHead | undefined): boolean {
  return previous !== undefined && attempt.retry > previous.retry;
}

/** The native API's counts. Queued and running apart, which dist_test could not tell; test retries and infrastructure requeues apart. */
export function jobCounts(groups: ReadonlyMap<string, Group>, job: Pick<Job, "canceledAt">): JobCounts {
  const counts: JobCounts = { total_tasks: groups.size, queued: 0, running: 0, succeeded: 0, failed: 0, flaky: 0, quarantined: 0, canceled: 0, finished: 0, retries: 0, requeues: 0, reused: 0, coalesced: 0, waiting: 0, saved_ms: 0 };
  for (const group of groups.values()) {
    const first = group[0]!;
    // Only a first attempt takes another's result: a reused task has one attempt, and a waiting one is released to run as it is.
    if (first.reusedFrom && first.state === "SUCCEEDED") {
      counts.reused!++;
      counts.saved_ms! += first.reusedFrom.savedMs;
      if (first.reusedFrom.inFlight) counts.coalesced!++;
    } else if (first.reusedFrom && first.state === "QUEUED") counts.waiting!++;
    group.forEach((a, i) => {
      if (i === 0) return;
      if (isTestRetry(a, group[i - 1])) counts.retries++;
      else counts.requeues++;
    });
    const state = groupState(group, job);
    if (groupFinished(state)) counts.finished++;
    const last = group[group.length - 1]!;
    if (state === "queued" || (state === "retrying" && last.state === "QUEUED")) counts.queued++;
    else if (state === "running" || state === "retrying") counts.running++;
    else if (state === "succeeded") counts.succeeded++;
    else if (state === "flaky") counts.flaky++;
    else if (state === "quarantined") counts.quarantined = (counts.quarantined ?? 0) + 1;
    else if (state === "failed") counts.failed++;
    else if (state === "canceled") counts.canceled++;
  }
  return counts;
}

/** dist_test's `/job_status` answer, with its keys and group semantics. */
export interface DistTestJobStatus {
  total_tasks: number;
  finished_tasks: number;
  running_tasks: number;
  retried_tasks: number;
  timedout_tasks: number;
  failed_tasks: number;
  succeeded_tasks: number;
  total_groups: number;
  finished_groups: number;
  failed_groups: number;
  succeeded_groups: number;
  flaky_groups: number;
  flaky_tasks: number;
  status: "running" | "finished";
}

/**
 * The summary dist_test's client polls. Groups: succeeded (a success, or
 * a quarantined failure: dist_test had no quarantine, and its clients must
 * pass the build as dt's do),
 * flaky (a success and a failure, or failures with a retry pending), failed
 * (no success and nothing more coming, canceled included, so a canceled job
 * exits 88 and finishes), finished = succeeded or failed.
 */
export function distTestJobStatus(groups: ReadonlyMap<string, Group>, job: Pick<Job, "canceledAt">): DistTestJobStatus {
  const s: DistTestJobStatus = {
    total_tasks: 0, finished_tasks: 0, running_tasks: 0, retried_tasks: 0, timedout_tasks: 0, failed_tasks: 0, succeeded_tasks: 0,
    total_groups: groups.size, finished_groups: 0, failed_groups: 0, succeeded_groups: 0, flaky_groups: 0, flaky_tasks: 0, status: "running",
  };
  for (const group of groups.values()) {
    for (const [i, a] of group.entries()) {
      s.total_tasks++;
      const canceledByJob = job.canceledAt !== null && !TERMINAL_STATES.has(a.state);
      if (TERMINAL_STATES.has(a.state) || canceledByJob) s.finished_tasks++;
      else s.running_tasks++;
      // dist_test counted rows with attempt > 0, which only a test retry made (a lost slave's task ran again in the same row): requeues are left out here too.
      if (isTestRetry(a, group[i - 1])) s.retried_tasks++;
      if (a.state === "TIMED_OUT") s.timedout_tasks++;
      // A quarantined failure counts as a success here: dist_test's clients (Kudu's) then pass the build, as dt's do; it is the operator's decision.
      if (a.state === "SUCCEEDED" || isQuarantinedFailure(a)) s.succeeded_tasks++;
      else if (TERMINAL_STATES.has(a.state) || canceledByJob) s.failed_tasks++;
    }
    const state = groupState(group, job);
    if (state === "succeeded" || state === "quarantined") s.succeeded_groups++;
    if (state === "flaky") {
      s.succeeded_groups++;
      s.flaky_groups++;
    }
    if (state === "retrying") s.flaky_groups++;
    if (state === "flaky" || state === "retrying") s.flaky_tasks += group.filter(isFailure).length;
    if (state === "failed" || state === "canceled") s.failed_groups++;
    if (groupFinished(state)) s.finished_groups++;
  }
  s.status = s.finished_groups === s.total_groups ? "finished" : "running";
  return s;
}
