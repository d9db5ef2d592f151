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
import { JOB_CASE_STATUSES } from "../cases/case-merge.ts";
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
  /** The job's rows from seq `fromSeq` on, counted by merged status (an indexed range: only the rows just linked). */
  statusCountsFrom(jobId: string, fromSeq: number): Promise<Map<string, number>>;
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
    const spans = new Map((await ops.rows<{ n: number; span: number; renamed: number }>(spanStatement(dialect, batch))).map((r) => [Number(r.n), { span: Number(r.span), renamed: Number(r.renamed) > 0 }]));
    const first = await ops.nextSeq(jobId);
    let next = first;
    const offsets = batch.map((_, i) => {
      const offset = next;
      next += spans.get(i)?.span ?? 0;
      return offset;
    });
    // A task described otherwise than the one it reused shows the cases under its own binary: their keys change, which SQL cannot
    // compute (a case key is a SHA-256 of binary, suite and name), so those few links go through here.
    const renamed = batch.flatMap((l, i) => (spans.get(i)?.renamed ? [i] : []));
    const same = batch.flatMap((l, i) => (spans.get(i)?.renamed ? [] : [i]));
    if (same.length > 0) await ops.run(linkStatement(dialect, jobId, same.map((i) => batch[i]!), same.map((i) => offsets[i]!)));
    for (const i of renamed) await linkRenamed(ops, jobId, batch[i]!, offsets[i]!);
    // The rows this statement inserted are those from `first` on (the job is locked, and an ignored row changes none): counted alone,
    // not the job's every row before and after, which made a 2,000-task job's waiting tasks, linked one by one, cost 23 s (quadratic).
    for (const [status, n] of await ops.statusCountsFrom(jobId, first)) if (status in delta) delta[status as JobCaseStatus] += n;
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
 * 1), and whether its cases are of another binary than the link's task, by
 * link number: a read of the origins' rows by primary key.
 */
function spanStatement(dialect: Dialect, links: readonly CaseLink[]): SQL {
  return sql`SELECT l.n AS n, max(c.case_index) + 1 AS span, max(CASE WHEN c.test_binary = l.bin THEN 0 ELSE 1 END) AS renamed FROM ${linkTable(dialect, links)}
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

/** An origin's case row as linkRenamed reads it: the columns the wire form names alike, and its place in the report. */
type OriginCase = Required<CaseReport> & { case_index: number };

/**
 * The job's rows for one link whose task has another binary than its
 * origin's cases: read, keyed anew under the task's binary, and inserted
 * but for the cases the job has (and repeats in the report: the first).
 */
async function linkRenamed(ops: LinkOps, jobId: string, link: CaseLink, offset: number): Promise<void> {
  const cases = await ops.rows<OriginCase>(sql`SELECT case_index, suite, name, status, duration_ms, message, file, line, flaky_failures FROM cases
    WHERE job_id = ${link.origin.jobId} AND task_id = ${link.origin.taskId} AND attempt = ${link.origin.attempt} ORDER BY case_index`);
  const keyOf = caseKeyer(link.binary);
  const rows = new Map<string, JobCaseRow>();
  for (const c of cases) {
    const caseKey = keyOf(c.suite, c.name);
    if (rows.has(caseKey)) continue;
    const flaky = Number(c.flaky_failures);
    rows.set(caseKey, {
      jobId, caseKey, seq: offset + Number(c.case_index), binary: link.binary, suite: c.suite, name: c.name,
      status: c.status === "passed" && flaky > 0 ? "flaky" : c.status, taskId: link.taskId, attempt: link.attempt,
      durationMs: c.duration_ms === null ? null : Number(c.duration_ms), message: c.message, file: c.file, line: c.line === null ? null : Number(c.line),
      runs: 1, failures: (c.status === "failed" || c.status === "crashed" ? 1 : 0) + flaky, reusedFrom: link.origin,
    });
  }
  const known = await ops.seqsOf(jobId, [...rows.keys()]);
  const fresh = [...rows.values()].filter((r) => !known.has(r.caseKey));
  if (fresh.length > 0) await ops.writeJobCases(jobId, [], fresh);
}
