/**
 * Identical idempotent tasks in flight, run once (docs/reuse.md): a task
 * whose key runs now in another job waits for that attempt (the leader) and
 * takes its result; if the leader ends any other way than a reusable
 * success (fails, is lost, is canceled with its job), the waiting task runs
 * on its own. The waiting lists live in reuse/in-flight.ts; these are the
 * transitions that fill and end them.
 */
import { TERMINAL_STATES, type Attempt, type ReusedResultFields, type RunRef, type Task, taskBinary } from "../../model.ts";
import type { CaseReport } from "../../protocol.ts";
import type { Follower } from "../../reuse/in-flight.ts";
import { DEFAULT_REUSE_MAX_AGE_MS, reusedFields } from "../../reuse/submit-reuse.ts";
import { type DispatchState, queueItem, settle } from "../dispatch-state.ts";
import type { QueueItem } from "../fair-queue.ts";
import { wake } from "./lease.ts";

/** The result a follower takes: the leader's attempt as stored, and what running it took. */
export interface LeaderResult {
  attempt: ReusedResultFields;
  savedMs: number;
}

/**
 * A first try: no test retry spent, and all of the task run (no selection of
 * cases). Only such an attempt's result may stand for an identical task's,
 * and only such an attempt leads, waits for or joins identical tasks.
 */
export function isFirstTry(attempt: { retry: number; caseSelection: unknown }): boolean {
  return attempt.retry === 0 && attempt.caseSelection === null;
}

/** The task key of `item` when it is a first try of a keyed task of an open job; null otherwise. */
export function firstTryKey(state: DispatchState, item: QueueItem): string | null {
  if (!isFirstTry(item)) return null;
  return state.open.get(item.jobId)?.tasks.get(item.taskId)?.taskKey ?? null;
}

/**
 * A run whose result may stand for identical tasks: a SUCCEEDED first try
 * (no test retry spent, no selection of cases: all of the task ran), that is
 * not flaky (no case failed, crashed or needed a rerun to pass).
 */
export function isReusableRun(task: Task, attempt: { retry: number; caseSelection: unknown }, state: string, cases: readonly Pick<CaseReport, "status" | "flaky_failures">[] | undefined): boolean {
  if (task.taskKey === null || state !== "SUCCEEDED" || !isFirstTry(attempt)) return false;
  return (cases ?? []).every((c) => (c.status === "passed" || c.status === "skipped") && !(c.flaky_failures ?? 0));
}

/**
 * A first try of an idempotent task (no retry spent, all of it run) whose
 * test verdict is not a reusable success: it failed, timed out or passed
 * only on a rerun. Identical inputs gave another answer before, so the
 * results kept for its key are flaky and are reused no more (docs/reuse.md:
 * a flaky original is never reused). Infrastructure endings prove nothing.
 */
export function provesFlaky(task: Task, attempt: { retry: number; caseSelection: unknown }, state: string, cases: readonly Pick<CaseReport, "status" | "flaky_failures">[] | undefined): boolean {
  if (task.taskKey === null || !isFirstTry(attempt)) return false;
  if (state === "FAILED" || state === "TIMED_OUT") return true;
  return state === "SUCCEEDED" && !isReusableRun(task, attempt, state, cases);
}

/** True when `task` may wait for an identical task's run and take its result: it is idempotent in its job, and reuse is on (`--reuse-max-age` not 0). */
export function mayWait(state: DispatchState, task: Task): boolean {
  return task.idempotent && task.taskKey !== null && (state.config.reuseMaxAgeMs ?? DEFAULT_REUSE_MAX_AGE_MS) > 0;
}

/**
 * Registers a job's first attempts just queued (or rebuilt): a waiting one
 * follows its leader; a queued one of an idempotent task is a candidate for
 * its key; one a slave holds (or an offer in beanstalkd) leads it, unless
 * another attempt already does. Returns the followers, which the job's
 * active count includes but the fair queue does not hold.
 */
export function registerAttempts(state: DispatchState, tasks: ReadonlyMap<string, Task>, attempts: readonly Attempt[]): Follower[] {
  const followers: Follower[] = [];
  for (const a of attempts) {
    const task = tasks.get(a.taskId);
    if (!task?.taskKey || TERMINAL_STATES.has(a.state)) continue;
    if (a.state === "QUEUED" && a.reusedFrom) {
      const follower = { jobId: a.jobId, taskId: a.taskId, attempt: a.attempt, taskKey: task.taskKey };
      state.inFlight.follow(a.reusedFrom, follower);
      followers.push(follower);
    } else if (isFirstTry(a)) {
      // Only a task that may take another's result waits in line for one; any keyed run may stand for others.
      if (a.state === "QUEUED" && a.leaseId === null) {
        if (mayWait(state, task)) state.inFlight.candidate(task.taskKey, a);
      } else state.inFlight.lead(task.taskKey, a);
    }
  }
  return followers;
}

/**
 * `item` left the queue for a slave (leased, or offered in beanstalkd). If
 * it is the first of its key to, it leads it, and the identical tasks of
 * other jobs still queued leave the queue to wait for it: whichever of them
 * the fair queue gave a slave first runs, the others take its result.
 */
export async function joinIdentical(state: DispatchState, item: QueueItem): Promise<void> {
  const key = firstTryKey(state, item);
  // A job canceled while the lease was stored: its run is being killed, twins of other jobs must not wait for it.
  if (key === null || state.open.get(item.jobId)!.job.canceledAt !== null) return;
  const leader: RunRef = { jobId: item.jobId, taskId: item.taskId, attempt: item.attempt };
  // All out of the queue before the first write: a slave asking meanwhile must not be given one of them to run again.
  // Not in the queue any more: taken for a slave meanwhile (it runs), or its job canceled.
  await joinLeader(state, leader, key, state.inFlight.taken(key, leader).filter((c) => state.queue.remove(c.jobId, c.taskId, c.attempt)));
}

/**
 * `twins`, first tries of `taskKey` out of the queue (or never in it),
 * wait for `leader`: the database says so, and the leader's ending ends them.
 */
export async function joinLeader(state: DispatchState, leader: RunRef, taskKey: string, twins: readonly RunRef[]): Promise<void> {
  let joined = false;
  for (const c of twins) {
    let recorded = true;
    try {
      recorded = await state.repo.updateAttempt(c.jobId, c.taskId, c.attempt, { reusedFrom: { ...leader, savedMs: 0, inFlight: true } }, ["QUEUED"]);
    } catch (err) {
      // Waits in memory all the same; the database says QUEUED, which a restart reads as a task to run.
      state.log.error(`task ${c.taskId} of job ${c.jobId}: recording that it waits for job ${leader.jobId}'s identical task failed`, err);
    }
    // Its job was canceled meanwhile (the cancel counted what was queued then, not this one): it ends here, not when the leader does.
    if (!recorded || state.open.get(c.jobId)?.job.canceledAt !== null) {
      settle(state, c.jobId);
      continue;
    }
    state.inFlight.follow(leader, { jobId: c.jobId, taskId: c.taskId, attempt: c.attempt, taskKey });
    joined = true;
  }
  // The leader may have ended while the database was written: the joined tasks take what it left, or run.
  if (joined && !state.inFlight.isLeader(taskKey, leader)) await releaseStranded(state);
}

/**
 * The leader `ref` of `task` ended: its followers take `result` when it is
 * reusable, else run on their own. Call it wherever an attempt ends.
 */
export async function leaderEnded(state: DispatchState, task: Task | undefined, ref: RunRef, result: LeaderResult | null): Promise<void> {
  if (!task?.taskKey) return;
  const followers = state.inFlight.end(task.taskKey, ref);
  if (followers.length > 0) await resolveFollowers(state, ref, followers, result);
}

/**
 * Ends each follower of `leader` (which leads no more) with `result`, or
 * queues it to run. A follower whose attempt is no longer QUEUED (its job
 * was canceled meanwhile) only settles. Never throws: a follower the
 * database failed for waits on for `leader` again, which the sweep finds
 * leading nothing (releaseStranded) and tries again; the caller (a
 * leader's report, the sweep) goes on with its own work.
 */
export async function resolveFollowers(state: DispatchState, leader: RunRef, followers: readonly Follower[], result: LeaderResult | null): Promise<void> {
  for (const f of followers) {
    try {
      await resolveFollower(state, f, result);
    } catch (err) {
      state.log.error(`task ${f.taskId} of job ${f.jobId}: taking the result of the identical task it waited for failed; the sweep tries again`, err);
      state.inFlight.follow(leader, f);
    }
  }
}

async function resolveFollower(state: DispatchState, f: Follower, result: LeaderResult | null): Promise<void> {
  const now = state.clock.now();
  const open = state.open.get(f.jobId);
  const task = open?.tasks.get(f.taskId);
  if (!open || !task) return;
  if (result) {
    const origin = { jobId: result.attempt.jobId, taskId: result.attempt.taskId, attempt: result.attempt.attempt };
    const changed = await state.repo.transaction(async (repo) => {
      const ok = await repo.updateAttempt(f.jobId, f.taskId, f.attempt, reusedFields(result.attempt, result.savedMs, true, now), ["QUEUED"]);
      if (ok) await repo.linkReusedCases(f.jobId, [{ taskId: f.taskId, attempt: f.attempt, binary: taskBinary(task), origin }]);
      return ok;
    });
    if (changed) state.observer?.reuseCounted?.({ hits: 0, misses: 0, coalesced: 1 });
    settle(state, f.jobId);
    return;
  }
  const released = await state.repo.updateAttempt(f.jobId, f.taskId, f.attempt, { reusedFrom: null }, ["QUEUED"]);
  if (!released) {
    settle(state, f.jobId);
    return;
  }
  const attempt = await state.repo.getAttempt(f.jobId, f.taskId, f.attempt);
  if (!attempt) return;
  const expected = (await state.repo.expectedDurations([task.description])).get(task.description) ?? 0;
  // Its job was canceled during those reads: the cancel found it in no list, so it ends here, not in a queue nothing drains.
  if (open.job.canceledAt !== null) {
    settle(state, f.jobId);
    return;
  }
  // Queued again: the first of its identical tasks taken for a slave leads them. (After the last read: a failed read leaves it in no list.)
  state.inFlight.candidate(f.taskKey, attempt);
  state.queue.put([queueItem(state, open.job, task, attempt, expected)]);
  wake(state);
}

/**
 * A job's cancel: the tasks of other jobs waiting for its attempts run on
 * their own (a cancel of one job cancels no other); its own waiting tasks
 * stop waiting, and are counted off its active attempts (the cancel ends
 * them in the database with its other QUEUED ones).
 */
export async function cancelJobFollowers(state: DispatchState, jobId: string): Promise<void> {
  const { released, dropped } = state.inFlight.endJob(jobId);
  if (dropped.length > 0) settle(state, jobId, dropped.length);
  for (const { leader, followers } of released) await resolveFollowers(state, leader, followers, null);
}

/**
 * The sweep's check: followers of a leader that ended by a path that did
 * not say so, or whose job no longer runs, take a young enough result of
 * their key if one exists (the leader's, most often), else run.
 */
export async function releaseStranded(state: DispatchState): Promise<void> {
  const maxAge = state.config.reuseMaxAgeMs ?? DEFAULT_REUSE_MAX_AGE_MS;
  for (const { taskKey, leader } of state.inFlight.stranded((jobId) => state.open.has(jobId))) {
    const followers = state.inFlight.end(taskKey, leader);
    if (followers.length === 0) continue;
    const found = maxAge > 0 ? await state.repo.findReusable([followers[0]!.taskKey], state.clock.now() - maxAge) : new Map();
    const hit = found.get(followers[0]!.taskKey);
    await resolveFollowers(state, leader, followers, hit ? { attempt: hit.origin, savedMs: hit.savedMs } : null);
  }
}
