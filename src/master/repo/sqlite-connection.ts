/**
 * The one bun:sqlite connection behind a SqliteRepo: opening it (pragmas and
 * migrations), the gate that serializes work on it, and bulk inserts.
 */
import { Database, type SQLQueryBindings, type Statement } from "bun:sqlite";
import { AsyncLocalStorage } from "node:async_hooks";
import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { type Column, getTableColumns, getTableName } from "drizzle-orm";
import { drizzle, type BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import type { SQLiteTable } from "drizzle-orm/sqlite-core";
import { sqliteMigrations } from "../../../drizzle/sqlite/index.ts";
import type { Clock } from "../../common/clock.ts";
import { DtError } from "../../common/errors.ts";
import { applySqliteMigrations } from "./migrate-sqlite.ts";
import { SqliteStatements, driverValue } from "./sqlite-statements.ts";

/** Runs one piece of work at a time on the connection, in call order. */
export class Gate {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => T | Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.catch(() => {});
    return result;
  }
}

/** What every repo bound to one connection shares. */
export interface Connection {
  client: Database;
  db: BunSQLiteDatabase;
  gate: Gate;
  /** The transaction, if any, that the current async context runs inside. */
  context: AsyncLocalStorage<TxScope>;
  path: string;
  /** Prepared one-row INSERTs by table (insertRows), kept for the connection's life. */
  inserts: Map<string, { statement: Statement; columns: [key: string, column: Column][] }>;
  /** The hot path's statements (an attempt's lease, phase, result, retry, duration), prepared once. */
  statements: SqliteStatements;
}

/** One open transaction; `ended` once it has committed or rolled back. */
export interface TxScope {
  ended: boolean;
  savepoints: number;
}

/**
 * Opens (creating the file and its directory) and migrates the database at
 * `path`; ":memory:" gives a private in-memory one.
 */
export async function openConnection(path: string, clock: Clock): Promise<Connection> {
  let client: Database;
  try {
    if (path !== ":memory:") await mkdir(dirname(path), { recursive: true });
    client = new Database(path, { create: true });
  } catch (err) {
    throw new DtError("invalid_input", `cannot open SQLite database ${path}: ${(err as Error).message}; check the path and its permissions`, { cause: err });
  }
  try {
    // Wait up to 10 s for another process's lock rather than failing at once.
    client.run("PRAGMA busy_timeout = 10000");
    client.run("PRAGMA journal_mode = WAL");
    // With WAL, NORMAL loses at most the last commits on power loss, never consistency.
    client.run("PRAGMA synchronous = NORMAL");
    client.run("PRAGMA foreign_keys = ON");
    applySqliteMigrations(client, sqliteMigrations(), path, clock.now());
  } catch (err) {
    client.close();
    throw err;
  }
  return { client, db: drizzle({ client }), gate: new Gate(), context: new AsyncLocalStorage(), path, inserts: new Map(), statements: new SqliteStatements(client) };
}

/**
 * insertRows in slices of `perSlice` rows, with `between` (the event loop
 * free) after each: a 100,000-task job never holds it for more than a
 * slice (~15 ms).
 */
export async function insertSliced(conn: Connection, table: SQLiteTable, rows: readonly object[], between: () => Promise<void>, perSlice = 5_000): Promise<void> {
  for (let i = 0; i < rows.length; i += perSlice) {
    if (i > 0) await between();
    insertRows(conn, table, rows.slice(i, i + perSlice));
  }
}

/**
 * Rows inserted one by one through one prepared statement per table, kept
 * on the connection: SQLite's work only, ~3 µs a row. A multi-row INSERT
 * built through drizzle for each call cost ~25 µs a row for a batch of
 * 1,000 (a 2,000-task job's createJob took 120 ms that way, 30 ms this
 * way; 100,000 tasks ~1.2 s either way). Inside a transaction, as the
 * caller's is. A field left undefined takes its column's default, as
 * drizzle's insert gives it.
 */
export function insertRows(conn: Connection, table: SQLiteTable, rows: readonly object[]): void {
  const name = getTableName(table);
  let insert = conn.inserts.get(name);
  if (!insert) {
    const columns = Object.entries(getTableColumns(table));
    const statement = conn.client.prepare(`INSERT INTO "${name}" (${columns.map(([, c]) => `"${c.name}"`).join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`);
    conn.inserts.set(name, (insert = { statement, columns }));
  }
  const { statement, columns } = insert;
  const values: SQLQueryBindings[] = new Array(columns.length);
  for (const row of rows as Record<string, unknown>[]) {
    for (let i = 0; i < columns.length; i++) {
      const [key, column] = columns[i]!;
      values[i] = driverValue(column, row[key] === undefined && column.hasDefault ? column.default : row[key]);
    }
    statement.run(...values);
  }
}

/** SQLite's own message: drizzle's wrapper would quote every bound parameter, 30,000 of them for a chunk. */
export function sqliteMessage(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause;
  return ((cause instanceof Error ? cause : err) as Error).message;
}
