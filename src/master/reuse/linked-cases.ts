/**
 * A reused task's cases in its job (docs/reuse.md): the job's per-case rows
 * (job_cases) name the original run's cases, and no run of them is stored
 * again. The `cases` table keeps each case's runs, its history: a reuse ran
 * nothing, so it adds no run there (nor to a flake rate's count of runs),
 * and the job's rows point at the original's logs, outputs and artifacts.
 */
import { type SQL, sql } from "drizzle-orm";
import { yieldToEventLoop } from "../../common/concurrency.ts";
import type { JobCaseStatus } from "../protocol.ts";
import type { CaseStoreOps } from "../cases/case-store.ts";
import { type CaseRun, JOB_CASE_STATUSES, mergeRuns } from "../cases/case-merge.ts";
import { caseKeyer } from "../cases/case-key.ts";
import type { RunRef } from "../model.ts";
import type { CaseReport } from "../../results/wire.ts";
import type { JobCaseRow } from "../repo/schema-sqlite.ts";

/** A task of the job that took another attempt's result: its own attempt and binary (model.ts taskBinary), and the attempt it took. */
export interface CaseLink {
  taskId: string;
  attempt: number;
  binary: string;
  origin: RunRef;
}

type Dialect = "sqlite" | "mysql";

/** Links per statement: five parameters each, far under either database's limit, and a few thousand cases. */
export const LINKS_PER_STATEMENT = 500;

/** What linking needs beyond storeCases' primitives; all in the caller's transaction. */
export interface LinkOps extends Pick<CaseStoreOps, "lockJob" | "nextSeq" | "addCounts" | "seqsOf" | "writeJobCases"> {
  run(statement: SQL): Promise<void>;
  /** The rows a SELECT gives, by column name. */
  rows<T>(statement: SQL): Promise<T[]>;
}

/**
 * The job's rows from seq `fromSeq` on (only the rows just linked: an
 * indexed range of job_cases_seq_idx), counted by merged status. Read and
 * counted here, in seq order: grouped in SQL, SQLite took the (job, status,
 * seq) index and read all of the job's rows.
 */
async function statusCountsFrom(ops: LinkOps, jobId: string, fromSeq: number): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const r of await ops.rows<{ status: string }>(sql`SELECT status FROM job_cases WHERE job_id = ${jobId} AND seq >= ${fromSeq} ORDER BY seq`)) {
    counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  }
  return counts;
}

/**
 * Inserts the job's rows for the origins' cases, LINKS_PER_STATEMENT links
 * a statement, each copying the case rows in the database (no row crosses
 * to the master). A case the job already has a row for keeps it (a job
 * runs each case once; two identical tasks in one job show the first). The
 * job's counts are brought to what its rows now say.
 */
export async function linkCasesWith(ops: LinkOps, dialect: Dialect, jobId: string, links: readonly CaseLink[]): Promise<void> {
  if (links.length === 0) return;
  await ops.lockJob(jobId);
  const delta = Object.fromEntries(JOB_CASE_STATUSES.map((s) => [s, 0])) as Record<JobCaseStatus, number>;
  for (let from = 0; from < links.length; from += LINKS_PER_STATEMENT) {
    if (from > 0) await yieldToEventLoop();
    const batch = links.slice(from, from + LINKS_PER_STATEMENT);
    // Each link's cases get the seqs after the previous link's: its offset is the cases reported before it (by case_index, which
    // numbers a report's cases from 0). A window function (row_number) did this in the INSERT at twice the statement's cost.
    const spans = new Map((await ops.rows<{ n: number; span: number; renamed: number; repeats: number }>(spanStatement(dialect, batch))).map((r) => [Number(r.n), { span: Number(r.span), inMaster: Number(r.renamed) > 0 || Number(r.repeats) > 0 }]));
    const first = await ops.nextSeq(jobId);
    let next = first;
    const offsets = batch.map((_, i) => {
      const offset = next;
      next += spans.get(i)?.span ?? 0;
      return offset;
    });
    // Two kinds of link the statement cannot copy row for row, merged here instead: a task described otherwise than the one it
    // reused, whose cases take its own binary and so other keys (a SHA-256 that SQL cannot compute), and an origin that reported a
    // case more than once, whose runs merge into one row as its own job merged them.
    const inMaster = batch.flatMap((l, i) => (spans.get(i)?.inMaster ? [i] : []));
    const plain = batch.flatMap((l, i) => (spans.get(i)?.inMaster ? [] : [i]));
    if (plain.length > 0) await ops.run(linkStatement(dialect, jobId, plain.map((i) => batch[i]!), plain.map((i) => offsets[i]!)));
    if (inMaster.length > 0) await linkMerged(ops, dialect, jobId, inMaster.map((i) => batch[i]!), inMaster.map((i) => offsets[i]!));
    // The rows this statement inserted are those from `first` on (the job is locked, and an ignored row changes none): counted alone,
    // not the job's every row before and after, which made a 2,000-task job's waiting tasks, linked one by one, cost 23 s (quadratic).
    for (const [status, n] of await statusCountsFrom(ops, jobId, first)) if (status in delta) delta[status as JobCaseStatus] += n;
  }
  await ops.addCounts(jobId, delta);
}

/**
 * The links as a derived table `l` (n, task_id, attempt, bin, oj, ot, oa,
 * off). On SQLite, json_each over one parameter: a 500-link UNION ALL cost
 * SQLite more to parse and plan than to run (40 ms for 2,000 links of no
 * case). On MariaDB, plain SELECTs joined by UNION ALL: JSON_TABLE's
 * columns carry their own collation, which the join with the cases' keys
 * would have to convert.
 */
function linkTable(dialect: Dialect, links: readonly CaseLink[], offsets?: readonly number[]): SQL {
  if (dialect === "sqlite") {
    const rows = JSON.stringify(links.map((l, i) => [l.taskId, l.attempt, l.binary, l.origin.jobId, l.origin.taskId, l.origin.attempt, offsets?.[i] ?? 0]));
    return sql`(SELECT j.key AS n, j.value ->> 0 AS task_id, j.value ->> 1 AS attempt, j.value ->> 2 AS bin, j.value ->> 3 AS oj, j.value ->> 4 AS ot, j.value ->> 5 AS oa, j.value ->> 6 AS off FROM json_each(${rows}) j) l`;
  }
  const rows = links.map((l, i) =>
    i === 0
      ? sql`SELECT ${i} AS n, ${l.taskId} AS task_id, ${l.attempt} AS attempt, ${l.binary} AS bin, ${l.origin.jobId} AS oj, ${l.origin.taskId} AS ot, ${l.origin.attempt} AS oa, ${offsets?.[i] ?? 0} AS off`
      : sql`SELECT ${i}, ${l.taskId}, ${l.attempt}, ${l.binary}, ${l.origin.jobId}, ${l.origin.taskId}, ${l.origin.attempt}, ${offsets?.[i] ?? 0}`,
  );
  return sql`(${sql.join(rows, sql` UNION ALL `)}) l`;
}

/**
 * How many case indexes each link's origin used (its largest case_index +
 * 1), whether its cases are of another binary than the link's task, and
 * how many of its rows repeat a case, by link number: a read of the
 * origins' rows by primary key.
 */
function spanStatement(dialect: Dialect, links: readonly CaseLink[]): SQL {
  return sql`SELECT l.n AS n, max(c.case_index) + 1 AS span, max(CASE WHEN c.test_binary = l.bin THEN 0 ELSE 1 END) AS renamed,
      count(*) - count(DISTINCT c.case_key) AS repeats FROM ${linkTable(dialect, links)}
    JOIN cases c ON c.job_id = l.oj AND c.task_id = l.ot AND c.attempt = l.oa
    GROUP BY l.n`;
}

/**
 * One INSERT … SELECT over the links, the same SQL on SQLite and MariaDB
 * but for how a duplicate key is ignored. A case's seq is its link's
 * offset plus its place in its report: unique, and in the links' order.
 */
function linkStatement(dialect: Dialect, jobId: string, links: readonly CaseLink[], offsets: readonly number[]): SQL {
  const insert = dialect === "sqlite" ? sql.raw("INSERT OR IGNORE INTO") : sql.raw("INSERT IGNORE INTO");
  return sql`${insert} job_cases (job_id, case_key, seq, test_binary, suite, name, status, task_id, attempt, duration_ms, message, file, line, runs, failures, reused_from)
    SELECT ${jobId}, c.case_key, l.off + c.case_index, c.test_binary, c.suite, c.name,
      CASE WHEN c.status = 'passed' AND c.flaky_failures > 0 THEN 'flaky' ELSE c.status END,
      l.task_id, l.attempt, c.duration_ms, c.message, c.file, c.line, 1,
      CASE WHEN c.status IN ('failed', 'crashed') THEN 1 ELSE 0 END + c.flaky_failures,
      json_object('jobId', c.job_id, 'taskId', c.task_id, 'attempt', c.attempt)
    FROM ${linkTable(dialect, links, offsets)}
    JOIN cases c ON c.job_id = l.oj AND c.task_id = l.ot AND c.attempt = l.oa
    WHERE 1 = 1`;
}

/** An origin's case row as linkMerged reads it: the columns the wire form names alike, its link and its place in the report. */
type OriginCase = Required<CaseReport> & { n: number; case_index: number };

/** Keys one seqsOf names: the job's rows are read by primary key, a thousand a statement. */
const KEYS_PER_READ = 1_000;

/**
 * The job's rows for links that need the master (see linkCasesWith): their
 * origins' cases read in one statement, keyed under each link's binary,
 * each case's runs merged as its origin's job merged them (cases/case-merge.ts),
 * and inserted but for the cases the job has (or an earlier link gave it).
 */
async function linkMerged(ops: LinkOps, dialect: Dialect, jobId: string, links: readonly CaseLink[], offsets: readonly number[]): Promise<void> {
  const cases = await ops.rows<OriginCase>(sql`SELECT l.n AS n, c.case_index, c.suite, c.name, c.status, c.duration_ms, c.message, c.file, c.line, c.flaky_failures
    FROM ${linkTable(dialect, links)} JOIN cases c ON c.job_id = l.oj AND c.task_id = l.ot AND c.attempt = l.oa
    ORDER BY l.n, c.case_index`);
  const byLink = new Map<number, OriginCase[]>();
  for (const c of cases) (byLink.get(Number(c.n)) ?? byLink.set(Number(c.n), []).get(Number(c.n))!).push(c);
  const rows = new Map<string, JobCaseRow>();
  for (const [n, list] of byLink) {
    const link = links[n]!;
    const keyOf = caseKeyer(link.binary);
    const runs = new Map<string, { first: OriginCase; runs: CaseRun[] }>();
    for (const c of list) {
      const key = keyOf(c.suite, c.name);
      const run: CaseRun = {
        taskId: link.taskId, attempt: link.attempt, caseIndex: Number(c.case_index), status: c.status, flakyFailures: Number(c.flaky_failures),
        durationMs: c.duration_ms === null ? null : Number(c.duration_ms), message: c.message, file: c.file, line: c.line === null ? null : Number(c.line),
      };
      const entry = runs.get(key);
      if (entry) entry.runs.push(run);
      else runs.set(key, { first: c, runs: [run] });
    }
    for (const [caseKey, { first, runs: caseRuns }] of runs) {
      if (rows.has(caseKey)) continue;
      // Its seq is its first report's place: unique within the link's span of seqs.
      rows.set(caseKey, { jobId, caseKey, seq: offsets[n]! + Number(first.case_index), binary: link.binary, suite: first.suite, name: first.name, ...mergeRuns(caseRuns), reusedFrom: link.origin });
    }
  }
  const keys = [...rows.keys()];
  for (let i = 0; i < keys.length; i += KEYS_PER_READ) {
    const slice = keys.slice(i, i + KEYS_PER_READ);
    const known = await ops.seqsOf(jobId, slice);
    const fresh = slice.filter((k) => !known.has(k)).map((k) => rows.get(k)!);
    if (fresh.length > 0) await ops.writeJobCases(jobId, [], fresh);
  }
}
