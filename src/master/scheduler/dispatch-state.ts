import type { CaseSelection } from "../cases/case-filter.ts";
import type { Clock } from "../../common/clock.ts";
import type { SerialLock } from "../../common/concurrency.ts";
import type { Logger } from "../../common/log.ts";
import type { Attempt, AttemptState, Job, Task } from "../model.ts";
import type { AutoQuarantineConfig } from "../quarantine/auto.ts";
import type { Lease, LeaseRequest, ResultReport, ResultResponse, SlavePhase } from "../protocol.ts";
import type { Repo } from "../repo/repo.ts";
import type { InFlight } from "../reuse/in-flight.ts";
import type { Feeder } from "../queue/feeder.ts";
import type { EtaObservations } from "./eta.ts";
import type { FairQueue, QueueItem } from "./fair-queue.ts";
import type { SlaveRegistry } from "./slave-registry.ts";

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
  /** `dt master --auto-quarantine`: quarantine cases whose flake rate reaches a rate (quarantine/auto.ts); off when absent. */
  autoQuarantine?: AutoQuarantineConfig;
  /** `dt master --reuse-max-age`: the oldest result an idempotent task may reuse (ms); 0 turns reuse off; default DEFAULT_REUSE_MAX_AGE_MS. */
  reuseMaxAgeMs?: number;
}

/**
 * 2,000 rows: one batch takes 10–30 ms on SQLite and one round trip of a
 * few tens of ms on MariaDB, so a request arriving meanwhile waits about
 * that long, while a 100,000-row cancel costs 50 statements, not 100,000.
 */
export const DEFAULT_BULK_BATCH_ROWS = 2_000;

export interface ActiveLease {
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
  /** The cases the attempt runs when they are not its task's (a retry's; Attempt.caseSelection), so a report needs no read of the row for them. */
  caseSelection: CaseSelection | null;
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

/** Idempotent tasks' lookups (docs/reuse.md): found a result, found none, took the result of a run in flight. */
export interface ReuseCounts {
  hits: number;
  misses: number;
  coalesced: number;
}

/** Told of what the dispatcher does, for metrics; must not throw. */
export interface DispatcherObserver {
  attemptEnded(event: AttemptEnded): void;
  reuseCounted?(counts: ReuseCounts): void;
}

export interface Waiter {
  request: LeaseRequest;
  /** When the long-poll ends empty-handed, whatever wakes it before. */
  deadline: number;
  /** The HTTP request's signal: aborted when the slave hangs up. */
  signal?: AbortSignal;
  resolve: (leases: Lease[]) => void;
  timer: ReturnType<typeof setTimeout>;
}

export interface OpenJob {
  job: Job;
  tasks: Map<string, Task>;
  /** Attempts queued or leased; the entry is dropped when this reaches 0, so finished jobs cost no memory. */
  active: number;
}

/**
 * What the Dispatcher's transitions (./transitions/) share: the queue, the
 * leases and open jobs in memory, and the stores, clock and config they
 * write through. The Dispatcher holds one; each transition is a function
 * taking it.
 */
export interface DispatchState {
  readonly queue: FairQueue;
  readonly slaves: SlaveRegistry;
  readonly leases: Map<string, ActiveLease>;
  readonly waiters: Set<Waiter>;
  /** Reports being stored, by lease: a duplicate waits for the first instead of applying twice. */
  readonly reporting: Map<string, Promise<ResultResponse>>;
  readonly open: Map<string, OpenJob>;
  /** Dimension sets with waiting work and since when no live slave could run them. */
  readonly unmatchedSince: Map<string, number>;
  /** Set once, by the Dispatcher's constructor, when there is an external queue. */
  feeder: Feeder | undefined;
  /** Claims being stored, by lease: a heartbeat and a result naming the same offer share one. */
  readonly claiming: Map<string, Promise<ActiveLease | null>>;
  /** What open jobs' finished attempts took against history, for their estimates. */
  readonly paces: EtaObservations;
  /**
   * The auto-quarantine's decisions, one at a time (quarantine/auto.ts):
   * two reports making the same case flaky at once would each find no entry
   * and add one, and removing one would leave the case quarantined.
   */
  readonly autoQuarantineLock: SerialLock;
  /** Identical idempotent tasks running now and the tasks waiting for them (reuse/in-flight.ts). */
  readonly inFlight: InFlight;
  readonly repo: Repo;
  readonly clock: Clock;
  readonly config: DispatcherConfig;
  readonly log: Logger;
  readonly newId: () => string;
  readonly observer?: DispatcherObserver;
}

export function queueItem(state: DispatchState, job: Job, task: Task, attempt: Attempt, expectedMs: number): QueueItem {
  return {
    jobId: job.id, taskId: task.taskId, attempt: attempt.attempt, retry: attempt.retry, user: job.user,
    priority: job.priority + task.priority, isRetry: attempt.attempt > 0, expectedMs,
    seq: state.queue.seq(), queuedAt: attempt.queuedAt, dimensions: task.dimensions, caseSelection: attempt.caseSelection,
  };
}

/** An attempt of the job ended for good; the job's entry goes once none is queued or leased. */
export function settle(state: DispatchState, jobId: string, count = 1): void {
  const open = state.open.get(jobId);
  if (!open) return;
  open.active -= count;
  if (open.active <= 0) {
    state.open.delete(jobId);
    state.paces.forget(jobId);
  }
}

/** An item taken from the queue (leased or offered) goes back into it: the lease or offer did not happen. */
export function untake(state: DispatchState, item: QueueItem): void {
  state.queue.finished(item.user, item.jobId);
  state.queue.put([item]);
}

/** An item taken from the queue ended without running (its job was canceled meanwhile, or it was withdrawn). */
export function dropTaken(state: DispatchState, item: QueueItem): void {
  state.queue.finished(item.user, item.jobId);
  settle(state, item.jobId);
}

/** A fresh QUEUED attempt. */
export function newAttempt(jobId: string, taskId: string, attempt: number, retry: number, now: number): Attempt {
  return {
    jobId, taskId, attempt, retry, state: "QUEUED", slave: null, leaseId: null, leaseExpiresAt: null,
    queuedAt: now, leasedAt: null, fetchDoneAt: null, mapDoneAt: null, commandStartAt: null, commandEndAt: null, uploadDoneAt: null, reportedAt: null,
    exitCode: null, stdoutKey: null, stderrKey: null, artifactKey: null, artifactMissing: false, cache: null, outputsRef: null, message: null, caseSelection: null, quarantined: false, reusedFrom: null,
  };
}
