/**
 * Which test cases are flaky, from the stored history: the same on both
 * dialects over three reads each Repo provides.
 *
 * A case is flaky in a job when its merged status there is `flaky`
 * (case-merge.ts: it failed or crashed and then passed in a later attempt
 * of the same task, or passed after its runner's own failed reruns). Its
 * flake rate is the share of the jobs that ran it (created since the
 * window's start, skips aside) in which it was flaky: a job counts once
 * whatever its retries and shards, so a case that needed three attempts in
 * one job is not three times as flaky as one that needed two.
 *
 * The cost follows the flaky cases, not the history: the jobs of the
 * window are found by their creation time (jobs_created_at_idx), their
 * flaky rows by job_cases_status_idx (job, status), and only those cases'
 * runs since the window's start are then read (cases_history_idx: case
 * key, reported_at) and matched to their merged rows (job_cases' primary
 * key). A history of cases that never flaked is not read at all.
 */
import { yieldToEventLoop } from "../../common/concurrency.ts";
import type { CaseRow } from "../repo/schema-sqlite.ts";

/** GET tests/flaky's question. */
export interface FlakyQuery {
  /** Jobs created at or after this time (epoch ms). */
  since: number;
  /** Only cases that ran in at least this many jobs: one bad job cannot make a rate of 1 on its own. */
  minRuns: number;
  limit: number;
  /** Only this binary's cases (a task's description, without its shard suffix). */
  binary?: string;
}

/** One case's counts over the window's jobs (see FlakyCase in results/wire.ts). */
export interface FlakyCaseStats {
  caseKey: string;
  binary: string;
  suite: string;
  name: string;
  jobs: number;
  runs: number;
  failures: number;
  flaky: number;
  /** flaky ÷ jobs. */
  flakeRate: number;
  /** Its latest run since the window's start that failed, crashed, or passed after its runner's failed reruns. */
  lastFailure: CaseRow | null;
}

/** A case by its key and identity. */
export interface FlakyCandidate {
  caseKey: string;
  binary: string;
  suite: string;
  name: string;
}

/** A case's counts over the jobs created since the window's start that ran it (not only skipped it). */
export interface CaseJobCounts {
  caseKey: string;
  jobs: number;
  runs: number;
  failures: number;
  flaky: number;
}

/** The reads a dialect gives findFlakyCases. */
export interface FlakyOps {
  /** Every case flaky in at least one job created at or after `since` (of `binary` only, when given); a case may come more than once. */
  candidates(since: number, binary: string | undefined): Promise<FlakyCandidate[]>;
  /** The counts of these cases (at most KEYS_PER_COUNT) over the jobs created at or after `since`; a case no such job ran is absent. */
  counts(caseKeys: readonly string[], since: number): Promise<CaseJobCounts[]>;
  /** The case's latest run reported at or after `since` that failed, crashed, or passed after failed reruns; null without one. */
  lastFailure(caseKey: string, since: number): Promise<CaseRow | null>;
}

/**
 * Cases per counting statement: 500 keys are a short IN list on either
 * dialect, and their runs in a week of a busy master's jobs a few thousand
 * rows, so SQLite (which holds the event loop while it reads) lets other
 * requests in between every few ms.
 */
export const KEYS_PER_COUNT = 500;

/** Highest flake rate first, then most flaky jobs, most failures, then by name so that equal cases keep one order. */
function byFlakiness(a: FlakyCaseStats, b: FlakyCaseStats): number {
  return b.flakeRate - a.flakeRate || b.flaky - a.flaky || b.failures - a.failures || compare(a.binary, b.binary) || compare(a.suite, b.suite) || compare(a.name, b.name);
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The `query.limit` flakiest cases of the window, flakiest first, each with its latest failure. */
export async function findFlakyCases(ops: FlakyOps, query: FlakyQuery): Promise<FlakyCaseStats[]> {
  const identities = new Map<string, FlakyCandidate>();
  for (const c of await ops.candidates(query.since, query.binary)) identities.set(c.caseKey, c);
  const keys = [...identities.keys()];
  const found: FlakyCaseStats[] = [];
  for (let from = 0; from < keys.length; from += KEYS_PER_COUNT) {
    if (from > 0) await yieldToEventLoop();
    for (const n of await ops.counts(keys.slice(from, from + KEYS_PER_COUNT), query.since)) {
      if (n.jobs < query.minRuns || n.flaky === 0) continue;
      const { binary, suite, name } = identities.get(n.caseKey)!;
      found.push({ ...n, binary, suite, name, flakeRate: n.flaky / n.jobs, lastFailure: null });
    }
  }
  const top = found.sort(byFlakiness).slice(0, query.limit);
  for (const c of top) c.lastFailure = await ops.lastFailure(c.caseKey, query.since);
  return top;
}
