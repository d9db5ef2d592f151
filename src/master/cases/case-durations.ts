/**
 * What each of a binary's cases is expected to take, for the shard planner,
 * from rows both dialects read the same way (Repo.binaryCaseDurations).
 *
 * The known cases are those of the binary in the latest job that reported
 * any of them, so a case removed from the binary drops out after one run
 * (one added since runs in the exclusion shard). A case's duration is the
 * median of its latest DURATION_RUNS_PER_CASE timed runs (passed or failed:
 * a failure's time is still the case's time; skipped and crashed runs say
 * nothing of it), so one slow run on a loaded slave does not move it. A case
 * with no timed run is given the median of the others (0 when none has one).
 */
import type { KnownCase } from "../scheduler/shard-planner.ts";

/** Runs per case the median is taken over. */
export const DURATION_RUNS_PER_CASE = 3;

/**
 * Rows of a binary's history read at most (a few per known case, newest
 * first): a case that has not run lately keeps the median of others rather
 * than making the read of a 100,000-case binary unbounded.
 */
export const MAX_DURATION_ROWS = 300_000;

/** The statuses whose duration is the case's time. */
export const TIMED_STATUSES = ["passed", "failed"] as const;

/** A case of the latest job, by its key. */
export interface KnownCaseRow {
  caseKey: string;
  suite: string;
  name: string;
}

/** One timed run, newest first. */
export interface TimedRunRow {
  caseKey: string;
  durationMs: number | null;
}

/** Rows to read for `known` cases: DURATION_RUNS_PER_CASE each, at most MAX_DURATION_ROWS. */
export const durationRowBudget = (known: number) => Math.min(MAX_DURATION_ROWS, known * DURATION_RUNS_PER_CASE);

function median(values: readonly number[]): number {
  // The common case, a case's three latest runs, without a sort: 100,000 of them took 0.3 s sorted.
  if (values.length === 1) return values[0]!;
  if (values.length === 2) return Math.round((values[0]! + values[1]!) / 2);
  if (values.length === 3) {
    const [a, b, c] = values as [number, number, number];
    return Math.max(Math.min(a, b), Math.min(Math.max(a, b), c));
  }
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : Math.round((sorted[mid - 1]! + sorted[mid]!) / 2);
}

/** Each known case (duplicates once) with its expected ms; see the module's comment. */
export function expectedCaseDurations(known: readonly KnownCaseRow[], runsNewestFirst: readonly TimedRunRow[]): KnownCase[] {
  const runs = new Map<string, number[]>();
  for (const run of runsNewestFirst) {
    if (run.durationMs === null || run.durationMs < 0) continue;
    const list = runs.get(run.caseKey) ?? runs.set(run.caseKey, []).get(run.caseKey)!;
    if (list.length < DURATION_RUNS_PER_CASE) list.push(run.durationMs);
  }
  const unique = new Map<string, KnownCaseRow>();
  for (const c of known) if (!unique.has(c.caseKey)) unique.set(c.caseKey, c);
  const medians = new Map<string, number>();
  for (const key of unique.keys()) {
    const list = runs.get(key);
    if (list && list.length > 0) medians.set(key, median(list));
  }
  const fallback = medians.size > 0 ? median([...medians.values()]) : 0;
  return [...unique.values()].map((c) => ({ suite: c.suite, name: c.name, expectedMs: medians.get(c.caseKey) ?? fallback }));
}
