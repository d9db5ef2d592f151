/**
 * The statements every attempt's life runs (its lease, its phase, its
 * result, its duration; its retry's row goes through insertRows), prepared once per connection with
 * placeholders. Built through drizzle for each call (drizzle assembling
 * the SQL, SQLite preparing it), a task's four or five of them were nearly
 * half of what a completed task cost a busy master: 1.0 ms of CPU per task
 * then, 0.5 ms with these (bench/README.md, the fleet's busy path).
 */
import type { SQLQueryBindings, Statement } from "bun:sqlite";
import { type Column, getTableColumns } from "drizzle-orm";
import type { AttemptState } from "../model.ts";
import type { AttemptPatch } from "./repo.ts";
import { attempts } from "./schema-sqlite.ts";

/** dist_test's EWMA: new = OLD_WEIGHT · old + (1 − OLD_WEIGHT) · measured. */
export const OLD_WEIGHT = 0.7;

const ATTEMPT_COLUMNS = getTableColumns(attempts) as Record<string, Column>;
/** The key is not patchable, even when a caller spreads a whole Attempt in. */
const KEY_FIELDS = new Set(["jobId", "taskId", "attempt"]);

/** What a column stores for `value`, as drizzle would bind it (JSON text, booleans as 0/1); undefined and null are NULL. Also insertRows'. */
export function driverValue(column: Column, value: unknown): SQLQueryBindings {
  return value === null || value === undefined ? null : (column.mapToDriverValue(value) as SQLQueryBindings);
}

export class SqliteStatements {
  private readonly updates = new Map<string, Statement>();
  private readonly exists = new Map<number, Statement>();
  private readonly recordDuration: Statement;
  private readonly expectedDuration: Statement;
  private readonly begin: Statement;
  private readonly commit: Statement;
  private readonly rollback: Statement;

  constructor(private readonly client: { prepare(sql: string): Statement }) {
    this.recordDuration = client.prepare(
      `INSERT INTO "durations" ("key", "expected_ms", "samples", "updated_at") VALUES (?1, ?2, 1, ?3) ` +
        `ON CONFLICT ("key") DO UPDATE SET "expected_ms" = ${OLD_WEIGHT} * "expected_ms" + ${1 - OLD_WEIGHT} * excluded."expected_ms", "samples" = "samples" + 1, "updated_at" = excluded."updated_at"`,
    );
    this.expectedDuration = client.prepare(`SELECT "expected_ms" AS ms FROM "durations" WHERE "key" = ?`);
    this.begin = client.prepare("BEGIN IMMEDIATE");
    this.commit = client.prepare("COMMIT");
    this.rollback = client.prepare("ROLLBACK");
  }

  /**
   * Ends every statement, before the connection closes: a prepared statement
   * left alive keeps the database open behind a closed connection, and would
   * go on writing through it.
   */
  finalize(): void {
    for (const statement of [...this.updates.values(), ...this.exists.values()]) statement.finalize();
    this.updates.clear();
    this.exists.clear();
    for (const statement of [this.recordDuration, this.expectedDuration, this.begin, this.commit, this.rollback]) statement.finalize();
  }

  beginImmediate(): void {
    this.begin.run();
  }

  commitTransaction(): void {
    this.commit.run();
  }

  rollbackTransaction(): void {
    this.rollback.run();
  }

  /**
   * Sets the patch's defined fields of one attempt, when its state is one
   * of `from` (any state without it); true when the attempt matched. A
   * statement per set of fields and count of states, prepared at first use:
   * the callers patch a few dozen shapes.
   */
  updateAttempt(jobId: string, taskId: string, attempt: number, patch: AttemptPatch, from?: readonly AttemptState[]): boolean {
    const keys: string[] = [];
    const values: SQLQueryBindings[] = [];
    for (const key in patch) {
      const value = (patch as Record<string, unknown>)[key];
      const column = ATTEMPT_COLUMNS[key];
      if (value === undefined || column === undefined || KEY_FIELDS.has(key)) continue;
      keys.push(key);
      values.push(driverValue(column, value));
    }
    const states = from?.length ?? -1;
    values.push(jobId, taskId, attempt);
    if (from) values.push(...from);
    if (keys.length === 0) {
      let statement = this.exists.get(states);
      if (!statement) this.exists.set(states, (statement = this.client.prepare(`SELECT 1 FROM "attempts" WHERE ${attemptWhere(states)}`)));
      return statement.get(...values) !== null;
    }
    const shape = `${keys.join(",")}|${states}`;
    let statement = this.updates.get(shape);
    if (!statement) {
      const set = keys.map((k) => `"${ATTEMPT_COLUMNS[k]!.name}" = ?`).join(", ");
      this.updates.set(shape, (statement = this.client.prepare(`UPDATE "attempts" SET ${set} WHERE ${attemptWhere(states)}`)));
    }
    return statement.run(...values).changes > 0;
  }

  recordDurationRow(key: string, ms: number, at: number): void {
    this.recordDuration.run(key, ms, at);
  }

  expectedDurationOf(key: string): number | undefined {
    return (this.expectedDuration.get(key) as { ms: number } | null)?.ms;
  }
}

/** One attempt by its key, in one of `states` states (-1: any). */
function attemptWhere(states: number): string {
  const key = `"job_id" = ? AND "task_id" = ? AND "attempt" = ?`;
  return states < 0 ? key : `${key} AND "state" IN (${states === 0 ? "" : new Array(states).fill("?").join(", ")})`;
}
