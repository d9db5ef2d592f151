/**
 * Storing an attempt's cases, the same on both dialects over a few
 * primitives each Repo provides: batches of a few thousand rows, each
 * merged into the job's per-case rows (job_cases) as it goes in, with the
 * event loop free between batches.
 */
import { yieldToEventLoop } from "../../common/concurrency.ts";
import type { CaseResult } from "../../results/model.ts";
import type { CaseRow, JobCaseRow } from "../repo/schema-sqlite.ts";
import { caseKeyer } from "./case-key.ts";
import type { JobCaseStatus } from "../protocol.ts";
import { type CaseRun, mergeRuns } from "./case-merge.ts";

/** Which attempt the cases are of, and what they are keyed and ordered by. */
export interface CaseAttempt {
  jobId: string;
  taskId: string;
  attempt: number;
  /** The task's binary (model.ts taskBinary): a sharded binary's cases are one set. */
  binary: string;
  /** When the attempt was reported: the history's order. */
  reportedAt: number;
}

/**
 * Cases per batch: 2,000 rows are one or two INSERT statements on either
 * dialect and a few ms of merging, so a 100,000-case report holds the
 * database (and on SQLite the event loop) for tens of ms at a time.
 */
export const CASES_PER_BATCH = 2_000;

/** What a dialect gives the shared storage; all run inside the caller's transaction. */
export interface CaseStoreOps {
  /** Serializes storeCases per job (MySQL: a row lock on the job), so two reports merging the same case do not both miss each other. */
  lockJob(jobId: string): Promise<void>;
  /** The seq after the job's largest (0 for the first case). */
  nextSeq(jobId: string): Promise<number>;
  insertCases(rows: readonly CaseRow[]): Promise<void>;
  /** Every stored run of these cases in the job. */
  runsOf(jobId: string, keys: readonly string[]): Promise<(CaseRun & { caseKey: string })[]>;
  /** The seq and merged status of those of these cases that the job already has. */
  seqsOf(jobId: string, keys: readonly string[]): Promise<Map<string, { seq: number; status: JobCaseStatus }>>;
  /** Deletes the job's rows of `replaced` keys, then inserts `rows`. */
  writeJobCases(jobId: string, replaced: readonly string[], rows: readonly JobCaseRow[]): Promise<void>;
  /** Adds `delta` (per merged status, may be negative) to the job's counts, creating its row at zero first. */
  addCounts(jobId: string, delta: Readonly<Record<JobCaseStatus, number>>): Promise<void>;
}

/** Stores `cases` of one attempt; call it inside the transaction that ends the attempt, once per attempt. */
export async function storeCasesWith(ops: CaseStoreOps, at: CaseAttempt, cases: readonly CaseResult[], perBatch = CASES_PER_BATCH): Promise<void> {
  if (cases.length === 0) return;
  await ops.lockJob(at.jobId);
  let seq = await ops.nextSeq(at.jobId);
  const keyOf = caseKeyer(at.binary);
  const caseKeys = cases.map((c) => keyOf(c.suite, c.name));
  // How often each key comes later in this report: a case repeated (gtest's --gtest_repeat, a runner's reruns) keeps its runs here between
  // batches, until its last, rather than reading them all back in each batch (quadratic: 100,000 runs of 1,000 cases took 4 times as long).
  const remaining = new Map<string, number>();
  for (const key of caseKeys) remaining.set(key, (remaining.get(key) ?? 0) + 1);
  const known = new Map<string, CaseRun[]>();
  for (let from = 0; from < cases.length; from += perBatch) {
    if (from > 0) await yieldToEventLoop();
    const rows: CaseRow[] = cases.slice(from, from + perBatch).map((c, i) => ({
      jobId: at.jobId, taskId: at.taskId, attempt: at.attempt, caseIndex: from + i, caseKey: caseKeys[from + i]!,
      binary: at.binary, suite: c.suite, name: c.name, status: c.status, durationMs: c.durationMs, message: c.message, file: c.file, line: c.line,
      flakyFailures: c.flakyFailures ?? 0, reportedAt: at.reportedAt,
    }));
    await ops.insertCases(rows);
    const byKey = new Map<string, CaseRow>();
    for (const r of rows) byKey.set(r.caseKey, r);
    const keys = [...byKey.keys()];
    const seqs = await ops.seqsOf(at.jobId, keys);
    // A case the job has no row for ran nowhere else: its runs are this batch's. Only the others' runs are read back (a retry's, a shard's that ran
    // them too), and not those of a case read for an earlier batch of this report: they are what was read then, plus this batch's.
    const runs = new Map<string, CaseRun[]>();
    const add = (key: string, run: CaseRun) => (runs.get(key) ?? runs.set(key, []).get(key)!).push(run);
    for (const key of keys) if (known.has(key)) runs.set(key, known.get(key)!);
    const toRead = [...seqs.keys()].filter((key) => !known.has(key));
    if (toRead.length > 0) for (const run of await ops.runsOf(at.jobId, toRead)) add(run.caseKey, run);
    for (const row of rows) if (!seqs.has(row.caseKey) || known.has(row.caseKey)) add(row.caseKey, row);
    for (const row of rows) remaining.set(row.caseKey, remaining.get(row.caseKey)! - 1);
    for (const key of keys) {
      if (remaining.get(key)! > 0) known.set(key, runs.get(key)!);
      else known.delete(key);
    }
    const delta: Record<JobCaseStatus, number> = { passed: 0, failed: 0, crashed: 0, flaky: 0, skipped: 0 };
    const merged: JobCaseRow[] = keys.map((key) => {
      const identity = byKey.get(key)!;
      const before = seqs.get(key);
      const row: JobCaseRow = { jobId: at.jobId, caseKey: key, seq: before?.seq ?? seq++, binary: identity.binary, suite: identity.suite, name: identity.name, ...mergeRuns(runs.get(key)!), reusedFrom: null };
      if (before) delta[before.status]--;
      delta[row.status]++;
      return row;
    });
    await ops.writeJobCases(at.jobId, [...seqs.keys()], merged);
    await ops.addCounts(at.jobId, delta);
  }
}
