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
 * The cost follows the window's jobs and the flaky cases among them, not
 * the history: the window's jobs are found by creation time
 * (jobs_created_at_idx), their flaky rows by job_cases_status_idx (job,
 * status), then each flaky case's merged row in each of those jobs by
 * job_cases' primary key (job, case key): jobs × flaky cases point
 * lookups, in statements of JOBS_PER_STATEMENT × KEYS_PER_STATEMENT. A
 * case that never flaked is not read at all. Each listed case's latest
 * failure is one short walk back along cases_history_idx (case key, time).
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

/** A case's counts over some jobs that ran it (not only skipped it). */
export interface CaseJobCounts {
  caseKey: string;
  jobs: number;
  runs: number;
  failures: number;
  flaky: number;
}

/** The reads a dialect gives findFlakyCases. */
export interface FlakyOps {
  /** The ids of the jobs created at or after `since`. */
  windowJobs(since: number): Promise<string[]>;
  /** The cases flaky in these jobs (of `binary` only, when given); a case flaky in several comes once per job. */
  candidates(jobIds: readonly string[], binary: string | undefined): Promise<FlakyCandidate[]>;
  /** These cases' counts over these jobs, from their merged rows (skips aside); a case none of them ran is absent. */
  counts(jobIds: readonly string[], caseKeys: readonly string[]): Promise<CaseJobCounts[]>;
  /** The case's latest run reported at or after `since` that failed, crashed, or passed after failed reruns; null without one. */
  lastFailure(caseKey: string, since: number): Promise<CaseRow | null>;
}

/**
 * A statement's share of the work: 100 jobs × 200 cases are 20,000 point
 * lookups in job_cases' primary key, about 60 ms of SQLite on a loaded
 * 2-core machine (measured, bench/flaky-query.ts), and SQLite holds the
 * event loop while it reads; the loop turns between statements.
 */
export const JOBS_PER_STATEMENT = 100;
export const KEYS_PER_STATEMENT = 200;

/** Latest-failure lookups between two turns of the event loop. */
const LOOKUPS_PER_TURN = 50;

/** Highest flake rate first, then most flaky jobs, most failures, then by name so that equal cases keep one order. */
function byFlakiness(a: FlakyCaseStats, b: FlakyCaseStats): number {
  return b.flakeRate - a.flakeRate || b.flaky - a.flaky || b.failures - a.failures || compare(a.binary, b.binary) || compare(a.suite, b.suite) || compare(a.name, b.name);
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The `query.limit` flakiest cases of the window, flakiest first, each with its latest failure. */
export async function findFlakyCases(ops: FlakyOps, query: FlakyQuery): Promise<FlakyCaseStats[]> {
  const jobIds = await ops.windowJobs(query.since);
  const jobChunks: string[][] = [];
  for (let from = 0; from < jobIds.length; from += JOBS_PER_STATEMENT) jobChunks.push(jobIds.slice(from, from + JOBS_PER_STATEMENT));
  const identities = new Map<string, FlakyCandidate>();
  for (const chunk of jobChunks) {
    await yieldToEventLoop();
    for (const c of await ops.candidates(chunk, query.binary)) identities.set(c.caseKey, c);
  }
  // Counts add up over the chunks of jobs: each job holds one merged row per case.
  const totals = new Map<string, CaseJobCounts>();
  const keys = [...identities.keys()];
  for (let from = 0; from < keys.length; from += KEYS_PER_STATEMENT) {
    const keyChunk = keys.slice(from, from + KEYS_PER_STATEMENT);
    for (const chunk of jobChunks) {
      await yieldToEventLoop();
      for (const n of await ops.counts(chunk, keyChunk)) {
        const t = totals.get(n.caseKey);
        if (t) for (const field of ["jobs", "runs", "failures", "flaky"] as const) t[field] += n[field];
        else totals.set(n.caseKey, { ...n });
      }
    }
  }
  const found: FlakyCaseStats[] = [];
  for (const n of totals.values()) {
    if (n.jobs < query.minRuns || n.flaky === 0) continue;
    const { binary, suite, name } = identities.get(n.caseKey)!;
    found.push({ ...n, binary, suite, name, flakeRate: n.flaky / n.jobs, lastFailure: null });
  }
  const top = found.sort(byFlakiness).slice(0, query.limit);
  for (const [i, c] of top.entries()) {
    // A lookup is well under a ms, but a thousand of them in a row would hold SQLite's (synchronous) connection, and the event loop, for long.
    if (i > 0 && i % LOOKUPS_PER_TURN === 0) await yieldToEventLoop();
    c.lastFailure = await ops.lastFailure(c.caseKey, query.since);
  }
  return top;
}
