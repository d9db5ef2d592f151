import { yieldToEventLoop } from "../../../common/concurrency.ts";
import { ACTIVE_STATES } from "../../model.ts";
import { type ActiveLease, DEFAULT_BULK_BATCH_ROWS, type DispatchState, settle } from "../dispatch-state.ts";
import type { QueueItem } from "../fair-queue.ts";
import { nextAttempt, requeue } from "./result.ts";
import { cancelJobFollowers, leaderEnded, releaseStranded } from "./coalesce.ts";

/** Cancel: waiting attempts end CANCELED now; running ones are killed through their slaves' next heartbeat. */
export async function cancelJob(state: DispatchState, jobId: string, now: number): Promise<void> {
  const open = state.open.get(jobId);
  if (open) open.job = { ...open.job, canceledAt: now };
  // First, with no await before it: a leader of this job ending meanwhile must not hand its followers a canceled run.
  const followers = cancelJobFollowers(state, jobId).catch((err) => state.log.error(`job ${jobId}: starting the tasks of other jobs that waited for its runs failed; the sweep retries`, err));
  const removed = state.queue.removeJob(jobId);
  // Offers too: taken from the queue, but no slave claimed them yet.
  const withdrawn = (await state.feeder?.withdraw((o) => o.item.jobId === jobId)) ?? [];
  for (const { item } of withdrawn) state.queue.finished(item.user, jobId);
  // Every attempt still QUEUED in the database is one of those, or one whose lease or retry is being stored now and, seeing the cancel, ends it itself.
  await cancelQueued(state, jobId, now);
  settle(state, jobId, removed.length + withdrawn.length);
  await followers;
}

/** Ends every QUEUED attempt of the job CANCELED, a batch per statement, yielding between batches. */
export async function cancelQueued(state: DispatchState, jobId: string, now: number): Promise<void> {
  const limit = state.config.bulkBatchRows ?? DEFAULT_BULK_BATCH_ROWS;
  while ((await state.repo.cancelQueuedAttempts(jobId, now, limit)) >= limit) await yieldToEventLoop();
}

/**
 * Periodic upkeep: leases not heartbeated in time end SLAVE_LOST and their
 * tasks are queued again at once; tasks no live slave can run for too long
 * end NO_RESOURCE.
 */
export async function sweep(state: DispatchState): Promise<void> {
  const now = state.clock.now();
  // The expired ones first, then each handled with awaits between: a copy of all the leases every second cost a busy master ~7% of its time.
  const expired: ActiveLease[] = [];
  for (const lease of state.leases.values()) if (lease.expiresAt <= now) expired.push(lease);
  for (const lease of expired) {
    // A lease whose result is being stored is not lost, however late its heartbeat; nor one a heartbeat extended, or a report ended, meanwhile.
    if (lease.expiresAt > now || state.reporting.has(lease.leaseId) || state.leases.get(lease.leaseId) !== lease) continue;
    state.leases.delete(lease.leaseId);
    state.queue.finished(lease.user, lease.jobId);
    state.slaves.markLost(lease.slave);
    const open = state.open.get(lease.jobId);
    const task = open?.tasks.get(lease.taskId);
    state.slaves.infraFailure(lease.slave, {
      at: now, job_id: lease.jobId, task_id: lease.taskId, attempt: lease.attempt, state: "SLAVE_LOST", message: `slave ${lease.slave} stopped heartbeating`, ...(task ? { description: task.description } : {}),
    });
    const next = await state.repo.transaction(async (repo) => {
      const changed = await repo.updateAttempt(lease.jobId, lease.taskId, lease.attempt, {
        state: "SLAVE_LOST", message: `slave ${lease.slave} stopped heartbeating`, reportedAt: now, leaseExpiresAt: null,
      }, [...ACTIVE_STATES]);
      if (!changed || !task || !open || open.job.canceledAt !== null) return null;
      const attempt = await nextAttempt(state, repo, lease, task, "SLAVE_LOST", now);
      if (attempt) await repo.insertAttempt(attempt);
      return attempt;
    });
    state.observer?.attemptEnded({
      jobId: lease.jobId, taskId: lease.taskId, attempt: lease.attempt, slave: lease.slave, state: "SLAVE_LOST",
      queuedAt: lease.queuedAt, leasedAt: lease.leasedAt, times: { fetch_done_at: null, map_done_at: null, command_start_at: null, command_end_at: null, upload_done_at: null }, cache: null, reportedAt: now,
    });
    state.log.warn(`lease ${lease.leaseId} of slave ${lease.slave} expired; ${next ? "task queued again" : "not requeued"}`, { job_id: lease.jobId, task_id: lease.taskId, attempt: lease.attempt });
    // Tasks of other jobs waiting for this run do not wait for its requeue: they run now (docs/reuse.md).
    await leaderEnded(state, task, lease, null);
    if (next && open && task) await requeue(state, open, task, next, 0, now);
    else settle(state, lease.jobId);
  }
  await expireUnrunnable(state, now);
  await releaseStranded(state);
  if (state.feeder) await state.feeder.recoverLost().catch((err) => state.log.debug(`checking beanstalkd for lost offers failed: ${(err as Error).message}`));
}

async function expireUnrunnable(state: DispatchState, now: number): Promise<void> {
  const expired = new Set<string>();
  const sets = state.queue.dimensionSets();
  // Offers sit in beanstalkd, out of the fair queue, but wait for a slave all the same.
  for (const offer of state.feeder?.waiting() ?? []) {
    const key = state.queue.dimensionsKeyOf(offer.item);
    if (!sets.some((d) => d.key === key)) sets.push({ key, dimensions: offer.item.dimensions, count: 0 });
  }
  for (const key of state.unmatchedSince.keys()) if (!sets.some((d) => d.key === key)) state.unmatchedSince.delete(key);
  for (const { key, dimensions } of sets) {
    if (state.slaves.canRun(dimensions, now)) {
      state.unmatchedSince.delete(key);
      continue;
    }
    const since = state.unmatchedSince.get(key) ?? now;
    state.unmatchedSince.set(key, since);
    if (now - since >= state.config.noResourceTimeoutMs) expired.add(key);
  }
  // Only a dimension set no slave could run for the whole timeout costs a pass over the waiting items.
  if (expired.size === 0) return;
  const unrunnable = (item: QueueItem) => expired.has(state.queue.dimensionsKeyOf(item)) && now - item.queuedAt >= state.config.noResourceTimeoutMs;
  const withdrawn = (await state.feeder?.withdraw((o) => unrunnable(o.item)).catch(() => [])) ?? [];
  for (const { item } of withdrawn) state.queue.finished(item.user, item.jobId);
  const victims = [...state.queue.waiting()].filter(unrunnable);
  for (const item of victims) state.queue.remove(item.jobId, item.taskId, item.attempt);
  const why = new Map<string, string>();
  for (const item of [...withdrawn.map((o) => o.item), ...victims]) {
    const task = state.open.get(item.jobId)?.tasks.get(item.taskId);
    settle(state, item.jobId);
    const key = state.queue.dimensionsKeyOf(item);
    if (!why.has(key)) why.set(key, state.slaves.whyNoneCanRun(item.dimensions, key, now));
    await state.repo.updateAttempt(item.jobId, item.taskId, item.attempt, {
      state: "NO_RESOURCE", reportedAt: now, message: `${why.get(key)} (waited ${Math.round((now - item.queuedAt) / 1000)} s)`,
    }, ["QUEUED"]);
    await leaderEnded(state, task, item, null);
  }
}
