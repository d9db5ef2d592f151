/** The quarantine tables on SQLite (see quarantine/entry.ts), for SqliteRepo. */
import { and, desc, eq, gt, inArray, isNull, or } from "drizzle-orm";
import type { BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import type { NewQuarantineEntry, QuarantineEntry } from "../quarantine/entry.ts";
import { type QuarantinedCaseRow, quarantine, quarantinedCases } from "./schema-sqlite.ts";
import type { CaseRunKey, QuarantineQuery } from "./repo.ts";
import { runsQuarantined } from "./quarantine-runs.ts";

export function addQuarantineOn(db: BunSQLiteDatabase, entry: NewQuarantineEntry): QuarantineEntry {
  return db.insert(quarantine).values({ ...entry, removedAt: null, removedBy: null }).returning().get();
}

export function removeQuarantineOn(db: BunSQLiteDatabase, id: number, at: number, by: string): QuarantineEntry | null {
  // The first removal stands: a repeated one changes nothing.
  db.update(quarantine).set({ removedAt: at, removedBy: by }).where(and(eq(quarantine.id, id), isNull(quarantine.removedAt))).run();
  return db.select().from(quarantine).where(eq(quarantine.id, id)).get() ?? null;
}

export function listQuarantineOn(db: BunSQLiteDatabase, query: QuarantineQuery): QuarantineEntry[] {
  const active = query.activeAt === undefined ? undefined : and(or(isNull(quarantine.removedAt), gt(quarantine.removedAt, query.activeAt)), or(isNull(quarantine.until), gt(quarantine.until, query.activeAt)));
  return db.select().from(quarantine).where(active).orderBy(desc(quarantine.id)).limit(Math.max(0, query.limit)).all();
}

export function jobQuarantinesOn(db: BunSQLiteDatabase, jobId: string, runs: readonly CaseRunKey[]): Map<string, QuarantineEntry> {
  if (runs.length === 0) return new Map();
  const rows = db
    .select({ caseKey: quarantinedCases.caseKey, taskId: quarantinedCases.taskId, attempt: quarantinedCases.attempt, entry: quarantine })
    .from(quarantinedCases)
    .innerJoin(quarantine, eq(quarantine.id, quarantinedCases.quarantineId))
    .where(and(eq(quarantinedCases.jobId, jobId), inArray(quarantinedCases.caseKey, [...new Set(runs.map((r) => r.caseKey))])))
    .all();
  return runsQuarantined(rows, runs);
}

export function recordQuarantinedCasesOn(db: BunSQLiteDatabase, rows: readonly QuarantinedCaseRow[]): void {
  if (rows.length > 0) db.insert(quarantinedCases).values([...rows]).onConflictDoNothing().run();
}
