import { SerialLock } from "../../common/concurrency.ts";
import type { Clock } from "../../common/clock.ts";
import type { Logger } from "../../common/log.ts";
import type { Attempt, Job, RunRef, Task } from "../model.ts";
import type { ClaimRequest, ClaimResponse, HeartbeatRequest, HeartbeatResponse, Lease, LeaseRequest, ResultReport, ResultResponse, SlaveCommand } from "../protocol.ts";
import type { Repo } from "../repo/repo.ts";
import { Feeder, type FeederConfig } from "../queue/feeder.ts";
import type { OfferSink } from "../queue/offer-sink.ts";
import { type ActiveLease, type DispatchState, type DispatcherConfig, type DispatcherObserver, type Waiter, dropTaken, queueItem, settle, untake } from "./dispatch-state.ts";
import { EtaObservations, MAX_REPLAYED, estimateRemainingMs } from "./eta.ts";
import { FairQueue } from "./fair-queue.ts";
import { SlaveRegistry } from "./slave-registry.ts";
import { InFlight, refKey } from "../reuse/in-flight.ts";
import { isFirstTry, joinIdentical, joinLeader, leaderEnded, mayWait, registerAttempts, releaseStranded } from "./transitions/coalesce.ts";
import { cancelJob, sweep } from "./transitions/cancel-expiry.ts";
import { claimOffer } from "./transitions/claim.ts";
import { extendLease, heartbeat } from "./transitions/heartbeat.ts";
import { commandSlave, lease, leaseBody, wake } from "./transitions/lease.ts";
import { type RebuildProgress, rebuild } from "./transitions/rebuild.ts";
import { report as storeReport, retryTask } from "./transitions/result.ts";

export { type AttemptEnded, DEFAULT_BULK_BATCH_ROWS, type DispatcherConfig, type DispatcherObserver, newAttempt } from "./dispatch-state.ts";
export type { RebuildProgress } from "./transitions/rebuild.ts";

/** A lease as the slaves view shows it. */
export interface LeaseOnSlave {
  job_id: string;
  task_id: string;
  attempt: number;
  description?: string;
}

/** An external queue slaves reserve from (beanstalkd), fed by the master. */
export interface ExternalQueue {
  sink: OfferSink;
  feeder: FeederConfig;
}

/**
 * Hands queued attempts to slaves and takes their results: leases with
 * heartbeats, long-polls, retries, lost slaves, NO_RESOURCE and cancel.
 * The queue lives in memory and every transition is written to the Repo
 * first, so a restarted master rebuilds the same state (`rebuild`).
 *
 * With an external queue, slaves reserve from it instead of long-polling:
 * the feeder moves attempts into it just in time, and a slave claims each
 * offer it reserved before it runs it (`claimOffer`; slaves older than that
 * call claim with their first heartbeat or result); from then on the lease
 * is the same as one handed out over HTTP.
 *
 * This class is the facade: each transition is a module of ./transitions/
 * (lease, claim, heartbeat, result, cancel-expiry, rebuild), a function of
 * the state they share (DispatchState, ./dispatch-state.ts).
 */
export class Dispatcher {
  readonly queue = new FairQueue();
  readonly slaves: SlaveRegistry;
  readonly feeder: Feeder | undefined;
  private readonly state: DispatchState;

  constructor(
    repo: Repo,
    clock: Clock,
    config: DispatcherConfig,
    log: Logger,
    newId: () => string,
    external?: ExternalQueue,
    observer?: DispatcherObserver,
  ) {
    // An idle slave calls at least once per long-poll; a busy one heartbeats within a lease TTL.
    this.slaves = new SlaveRegistry(config.maxWaitMs + config.leaseTtlMs);
    const state: DispatchState = {
      queue: this.queue, slaves: this.slaves, leases: new Map(), waiters: new Set(), reporting: new Map(), open: new Map(),
      unmatchedSince: new Map(), feeder: undefined, claiming: new Map(), paces: new EtaObservations(), autoQuarantineLock: new SerialLock(), inFlight: new InFlight(),
      repo, clock, config, log, newId, observer,
    };
    this.state = state;
    if (external) {
      this.feeder = state.feeder = new Feeder(external.sink, {
        queue: this.queue,
        repo,
        leaseBody: (item, leaseId) => {
          const open = state.open.get(item.jobId);
          const task = open?.tasks.get(item.taskId);
          return open && task && open.job.canceledAt === null ? leaseBody(state, item, task, leaseId) : null;
        },
        untake: (item) => untake(state, item),
        drop: (item) => dropTaken(state, item),
        // An offer runs, as far as identical tasks of other jobs are concerned: they wait for it (transitions/coalesce.ts).
        offered: (item) => joinIdentical(state, item),
        refuse: async (item, message) => {
          const task = state.open.get(item.jobId)?.tasks.get(item.taskId);
          dropTaken(state, item);
          await repo.updateAttempt(item.jobId, item.taskId, item.attempt, { state: "INFRA_FAILED", reportedAt: clock.now(), message }, ["QUEUED"]);
          await leaderEnded(state, task, item, null);
        },
      }, external.feeder, clock, log, newId);
    }
  }

  /** The long-polls held now (tests watch it to know a poll is held). */
  private get waiters(): Set<Waiter> {
    return this.state.waiters;
  }

  /** Starts feeding the external queue, if there is one; call after `rebuild`. */
  startFeeding(): void {
    this.feeder?.start();
  }

  /**
   * Queues the first attempts of a job just stored. `plannedMs` (by task id)
   * is what an auto shard's cases are expected to take, which says more than
   * the history of its description (an earlier plan's shard of that name).
   */
  async addJob(job: Job, tasks: readonly Task[], attempts: readonly Attempt[], plannedMs?: ReadonlyMap<string, number>): Promise<void> {
    const byId = new Map(tasks.map((t) => [t.taskId, t]));
    // A reused attempt is finished already; one waiting for another job's run is not queued (transitions/coalesce.ts).
    const fresh = attempts.filter((a) => a.state === "QUEUED" && a.reusedFrom === null);
    const planned = attempts.filter((a) => a.state === "QUEUED" && a.reusedFrom !== null).length;
    if (fresh.length + planned === 0) return;
    const open = { job, tasks: byId, active: fresh.length + planned };
    this.state.open.set(job.id, open);
    const expected = await this.state.repo.expectedDurations([...new Set(fresh.map((a) => byId.get(a.taskId)!.description))]);
    // Canceled meanwhile: the cancel found none of its attempts queued, and ended them all in the database.
    if (open.job.canceledAt !== null) {
      settle(this.state, job.id, open.active);
      return;
    }
    // After the last await, with none before queueing: a copy in another job given a slave since the job was planned is waited for (queued, it
    // would run again), and a copy given one later finds these queued, candidates of their key.
    const joining = new Map<Attempt, RunRef>();
    for (const a of fresh) {
      const task = byId.get(a.taskId)!;
      const key = isFirstTry(a) && mayWait(this.state, task) ? task.taskKey : null;
      const leader = key ? this.state.inFlight.leaderFor(key, job.id) : undefined;
      if (leader) joining.set(a, leader);
    }
    const runnable = fresh.filter((a) => !joining.has(a));
    registerAttempts(this.state, byId, attempts.filter((a) => !joining.has(a)));
    this.queue.put(runnable.map((a) => queueItem(this.state, job, byId.get(a.taskId)!, a, plannedMs?.get(a.taskId) ?? expected.get(byId.get(a.taskId)!.description) ?? 0)));
    wake(this.state);
    for (const [a, leader] of joining) await joinLeader(this.state, leader, byId.get(a.taskId)!.taskKey!, [a]);
    // A leader may have ended while the job was being stored (planned to wait, then stored): its result, or a run, now rather than at the next sweep.
    const late = attempts.some((a) => a.state === "QUEUED" && a.reusedFrom !== null && !this.state.inFlight.isLeader(byId.get(a.taskId)!.taskKey!, a.reusedFrom));
    if (late) await releaseStranded(this.state);
  }

  /** Identical idempotent tasks running now and those waiting for them, for metrics and tests. */
  get inFlight(): InFlight {
    return this.state.inFlight;
  }

  /** Rebuilds queue and leases from the Repo after a (re)start (transitions/rebuild.ts). */
  rebuild(progress?: (p: RebuildProgress) => void): Promise<void> {
    return rebuild(this.state, progress);
  }

  /** Up to `free` leases for the slave, waiting up to `wait_ms` when nothing fits now (transitions/lease.ts). */
  lease(request: LeaseRequest, signal?: AbortSignal): Promise<Lease[]> {
    return lease(this.state, request, signal);
  }

  /** An operator's instruction for a slave, answering a long-poll it holds now (transitions/lease.ts). */
  commandSlave(name: string, command: SlaveCommand): void {
    commandSlave(this.state, name, command);
  }

  /** A slave asks for an offer it reserved from beanstalkd, before it starts it (transitions/claim.ts). */
  claimOffer(request: ClaimRequest): Promise<ClaimResponse> {
    return claimOffer(this.state, request);
  }

  /** Extends the named leases, records phases, and says which to kill (transitions/heartbeat.ts). */
  heartbeat(request: HeartbeatRequest): Promise<HeartbeatResponse> {
    return heartbeat(this.state, request);
  }

  /** Stores a slave's result, once per lease, and queues what follows (transitions/result.ts). */
  report(report: ResultReport): Promise<ResultResponse> {
    return storeReport(this.state, report);
  }

  /** Periodic upkeep: lapsed leases end SLAVE_LOST, unrunnable tasks NO_RESOURCE (transitions/cancel-expiry.ts). */
  sweep(): Promise<void> {
    return sweep(this.state);
  }

  /** dist_test's /retry_task (transitions/result.ts). */
  retryTask(jobId: string, taskId: string): Promise<boolean> {
    return retryTask(this.state, jobId, taskId);
  }

  /** Cancel: waiting attempts end CANCELED now; running ones are killed through their slaves' next heartbeat. */
  cancelJob(jobId: string, now: number): Promise<void> {
    return cancelJob(this.state, jobId, now);
  }

  /** Output from a lease's slave proves the lease alive as a heartbeat does (transitions/heartbeat.ts). */
  extendLease(leaseId: string): void {
    extendLease(this.state, leaseId);
  }

  /**
   * What an active lease is for and which slave holds it (none yet for an
   * offer in beanstalkd); undefined when the master does not hold it
   * (expired, reported, unknown).
   */
  leaseTarget(leaseId: string): { jobId: string; taskId: string; attempt: number; slave?: string } | undefined {
    const lease = this.state.leases.get(leaseId);
    if (lease) return { jobId: lease.jobId, taskId: lease.taskId, attempt: lease.attempt, slave: lease.slave };
    // A slave fed by beanstalkd may send output before its first heartbeat got through (the master was restarting).
    const offered = this.feeder?.peek(leaseId)?.item;
    return offered && { jobId: offered.jobId, taskId: offered.taskId, attempt: offered.attempt };
  }

  /** Attempts held by slaves now. */
  get activeLeases(): number {
    return this.state.leases.size;
  }

  /** Live, non-draining slaves with a free slot, counted from the leases they hold now. */
  idleSlaves(): number {
    const now = this.state.clock.now();
    // Counted in one pass over the leases: a pass per slave was 640 million steps for 10,000 slaves holding 64,000 leases.
    const running = new Map<string, number>();
    for (const l of this.state.leases.values()) running.set(l.slave, (running.get(l.slave) ?? 0) + 1);
    let idle = 0;
    for (const s of this.slaves.list()) {
      if (this.slaves.isLive(s, now) && !this.slaves.holds(s.identity.name) && (running.get(s.identity.name) ?? 0) < s.identity.slots) idle++;
    }
    return idle;
  }

  /** The leases on a slave, for the slaves view. */
  leasesOf(slave: string): LeaseOnSlave[] {
    const on: LeaseOnSlave[] = [];
    for (const l of this.state.leases.values()) if (l.slave === slave) on.push(this.leaseOnSlave(l));
    return on;
  }

  /** The leases of every slave holding any, from one pass over the leases (the slaves view of a whole fleet). */
  leasesBySlave(): Map<string, LeaseOnSlave[]> {
    const by = new Map<string, LeaseOnSlave[]>();
    for (const l of this.state.leases.values()) {
      const list = by.get(l.slave);
      if (list) list.push(this.leaseOnSlave(l));
      else by.set(l.slave, [this.leaseOnSlave(l)]);
    }
    return by;
  }

  private leaseOnSlave(l: ActiveLease): LeaseOnSlave {
    const description = this.state.open.get(l.jobId)?.tasks.get(l.taskId)?.description;
    return { job_id: l.jobId, task_id: l.taskId, attempt: l.attempt, ...(description === undefined ? {} : { description }) };
  }

  /**
   * Seconds left in a job (see eta.ts): its running attempts and its queued
   * ones (offers in beanstalkd first, then the fair queue's order), on its
   * own slots plus the live ones no other job holds, and no less than what
   * the leased runs its waiting tasks wait for have left. Null when nothing
   * of the job has a known or observed duration.
   */
  estimateRemainingSec(jobId: string): number | null {
    const now = this.state.clock.now();
    const queued = [...(this.feeder?.waiting() ?? [])].map((o) => o.item).filter((i) => i.jobId === jobId);
    const waiting = [...this.queue.waiting()].filter((i) => i.jobId === jobId);
    // The order matters to the replay only; a queue too long for it is summed (see eta.ts), and a sort of 100,000 items per summary is not free.
    if (waiting.length <= MAX_REPLAYED) waiting.sort((a, b) => Number(b.isRetry) - Number(a.isRetry) || b.expectedMs - a.expectedMs);
    const running: { expectedMs: number; leasedAt: number }[] = [];
    let othersHold = 0;
    for (const l of this.state.leases.values()) {
      if (l.jobId === jobId) running.push({ expectedMs: l.expectedMs, leasedAt: l.leasedAt });
      else othersHold++;
    }
    const slots = Math.max(running.length, this.slaves.liveSlots(now) - othersHold);
    const own = estimateRemainingMs({ now, queuedMs: [...queued, ...waiting].map((i) => i.expectedMs), running, slots, observed: this.state.paces.get(jobId) });
    // Its tasks waiting for another job's run end when that run does: the estimate of that attempt alone, on its own slot.
    // One pass over the leases, however many tasks wait (a 2,000-task job may wait for 2,000 runs).
    const awaited = this.state.inFlight.awaitedBy(jobId);
    let ms = own;
    if (awaited.size > 0) {
      for (const l of this.state.leases.values()) {
        if (!awaited.has(refKey(l))) continue;
        const left = estimateRemainingMs({ now, queuedMs: [], running: [{ expectedMs: l.expectedMs, leasedAt: l.leasedAt }], slots: 1, observed: this.state.paces.get(l.jobId) });
        if (left !== null) ms = Math.max(ms ?? 0, left);
      }
    }
    return ms === null ? null : ms / 1000;
  }

  close(): void {
    this.feeder?.close();
    for (const w of this.state.waiters) {
      clearTimeout(w.timer);
      w.resolve([]);
    }
    this.state.waiters.clear();
  }
}
