import { ACTIVE_STATES } from "../../model.ts";
import type { ClaimRequest, ClaimResponse, SlavePhase } from "../../protocol.ts";
import type { Offer } from "../../queue/feeder.ts";
import { type ActiveLease, type DispatchState, dropTaken } from "../dispatch-state.ts";

/**
 * A slave named an offer it reserved from the external queue: it becomes
 * that slave's lease. Null when it is no offer (never made, withdrawn,
 * claimed by another slave) or its job was canceled meanwhile.
 */
export function claim(state: DispatchState, leaseId: string, slave: string, phase: SlavePhase | "LEASED", life?: string): Promise<ActiveLease | null> {
  const pending = state.claiming.get(leaseId);
  if (pending) return pending.then((lease) => (lease && lease.slave === slave ? lease : null));
  const offer = state.feeder?.claim(leaseId);
  if (!offer) return Promise.resolve(null);
  const work = applyClaim(state, offer, slave, phase, life).finally(() => state.claiming.delete(leaseId));
  state.claiming.set(leaseId, work);
  return work;
}

async function applyClaim(state: DispatchState, offer: Offer, slave: string, phase: SlavePhase | "LEASED", life?: string): Promise<ActiveLease | null> {
  const { item, leaseId } = offer;
  const now = state.clock.now();
  const expiresAt = now + state.config.leaseTtlMs;
  const open = state.open.get(item.jobId);
  let ok = false;
  try {
    ok = open !== undefined && open.job.canceledAt === null &&
      (await state.repo.updateAttempt(item.jobId, item.taskId, item.attempt, { state: phase, slave, leaseId, leasedAt: now, leaseExpiresAt: expiresAt }, ["QUEUED"]));
  } catch (err) {
    // The database failed: still an offer, for the slave's next heartbeat to claim.
    state.feeder?.adopt(item, leaseId);
    throw err;
  }
  if (!ok) {
    const landed = open !== undefined ? await claimThatLanded(state, offer) : null;
    if (landed) return landed;
    dropTaken(state, item);
    return null;
  }
  const lease: ActiveLease = { leaseId, jobId: item.jobId, taskId: item.taskId, attempt: item.attempt, retry: item.retry, user: item.user, slave, expiresAt, phase, queuedAt: item.queuedAt, leasedAt: now, expectedMs: item.expectedMs, caseSelection: item.caseSelection, life };
  state.leases.set(leaseId, lease);
  // A tube just lost a ready job: top it up.
  state.feeder?.kick();
  return lease;
}

/**
 * The row is no longer QUEUED: when it holds this very lease, an earlier
 * claim of it was stored though its answer was lost (the database's
 * connection broke after the commit: "may or may not have been stored").
 * That claim stands, for its slave: it becomes a lease the master knows,
 * so it is heartbeated, reported or lost like any other, rather than an
 * attempt the database calls running and nothing ever ends.
 */
async function claimThatLanded(state: DispatchState, offer: Offer): Promise<ActiveLease | null> {
  const { item, leaseId } = offer;
  const row = await state.repo.findAttemptByLease(leaseId);
  if (!row || row.slave === null || !ACTIVE_STATES.has(row.state)) return null;
  const lease: ActiveLease = {
    leaseId, jobId: item.jobId, taskId: item.taskId, attempt: item.attempt, retry: item.retry, user: item.user,
    slave: row.slave, expiresAt: state.clock.now() + state.config.leaseTtlMs, phase: row.state as SlavePhase | "LEASED",
    queuedAt: item.queuedAt, leasedAt: row.leasedAt ?? state.clock.now(), expectedMs: item.expectedMs, caseSelection: item.caseSelection,
  };
  state.leases.set(leaseId, lease);
  state.log.warn(`lease ${leaseId} was stored for slave ${row.slave} by a claim whose answer was lost; it stands`, { job_id: item.jobId, task_id: item.taskId, attempt: item.attempt });
  return lease;
}

/**
 * A slave asks for an offer it reserved from beanstalkd, before it starts
 * it. Granted once the claim is stored: the attempt's row goes from
 * QUEUED to LEASED under this lease and slave in one conditional UPDATE,
 * so of all the offers ever made for one attempt (a restarted master
 * offers again an attempt whose earlier offer it never recorded) one
 * claim wins, across restarts. The same slave asking again (its answer
 * was lost) is granted again; a lease held by another slave, or an offer
 * no longer made, is refused. So is a new life of the same slave (it was
 * killed and restarted under its name, and beanstalkd handed it again the
 * job its previous life held): that life may have run the command to its
 * end without reporting, and a grant would run it again unseen within one
 * attempt. Refused, the lease lapses (SLAVE_LOST) and the task runs again
 * as a new attempt, as on the in-process queue.
 */
export async function claimOffer(state: DispatchState, request: ClaimRequest): Promise<ClaimResponse> {
  const slave = request.slave.name;
  state.slaves.seen(request.slave, state.clock.now());
  const held = state.leases.get(request.lease_id) ?? (await claim(state, request.lease_id, slave, "LEASED", request.life));
  const sameLife = held?.life === undefined || request.life === undefined || held.life === request.life;
  if (held && held.slave === slave && sameLife) return { claimed: true };
  if (held && held.slave === slave) {
    state.log.warn(`lease ${request.lease_id} is held by an earlier life of slave ${slave}; its claim by the restarted slave is refused, and the task runs again once the lease lapses`, { job_id: held.jobId, task_id: held.taskId, attempt: held.attempt });
    return { claimed: false, reason: `lease ${request.lease_id} is held by an earlier life of slave ${slave} (it restarted); it ends SLAVE_LOST after the lease TTL and the task runs again` };
  }
  if (held) return { claimed: false, reason: `slave ${held.slave} holds lease ${request.lease_id}` };
  return { claimed: false, reason: `lease ${request.lease_id} is not offered: withdrawn, offered again under another lease after a restart, or its job canceled` };
}
