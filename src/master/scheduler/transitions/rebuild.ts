import { yieldToEventLoop } from "../../../common/concurrency.ts";
import type { Attempt, Job } from "../../model.ts";
import type { SlavePhase } from "../../protocol.ts";
import { type DispatchState, type OpenJob, queueItem } from "../dispatch-state.ts";
import type { QueueItem } from "../fair-queue.ts";
import { cancelQueued } from "./cancel-expiry.ts";
import { registerAttempts } from "./coalesce.ts";

/** Where a restart's rebuild is: jobs with open attempts rebuilt so far, of how many. */
export interface RebuildProgress {
  jobsDone: number;
  jobsTotal: number;
}

/**
 * Rebuilds queue and leases from the Repo after a (re)start: nothing is
 * lost. Job by job, yielding between jobs and between the batches of a
 * canceled job's cancel, so the master answers requests meanwhile;
 * `progress` hears after each job.
 */
export async function rebuild(state: DispatchState, progress?: (p: RebuildProgress) => void): Promise<void> {
  const open = await state.repo.openAttempts();
  const byJob = new Map<string, Attempt[]>();
  for (const a of open) (byJob.get(a.jobId) ?? byJob.set(a.jobId, []).get(a.jobId)!).push(a);
  let jobsDone = 0;
  progress?.({ jobsDone, jobsTotal: byJob.size });
  for (const [jobId, attempts] of byJob) {
    await rebuildJob(state, jobId, attempts);
    progress?.({ jobsDone: ++jobsDone, jobsTotal: byJob.size });
    await yieldToEventLoop();
  }
  // No heartbeat is heard until the rebuild ends (they wait for it, then get 503), so an adopted lease's TTL counts
  // from now: from its adoption, a rebuild longer than the TTL lost every lease of its first jobs at the first sweep.
  const heardFrom = state.clock.now() + state.config.leaseTtlMs;
  for (const lease of state.leases.values()) lease.expiresAt = Math.max(lease.expiresAt, heardFrom);
  const offered = state.feeder?.size ?? 0;
  state.log.info(`rebuilt from the database: ${state.queue.size} queued, ${state.feeder ? `${offered} offered in beanstalkd, ` : ""}${state.leases.size} leased`, { queued: state.queue.size, offered, leased: state.leases.size });
}

async function rebuildJob(state: DispatchState, jobId: string, attempts: readonly Attempt[]): Promise<void> {
  const job = await state.repo.getJob(jobId);
  if (!job) return;
  const now = state.clock.now();
  if (job.canceledAt !== null) {
    // A cancel the previous master did not finish: its leases are killed through their heartbeats, the rest end now.
    const openJob: OpenJob = { job, tasks: new Map(), active: 0 };
    state.open.set(jobId, openJob);
    for (const a of attempts) if (a.state !== "QUEUED" && a.leaseId) adoptLease(state, a, job, now, 0);
    openJob.active = leasesOfJob(state, jobId);
    if (openJob.active === 0) state.open.delete(jobId);
    await cancelQueued(state, jobId, now);
    return;
  }
  const tasks = await state.repo.getTasks(jobId);
  const openJob: OpenJob = { job, tasks: new Map(tasks.map((t) => [t.taskId, t])), active: 0 };
  state.open.set(jobId, openJob);
  const expected = await state.repo.expectedDurations([...new Set(tasks.map((t) => t.description))]);
  const queued: QueueItem[] = [];
  let offered = 0;
  for (const a of attempts) {
    const task = openJob.tasks.get(a.taskId)!;
    if (a.state === "QUEUED" && a.leaseId && state.feeder) {
      // Put into beanstalkd before the restart: it is still there, for a slave to claim.
      state.feeder.adopt(queueItem(state, job, task, a, expected.get(task.description) ?? 0), a.leaseId);
      state.queue.started(job.user, job.id);
      offered++;
    } else if (a.state === "QUEUED" && a.reusedFrom) {
      // Waits for an identical task's run in another job: registered below, and out of the queue.
    } else if (a.state === "QUEUED") queued.push(queueItem(state, job, task, a, expected.get(task.description) ?? 0));
    else if (a.leaseId) adoptLease(state, a, job, now, expected.get(task.description) ?? 0);
  }
  // Leaders and followers of identical tasks in flight, whichever job comes first: a follower whose leader ended while the master was
  // down is found by the sweep (coalesce.ts releaseStranded), which gives it that result or runs it.
  const followers = registerAttempts(state, openJob.tasks, attempts).length;
  openJob.active = queued.length + offered + followers + leasesOfJob(state, jobId);
  if (openJob.active === 0) state.open.delete(jobId);
  state.queue.put(queued);
}

function leasesOfJob(state: DispatchState, jobId: string): number {
  let n = 0;
  for (const l of state.leases.values()) if (l.jobId === jobId) n++;
  return n;
}

/** A lease found in the database after a restart: its slave gets a full TTL to heartbeat again. */
function adoptLease(state: DispatchState, a: Attempt, job: Job, now: number, expectedMs: number): void {
  state.leases.set(a.leaseId!, {
    leaseId: a.leaseId!, jobId: a.jobId, taskId: a.taskId, attempt: a.attempt, retry: a.retry, user: job.user,
    slave: a.slave ?? "?", expiresAt: Math.max(a.leaseExpiresAt ?? 0, now + state.config.leaseTtlMs), phase: a.state === "LEASED" ? "LEASED" : (a.state as SlavePhase),
    queuedAt: a.queuedAt, leasedAt: a.leasedAt ?? now, expectedMs, caseSelection: a.caseSelection,
  });
  state.queue.started(job.user, job.id);
}
