/** The quarantine tables on MySQL/MariaDB (see quarantine/entry.ts), for MysqlRepo. */
import { and, desc, eq, gt, inArray, isNull, or, sql } from "drizzle-orm";
import type { MySql2Database } from "drizzle-orm/mysql2";
import { DtError } from "../../common/errors.ts";
import type { NewQuarantineEntry, QuarantineEntry } from "../quarantine/entry.ts";
import type { CaseRunKey, QuarantineQuery } from "./repo.ts";
import { runsQuarantined } from "./quarantine-runs.ts";
import { quarantine, quarantinedCases } from "./schema-mysql.ts";
import type { QuarantinedCaseRow } from "./schema-sqlite.ts";

async function entryById(db: MySql2Database, id: number): Promise<QuarantineEntry | null> {
  const [row] = await db.select().from(quarantine).where(eq(quarantine.id, id));
  return row ?? null;
}

export async function addQuarantineOn(db: MySql2Database, entry: NewQuarantineEntry): Promise<QuarantineEntry> {
  const [{ id } = { id: undefined }] = await db.insert(quarantine).values({ ...entry, removedAt: null, removedBy: null }).$returningId();
  const stored = id === undefined ? null : await entryById(db, id);
  if (!stored) throw new DtError("internal", `adding the quarantine of ${entry.suite}.${entry.name} stored no row`);
  return stored;
}

export async function removeQuarantineOn(db: MySql2Database, id: number, at: number, by: string): Promise<QuarantineEntry | null> {
  // The first removal stands: a repeated one changes nothing.
  await db.update(quarantine).set({ removedAt: at, removedBy: by }).where(and(eq(quarantine.id, id), isNull(quarantine.removedAt)));
  return entryById(db, id);
}

export function listQuarantineOn(db: MySql2Database, query: QuarantineQuery): Promise<QuarantineEntry[]> {
  const active = query.activeAt === undefined ? undefined : and(or(isNull(quarantine.removedAt), gt(quarantine.removedAt, query.activeAt)), or(isNull(quarantine.until), gt(quarantine.until, query.activeAt)));
  return db.select().from(quarantine).where(active).orderBy(desc(quarantine.id)).limit(Math.max(0, query.limit));
}

export async function jobQuarantinesOn(db: MySql2Database, jobId: string, runs: readonly CaseRunKey[]): Promise<Map<string, QuarantineEntry>> {
  if (runs.length === 0) return new Map();
  const rows = await db
    .select({ caseKey: quarantinedCases.caseKey, taskId: quarantinedCases.taskId, attempt: quarantinedCases.attempt, entry: quarantine })
    .from(quarantinedCases)
    .innerJoin(quarantine, eq(quarantine.id, quarantinedCases.quarantineId))
    .where(and(eq(quarantinedCases.jobId, jobId), inArray(quarantinedCases.caseKey, [...new Set(runs.map((r) => r.caseKey))])));
  return runsQuarantined(rows, runs);
}

export async function recordQuarantinedCasesOn(db: MySql2Database, rows: readonly QuarantinedCaseRow[]): Promise<void> {
  // A repeated row (the same case twice in one report) is the same fact: keep the first.
  if (rows.length > 0) await db.insert(quarantinedCases).values([...rows]).onDuplicateKeyUpdate({ set: { quarantineId: sql`quarantine_id` } });
}
