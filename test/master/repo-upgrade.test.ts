/**
 * A master database of the release before test cases (its schema is the
 * 0000_init migration alone, as ff753ab left it), with jobs in it, opened
 * by this master: the later migrations apply, old tasks read with no shard
 * fields and no result_globs, old jobs have no cases, and an old task's
 * next attempt stores cases. SQLite always; MySQL with DT_TEST_MYSQL_URL.
 * Checked by hand too: the ff753ab tree's own repo made both databases,
 * and this master served them (API, pages, leases, reports with cases).
 */
import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import mysql from "mysql2/promise";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mysqlMigrations } from "../../drizzle/mysql/index.ts";
import { sqliteMigrations } from "../../drizzle/sqlite/index.ts";
import { taskBinary } from "../../src/master/model.ts";
import { applyMysqlMigrations } from "../../src/master/repo/migrate-mysql.ts";
import { applySqliteMigrations } from "../../src/master/repo/migrate-sqlite.ts";
import { MysqlRepo } from "../../src/master/repo/mysql.ts";
import type { Repo } from "../../src/master/repo/repo.ts";
import { SqliteRepo } from "../../src/master/repo/sqlite.ts";

const mysqlUrl = process.env.DT_TEST_MYSQL_URL;
if (!mysqlUrl) console.warn("SKIP test/master/repo-upgrade.test.ts on MySQL: DT_TEST_MYSQL_URL is not set (e.g. mysql://root@127.0.0.1:3306/dt_test)");
const T0 = 1_700_000_000_000;
const HASH = "a".repeat(64);
const cleanups: (() => Promise<unknown> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** The rows the previous release wrote: a job of a plain task (passed) and an old-style shard (queued), in that schema's columns. */
const OLD_ROWS = [
  "INSERT INTO jobs (id, user, name, priority, created_at, canceled_at) VALUES ('old', 'alice', NULL, 0, 1700000000000, NULL)",
  `INSERT INTO tasks (job_id, task_id, task_index, isolate_hash, description, timeout_sec, max_retries, artifact_globs, env, dimensions, priority) VALUES
     ('old', '${HASH}.0', 0, '${HASH}', 'plain', 0, 1, '[]', '{}', '{}', 0),
     ('old', '${HASH}.1', 1, '${HASH}', 'gtest_bin.1', 0, 0, '[]', '{"GTEST_SHARD_INDEX":"1","GTEST_TOTAL_SHARDS":"2"}', '{}', 0)`,
  `INSERT INTO attempts (job_id, task_id, attempt, retry, state, slave, exit_code, artifact_missing, queued_at, leased_at, command_start_at, command_end_at, reported_at) VALUES
     ('old', '${HASH}.0', 0, 0, 'SUCCEEDED', 's1', 0, 0, ${T0}, ${T0 + 1}, ${T0 + 2}, ${T0 + 3}, ${T0 + 4}),
     ('old', '${HASH}.1', 0, 0, 'QUEUED', NULL, NULL, 0, ${T0}, NULL, NULL, NULL, NULL)`,
];

async function checkUpgraded(repo: Repo): Promise<void> {
  expect(await repo.getJob("old")).toMatchObject({ id: "old", user: "alice" });
  const tasks = await repo.getTasks("old");
  expect(tasks.map((t) => [t.description, t.shardIndex, t.shardCount, t.resultGlobs, taskBinary(t)])).toEqual([
    ["plain", null, null, null, "plain"],
    // An old shard is its own binary: the previous release recorded no shard fields to tell it by.
    ["gtest_bin.1", null, null, null, "gtest_bin.1"],
  ]);
  expect((await repo.getAttempts("old")).map((a) => [a.state, a.outputsRef])).toEqual([["SUCCEEDED", null], ["QUEUED", null]]);
  expect(await repo.jobCaseCounts("old")).toEqual({ total: 0, passed: 0, failed: 0, flaky: 0, skipped: 0 });
  expect(await repo.listJobCases("old", { limit: 10 })).toEqual([]);
  await repo.transaction((tx) =>
    tx.storeCases({ jobId: "old", taskId: `${HASH}.1`, attempt: 0, binary: taskBinary(tasks[1]!), reportedAt: T0 + 10 }, [
      { suite: "S", name: "a", status: "failed", durationMs: 1, message: "m", file: null, line: null, flakyFailures: 0 },
    ]),
  );
  expect(await repo.jobCaseCounts("old")).toEqual({ total: 1, passed: 0, failed: 1, flaky: 0, skipped: 0 });
}

describe("a database of the release before test cases, upgraded", () => {
  test("SQLite", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dt-upgrade-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, "dt.sqlite");
    const old = new Database(path);
    applySqliteMigrations(old, sqliteMigrations().filter((m) => m.tag === "0000_init"), path, T0);
    for (const statement of OLD_ROWS) old.run(statement);
    old.close();
    const repo = await SqliteRepo.open(path);
    try {
      await checkUpgraded(repo);
    } finally {
      await repo.close();
    }
  });

  test.skipIf(!mysqlUrl)("MySQL", async () => {
    const name = `dt_upgrade_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    const admin = await mysql.createConnection(mysqlUrl!);
    cleanups.push(async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${name}`);
      await admin.end();
    });
    await admin.query(`CREATE DATABASE ${name}`);
    const url = mysqlUrl!.replace(/\/[^/?]*(\?|$)/, `/${name}$1`);
    const pool = mysql.createPool(url);
    const conn = await pool.getConnection();
    try {
      await applyMysqlMigrations(conn, mysqlMigrations().filter((m) => m.tag === "0000_init"), name, T0);
      for (const statement of OLD_ROWS) await conn.query(statement.replace(/\buser\b/, "`user`"));
    } finally {
      conn.release();
      await pool.end();
    }
    const repo = await MysqlRepo.open(url);
    try {
      await checkUpgraded(repo);
    } finally {
      await repo.close();
    }
  });
});
