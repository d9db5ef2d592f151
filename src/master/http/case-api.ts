/**
 * The native API's test-case reads: a job's cases, paged, and one case's
 * history over jobs. Queries are checked strictly: an unknown or malformed
 * parameter is a 400 naming it.
 */
import { Hono } from "hono";
import { DtError } from "../../common/errors.ts";
import { caseKey } from "../cases/case-key.ts";
import { taskFlakeRate } from "../cases/case-merge.ts";
import { CASE_LIMITS } from "../cases/case-report.ts";
import type { Master } from "../master.ts";
import type { CaseHistory, JobCasesPage, JobCaseStatus, JobCaseView } from "../protocol.ts";
import type { Repo } from "../repo/repo.ts";
import type { JobCaseRow } from "../repo/schema-sqlite.ts";
import { markQuarantined } from "../quarantine/case-views.ts";

/**
 * A page of cases: 1,000 by default (~300 KB of JSON), 10,000 at most, and
 * ends early past 4 MiB of JSON: a case may carry 8,000 characters of
 * strings (a 4,096-character message, a 2,000-character name...), which
 * JSON's \u escapes can make six times longer, so 10,000 of them would be
 * a response of hundreds of MB built in the master's memory.
 */
export const CASE_PAGE = { default: 1_000, max: 10_000, maxBytes: 4 * 2 ** 20 } as const;
/** Results of one history answer: the last 50 runs by default, 1,000 at most. */
export const HISTORY_PAGE = { default: 50, max: 1_000 } as const;

/** `failed` lists crashed cases too, as the job's counts count them. */
const STATUS_FILTERS: ReadonlyMap<string, readonly JobCaseStatus[] | undefined> = new Map([
  ["all", undefined], ["failed", ["failed", "crashed"]], ["crashed", ["crashed"]], ["flaky", ["flaky"]], ["passed", ["passed"]], ["skipped", ["skipped"]],
]);

/** Refuses a query parameter not in `known`, naming it and the known ones. */
export function checkKnown(query: Record<string, string>, known: readonly string[]): void {
  for (const key of Object.keys(query)) {
    if (!known.includes(key)) throw new DtError("invalid_input", `${key}: is not a parameter of this request (known: ${known.join(", ")})`);
  }
}

/** `limit`: an integer from 1 to `bounds.max`, `bounds.default` when absent. */
export function limitOf(value: string | undefined, bounds: { default: number; max: number }): number {
  if (value === undefined) return bounds.default;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > bounds.max) throw new DtError("invalid_input", `limit: must be an integer from 1 to ${bounds.max}, got ${JSON.stringify(value.slice(0, 40))}`);
  return n;
}

/** A required parameter, at most `max` characters; the message names it and, for a test's identity, what it is. */
export function required(value: string | undefined, name: string, max: number): string {
  if (value === undefined || value === "") throw new DtError("invalid_input", `${name}: is required (the test's ${name === "case" ? "case name" : name})`);
  if (value.length > max) throw new DtError("invalid_input", `${name}: is ${value.length} characters; at most ${max}`);
  return value;
}

/** A stored case of a job as the API (and the job page) shows it. */
export function jobCaseView(r: JobCaseRow): JobCaseView {
  return {
    binary: r.binary, suite: r.suite, name: r.name, status: r.status, task_id: r.taskId, attempt: r.attempt,
    duration_ms: r.durationMs, message: r.message, file: r.file, line: r.line, runs: r.runs, failures: r.failures,
    ...(r.reusedFrom ? { reused_from: { job_id: r.reusedFrom.jobId, task_id: r.reusedFrom.taskId, attempt: r.reusedFrom.attempt } } : {}),
  };
}

/** GET tests/history's answer to `query` (binary, suite, case, limit), checked as the API checks it; the /tests/history page shows the same. */
export async function caseHistory(repo: Repo, query: Record<string, string>): Promise<CaseHistory> {
  checkKnown(query, ["binary", "suite", "case", "limit"]);
  const binary = required(query.binary, "binary", 255);
  const suite = required(query.suite, "suite", CASE_LIMITS.maxSuiteChars);
  const name = required(query.case, "case", CASE_LIMITS.maxNameChars);
  const rows = await repo.caseHistory(caseKey(binary, suite, name), limitOf(query.limit, HISTORY_PAGE));
  return {
    binary, suite, case: name,
    results: rows.map((r) => ({ job_id: r.jobId, task_id: r.taskId, attempt: r.attempt, status: r.status, duration_ms: r.durationMs, reported_at: r.reportedAt })),
    flake_rate: taskFlakeRate(rows)?.rate ?? null,
  };
}

/** GET jobs/:job/cases and GET tests/history, to mount under /api/v1. */
export function caseRoutes(master: Master): Hono {
  const app = new Hono();
  const { repo } = master.deps;

  app.get("/jobs/:job/cases", async (c) => {
    const query = c.req.query();
    checkKnown(query, ["status", "limit", "cursor"]);
    const status = query.status ?? "all";
    // A Map, not an object's keys: "toString" or "__proto__" must not find Object.prototype's.
    if (!STATUS_FILTERS.has(status)) throw new DtError("invalid_input", `status: must be one of ${[...STATUS_FILTERS.keys()].join(", ")}, got ${JSON.stringify(status.slice(0, 40))}`);
    const limit = limitOf(query.limit, CASE_PAGE);
    const cursor = query.cursor;
    if (cursor !== undefined && !/^\d{1,10}$/.test(cursor)) throw new DtError("invalid_input", "cursor: must be the next_cursor of a previous page");
    const jobId = c.req.param("job");
    await master.requireJob(jobId);
    const statuses = STATUS_FILTERS.get(status);
    const cases: JobCasesPage["cases"] = [];
    const shown: JobCaseRow[] = [];
    let bytes = 0;
    let afterSeq = cursor === undefined ? undefined : Number(cursor);
    let more = false;
    // Read in chunks, not the whole limit at once: 10,000 rows of long messages and names are ~160 MB before the byte bound would cut them.
    page: while (cases.length < limit) {
      const want = Math.min(limit - cases.length, CASE_PAGE.default);
      const rows = await repo.listJobCases(jobId, { statuses, afterSeq, limit: want + 1 });
      for (const r of rows.slice(0, want)) {
        const view = jobCaseView(r);
        bytes += JSON.stringify(view).length;
        // At least one case a page, so that paging always moves on.
        if (cases.length > 0 && bytes > CASE_PAGE.maxBytes) {
          more = true;
          break page;
        }
        cases.push(view);
        shown.push(r);
        afterSeq = r.seq;
      }
      more = rows.length > want;
      if (!more) break;
    }
    await markQuarantined(repo, jobId, shown, cases);
    const body: JobCasesPage = {
      job_id: jobId,
      cases,
      // Seqs never change once given, so a cursor stays valid while later reports add and rewrite cases.
      next_cursor: more ? String(afterSeq) : null,
    };
    return c.json(body);
  });

  app.get("/tests/history", async (c) => c.json(await caseHistory(repo, c.req.query())));

  return app;
}
