/**
 * The master's tables for MySQL/MariaDB (drizzle `mysql-core`): the twin of
 * schema-sqlite.ts, column for column, with the lengths its comments give.
 * The type checks at the end fail the build when the two drift apart: every
 * table's select and insert row types must be the SQLite ones exactly, so
 * the conformance suite and everything above the Repo serve both.
 *
 * After editing, run `bun run db:generate:mysql` and add the new .sql file to
 * drizzle/mysql/index.ts (a test fails until it is there).
 */
import type { InferInsertModel, InferSelectModel, Table } from "drizzle-orm";
import { bigint, boolean, customType, double, foreignKey, index, int, mysqlTable, primaryKey, text, varchar } from "drizzle-orm/mysql-core";
import type { OutputsRef } from "../../isolate/outputs/outputs-ref.ts";
import { CASE_STATUSES, JOB_CASE_STATUSES } from "../cases/case-merge.ts";
import type { CaseFilterSpec, CaseSelection } from "../cases/case-filter.ts";
import { ATTEMPT_STATES, type CacheCounts, RETRY_MODES, type ReuseOrigin, type RunRef } from "../model.ts";
import type * as sqlite from "./schema-sqlite.ts";
import { SLAVE_STATES } from "./schema-sqlite.ts";

/**
 * A JSON value kept as TEXT. Not `json()`: MariaDB's JSON is LONGTEXT that
 * mysql2 hands back unparsed, and drizzle's `json()` does not parse it, so
 * the same column would read as a string on MariaDB and an object on MySQL.
 * TEXT holds 64 KiB, far more than a task's env or dimensions need.
 */
const jsonText = <T>(name: string) =>
  customType<{ data: T; driverData: string }>({
    dataType: () => "text",
    toDriver: (value) => JSON.stringify(value),
    fromDriver: (value) => JSON.parse(value) as T,
  })(name);

/** A JSON value that may pass TEXT's 64 KiB: a case selection holds up to MAX_FILTER_BYTES of names, plus JSON's quoting. MEDIUMTEXT holds 16 MiB. */
const jsonMediumText = <T>(name: string) =>
  customType<{ data: T; driverData: string }>({
    dataType: () => "mediumtext",
    toDriver: (value) => JSON.stringify(value),
    fromDriver: (value) => JSON.parse(value) as T,
  })(name);

/** Epoch milliseconds: BIGINT read as a JS number (exact up to 2^53, the year 287,396). */
const epochMs = (name: string) => bigint(name, { mode: "number" });

export const jobs = mysqlTable(
  "jobs",
  {
    id: varchar("id", { length: 100 }).primaryKey(),
    user: varchar("user", { length: 64 }).notNull(),
    name: varchar("name", { length: 255 }),
    priority: int("priority").notNull(),
    createdAt: epochMs("created_at").notNull(),
    canceledAt: epochMs("canceled_at"),
  },
  (t) => [index("jobs_created_at_idx").on(t.createdAt), index("jobs_user_created_at_idx").on(t.user, t.createdAt)],
);

export const tasks = mysqlTable(
  "tasks",
  {
    jobId: varchar("job_id", { length: 100 })
      .notNull()
      .references(() => jobs.id, { onDelete: "cascade" }),
    taskId: varchar("task_id", { length: 200 }).notNull(),
    index: int("task_index").notNull(),
    isolateHash: varchar("isolate_hash", { length: 128 }).notNull(),
    description: text("description").notNull(),
    timeoutSec: int("timeout_sec").notNull(),
    maxRetries: int("max_retries").notNull(),
    artifactGlobs: jsonText<string[]>("artifact_globs").notNull(),
    /** null: the default globs (most tasks), so a big job's rows do not repeat them. */
    resultGlobs: jsonText<string[]>("result_globs"),
    env: jsonText<Record<string, string>>("env").notNull(),
    dimensions: jsonText<Record<string, string>>("dimensions").notNull(),
    priority: int("priority").notNull(),
    shardIndex: int("shard_index"),
    shardCount: int("shard_count"),
    caseFilter: jsonText<CaseFilterSpec>("case_filter"),
    caseSelection: jsonMediumText<CaseSelection>("case_selection"),
    retryMode: varchar("retry_mode", { length: 8, enum: RETRY_MODES }).notNull().default("cases"),
    idempotent: boolean("idempotent").notNull().default(false),
    taskKey: varchar("task_key", { length: 64 }),
  },
  (t) => [primaryKey({ name: "tasks_pk", columns: [t.jobId, t.taskId] }), index("tasks_job_index_idx").on(t.jobId, t.index)],
);

export const attempts = mysqlTable(
  "attempts",
  {
    jobId: varchar("job_id", { length: 100 }).notNull(),
    taskId: varchar("task_id", { length: 200 }).notNull(),
    attempt: int("attempt").notNull(),
    retry: int("retry").notNull(),
    state: varchar("state", { length: 16, enum: ATTEMPT_STATES }).notNull(),
    slave: varchar("slave", { length: 255 }),
    leaseId: varchar("lease_id", { length: 64 }),
    leaseExpiresAt: epochMs("lease_expires_at"),
    exitCode: int("exit_code"),
    stdoutKey: varchar("stdout_key", { length: 512 }),
    stderrKey: varchar("stderr_key", { length: 512 }),
    artifactKey: varchar("artifact_key", { length: 512 }),
    artifactMissing: boolean("artifact_missing").notNull(),
    cache: jsonText<CacheCounts>("cache"),
    outputsRef: jsonText<OutputsRef>("outputs_ref"),
    message: text("message"),
    caseSelection: jsonMediumText<CaseSelection>("case_selection"),
    quarantined: boolean("quarantined").notNull().default(false),
    reusedFrom: jsonText<ReuseOrigin>("reused_from"),
    queuedAt: epochMs("queued_at").notNull(),
    leasedAt: epochMs("leased_at"),
    fetchDoneAt: epochMs("fetch_done_at"),
    mapDoneAt: epochMs("map_done_at"),
    commandStartAt: epochMs("command_start_at"),
    commandEndAt: epochMs("command_end_at"),
    uploadDoneAt: epochMs("upload_done_at"),
    reportedAt: epochMs("reported_at"),
  },
  (t) => [
    primaryKey({ name: "attempts_pk", columns: [t.jobId, t.taskId, t.attempt] }),
    foreignKey({ name: "attempts_task_fk", columns: [t.jobId, t.taskId], foreignColumns: [tasks.jobId, tasks.taskId] }).onDelete("cascade"),
    index("attempts_lease_id_idx").on(t.leaseId),
    index("attempts_state_idx").on(t.state),
  ],
);

export const durations = mysqlTable("durations", {
  key: varchar("key", { length: 255 }).primaryKey(),
  expectedMs: double("expected_ms").notNull(),
  samples: int("samples").notNull(),
  updatedAt: epochMs("updated_at").notNull(),
});

export const slaves = mysqlTable("slaves", {
  name: varchar("name", { length: 255 }).primaryKey(),
  dimensions: jsonText<Record<string, string>>("dimensions").notNull(),
  slots: int("slots").notNull(),
  version: varchar("version", { length: 64 }).notNull(),
  state: varchar("state", { length: 16, enum: SLAVE_STATES }).notNull(),
  lastSeenAt: epochMs("last_seen_at").notNull(),
  registeredAt: epochMs("registered_at").notNull(),
});

export const cases = mysqlTable(
  "cases",
  {
    jobId: varchar("job_id", { length: 100 }).notNull(),
    taskId: varchar("task_id", { length: 200 }).notNull(),
    attempt: int("attempt").notNull(),
    caseIndex: int("case_index").notNull(),
    caseKey: varchar("case_key", { length: 32 }).notNull(),
    binary: varchar("test_binary", { length: 255 }).notNull(),
    suite: text("suite").notNull(),
    name: text("name").notNull(),
    status: varchar("status", { length: 8, enum: CASE_STATUSES }).notNull(),
    durationMs: int("duration_ms"),
    message: text("message"),
    file: text("file"),
    line: int("line"),
    flakyFailures: int("flaky_failures").notNull(),
    reportedAt: epochMs("reported_at").notNull(),
  },
  (t) => [
    primaryKey({ name: "cases_pk", columns: [t.jobId, t.taskId, t.attempt, t.caseIndex] }),
    index("cases_job_key_idx").on(t.jobId, t.caseKey),
    index("cases_history_idx").on(t.caseKey, t.reportedAt),
    index("cases_binary_idx").on(t.binary, t.reportedAt),
  ],
);

export const jobCases = mysqlTable(
  "job_cases",
  {
    jobId: varchar("job_id", { length: 100 }).notNull(),
    caseKey: varchar("case_key", { length: 32 }).notNull(),
    seq: int("seq").notNull(),
    binary: varchar("test_binary", { length: 255 }).notNull(),
    suite: text("suite").notNull(),
    name: text("name").notNull(),
    status: varchar("status", { length: 8, enum: JOB_CASE_STATUSES }).notNull(),
    taskId: varchar("task_id", { length: 200 }).notNull(),
    attempt: int("attempt").notNull(),
    durationMs: int("duration_ms"),
    message: text("message"),
    file: text("file"),
    line: int("line"),
    runs: int("runs").notNull(),
    failures: int("failures").notNull(),
    reusedFrom: jsonText<RunRef>("reused_from"),
  },
  (t) => [
    primaryKey({ name: "job_cases_pk", columns: [t.jobId, t.caseKey] }),
    index("job_cases_seq_idx").on(t.jobId, t.seq),
    index("job_cases_status_idx").on(t.jobId, t.status, t.seq),
  ],
);

export const jobCaseCounts = mysqlTable("job_case_counts", {
  jobId: varchar("job_id", { length: 100 }).primaryKey(),
  passed: int("passed").notNull(),
  failed: int("failed").notNull(),
  crashed: int("crashed").notNull(),
  flaky: int("flaky").notNull(),
  skipped: int("skipped").notNull(),
});

export const jobFlags = mysqlTable(
  "job_flags",
  {
    id: int("id").autoincrement().primaryKey(),
    jobId: varchar("job_id", { length: 100 }).notNull(),
    taskId: varchar("task_id", { length: 200 }).notNull(),
    attempt: int("attempt").notNull(),
    kind: varchar("kind", { length: 32 }).notNull(),
    text: text("text").notNull(),
    createdAt: epochMs("created_at").notNull(),
  },
  (t) => [index("job_flags_job_idx").on(t.jobId, t.id)],
);

export const quarantine = mysqlTable(
  "quarantine",
  {
    id: int("id").autoincrement().primaryKey(),
    binary: varchar("test_binary", { length: 255 }),
    suite: text("suite").notNull(),
    name: text("name").notNull(),
    reason: text("reason").notNull(),
    createdAt: epochMs("created_at").notNull(),
    createdBy: varchar("created_by", { length: 64 }).notNull(),
    until: epochMs("expires_at"),
    removedAt: epochMs("removed_at"),
    removedBy: varchar("removed_by", { length: 64 }),
  },
  (t) => [index("quarantine_removed_at_idx").on(t.removedAt)],
);

export const quarantinedCases = mysqlTable(
  "quarantined_cases",
  {
    jobId: varchar("job_id", { length: 100 }).notNull(),
    caseKey: varchar("case_key", { length: 32 }).notNull(),
    taskId: varchar("task_id", { length: 200 }).notNull(),
    attempt: int("attempt").notNull(),
    quarantineId: int("quarantine_id").notNull(),
  },
  (t) => [primaryKey({ name: "quarantined_cases_pk", columns: [t.jobId, t.caseKey, t.taskId, t.attempt] })],
);

export const reusableResults = mysqlTable(
  "reusable_results",
  {
    taskKey: varchar("task_key", { length: 64 }).notNull(),
    jobId: varchar("job_id", { length: 100 })
      .notNull()
      .references(() => jobs.id, { onDelete: "cascade" }),
    taskId: varchar("task_id", { length: 200 }).notNull(),
    attempt: int("attempt").notNull(),
    reportedAt: epochMs("reported_at").notNull(),
    savedMs: int("saved_ms").notNull(),
  },
  (t) => [
    primaryKey({ name: "reusable_results_pk", columns: [t.jobId, t.taskId] }),
    index("reusable_results_key_idx").on(t.taskKey, t.reportedAt),
  ],
);

export const binaryTasks = mysqlTable(
  "binary_tasks",
  {
    binary: varchar("test_binary", { length: 255 }).notNull(),
    jobId: varchar("job_id", { length: 100 }).notNull(),
    taskId: varchar("task_id", { length: 200 }).notNull(),
    index: int("task_index").notNull(),
    createdAt: epochMs("created_at").notNull(),
  },
  (t) => [
    primaryKey({ name: "binary_tasks_pk", columns: [t.jobId, t.taskId] }),
    foreignKey({ name: "binary_tasks_task_fk", columns: [t.jobId, t.taskId], foreignColumns: [tasks.jobId, tasks.taskId] }).onDelete("cascade"),
    index("binary_tasks_history_idx").on(t.binary, t.createdAt, t.jobId, t.index, t.taskId),
  ],
);

/** True when A and B are the same type, property modifiers included (plain mutual assignability would let `readonly` or `any` through). */
type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Assert<T extends true> = T;
/** True when both tables have the same select and the same insert row type. */
type SameRows<M extends Table, S extends Table> = [Equals<InferSelectModel<M>, InferSelectModel<S>>, Equals<InferInsertModel<M>, InferInsertModel<S>>] extends [true, true] ? true : false;
/** Compile-time proof that each MySQL table reads and writes the SQLite table's row type. */
export type RowsMatchSqlite = [
  Assert<SameRows<typeof jobs, typeof sqlite.jobs>>,
  Assert<SameRows<typeof tasks, typeof sqlite.tasks>>,
  Assert<SameRows<typeof attempts, typeof sqlite.attempts>>,
  Assert<SameRows<typeof durations, typeof sqlite.durations>>,
  Assert<SameRows<typeof slaves, typeof sqlite.slaves>>,
  Assert<SameRows<typeof cases, typeof sqlite.cases>>,
  Assert<SameRows<typeof jobCases, typeof sqlite.jobCases>>,
  Assert<SameRows<typeof jobCaseCounts, typeof sqlite.jobCaseCounts>>,
  Assert<SameRows<typeof jobFlags, typeof sqlite.jobFlags>>,
  Assert<SameRows<typeof quarantine, typeof sqlite.quarantine>>,
  Assert<SameRows<typeof quarantinedCases, typeof sqlite.quarantinedCases>>,
  Assert<SameRows<typeof reusableResults, typeof sqlite.reusableResults>>,
  Assert<SameRows<typeof binaryTasks, typeof sqlite.binaryTasks>>,
];
