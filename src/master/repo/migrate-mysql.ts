/**
 * Applies drizzle-kit's MySQL migrations (drizzle/mysql/index.ts) and records
 * them in `__dt_migrations`, as migrate-sqlite.ts does for SQLite.
 *
 * MySQL commits each DDL statement on its own, so a migration cannot be one
 * transaction. Instead its row is written before its first statement and
 * counts the statements done; `applied_at` is set after the last. A row whose
 * `applied_at` is NULL is a migration that stopped part-way (a crash, a lost
 * connection, a statement the server refused): the next open resumes it at
 * the first statement not counted. Only that one statement can have taken
 * effect uncounted (the process died between it and its count), so on resume
 * an answer that its object already exists, or is already gone, counts it
 * as done; any other failure stops the open with the statement's number.
 */
import mysql, { type PoolConnection, type RowDataPacket } from "mysql2/promise";
import { DtError } from "../../common/errors.ts";
import { MIGRATIONS_TABLE, type Migration, splitStatements } from "./migrate-sqlite.ts";
import { driverError } from "./mysql-connection.ts";

/** MySQL's answers to DDL whose effect is already there: table, column, index or constraint exists, or is already dropped. */
const ALREADY_DONE = new Set(["ER_TABLE_EXISTS_ERROR", "ER_DUP_FIELDNAME", "ER_DUP_KEYNAME", "ER_FK_DUP_NAME", "ER_DUP_CONSTRAINT_NAME", "ER_BAD_TABLE_ERROR", "ER_CANT_DROP_FIELD_OR_KEY"]);

/**
 * The tables' default collation, best first: binary, so ids and names compare
 * and sort byte for byte as in SQLite ("Alice" ≠ "alice"), and NO PAD where
 * the server has it ("a" ≠ "a "). utf8mb4_nopad_bin is MariaDB's, _0900_bin MySQL 8's.
 */
const COLLATIONS = ["utf8mb4_nopad_bin", "utf8mb4_0900_bin", "utf8mb4_bin"];

/** Two masters opening one database at once: the second waits this long (s) for the first's migrations. */
const LOCK_WAIT_S = 60;

interface Recorded {
  tag: string;
  statementsDone: number;
  appliedAt: number | null;
}

/**
 * Runs what is missing of `migrations` on `conn`'s database, under a named
 * lock so that two masters starting together do not both migrate.
 *
 * @returns the tags applied (or finished) now.
 * @example await applyMysqlMigrations(conn, mysqlMigrations(), "mysql://root@db/dt", Date.now());
 */
export async function applyMysqlMigrations(conn: PoolConnection, migrations: readonly Migration[], where: string, now: number): Promise<string[]> {
  const [{ db }] = (await rows<{ db: string }>(conn, "SELECT DATABASE() AS db")) as [{ db: string }];
  // MySQL refuses lock names over 64 characters.
  const lock = `dt_migrate.${db}`.slice(0, 64);
  const [got] = await rows<{ ok: number | null }>(conn, "SELECT GET_LOCK(?, ?) AS ok", [lock, LOCK_WAIT_S]);
  if (got?.ok !== 1) throw new DtError("unreachable", `database ${where} is being migrated by another dt for over ${LOCK_WAIT_S} s (lock ${lock}); wait for it, or end it`);
  try {
    return await applyUnderLock(conn, db, migrations, where, now);
  } finally {
    // On a lost connection the server has released the lock already; the error to report is the one above.
    await conn.query("SELECT RELEASE_LOCK(?)", [lock]).catch(() => {});
  }
}

async function applyUnderLock(conn: PoolConnection, db: string, migrations: readonly Migration[], where: string, now: number): Promise<string[]> {
  const [{ n }] = (await rows<{ n: number }>(conn, "SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?", [MIGRATIONS_TABLE])) as [{ n: number }];
  if (n === 0) await setDefaultCollation(conn, db);
  await conn.query(`CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (tag varchar(255) NOT NULL PRIMARY KEY, statements_done int NOT NULL, applied_at bigint NULL)`);
  const recorded = new Map((await rows<Recorded>(conn, `SELECT tag, statements_done AS statementsDone, applied_at AS appliedAt FROM ${MIGRATIONS_TABLE}`)).map((r) => [r.tag, r]));
  const unknown = [...recorded.keys()].filter((tag) => !migrations.some((m) => m.tag === tag));
  if (unknown.length > 0) {
    throw new DtError(
      "invalid_input",
      `database ${where} was migrated by a newer dt (migrations ${unknown.join(", ")} are unknown to this one); run a dt at least as new as the one that last opened it`,
    );
  }
  const applied: string[] = [];
  for (const migration of migrations) {
    const row = recorded.get(migration.tag);
    if (row?.appliedAt != null) continue;
    const statements = splitStatements(migration.sql);
    if (!row) await conn.query(`INSERT INTO ${MIGRATIONS_TABLE} (tag, statements_done, applied_at) VALUES (?, 0, NULL)`, [migration.tag]);
    const resumeAt = row?.statementsDone ?? 0;
    for (let i = resumeAt; i < statements.length; i++) {
      try {
        await conn.query(statements[i]!);
      } catch (err) {
        if (!(i === resumeAt && row && ALREADY_DONE.has(driverError(err).code ?? ""))) {
          throw migrationError(migration.tag, i, statements.length, where, err);
        }
      }
      await conn.query(`UPDATE ${MIGRATIONS_TABLE} SET statements_done = ? WHERE tag = ?`, [i + 1, migration.tag]);
    }
    await conn.query(`UPDATE ${MIGRATIONS_TABLE} SET applied_at = ? WHERE tag = ?`, [now, migration.tag]);
    applied.push(migration.tag);
  }
  return applied;
}

/** Makes the (still empty) database's default collation binary before dt's first table, since drizzle-kit writes none per table. */
async function setDefaultCollation(conn: PoolConnection, db: string): Promise<void> {
  const available = new Set((await rows<{ name: string }>(conn, "SELECT COLLATION_NAME AS name FROM information_schema.COLLATIONS WHERE COLLATION_NAME IN (?)", [COLLATIONS])).map((r) => r.name));
  const collation = COLLATIONS.find((c) => available.has(c)) ?? "utf8mb4_bin";
  await conn.query(`ALTER DATABASE ${mysql.escapeId(db)} CHARACTER SET utf8mb4 COLLATE ${collation}`);
}

function migrationError(tag: string, index: number, total: number, where: string, err: unknown): DtError {
  const done = index === 0 ? "nothing of it took effect" : `statements 1 to ${index} took effect and stay (MySQL cannot roll DDL back)`;
  return new DtError(
    "internal",
    `migration ${tag} stopped at statement ${index + 1} of ${total} on database ${where}: ${driverError(err).message}; ${done}. ` +
      `${MIGRATIONS_TABLE} records the ${index} done, so the next start resumes at statement ${index + 1}: fix the cause and start dt again`,
    { cause: err },
  );
}

async function rows<T>(conn: PoolConnection, sql: string, params: unknown[] = []): Promise<T[]> {
  const [result] = await conn.query<RowDataPacket[]>(sql, params);
  return result as T[];
}
