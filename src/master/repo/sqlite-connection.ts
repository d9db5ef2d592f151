/**
 * The one bun:sqlite connection behind a SqliteRepo: opening it (pragmas and
 * migrations), the gate that serializes work on it, and bulk inserts.
 */
import { Database, type SQLQueryBindings, type Statement } from "bun:sqlite";
import { AsyncLocalStorage } from "node:async_hooks";
import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { type Column, getTableColumns, getTableName, sql } from "drizzle-orm";
import { drizzle, type BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import type { SQLiteTable } from "drizzle-orm/sqlite-core";
import { sqliteMigrations } from "../../../drizzle/sqlite/index.ts";
import type { Clock } from "../../common/clock.ts";
import { DtError } from "../../common/errors.ts";
import { applySqliteMigrations } from "./migrate-sqlite.ts";

/** Bound parameters per statement: SQLITE_MAX_VARIABLE_NUMBER in the SQLite that Bun ships. */
export const MAX_VARIABLES = 32_766;

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
  return { client, db: drizzle({ client }), gate: new Gate(), context: new AsyncLocalStorage(), path, inserts: new Map() };
}

/**
 * Multi-row INSERTs of as many rows as the variable limit allows. drizzle
 * writes each statement's SQL once, for a chunk of placeholders; the rows'
 * values are encoded here by the columns' own encoders. Building 100,000 rows
 * through drizzle's query builder takes 2.5 times as long as SQLite takes to
 * store them (2.2 s against 0.9 s here). `between` runs between
 * statements (a yield to the event loop, for a huge job).
 */
export async function insertChunked(conn: Connection, table: SQLiteTable, rows: readonly object[], between: () => Promise<void> = async () => {}): Promise<void> {
  const columns = getTableColumns(table);
  const keys = Object.keys(columns);
  const perStatement = Math.floor(MAX_VARIABLES / keys.length);
  const statements = new Map<number, { statement: Statement; slots: [row: number, key: string][] }>();
  const statementFor = (count: number) => {
    const placeholders = Array.from({ length: count }, (_, row) => Object.fromEntries(keys.map((key) => [key, sql.placeholder(`${row}:${key}`)])));
    const query = conn.db.insert(table).values(placeholders).toSQL();
    // Where drizzle put each parameter, read from the placeholders' names rather than assumed.
    const slots = query.params.map((p) => {
      const name = (p as { value: { name: string } }).value.name;
      const colon = name.indexOf(":");
      return [Number(name.slice(0, colon)), name.slice(colon + 1)] as [number, string];
    });
    return { statement: conn.client.prepare(query.sql), slots };
  };
  try {
    for (let i = 0; i < rows.length; i += perStatement) {
      // A statement of ~3,000 rows takes SQLite tens of ms; the caller may let other work in between.
      if (i > 0) await between();
      const chunk = rows.slice(i, i + perStatement) as Record<string, unknown>[];
      let prepared = statements.get(chunk.length);
      if (!prepared) statements.set(chunk.length, (prepared = statementFor(chunk.length)));
      const params = prepared.slots.map(([row, key]) => {
        const value = chunk[row]![key];
        // As drizzle does: null stays SQL NULL rather than going through a JSON column's encoder as "null".
        return value === undefined || value === null ? null : (columns[key]!.mapToDriverValue(value) as SQLQueryBindings);
      });
      prepared.statement.run(...params);
    }
  } finally {
    for (const { statement } of statements.values()) statement.finalize();
  }
}

/**
 * Rows inserted one by one through one prepared statement per table, kept
 * on the connection: for the many small batches of test cases (a report
 * each) this costs SQLite's work only, ~3 µs a row, where insertChunked
 * builds a multi-row statement through drizzle for each call (~25 µs a
 * row for a batch of 1,000). Inside a transaction, as the caller's is.
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
      const value = row[key];
      values[i] = value === undefined || value === null ? null : (column.mapToDriverValue(value) as SQLQueryBindings);
    }
    statement.run(...values);
  }
}

/** SQLite's own message: drizzle's wrapper would quote every bound parameter, 30,000 of them for a chunk. */
export function sqliteMessage(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause;
  return ((cause instanceof Error ? cause : err) as Error).message;
}
