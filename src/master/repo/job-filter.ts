import { type AnyColumn, type SQL, eq, gte, lt } from "drizzle-orm";
import type { JobFilter } from "./repo.ts";

/** Jobs listed when a filter gives no limit. */
export const DEFAULT_JOB_LIMIT = 100;

/** The WHERE conditions of a job listing, for either dialect's jobs table. */
export function jobFilterConditions(filter: JobFilter, columns: { user: AnyColumn; name: AnyColumn; createdAt: AnyColumn }): SQL[] {
  const conditions: SQL[] = [];
  if (filter.user !== undefined) conditions.push(eq(columns.user, filter.user));
  if (filter.name !== undefined) conditions.push(eq(columns.name, filter.name));
  if (filter.since !== undefined) conditions.push(gte(columns.createdAt, filter.since));
  if (filter.until !== undefined) conditions.push(lt(columns.createdAt, filter.until));
  return conditions;
}
