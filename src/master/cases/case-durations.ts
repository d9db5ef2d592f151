/**
 * What each of a binary's cases is expected to take, for the shard planner,
 * from rows both dialects read the same way (Repo.binaryCaseDurations).
 *
 * The known cases are those of the binary in its latest job that ran about
 * all of them (chooseKnownJob), so a case removed from the binary drops out
 * after one run (one added since runs in the exclusion shard), while a job
 * still running, or one run with a narrow filter, does not leave most cases
 * unknown and so in the exclusion shard. A case's duration is the
 * median of its latest DURATION_RUNS_PER_CASE timed runs (passed or failed:
 * a failure's time is still the case's time; skipped and crashed runs say
 * nothing of it), so one slow run on a loaded slave does not move it. A case
 * with no timed run is given the median of the others (0 when none has one).
 *
 * The runs are those of the latest job (read with the known cases), then
 * the binary's older ones, newest first, up to a row budget: about two per
 * known case, at most MAX_OLDER_RUN_ROWS. The budget is the binary's, not
 * each case's: a binary whose jobs run all its cases gets two older runs per
 * case, one whose jobs run some of them (a retry, a filter) fewer. Measured
 * with 100,000 cases and three jobs of history: see docs/sharding.md.
 */
import type { KnownCase } from "../scheduler/shard-planner.ts";

/** The binary's latest jobs looked at to choose the one whose cases are known. */
export const KNOWN_JOB_CANDIDATES = 3;
/** Share of the most cases among the candidates a job must have reported to be chosen: a removed case or two does not disqualify the latest. */
export const KNOWN_JOB_SHARE = 0.9;

/** One of the binary's latest jobs: how many runs of the binary it reported so far, and when its first one came. */
export interface KnownJobCandidate {
  jobId: string;
  runs: number;
  firstReportedAt: number;
}

/**
 * The newest of the candidates (newest first) that reported at least
 * KNOWN_JOB_SHARE of the most runs any of them did: the latest job, unless
 * it is still running, was filtered, or crashed early, and an older one saw
 * the whole binary.
 */
export function chooseKnownJob(candidates: readonly KnownJobCandidate[]): KnownJobCandidate | null {
  const most = candidates.reduce((n, c) => Math.max(n, c.runs), 0);
  return candidates.find((c) => c.runs >= most * KNOWN_JOB_SHARE) ?? null;
}

/**
 * The binary's latest KNOWN_JOB_CANDIDATES jobs, newest first, by a
 * dialect's two reads: the job of the latest run before a time (the
 * (test_binary, reported_at) index), and a job's count and first report of
 * the binary (its rows by the primary key). A job reported while a newer
 * one ran is skipped: the next step looks before the newer one's first report.
 */
export async function knownJobCandidates(
  latestJobBefore: (before: number) => Promise<string | null>,
  jobRuns: (jobId: string) => Promise<{ runs: number; firstReportedAt: number }>,
): Promise<KnownJobCandidate[]> {
  const out: KnownJobCandidate[] = [];
  let before = Number.MAX_SAFE_INTEGER;
  while (out.length < KNOWN_JOB_CANDIDATES) {
    const jobId = await latestJobBefore(before);
    if (jobId === null || out.some((c) => c.jobId === jobId)) break;
    const stats = await jobRuns(jobId);
    out.push({ jobId, ...stats });
    before = stats.firstReportedAt;
  }
  return out;
}

/** Runs per case the median is taken over. */
export const DURATION_RUNS_PER_CASE = 3;

/**
 * Older rows (before the latest job) read at most: past 50,000 known cases a
 * case's median is of fewer runs, so that a 100,000-case binary costs about
 * 200,000 rows (a second on MariaDB) rather than 300,000 or more.
 */
export const MAX_OLDER_RUN_ROWS = 100_000;

/** The statuses whose duration is the case's time. */
export const TIMED_STATUSES = ["passed", "failed"] as const;

/** A run of the latest job: the case it names is known. */
export interface KnownCaseRow {
  caseKey: string;
  suite: string;
  name: string;
  status: string;
  durationMs: number | null;
}

/** One timed run before the latest job, newest first. */
export interface TimedRunRow {
  caseKey: string;
  durationMs: number | null;
}

/** Older rows to read for `known` cases (the latest job gave one run each). */
export const olderRunBudget = (known: number) => Math.min(MAX_OLDER_RUN_ROWS, known * (DURATION_RUNS_PER_CASE - 1));

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
export function expectedCaseDurations(known: readonly KnownCaseRow[], olderRunsNewestFirst: readonly TimedRunRow[]): KnownCase[] {
  const runs = new Map<string, number[]>();
  const add = (run: TimedRunRow) => {
    if (run.durationMs === null || run.durationMs < 0) return;
    const list = runs.get(run.caseKey) ?? runs.set(run.caseKey, []).get(run.caseKey)!;
    if (list.length < DURATION_RUNS_PER_CASE) list.push(run.durationMs);
  };
  // The latest job's runs first: they are the newest.
  const timed = new Set<string>(TIMED_STATUSES);
  for (const c of known) if (timed.has(c.status)) add(c);
  for (const run of olderRunsNewestFirst) add(run);
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
