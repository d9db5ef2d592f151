/** @jsxImportSource hono/jsx */
/** `/job`: the job page and its live region's polls (see job-page.tsx). */
import type { Context } from "hono";
import { isDtError } from "../../common/errors.ts";
import { SMALL_FORM_BYTES, requestParams, requireParam } from "../../master/http/cherrypy.ts";
import { jobCaseView } from "../../master/http/case-api.ts";
import type { Master } from "../../master/master.ts";
import type { JobCaseStatus, JobCaseView } from "../../master/protocol.ts";
import { markQuarantined } from "../../master/quarantine/case-views.ts";
import { MAX_PAGE_CASES } from "../case-list.tsx";
import { sendBadQuery, sendPage } from "../layout.tsx";
import { sendFragment } from "../live.tsx";
import { JobLive, JobPage, type JobView, NoTasksPage, jobPageEtag } from "./job-page.tsx";
import { type JobPageCache, type JobPageState, readRowTasks } from "./page-data.ts";
import { type RowQuery, parseRowQuery, pickRows } from "./row-query.ts";

export async function jobRoute(c: Context, master: Master, pages: JobPageCache): Promise<Response> {
  const params = await requestParams(c, SMALL_FORM_BYTES);
  const jobId = requireParam(params, "job_id");
  let query: RowQuery;
  try {
    query = parseRowQuery(params);
  } catch (err) {
    if (!isDtError(err, "invalid_input")) throw err;
    return sendBadQuery(c, "dt: bad query", err.message);
  }
  const format = params.get("format") || "html";
  if (format !== "html" && format !== "fragment") {
    return sendBadQuery(c, "dt: bad query", `format must be html or fragment, got ${JSON.stringify(format.slice(0, 40))}`);
  }
  const state = await pages.get(jobId);
  if (!state) return sendPage(c, <NoTasksPage jobId={jobId} />, 404);
  const now = master.deps.clock.now();
  if (format === "fragment") return sendFragment(c, jobPageEtag(state, now), state.finished, async () => <JobLive {...await jobView(master, state, query, now)} />);
  return sendPage(c, <JobPage {...await jobView(master, state, query, now)} />);
}

/** What one view shows: the query's page of rows with their tasks read in full, and the job's first failed and flaky cases. */
async function jobView(master: Master, state: JobPageState, query: RowQuery, now: number): Promise<JobView> {
  const picked = pickRows(state.rows, query, now);
  const tasks = await readRowTasks(master, state.job, picked.shown);
  const { byTask, more } = state.cases.failed + state.cases.flaky > 0 ? await firstCases(master, state) : { byTask: new Map(), more: { failed: 0, flaky: 0 } };
  return { state, query, ...picked, tasks, cases: byTask, moreCases: more, now };
}

/**
 * The job's first MAX_PAGE_CASES failed (crashed included) and flaky cases,
 * by the task that decided them, with their quarantine entries: a broken
 * build's page stays small, and the API pages through the rest.
 */
async function firstCases(master: Master, state: JobPageState): Promise<{ byTask: Map<string, JobCaseView[]>; more: { failed: number; flaky: number } }> {
  const { repo } = master.deps;
  const jobId = state.job.id;
  const list = async (statuses: JobCaseStatus[], n: number) => {
    if (n === 0) return [];
    const rows = await repo.listJobCases(jobId, { statuses, limit: MAX_PAGE_CASES });
    const views = rows.map(jobCaseView);
    await markQuarantined(repo, jobId, rows, views);
    return views;
  };
  const failed = await list(["failed", "crashed"], state.cases.failed);
  const flaky = await list(["flaky"], state.cases.flaky);
  const byTask = new Map<string, JobCaseView[]>();
  for (const c of [...failed, ...flaky]) (byTask.get(c.task_id) ?? byTask.set(c.task_id, []).get(c.task_id)!).push(c);
  return { byTask, more: { failed: Math.max(0, state.cases.failed - failed.length), flaky: Math.max(0, state.cases.flaky - flaky.length) } };
}
