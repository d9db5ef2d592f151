import type { Task } from "../../model.ts";
import type { Lease, LeaseRequest, SlaveCommand } from "../../protocol.ts";
import { DEFAULT_RESULT_GLOBS } from "../../../results/collect.ts";
import { firstTryKey, joinIdentical, mayWait } from "./coalesce.ts";
import { type DispatchState, type Waiter, dropTaken, untake } from "../dispatch-state.ts";
import type { QueueItem } from "../fair-queue.ts";
import { renderCaseFilter } from "../../cases/case-filter.ts";

function withoutKeys(env: Readonly<Record<string, string>>, keys: readonly string[]): Record<string, string> {
  const out: Record<string, string> = { ...env };
  for (const key of keys) delete out[key];
  return out;
}

/** Up to `free` leases for the slave, waiting up to `wait_ms` when nothing fits now. */
export async function lease(state: DispatchState, request: LeaseRequest, signal?: AbortSignal): Promise<Lease[]> {
  state.slaves.seen(request.slave, state.clock.now());
  if (state.slaves.holds(request.slave.name) || request.free <= 0) return [];
  const now = await takeFor(state, request);
  if (now.length > 0 || request.wait_ms <= 0 || signal?.aborted) return now;
  return new Promise<Lease[]>((resolve) => {
    const deadline = state.clock.now() + Math.min(request.wait_ms, state.config.maxWaitMs);
    const waiter: Waiter = { request, resolve, signal, deadline, timer: undefined as unknown as ReturnType<typeof setTimeout> };
    arm(state, waiter);
    // A slave that gave up its poll (drained, restarted) must not be handed work it will never see.
    signal?.addEventListener("abort", () => {
      state.waiters.delete(waiter);
      clearTimeout(waiter.timer);
      resolve([]);
    });
    state.waiters.add(waiter);
  });
}

/**
 * An operator's instruction for a slave: it goes out with the answer to
 * the slave's next call, and a long-poll the slave holds now is answered
 * at once so that it hears of it without waiting out the poll.
 */
export function commandSlave(state: DispatchState, name: string, command: SlaveCommand): void {
  state.slaves.command(name, command);
  for (const waiter of [...state.waiters]) {
    if (waiter.request.slave.name !== name) continue;
    state.waiters.delete(waiter);
    clearTimeout(waiter.timer);
    waiter.resolve([]);
  }
}

/** Serves waiting long-polls after new work was queued. */
export function wake(state: DispatchState): void {
  state.feeder?.kick();
  for (const waiter of [...state.waiters]) {
    if (state.queue.size === 0) return;
    state.waiters.delete(waiter);
    clearTimeout(waiter.timer);
    if (waiter.signal?.aborted) continue;
    takeFor(state, waiter.request).then((leases) => {
      if (leases.length > 0) waiter.resolve(leases);
      // Nothing for its dimensions: it waits on, for what remains of its time.
      else arm(state, waiter);
    }, (err) => {
      state.log.error("leasing failed", err);
      waiter.resolve([]);
    });
  }
}

/** (Re)starts a waiter's timer for what remains until its deadline. */
function arm(state: DispatchState, waiter: Waiter): void {
  const remaining = waiter.deadline - state.clock.now();
  if (remaining <= 0 || waiter.signal?.aborted) {
    waiter.resolve([]);
    return;
  }
  waiter.timer = setTimeout(() => {
    state.waiters.delete(waiter);
    waiter.resolve([]);
  }, remaining);
  state.waiters.add(waiter);
}

async function takeFor(state: DispatchState, request: LeaseRequest): Promise<Lease[]> {
  const leases: Lease[] = [];
  if (state.slaves.holds(request.slave.name)) return leases;
  // A copy of a task whose twin in another job is being leased now is to wait for it (transitions/coalesce.ts joinIdentical), not run.
  const free = (item: QueueItem) => {
    const key = firstTryKey(state, item);
    const task = key === null ? undefined : state.open.get(item.jobId)?.tasks.get(item.taskId);
    // A task that may not wait (its job's reuse is false) runs whatever its twins do.
    return key === null || !task || !mayWait(state, task) || !state.inFlight.heldFor(key, item.jobId);
  };
  while (leases.length < request.free) {
    const item = state.queue.take(request.slave.dimensions, state.inFlight.anyLeasing ? free : undefined);
    if (!item) break;
    const lease = await grant(state, item, request.slave.name);
    if (lease) leases.push(lease);
  }
  return leases;
}

/** Records the lease; null when the attempt was canceled meanwhile. */
async function grant(state: DispatchState, item: QueueItem, slave: string): Promise<Lease | null> {
  const open = state.open.get(item.jobId);
  const task = open?.tasks.get(item.taskId);
  const now = state.clock.now();
  const leaseId = state.newId();
  const expiresAt = now + state.config.leaseTtlMs;
  let ok: boolean;
  const key = firstTryKey(state, item);
  if (key !== null) state.inFlight.leasing(key, item.jobId);
  try {
    ok = task !== undefined && open!.job.canceledAt === null &&
      (await state.repo.updateAttempt(item.jobId, item.taskId, item.attempt, { state: "LEASED", slave, leaseId, leasedAt: now, leaseExpiresAt: expiresAt }, ["QUEUED"]));
  } catch (err) {
    // The database failed: the attempt is still QUEUED there, so it goes back in the queue.
    untake(state, item);
    if (key !== null) leaseFell(state, key);
    throw err;
  }
  if (!ok) {
    dropTaken(state, item);
    if (key !== null) leaseFell(state, key);
    return null;
  }
  // Before joinIdentical, with no await between: it takes the twins out of the queue at once.
  if (key !== null) state.inFlight.leased(key);
  state.leases.set(leaseId, { leaseId, jobId: item.jobId, taskId: item.taskId, attempt: item.attempt, retry: item.retry, user: item.user, slave, expiresAt, phase: "LEASED", queuedAt: item.queuedAt, leasedAt: now, expectedMs: item.expectedMs, caseSelection: item.caseSelection });
  // Identical tasks of other jobs still queued now wait for this one (transitions/coalesce.ts).
  await joinIdentical(state, item);
  return leaseBody(state, item, task!, leaseId);
}

/** A lease that did not happen: its twins may run, and slaves refused them meanwhile are served again. */
function leaseFell(state: DispatchState, key: string): void {
  state.inFlight.leased(key);
  wake(state);
}

/**
 * What a slave is told of an attempt it is to run. A selection of cases
 * (an auto shard's, a retry's) becomes the runner's filter here, so that
 * what is stored is the cases, not one runner's syntax.
 */
export function leaseBody(state: DispatchState, item: QueueItem, task: Task, leaseId: string): Lease {
  const selection = item.caseSelection ?? task.caseSelection;
  // Checked when the selection was made (planned, or a retry chosen): it fits.
  const filter = selection ? renderCaseFilter(task.caseFilter, selection, task.env) : null;
  const env = filter ? { ...withoutKeys(task.env, filter.dropEnv), ...filter.env } : task.env;
  return {
    lease_id: leaseId, job_id: item.jobId, task_id: item.taskId, attempt: item.attempt,
    isolate_hash: task.isolateHash, isolate_server: state.config.isolateServer, description: task.description,
    timeout: task.timeoutSec, artifact_archive_globs: task.artifactGlobs, result_globs: task.resultGlobs ?? [...DEFAULT_RESULT_GLOBS],
    // Tests and wrappers can tell which try they are (a flaky test's retry, a log's name).
    env: { ...env, DT_JOB_ID: item.jobId, DT_TASK_ID: item.taskId, DT_ATTEMPT: String(item.attempt) },
    ...(filter && filter.args.length > 0 ? { extra_args: filter.args } : {}),
    lease_ttl_ms: state.config.leaseTtlMs, heartbeat_interval_ms: state.config.heartbeatIntervalMs,
  };
}
