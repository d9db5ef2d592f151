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
 * lookups, in statements of JOBS_PER_STATEMENT × KEYS_PER_STATEMENT; a
 * case that never flaked is not read at all. When the flaky cases are many
 * among the jobs' cases, every row of the jobs is read instead, whichever
 * costs less (countOver). Each listed case's latest failure is one short
 * walk back along cases_history_idx (case key, time).
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

/** A job of the window, with how many merged rows (cases) it holds. */
export interface WindowJob {
  id: string;
  cases: number;
}

/** The reads a dialect gives findFlakyCases. */
export interface FlakyOps {
  /** The jobs created at or after `since`, each with its number of cases (job_case_counts). */
  windowJobs(since: number): Promise<WindowJob[]>;
  /** The cases flaky in these jobs (of `binary` only, when given); a case flaky in several comes once per job. */
  candidates(jobIds: readonly string[], binary: string | undefined): Promise<FlakyCandidate[]>;
  /**
   * Cases' counts over these jobs, from their merged rows (skips aside); a
   * case none of them ran is absent. With `caseKeys`, those cases' rows by
   * point lookups; with null, every row of the jobs, grouped.
   */
  counts(jobIds: readonly string[], caseKeys: readonly string[] | null): Promise<CaseJobCounts[]>;
  /** The case's latest run reported at or after `since` that failed, crashed, or passed after failed reruns; null without one. */
  lastFailure(caseKey: string, since: number): Promise<CaseRow | null>;
}

/**
 * A statement's share of the work, SQLite holding the event loop while it
 * reads (the loop turns between statements): 100 jobs × 200 cases are
 * 20,000 point lookups in job_cases' primary key, or 20,000 rows read in
 * a row, each about 60 ms on a loaded 2-core machine (measured,
 * bench/flaky-query.ts).
 */
export const JOBS_PER_STATEMENT = 100;
export const KEYS_PER_STATEMENT = 200;
export const ROWS_PER_STATEMENT = 20_000;
/**
 * A point lookup costs about as much as reading 2.6 rows in a row (5.5
 * against 2.1 µs, bench/flaky-query.ts): when the flaky cases are more than
 * a third or so of the cases the jobs hold (a binary whose every case
 * failed once in an outage), reading all the jobs' rows is cheaper.
 */
const LOOKUP_COST_IN_ROWS = 2.5;

/** Latest-failure lookups between two turns of the event loop. */
const LOOKUPS_PER_TURN = 50;

/** Highest flake rate first, then most flaky jobs, most failures, then by name so that equal cases keep one order. */
function byFlakiness(a: FlakyCaseStats, b: FlakyCaseStats): number {
  return b.flakeRate - a.flakeRate || b.flaky - a.flaky || b.failures - a.failures || compare(a.binary, b.binary) || compare(a.suite, b.suite) || compare(a.name, b.name);
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The `query.limit` flakiest cases of the window, flakiest first, each with its latest failure. */
export async function findFlakyCases(ops: FlakyOps, query: FlakyQuery): Promise<FlakyCaseStats[]> {
  const jobs = await ops.windowJobs(query.since);
  const jobIds = jobs.map((j) => j.id);
  const identities = new Map<string, FlakyCandidate>();
  for (let from = 0; from < jobIds.length; from += JOBS_PER_STATEMENT) {
    await yieldToEventLoop();
    for (const c of await ops.candidates(jobIds.slice(from, from + JOBS_PER_STATEMENT), query.binary)) identities.set(c.caseKey, c);
  }
  const totals = identities.size === 0 ? new Map<string, CaseJobCounts>() : await countOver(ops, jobs, [...identities.keys()]);
  const found: FlakyCaseStats[] = [];
  for (const n of totals.values()) {
    const identity = identities.get(n.caseKey);
    // A scan counts every case of the jobs; only the flaky ones are asked about.
    if (!identity || n.jobs < query.minRuns || n.flaky === 0) continue;
    const { binary, suite, name } = identity;
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

/**
 * `keys`' counts over `jobs`, summed over statements (each job holds one
 * merged row per case): by point lookups, or by reading all the jobs' rows
 * when that is cheaper (LOOKUP_COST_IN_ROWS). Either way each statement
 * stays within its share of the work.
 */
async function countOver(ops: FlakyOps, jobs: readonly WindowJob[], keys: readonly string[]): Promise<Map<string, CaseJobCounts>> {
  const totals = new Map<string, CaseJobCounts>();
  const add = (counts: readonly CaseJobCounts[]) => {
    for (const n of counts) {
      const t = totals.get(n.caseKey);
      if (t) for (const field of ["jobs", "runs", "failures", "flaky"] as const) t[field] += n[field];
      else totals.set(n.caseKey, { ...n });
    }
  };
  const rows = jobs.reduce((sum, j) => sum + j.cases, 0);
  if (rows <= LOOKUP_COST_IN_ROWS * jobs.length * keys.length) {
    // Jobs in chunks of about ROWS_PER_STATEMENT rows; a job bigger than that is a statement of its own.
    for (let from = 0; from < jobs.length; ) {
      let to = from + 1;
      for (let chunkRows = jobs[from]!.cases; to < jobs.length && chunkRows + jobs[to]!.cases <= ROWS_PER_STATEMENT; to++) chunkRows += jobs[to]!.cases;
      await yieldToEventLoop();
      add(await ops.counts(jobs.slice(from, to).map((j) => j.id), null));
      from = to;
    }
    return totals;
  }
  for (let k = 0; k < keys.length; k += KEYS_PER_STATEMENT) {
    for (let from = 0; from < jobs.length; from += JOBS_PER_STATEMENT) {
      await yieldToEventLoop();
      add(await ops.counts(jobs.slice(from, from + JOBS_PER_STATEMENT).map((j) => j.id), keys.slice(k, k + KEYS_PER_STATEMENT)));
    }
  }
  return totals;
}
