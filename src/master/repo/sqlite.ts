/**
 * The Repo on one SQLite file, through drizzle over bun:sqlite: what
 * `dt master` uses on a single machine.
 *
 * bun:sqlite is synchronous and drizzle's bun-sqlite transactions take only
 * synchronous callbacks (drizzle-orm 0.45 runs the callback inside
 * `Database.transaction()`, which commits as soon as an async callback returns
 * its promise). Repo.transaction takes an async one, so transactions are
 * explicit BEGIN IMMEDIATE / COMMIT / ROLLBACK on the one connection, and a
 * gate serializes everything on that connection: while a transaction is open
 * no other caller's statement can slip into it.
 */
import { and, asc, desc, eq, getTableColumns, gte, inArray, isNull, lt, sql, type SQL } from "drizzle-orm";
import type { BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import { type Clock, systemClock } from "../../common/clock.ts";
import { yieldToEventLoop } from "../../common/concurrency.ts";
import { DtError } from "../../common/errors.ts";
import { ATTEMPT_STATES, TERMINAL_STATES, type Attempt, type AttemptState, type AttemptHead, type Job, type JobFlag, type SlaveInfo, type Task } from "../model.ts";
import type { CaseResult } from "../../results/model.ts";
import { type CaseAttempt, storeCasesWith } from "../cases/case-store.ts";
import { type FlakyCaseStats, type FlakyQuery, findFlakyCases } from "../cases/flaky-cases.ts";
import { binaryCaseDurationsOn, caseHistoryOn, jobCaseCountsOn, listJobCasesOn, sqliteCaseStoreOps, sqliteFlakyOps, taskCaseRunsOn } from "./sqlite-cases.ts";
import type { KnownCase } from "../scheduler/shard-planner.ts";
import type { JobCaseCounts } from "../protocol.ts";
import type { AttemptPatch, CaseRunKey, JobCaseQuery, JobFilter, QuarantineQuery, Repo, ReusableResult, TaskCaseRun, TaskHeadRow } from "./repo.ts";
import type { CaseLink } from "../reuse/linked-cases.ts";
import { findReusableOn, forgetReusableOn, linkReusedCasesOn, recordReusableOn } from "./sqlite-reuse.ts";
import type { NewQuarantineEntry, QuarantineEntry } from "../quarantine/entry.ts";
import { addQuarantineOn, jobQuarantinesOn, listQuarantineOn, recordQuarantinedCasesOn, removeQuarantineOn } from "./sqlite-quarantine.ts";
import { attempts, binaryTasks, type CaseRow, type QuarantinedCaseRow, type ReusableResultRow, durations, type JobCaseRow, jobFlags, jobs, slaves, tasks } from "./schema-sqlite.ts";
import { type Connection, insertRows, insertSliced, openConnection, sqliteMessage, type TxScope } from "./sqlite-connection.ts";
import { binaryTaskRows, checkJobParts } from "./job-parts.ts";
import { type BinaryHistoryRows, readBinaryHistory } from "../jobs/binary-history.ts";
import { sqliteBinaryHistoryOps } from "./sqlite-binaries.ts";
import { DEFAULT_JOB_LIMIT, jobFilterConditions } from "./job-filter.ts";

/** The columns getAttemptHeads reads. */
const ATTEMPT_HEAD_COLUMNS = {
  taskId: attempts.taskId, attempt: attempts.attempt, retry: attempts.retry, state: attempts.state, quarantined: attempts.quarantined,
  leasedAt: attempts.leasedAt, reportedAt: attempts.reportedAt, reusedFrom: attempts.reusedFrom,
};

/** The columns getTaskHeads reads. */
const TASK_HEAD_COLUMNS = { index: tasks.index, taskId: tasks.taskId, description: tasks.description, shardIndex: tasks.shardIndex, shardCount: tasks.shardCount };
const OPEN_STATES = ATTEMPT_STATES.filter((s) => !TERMINAL_STATES.has(s));
/** Keys per duration lookup: ~30 ms of SQLite's time, so a huge job's lookup lets other requests in between. */
const KEYS_PER_QUERY = 5_000;

export interface SqliteRepoOptions {
  /** Stamps the migrations table; the system clock by default. */
  clock?: Clock;
}

/**
 * @example
 *   const repo = await SqliteRepo.open("/var/lib/dt/dt.db");
 *   await repo.transaction(async (tx) => { await tx.updateAttempt(...); await tx.insertAttempt(...); });
 */
export class SqliteRepo implements Repo {
  private constructor(
    private readonly conn: Connection,
    /** Set when this repo is the one a transaction() callback was given. */
    private readonly scope: TxScope | null,
  ) {}

  /**
   * Opens (creating the file and its directory) and migrates the database at
   * `path`; ":memory:" gives a private in-memory one, for tests.
   */
  static async open(path: string, options: SqliteRepoOptions = {}): Promise<SqliteRepo> {
    return new SqliteRepo(await openConnection(path, options.clock ?? systemClock), null);
  }

  async createJob(job: Job, taskList: readonly Task[], attemptList: readonly Attempt[]): Promise<void> {
    checkJobParts(job, taskList, attemptList);
    await this.transaction(async (tx) => {
      const { db } = (tx as SqliteRepo).conn;
      if (db.select({ id: jobs.id }).from(jobs).where(eq(jobs.id, job.id)).get()) {
        throw new DtError("invalid_input", `job id ${job.id} already exists; choose another name`);
      }
      try {
        db.insert(jobs).values(job).run();
        // bun:sqlite blocks the event loop while it writes: a huge job goes in statements of a few thousand rows, with other requests answered between them.
        await insertSliced(this.conn, tasks, taskList, yieldToEventLoop);
        await insertSliced(this.conn, binaryTasks, binaryTaskRows(job, taskList), yieldToEventLoop);
        await insertSliced(this.conn, attempts, attemptList, yieldToEventLoop);
      } catch (err) {
        throw new DtError("internal", `storing job ${job.id} failed: ${sqliteMessage(err)}`, { cause: err });
      }
    });
  }

  getJob(jobId: string): Promise<Job | null> {
    return this.exec((db) => db.select().from(jobs).where(eq(jobs.id, jobId)).get() ?? null);
  }

  listJobs(filter: JobFilter): Promise<Job[]> {
    const conditions = jobFilterConditions(filter, jobs);
    return this.exec((db) =>
      db
        .select()
        .from(jobs)
        .where(and(...conditions))
        .orderBy(desc(jobs.createdAt), desc(jobs.id))
        .limit(Math.max(0, filter.limit ?? DEFAULT_JOB_LIMIT))
        .all(),
    );
  }

  async setJobCanceled(jobId: string, at: number): Promise<void> {
    await this.exec((db) => {
      // The first cancel's time stands: a repeated cancel changes nothing.
      const changed = db.update(jobs).set({ canceledAt: at }).where(and(eq(jobs.id, jobId), isNull(jobs.canceledAt))).returning({ id: jobs.id }).all();
      if (changed.length === 0 && !db.select({ id: jobs.id }).from(jobs).where(eq(jobs.id, jobId)).get()) {
        throw new DtError("not_found", `cannot cancel job ${jobId}: no such job`);
      }
    });
  }

  getTasks(jobId: string, slice?: { from: number; to: number }): Promise<Task[]> {
    const inSlice = slice ? and(gte(tasks.index, slice.from), lt(tasks.index, slice.to)) : undefined;
    return this.exec((db) => db.select().from(tasks).where(and(eq(tasks.jobId, jobId), inSlice)).orderBy(asc(tasks.index)).all());
  }

  getTaskHeads(jobId: string, slice?: { from: number; to: number }): Promise<TaskHeadRow[]> {
    const inSlice = slice ? and(gte(tasks.index, slice.from), lt(tasks.index, slice.to)) : undefined;
    return this.exec((db) => db.select(TASK_HEAD_COLUMNS).from(tasks).where(and(eq(tasks.jobId, jobId), inSlice)).orderBy(asc(tasks.index)).all());
  }

  getTask(jobId: string, taskId: string): Promise<Task | null> {
    return this.exec((db) => db.select().from(tasks).where(and(eq(tasks.jobId, jobId), eq(tasks.taskId, taskId))).get() ?? null);
  }

  getAttempts(jobId: string, slice?: { from: number; to: number }): Promise<Attempt[]> {
    return this.exec((db) => db.select(getTableColumns(attempts)).from(attempts).innerJoin(tasks, ATTEMPT_TASK).where(attemptsOfJob(jobId, slice)).orderBy(...ATTEMPT_ORDER).all());
  }

  getAttemptHeads(jobId: string, slice?: { from: number; to: number }): Promise<AttemptHead[]> {
    return this.exec((db) => db.select(ATTEMPT_HEAD_COLUMNS).from(attempts).innerJoin(tasks, ATTEMPT_TASK).where(attemptsOfJob(jobId, slice)).orderBy(...ATTEMPT_ORDER).all());
  }

  getAttempt(jobId: string, taskId: string, attempt: number): Promise<Attempt | null> {
    return this.exec((db) => db.select().from(attempts).where(attemptKey(jobId, taskId, attempt)).get() ?? null);
  }

  findAttemptByLease(leaseId: string): Promise<Attempt | null> {
    return this.exec((db) => db.select().from(attempts).where(eq(attempts.leaseId, leaseId)).orderBy(desc(attempts.queuedAt)).limit(1).get() ?? null);
  }

  openAttempts(): Promise<Attempt[]> {
    return this.exec((db) =>
      db
        .select()
        .from(attempts)
        .where(inArray(attempts.state, OPEN_STATES))
        .orderBy(asc(attempts.queuedAt), asc(attempts.jobId), asc(attempts.taskId), asc(attempts.attempt))
        .all(),
    );
  }

  async insertAttempt(attempt: Attempt): Promise<void> {
    await this.exec(() => {
      try {
        // One prepared INSERT kept on the connection, the one createJob's attempts go through.
        insertRows(this.conn, attempts, [attempt]);
      } catch (err) {
        throw new DtError("internal", `inserting attempt ${attempt.attempt} of task ${attempt.taskId} in job ${attempt.jobId} failed: ${sqliteMessage(err)}`, { cause: err });
      }
    });
  }

  updateAttempt(jobId: string, taskId: string, attempt: number, patch: AttemptPatch, from?: readonly AttemptState[]): Promise<boolean> {
    // A prepared statement per shape of patch (sqlite-statements.ts): every attempt's lease, phase and result come through here.
    return this.exec(() => this.conn.statements.updateAttempt(jobId, taskId, attempt, patch, from));
  }

  cancelQueuedAttempts(jobId: string, at: number, limit: number): Promise<number> {
    // SQLite has no UPDATE … LIMIT unless built with it: the batch is picked by rowid.
    const statement = "UPDATE attempts SET state = 'CANCELED', message = '[canceled]', reported_at = ? WHERE rowid IN (SELECT rowid FROM attempts WHERE job_id = ? AND state = 'QUEUED' LIMIT ?)";
    return this.exec(() => this.conn.client.query(statement).run(at, jobId, Math.max(0, limit)).changes);
  }

  async transaction<T>(fn: (repo: Repo) => Promise<T>): Promise<T> {
    const { client, gate, context, statements } = this.conn;
    if (this.scope) {
      // Nested: a savepoint inside the enclosing transaction.
      const name = `dt_sp${++this.scope.savepoints}`;
      return this.inScope(this.scope, fn, () => client.run(`SAVEPOINT ${name}`), () => client.run(`RELEASE ${name}`), () => client.exec(`ROLLBACK TO ${name}; RELEASE ${name}`));
    }
    this.refuseInsideTransaction();
    return gate.run(() => {
      const scope: TxScope = { ended: false, savepoints: 0 };
      return context.run(scope, () => this.inScope(scope, fn, () => statements.beginImmediate(), () => statements.commitTransaction(), () => statements.rollbackTransaction())).finally(() => {
        scope.ended = true;
        if (client.inTransaction) statements.rollbackTransaction();
      });
    });
  }

  async expectedDurations(keys: readonly string[]): Promise<Map<string, number>> {
    const found = new Map<string, number>();
    if (keys.length === 1) {
      // A retry's queueing asks for one key: a prepared statement, not a query built for it.
      const ms = await this.exec(() => this.conn.statements.expectedDurationOf(keys[0]!));
      if (ms !== undefined) found.set(keys[0]!, ms);
      return found;
    }
    for (let i = 0; i < keys.length; i += KEYS_PER_QUERY) {
      // A 100,000-task job's lookup would hold the event loop for half a second in one piece.
      if (i > 0) await yieldToEventLoop();
      const rows = await this.exec((db) => db.select({ key: durations.key, ms: durations.expectedMs }).from(durations).where(inArray(durations.key, keys.slice(i, i + KEYS_PER_QUERY))).all());
      for (const row of rows) found.set(row.key, row.ms);
    }
    return found;
  }

  async recordDuration(key: string, ms: number, at: number): Promise<void> {
    await this.exec(() => this.conn.statements.recordDurationRow(key, ms, at));
  }

  async storeCases(at: CaseAttempt, list: readonly CaseResult[]): Promise<void> {
    // One transaction (a savepoint inside the caller's) for all batches: the attempt's cases are stored whole or not at all.
    await this.transaction((tx) => storeCasesWith(sqliteCaseStoreOps(this.conn, at, (body) => (tx as SqliteRepo).exec(body)), at, list));
  }

  recordReusable(row: ReusableResultRow): Promise<void> {
    return this.exec((db) => recordReusableOn(db, row));
  }

  forgetReusable(taskKey: string): Promise<void> {
    return this.exec((db) => forgetReusableOn(db, taskKey));
  }

  findReusable(keys: readonly string[], since: number): Promise<Map<string, ReusableResult>> {
    return findReusableOn((body) => this.exec(body), keys, since);
  }

  async linkReusedCases(jobId: string, links: readonly CaseLink[]): Promise<void> {
    const at = { jobId, taskId: "", attempt: 0, binary: "", reportedAt: 0 };
    await this.transaction((tx) => {
      const run = <T>(body: (db: BunSQLiteDatabase) => T) => (tx as SqliteRepo).exec(body);
      return linkReusedCasesOn(sqliteCaseStoreOps(this.conn, at, run), run, jobId, links);
    });
  }

  listJobCases(jobId: string, query: JobCaseQuery): Promise<JobCaseRow[]> {
    return this.exec((db) => listJobCasesOn(db, jobId, query));
  }

  jobCaseCounts(jobId: string): Promise<JobCaseCounts> {
    return this.exec((db) => jobCaseCountsOn(db, jobId));
  }

  caseHistory(caseKey: string, limit: number): Promise<CaseRow[]> {
    return this.exec((db) => caseHistoryOn(db, caseKey, limit));
  }

  binaryHistory(binary: string, query: { limit: number; maxTasks: number }): Promise<BinaryHistoryRows> {
    return readBinaryHistory(sqliteBinaryHistoryOps((body) => this.exec(body)), binary, query);
  }

  taskCaseRuns(jobId: string, taskId: string): Promise<TaskCaseRun[]> {
    return this.exec((db) => taskCaseRunsOn(db, jobId, taskId));
  }

  addQuarantine(entry: NewQuarantineEntry): Promise<QuarantineEntry> {
    return this.exec((db) => addQuarantineOn(db, entry));
  }

  removeQuarantine(id: number, at: number, by: string): Promise<QuarantineEntry | null> {
    return this.exec((db) => removeQuarantineOn(db, id, at, by));
  }

  listQuarantine(query: QuarantineQuery): Promise<QuarantineEntry[]> {
    return this.exec((db) => listQuarantineOn(db, query));
  }

  async recordQuarantinedCases(rows: readonly QuarantinedCaseRow[]): Promise<void> {
    await this.exec((db) => recordQuarantinedCasesOn(db, rows));
  }

  jobQuarantines(jobId: string, runs: readonly CaseRunKey[]): Promise<Map<string, QuarantineEntry>> {
    return this.exec((db) => jobQuarantinesOn(db, jobId, runs));
  }

  binaryCaseDurations(binary: string): Promise<KnownCase[]> {
    return this.exec((db) => binaryCaseDurationsOn(db, binary));
  }

  async addJobFlag(flag: JobFlag): Promise<void> {
    await this.exec((db) => db.insert(jobFlags).values(flag).run());
  }

  listJobFlags(jobId: string, limit: number): Promise<JobFlag[]> {
    return this.exec((db) =>
      db
        .select({ jobId: jobFlags.jobId, taskId: jobFlags.taskId, attempt: jobFlags.attempt, kind: jobFlags.kind, text: jobFlags.text, createdAt: jobFlags.createdAt })
        .from(jobFlags)
        .where(eq(jobFlags.jobId, jobId))
        .orderBy(asc(jobFlags.id))
        .limit(Math.max(0, limit))
        .all() as JobFlag[],
    );
  }

  flakyCases(query: FlakyQuery): Promise<FlakyCaseStats[]> {
    return findFlakyCases(sqliteFlakyOps((body) => this.exec(body)), query);
  }

  async upsertSlave(slave: SlaveInfo): Promise<void> {
    const { name: _name, ...rest } = slave;
    await this.exec((db) => db.insert(slaves).values(slave).onConflictDoUpdate({ target: slaves.name, set: rest }).run());
  }

  listSlaves(): Promise<SlaveInfo[]> {
    return this.exec((db) => db.select().from(slaves).orderBy(asc(slaves.name)).all());
  }

  async ping(): Promise<void> {
    try {
      // Through the gate: a probe waits behind a long transaction as any caller would, and says so by timing out.
      await this.exec(() => this.conn.client.query("SELECT 1").get());
    } catch (err) {
      throw new DtError("unreachable", `SQLite database ${this.conn.path} does not answer: ${sqliteMessage(err)}`, { cause: err });
    }
  }

  async close(): Promise<void> {
    if (this.scope) throw new DtError("internal", "close() called on the repo of a transaction; close the repo that opened it");
    this.refuseInsideTransaction();
    await this.conn.gate.run(() => {
      // Prepared statements still alive would keep the file open and writable behind the closed connection.
      this.conn.statements.finalize();
      for (const { statement } of this.conn.inserts.values()) statement.finalize();
      this.conn.inserts.clear();
      this.conn.client.close();
    });
  }

  /** Runs `body` on the connection: at once inside a transaction, else after whatever holds the gate. */
  private async exec<T>(body: (db: BunSQLiteDatabase) => T): Promise<T> {
    if (this.scope) {
      if (this.scope.ended) throw new DtError("internal", "a transaction's repo was used after the transaction ended");
      return body(this.conn.db);
    }
    this.refuseInsideTransaction();
    return this.conn.gate.run(() => body(this.conn.db));
  }

  private async inScope<T>(scope: TxScope, fn: (repo: Repo) => Promise<T>, begin: () => void, commit: () => void, rollback: () => void): Promise<T> {
    begin();
    let result: T;
    try {
      result = await fn(new SqliteRepo(this.conn, scope));
    } catch (err) {
      try {
        rollback();
      } catch {
        // SQLite may have rolled back already (e.g. on SQLITE_FULL); fn's error is the one to report.
      }
      throw err;
    }
    commit();
    return result;
  }

  /** Calling the outer repo from inside a transaction would wait on the gate that transaction holds: a deadlock, so an error. */
  private refuseInsideTransaction(): void {
    const scope = this.conn.context.getStore();
    if (scope && !scope.ended) {
      throw new DtError("internal", "the repo was called inside its own transaction(); use the repo that transaction() passes to the callback");
    }
  }
}

function attemptKey(jobId: string, taskId: string, attempt: number): SQL {
  return and(eq(attempts.jobId, jobId), eq(attempts.taskId, taskId), eq(attempts.attempt, attempt))!;
}

/** A job's attempts, of the tasks whose index is in [from, to) with `slice`: the where of getAttempts and getAttemptHeads, which join tasks on ATTEMPT_TASK and order by ATTEMPT_ORDER. */
function attemptsOfJob(jobId: string, slice?: { from: number; to: number }): SQL | undefined {
  return and(eq(attempts.jobId, jobId), slice ? and(gte(tasks.index, slice.from), lt(tasks.index, slice.to)) : undefined);
}
const ATTEMPT_TASK = and(eq(tasks.jobId, attempts.jobId), eq(tasks.taskId, attempts.taskId));
const ATTEMPT_ORDER = [asc(tasks.index), asc(attempts.attempt)];
