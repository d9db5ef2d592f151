/**
 * A master database of the release before test cases (its schema is the
 * 0000_init migration alone, as ff753ab left it), with jobs in it, opened
 * by this master: the later migrations apply, old tasks read with no shard
 * fields and no result_globs, old jobs have no cases, and an old task's
 * next attempt stores cases. SQLite always; MySQL with DT_TEST_MYSQL_URL.
 * Checked by hand too: the ff753ab tree's own repo made both databases,
 * and this master served them (API, pages, leases, reports with cases).
 * And a database of the release before binary_tasks (0005_reuse), with
 * shards: 0006 copies each task under its binary, derived as taskBinary does.
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
  // Each old task is in its binary's history (0006_binary_tasks copied them), an old shard under its own description.
  for (const [binary, task] of [["plain", 0], ["gtest_bin.1", 1]] as const) {
    const { runs } = await repo.binaryHistory(binary, { limit: 10, maxTasks: 100 });
    expect(runs.map((r) => [r.job.id, r.tasks.map((t) => [t.task.taskId, t.attempts.map((a) => a.state)])])).toEqual([["old", [[tasks[task]!.taskId, [task === 0 ? "SUCCEEDED" : "QUEUED"]]]]]);
  }
}

/** Tasks of the release before binary_tasks (0005_reuse), shards with their fields: 0006 must derive each binary as taskBinary does. */
const SHARD_ROWS = [
  "INSERT INTO jobs (id, user, name, priority, created_at, canceled_at) VALUES ('sharded', 'bob', NULL, 0, 1700000001000, NULL)",
  `INSERT INTO tasks (job_id, task_id, task_index, isolate_hash, description, timeout_sec, max_retries, artifact_globs, env, dimensions, priority, shard_index, shard_count) VALUES
     ('sharded', '${HASH}.0', 0, '${HASH}', 'gtest_bin.0', 0, 0, '[]', '{}', '{}', 0, 0, 2),
     ('sharded', '${HASH}.1', 1, '${HASH}', 'gtest_bin.1', 0, 0, '[]', '{}', '{}', 0, 1, 2),
     ('sharded', '${HASH}.2', 2, '${HASH}', 'named its own way', 0, 0, '[]', '{}', '{}', 0, 1, 2),
     ('sharded', '${HASH}.3', 3, '${HASH}', 'plain.12', 0, 0, '[]', '{}', '{}', 0, NULL, NULL),
     ('sharded', '${HASH}.4', 4, '${HASH}', 'ünï ✓.12', 0, 0, '[]', '{}', '{}', 0, 12, 13),
     ('sharded', '${HASH}.5', 5, '${HASH}', '.3', 0, 0, '[]', '{}', '{}', 0, 3, 4)`,
  `INSERT INTO attempts (job_id, task_id, attempt, retry, state, artifact_missing, queued_at) VALUES
     ${[0, 1, 2, 3, 4, 5].map((i) => `('sharded', '${HASH}.${i}', 0, 0, 'QUEUED', 0, ${T0})`).join(", ")}`,
];

async function checkBinariesCopied(repo: Repo): Promise<void> {
  const tasks = await repo.getTasks("sharded");
  const binaries = [...new Set(tasks.map(taskBinary))];
  expect(binaries).toEqual(["gtest_bin", "named its own way", "plain.12", "ünï ✓", ""]);
  for (const binary of binaries) {
    const { runs } = await repo.binaryHistory(binary, { limit: 10, maxTasks: 100 });
    expect({ binary, runs: runs.map((r) => [r.job.id, r.job.createdAt, r.tasks.map((t) => t.task.taskId)]) }).toEqual({
      binary, runs: [["sharded", 1700000001000, tasks.filter((t) => taskBinary(t) === binary).map((t) => t.taskId)]],
    });
  }
}

/**
 * Runs `check` on a repo opened on a database made by the migrations `kept`
 * picks, holding `rows`: the open applies the later migrations, as a master
 * upgraded in place does. SQLite in a temp dir; MySQL in a database of its own.
 */
function upgradeTests(kept: (tag: string) => boolean, rows: readonly string[], check: (repo: Repo) => Promise<void>): void {
  const checked = async (repo: Repo) => {
    try {
      await check(repo);
    } finally {
      await repo.close();
    }
  };

  test("SQLite", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dt-upgrade-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, "dt.sqlite");
    const old = new Database(path);
    applySqliteMigrations(old, sqliteMigrations().filter((m) => kept(m.tag)), path, T0);
    for (const statement of rows) old.run(statement);
    old.close();
    await checked(await SqliteRepo.open(path));
  });

  test.skipIf(!mysqlUrl)("MySQL", async () => {
    const name = `dt_upgrade_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    // Connected to the server, not to DT_TEST_MYSQL_URL's database, which nothing promises exists yet.
    const admin = await mysql.createConnection(mysqlUrl!.replace(/\/[^/?]*(\?|$)/, "/$1"));
    cleanups.push(async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${name}`);
      await admin.end();
    });
    await admin.query(`CREATE DATABASE ${name}`);
    const url = mysqlUrl!.replace(/\/[^/?]*(\?|$)/, `/${name}$1`);
    const pool = mysql.createPool(url);
    const conn = await pool.getConnection();
    try {
      await applyMysqlMigrations(conn, mysqlMigrations().filter((m) => kept(m.tag)), name, T0);
      for (const statement of rows) await conn.query(statement.replace(/\buser\b/, "`user`"));
    } finally {
      conn.release();
      await pool.end();
    }
    await checked(await MysqlRepo.open(url));
  });
}

describe("a database of the release before test cases, upgraded", () => {
  upgradeTests((tag) => tag === "0000_init", OLD_ROWS, checkUpgraded);
});

describe("a database of the release before binary_tasks, upgraded", () => {
  upgradeTests((tag) => tag < "0006", SHARD_ROWS, checkBinariesCopied);
});
