import type { Clock } from "../../common/clock.ts";
import type { Logger } from "../../common/log.ts";
import { caseFromWire } from "../cases/case-report.ts";
import { ACTIVE_STATES, type Attempt, type AttemptState, type Job, type Task, taskBinary } from "../model.ts";
import type { ClaimRequest, ClaimResponse, HeartbeatRequest, HeartbeatResponse, Lease, LeaseRequest, ResultReport, ResultResponse, SlaveCommand, SlavePhase } from "../protocol.ts";
import { yieldToEventLoop } from "../../common/concurrency.ts";
import { DEFAULT_RESULT_GLOBS } from "../../results/collect.ts";
import type { Repo } from "../repo/repo.ts";
import { Feeder, type FeederConfig, type Offer } from "../queue/feeder.ts";
import type { OfferSink } from "../queue/offer-sink.ts";
import { EtaObservations, MAX_REPLAYED, estimateRemainingMs } from "./eta.ts";
import { FairQueue, type QueueItem } from "./fair-queue.ts";
import { SlaveRegistry } from "./slave-registry.ts";

export interface DispatcherConfig {
  /** A lease lapses this long after the last heartbeat naming it; the attempt then ends SLAVE_LOST. */
  leaseTtlMs: number;
  heartbeatIntervalMs: number;
  /** A task that no live slave can run for this long ends NO_RESOURCE. */
  noResourceTimeoutMs: number;
  /** The CAS URL slaves fetch from. */
  isolateServer: string;
  /** Longest long-poll a slave may ask for. */
  maxWaitMs: number;
  /** Infrastructure failures (a slave's INFRA_FAILED) requeued per task before the group fails. */
  maxInfraRequeues: number;
  /**
   * Rows one statement of a bulk write (a cancel, a restart's rebuild)
   * changes before the dispatcher yields to other requests; default
   * DEFAULT_BULK_BATCH_ROWS.
   */
  bulkBatchRows?: number;
}

/**
 * 2,000 rows: one batch takes 10–30 ms on SQLite and one round trip of a
 * few tens of ms on MariaDB, so a request arriving meanwhile waits about
 * that long, while a 100,000-row cancel costs 50 statements, not 100,000.
 */
export const DEFAULT_BULK_BATCH_ROWS = 2_000;

/** Where a restart's rebuild is: jobs with open attempts rebuilt so far, of how many. */
export interface RebuildProgress {
  jobsDone: number;
  jobsTotal: number;
}

interface ActiveLease {
  leaseId: string;
  jobId: string;
  taskId: string;
  attempt: number;
  retry: number;
  user: string;
  slave: string;
  expiresAt: number;
  phase: SlavePhase | "LEASED";
  queuedAt: number;
  leasedAt: number;
  /** From duration history when queued (0: none), for the job's estimate of time left. */
  expectedMs: number;
  /** The slave process that claimed it (ClaimRequest.life); unknown for leases handed out over HTTP, claimed by an older slave, or adopted after a restart. */
  life?: string;
}

/** An attempt that left a slave's hands, as metrics see it. */
export interface AttemptEnded {
  jobId: string;
  taskId: string;
  attempt: number;
  slave: string;
  state: AttemptState;
  queuedAt: number;
  leasedAt: number;
  /** The slave's timestamps (all null for SLAVE_LOST). */
  times: ResultReport["times"];
  cache: ResultReport["cache"];
  reportedAt: number;
}

/** Told of what the dispatcher does, for metrics; must not throw. */
export interface DispatcherObserver {
  attemptEnded(event: AttemptEnded): void;
}

interface Waiter {
  request: LeaseRequest;
  /** When the long-poll ends empty-handed, whatever wakes it before. */
  deadline: number;
  /** The HTTP request's signal: aborted when the slave hangs up. */
  signal?: AbortSignal;
  resolve: (leases: Lease[]) => void;
  timer: ReturnType<typeof setTimeout>;
}

interface OpenJob {
  job: Job;
  tasks: Map<string, Task>;
  /** Attempts queued or leased; the entry is dropped when this reaches 0, so finished jobs cost no memory. */
  active: number;
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
 * the feeder moves attempts into it just in time, and a slave's first
 * heartbeat or result naming an offer claims it (`claim`); from then on the
 * lease is the same as one handed out over HTTP.
 */
export class Dispatcher {
  readonly queue = new FairQueue();
  readonly slaves: SlaveRegistry;
  private readonly leases = new Map<string, ActiveLease>();
  private readonly waiters = new Set<Waiter>();
  /** Reports being stored, by lease: a duplicate waits for the first instead of applying twice. */
  private readonly reporting = new Map<string, Promise<ResultResponse>>();
  private readonly open = new Map<string, OpenJob>();
  /** Dimension sets with waiting work and since when no live slave could run them. */
  private readonly unmatchedSince = new Map<string, number>();
  readonly feeder: Feeder | undefined;
  /** Claims being stored, by lease: a heartbeat and a result naming the same offer share one. */
  private readonly claiming = new Map<string, Promise<ActiveLease | null>>();
  /** What open jobs' finished attempts took against history, for their estimates. */
  private readonly paces = new EtaObservations();

  constructor(
    private readonly repo: Repo,
    private readonly clock: Clock,
    private readonly config: DispatcherConfig,
    private readonly log: Logger,
    private readonly newId: () => string,
    external?: ExternalQueue,
    private readonly observer?: DispatcherObserver,
  ) {
    // An idle slave calls at least once per long-poll; a busy one heartbeats within a lease TTL.
    this.slaves = new SlaveRegistry(config.maxWaitMs + config.leaseTtlMs);
    if (external) {
      this.feeder = new Feeder(external.sink, {
        queue: this.queue,
        repo,
        leaseBody: (item, leaseId) => {
          const open = this.open.get(item.jobId);
          const task = open?.tasks.get(item.taskId);
          return open && task && open.job.canceledAt === null ? this.leaseBody(item, task, leaseId) : null;
        },
        untake: (item) => this.untake(item),
        drop: (item) => this.dropTaken(item),
      }, external.feeder, clock, log, newId);
    }
  }

  /** Starts feeding the external queue, if there is one; call after `rebuild`. */
  startFeeding(): void {
    this.feeder?.start();
  }

  /** Queues the first attempts of a job just stored. */
  async addJob(job: Job, tasks: readonly Task[], attempts: readonly Attempt[]): Promise<void> {
    this.open.set(job.id, { job, tasks: new Map(tasks.map((t) => [t.taskId, t])), active: attempts.length });
    const expected = await this.repo.expectedDurations([...new Set(tasks.map((t) => t.description))]);
    const byId = new Map(tasks.map((t) => [t.taskId, t]));
    this.queue.put(attempts.map((a) => this.item(job, byId.get(a.taskId)!, a, expected.get(byId.get(a.taskId)!.description) ?? 0)));
    this.wake();
  }

  private item(job: Job, task: Task, attempt: Attempt, expectedMs: number): QueueItem {
    return {
      jobId: job.id, taskId: task.taskId, attempt: attempt.attempt, retry: attempt.retry, user: job.user,
      priority: job.priority + task.priority, isRetry: attempt.attempt > 0, expectedMs,
      seq: this.queue.seq(), queuedAt: attempt.queuedAt, dimensions: task.dimensions,
    };
  }

  /**
   * Rebuilds queue and leases from the Repo after a (re)start: nothing is
   * lost. Job by job, yielding between jobs and between the batches of a
   * canceled job's cancel, so the master answers requests meanwhile;
   * `progress` hears after each job.
   */
  async rebuild(progress?: (p: RebuildProgress) => void): Promise<void> {
    const open = await this.repo.openAttempts();
    const byJob = new Map<string, Attempt[]>();
    for (const a of open) (byJob.get(a.jobId) ?? byJob.set(a.jobId, []).get(a.jobId)!).push(a);
    let jobsDone = 0;
    progress?.({ jobsDone, jobsTotal: byJob.size });
    for (const [jobId, attempts] of byJob) {
      await this.rebuildJob(jobId, attempts);
      progress?.({ jobsDone: ++jobsDone, jobsTotal: byJob.size });
      await yieldToEventLoop();
    }
    // No heartbeat is heard until the rebuild ends (they wait for it, then get 503), so an adopted lease's TTL counts
    // from now: from its adoption, a rebuild longer than the TTL lost every lease of its first jobs at the first sweep.
    const heardFrom = this.clock.now() + this.config.leaseTtlMs;
    for (const lease of this.leases.values()) lease.expiresAt = Math.max(lease.expiresAt, heardFrom);
    const offered = this.feeder?.size ?? 0;
    this.log.info(`rebuilt from the database: ${this.queue.size} queued, ${this.feeder ? `${offered} offered in beanstalkd, ` : ""}${this.leases.size} leased`, { queued: this.queue.size, offered, leased: this.leases.size });
  }

  private async rebuildJob(jobId: string, attempts: readonly Attempt[]): Promise<void> {
    const job = await this.repo.getJob(jobId);
    if (!job) return;
    const now = this.clock.now();
    if (job.canceledAt !== null) {
      // A cancel the previous master did not finish: its leases are killed through their heartbeats, the rest end now.
      const openJob: OpenJob = { job, tasks: new Map(), active: 0 };
      this.open.set(jobId, openJob);
      for (const a of attempts) if (a.state !== "QUEUED" && a.leaseId) this.adoptLease(a, job, now, 0);
      openJob.active = this.leasesOfJob(jobId);
      if (openJob.active === 0) this.open.delete(jobId);
      await this.cancelQueued(jobId, now);
      return;
    }
    const tasks = await this.repo.getTasks(jobId);
    const openJob: OpenJob = { job, tasks: new Map(tasks.map((t) => [t.taskId, t])), active: 0 };
    this.open.set(jobId, openJob);
    const expected = await this.repo.expectedDurations([...new Set(tasks.map((t) => t.description))]);
    const queued: QueueItem[] = [];
    let offered = 0;
    for (const a of attempts) {
      const task = openJob.tasks.get(a.taskId)!;
      if (a.state === "QUEUED" && a.leaseId && this.feeder) {
        // Put into beanstalkd before the restart: it is still there, for a slave to claim.
        this.feeder.adopt(this.item(job, task, a, expected.get(task.description) ?? 0), a.leaseId);
        this.queue.started(job.user, job.id);
        offered++;
      } else if (a.state === "QUEUED") queued.push(this.item(job, task, a, expected.get(task.description) ?? 0));
      else if (a.leaseId) this.adoptLease(a, job, now, expected.get(task.description) ?? 0);
    }
    openJob.active = queued.length + offered + this.leasesOfJob(jobId);
    if (openJob.active === 0) this.open.delete(jobId);
    this.queue.put(queued);
  }

  private leasesOfJob(jobId: string): number {
    let n = 0;
    for (const l of this.leases.values()) if (l.jobId === jobId) n++;
    return n;
  }

  /** Ends every QUEUED attempt of the job CANCELED, a batch per statement, yielding between batches. */
  private async cancelQueued(jobId: string, now: number): Promise<void> {
    const limit = this.config.bulkBatchRows ?? DEFAULT_BULK_BATCH_ROWS;
    while ((await this.repo.cancelQueuedAttempts(jobId, now, limit)) >= limit) await yieldToEventLoop();
  }

  /** A lease found in the database after a restart: its slave gets a full TTL to heartbeat again. */
  private adoptLease(a: Attempt, job: Job, now: number, expectedMs: number): void {
    this.leases.set(a.leaseId!, {
      leaseId: a.leaseId!, jobId: a.jobId, taskId: a.taskId, attempt: a.attempt, retry: a.retry, user: job.user,
      slave: a.slave ?? "?", expiresAt: Math.max(a.leaseExpiresAt ?? 0, now + this.config.leaseTtlMs), phase: a.state === "LEASED" ? "LEASED" : (a.state as SlavePhase),
      queuedAt: a.queuedAt, leasedAt: a.leasedAt ?? now, expectedMs,
    });
    this.queue.started(job.user, job.id);
  }

  /** Up to `free` leases for the slave, waiting up to `wait_ms` when nothing fits now. */
  async lease(request: LeaseRequest, signal?: AbortSignal): Promise<Lease[]> {
    this.slaves.seen(request.slave, this.clock.now());
    if (this.slaves.holds(request.slave.name) || request.free <= 0) return [];
    const now = await this.takeFor(request);
    if (now.length > 0 || request.wait_ms <= 0 || signal?.aborted) return now;
    return new Promise<Lease[]>((resolve) => {
      const deadline = this.clock.now() + Math.min(request.wait_ms, this.config.maxWaitMs);
      const waiter: Waiter = { request, resolve, signal, deadline, timer: undefined as unknown as ReturnType<typeof setTimeout> };
      this.arm(waiter);
      // A slave that gave up its poll (drained, restarted) must not be handed work it will never see.
      signal?.addEventListener("abort", () => {
        this.waiters.delete(waiter);
        clearTimeout(waiter.timer);
        resolve([]);
      });
      this.waiters.add(waiter);
    });
  }

  /**
   * An operator's instruction for a slave: it goes out with the answer to
   * the slave's next call, and a long-poll the slave holds now is answered
   * at once so that it hears of it without waiting out the poll.
   */
  commandSlave(name: string, command: SlaveCommand): void {
    this.slaves.command(name, command);
    for (const waiter of [...this.waiters]) {
      if (waiter.request.slave.name !== name) continue;
      this.waiters.delete(waiter);
      clearTimeout(waiter.timer);
      waiter.resolve([]);
    }
  }

  /** Serves waiting long-polls after new work was queued. */
  private wake(): void {
    this.feeder?.kick();
    for (const waiter of [...this.waiters]) {
      if (this.queue.size === 0) return;
      this.waiters.delete(waiter);
      clearTimeout(waiter.timer);
      if (waiter.signal?.aborted) continue;
      this.takeFor(waiter.request).then((leases) => {
        if (leases.length > 0) waiter.resolve(leases);
        // Nothing for its dimensions: it waits on, for what remains of its time.
        else this.arm(waiter);
      }, (err) => {
        this.log.error("leasing failed", err);
        waiter.resolve([]);
      });
    }
  }

  /** (Re)starts a waiter's timer for what remains until its deadline. */
  private arm(waiter: Waiter): void {
    const remaining = waiter.deadline - this.clock.now();
    if (remaining <= 0 || waiter.signal?.aborted) {
      waiter.resolve([]);
      return;
    }
    waiter.timer = setTimeout(() => {
      this.waiters.delete(waiter);
      waiter.resolve([]);
    }, remaining);
    this.waiters.add(waiter);
  }

  private async takeFor(request: LeaseRequest): Promise<Lease[]> {
    const leases: Lease[] = [];
    if (this.slaves.holds(request.slave.name)) return leases;
    while (leases.length < request.free) {
      const item = this.queue.take(request.slave.dimensions);
      if (!item) break;
      const lease = await this.grant(item, request.slave.name);
      if (lease) leases.push(lease);
    }
    return leases;
  }

  /** Records the lease; null when the attempt was canceled meanwhile. */
  private async grant(item: QueueItem, slave: string): Promise<Lease | null> {
    const open = this.open.get(item.jobId);
    const task = open?.tasks.get(item.taskId);
    const now = this.clock.now();
    const leaseId = this.newId();
    const expiresAt = now + this.config.leaseTtlMs;
    let ok: boolean;
    try {
      ok = task !== undefined && open!.job.canceledAt === null &&
        (await this.repo.updateAttempt(item.jobId, item.taskId, item.attempt, { state: "LEASED", slave, leaseId, leasedAt: now, leaseExpiresAt: expiresAt }, ["QUEUED"]));
    } catch (err) {
      // The database failed: the attempt is still QUEUED there, so it goes back in the queue.
      this.untake(item);
      throw err;
    }
    if (!ok) {
      this.dropTaken(item);
      return null;
    }
    this.leases.set(leaseId, { leaseId, jobId: item.jobId, taskId: item.taskId, attempt: item.attempt, retry: item.retry, user: item.user, slave, expiresAt, phase: "LEASED", queuedAt: item.queuedAt, leasedAt: now, expectedMs: item.expectedMs });
    return this.leaseBody(item, task!, leaseId);
  }

  /** What a slave is told of an attempt it is to run. */
  private leaseBody(item: QueueItem, task: Task, leaseId: string): Lease {
    return {
      lease_id: leaseId, job_id: item.jobId, task_id: item.taskId, attempt: item.attempt,
      isolate_hash: task.isolateHash, isolate_server: this.config.isolateServer, description: task.description,
      timeout: task.timeoutSec, artifact_archive_globs: task.artifactGlobs, result_globs: task.resultGlobs ?? [...DEFAULT_RESULT_GLOBS],
      // Tests and wrappers can tell which try they are (a flaky test's retry, a log's name).
      env: { ...task.env, DT_JOB_ID: item.jobId, DT_TASK_ID: item.taskId, DT_ATTEMPT: String(item.attempt) },
      lease_ttl_ms: this.config.leaseTtlMs, heartbeat_interval_ms: this.config.heartbeatIntervalMs,
    };
  }

  /**
   * A slave named an offer it reserved from the external queue: it becomes
   * that slave's lease. Null when it is no offer (never made, withdrawn,
   * claimed by another slave) or its job was canceled meanwhile.
   */
  private claim(leaseId: string, slave: string, phase: SlavePhase | "LEASED", life?: string): Promise<ActiveLease | null> {
    const pending = this.claiming.get(leaseId);
    if (pending) return pending.then((lease) => (lease && lease.slave === slave ? lease : null));
    const offer = this.feeder?.claim(leaseId);
    if (!offer) return Promise.resolve(null);
    const work = this.applyClaim(offer, slave, phase, life).finally(() => this.claiming.delete(leaseId));
    this.claiming.set(leaseId, work);
    return work;
  }

  private async applyClaim(offer: Offer, slave: string, phase: SlavePhase | "LEASED", life?: string): Promise<ActiveLease | null> {
    const { item, leaseId } = offer;
    const now = this.clock.now();
    const expiresAt = now + this.config.leaseTtlMs;
    const open = this.open.get(item.jobId);
    let ok = false;
    try {
      ok = open !== undefined && open.job.canceledAt === null &&
        (await this.repo.updateAttempt(item.jobId, item.taskId, item.attempt, { state: phase, slave, leaseId, leasedAt: now, leaseExpiresAt: expiresAt }, ["QUEUED"]));
    } catch (err) {
      // The database failed: still an offer, for the slave's next heartbeat to claim.
      this.feeder?.adopt(item, leaseId);
      throw err;
    }
    if (!ok) {
      const landed = open !== undefined ? await this.claimThatLanded(offer) : null;
      if (landed) return landed;
      this.dropTaken(item);
      return null;
    }
    const lease: ActiveLease = { leaseId, jobId: item.jobId, taskId: item.taskId, attempt: item.attempt, retry: item.retry, user: item.user, slave, expiresAt, phase, queuedAt: item.queuedAt, leasedAt: now, expectedMs: item.expectedMs, life };
    this.leases.set(leaseId, lease);
    // A tube just lost a ready job: top it up.
    this.feeder?.kick();
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
  private async claimThatLanded(offer: Offer): Promise<ActiveLease | null> {
    const { item, leaseId } = offer;
    const row = await this.repo.findAttemptByLease(leaseId);
    if (!row || row.slave === null || !ACTIVE_STATES.has(row.state)) return null;
    const lease: ActiveLease = {
      leaseId, jobId: item.jobId, taskId: item.taskId, attempt: item.attempt, retry: item.retry, user: item.user,
      slave: row.slave, expiresAt: this.clock.now() + this.config.leaseTtlMs, phase: row.state as SlavePhase | "LEASED",
      queuedAt: item.queuedAt, leasedAt: row.leasedAt ?? this.clock.now(), expectedMs: item.expectedMs,
    };
    this.leases.set(leaseId, lease);
    this.log.warn(`lease ${leaseId} was stored for slave ${row.slave} by a claim whose answer was lost; it stands`, { job_id: item.jobId, task_id: item.taskId, attempt: item.attempt });
    return lease;
  }

  /** An item taken from the queue (leased or offered) goes back into it: the lease or offer did not happen. */
  private untake(item: QueueItem): void {
    this.queue.finished(item.user, item.jobId);
    this.queue.put([item]);
  }

  /** An item taken from the queue ended without running (its job was canceled meanwhile, or it was withdrawn). */
  private dropTaken(item: QueueItem): void {
    this.queue.finished(item.user, item.jobId);
    this.settle(item.jobId);
  }

  private runningOn(slave: string): number {
    let n = 0;
    for (const l of this.leases.values()) if (l.slave === slave) n++;
    return n;
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
  async claimOffer(request: ClaimRequest): Promise<ClaimResponse> {
    const slave = request.slave.name;
    this.slaves.seen(request.slave, this.clock.now());
    const held = this.leases.get(request.lease_id) ?? (await this.claim(request.lease_id, slave, "LEASED", request.life));
    const sameLife = held?.life === undefined || request.life === undefined || held.life === request.life;
    if (held && held.slave === slave && sameLife) return { claimed: true };
    if (held && held.slave === slave) {
      this.log.warn(`lease ${request.lease_id} is held by an earlier life of slave ${slave}; its claim by the restarted slave is refused, and the task runs again once the lease lapses`, { job_id: held.jobId, task_id: held.taskId, attempt: held.attempt });
      return { claimed: false, reason: `lease ${request.lease_id} is held by an earlier life of slave ${slave} (it restarted); it ends SLAVE_LOST after the lease TTL and the task runs again` };
    }
    if (held) return { claimed: false, reason: `slave ${held.slave} holds lease ${request.lease_id}` };
    return { claimed: false, reason: `lease ${request.lease_id} is not offered: withdrawn, offered again under another lease after a restart, or its job canceled` };
  }

  /** Extends the named leases, records phases, and says which to kill. */
  async heartbeat(request: HeartbeatRequest): Promise<HeartbeatResponse> {
    const now = this.clock.now();
    const command = this.slaves.seen(request.slave, now);
    const response: HeartbeatResponse = { cancel: [], unknown: [], ...(command ? { command } : {}) };
    for (const { lease_id, phase } of request.leases) {
      const lease = this.leases.get(lease_id) ?? (await this.claim(lease_id, request.slave.name, phase));
      if (!lease || lease.slave !== request.slave.name) {
        response.unknown.push(lease_id);
        continue;
      }
      lease.expiresAt = now + this.config.leaseTtlMs;
      if (this.open.get(lease.jobId)?.job.canceledAt != null) response.cancel.push(lease_id);
      if (phase !== lease.phase) {
        lease.phase = phase;
        await this.repo.updateAttempt(lease.jobId, lease.taskId, lease.attempt, { state: phase, leaseExpiresAt: lease.expiresAt }, [...ACTIVE_STATES]);
      }
    }
    return response;
  }

  /** Stores a slave's result, once per lease, and queues what follows (a retry). */
  async report(report: ResultReport): Promise<ResultResponse> {
    // A slave retrying a report still in progress waits for it: one attempt, one answer.
    const inFlight = this.reporting.get(report.lease_id);
    if (inFlight) {
      await inFlight.catch(() => {});
      return { ok: true, duplicate: true, stale: false };
    }
    let lease = this.leases.get(report.lease_id);
    // A short task reserved from the external queue can report before any heartbeat claimed it.
    if (!lease && report.slave) lease = (await this.claim(report.lease_id, report.slave, "LEASED")) ?? undefined;
    if (lease && report.slave && lease.slave !== report.slave) {
      // beanstalkd handed the job to a second slave (after a restart of it, or a lapsed TTR): the first one's result counts.
      this.log.warn(`result for lease ${report.lease_id} from slave ${report.slave}, which does not hold it (${lease.slave} does); kept out of the job`, { job_id: report.job_id, task_id: report.task_id, attempt: report.attempt });
      return { ok: true, duplicate: false, stale: true };
    }
    if (!lease) {
      const stored = await this.repo.findAttemptByLease(report.lease_id);
      const stale = stored?.state === "SLAVE_LOST" || stored === null;
      if (stale) this.log.warn(`result for lease ${report.lease_id} arrived after the lease was taken back; kept out of the job`, { job_id: report.job_id, task_id: report.task_id, attempt: report.attempt });
      return { ok: true, duplicate: !stale, stale };
    }
    const work = this.applyReport(lease, report);
    this.reporting.set(report.lease_id, work);
    try {
      return await work;
    } finally {
      this.reporting.delete(report.lease_id);
    }
  }

  private async applyReport(lease: ActiveLease, report: ResultReport): Promise<ResultResponse> {
    const now = this.clock.now();
    const open = this.open.get(lease.jobId);
    const task = open?.tasks.get(lease.taskId);
    const times = report.times;
    const outcome = await this.repo.transaction(async (repo) => {
      const changed = await repo.updateAttempt(lease.jobId, lease.taskId, lease.attempt, {
        state: report.state, exitCode: report.exit_code, message: report.message, reportedAt: now,
        fetchDoneAt: times.fetch_done_at, mapDoneAt: times.map_done_at, commandStartAt: times.command_start_at,
        commandEndAt: times.command_end_at, uploadDoneAt: times.upload_done_at, cache: report.cache,
        stdoutKey: report.stdout_key, stderrKey: report.stderr_key, artifactKey: report.artifact_key, artifactMissing: report.artifact_missing,
        outputsRef: report.outputs_ref ?? null, leaseExpiresAt: null,
      }, [...ACTIVE_STATES]);
      // With the attempt's ending, in the same transaction: a repeated report finds the attempt ended and stores them no second time.
      if (changed && report.cases && report.cases.length > 0) {
        const owner = task ?? (await repo.getTask(lease.jobId, lease.taskId));
        if (owner) await repo.storeCases({ jobId: lease.jobId, taskId: lease.taskId, attempt: lease.attempt, binary: taskBinary(owner), reportedAt: now }, report.cases.map(caseFromWire));
      }
      if (!changed || !task || !open || open.job.canceledAt !== null) return { changed, next: null, expectedMs: 0 };
      if ((report.state === "SUCCEEDED" || report.state === "FAILED") && times.command_start_at !== null && times.command_end_at !== null) {
        await repo.recordDuration(task.description, times.command_end_at - times.command_start_at, now);
      }
      const next = await this.nextAttempt(repo, lease, task, report.state, now);
      if (next) await repo.insertAttempt(next);
      const expectedMs = next ? ((await repo.expectedDurations([task.description])).get(task.description) ?? 0) : 0;
      return { changed, next, expectedMs };
    });
    // Only test results tell the job's pace; a lost slave or a slave's own failure says nothing of the tests.
    if (outcome.changed && (report.state === "SUCCEEDED" || report.state === "FAILED")) this.paces.record(lease.jobId, lease.expectedMs, now - lease.leasedAt);
    if (outcome.changed) {
      this.observer?.attemptEnded({
        jobId: lease.jobId, taskId: lease.taskId, attempt: lease.attempt, slave: lease.slave, state: report.state,
        queuedAt: lease.queuedAt, leasedAt: lease.leasedAt, times: report.times, cache: report.cache, reportedAt: now,
      });
    }
    if (outcome.changed && report.result_notes && report.result_notes.length > 0) {
      this.log.info(`attempt ${lease.attempt} of ${lease.taskId} in job ${lease.jobId}: reading its test results (${report.result_format ?? "unknown format"}): ${report.result_notes.join("; ")}`, {
        job_id: lease.jobId, task_id: lease.taskId, attempt: lease.attempt,
      });
    }
    if (outcome.changed) {
      // Per attempt: a pass is routine (debug); anything else an operator may be asked about.
      const level = report.state === "SUCCEEDED" ? "debug" : "info";
      this.log[level](`attempt ${lease.attempt} of ${lease.taskId} in job ${lease.jobId}: ${report.state} on ${lease.slave}${outcome.next ? `; attempt ${outcome.next.attempt} queued` : ""}`, {
        job_id: lease.jobId, task_id: lease.taskId, attempt: lease.attempt, slave: lease.slave, state: report.state,
      });
    }
    if (report.state === "INFRA_FAILED" && outcome.changed) {
      this.slaves.infraFailure(lease.slave, { at: now, job_id: lease.jobId, task_id: lease.taskId, attempt: lease.attempt, state: "INFRA_FAILED", message: report.message });
    }
    // The sweep may have taken the lease back meanwhile (it skips leases being reported, but not a restart's): count it once.
    if (this.leases.delete(lease.leaseId)) this.queue.finished(lease.user, lease.jobId);
    if (outcome.next && open && task) await this.requeue(open, task, outcome.next, outcome.expectedMs, now);
    else this.settle(lease.jobId);
    return { ok: true, duplicate: !outcome.changed, stale: false };
  }

  /**
   * Queues an attempt just stored; unless the job was canceled while it was
   * being stored, in which case it ends CANCELED instead of waiting forever.
   */
  private async requeue(open: OpenJob, task: Task, next: Attempt, expectedMs: number, now: number): Promise<void> {
    if (open.job.canceledAt !== null) {
      await this.repo.updateAttempt(next.jobId, next.taskId, next.attempt, { state: "CANCELED", message: "[canceled]", reportedAt: now }, ["QUEUED"]);
      this.settle(next.jobId);
      return;
    }
    // One attempt ended, the next is queued: the job's active count is unchanged.
    this.queue.put([this.item(open.job, task, next, expectedMs)]);
    this.wake();
    // In beanstalkd before the report is answered: the slave that sent it reserves again at once, and the retry must be there to go first.
    await this.feeder?.idle();
  }

  /** An attempt of the job ended for good; the job's entry goes once none is queued or leased. */
  private settle(jobId: string, count = 1): void {
    const open = this.open.get(jobId);
    if (!open) return;
    open.active -= count;
    if (open.active <= 0) {
      this.open.delete(jobId);
      this.paces.forget(jobId);
    }
  }

  /**
   * The attempt after one that ended in `state`, or null: a failed test is
   * retried while retries remain; an infrastructure failure is requeued
   * without spending one, a bounded number of times.
   */
  private async nextAttempt(repo: Repo, lease: ActiveLease, task: Task, state: AttemptState, now: number): Promise<Attempt | null> {
    let retry: number;
    if (state === "FAILED" || state === "TIMED_OUT") {
      if (lease.retry >= task.maxRetries) return null;
      retry = lease.retry + 1;
    } else if (state === "INFRA_FAILED" || state === "SLAVE_LOST") {
      // The task's own attempts only: the whole job's, read per lost lease, held the master for a second on a 100,000-task job.
      const attempts = (await repo.getAttempts(lease.jobId, { from: task.index, to: task.index + 1 })).filter((a) => a.taskId === lease.taskId);
      const infra = attempts.filter((a) => a.state === "INFRA_FAILED" || a.state === "SLAVE_LOST").length;
      if (infra > this.config.maxInfraRequeues) return null;
      retry = lease.retry;
    } else {
      return null;
    }
    return newAttempt(lease.jobId, lease.taskId, lease.attempt + 1, retry, now);
  }

  /**
   * Periodic upkeep: leases not heartbeated in time end SLAVE_LOST and their
   * tasks are queued again at once; tasks no live slave can run for too long
   * end NO_RESOURCE.
   */
  async sweep(): Promise<void> {
    const now = this.clock.now();
    for (const lease of [...this.leases.values()]) {
      // A lease whose result is being stored is not lost, however late its heartbeat.
      if (lease.expiresAt > now || this.reporting.has(lease.leaseId)) continue;
      this.leases.delete(lease.leaseId);
      this.queue.finished(lease.user, lease.jobId);
      this.slaves.markLost(lease.slave);
      this.slaves.infraFailure(lease.slave, { at: now, job_id: lease.jobId, task_id: lease.taskId, attempt: lease.attempt, state: "SLAVE_LOST", message: `slave ${lease.slave} stopped heartbeating` });
      const open = this.open.get(lease.jobId);
      const task = open?.tasks.get(lease.taskId);
      const next = await this.repo.transaction(async (repo) => {
        const changed = await repo.updateAttempt(lease.jobId, lease.taskId, lease.attempt, {
          state: "SLAVE_LOST", message: `slave ${lease.slave} stopped heartbeating`, reportedAt: now, leaseExpiresAt: null,
        }, [...ACTIVE_STATES]);
        if (!changed || !task || !open || open.job.canceledAt !== null) return null;
        const attempt = await this.nextAttempt(repo, lease, task, "SLAVE_LOST", now);
        if (attempt) await repo.insertAttempt(attempt);
        return attempt;
      });
      this.observer?.attemptEnded({
        jobId: lease.jobId, taskId: lease.taskId, attempt: lease.attempt, slave: lease.slave, state: "SLAVE_LOST",
        queuedAt: lease.queuedAt, leasedAt: lease.leasedAt, times: { fetch_done_at: null, map_done_at: null, command_start_at: null, command_end_at: null, upload_done_at: null }, cache: null, reportedAt: now,
      });
      this.log.warn(`lease ${lease.leaseId} of slave ${lease.slave} expired; ${next ? "task queued again" : "not requeued"}`, { job_id: lease.jobId, task_id: lease.taskId, attempt: lease.attempt });
      if (next && open && task) await this.requeue(open, task, next, 0, now);
      else this.settle(lease.jobId);
    }
    await this.expireUnrunnable(now);
    if (this.feeder) await this.feeder.recoverLost().catch((err) => this.log.debug(`checking beanstalkd for lost offers failed: ${(err as Error).message}`));
  }

  private async expireUnrunnable(now: number): Promise<void> {
    const expired = new Set<string>();
    const sets = this.queue.dimensionSets();
    // Offers sit in beanstalkd, out of the fair queue, but wait for a slave all the same.
    for (const offer of this.feeder?.waiting() ?? []) {
      const key = this.queue.dimensionsKeyOf(offer.item);
      if (!sets.some((d) => d.key === key)) sets.push({ key, dimensions: offer.item.dimensions, count: 0 });
    }
    for (const key of this.unmatchedSince.keys()) if (!sets.some((d) => d.key === key)) this.unmatchedSince.delete(key);
    for (const { key, dimensions } of sets) {
      if (this.slaves.canRun(dimensions, now)) {
        this.unmatchedSince.delete(key);
        continue;
      }
      const since = this.unmatchedSince.get(key) ?? now;
      this.unmatchedSince.set(key, since);
      if (now - since >= this.config.noResourceTimeoutMs) expired.add(key);
    }
    // Only a dimension set no slave could run for the whole timeout costs a pass over the waiting items.
    if (expired.size === 0) return;
    const unrunnable = (item: QueueItem) => expired.has(this.queue.dimensionsKeyOf(item)) && now - item.queuedAt >= this.config.noResourceTimeoutMs;
    const withdrawn = (await this.feeder?.withdraw((o) => unrunnable(o.item)).catch(() => [])) ?? [];
    for (const { item } of withdrawn) this.queue.finished(item.user, item.jobId);
    const victims = [...this.queue.waiting()].filter(unrunnable);
    for (const item of victims) this.queue.remove(item.jobId, item.taskId, item.attempt);
    const why = new Map<string, string>();
    for (const item of [...withdrawn.map((o) => o.item), ...victims]) {
      this.settle(item.jobId);
      const key = this.queue.dimensionsKeyOf(item);
      if (!why.has(key)) why.set(key, this.slaves.whyNoneCanRun(item.dimensions, key, now));
      await this.repo.updateAttempt(item.jobId, item.taskId, item.attempt, {
        state: "NO_RESOURCE", reportedAt: now, message: `${why.get(key)} (waited ${Math.round((now - item.queuedAt) / 1000)} s)`,
      }, ["QUEUED"]);
    }
  }

  /**
   * dist_test's /retry_task: queues another attempt of a task whose latest
   * attempt failed, if retries remain and none is queued or running. Returns
   * whether it did; asking twice never makes two attempts. dt's master
   * retries failed attempts itself as they are reported, so for its own
   * slaves this finds nothing to do; it is kept for dist_test's callers.
   */
  async retryTask(jobId: string, taskId: string): Promise<boolean> {
    const open = this.open.get(jobId);
    const task = open?.tasks.get(taskId);
    if (!open || !task || open.job.canceledAt !== null) return false;
    const now = this.clock.now();
    const next = await this.repo.transaction(async (repo) => {
      const group = (await repo.getAttempts(jobId, { from: task.index, to: task.index + 1 })).filter((a) => a.taskId === taskId);
      const last = group[group.length - 1];
      if (!last || (last.state !== "FAILED" && last.state !== "TIMED_OUT") || last.retry >= task.maxRetries) return null;
      const attempt = newAttempt(jobId, taskId, last.attempt + 1, last.retry + 1, now);
      await repo.insertAttempt(attempt);
      return attempt;
    });
    if (!next) return false;
    open.active++;
    await this.requeue(open, task, next, 0, now);
    return true;
  }

  /** Cancel: waiting attempts end CANCELED now; running ones are killed through their slaves' next heartbeat. */
  async cancelJob(jobId: string, now: number): Promise<void> {
    const open = this.open.get(jobId);
    if (open) open.job = { ...open.job, canceledAt: now };
    const removed = this.queue.removeJob(jobId);
    // Offers too: taken from the queue, but no slave claimed them yet.
    const withdrawn = (await this.feeder?.withdraw((o) => o.item.jobId === jobId)) ?? [];
    for (const { item } of withdrawn) this.queue.finished(item.user, jobId);
    // Every attempt still QUEUED in the database is one of those, or one whose lease or retry is being stored now and, seeing the cancel, ends it itself.
    await this.cancelQueued(jobId, now);
    this.settle(jobId, removed.length + withdrawn.length);
  }

  /**
   * A log append or an output upload for a lease comes from the slave
   * running it, so it proves the lease alive as a heartbeat does: a slave
   * busy streaming a chatty task's output keeps the lease even when a
   * heartbeat is late. In memory only, as a heartbeat without a phase change.
   */
  extendLease(leaseId: string): void {
    const lease = this.leases.get(leaseId);
    if (lease) lease.expiresAt = Math.max(lease.expiresAt, this.clock.now() + this.config.leaseTtlMs);
  }

  /**
   * What an active lease is for and which slave holds it (none yet for an
   * offer in beanstalkd); undefined when the master does not hold it
   * (expired, reported, unknown).
   */
  leaseTarget(leaseId: string): { jobId: string; taskId: string; attempt: number; slave?: string } | undefined {
    const lease = this.leases.get(leaseId);
    if (lease) return { jobId: lease.jobId, taskId: lease.taskId, attempt: lease.attempt, slave: lease.slave };
    // A slave fed by beanstalkd may send output before its first heartbeat got through (the master was restarting).
    const offered = this.feeder?.peek(leaseId)?.item;
    return offered && { jobId: offered.jobId, taskId: offered.taskId, attempt: offered.attempt };
  }

  /** Attempts held by slaves now. */
  get activeLeases(): number {
    return this.leases.size;
  }

  /** Live, non-draining slaves with a free slot, counted from the leases they hold now. */
  idleSlaves(): number {
    const now = this.clock.now();
    return this.slaves.list().filter((s) => this.slaves.isLive(s, now) && !this.slaves.holds(s.identity.name) && this.runningOn(s.identity.name) < s.identity.slots).length;
  }

  /** The leases on a slave, for the slaves view. */
  leasesOf(slave: string): { job_id: string; task_id: string; attempt: number }[] {
    return [...this.leases.values()].filter((l) => l.slave === slave).map((l) => ({ job_id: l.jobId, task_id: l.taskId, attempt: l.attempt }));
  }

  /**
   * Seconds left in a job (see eta.ts): its running attempts and its queued
   * ones (offers in beanstalkd first, then the fair queue's order), on its
   * own slots plus the live ones no other job holds. Null when nothing of
   * the job has a known or observed duration.
   */
  estimateRemainingSec(jobId: string): number | null {
    const now = this.clock.now();
    const queued = [...(this.feeder?.waiting() ?? [])].map((o) => o.item).filter((i) => i.jobId === jobId);
    const waiting = [...this.queue.waiting()].filter((i) => i.jobId === jobId);
    // The order matters to the replay only; a queue too long for it is summed (see eta.ts), and a sort of 100,000 items per summary is not free.
    if (waiting.length <= MAX_REPLAYED) waiting.sort((a, b) => Number(b.isRetry) - Number(a.isRetry) || b.expectedMs - a.expectedMs);
    const running: { expectedMs: number; leasedAt: number }[] = [];
    let othersHold = 0;
    for (const l of this.leases.values()) {
      if (l.jobId === jobId) running.push({ expectedMs: l.expectedMs, leasedAt: l.leasedAt });
      else othersHold++;
    }
    const slots = Math.max(running.length, this.slaves.liveSlots(now) - othersHold);
    const ms = estimateRemainingMs({ now, queuedMs: [...queued, ...waiting].map((i) => i.expectedMs), running, slots, observed: this.paces.get(jobId) });
    return ms === null ? null : ms / 1000;
  }

  close(): void {
    this.feeder?.close();
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.resolve([]);
    }
    this.waiters.clear();
  }
}

/** A fresh QUEUED attempt. */
export function newAttempt(jobId: string, taskId: string, attempt: number, retry: number, now: number): Attempt {
  return {
    jobId, taskId, attempt, retry, state: "QUEUED", slave: null, leaseId: null, leaseExpiresAt: null,
    queuedAt: now, leasedAt: null, fetchDoneAt: null, mapDoneAt: null, commandStartAt: null, commandEndAt: null, uploadDoneAt: null, reportedAt: null,
    exitCode: null, stdoutKey: null, stderrKey: null, artifactKey: null, artifactMissing: false, cache: null, outputsRef: null, message: null,
  };
}
