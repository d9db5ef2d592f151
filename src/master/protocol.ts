/**
 * The HTTP contract between the master and its slaves and clients, as types.
 * The master implements it (src/master/http/), `dt slave` and the client
 * commands speak it. Every body is JSON unless said otherwise; errors are
 * `{"error": message, "code": DtErrorCode}` with a 4xx/5xx status.
 *
 * Slave protocol, under /api/v1/slave:
 *   POST lease       LeaseRequest → LeaseResponse        long-poll up to waitMs
 *   POST heartbeat   HeartbeatRequest → HeartbeatResponse
 *   POST claim       ClaimRequest → ClaimResponse         idempotent per lease; beanstalkd slaves only
 *   POST log?lease=ID&stream=stdout|stderr&offset=N[&slave=NAME]     body: raw bytes → LogAppendResponse
 *   PUT  output?lease=ID&kind=stdout|stderr|artifacts[&slave=NAME] body: raw bytes (artifacts: a zip) → OutputResponse
 *        both extend the lease as a heartbeat does; 404 once the master no longer holds the lease, or
 *        when `slave` names another slave than the holder
 *   POST result      ResultReport → ResultResponse       idempotent per lease
 *   GET  queue       → QueueInfo                         where to get work: this API or beanstalkd
 *
 * Native API, under /api/v1:
 *   POST jobs                     JobRequest → JobCreated (201)
 *   GET  jobs?user=&name=&since=&until=&limit=  → { jobs: JobSummary[] }
 *   GET  jobs/:job                → JobSummary
 *   GET  jobs/:job/tasks          → { tasks: TaskView[] }
 *   GET  jobs/:job/cases?status=failed|flaky|passed|skipped|crashed|all&limit=&cursor=
 *        → JobCasesPage: the job's test cases (one per binary/suite/name), with their final status
 *   GET  tests/history?binary=&suite=&case=&limit=  → CaseHistory: a case's latest results over all jobs
 *   GET  tests/binary_history?binary=&limit=  → BinaryHistory: a binary's latest runs over jobs (its task or shards, attempts, times)
 *   GET  tests/flaky?since=7d|MS|ISO-DATE&min_runs=N&limit=N&binary=  → FlakyCases: over the jobs created
 *        since then, the cases with the highest flake rate (jobs flaky ÷ jobs that ran them), each with its
 *        latest failure (defaults: 7d, min_runs 1, limit 50 of at most 1,000)
 *   POST jobs/:job/cancel         → JobSummary
 *   GET  jobs/:job/log?task=&attempt=&stream=stdout|stderr&offset=N
 *        → the log's bytes from offset (text/plain), headers X-Log-Size (bytes so far)
 *          and X-Log-Complete ("true" once the attempt ended)
 *   GET  slaves                   → { slaves: SlaveView[] }
 *   GET  slaves/:name             → SlaveView
 *   POST slaves/:name/drain       { reason? } → SlaveView (202): finish running tasks, take no more, stay up
 *   POST slaves/:name/quarantine  { reason? } → SlaveView (202): take no leases until resumed
 *   POST slaves/:name/resume      → SlaveView (202): lift an operator's (or a self-) quarantine or drain
 *   GET  queue                    → QueueDemand: what is queued, for autoscalers
 *   GET  autoscaler/decisions     → { decisions: AutoscaleDecision[] } newest first
 *   POST autoscaler/decisions     AutoscaleDecision → 201
 *   GET  artifacts/:key           → the stored object (log or zip)
 */
import type { OutputsRef } from "../isolate/outputs/outputs-ref.ts";
import type { ResultFormat } from "../results/model.ts";
import type { CaseReport, JobCaseCounts } from "../results/wire.ts";

/** The test-case layer's wire types live beside its model, where client, slave and master all reach them. */
export type { CaseHistory, CaseHistoryEntry, CaseReport, FlakyCase, FlakyCaseFailure, FlakyCases, JobCaseCounts, JobCasesPage, JobCaseStatus, JobCaseView } from "../results/wire.ts";
export { MAX_REPORTED_CASES, MAX_RESULT_NOTE_CHARS, MAX_RESULT_NOTES } from "../results/wire.ts";
import type { AttemptState, CacheCounts, ReportedState } from "./model.ts";

/** The task JSON a client submits: dist_test's keys plus dt's. */
export interface TaskRequest {
  isolate_hash: string;
  description: string;
  timeout?: number;
  max_retries?: number;
  artifact_archive_globs?: string[];
  /**
   * dt: where the task's test results are, as globs over its outputs
   * (ISOLATED_OUTDIR); default `["**\/*.xml"]`, `[]` to read none. gtest's
   * stdout is read either way.
   */
  result_globs?: string[];
  /** dt: environment for the command. */
  env?: Record<string, string>;
  /** dt: the slave must have all of these. */
  dimensions?: Record<string, string>;
  /** dt: higher runs first within a job's fair share. Default 0. */
  priority?: number;
  /**
   * dt: expands into N tasks with GTEST_SHARD_INDEX / GTEST_TOTAL_SHARDS;
   * "auto": into shards of about equal time planned from the binary's case
   * history (docs/sharding.md).
   */
  shards?: number | "auto";
  /** dt, with shards "auto": the time a shard should take, in seconds; default 60. */
  shard_seconds?: number;
  /** dt, with shards "auto": at most this many shards; default 32. */
  max_shards?: number;
  /**
   * dt: how the runner takes a list of cases to run, for auto shards and
   * retries of only the failed cases; absent: googletest's GTEST_FILTER.
   * See cases/case-filter.ts CaseFilterSpec.
   */
  case_filter?: { env?: string; arg?: string; separator?: string; case?: string; exclude?: string };
  /** dt: what a failed attempt's retry runs: only its failed cases (`cases`, the default) or the whole task (`task`). */
  retry?: "cases" | "task";
  /**
   * dt: the task's result depends only on its key's inputs (docs/reuse.md),
   * so a SUCCEEDED first attempt of an identical task, or one running now in
   * another job, may stand for it. Default false.
   */
  idempotent?: boolean;
}

export interface JobRequest {
  /** Given by dist_test's client; made up by the master when absent. */
  job_id?: string;
  name?: string;
  user?: string;
  priority?: number;
  tasks: TaskRequest[];
  /** dt: true: every task is idempotent; false: run every task, reusing nothing; absent: each task's `idempotent` decides (docs/reuse.md). */
  reuse?: boolean;
}

export interface JobCreated {
  job_id: string;
  /** The HTML view of the job. */
  url: string;
  tasks: number;
}

/** Counts of task groups (all attempts of one task id) and attempts. */
export interface JobCounts {
  total_tasks: number;
  /** Groups waiting for a slave (no attempt leased). */
  queued: number;
  /** Groups with an attempt on a slave. */
  running: number;
  succeeded: number;
  failed: number;
  /** Failed at least once, then passed. */
  flaky: number;
  /**
   * Failed, but every failing case was quarantined when reported: finished
   * and not failed (the job passes). Absent from masters before quarantine.
   */
  quarantined?: number;
  canceled: number;
  finished: number;
  /** Test retries over all groups: attempts after a FAILED or TIMED_OUT one, each spending one of the task's max_retries. */
  retries: number;
  /**
   * Attempts queued again after an infrastructure loss (SLAVE_LOST,
   * INFRA_FAILED), over all groups: they cost the task none of its retries
   * and are not counted in `retries`.
   */
  requeues: number;
  /** Test cases the slaves reported (see JobCaseCounts); all zero for a job whose tasks reported none. */
  cases?: JobCaseCounts;
  /**
   * Tasks that did not run but took an identical task's SUCCEEDED result
   * (docs/reuse.md): a past run (reuse) or one that ran meanwhile in
   * another job (in flight). Counted in `succeeded` too. Absent from masters
   * before reuse.
   */
  reused?: number;
  /** Of those, the ones that waited for a run in another job. */
  coalesced?: number;
  /** Tasks waiting now for an identical task running in another job; counted in `queued` too. */
  waiting?: number;
  /** What the reused results' runs took, summed (ms): the time reuse saved the job. */
  saved_ms?: number;
}

export interface JobSummary {
  job_id: string;
  user: string;
  name: string | null;
  priority: number;
  created_at: number;
  canceled_at: number | null;
  status: "running" | "finished";
  counts: JobCounts;
  /** Seconds of work left by duration history, spread over the live slots; null when unknown. */
  estimated_remaining_sec: number | null;
  /** When the job finished (its last attempt's report, or its cancel); null while it runs. Absent from masters before it. */
  finished_at?: number | null;
  url: string;
  /**
   * Opaque; changes whenever anything of the job does. Pass it back as
   * `?wait_version=` to be answered only once it changed. Absent from
   * masters older than the long-poll.
   */
  change_version?: string;
  /**
   * What the master found wrong with the job's runs that is no test's
   * failure (a shard that ran cases outside its filter or missed some),
   * oldest first, at most MAX_SHOWN_FLAGS. Absent from older masters.
   */
  flags?: JobFlagView[];
}

/** Flags a summary lists at most: a job whose every shard strays says so in the first hundred. */
export const MAX_SHOWN_FLAGS = 100;

export interface JobFlagView {
  task_id: string;
  attempt: number;
  /** `case_selection`: a shard kept not to its case filter. */
  kind: string;
  text: string;
  created_at: number;
}

export interface AttemptView {
  attempt: number;
  retry: number;
  state: AttemptState;
  slave: string | null;
  exit_code: number | null;
  message: string | null;
  queued_at: number;
  leased_at: number | null;
  fetch_done_at: number | null;
  map_done_at: number | null;
  command_start_at: number | null;
  command_end_at: number | null;
  upload_done_at: number | null;
  reported_at: number | null;
  /** Where to read the output: the artifact store's link (with S3, a presigned URL valid for 24 hours). */
  stdout_link: string | null;
  stderr_link: string | null;
  artifact_archive_link: string | null;
  /** The same objects through the master (`/api/v1/artifacts/<key>`), for clients that cannot reach the store. */
  stdout_master_link: string | null;
  stderr_master_link: string | null;
  artifact_archive_master_link: string | null;
  artifact_missing: boolean;
  cache: CacheCounts | null;
  /**
   * What the command left in ISOLATED_OUTDIR, as a tree in the CAS (luci
   * run_isolated's field): fetch it with `dt fetch -o` or from the job page.
   * null when it wrote nothing, or its outputs were over the slave's cap or
   * could not be uploaded (the message says which). Absent from masters
   * older than outputs.
   */
  outputs_ref?: OutputsRef | null;
  /**
   * The cases this attempt was told to run, when it was not all of its
   * task's: a retry of only the failed cases (docs/retries.md). null: the
   * task's cases. Absent from masters before retries of cases.
   */
  case_selection?: CaseSelectionView | null;
  /** A failure whose failing cases were all quarantined when it was reported: it fails nothing and was not retried. Absent from masters before quarantine. */
  quarantined?: boolean;
  /**
   * SUCCEEDED: the attempt did not run; it is this attempt's result
   * (docs/reuse.md), and its links are that attempt's logs and archive.
   * QUEUED: it waits for this attempt of another job. Absent for an attempt
   * that runs, and from masters before reuse.
   */
  reused_from?: ReusedFromView;
}

/** The attempt a reused attempt's result is (AttemptView.reused_from). */
export interface ReusedFromView {
  job_id: string;
  task_id: string;
  attempt: number;
  /** What that run took (ms); 0 while waiting. */
  saved_ms: number;
  /** The run happened while this attempt waited for it, in another job, rather than before it was submitted. */
  in_flight: boolean;
  /** The original job's page. */
  url: string;
}

/** How many cases names an attempt's selection, with the first of them. */
export interface CaseSelectionView {
  /** include: only these ran; exclude: every case of the task but these (after a crash: the cases that had passed). */
  mode: "include" | "exclude";
  count: number;
  /** `Suite.name`, the first CASE_SELECTION_NAMES of them. */
  names: string[];
}

/** Names a CaseSelectionView lists: enough to read at a glance, few enough to keep a 100,000-task job's view small. */
export const CASE_SELECTION_NAMES = 50;

/** `quarantined`: the last attempt failed, but only by quarantined cases (Attempt.quarantined); finished, not failed. */
export type GroupState = "queued" | "running" | "succeeded" | "failed" | "flaky" | "quarantined" | "canceled" | "retrying";

export interface TaskView {
  task_id: string;
  description: string;
  /** The test binary: the description without the shard suffix (`.<shard_index>`) for a shard of a task submitted with `shards: N`. Absent from masters before test cases. */
  binary?: string;
  /** Which shard of its binary this task is, of how many; null for a task that is not sharded. */
  shard_index?: number | null;
  shard_count?: number | null;
  group: GroupState;
  max_retries: number;
  timeout: number;
  dimensions: Record<string, string>;
  attempts: AttemptView[];
}

/** A binary's run in a word: failed when any task failed (so while others still run), else running or queued while any is, else canceled, flaky, quarantined or succeeded. */
export type BinaryRunState = "failed" | "running" | "queued" | "canceled" | "flaky" | "quarantined" | "succeeded";

/** One attempt of a binary's task (GET tests/binary_history). */
export interface BinaryRunAttempt {
  attempt: number;
  state: AttemptState;
  slave: string | null;
  exit_code: number | null;
  /** Time on a slave, lease to report (to the answer's time while it runs); null before a slave took it, or for a result reused from another job. */
  duration_ms: number | null;
  reported_at: number | null;
}

/** One task of a binary's run: the binary's task, or one of its shards. */
export interface BinaryRunTask {
  task_id: string;
  description: string;
  shard_index: number | null;
  shard_count: number | null;
  group: GroupState;
  /** Oldest first. */
  attempts: BinaryRunAttempt[];
}

/** One job's run of a binary: its tasks of the binary (one, or its shards) with their attempts. */
export interface BinaryRun {
  job_id: string;
  user: string;
  job_name: string | null;
  created_at: number;
  state: BinaryRunState;
  /** From the run's first lease to its last report (to the answer's time while one runs); null before a slave took any. */
  duration_ms: number | null;
  /** Attempts over the run's tasks: more than its tasks when some were retried or requeued. */
  attempts: number;
  /** By task index. */
  tasks: BinaryRunTask[];
  /** False when the run has more tasks than the answer's bound: only its first are listed. */
  complete: boolean;
}

/** GET tests/binary_history: a binary's latest runs over jobs, newest first. */
export interface BinaryHistory {
  binary: string;
  runs: BinaryRun[];
  /** True when older runs were left out because the runs listed reached the answer's bound on tasks (BINARY_HISTORY_MAX_TASKS); ask for fewer, or read a job's tasks. */
  truncated: boolean;
}

/** What a slave is doing, as the master sees it. */
export type SlaveState = "idle" | "busy" | "draining" | "quarantined" | "lost";

/**
 * What keeps a slave from taking work, as the slave itself reports it in
 * every call: so a master that restarts learns it again from the slave.
 */
export interface SlaveHold {
  /** drain: finish the running tasks and take no more; quarantine: unfit to run tasks (disk, repeated infrastructure failures). */
  kind: "drain" | "quarantine";
  reason: string;
  /** The slave's own health check, or an operator through the API. */
  by: "self" | "operator";
  /** Epoch ms. */
  since: number;
}

/** An operator's instruction to a slave, carried by the answer to its next lease or heartbeat call until the slave reports it done. */
export interface SlaveCommand {
  action: "drain" | "quarantine" | "resume";
  reason: string;
}

/** An attempt on this slave that ended for a reason other than the test: the registry keeps the latest few. */
export interface InfraFailureView {
  at: number;
  job_id: string;
  task_id: string;
  attempt: number;
  state: "INFRA_FAILED" | "SLAVE_LOST";
  message: string | null;
  /** The task's description (its name), when the master knew it. Absent from masters before it. */
  description?: string;
}

export interface SlaveView {
  name: string;
  dimensions: Record<string, string>;
  slots: number;
  version: string;
  state: SlaveState;
  /** Why it takes no work (drain or quarantine), when it says so; null otherwise. */
  hold: SlaveHold | null;
  /** An operator's instruction not yet acknowledged by the slave. */
  pending_command: SlaveCommand | null;
  registered_at: number;
  /** The slave's last call (lease, heartbeat or result): its heartbeat. */
  last_seen_at: number;
  /** The attempts it holds; `description` is the task's name (absent from masters before it). */
  running: { job_id: string; task_id: string; attempt: number; description?: string }[];
  /** The latest infrastructure failures of attempts on this slave, newest first. */
  infra_failures: InfraFailureView[];
  /** Where the slave serves /metrics, when it does. */
  metrics_url: string | null;
}

export interface SlaveIdentity {
  name: string;
  dimensions: Record<string, string>;
  slots: number;
  version: string;
  /** True while the slave drains to exit (SIGTERM): it asks for nothing new. */
  draining?: boolean;
  /** Why the slave takes no work while it stays up; absent when it takes work. */
  hold?: SlaveHold;
  /** Where the slave serves /metrics, when it does. */
  metrics_url?: string;
}

/** What is queued now, for autoscalers (GET /api/v1/queue). */
export interface QueueDemand {
  /** Attempts waiting for a slave (in the master's queue or offered in beanstalkd). */
  queued_tasks: number;
  /** Expected milliseconds of work in the queued attempts whose test has a duration history. */
  queued_known_work_ms: number;
  /** Queued attempts with no history; an autoscaler assumes a duration for them. */
  queued_unknown_tasks: number;
  /** Attempts held by slaves now. */
  running_tasks: number;
  /** The same per dimension set the queued tasks ask for; `key` is a stable name of the set (JSON of its sorted pairs). */
  by_dimensions: { key: string; dimensions: Record<string, string>; queued_tasks: number; queued_known_work_ms: number; queued_unknown_tasks: number }[];
}

/** One decision of `dt autoscale`, posted to the master so its index page shows it. */
export interface AutoscaleDecision {
  /** Epoch ms. */
  at: number;
  /** Who decided: `dt autoscale` on which host, with which provider. */
  autoscaler: string;
  action: "grow" | "shrink" | "drain" | "hold";
  /** Slave count before and the count asked for. */
  from: number;
  to: number;
  reason: string;
  /** The slaves a shrink or drain chose, when it chose. */
  slaves?: string[];
}

export interface LeaseRequest {
  slave: SlaveIdentity;
  /** Free slots: at most this many leases come back. */
  free: number;
  /** Long-poll: how long the master may hold the request when nothing is queued. At most 30,000. */
  wait_ms: number;
}

/** One attempt handed to a slave. */
export interface Lease {
  lease_id: string;
  job_id: string;
  task_id: string;
  attempt: number;
  isolate_hash: string;
  /** The CAS to fetch from: the master's own unless it is configured with another. */
  isolate_server: string;
  description: string;
  timeout: number;
  artifact_archive_globs: string[];
  /** Globs over the outputs that name the attempt's result files; absent from masters before test cases (the slave then uses `["**\/*.xml"]`). */
  result_globs?: string[];
  env: Record<string, string>;
  /** Arguments to append to the manifest's command (a case filter of a runner that takes one on its command line); absent: none. */
  extra_args?: string[];
  /** The lease expires this long after the last heartbeat that named it. */
  lease_ttl_ms: number;
  heartbeat_interval_ms: number;
}

export interface LeaseResponse {
  leases: Lease[];
  /** An operator's instruction for this slave (see SlaveCommand). */
  command?: SlaveCommand;
}

/** Phases a slave reports as it goes; each also sets that phase's timestamp. */
export type SlavePhase = "FETCHING" | "RUNNING" | "UPLOADING";

export interface HeartbeatRequest {
  slave: SlaveIdentity;
  leases: { lease_id: string; phase: SlavePhase }[];
}

export interface HeartbeatResponse {
  /** Kill these (the job was canceled); report them as CANCELED. */
  cancel: string[];
  /** The master no longer knows these (expired and requeued, or never this slave's): kill them and drop their results. Not a lease whose result from this slave is stored: its report, sent again, is a duplicate. */
  unknown: string[];
  /** An operator's instruction for this slave (see SlaveCommand). */
  command?: SlaveCommand;
}

/**
 * A slave fed by beanstalkd reserved an offer: before it starts anything it
 * asks the master for the attempt. The master stores the claim before it
 * answers, and grants one claim per attempt, ever: asked again by the same
 * slave for the same lease (an answer lost, a master restarted) it grants
 * it again; asked by anyone else, or for an offer it no longer makes, it
 * refuses, and the slave deletes the job unrun.
 */
export interface ClaimRequest {
  slave: SlaveIdentity;
  lease_id: string;
  /**
   * Random per start of the slave's process. A restarted slave keeps its
   * name, and beanstalkd hands it again the jobs its killed previous life
   * held: by this the master tells a lost answer (the same life asks again:
   * granted) from a new life (refused: the previous life may have run the
   * command already). Absent from older slaves: then the name alone decides.
   */
  life?: string;
}

export interface ClaimResponse {
  /** True: this slave holds the attempt, and runs it. */
  claimed: boolean;
  /** Why not, when not: another slave holds it, the offer was withdrawn or replaced, the job canceled. */
  reason?: string;
}

export interface LogAppendResponse {
  /** Bytes of the log now stored; the next append starts here. */
  size: number;
}

export interface OutputResponse {
  key: string;
}

/** Timestamps measured on the slave (epoch ms). */
export interface ReportedTimes {
  fetch_done_at: number | null;
  map_done_at: number | null;
  command_start_at: number | null;
  command_end_at: number | null;
  upload_done_at: number | null;
}

export interface ResultReport {
  lease_id: string;
  job_id: string;
  task_id: string;
  attempt: number;
  state: ReportedState;
  exit_code: number | null;
  message: string | null;
  times: ReportedTimes;
  cache: CacheCounts | null;
  stdout_key: string | null;
  stderr_key: string | null;
  artifact_key: string | null;
  artifact_missing: boolean;
  /** The outputs tree the slave uploaded; absent from slaves older than outputs. */
  outputs_ref?: OutputsRef | null;
  /**
   * The reporting slave's name. With beanstalkd two slaves can hold the same
   * job (it became ready again while the first still ran it); only the
   * holder's result counts. Optional for dist_test-era callers.
   */
  slave?: string;
  /**
   * The test cases the slave read from the attempt's results (gtest XML,
   * JUnit XML or gtest's stdout), at most MAX_REPORTED_CASES; absent when it
   * found none or read none (a slave older than cases).
   */
  cases?: CaseReport[];
  /** Which format they came from. */
  result_format?: ResultFormat;
  /** What went wrong reading them (a truncated file, a refused entity), at most MAX_RESULT_NOTES; never a failure of the attempt. */
  result_notes?: string[];
}

/**
 * Where a slave gets its work: from the master's long-poll (`master`), or
 * by reserving from beanstalkd itself, which keeps slaves busy while the
 * master restarts.
 */
export type QueueInfo =
  | { kind: "master" }
  | { kind: "beanstalk"; address: string; tube_prefix: string; ttr_sec: number };

export interface ResultResponse {
  /** The report is stored (or was already): stop retrying. */
  ok: true;
  /** The same lease was reported before; nothing changed. */
  duplicate: boolean;
  /** The lease had been taken back (slave presumed lost); the report was kept for the record only. */
  stale: boolean;
}

/** Keys of the logs and archive of an attempt in the artifact store; dist_test's S3 key names. */
export function outputKey(jobId: string, taskId: string, attempt: number, kind: "stdout" | "stderr" | "artifacts"): string {
  const base = `${jobId}.${taskId}.${attempt}`;
  return kind === "artifacts" ? `${base}-artifacts.zip` : `${base}.${kind}`;
}

/** POST /api/v1/quarantine: quarantine a test case (see docs/quarantine.md). */
export interface QuarantineRequest {
  /** The task's binary (its description without a shard suffix); absent or null: the case in any binary. */
  binary?: string | null;
  suite: string;
  name: string;
  /** Why; default `quarantined by USER`. */
  reason?: string | null;
  /** Epoch ms after which the entry is inactive by itself; absent or null: until removed. */
  until?: number | null;
  /** Who asks, for created_by; default "unknown". */
  user?: string | null;
}

/** A quarantine entry as GET /api/v1/quarantine lists it. */
export interface QuarantineView {
  id: number;
  binary: string | null;
  suite: string;
  name: string;
  reason: string;
  created_at: number;
  /** A user, or "auto" for the master's own (`dt master --auto-quarantine`). */
  created_by: string;
  until: number | null;
  removed_at: number | null;
  removed_by: string | null;
  /** Active now: not removed and not past `until`. */
  active: boolean;
}

export interface QuarantineList {
  entries: QuarantineView[];
}
