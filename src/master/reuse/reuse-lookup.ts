import { yieldToEventLoop } from "../../common/concurrency.ts";
import type { ReusedResultFields } from "../model.ts";
import type { ReusableResult } from "../repo/repo.ts";

/** Keys one lookup statement names: a thousand index seeks, a few ms on either database. */
export const KEYS_PER_LOOKUP = 1_000;

/** A stored result of a key, as a dialect's lookup reads it: newest first within a batch. */
export interface ReusableRow {
  key: string;
  savedMs: number;
  origin: ReusedResultFields;
}

/**
 * Repo.findReusable over a dialect's `lookup` of one batch of distinct keys
 * (rows newest first): the first row of a key is its newest result. A
 * 100,000-task job is 100 statements, with the event loop free between.
 */
export async function findReusableWith(keys: readonly string[], lookup: (batch: string[]) => Promise<ReusableRow[]>): Promise<Map<string, ReusableResult>> {
  const found = new Map<string, ReusableResult>();
  const unique = [...new Set(keys)];
  for (let i = 0; i < unique.length; i += KEYS_PER_LOOKUP) {
    if (i > 0) await yieldToEventLoop();
    for (const r of await lookup(unique.slice(i, i + KEYS_PER_LOOKUP))) if (!found.has(r.key)) found.set(r.key, { origin: r.origin, savedMs: r.savedMs });
  }
  return found;
}
