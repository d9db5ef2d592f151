/** The quarantine tables on SQLite (see quarantine/entry.ts), for SqliteRepo. */
import { and, desc, eq, gt, inArray, isNull, or } from "drizzle-orm";
import type { BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import type { NewQuarantineEntry, QuarantineEntry } from "../quarantine/entry.ts";
import { type QuarantinedCaseRow, quarantine, quarantinedCases } from "./schema-sqlite.ts";
import type { QuarantineQuery } from "./repo.ts";

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

export function jobQuarantinesOn(db: BunSQLiteDatabase, jobId: string, caseKeys: readonly string[]): Map<string, QuarantineEntry> {
  if (caseKeys.length === 0) return new Map();
  const rows = db
    .select({ caseKey: quarantinedCases.caseKey, entry: quarantine })
    .from(quarantinedCases)
    .innerJoin(quarantine, eq(quarantine.id, quarantinedCases.quarantineId))
    .where(and(eq(quarantinedCases.jobId, jobId), inArray(quarantinedCases.caseKey, [...caseKeys])))
    .all();
  return new Map(rows.map((r) => [r.caseKey, r.entry]));
}

export function recordQuarantinedCasesOn(db: BunSQLiteDatabase, rows: readonly QuarantinedCaseRow[]): void {
  if (rows.length > 0) db.insert(quarantinedCases).values([...rows]).onConflictDoNothing().run();
}
