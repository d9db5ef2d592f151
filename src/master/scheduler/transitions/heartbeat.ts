import { ACTIVE_STATES, type AttemptState } from "../../model.ts";
import type { HeartbeatRequest, HeartbeatResponse } from "../../protocol.ts";
import type { DispatchState } from "../dispatch-state.ts";
import { claim } from "./claim.ts";

/** Extends the named leases, records phases, and says which to kill. */
export async function heartbeat(state: DispatchState, request: HeartbeatRequest): Promise<HeartbeatResponse> {
  const now = state.clock.now();
  const command = state.slaves.seen(request.slave, now);
  const response: HeartbeatResponse = { cancel: [], unknown: [], ...(command ? { command } : {}) };
  for (const { lease_id, phase } of request.leases) {
    const lease = state.leases.get(lease_id) ?? (await claim(state, lease_id, request.slave.name, phase));
    if (!lease || lease.slave !== request.slave.name) {
      if (!lease && (await reportedBy(state, lease_id, request.slave.name))) continue;
      response.unknown.push(lease_id);
      continue;
    }
    lease.expiresAt = now + state.config.leaseTtlMs;
    if (state.open.get(lease.jobId)?.job.canceledAt != null) response.cancel.push(lease_id);
    if (phase !== lease.phase) {
      lease.phase = phase;
      await state.repo.updateAttempt(lease.jobId, lease.taskId, lease.attempt, { state: phase, leaseExpiresAt: lease.expiresAt }, [...ACTIVE_STATES]);
    }
  }
  return response;
}

/** How an attempt a slave held ends when its own report is stored; the sweep's SLAVE_LOST is the master taking it back. */
const REPORTED: ReadonlySet<AttemptState> = new Set(["SUCCEEDED", "FAILED", "TIMED_OUT", "CANCELED", "INFRA_FAILED"]);

/**
 * The lease's attempt ended with this slave's own report: the master no
 * longer holds the lease because it has the result, not because it took
 * the lease back. A slave names it until the answer to its report reaches
 * it, and that answer can be lost: the master killed after storing the
 * result and before answering, the slave's next heartbeat reaching the
 * restarted master before its report sent again (or, without a restart, a
 * beat answered between the report's store and its answer). Called
 * unknown, the slave dropped a result the master had, saying the master
 * no longer knew the lease; left unnamed, the report sent again is
 * answered a duplicate.
 */
async function reportedBy(state: DispatchState, leaseId: string, slave: string): Promise<boolean> {
  const stored = await state.repo.findAttemptByLease(leaseId);
  return stored !== null && stored.slave === slave && REPORTED.has(stored.state);
}

/**
 * A log append or an output upload for a lease comes from the slave
 * running it, so it proves the lease alive as a heartbeat does: a slave
 * busy streaming a chatty task's output keeps the lease even when a
 * heartbeat is late. In memory only, as a heartbeat without a phase change.
 */
export function extendLease(state: DispatchState, leaseId: string): void {
  const lease = state.leases.get(leaseId);
  if (lease) lease.expiresAt = Math.max(lease.expiresAt, state.clock.now() + state.config.leaseTtlMs);
}
