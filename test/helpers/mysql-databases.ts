/**
 * Migrated MariaDB databases for tests, emptied and handed out again.
 *
 * Why: a new database costs about two seconds of DDL on MariaDB (every
 * migration's CREATE TABLE and CREATE INDEX, each synced to disk), and the
 * suites that open a repo per test on MySQL opened about a hundred of them,
 * a third of the whole test run. Emptying one costs a few tens of
 * milliseconds. A released database is emptied (every table but the
 * migrations', auto-increment counters reset) and verified empty before the
 * next test gets it, so a test still starts on a database as fresh as a new
 * one; tests of migrations themselves open their own databases.
 *
 * The databases are named `<base>_pool_<pid>_<n>`: the run drops its own at
 * its end (test/helpers/mysql-databases-teardown.ts, preloaded), and the first
 * take of a run drops those of runs that died before their end.
 */
import mysql, { type RowDataPacket } from "mysql2/promise";
import { parseMysqlUrl } from "../../src/master/repo/mysql-connection.ts";
import { MIGRATIONS_TABLE } from "../../src/master/repo/migrate-sqlite.ts";

export interface TestDatabase {
  /** The database's URL, for MysqlRepo.open (any number of times). */
  url: string;
  /** Empties the database and gives it to the next test; call once the repos on it are closed. */
  release(): Promise<void>;
}

const free: string[] = [];
const made = new Set<string>();
let swept = false;

function admin(baseUrl: string) {
  const base = parseMysqlUrl(baseUrl);
  return mysql.createConnection({ user: base.user, password: base.password, host: base.host, port: base.port, socketPath: base.socketPath, multipleStatements: true });
}

/** One statement (or several, `;`-separated) on a connection of its own to the server of `baseUrl`, whatever database it names; its rows. */
export async function query<T>(baseUrl: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const conn = await admin(baseUrl);
  try {
    return (await conn.query<RowDataPacket[]>(sql, params))[0] as T[];
  } finally {
    await conn.end();
  }
}

function poolPrefix(baseUrl: string): string {
  return `${parseMysqlUrl(baseUrl).database}_pool_`;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Drops the pool databases of runs whose process is gone. */
async function sweepDead(baseUrl: string): Promise<void> {
  const prefix = poolPrefix(baseUrl);
  const names = await query<{ name: string }>(baseUrl, "SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ?", [`${prefix.replaceAll("_", "\\_")}%`]);
  for (const { name } of names) {
    const pid = Number(/^(\d+)_/.exec(name.slice(prefix.length))?.[1]);
    if (Number.isInteger(pid) && pid !== process.pid && !alive(pid)) await query(baseUrl, `DROP DATABASE IF EXISTS ${mysql.escapeId(name)}`);
  }
}

/** A migrated, empty database (migrated by its first MysqlRepo.open when new) under the server of `baseUrl`. */
export async function takeMysqlDatabase(baseUrl: string): Promise<TestDatabase> {
  if (!swept) {
    swept = true;
    await sweepDead(baseUrl);
  }
  let url = free.pop();
  if (!url) {
    const u = new URL(baseUrl);
    u.pathname = `/${poolPrefix(baseUrl)}${process.pid}_${made.size + 1}`;
    url = u.toString();
    made.add(url);
  }
  const taken = url;
  let released = false;
  return {
    url: taken,
    async release() {
      if (released) return;
      released = true;
      await empty(taken);
      free.push(taken);
    },
  };
}

/** Deletes every row but the migrations', resets auto-increment counters, and checks that nothing is left. */
async function empty(url: string): Promise<void> {
  const database = parseMysqlUrl(url).database;
  const tables = await query<{ name: string; autoIncrement: number | null }>(
    url,
    "SELECT TABLE_NAME AS name, AUTO_INCREMENT AS autoIncrement FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME <> ?",
    [database, MIGRATIONS_TABLE],
  );
  if (tables.length === 0) return; // never opened: nothing was created in it
  const id = (t: string) => `${mysql.escapeId(database)}.${mysql.escapeId(t)}`;
  // Foreign keys would make the order of the deletes matter; the checks are off for this session only.
  const statements = tables.flatMap(({ name, autoIncrement }) => [`DELETE FROM ${id(name)}`, ...(autoIncrement === null ? [] : [`ALTER TABLE ${id(name)} AUTO_INCREMENT = 1`])]);
  await query(url, ["SET FOREIGN_KEY_CHECKS = 0", ...statements, "SET FOREIGN_KEY_CHECKS = 1"].join(";\n"));
  const left = await query<{ name: string; n: number }>(url, tables.map(({ name }) => `SELECT ${mysql.escape(name)} AS name, COUNT(*) AS n FROM ${id(name)}`).join(" UNION ALL "));
  const dirty = left.filter((r) => Number(r.n) > 0);
  if (dirty.length > 0) throw new Error(`test database ${database} still has rows after emptying: ${dirty.map((r) => `${r.name} (${r.n})`).join(", ")}`);
}

/** Drops every database this run made; the preloaded teardown calls it once all files have run. */
export async function dropMysqlDatabases(): Promise<void> {
  for (const url of made) await query(url, `DROP DATABASE IF EXISTS ${mysql.escapeId(parseMysqlUrl(url).database)}`);
  made.clear();
  free.length = 0;
}
