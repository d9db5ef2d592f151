import { caseFromWire } from "../../cases/case-report.ts";
import type { CaseAttempt } from "../../cases/case-store.ts";
import { autoQuarantine } from "../../quarantine/auto.ts";
import { quarantinedIn } from "../../quarantine/entry.ts";
import { MAX_ACTIVE_ENTRIES, type QuarantineVerdict, applyQuarantine } from "../../quarantine/verdict.ts";
import type { CaseResult } from "../../../results/model.ts";
import { checkCaseSelection } from "../../cases/selection-check.ts";
import { ACTIVE_STATES, type Attempt, type AttemptState, type Task, taskBinary } from "../../model.ts";
import type { ResultReport, ResultResponse } from "../../protocol.ts";
import type { Repo } from "../../repo/repo.ts";
import type { CaseSelection } from "../../cases/case-filter.ts";
import { chooseRetry, unprovenRetry } from "../retry-filter.ts";
import { type ActiveLease, type DispatchState, type OpenJob, newAttempt, queueItem, settle } from "../dispatch-state.ts";
import { claim } from "./claim.ts";
import { isReusableRun, type LeaderResult, leaderEnded, provesFlaky, registerAttempts } from "./coalesce.ts";
import { wake } from "./lease.ts";

/** Stores a slave's result, once per lease, and queues what follows (a retry). */
export async function report(state: DispatchState, report: ResultReport): Promise<ResultResponse> {
  // A slave retrying a report still in progress waits for it: one attempt, one answer.
  const inFlight = state.reporting.get(report.lease_id);
  if (inFlight) {
    await inFlight.catch(() => {});
    return { ok: true, duplicate: true, stale: false };
  }
  let lease = state.leases.get(report.lease_id);
  // A short task reserved from the external queue can report before any heartbeat claimed it.
  if (!lease && report.slave) lease = (await claim(state, report.lease_id, report.slave, "LEASED")) ?? undefined;
  if (lease && report.slave && lease.slave !== report.slave) {
    // beanstalkd handed the job to a second slave (after a restart of it, or a lapsed TTR): the first one's result counts.
    state.log.warn(`result for lease ${report.lease_id} from slave ${report.slave}, which does not hold it (${lease.slave} does); kept out of the job`, { job_id: report.job_id, task_id: report.task_id, attempt: report.attempt });
    return { ok: true, duplicate: false, stale: true };
  }
  if (!lease) {
    const stored = await state.repo.findAttemptByLease(report.lease_id);
    const stale = stored?.state === "SLAVE_LOST" || stored === null;
    if (stale) state.log.warn(`result for lease ${report.lease_id} arrived after the lease was taken back; kept out of the job`, { job_id: report.job_id, task_id: report.task_id, attempt: report.attempt });
    return { ok: true, duplicate: !stale, stale };
  }
  const work = applyReport(state, lease, report);
  state.reporting.set(report.lease_id, work);
  try {
    return await work;
  } finally {
    state.reporting.delete(report.lease_id);
  }
}

async function applyReport(state: DispatchState, lease: ActiveLease, reported: ResultReport): Promise<ResultResponse> {
  const now = state.clock.now();
  const open = state.open.get(lease.jobId);
  const task = open?.tasks.get(lease.taskId);
  const report = task && reported.state === "SUCCEEDED" && lease.attempt > 0 ? await provenRetry(state.repo, lease, reported) : reported;
  const unproven = report !== reported;
  const times = report.times;
  const outcome = await state.repo.transaction(async (repo) => {
    const changed = await repo.updateAttempt(lease.jobId, lease.taskId, lease.attempt, {
      state: report.state, exitCode: report.exit_code, message: report.message, reportedAt: now,
      fetchDoneAt: times.fetch_done_at, mapDoneAt: times.map_done_at, commandStartAt: times.command_start_at,
      commandEndAt: times.command_end_at, uploadDoneAt: times.upload_done_at, cache: report.cache,
      stdoutKey: report.stdout_key, stderrKey: report.stderr_key, artifactKey: report.artifact_key, artifactMissing: report.artifact_missing,
      outputsRef: report.outputs_ref ?? null, leaseExpiresAt: null,
    }, [...ACTIVE_STATES]);
    // With the attempt's ending, in the same transaction: a repeated report finds the attempt ended and stores them no second time.
    let quarantine: QuarantineVerdict = { quarantined: false, crashed: false };
    let stored: { at: CaseAttempt; cases: CaseResult[] } | null = null;
    if (changed && report.cases && report.cases.length > 0) {
      const owner = task ?? (await repo.getTask(lease.jobId, lease.taskId));
      if (owner) stored = { at: { jobId: lease.jobId, taskId: lease.taskId, attempt: lease.attempt, binary: taskBinary(owner), reportedAt: now }, cases: report.cases.map(caseFromWire) };
      if (stored) await repo.storeCases(stored.at, stored.cases);
      if (stored) quarantine = await applyQuarantine(repo, stored.at, report.state, stored.cases);
    }
    // Kept for identical tasks to come (docs/reuse.md), with the attempt's ending: a result is reusable once it is stored.
    let reusable: LeaderResult | null = null;
    const keyed = changed ? (task ?? (await repo.getTask(lease.jobId, lease.taskId))) : null;
    if (keyed && provesFlaky(keyed, lease, report.state, report.cases)) await repo.forgetReusable(keyed.taskKey!);
    if (keyed && !unproven && isReusableRun(keyed, lease, report.state, report.cases)) {
      const savedMs = times.command_start_at !== null && times.command_end_at !== null ? Math.max(0, times.command_end_at - times.command_start_at) : Math.max(0, now - lease.leasedAt);
      await repo.recordReusable({ taskKey: keyed.taskKey!, jobId: lease.jobId, taskId: lease.taskId, attempt: lease.attempt, reportedAt: now, savedMs });
      reusable = {
        savedMs,
        attempt: {
          jobId: lease.jobId, taskId: lease.taskId, attempt: lease.attempt, state: "SUCCEEDED", exitCode: report.exit_code,
          stdoutKey: report.stdout_key, stderrKey: report.stderr_key, artifactKey: report.artifact_key, artifactMissing: report.artifact_missing, outputsRef: report.outputs_ref ?? null,
        },
      };
    }
    // Every case exactly once: a shard that strayed from its selection is flagged on the job (cases/selection-check.ts).
    if (changed && task) await checkCaseSelection(repo, lease.caseSelection ?? task.caseSelection, { jobId: lease.jobId, taskId: lease.taskId, attempt: lease.attempt, state: report.state, cases: report.cases ?? [], notes: report.result_notes ?? [], at: now });
    if (!changed || !task || !open || open.job.canceledAt !== null) return { changed, next: null, expectedMs: 0, stored, reusable, keyed };
    if ((report.state === "SUCCEEDED" || report.state === "FAILED") && times.command_start_at !== null && times.command_end_at !== null) {
      await repo.recordDuration(task.description, times.command_end_at - times.command_start_at, now);
    }
    // A failure all of whose failing cases are quarantined fails nothing, so it is not retried; unless one crashed, leaving cases unrun.
    const next = quarantine.quarantined && !quarantine.crashed ? null : await nextAttempt(state, repo, lease, task, report.state, now, unproven);
    if (next) await repo.insertAttempt(next);
    const expectedMs = next ? ((await repo.expectedDurations([task.description])).get(task.description) ?? 0) : 0;
    return { changed, next, expectedMs, stored, reusable, keyed };
  });
  // Tasks of other jobs waiting for this run take its result, or run now if it has none to give (transitions/coalesce.ts).
  if (outcome.changed && outcome.keyed) await leaderEnded(state, outcome.keyed, lease, outcome.reusable);
  const auto = state.config.autoQuarantine;
  if (auto && outcome.stored) await autoQuarantine({ repo: state.repo, clock: state.clock, log: state.log }, auto, outcome.stored.at, outcome.stored.cases, state.autoQuarantineLock);
  // Only test results tell the job's pace; a lost slave or a slave's own failure says nothing of the tests.
  if (outcome.changed && (report.state === "SUCCEEDED" || report.state === "FAILED")) state.paces.record(lease.jobId, lease.expectedMs, now - lease.leasedAt);
  if (outcome.changed) {
    state.observer?.attemptEnded({
      jobId: lease.jobId, taskId: lease.taskId, attempt: lease.attempt, slave: lease.slave, state: report.state,
      queuedAt: lease.queuedAt, leasedAt: lease.leasedAt, times: report.times, cache: report.cache, reportedAt: now,
    });
  }
  if (outcome.changed && report.result_notes && report.result_notes.length > 0) {
    state.log.info(`attempt ${lease.attempt} of ${lease.taskId} in job ${lease.jobId}: reading its test results (${report.result_format ?? "unknown format"}): ${report.result_notes.join("; ")}`, {
      job_id: lease.jobId, task_id: lease.taskId, attempt: lease.attempt,
    });
  }
  if (outcome.changed) {
    // Per attempt: a pass is routine (debug); anything else an operator may be asked about.
    const level = report.state === "SUCCEEDED" ? "debug" : "info";
    state.log[level](`attempt ${lease.attempt} of ${lease.taskId} in job ${lease.jobId}: ${report.state} on ${lease.slave}${outcome.next ? `; attempt ${outcome.next.attempt} queued` : ""}`, {
      job_id: lease.jobId, task_id: lease.taskId, attempt: lease.attempt, slave: lease.slave, state: report.state,
    });
  }
  if (report.state === "INFRA_FAILED" && outcome.changed) {
    state.slaves.infraFailure(lease.slave, { at: now, job_id: lease.jobId, task_id: lease.taskId, attempt: lease.attempt, state: "INFRA_FAILED", message: report.message, ...(task ? { description: task.description } : {}) });
  }
  // The sweep may have taken the lease back meanwhile (it skips leases being reported, but not a restart's): count it once.
  if (state.leases.delete(lease.leaseId)) state.queue.finished(lease.user, lease.jobId);
  if (outcome.next && open && task) await requeue(state, open, task, outcome.next, outcome.expectedMs, now);
  else settle(state, lease.jobId);
  return { ok: true, duplicate: !outcome.changed, stale: false };
}

/**
 * The report of a retry of some cases that exited 0, as FAILED when it did
 * not report the cases it was to run (retry-filter.ts unprovenRetry): then
 * the next attempt runs the whole task, without spending a retry. Reads the attempt's selection, and
 * the task's earlier runs only when cases are missing.
 */
async function provenRetry(repo: Repo, lease: ActiveLease, report: ResultReport): Promise<ResultReport> {
  const selection = lease.caseSelection;
  if (!selection) return report;
  const cases = report.cases ?? [];
  const notes = report.result_notes ?? [];
  // Every case of an include list reported, as a retry's report is but for this: nothing more to read. (An exclusion, after a crash, is rarer.)
  const asIfRan = "include" in selection ? selection.include.map((c) => ({ suite: c.suite, name: c.name, attempt: 0, status: "failed" as const })) : null;
  if (asIfRan && unprovenRetry(selection, cases, notes, asIfRan) === null) return report;
  const earlier = (await repo.taskCaseRuns(lease.jobId, lease.taskId)).filter((r) => r.attempt < lease.attempt);
  const why = unprovenRetry(selection, cases, notes, earlier);
  return why === null ? report : { ...report, state: "FAILED", message: report.message ? `${why}; ${report.message}` : why };
}

/**
 * Queues an attempt just stored; unless the job was canceled while it was
 * being stored, in which case it ends CANCELED instead of waiting forever.
 */
export async function requeue(state: DispatchState, open: OpenJob, task: Task, next: Attempt, expectedMs: number, now: number): Promise<void> {
  if (open.job.canceledAt !== null) {
    await state.repo.updateAttempt(next.jobId, next.taskId, next.attempt, { state: "CANCELED", message: "[canceled]", reportedAt: now }, ["QUEUED"]);
    settle(state, next.jobId);
    return;
  }
  // One attempt ended, the next is queued: the job's active count is unchanged. A requeue of a first try (a lost slave's, no retry
  // spent) is a candidate for its key like any first try queued, as a restart's rebuild reads it: a twin taken first leads it.
  registerAttempts(state, open.tasks, [next]);
  state.queue.put([queueItem(state, open.job, task, next, expectedMs)]);
  wake(state);
  // In beanstalkd before the report is answered: the slave that sent it reserves again at once, and the retry must be there to go first.
  await state.feeder?.idle();
}

/**
 * The attempt after one that ended in `state`, or null: a failed test is
 * retried while retries remain, running only its failed cases when its
 * report named them (scheduler/retry-filter.ts); an infrastructure failure
 * is requeued without spending one, a bounded number of times, with the
 * same cases as the attempt it replaces (a lost retry of failed cases
 * reruns those cases, not the whole task).
 */
export async function nextAttempt(dispatch: DispatchState, repo: Repo, lease: ActiveLease, task: Task, state: AttemptState, now: number, unproven = false): Promise<Attempt | null> {
  // The task's own attempts only: the whole job's, read per lost lease, held the master for a second on a 100,000-task job.
  const taskAttempts = async () => (await repo.getAttempts(lease.jobId, { from: task.index, to: task.index + 1 })).filter((a) => a.taskId === lease.taskId);
  // A retry whose filter did not reach its cases (provenRetry) told nothing of the test: the whole task runs, and it costs no retry.
  // Bounded: the whole task has no selection of its own, so it cannot be unproven in turn.
  if (unproven) return newAttempt(lease.jobId, lease.taskId, lease.attempt + 1, lease.retry, now);
  if (state === "FAILED" || state === "TIMED_OUT") {
    if (lease.retry >= task.maxRetries) return null;
    let selection: CaseSelection | null = null;
    if (task.retryMode === "cases") {
      const runs = await repo.taskCaseRuns(lease.jobId, lease.taskId);
      // A quarantined case's failure fails nothing (quarantine/verdict.ts): its retry would be paid for nothing, so the retry leaves it out.
      const entries = await repo.listQuarantine({ activeAt: now, limit: MAX_ACTIVE_ENTRIES });
      const quarantined = entries.length === 0 ? () => false : quarantinedIn(entries, taskBinary(task));
      const choice = chooseRetry({ task, failedAttempt: lease.attempt, attemptSelection: lease.caseSelection, runs, quarantined, timedOut: state === "TIMED_OUT" });
      if (choice.run === "nothing") return null;
      if (choice.run === "cases") selection = choice.selection;
    }
    return { ...newAttempt(lease.jobId, lease.taskId, lease.attempt + 1, lease.retry + 1, now), caseSelection: selection };
  }
  if (state === "INFRA_FAILED" || state === "SLAVE_LOST") {
    const attempts = await taskAttempts();
    const infra = attempts.filter((a) => a.state === "INFRA_FAILED" || a.state === "SLAVE_LOST").length;
    if (infra > dispatch.config.maxInfraRequeues) return null;
    return { ...newAttempt(lease.jobId, lease.taskId, lease.attempt + 1, lease.retry, now), caseSelection: lease.caseSelection };
  }
  return null;
}

/**
 * dist_test's /retry_task: queues another attempt of a task whose latest
 * attempt failed, if retries remain and none is queued or running. Returns
 * whether it did; asking twice never makes two attempts. dt's master
 * retries failed attempts itself as they are reported, so for its own
 * slaves this finds nothing to do; it is kept for dist_test's callers.
 * Its retry runs the whole task (no case selection), as dist_test's
 * client, which asks for it to rerun a test binary, expects.
 */
export async function retryTask(state: DispatchState, jobId: string, taskId: string): Promise<boolean> {
  const open = state.open.get(jobId);
  const task = open?.tasks.get(taskId);
  if (!open || !task || open.job.canceledAt !== null) return false;
  const now = state.clock.now();
  const next = await state.repo.transaction(async (repo) => {
    const group = (await repo.getAttempts(jobId, { from: task.index, to: task.index + 1 })).filter((a) => a.taskId === taskId);
    const last = group[group.length - 1];
    if (!last || (last.state !== "FAILED" && last.state !== "TIMED_OUT") || last.retry >= task.maxRetries) return null;
    const attempt = newAttempt(jobId, taskId, last.attempt + 1, last.retry + 1, now);
    await repo.insertAttempt(attempt);
    return attempt;
  });
  if (!next) return false;
  open.active++;
  await requeue(state, open, task, next, 0, now);
  return true;
}
