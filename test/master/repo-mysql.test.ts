/**
 * MysqlRepo against a real MariaDB or MySQL, named by DT_TEST_MYSQL_URL
 * (e.g. mysql://root@127.0.0.1:3306/dt_test). Each repo the tests open gets
 * its own database, `<that name>_<run id>_<n>`, dropped when the test ends
 * and, should one survive a failure, after the file.
 */
import { afterAll, describe, expect, test } from "bun:test";
import mysql from "mysql2/promise";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { mysqlMigrations } from "../../drizzle/mysql/index.ts";
import { ManualClock } from "../../src/common/clock.ts";
import { isDtError } from "../../src/common/errors.ts";
import { MIGRATIONS_TABLE, splitStatements } from "../../src/master/repo/migrate-sqlite.ts";
import { MysqlRepo } from "../../src/master/repo/mysql.ts";
import { parseMysqlUrl } from "../../src/master/repo/mysql-connection.ts";
import { query as serverQuery, takeMysqlDatabase } from "../helpers/mysql-databases.ts";
import { makeJobWithTasks, repoConformance } from "./repo.conformance.ts";

const BASE_URL = process.env.DT_TEST_MYSQL_URL;

test("the embedded MySQL migrations are exactly the .sql files drizzle-kit wrote", async () => {
  const dir = join(import.meta.dir, "../../drizzle/mysql");
  const files = (await readdir(dir)).filter((f) => f.endsWith(".sql")).sort();
  const embedded = mysqlMigrations();
  expect(embedded.map((m) => `${m.tag}.sql`)).toEqual(files);
  for (const m of embedded) expect(m.sql).toBe(await Bun.file(join(dir, `${m.tag}.sql`)).text());
});

test("both URL forms parse; the password stays out of messages", () => {
  expect(parseMysqlUrl("mysql://dt:s%40cret@db.example:3307/dt")).toEqual({
    user: "dt",
    password: "s@cret",
    host: "db.example",
    port: 3307,
    database: "dt",
    display: "mysql://dt:***@db.example:3307/dt",
  });
  expect(parseMysqlUrl("mysql://dt@localhost/dt?socket=/run/mysqld/mysqld.sock")).toMatchObject({ user: "dt", socketPath: "/run/mysqld/mysqld.sock", database: "dt" });
  expect(parseMysqlUrl("mysql://root@127.0.0.1/dt").port).toBe(3306);
  for (const bad of ["mysql://root@host/", "postgres://root@host/dt", "mysql://root@host/dt?ssl=1", "not a url"]) {
    expect(() => parseMysqlUrl(bad)).toThrow();
  }
});

if (!BASE_URL) {
  console.warn("SKIP test/master/repo-mysql.test.ts (MySQL conformance): DT_TEST_MYSQL_URL is not set; e.g. DT_TEST_MYSQL_URL=mysql://root@127.0.0.1:3306/dt_test");
  describe.skip("Repo conformance: mysql (DT_TEST_MYSQL_URL is not set)", () => {
    test("needs a MySQL or MariaDB server", () => {});
  });
} else {
  mysqlSuite(BASE_URL);
}

function mysqlSuite(baseUrl: string): void {
  const base = parseMysqlUrl(baseUrl);
  const runId = crypto.randomUUID().slice(0, 8);
  let made = 0;
  /** A URL for a database that does not exist yet. */
  const freshUrl = () => {
    const url = new URL(baseUrl);
    url.pathname = `/${base.database}_${runId}_${++made}`.slice(0, 65);
    return url.toString();
  };
  const query = <T>(sql: string, params: unknown[] = []) => serverQuery<T>(baseUrl, sql, params);
  const dropDatabase = (url: string) => query(`DROP DATABASE IF EXISTS ${mysql.escapeId(parseMysqlUrl(url).database)}`);

  afterAll(async () => {
    const left = await query<{ name: string }>("SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ?", [`${base.database}\\_${runId}\\_%`]);
    for (const { name } of left) await query(`DROP DATABASE ${mysql.escapeId(name)}`);
  });

  // The conformance tests start on an emptied database of the pool (as fresh as a new one, two seconds of DDL cheaper); the tests of migrations below make their own.
  repoConformance("mysql", async () => {
    const database = await takeMysqlDatabase(baseUrl);
    return { repo: await MysqlRepo.open(database.url), reopen: () => MysqlRepo.open(database.url), cleanup: database.release };
  });

  describe("MysqlRepo", () => {
    const migrationRows = (url: string) =>
      query(`SELECT tag, statements_done AS statementsDone, applied_at AS appliedAt FROM ${mysql.escapeId(parseMysqlUrl(url).database)}.${MIGRATIONS_TABLE} ORDER BY tag`);
    const expectedRows = (at: number) => mysqlMigrations().map((m) => ({ tag: m.tag, statementsDone: splitStatements(m.sql).length, appliedAt: at }));

    test("opening creates the database; each migration is recorded once, and opening again runs none", async () => {
      const url = freshUrl();
      try {
        const clock = new ManualClock();
        await (await MysqlRepo.open(url, { clock })).close();
        expect(await migrationRows(url)).toEqual(expectedRows(clock.now()));
        clock.advance(60_000);
        const repo = await MysqlRepo.open(url, { clock });
        await repo.createJob(makeJobWithTasks("again.alice.1700000000.1", 1).job, [], []);
        await repo.close();
        expect(await migrationRows(url)).toEqual(expectedRows(clock.now() - 60_000));
      } finally {
        await dropDatabase(url);
      }
    });

    test("a migration that stopped part-way is resumed where it stopped, the uncounted statement included", async () => {
      const url = freshUrl();
      const db = mysql.escapeId(parseMysqlUrl(url).database);
      try {
        await (await MysqlRepo.open(url)).close();
        // The initial migration, whose last statement makes tasks_job_index_idx, whatever migrations came after it.
        const last = mysqlMigrations().find((m) => m.tag === "0000_init");
        const total = splitStatements(last!.sql).length;
        // As if dt died after the second-to-last statement took effect but before it was counted, then undo the last one.
        await query(`UPDATE ${db}.${MIGRATIONS_TABLE} SET statements_done = ?, applied_at = NULL WHERE tag = ?`, [total - 2, last!.tag]);
        // The last statement of a migration drizzle-kit writes creates an index: which one is read from it, so the test holds for any schema change.
        const created = /^CREATE INDEX `([^`]+)` ON `([^`]+)` \(([^)]*)\)/.exec(splitStatements(last!.sql).at(-1)!.trim());
        expect(created, "the last migration ends with a CREATE INDEX").not.toBeNull();
        const [, index, table, columns] = created!;
        await query(`DROP INDEX ${index} ON ${db}.${table}`);
        const repo = await MysqlRepo.open(url);
        await repo.close();
        expect(((await migrationRows(url)) as { tag: string }[]).find((m) => m.tag === last!.tag)).toMatchObject({ tag: last!.tag, statementsDone: total, appliedAt: expect.any(Number) });
        expect(await query(`SHOW INDEX FROM ${db}.${table} WHERE Key_name = ?`, [index])).toHaveLength(columns!.split(",").length);
      } finally {
        await dropDatabase(url);
      }
    });

    test("a database migrated by a newer dt is refused, naming the migration", async () => {
      const url = freshUrl();
      try {
        await (await MysqlRepo.open(url)).close();
        await query(`INSERT INTO ${mysql.escapeId(parseMysqlUrl(url).database)}.${MIGRATIONS_TABLE} (tag, statements_done, applied_at) VALUES ('9999_future', 1, 0)`);
        const err = await MysqlRepo.open(url).then(
          () => null,
          (e: unknown) => e,
        );
        expect(isDtError(err, "invalid_input")).toBe(true);
        expect((err as Error).message).toContain("9999_future");
      } finally {
        await dropDatabase(url);
      }
    });

    test("ids compare byte for byte, as in SQLite", async () => {
      const url = freshUrl();
      const repo = await MysqlRepo.open(url);
      try {
        await repo.createJob(makeJobWithTasks("Case.alice.1700000000.1", 0).job, [], []);
        await repo.createJob(makeJobWithTasks("case.alice.1700000000.1", 0).job, [], []);
        expect((await repo.listJobs({ user: "ALICE" })).length).toBe(0);
        expect(await repo.getJob("case.alice.1700000000.1 ")).toBeNull();
      } finally {
        await repo.close();
        await dropDatabase(url);
      }
    });

    test("connections the server drops are replaced: the calls after work", async () => {
      const url = freshUrl();
      const repo = await MysqlRepo.open(url);
      try {
        const { job, tasks, attempts } = makeJobWithTasks("lost.alice.1700000000.1", 2);
        await repo.createJob(job, tasks, attempts);
        const kill = async () => {
          const ids = await query<{ id: number }>("SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()", [parseMysqlUrl(url).database]);
          expect(ids.length).toBeGreaterThan(0);
          for (const { id } of ids) await query(`KILL CONNECTION ${Number(id)}`);
        };
        await kill();
        expect(await repo.getJob(job.id)).toEqual(job);
        await kill();
        expect(await repo.transaction((tx) => tx.updateAttempt(job.id, tasks[0]!.taskId, 0, { state: "LEASED" }, ["QUEUED"]))).toBe(true);
        await kill();
        await repo.upsertSlave({ name: "h", dimensions: {}, slots: 1, version: "v", state: "idle", lastSeenAt: 1, registeredAt: 1 });
        expect(await repo.updateAttempt(job.id, tasks[1]!.taskId, 0, { state: "LEASED" }, ["QUEUED"])).toBe(true);
      } finally {
        await repo.close();
        await dropDatabase(url);
      }
    });

    test("an unreachable server is reported as such, naming the URL without its password", async () => {
      const url = `mysql://dt:secret@127.0.0.1:1/dt_unreachable`;
      const err = await MysqlRepo.open(url).then(
        () => null,
        (e: unknown) => e,
      );
      expect(isDtError(err, "unreachable")).toBe(true);
      expect((err as Error).message).toContain("mysql://dt:***@127.0.0.1:1/dt_unreachable");
      expect((err as Error).message).not.toContain("secret");
    });
  });
}
