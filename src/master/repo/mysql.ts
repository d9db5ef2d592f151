/**
 * The Repo on MySQL or MariaDB, through drizzle over a mysql2 pool: what
 * `dt master` uses when several masters' state must outlive one machine.
 *
 * Each call outside a transaction takes a pooled connection for its
 * statements; transaction() keeps one for its length (BEGIN … COMMIT, or
 * ROLLBACK when fn throws) and hands fn a repo bound to it.
 *
 * A lost connection does not end the master: mysql2 drops a connection the
 * server closed from the pool, and the next call opens a new one. A call
 * that meets a dead connection or a server that is not up yet is tried again,
 * at most RETRY_DELAYS_MS.length more times, when that cannot apply a change
 * twice (reads, idempotent writes, or a statement mysql2 never sent); else it
 * fails with DtError "unreachable", saying whether the change may have been
 * stored.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { and, asc, desc, eq, getTableColumns, gte, inArray, isNull, lt, sql, type SQL } from "drizzle-orm";
import { drizzle, type MySql2Database } from "drizzle-orm/mysql2";
import type { PoolConnection } from "mysql2/promise";
import { mysqlMigrations } from "../../../drizzle/mysql/index.ts";
import { type Clock, systemClock } from "../../common/clock.ts";
import { DtError, isDtError } from "../../common/errors.ts";
import { ATTEMPT_STATES, TERMINAL_STATES, type Attempt, type AttemptState, type AttemptHead, type Job, type JobFlag, type SlaveInfo, type Task } from "../model.ts";
import { applyMysqlMigrations } from "./migrate-mysql.ts";
import { driverError, ER_DUP_ENTRY, insertChunked, isConnectionLost, type MysqlPool, openMysqlPool, parseMysqlUrl } from "./mysql-connection.ts";
import type { CaseResult } from "../../results/model.ts";
import { type CaseAttempt, storeCasesWith } from "../cases/case-store.ts";
import { type FlakyCaseStats, type FlakyQuery, findFlakyCases } from "../cases/flaky-cases.ts";
import { binaryCaseDurationsOn, caseHistoryOn, jobCaseCountsOn, listJobCasesOn, mysqlCaseStoreOps, mysqlFlakyOps, taskCaseRunsOn } from "./mysql-cases.ts";
import type { KnownCase } from "../scheduler/shard-planner.ts";
import type { JobCaseCounts } from "../protocol.ts";
import type { AttemptPatch, CaseRunKey, JobCaseQuery, JobFilter, QuarantineQuery, Repo, ReusableResult, TaskCaseRun, TaskHeadRow } from "./repo.ts";
import type { CaseLink } from "../reuse/linked-cases.ts";
import { findReusableOn, forgetReusableOn, linkReusedCasesOn, recordReusableOn } from "./mysql-reuse.ts";
import type { NewQuarantineEntry, QuarantineEntry } from "../quarantine/entry.ts";
import { addQuarantineOn, jobQuarantinesOn, listQuarantineOn, recordQuarantinedCasesOn, removeQuarantineOn } from "./mysql-quarantine.ts";
import { attempts, binaryTasks, durations, jobFlags, jobs, slaves, tasks } from "./schema-mysql.ts";
import type { CaseRow, JobCaseRow, QuarantinedCaseRow, ReusableResultRow } from "./schema-sqlite.ts";
import { binaryTaskRows, checkJobParts } from "./job-parts.ts";
import { type BinaryHistoryRows, readBinaryHistory } from "../jobs/binary-history.ts";
import { mysqlBinaryHistoryOps } from "./mysql-binaries.ts";
import { DEFAULT_JOB_LIMIT, jobFilterConditions } from "./job-filter.ts";

/** dist_test's EWMA: new = OLD_WEIGHT · old + (1 − OLD_WEIGHT) · measured. */
const OLD_WEIGHT = 0.7;
/** The columns getAttemptHeads reads. */
const ATTEMPT_HEAD_COLUMNS = {
  taskId: attempts.taskId, attempt: attempts.attempt, retry: attempts.retry, state: attempts.state, quarantined: attempts.quarantined,
  leasedAt: attempts.leasedAt, reportedAt: attempts.reportedAt, reusedFrom: attempts.reusedFrom,
};

/** The columns getTaskHeads reads. */
const TASK_HEAD_COLUMNS = { index: tasks.index, taskId: tasks.taskId, description: tasks.description, shardIndex: tasks.shardIndex, shardCount: tasks.shardCount };
const OPEN_STATES = ATTEMPT_STATES.filter((s) => !TERMINAL_STATES.has(s));
/** Keys per IN (…) list: a statement of a few hundred KiB, well under max_allowed_packet. */
const KEYS_PER_QUERY = 1000;

export interface MysqlRepoOptions {
  /** Stamps the migrations table; the system clock by default. */
  clock?: Clock;
}

/** One open transaction: its connection, and `ended` once it has committed or rolled back. */
interface TxScope {
  conn: PoolConnection;
  db: MySql2Database;
  ended: boolean;
  savepoints: number;
}

/** What every repo of one open() shares. */
interface Shared {
  pool: MysqlPool;
  /** The transaction, if any, that the current async context runs inside. */
  context: AsyncLocalStorage<TxScope>;
}

/**
 * @example
 *   const repo = await MysqlRepo.open("mysql://dt:secret@db.example:3306/dt");
 *   const local = await MysqlRepo.open("mysql://dt@localhost/dt?socket=/run/mysqld/mysqld.sock");
 */
export class MysqlRepo implements Repo {
  private constructor(
    private readonly shared: Shared,
    /** Set when this repo is the one a transaction() callback was given. */
    private readonly scope: TxScope | null,
  ) {}

  /**
   * Connects to the URL's server, creates its database when missing (the
   * user then needs the CREATE privilege), and applies the migrations it lacks.
   * URLs: `mysql://user:password@host:port/database` (port 3306 by default) or
   * `mysql://user@localhost/database?socket=/run/mysqld/mysqld.sock`.
   */
  static async open(url: string, options: MysqlRepoOptions = {}): Promise<MysqlRepo> {
    const target = parseMysqlUrl(url);
    const migrate = async (conn: PoolConnection) => void (await applyMysqlMigrations(conn, mysqlMigrations(), target.display, (options.clock ?? systemClock).now()));
    return new MysqlRepo({ pool: await openMysqlPool(target, migrate), context: new AsyncLocalStorage() }, null);
  }

  async createJob(job: Job, taskList: readonly Task[], attemptList: readonly Attempt[]): Promise<void> {
    checkJobParts(job, taskList, attemptList);
    await this.transaction(async (tx) => {
      const { db, conn } = (tx as MysqlRepo).scope!;
      try {
        await db.insert(jobs).values(job);
      } catch (err) {
        if (driverError(err).errno === ER_DUP_ENTRY) throw new DtError("invalid_input", `job id ${job.id} already exists; choose another name`);
        throw err;
      }
      try {
        await insertChunked(conn, tasks, taskList, this.shared.pool.maxPacket);
        await insertChunked(conn, binaryTasks, binaryTaskRows(job, taskList), this.shared.pool.maxPacket);
        await insertChunked(conn, attempts, attemptList, this.shared.pool.maxPacket);
      } catch (err) {
        if (isConnectionLost(err)) throw err;
        throw new DtError("internal", `storing job ${job.id} failed: ${driverError(err).message}`, { cause: err });
      }
    });
  }

  getJob(jobId: string): Promise<Job | null> {
    return this.read("getJob", (db) => first(db.select().from(jobs).where(eq(jobs.id, jobId))));
  }

  listJobs(filter: JobFilter): Promise<Job[]> {
    const conditions = jobFilterConditions(filter, jobs);
    const limit = Math.max(0, filter.limit ?? DEFAULT_JOB_LIMIT);
    return this.read("listJobs", (db) => db.select().from(jobs).where(and(...conditions)).orderBy(desc(jobs.createdAt), desc(jobs.id)).limit(limit));
  }

  async setJobCanceled(jobId: string, at: number): Promise<void> {
    // Repeatable: the first cancel's time stands, so a second run changes nothing.
    await this.exec("setJobCanceled", true, async (db) => {
      const [result] = await db.update(jobs).set({ canceledAt: at }).where(and(eq(jobs.id, jobId), isNull(jobs.canceledAt)));
      if (result.affectedRows === 0 && (await db.select({ id: jobs.id }).from(jobs).where(eq(jobs.id, jobId))).length === 0) {
        throw new DtError("not_found", `cannot cancel job ${jobId}: no such job`);
      }
    });
  }

  getTasks(jobId: string, slice?: { from: number; to: number }): Promise<Task[]> {
    const inSlice = slice ? and(gte(tasks.index, slice.from), lt(tasks.index, slice.to)) : undefined;
    return this.read("getTasks", (db) => db.select().from(tasks).where(and(eq(tasks.jobId, jobId), inSlice)).orderBy(asc(tasks.index)));
  }

  getTaskHeads(jobId: string, slice?: { from: number; to: number }): Promise<TaskHeadRow[]> {
    const inSlice = slice ? and(gte(tasks.index, slice.from), lt(tasks.index, slice.to)) : undefined;
    return this.read("getTaskHeads", (db) => db.select(TASK_HEAD_COLUMNS).from(tasks).where(and(eq(tasks.jobId, jobId), inSlice)).orderBy(asc(tasks.index)));
  }

  getTask(jobId: string, taskId: string): Promise<Task | null> {
    return this.read("getTask", (db) =>
      first(
        db
          .select()
          .from(tasks)
          .where(and(eq(tasks.jobId, jobId), eq(tasks.taskId, taskId))),
      ),
    );
  }

  getAttempts(jobId: string, slice?: { from: number; to: number }): Promise<Attempt[]> {
    return this.read("getAttempts", (db) => db.select(getTableColumns(attempts)).from(attempts).innerJoin(tasks, ATTEMPT_TASK).where(attemptsOfJob(jobId, slice)).orderBy(...ATTEMPT_ORDER));
  }

  getAttemptHeads(jobId: string, slice?: { from: number; to: number }): Promise<AttemptHead[]> {
    return this.read("getAttemptHeads", (db) => db.select(ATTEMPT_HEAD_COLUMNS).from(attempts).innerJoin(tasks, ATTEMPT_TASK).where(attemptsOfJob(jobId, slice)).orderBy(...ATTEMPT_ORDER));
  }

  getAttempt(jobId: string, taskId: string, attempt: number): Promise<Attempt | null> {
    return this.read("getAttempt", (db) =>
      first(
        db
          .select()
          .from(attempts)
          .where(attemptKey(jobId, taskId, attempt)),
      ),
    );
  }

  findAttemptByLease(leaseId: string): Promise<Attempt | null> {
    return this.read("findAttemptByLease", (db) => first(db.select().from(attempts).where(eq(attempts.leaseId, leaseId)).orderBy(desc(attempts.queuedAt)).limit(1)));
  }

  openAttempts(): Promise<Attempt[]> {
    return this.read("openAttempts", (db) =>
      db.select().from(attempts).where(inArray(attempts.state, OPEN_STATES)).orderBy(asc(attempts.queuedAt), asc(attempts.jobId), asc(attempts.taskId), asc(attempts.attempt)),
    );
  }

  async insertAttempt(attempt: Attempt): Promise<void> {
    await this.exec("insertAttempt", false, async (db) => {
      try {
        await db.insert(attempts).values(attempt);
      } catch (err) {
        if (isConnectionLost(err)) throw err;
        throw new DtError("internal", `inserting attempt ${attempt.attempt} of task ${attempt.taskId} in job ${attempt.jobId} failed: ${driverError(err).message}`, { cause: err });
      }
    });
  }

  updateAttempt(jobId: string, taskId: string, attempt: number, patch: AttemptPatch, from?: readonly AttemptState[]): Promise<boolean> {
    // The key is not patchable, even when a caller spreads a whole Attempt in.
    const { jobId: _j, taskId: _t, attempt: _a, ...values } = patch as Partial<Attempt>;
    const where = and(attemptKey(jobId, taskId, attempt), from ? inArray(attempts.state, [...from]) : undefined);
    if (Object.values(values).every((v) => v === undefined)) {
      return this.read(
        "updateAttempt",
        async (db) =>
          (await first(
            db
              .select({ n: sql`1` })
              .from(attempts)
              .where(where)
              .limit(1),
          )) !== null,
      );
    }
    // One UPDATE … WHERE state IN (…): the check and the change are one step. mysql2 sets CLIENT_FOUND_ROWS,
    // so affectedRows counts the rows matched, changed or not, as SQLite's RETURNING does.
    return this.exec("updateAttempt", false, async (db) => (await db.update(attempts).set(values).where(where))[0].affectedRows > 0);
  }

  cancelQueuedAttempts(jobId: string, at: number, limit: number): Promise<number> {
    // Safe to retry after a lost answer: a second run ends up to `limit` further QUEUED attempts of the job, which its caller (ending them all) wants anyway.
    return this.exec("cancelQueuedAttempts", true, async (db) => {
      const [result] = await db.execute(sql`UPDATE attempts SET state = 'CANCELED', message = '[canceled]', reported_at = ${at} WHERE job_id = ${jobId} AND state = 'QUEUED' LIMIT ${Math.max(0, Math.floor(limit))}`);
      return (result as unknown as { affectedRows: number }).affectedRows;
    });
  }

  async transaction<T>(fn: (repo: Repo) => Promise<T>): Promise<T> {
    const { scope } = this;
    if (scope) return this.savepoint(scope, fn);
    this.refuseInsideTransaction();
    const begin = async (conn: PoolConnection) => (await conn.query("START TRANSACTION"), conn);
    const conn = await this.shared.pool.connect("BEGIN", true, begin, true);
    const tx: TxScope = { conn, db: drizzle({ client: conn }), ended: false, savepoints: 0 };
    let broken = false;
    try {
      let result: T;
      try {
        result = await this.shared.context.run(tx, () => fn(new MysqlRepo(this.shared, tx)));
      } catch (err) {
        // A failed ROLLBACK means the connection is gone, and the server rolls back what it lost.
        await conn.query("ROLLBACK").catch(() => (broken = true));
        throw isConnectionLost(err) ? this.shared.pool.lost("a transaction", err, "it is rolled back") : err;
      }
      try {
        await conn.query("COMMIT");
      } catch (err) {
        broken = true;
        throw this.shared.pool.lost("COMMIT", err, "the transaction may or may not have committed");
      }
      return result;
    } finally {
      tx.ended = true;
      if (broken) conn.destroy();
      else conn.release();
    }
  }

  expectedDurations(keys: readonly string[]): Promise<Map<string, number>> {
    return this.read("expectedDurations", async (db) => {
      const found = new Map<string, number>();
      for (let i = 0; i < keys.length; i += KEYS_PER_QUERY) {
        const rows = await db.select({ key: durations.key, ms: durations.expectedMs }).from(durations).where(inArray(durations.key, keys.slice(i, i + KEYS_PER_QUERY)));
        for (const row of rows) found.set(row.key, row.ms);
      }
      return found;
    });
  }

  async recordDuration(key: string, ms: number, at: number): Promise<void> {
    await this.exec("recordDuration", false, (db) =>
      db
        .insert(durations)
        .values({ key, expectedMs: ms, samples: 1, updatedAt: at })
        .onDuplicateKeyUpdate({
          set: {
            // MySQL evaluates these left to right; each reads only its own column's old value.
            expectedMs: sql`${OLD_WEIGHT} * expected_ms + ${1 - OLD_WEIGHT} * VALUES(expected_ms)`,
            samples: sql`samples + 1`,
            updatedAt: sql`VALUES(updated_at)`,
          },
        }),
    );
  }

  async storeCases(at: CaseAttempt, list: readonly CaseResult[]): Promise<void> {
    // One transaction (a savepoint inside the caller's) for all batches: the attempt's cases are stored whole or not at all.
    await this.transaction((tx) => {
      const repo = tx as MysqlRepo;
      return storeCasesWith(mysqlCaseStoreOps(repo.scope!.conn, this.shared.pool, at, (body) => repo.exec("storeCases", false, body)), at, list);
    });
  }

  recordReusable(row: ReusableResultRow): Promise<void> {
    return this.exec("recordReusable", true, (db) => recordReusableOn(db, row));
  }

  forgetReusable(taskKey: string): Promise<void> {
    return this.exec("forgetReusable", true, (db) => forgetReusableOn(db, taskKey));
  }

  findReusable(keys: readonly string[], since: number): Promise<Map<string, ReusableResult>> {
    return findReusableOn((body) => this.read("findReusable", body), keys, since);
  }

  async linkReusedCases(jobId: string, links: readonly CaseLink[]): Promise<void> {
    const at = { jobId, taskId: "", attempt: 0, binary: "", reportedAt: 0 };
    await this.transaction((tx) => {
      const repo = tx as MysqlRepo;
      const run = <T>(body: (db: MySql2Database) => Promise<T>) => repo.exec("linkReusedCases", false, body);
      return linkReusedCasesOn(mysqlCaseStoreOps(repo.scope!.conn, this.shared.pool, at, run), run, jobId, links);
    });
  }

  listJobCases(jobId: string, query: JobCaseQuery): Promise<JobCaseRow[]> {
    return this.read("listJobCases", (db) => listJobCasesOn(db, jobId, query));
  }

  jobCaseCounts(jobId: string): Promise<JobCaseCounts> {
    return this.read("jobCaseCounts", (db) => jobCaseCountsOn(db, jobId));
  }

  caseHistory(caseKey: string, limit: number): Promise<CaseRow[]> {
    return this.read("caseHistory", (db) => caseHistoryOn(db, caseKey, limit));
  }

  binaryHistory(binary: string, query: { limit: number; maxTasks: number }): Promise<BinaryHistoryRows> {
    return readBinaryHistory(mysqlBinaryHistoryOps((what, body) => this.read(what, body)), binary, query);
  }

  taskCaseRuns(jobId: string, taskId: string): Promise<TaskCaseRun[]> {
    return this.read("taskCaseRuns", (db) => taskCaseRunsOn(db, jobId, taskId));
  }

  addQuarantine(entry: NewQuarantineEntry): Promise<QuarantineEntry> {
    return this.exec("addQuarantine", false, (db) => addQuarantineOn(db, entry));
  }

  removeQuarantine(id: number, at: number, by: string): Promise<QuarantineEntry | null> {
    return this.exec("removeQuarantine", true, (db) => removeQuarantineOn(db, id, at, by));
  }

  listQuarantine(query: QuarantineQuery): Promise<QuarantineEntry[]> {
    return this.read("listQuarantine", (db) => listQuarantineOn(db, query));
  }

  async recordQuarantinedCases(rows: readonly QuarantinedCaseRow[]): Promise<void> {
    await this.exec("recordQuarantinedCases", true, (db) => recordQuarantinedCasesOn(db, rows));
  }

  jobQuarantines(jobId: string, runs: readonly CaseRunKey[]): Promise<Map<string, QuarantineEntry>> {
    return this.read("jobQuarantines", (db) => jobQuarantinesOn(db, jobId, runs));
  }

  binaryCaseDurations(binary: string): Promise<KnownCase[]> {
    return this.read("binaryCaseDurations", (db) => binaryCaseDurationsOn(db, binary));
  }

  async addJobFlag(flag: JobFlag): Promise<void> {
    // Not retried: a lost connection after the insert reached the server would store the flag twice.
    await this.exec("addJobFlag", false, (db) => db.insert(jobFlags).values(flag));
  }

  listJobFlags(jobId: string, limit: number): Promise<JobFlag[]> {
    return this.read("listJobFlags", async (db) =>
      (await db
        .select({ jobId: jobFlags.jobId, taskId: jobFlags.taskId, attempt: jobFlags.attempt, kind: jobFlags.kind, text: jobFlags.text, createdAt: jobFlags.createdAt })
        .from(jobFlags)
        .where(eq(jobFlags.jobId, jobId))
        .orderBy(asc(jobFlags.id))
        .limit(Math.max(0, limit))) as JobFlag[],
    );
  }

  flakyCases(query: FlakyQuery): Promise<FlakyCaseStats[]> {
    return findFlakyCases(mysqlFlakyOps((what, body) => this.read(what, body)), query);
  }

  async upsertSlave(slave: SlaveInfo): Promise<void> {
    const { name: _name, ...rest } = slave;
    await this.exec("upsertSlave", true, (db) => db.insert(slaves).values(slave).onDuplicateKeyUpdate({ set: rest }));
  }

  listSlaves(): Promise<SlaveInfo[]> {
    return this.read("listSlaves", (db) => db.select().from(slaves).orderBy(asc(slaves.name)));
  }

  async ping(): Promise<void> {
    try {
      await this.exec("ping", true, (db) => db.execute(sql`SELECT 1`));
    } catch (err) {
      if (isDtError(err, "unreachable")) throw err;
      // The pool's own errors name the database already.
      throw new DtError("unreachable", isDtError(err) ? err.message : `MySQL ${this.shared.pool.target.display} does not answer: ${driverError(err).message}`, { cause: err });
    }
  }

  async close(): Promise<void> {
    if (this.scope) throw new DtError("internal", "close() called on the repo of a transaction; close the repo that opened it");
    this.refuseInsideTransaction();
    await this.shared.pool.end();
  }

  private read<T>(op: string, body: (db: MySql2Database) => Promise<T>): Promise<T> {
    return this.exec(op, true, body);
  }

  /** Runs `body` on the transaction's connection, or on a pooled one; `repeatable` when running it twice changes nothing more. */
  private async exec<T>(op: string, repeatable: boolean, body: (db: MySql2Database) => Promise<T>): Promise<T> {
    const { scope } = this;
    if (!scope) {
      this.refuseInsideTransaction();
      return this.shared.pool.connect(op, repeatable, (conn) => body(drizzle({ client: conn })));
    }
    if (scope.ended) throw new DtError("internal", "a transaction's repo was used after the transaction ended");
    try {
      return await body(scope.db);
    } catch (err) {
      throw isConnectionLost(err) ? this.shared.pool.lost(op, err, "the transaction is rolled back") : err;
    }
  }

  private async savepoint<T>(scope: TxScope, fn: (repo: Repo) => Promise<T>): Promise<T> {
    const name = `dt_sp${++scope.savepoints}`;
    await scope.conn.query(`SAVEPOINT ${name}`);
    try {
      const result = await fn(new MysqlRepo(this.shared, scope));
      await scope.conn.query(`RELEASE SAVEPOINT ${name}`);
      return result;
    } catch (err) {
      // On a lost connection this fails too, and the whole transaction is rolled back by the server: fn's error is the one to report.
      await scope.conn.query(`ROLLBACK TO SAVEPOINT ${name}`).catch(() => {});
      throw err;
    }
  }

  /** The outer repo inside its own transaction would wait on rows that transaction locked; SqliteRepo refuses it too, so code stays portable. */
  private refuseInsideTransaction(): void {
    const scope = this.shared.context.getStore();
    if (scope && !scope.ended) {
      throw new DtError("internal", "the repo was called inside its own transaction(); use the repo that transaction() passes to the callback");
    }
  }
}

/** The first row, or null. */
async function first<T>(rows: Promise<T[]>): Promise<T | null> {
  return (await rows)[0] ?? null;
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
