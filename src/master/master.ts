import type { Clock } from "../common/clock.ts";
import { yieldToEventLoop } from "../common/concurrency.ts";
import { DtError } from "../common/errors.ts";
import { MemoryReclaimer } from "../common/reclaim.ts";
import type { Logger } from "../common/log.ts";
import type { ArtifactStore } from "./artifacts/artifact-store.ts";
import type { OutputsReader } from "./outputs-reader.ts";
import type { LiveLogs } from "./artifacts/live-logs.ts";
import { readAttemptLog, scanAttemptLog } from "./artifacts/attempt-log.ts";
import { type ValidJob, validateJobRequest } from "./jobs/job-request.ts";
import { expandAutoShards } from "./jobs/auto-shards.ts";
import { taskKey } from "./reuse/task-key.ts";
import { DEFAULT_REUSE_MAX_AGE_MS, planReuse } from "./reuse/submit-reuse.ts";
import { type ManifestCheck, checkJobManifests } from "./jobs/manifest-check.ts";
import { groupAttempts, type DistTestJobStatus } from "./jobs/status.ts";
import { type JobStatusEntry, JobStatusCache, SUMMARY_SLICE_TASKS, readAllAttempts, readAllTasks } from "./jobs/status-cache.ts";
import type { Attempt, Job, Task } from "./model.ts";
import { type AttemptView, type JobCounts, type JobCreated, type JobFlagView, type JobSummary, type QueueInfo, type SlaveCommand, type SlaveState, type SlaveView, type TaskView } from "./protocol.ts";
import { DecisionLog } from "./autoscale/decision-log.ts";
import { attemptView, taskView } from "./jobs/task-views.ts";
import { ChangeTracker } from "./repo/change-tracking.ts";
import { type ChangeWaitLimits, ChangeWaiters } from "./jobs/change-waiters.ts";
import type { JobFilter, Repo } from "./repo/repo.ts";
import type { SlaveRecord } from "./scheduler/slave-registry.ts";
import { Dispatcher, type DispatcherConfig, type DispatcherObserver, type ExternalQueue, newAttempt, type RebuildProgress } from "./scheduler/dispatcher.ts";

export interface MasterDeps {
  repo: Repo;
  artifacts: ArtifactStore;
  liveLogs: LiveLogs;
  clock: Clock;
  log: Logger;
  newId: () => string;
  /** The URL clients and slaves reach the master at; used in links. */
  publicUrl: string;
  dispatch: DispatcherConfig;
  /** Checks the manifests a submitted job names (see manifest-check.ts); none when the master does not serve the CAS. */
  checkManifest?: ManifestCheck;
  /** Reads outputs manifests for the outputs page; none: the page names the manifest without listing it. */
  outputs?: OutputsReader;
  /** How long a submit may look at manifests (see CHECK_BUDGET_MS); tests shorten it. */
  manifestCheckBudgetMs?: number;
  /** beanstalkd for slaves to reserve from, with the address they are told; none: slaves long-poll the master. */
  externalQueue?: ExternalQueue & { address: string };
  /** Told of every attempt that ends on a slave (metrics). */
  observer?: DispatcherObserver;
  /** Bounds on held job long-polls (GET /jobs/:job?wait_version=); default DEFAULT_CHANGE_WAIT_LIMITS. */
  changeWaits?: ChangeWaitLimits;
  /** Default: one running Bun.gc(true). */
  reclaimer?: MemoryReclaimer;
}

/** Endings a watching client is told of as they happen. */
const TROUBLE_STATES: ReadonlySet<string> = new Set(["FAILED", "TIMED_OUT", "SLAVE_LOST", "INFRA_FAILED", "NO_RESOURCE"]);

/**
 * An ETA is reused this long for an unchanged job: well under a second, so a
 * terminal's line (redrawn each poll interval) still sees it move, while a
 * crowd of watchers woken together costs one walk of the queue.
 */
const ETA_REUSE_MS = 250;

/**
 * Tasks one trouble_since answer lists at most (and its default): a job of
 * 100,000 failing tasks would otherwise be a 150 MB answer, read again on
 * every call; a client wanting more asks from the last one it got.
 */
export const MAX_TROUBLES = 1_000;

/** How often leases and NO_RESOURCE are checked; well under any lease TTL. */
const SWEEP_INTERVAL_MS = 1_000;

/**
 * The master's behaviour, independent of HTTP: jobs in, leases out, results
 * back, and every view of them. The HTTP layers (native API, slave protocol,
 * dist_test's API, HTML) are thin adapters over this.
 */
export class Master {
  readonly dispatcher: Dispatcher;
  /** What autoscalers decided lately, for the index page. */
  readonly decisions = new DecisionLog();
  /** Collects after a big job's submit or reads, so their garbage's pages go back to the OS (common/reclaim.ts). */
  readonly reclaimer: MemoryReclaimer;
  private sweepTimer: ReturnType<typeof setInterval> | undefined;
  private sweeping: Promise<void> | undefined;
  /** Where start()'s rebuild is while it runs; null before start() and once it is done. */
  private rebuilding: RebuildProgress | null = null;
  private rebuilt: Promise<void> = Promise.resolve();
  /** Why start()'s rebuild failed, if it did. */
  private rebuildFailure: Error | null = null;

  /** Counts writes per job, so summaries are recomputed only when something changed. */
  private readonly changes = new ChangeTracker();
  /** Each job's counts as last read, by its change version (jobs/status-cache.ts). */
  private readonly statuses: JobStatusCache;
  /** Job status requests held until their job changes. */
  readonly changeWaiters: ChangeWaiters;
  /**
   * Versions count from 0 in each life of the master; this prefix makes a
   * version from before a restart never equal one after it, so a client
   * holding an old one is answered at once.
   */
  private readonly bootId: string;

  constructor(readonly deps: MasterDeps) {
    this.deps = { ...deps, repo: this.changes.wrap(deps.repo) };
    this.changeWaiters = new ChangeWaiters(this.changes, deps.changeWaits);
    this.reclaimer = deps.reclaimer ?? new MemoryReclaimer();
    this.statuses = new JobStatusCache(this.deps.repo, this.changes, this.reclaimer);
    this.bootId = deps.newId().replace(/[^A-Za-z0-9]/g, "").slice(0, 8) || "0";
    this.dispatcher = new Dispatcher(this.deps.repo, deps.clock, deps.dispatch, deps.log, deps.newId, deps.externalQueue, deps.observer);
  }

  /**
   * Rebuilds the queue from the database and starts the periodic sweep.
   * The HTTP server may serve meanwhile: `ready` says whether this is done,
   * and requests that change the queue wait for it (see whenReady).
   */
  async start(): Promise<void> {
    this.rebuilding = { jobsDone: 0, jobsTotal: 0 };
    // A failed rebuild leaves the master not ready for good (start() throws, and the server stops): the dispatcher knows only part of the queue.
    this.rebuilt = this.dispatcher.rebuild((p) => (this.rebuilding = p)).then(
      () => void (this.rebuilding = null),
      (err) => {
        this.rebuildFailure = err as Error;
        throw err;
      },
    );
    await this.rebuilt;
    this.dispatcher.startFeeding();
    this.sweepTimer = setInterval(() => {
      this.sweeping ??= this.dispatcher.sweep().catch((err) => this.deps.log.error("sweep failed", err)).finally(() => (this.sweeping = undefined));
    }, SWEEP_INTERVAL_MS);
  }

  /** False while start() rebuilds the queue: the dispatcher then knows only part of the jobs, leases and offers. */
  get ready(): boolean {
    return this.rebuilding === null;
  }

  /** Resolves true once no rebuild runs (at once if none does), or false after `timeoutMs`. */
  async whenReady(timeoutMs: number): Promise<boolean> {
    if (this.ready) return true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    try {
      return await Promise.race([this.rebuilt.then(() => true, () => false), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** For /readyz: resolves once the queue is rebuilt, rejects saying how far the rebuild got before. */
  async checkRebuilt(): Promise<void> {
    const p = this.rebuilding;
    if (this.rebuildFailure) throw new DtError("unreachable", `rebuilding the queue from the database failed: ${this.rebuildFailure.message}`);
    if (p) throw new DtError("unreachable", `rebuilding the queue from the database: ${p.jobsDone} of ${p.jobsTotal} jobs`);
  }

  async stop(): Promise<void> {
    this.changeWaiters.close();
    this.reclaimer.close();
    clearInterval(this.sweepTimer);
    await this.sweeping;
    this.dispatcher.close();
  }

  /** Validates, stores and queues a job; nothing is stored from a rejected one. */
  async submitJob(raw: unknown, defaults: { user?: string } = {}): Promise<JobCreated> {
    return this.submitValidJob(validateJobRequest(raw), defaults);
  }

  /** submitJob for a request already checked by validateJobRequest (dist_test's adapter names its fields itself). */
  async submitValidJob(checked: ValidJob, defaults: { user?: string } = {}): Promise<JobCreated> {
    // `shards: "auto"` tasks become their planned shards (jobs/auto-shards.ts): that needs the binaries' case history.
    const valid = await expandAutoShards(checked, this.deps.repo, this.deps.log, undefined, (dimensions) => this.dispatcher.slaves.liveSlots(this.deps.clock.now(), dimensions));
    const now = this.deps.clock.now();
    // A user read out of a dist_test job id is not checked like a given one: keep it to the database's 64 characters.
    const user = (valid.user ?? defaults.user ?? "anonymous").slice(0, 64);
    const jobId = valid.jobId ?? `${valid.name ? `${valid.name}.` : ""}${user}.${Math.floor(now / 1000)}.${this.deps.newId().slice(0, 8)}`;
    // Both databases key jobs by 100 characters (a given job_id is checked against that already).
    if (jobId.length > 100) throw new DtError("invalid_input", `name: with the user, makes a job id of ${jobId.length} characters, more than 100; give a shorter name or a job_id`);
    if (this.deps.checkManifest) {
      const { manifests, unchecked } = await checkJobManifests(valid.tasks, this.deps.checkManifest, this.deps.manifestCheckBudgetMs);
      if (unchecked > 0) this.deps.log.warn(`job ${jobId}: ${unchecked} of its ${manifests} manifests not checked in the CAS (out of time); slaves fail a task whose manifest is missing`, { job_id: jobId });
    }
    const job: Job = { id: jobId, user, name: valid.name, priority: valid.priority, createdAt: now, canceledAt: null };
    // The key of what decides an idempotent task's result, once the task is final (auto shards planned): reuse/task-key.ts.
    // A job's `reuse: false` runs every task: its idempotent tasks' results are kept, but none takes another's.
    const tasks: Task[] = valid.tasks.map((t) => ({ ...t, jobId, taskKey: t.idempotent ? taskKey(t) : null, idempotent: t.idempotent && valid.reuse !== false }));
    const maxAgeMs = this.deps.dispatch.reuseMaxAgeMs ?? DEFAULT_REUSE_MAX_AGE_MS;
    const plan = await planReuse(this.deps.repo, this.dispatcher.inFlight, { jobId, tasks, attempts: tasks.map((t) => newAttempt(jobId, t.taskId, 0, 0, now)), reuse: valid.reuse, maxAgeMs, now });
    const { attempts } = plan;
    // The job and its reused tasks' cases together: a restart never finds a reused task without its cases.
    if (plan.links.length === 0) await this.deps.repo.createJob(job, tasks, attempts);
    else {
      await this.deps.repo.transaction(async (repo) => {
        await repo.createJob(job, tasks, attempts);
        await repo.linkReusedCases(jobId, plan.links);
      });
    }
    if (plan.hits + plan.misses > 0) this.deps.observer?.reuseCounted?.({ hits: plan.hits, misses: plan.misses, coalesced: 0 });
    // An auto shard's planned time orders the queue (longest first) and feeds the job's ETA.
    const plannedMs = valid.plannedMs && new Map([...valid.plannedMs].map(([index, ms]) => [tasks[index]!.taskId, ms]));
    await this.dispatcher.addJob(job, tasks, attempts, plannedMs);
    // The request, its validation's copies and the rows written are garbage now: ~100 MB for 100,000 tasks.
    this.reclaimer.after(tasks.length);
    const reused = plan.hits > 0 || plan.waiting > 0 ? ` (${plan.hits} reused, ${plan.waiting} waiting for identical tasks in flight)` : "";
    this.deps.log.info(`job ${jobId}: ${tasks.length} tasks queued${reused}`, { job_id: jobId, tasks: tasks.length, user, reused: plan.hits, waiting: plan.waiting });
    return { job_id: jobId, url: this.jobUrl(jobId), tasks: tasks.length };
  }

  jobUrl(jobId: string): string {
    return `${this.deps.publicUrl}/job?job_id=${encodeURIComponent(jobId)}`;
  }

  async requireJob(jobId: string): Promise<Job> {
    const job = await this.deps.repo.getJob(jobId);
    if (!job) throw new DtError("not_found", `no job ${JSON.stringify(jobId)}; check the id (dt jobs lists recent ones)`);
    return job;
  }

  async cancelJob(jobId: string): Promise<JobSummary> {
    const job = await this.requireJob(jobId);
    if (job.canceledAt === null) {
      const now = this.deps.clock.now();
      await this.deps.repo.setJobCanceled(jobId, now);
      await this.dispatcher.cancelJob(jobId, now);
      this.deps.log.info(`job ${jobId} canceled`, { job_id: jobId });
    }
    return this.jobSummary(jobId);
  }

  /** dist_test's /retry_task; see Dispatcher.retryTask. */
  async retryTask(jobId: string, taskId: string): Promise<boolean> {
    await this.requireJob(jobId);
    return this.dispatcher.retryTask(jobId, taskId);
  }

  /** The index page's and dist_test's headline numbers. */
  queueStats(): { queued: number; running: number; idleSlaves: number } {
    const stats = this.dispatcher.queue.stats();
    // Offers in beanstalkd count as taken in the fair queue, but no slave runs them yet.
    const offered = this.dispatcher.feeder?.size ?? 0;
    return { queued: stats.queued + offered, running: stats.running - offered, idleSlaves: this.dispatcher.idleSlaves() };
  }

  /** What slaves are told about where to get work. */
  queueInfo(): QueueInfo {
    const q = this.deps.externalQueue;
    return q ? { kind: "beanstalk", address: q.address, tube_prefix: q.feeder.tubePrefix, ttr_sec: q.feeder.ttrSec } : { kind: "master" };
  }

  /**
   * The job's summary once its change version differs from `seenVersion`
   * (at once if it already does, or the job is finished), else after
   * `waitMs` unchanged; `signal` is the client's connection.
   */
  async jobSummaryAfter(jobId: string, seenVersion: string, waitMs: number, signal?: AbortSignal): Promise<JobSummary> {
    const first = await this.jobSummary(jobId);
    if (first.status === "finished" || first.change_version !== seenVersion) return first;
    // Checked with no await before the waiter is registered, so a change during the read above is not missed.
    if (this.changeVersion(jobId) !== seenVersion) return this.jobSummary(jobId);
    await this.changeWaiters.wait(jobId, waitMs, signal);
    return this.jobSummary(jobId);
  }

  /** The opaque token a summary carries as `change_version`: it changes whenever anything of the job is written, and with every master start. */
  changeVersion(jobId: string): string {
    return `${this.bootId}.${this.changes.version(jobId)}`;
  }

  /**
   * An opaque token that changes whenever any job or attempt is written (and
   * differs across restarts), read from memory: what a view of many jobs (the
   * index page's live region) compares to learn that nothing changed without
   * reading the database.
   */
  changesVersion(): string {
    return `${this.bootId}.${this.changes.total}`;
  }

  /** `estimate: false` leaves the ETA out (null): it walks the queue, and a page that does not show it need not pay for it. */
  async jobSummary(jobId: string, options: { estimate?: boolean } = {}): Promise<JobSummary> {
    const version = this.changeVersion(jobId);
    const found = await this.statuses.get(jobId);
    if (!found) throw new DtError("not_found", `no job ${JSON.stringify(jobId)}; check the id (dt jobs lists recent ones)`);
    const { job, counts, flags } = found;
    return {
      change_version: version,
      job_id: job.id, user: job.user, name: job.name, priority: job.priority, created_at: job.createdAt, canceled_at: job.canceledAt,
      status: counts.finished === counts.total_tasks ? "finished" : "running", counts,
      estimated_remaining_sec: counts.finished === counts.total_tasks ? 0 : options.estimate === false ? null : this.estimateOf(jobId, found),
      finished_at: counts.finished === counts.total_tasks ? found.lastChangeAt : null,
      url: this.jobUrl(jobId),
      flags,
    };
  }

  /**
   * The job's ETA, computed at most once per ETA_REUSE_MS for one version of
   * the job: the estimate walks the whole queue (about 10 ms with 100,000
   * attempts queued), and every watcher woken by one change asks for it.
   */
  private estimateOf(jobId: string, entry: JobStatusEntry): number | null {
    const now = this.deps.clock.now();
    if (entry.eta && now - entry.eta.at >= 0 && now - entry.eta.at < ETA_REUSE_MS) return entry.eta.sec;
    const sec = this.dispatcher.estimateRemainingSec(jobId);
    entry.eta = { at: now, sec };
    return sec;
  }

  async listJobs(filter: JobFilter, options: { estimate?: boolean } = {}): Promise<JobSummary[]> {
    const jobs = await this.deps.repo.listJobs(filter);
    return Promise.all(jobs.map((j) => this.jobSummary(j.id, options)));
  }

  /** The job's flags as its summary lists them (none for an unknown job). */
  async jobFlags(jobId: string): Promise<JobFlagView[]> {
    return (await this.statuses.get(jobId))?.flags ?? [];
  }

  /** dist_test's `/job_status` summary. */
  async distTestStatus(jobId: string): Promise<DistTestJobStatus | null> {
    return (await this.statuses.get(jobId))?.distTest ?? null;
  }

  /** The native API's counts of the job, read as its summary reads them (null for an unknown job), without the summary's ETA. */
  async jobCounts(jobId: string): Promise<JobCounts | null> {
    return (await this.statuses.get(jobId))?.counts ?? null;
  }

  async jobTasks(jobId: string): Promise<{ job: Job; tasks: TaskView[] }> {
    const job = await this.requireJob(jobId);
    const views: TaskView[] = [];
    // Read and made views a slice at a time with the event loop free after each: 100,000 tasks in one piece held it for seconds.
    for (let from = 0; ; from += SUMMARY_SLICE_TASKS) {
      const slice = await this.taskViewsIn(job, { from, to: from + SUMMARY_SLICE_TASKS });
      for (const view of slice.values()) views.push(view);
      await yieldToEventLoop();
      if (slice.size < SUMMARY_SLICE_TASKS) return { job, tasks: views };
    }
  }

  /**
   * One page of a job's tasks with all their attempts: those whose index is
   * in [from, from + limit), and the index the next page starts at (null
   * after the last). What a page reads is bounded by `limit`, however big
   * the job: the paged API, and the whole list streamed a page at a time.
   */
  async jobTasksPage(jobId: string, from: number, limit: number): Promise<{ job: Job; tasks: TaskView[]; next: number | null }> {
    const job = await this.requireJob(jobId);
    const views = await this.taskViewsIn(job, { from, to: from + limit });
    return { job, tasks: [...views.values()], next: views.size < limit ? null : from + limit };
  }

  /**
   * The tasks of `job` whose index is in [from, to), with all their
   * attempts, by index (in index order); with `keep`, only the tasks it
   * keeps are made views. Two reads, however many tasks.
   */
  async taskViewsIn(job: Job, range: { from: number; to: number }, keep: (index: number) => boolean = () => true): Promise<Map<number, TaskView>> {
    const [tasks, attempts] = await Promise.all([this.deps.repo.getTasks(job.id, range), this.deps.repo.getAttempts(job.id, range)]);
    const groups = groupAttempts(attempts);
    const kept = tasks.filter((t) => keep(t.index));
    const views = await Promise.all(kept.map((t) => taskView(t, groups.get(t.taskId) ?? [], job, (a) => this.attemptView(a))));
    return new Map(kept.map((t, i) => [t.index, views[i]!]));
  }

  /**
   * The tasks with an attempt that ended in trouble (anything but SUCCEEDED
   * or CANCELED: a failure, a timeout, an infrastructure loss, NO_RESOURCE)
   * at `sinceMs` or later, each with all its attempts: what a watching
   * client prints as it happens. Only the tasks found are read in full.
   */
  async jobTroubles(jobId: string, sinceMs: number, limit = MAX_TROUBLES): Promise<{ tasks: TaskView[]; more: boolean }> {
    const job = await this.requireJob(jobId);
    // Sliced as a summary is: a watcher asks this whenever something failed, and a whole 100,000-task job read in one piece held the master for seconds.
    const groups = groupAttempts(await readAllAttempts(this.deps.repo, jobId));
    // The earliest trouble at or after sinceMs first: a client reading pages (or stopping at a cap) misses none before the last it got.
    const firstTrouble = (g: Attempt[]) => Math.min(...g.filter((a) => TROUBLE_STATES.has(a.state) && (a.reportedAt ?? 0) >= sinceMs).map((a) => a.reportedAt ?? 0));
    const all = [...groups.entries()].map(([id, g]) => [id, g, firstTrouble(g)] as const).filter(([, , at]) => at !== Infinity);
    all.sort((a, b) => a[2] - b[2]);
    const hit = all.slice(0, limit);
    const hitIds = new Set(hit.map(([id]) => id));
    // A burst of failures reads all tasks once rather than each apart.
    const tasks = hit.length > 50
      ? (await readAllTasks(this.deps.repo, jobId)).filter((t) => hitIds.has(t.taskId))
      : (await Promise.all(hit.map(([id]) => this.deps.repo.getTask(jobId, id)))).filter((t): t is Task => t !== null);
    const order = new Map(hit.map(([id], i) => [id, i]));
    tasks.sort((a, b) => order.get(a.taskId)! - order.get(b.taskId)!);
    const views = await Promise.all(tasks.map((t) => taskView(t, groups.get(t.taskId)!, job, (a) => this.attemptView(a))));
    return { tasks: views, more: all.length > hit.length };
  }

  /** An attempt as the native API shows it (jobs/task-views.ts). */
  attemptView(a: Attempt): Promise<AttemptView> {
    return attemptView(a, this.deps.artifacts, this.deps.publicUrl);
  }

  /**
   * A log of an attempt from `offset`: the live log while it runs (or when
   * no upload happened), the uploaded log once there is one.
   */
  readLog(jobId: string, taskId: string, attempt: number, stream: "stdout" | "stderr", offset: number): Promise<{ bytes: Uint8Array; size: number; complete: boolean }> {
    return readAttemptLog(this.deps, jobId, taskId, attempt, stream, offset);
  }

  /** Hands `visit` a log's bytes in [0, end) in order, from one read (see scanAttemptLog): for counting a log's lines. */
  scanLog(jobId: string, taskId: string, attempt: number, stream: "stdout" | "stderr", end: number, visit: (chunk: Uint8Array, at: number) => boolean | void): Promise<void> {
    return scanAttemptLog(this.deps, jobId, taskId, attempt, stream, end, visit);
  }

  /** Every slave the master has heard from, with its state now. */
  slaves(): SlaveView[] {
    const leases = this.dispatcher.leasesBySlave();
    return this.dispatcher.slaves.list().map((s) => this.slaveView(s, leases.get(s.identity.name) ?? []));
  }

  slave(name: string): SlaveView {
    const record = this.dispatcher.slaves.get(name);
    if (!record) throw new DtError("not_found", `no slave ${JSON.stringify(name)} has called this master; dt slaves lists the known ones`);
    return this.slaveView(record, this.dispatcher.leasesOf(name));
  }

  /** An operator's drain, quarantine or resume of a slave; it reaches the slave with the answer to its next call. */
  commandSlave(name: string, command: SlaveCommand): SlaveView {
    this.dispatcher.commandSlave(name, command);
    this.deps.log.info(`slave ${name}: ${command.action} requested: ${command.reason}`, { slave: name, action: command.action });
    return this.slave(name);
  }

  private slaveView(s: SlaveRecord, running: SlaveView["running"]): SlaveView {
    const { identity } = s;
    const live = this.dispatcher.slaves.isLive(s, this.deps.clock.now());
    // Busy or idle from the leases held now, not as of the slave's last call.
    const state: SlaveState = !live ? "lost"
      : identity.draining || identity.hold?.kind === "drain" ? "draining"
      : identity.hold?.kind === "quarantine" ? "quarantined"
      : running.length > 0 ? "busy" : "idle";
    return {
      name: identity.name, dimensions: identity.dimensions, slots: identity.slots, version: identity.version, state,
      hold: identity.hold ?? null, pending_command: s.pending, registered_at: s.registeredAt, last_seen_at: s.lastSeenAt,
      running, infra_failures: s.infraFailures, metrics_url: identity.metrics_url ?? null,
    };
  }
}
