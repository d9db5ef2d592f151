/**
 * Applies drizzle-kit's SQLite migrations from text embedded in the binary.
 * drizzle's own `migrate()` reads drizzle/sqlite/ from disk, which does not
 * exist inside `dt`; so the migrations come in as strings
 * (drizzle/sqlite/index.ts) and this records which ran in `__dt_migrations`.
 */
import type { Database } from "bun:sqlite";
import { DtError } from "../../common/errors.ts";

/** One migration as drizzle-kit wrote it: its journal tag and its SQL. */
export interface Migration {
  tag: string;
  sql: string;
}

/** drizzle-kit's separator between the statements of one migration file. */
const STATEMENT_BREAKPOINT = "--> statement-breakpoint";

export const MIGRATIONS_TABLE = "__dt_migrations";

/** The statements of one migration file, without the empty ones. */
export function splitStatements(sql: string): string[] {
  return sql
    .split(STATEMENT_BREAKPOINT)
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/**
 * Runs, in order, each migration whose tag is not yet recorded, each in its
 * own transaction together with its record, so a crash leaves it either
 * applied and recorded or neither. Safe against another process migrating
 * the same file at once: the check is repeated under BEGIN IMMEDIATE.
 *
 * Note: a migration in which drizzle-kit rebuilds a table emits
 * `PRAGMA foreign_keys=OFF`, which SQLite ignores inside a transaction;
 * such a migration must not rely on it (drizzle's migrator has the same limit).
 *
 * @returns the tags applied now.
 * @example applySqliteMigrations(db, sqliteMigrations(), "/var/lib/dt/dt.db", Date.now());
 */
export function applySqliteMigrations(client: Database, migrations: readonly Migration[], where: string, now: number): string[] {
  client.run(`CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (tag TEXT PRIMARY KEY NOT NULL, applied_at INTEGER NOT NULL)`);
  const recorded = client
    .query<{ tag: string }, []>(`SELECT tag FROM ${MIGRATIONS_TABLE}`)
    .all()
    .map((r) => r.tag);
  const known = new Set(migrations.map((m) => m.tag));
  const unknown = recorded.filter((tag) => !known.has(tag));
  if (unknown.length > 0) {
    throw new DtError("invalid_input", `database ${where} was migrated by a newer dt (migrations ${unknown.join(", ")} are unknown to this one); run a dt at least as new as the one that last opened it`);
  }
  const isRecorded = client.query<{ tag: string }, [string]>(`SELECT tag FROM ${MIGRATIONS_TABLE} WHERE tag = ?`);
  const applied: string[] = [];
  for (const migration of migrations) {
    if (recorded.includes(migration.tag)) continue;
    client.run("BEGIN IMMEDIATE");
    try {
      if (!isRecorded.get(migration.tag)) {
        for (const statement of splitStatements(migration.sql)) client.run(statement);
        client.run(`INSERT INTO ${MIGRATIONS_TABLE} (tag, applied_at) VALUES (?, ?)`, [migration.tag, now]);
        applied.push(migration.tag);
      }
      client.run("COMMIT");
    } catch (err) {
      client.run("ROLLBACK");
      throw new DtError("internal", `migration ${migration.tag} failed on database ${where}: ${(err as Error).message}`, { cause: err });
    }
  }
  return applied;
}
