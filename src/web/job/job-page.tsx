/** @jsxImportSource hono/jsx */
/**
 * `/job?job_id=X`: the job's page. A header (state, counts of tasks and of
 * test cases, duration, user, progress), then the tasks, failed and flaky
 * first, a page of rows at a time (task-table.tsx). While the job runs the
 * header and table are a live region (live.tsx): they update in place.
 */
import type { JobCaseView, JobFlagView, TaskView } from "../../master/protocol.ts";
import { CaseCounts } from "../case-list.tsx";
import { jobState } from "../index-page.tsx";
import { Page, formatCount, formatDuration, formatTime, pageLink } from "../layout.tsx";
import { LiveRegion } from "../live.tsx";
import { ReuseCounts } from "../reuse-marks.tsx";
import type { JobPageState } from "./page-data.ts";
import { PAGE_ROWS, type PageFilter, RARE_FILTERS, type RowQuery, SHOWN_FILTERS, queryParams } from "./row-query.ts";
import type { JobRow } from "./rows.ts";
import { TaskTable } from "./task-table.tsx";

/** Everything one view of the page shows. */
export interface JobView {
  state: JobPageState;
  query: RowQuery;
  /** The rows the query picks on this page, of `matching` in `pages` pages. */
  shown: JobRow[];
  matching: number;
  pages: number;
  tasks: ReadonlyMap<number, TaskView>;
  /** The first failed and flaky cases of the job, by task id; `more` counts those left out. */
  cases: ReadonlyMap<string, JobCaseView[]>;
  moreCases: { failed: number; flaky: number };
  now: number;
}

/** dist_test's words for a job with no rows; its client and users look for them. */
export function noTasksMessage(jobId: string): string {
  return `No tasks found for specified job_id ${jobId}`;
}

/** What `/job?job_id=X` shows for a job the master does not know. */
export function NoTasksPage({ jobId }: { jobId: string }) {
  return (
    <Page title="dt: no such job">
      <p id="empty">{noTasksMessage(jobId)}</p>
      <p>
        <a href="./">Back to home</a>
      </p>
    </Page>
  );
}

const PAGE_CSS = `
#job-counts [data-count] { font-weight: bold; }
.progress { display: flex; width: 80%; height: 14px; border: 1px solid #666; background: #eee; }
.progress div { height: 100%; }
.progress .passed { background: #3c3; } .progress .flaky { background: #f93; } .progress .failed { background: #d33; }
.progress .running { background: #ec3; } .progress .canceled { background: #999; }
tr.task.failed > td, tr.task.canceled > td { background: #fdd; } tr.task.flaky > td, tr.task.retrying > td { background: #fe9; }
tr.task.running > td { background: #ffc; } tr.task.passed > td { background: #dfd; } tr.task.quarantined > td { background: #e4e4e4; }
tr.attempt.lost td { background: #eef; color: #445; font-style: italic; }
.lost-count { color: #445; font-style: italic; }
table.attempts { margin: 0.3em 0; font-size: 13px; } table.attempts td { background: #fff; }
tr.attempt.failed td { background: #fee; } tr.attempt.succeeded td { background: #efe; } tr.attempt.running td { background: #ffe; }
ul.failed-cases { margin: 0.3em 0; padding-left: 1.2em; } ul.failed-cases pre { margin: 0.2em 0; max-height: 8em; overflow: auto; }
details > summary { cursor: pointer; color: #245; }
.shard h3 { font-size: 13px; margin: 0.4em 0 0; }
th a { color: inherit; }
#filters a, #filters strong { margin-right: 0.8em; }
.pager a, .pager span { margin-right: 0.8em; }
`;

/** The job's state in a word, from the same rows as the counts. */
function stateOf(s: JobPageState) {
  return jobState({ status: s.finished ? "finished" : "running", canceled_at: s.job.canceledAt, counts: s.rowCounts });
}

export function JobPage(view: JobView) {
  const { job } = view.state;
  return (
    <Page title={`dt: job ${job.id}`} css={PAGE_CSS}>
      <h1>
        Job <span class="mono">{job.id}</span>
      </h1>
      <p id="job-nav">
        <a href="./">all jobs</a> <a href={pageLink("trace", { job_id: job.id })}>trace</a>{" "}
        <a href={pageLink("job_status", { job_id: job.id })}>job_status (JSON)</a> <a href={`api/v1/jobs/${encodeURIComponent(job.id)}/tasks`}>tasks (JSON)</a>{" "}
        <a href={`api/v1/jobs/${encodeURIComponent(job.id)}/cases`}>cases (JSON)</a>
      </p>
      <LiveRegion id="job-live" src={pageLink("job", { job_id: job.id, ...queryParams(view.query), format: "fragment" })} etag={jobPageEtag(view.state, view.now)} live={!view.state.finished}>
        <JobLive {...view} />
      </LiveRegion>
    </Page>
  );
}

/** How often a running job's page refreshes its running times when nothing else changed. */
const TICK_MS = 10_000;

/** What the live region's poll compares: the job's change version, and while it runs a coarse clock for its running times. */
export function jobPageEtag(state: JobPageState, now: number): string {
  return state.finished ? `${state.version}.done` : `${state.version}.${Math.floor(now / TICK_MS)}`;
}

/** The live region's content: what a poll answers. */
export function JobLive(view: JobView) {
  const { state, query } = view;
  const { job } = state;
  const word = stateOf(state);
  const end = state.finished ? state.lastChangeAt : view.now;
  return (
    <>
      <section id="job-header">
        <p>
          <strong class={`job-state ${word.row}`}>{word.word}</strong>
          {job.canceledAt !== null ? ` (canceled at ${formatTime(job.canceledAt)})` : ""} · submitted {formatTime(job.createdAt)} by {job.user}
          {job.name ? ` as ${job.name}` : ""} · {state.finished ? "took" : "running for"} {formatDuration(Math.max(0, end - job.createdAt))}
        </p>
        <Progress state={state} />
        <HeaderCounts state={state} />
      </section>
      {state.flags.length > 0 ? <Flags flags={state.flags} /> : null}
      <MoreCases jobId={job.id} more={view.moreCases} />
      <Filters jobId={job.id} state={state} query={query} />
      {view.shown.length === 0 && view.matching > 0 ? (
        <p id="empty">
          {`Page ${query.page} is past the last, ${view.pages}: `}
          <a href={pageLink("job", { job_id: job.id, ...queryParams({ ...query, page: 1 }) })}>the first page</a>
        </p>
      ) : view.shown.length === 0 ? (
        <>
          <p id="empty">{noTasksMessage(job.id)}</p>
          {query.filter ? <p class="note">(with status {query.filter})</p> : null}
        </>
      ) : (
        <>
          <TaskTable jobId={job.id} rows={view.shown} tasks={view.tasks} cases={view.cases} query={query} now={view.now} />
          <Pager jobId={job.id} query={query} matching={view.matching} pages={view.pages} />
        </>
      )}
    </>
  );
}

/** Counts of rows (a sharded binary is one), each a number in its own element, as the filters show them. */
function HeaderCounts({ state }: { state: JobPageState }) {
  const c = state.rowCounts;
  const n = (name: keyof typeof c) => <span data-count={name}>{formatCount(c[name])}</span>;
  const retries = state.counts.retries + state.counts.requeues;
  return (
    <p id="job-counts">
      Tasks: {n("total")}
      {state.tasks !== c.total ? ` (${formatCount(state.tasks)} with shards)` : ""} — {n("failed")} failed, {n("flaky")} flaky, {n("running")} running, {n("queued")} queued, {n("passed")} passed
      {c.canceled > 0 ? <>, {n("canceled")} canceled</> : null}
      {c.quarantined > 0 ? <>, {n("quarantined")} quarantined</> : null}
      <br />
      Attempts: {formatCount(state.attempts)}
      {retries > 0 ? ` (${formatCount(state.counts.retries)} test retries, ${formatCount(state.counts.requeues)} after losses)` : ""}; infrastructure losses hit {n("lost")} tasks
      {state.cases.total > 0 ? (
        <>
          <br />
          <CaseCounts counts={state.cases} />
        </>
      ) : null}
      <ReuseCounts counts={state.counts} />
    </p>
  );
}

/** The rows' states as a bar, in the order a job fills it; the counts beside it say the same in words. */
function Progress({ state }: { state: JobPageState }) {
  const c = state.rowCounts;
  const s = state.stateCounts;
  const parts: Record<string, number> = { passed: s.passed + s.quarantined, flaky: s.flaky, failed: s.failed, canceled: s.canceled, running: s.running + s.retrying };
  const total = Math.max(1, c.total);
  const label = `${c.passed} passed${c.quarantined > 0 ? ` (and ${c.quarantined} quarantined)` : ""}, ${c.flaky} flaky, ${c.failed} failed${c.canceled > 0 ? `, ${c.canceled} canceled` : ""}, ${c.running} running, ${c.queued} queued of ${c.total}`;
  return (
    <div class="progress" role="img" aria-label={label} title={label}>
      {["passed", "flaky", "failed", "canceled", "running"].map((part) => {
        const count = parts[part]!;
        return count > 0 ? <div class={part} style={`width: ${((count * 100) / total).toFixed(2)}%`} /> : null;
      })}
    </div>
  );
}

function Filters({ jobId, state, query }: { jobId: string; state: JobPageState; query: RowQuery }) {
  const c = state.rowCounts;
  const link = (filter: PageFilter | null, label: string, count: number) => {
    const attrs = { "data-filter": filter ?? "all", "data-count": String(count) };
    const text = `${label} (${formatCount(count)})`;
    return filter === query.filter ? <strong {...attrs}>{text}</strong> : <a {...attrs} href={pageLink("job", { job_id: jobId, ...queryParams({ ...query, filter, page: 1 }) })}>{text}</a>;
  };
  return (
    <nav id="filters" aria-label="filter the tasks">
      Show: {link(null, "all", c.total)}
      {SHOWN_FILTERS.filter((f) => !RARE_FILTERS.has(f) || c[f] > 0 || query.filter === f).map((f) => link(f, f === "lost" ? "hit by losses" : f, c[f]))}
    </nav>
  );
}

function Pager({ jobId, query, matching, pages }: { jobId: string; query: RowQuery; matching: number; pages: number }) {
  if (pages <= 1) return null;
  const to = (page: number) => pageLink("job", { job_id: jobId, ...queryParams({ ...query, page }) });
  const first = (query.page - 1) * PAGE_ROWS + 1;
  const last = Math.min(matching, query.page * PAGE_ROWS);
  return (
    <nav class="pager" aria-label="pages of tasks">
      <span>{`Tasks ${formatCount(first)}–${formatCount(last)} of ${formatCount(matching)}; page ${query.page} of ${pages}:`}</span>
      {query.page > 1 ? <><a href={to(1)}>first</a><a href={to(query.page - 1)} rel="prev">previous</a></> : null}
      {query.page < pages ? <><a href={to(query.page + 1)} rel="next">next</a><a href={to(pages)}>last</a></> : null}
    </nav>
  );
}

/** The job's flags, above its tasks: each breaks the promise that every case ran exactly once. */
function Flags({ flags }: { flags: readonly JobFlagView[] }) {
  return (
    <div id="flags">
      <h2>Flags ({flags.length})</h2>
      <ul>
        {flags.map((f) => (
          <li class="flag">
            <span class="mono">{f.kind}</span>: {f.text}
          </li>
        ))}
      </ul>
    </div>
  );
}

/** Failed and flaky cases past those listed under their tasks: the API has them all. */
function MoreCases({ jobId, more }: { jobId: string; more: { failed: number; flaky: number } }) {
  const line = (status: "failed" | "flaky", n: number) =>
    n > 0 ? (
      <p class="note">
        {`${formatCount(n)} more ${status} cases are not listed under their tasks: `}
        <a href={`api/v1/jobs/${encodeURIComponent(jobId)}/cases?status=${status}`}>all of them (JSON)</a>
      </p>
    ) : null;
  return (
    <>
      {line("failed", more.failed)}
      {line("flaky", more.flaky)}
    </>
  );
}
