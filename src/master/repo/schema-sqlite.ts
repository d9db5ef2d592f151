/**
 * The master's tables for SQLite (drizzle `sqlite-core`). A MySQL twin
 * (`schema-mysql.ts`, mysql-core) must produce the same `$inferSelect` row
 * types, so that repo/rows.ts and the conformance suite serve both: each row
 * type is the model type itself (src/master/model.ts), property for property.
 *
 * Portability rules, for the twin to follow:
 * - Column names are snake_case and none is a reserved word in either dialect
 *   (`task_index`, not `index`).
 * - The MySQL length of every string column is in the comment beside it;
 *   SQLite ignores lengths. Key columns must be varchar there, since MySQL
 *   cannot index TEXT without a prefix length.
 * - Times are integer epoch ms (MySQL `bigint({mode: "number"})`), booleans
 *   are integers 0/1 (MySQL `boolean()`), JSON values are JSON text (MySQL
 *   `json()` or text: either yields the same parsed type).
 * - No partial indexes, generated columns, or other SQLite-only features.
 *
 * After editing, run `bun run db:generate` and add the new .sql file to
 * drizzle/sqlite/index.ts (a test fails until it is there).
 */
import { foreignKey, index, integer, primaryKey, real, sqliteTable, text } from "drizzle-orm/sqlite-core";
import type { OutputsRef } from "../../isolate/outputs/outputs-ref.ts";
import { CASE_STATUSES, JOB_CASE_STATUSES } from "../cases/case-merge.ts";
import type { CaseFilterSpec, CaseSelection } from "../cases/case-filter.ts";
import { ATTEMPT_STATES, type Attempt, type CacheCounts, type Job, RETRY_MODES, type ReuseOrigin, type RunRef, type SlaveInfo, type Task } from "../model.ts";

/** Slave states as a tuple, for the column's enum type. */
export const SLAVE_STATES = ["idle", "busy", "draining", "lost"] as const satisfies readonly SlaveInfo["state"][];

export const jobs = sqliteTable(
  "jobs",
  {
    /** varchar(100): dist_test's job id is at most 100 characters. */
    id: text("id").primaryKey(),
    /** varchar(64) */
    user: text("user").notNull(),
    /** varchar(255) */
    name: text("name"),
    priority: integer("priority").notNull(),
    createdAt: integer("created_at").notNull(),
    canceledAt: integer("canceled_at"),
  },
  (t) => [
    // listJobs: newest first, alone or for one user.
    index("jobs_created_at_idx").on(t.createdAt),
    index("jobs_user_created_at_idx").on(t.user, t.createdAt),
  ],
);

export const tasks = sqliteTable(
  "tasks",
  {
    /** varchar(100) */
    jobId: text("job_id")
      .notNull()
      .references(() => jobs.id, { onDelete: "cascade" }),
    /** varchar(200): `<isolate hash>.<index>`, a 64-hex SHA-256 and up to 100 more for the suffix. */
    taskId: text("task_id").notNull(),
    index: integer("task_index").notNull(),
    /** varchar(128): a hex digest. */
    isolateHash: text("isolate_hash").notNull(),
    /** text */
    description: text("description").notNull(),
    timeoutSec: integer("timeout_sec").notNull(),
    maxRetries: integer("max_retries").notNull(),
    artifactGlobs: text("artifact_globs", { mode: "json" }).$type<string[]>().notNull(),
    /** null: the default globs (most tasks), so a big job's rows do not repeat them. */
    resultGlobs: text("result_globs", { mode: "json" }).$type<string[]>(),
    env: text("env", { mode: "json" }).$type<Record<string, string>>().notNull(),
    dimensions: text("dimensions", { mode: "json" }).$type<Record<string, string>>().notNull(),
    priority: integer("priority").notNull(),
    /** Null for a task that is not a shard (and for tasks stored before shards were recorded). */
    shardIndex: integer("shard_index"),
    shardCount: integer("shard_count"),
    /** JSON text; null: googletest. */
    caseFilter: text("case_filter", { mode: "json" }).$type<CaseFilterSpec>(),
    /** JSON text (MySQL mediumtext): an auto shard's cases, up to MAX_FILTER_BYTES of names. */
    caseSelection: text("case_selection", { mode: "json" }).$type<CaseSelection>(),
    /** varchar(8) */
    retryMode: text("retry_mode", { enum: RETRY_MODES }).notNull().default("cases"),
    idempotent: integer("idempotent", { mode: "boolean" }).notNull().default(false),
    /** varchar(64): reuse/task-key.ts; null for a task that is not idempotent. */
    taskKey: text("task_key"),
  },
  (t) => [
    primaryKey({ name: "tasks_pk", columns: [t.jobId, t.taskId] }),
    // getTasks and getAttempts order by index within a job.
    index("tasks_job_index_idx").on(t.jobId, t.index),
  ],
);

export const attempts = sqliteTable(
  "attempts",
  {
    /** varchar(100) */
    jobId: text("job_id").notNull(),
    /** varchar(200) */
    taskId: text("task_id").notNull(),
    attempt: integer("attempt").notNull(),
    retry: integer("retry").notNull(),
    /** varchar(16) */
    state: text("state", { enum: ATTEMPT_STATES }).notNull(),
    /** varchar(255): a host name. */
    slave: text("slave"),
    /** varchar(64) */
    leaseId: text("lease_id"),
    leaseExpiresAt: integer("lease_expires_at"),
    exitCode: integer("exit_code"),
    /** varchar(512): artifact store keys. */
    stdoutKey: text("stdout_key"),
    /** varchar(512) */
    stderrKey: text("stderr_key"),
    /** varchar(512) */
    artifactKey: text("artifact_key"),
    artifactMissing: integer("artifact_missing", { mode: "boolean" }).notNull(),
    cache: text("cache", { mode: "json" }).$type<CacheCounts>(),
    /** JSON text: luci's {isolated, isolatedserver, namespace}. */
    outputsRef: text("outputs_ref", { mode: "json" }).$type<OutputsRef>(),
    /** text */
    message: text("message"),
    /** JSON text (MySQL mediumtext): a retry's cases; null: the task's. */
    caseSelection: text("case_selection", { mode: "json" }).$type<CaseSelection>(),
    /** See Attempt.quarantined. */
    quarantined: integer("quarantined", { mode: "boolean" }).notNull().default(false),
    /** JSON text: see Attempt.reusedFrom. */
    reusedFrom: text("reused_from", { mode: "json" }).$type<ReuseOrigin>(),
    queuedAt: integer("queued_at").notNull(),
    leasedAt: integer("leased_at"),
    fetchDoneAt: integer("fetch_done_at"),
    mapDoneAt: integer("map_done_at"),
    commandStartAt: integer("command_start_at"),
    commandEndAt: integer("command_end_at"),
    uploadDoneAt: integer("upload_done_at"),
    reportedAt: integer("reported_at"),
  },
  (t) => [
    primaryKey({ name: "attempts_pk", columns: [t.jobId, t.taskId, t.attempt] }),
    foreignKey({ name: "attempts_task_fk", columns: [t.jobId, t.taskId], foreignColumns: [tasks.jobId, tasks.taskId] }).onDelete("cascade"),
    // findAttemptByLease.
    index("attempts_lease_id_idx").on(t.leaseId),
    // openAttempts: state IN (the non-terminal states), a few range scans.
    index("attempts_state_idx").on(t.state),
  ],
);

export const durations = sqliteTable("durations", {
  /** varchar(255): what the scheduler keys history by (e.g. a task's description). */
  key: text("key").primaryKey(),
  /** The EWMA of measured durations, ms; MySQL `double`. */
  expectedMs: real("expected_ms").notNull(),
  /** How many measurements were folded in. */
  samples: integer("samples").notNull(),
  updatedAt: integer("updated_at").notNull(),
});

export const slaves = sqliteTable("slaves", {
  /** varchar(255): a host name. */
  name: text("name").primaryKey(),
  dimensions: text("dimensions", { mode: "json" }).$type<Record<string, string>>().notNull(),
  slots: integer("slots").notNull(),
  /** varchar(64) */
  version: text("version").notNull(),
  /** varchar(16) */
  state: text("state", { enum: SLAVE_STATES }).notNull(),
  lastSeenAt: integer("last_seen_at").notNull(),
  registeredAt: integer("registered_at").notNull(),
});

/**
 * Each attempt's test cases, as its slave reported them: the history of
 * every test. `case_key` names the test's identity (binary, suite, name) in
 * 32 hex digits (cases/case-key.ts), so that history is one short index
 * whatever the names' lengths (MySQL cannot index long text).
 */
export const cases = sqliteTable(
  "cases",
  {
    /** varchar(100) */
    jobId: text("job_id").notNull(),
    /** varchar(200) */
    taskId: text("task_id").notNull(),
    attempt: integer("attempt").notNull(),
    /** The case's place in its report. */
    caseIndex: integer("case_index").notNull(),
    /** varchar(32) */
    caseKey: text("case_key").notNull(),
    /** varchar(255): a task's description is at most 255 characters. `binary` is reserved in MySQL. */
    binary: text("test_binary").notNull(),
    /** text */
    suite: text("suite").notNull(),
    /** text */
    name: text("name").notNull(),
    /** varchar(8) */
    status: text("status", { enum: CASE_STATUSES }).notNull(),
    durationMs: integer("duration_ms"),
    /** text: at most MAX_CASE_MESSAGE_CHARS. */
    message: text("message"),
    /** text */
    file: text("file"),
    line: integer("line"),
    flakyFailures: integer("flaky_failures").notNull(),
    /** When the attempt was reported: the history's order. */
    reportedAt: integer("reported_at").notNull(),
  },
  (t) => [
    primaryKey({ name: "cases_pk", columns: [t.jobId, t.taskId, t.attempt, t.caseIndex] }),
    // Merging a case's runs within a job (storeCases).
    index("cases_job_key_idx").on(t.jobId, t.caseKey),
    // A test's history, newest first.
    index("cases_history_idx").on(t.caseKey, t.reportedAt),
    // A binary's latest runs: the shard planner's case durations.
    index("cases_binary_idx").on(t.binary, t.reportedAt),
  ],
);

/**
 * A job's test cases, one row per identity, with its runs over attempts and
 * shards merged (cases/case-merge.ts): what GET jobs/:job/cases pages
 * through and the job's case counts count. Rewritten by each report that
 * runs the case again.
 */
export const jobCases = sqliteTable(
  "job_cases",
  {
    /** varchar(100) */
    jobId: text("job_id").notNull(),
    /** varchar(32) */
    caseKey: text("case_key").notNull(),
    /** The order in which the job's cases were first reported: the listing's order and cursor. */
    seq: integer("seq").notNull(),
    /** varchar(255) */
    binary: text("test_binary").notNull(),
    /** text */
    suite: text("suite").notNull(),
    /** text */
    name: text("name").notNull(),
    /** varchar(8) */
    status: text("status", { enum: JOB_CASE_STATUSES }).notNull(),
    /** varchar(200) */
    taskId: text("task_id").notNull(),
    attempt: integer("attempt").notNull(),
    durationMs: integer("duration_ms"),
    /** text */
    message: text("message"),
    /** text */
    file: text("file"),
    line: integer("line"),
    runs: integer("runs").notNull(),
    failures: integer("failures").notNull(),
    /** JSON text: the run of another job this case's result is, for a task that reused it (docs/reuse.md); null: run here. */
    reusedFrom: text("reused_from", { mode: "json" }).$type<RunRef>(),
  },
  (t) => [
    primaryKey({ name: "job_cases_pk", columns: [t.jobId, t.caseKey] }),
    index("job_cases_seq_idx").on(t.jobId, t.seq),
    // Pages of one status, and the counts by status.
    index("job_cases_status_idx").on(t.jobId, t.status, t.seq),
  ],
);

/**
 * A job's cases counted by merged status, kept by each report that writes
 * job_cases (the same transaction), so a job's summary reads one row rather
 * than counting a million (60 ms on SQLite, measured).
 */
export const jobCaseCounts = sqliteTable("job_case_counts", {
  /** varchar(100) */
  jobId: text("job_id").primaryKey(),
  passed: integer("passed").notNull(),
  failed: integer("failed").notNull(),
  crashed: integer("crashed").notNull(),
  flaky: integer("flaky").notNull(),
  skipped: integer("skipped").notNull(),
});

/**
 * What the master found wrong with a job's runs that is no test's failure:
 * a shard that ran cases outside its filter or missed some of it. Shown
 * with the job (its summary, page and the client's report).
 */
export const jobFlags = sqliteTable(
  "job_flags",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    /** varchar(100) */
    jobId: text("job_id").notNull(),
    /** varchar(200) */
    taskId: text("task_id").notNull(),
    attempt: integer("attempt").notNull(),
    /** varchar(32): what kind of finding (see JobFlagKind). */
    kind: text("kind").notNull(),
    /** text */
    text: text("text").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("job_flags_job_idx").on(t.jobId, t.id)],
);

/**
 * Test quarantine entries (src/master/quarantine/): a case whose failure
 * does not fail a job while its entry is active. Entries are never deleted:
 * a removal sets removed_at, so the history of who quarantined what stays.
 */
export const quarantine = sqliteTable(
  "quarantine",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    /** varchar(255); null: the case in any binary. */
    binary: text("test_binary"),
    /** text */
    suite: text("suite").notNull(),
    /** text */
    name: text("name").notNull(),
    /** text */
    reason: text("reason").notNull(),
    createdAt: integer("created_at").notNull(),
    /** varchar(64): the user who added it, or "auto". */
    createdBy: text("created_by").notNull(),
    /** Inactive from this time on; null: until removed. */
    until: integer("expires_at"),
    removedAt: integer("removed_at"),
    /** varchar(64) */
    removedBy: text("removed_by"),
  },
  (t) => [
    // The active entries: those not removed (a few hundred at most, read whole per failing report).
    index("quarantine_removed_at_idx").on(t.removedAt),
  ],
);

/**
 * Which failed runs of a job were quarantined when reported, and by which
 * entry: what the job's cases and page show as quarantined failures.
 */
export const quarantinedCases = sqliteTable(
  "quarantined_cases",
  {
    /** varchar(100) */
    jobId: text("job_id").notNull(),
    /** varchar(32) */
    caseKey: text("case_key").notNull(),
    /** varchar(200) */
    taskId: text("task_id").notNull(),
    attempt: integer("attempt").notNull(),
    quarantineId: integer("quarantine_id").notNull(),
  },
  (t) => [primaryKey({ name: "quarantined_cases_pk", columns: [t.jobId, t.caseKey, t.taskId, t.attempt] })],
);

/**
 * Results that may stand for a later identical task (docs/reuse.md): the
 * SUCCEEDED first attempts of idempotent tasks, by task key. A submit looks
 * its idempotent tasks' keys up here, one indexed read per key.
 */
export const reusableResults = sqliteTable(
  "reusable_results",
  {
    /** varchar(64) */
    taskKey: text("task_key").notNull(),
    /** varchar(100) */
    jobId: text("job_id")
      .notNull()
      .references(() => jobs.id, { onDelete: "cascade" }),
    /** varchar(200) */
    taskId: text("task_id").notNull(),
    attempt: integer("attempt").notNull(),
    reportedAt: integer("reported_at").notNull(),
    /** What the run took, command start to end: what each reuse of it saves. */
    savedMs: integer("saved_ms").notNull(),
  },
  (t) => [
    primaryKey({ name: "reusable_results_pk", columns: [t.jobId, t.taskId] }),
    index("reusable_results_key_idx").on(t.taskKey, t.reportedAt),
  ],
);

/**
 * Which binary each task runs (its description without the shard suffix,
 * model.ts taskBinary) with its job's creation time, written with the job's
 * tasks and never changed: a binary's latest runs over jobs are one walk
 * back along binary_tasks_history_idx, without reading any other binary's
 * tasks. tasks.description cannot serve: it is TEXT on MySQL, which indexes
 * no TEXT whole, and a job's time is not on its tasks.
 */
export const binaryTasks = sqliteTable(
  "binary_tasks",
  {
    /** varchar(255): a task's description is at most 255 characters. `binary` is reserved in MySQL. */
    binary: text("test_binary").notNull(),
    /** varchar(100) */
    jobId: text("job_id").notNull(),
    /** varchar(200) */
    taskId: text("task_id").notNull(),
    /** The task's index in its job: a run's tasks in order. */
    index: integer("task_index").notNull(),
    /** The job's created_at: the history's order. */
    createdAt: integer("created_at").notNull(),
  },
  (t) => [
    primaryKey({ name: "binary_tasks_pk", columns: [t.jobId, t.taskId] }),
    foreignKey({ name: "binary_tasks_task_fk", columns: [t.jobId, t.taskId], foreignColumns: [tasks.jobId, tasks.taskId] }).onDelete("cascade"),
    // A binary's runs, newest first, and each run's task ids in order, from the index alone (Repo.binaryHistory).
    index("binary_tasks_history_idx").on(t.binary, t.createdAt, t.jobId, t.index, t.taskId),
  ],
);

export type JobRow = typeof jobs.$inferSelect;
export type TaskRow = typeof tasks.$inferSelect;
export type AttemptRow = typeof attempts.$inferSelect;
export type DurationRow = typeof durations.$inferSelect;
export type SlaveRow = typeof slaves.$inferSelect;
export type CaseRow = typeof cases.$inferSelect;
export type JobCaseRow = typeof jobCases.$inferSelect;
export type JobCaseCountsRow = typeof jobCaseCounts.$inferSelect;
export type JobFlagRow = typeof jobFlags.$inferSelect;
export type QuarantineRow = typeof quarantine.$inferSelect;
export type QuarantinedCaseRow = typeof quarantinedCases.$inferSelect;
export type ReusableResultRow = typeof reusableResults.$inferSelect;
export type BinaryTaskRow = typeof binaryTasks.$inferSelect;

/** Compile-time proof that a row is its model type, so rows need no mapping. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;
export type RowsAreModels = [
  Assert<Same<JobRow, Job>>,
  Assert<Same<TaskRow, Task>>,
  Assert<Same<AttemptRow, Attempt>>,
  Assert<Same<SlaveRow, SlaveInfo>>,
];
