/** @jsxImportSource hono/jsx */
import type { AutoscaleDecision, JobSummary } from "../master/protocol.ts";
import { Page, formatCount, formatDuration, formatTime, pageLink } from "./layout.tsx";
import { LiveRegion } from "./live.tsx";

/** Decisions the index lists: the last few minutes of a busy autoscaler; GET /api/v1/autoscaler/decisions has the rest. */
const DECISIONS_SHOWN = 20;

/** What the index shows: Master.queueStats(), the autoscalers' decisions (newest first) and Master.listJobs() of the last day, filtered. */
export interface IndexData {
  stats: { queued: number; running: number; idleSlaves: number };
  decisions?: readonly AutoscaleDecision[];
  jobs: readonly JobSummary[];
  /** The user and name the jobs were filtered by, as the form shows them. */
  filter?: { user?: string; name?: string };
  now: number;
}

/** A job's state in a word, and the row class that colours it (the word is always shown: colour alone says nothing to some readers). */
export function jobState(j: Pick<JobSummary, "status" | "canceled_at"> & { counts: Pick<JobSummary["counts"], "failed" | "canceled" | "flaky"> }): { word: string; row: string } {
  if (j.status === "running") return { word: j.counts.failed > 0 ? "running, failing" : "running", row: j.counts.failed > 0 ? "failed" : "running" };
  if (j.canceled_at !== null) return { word: "canceled", row: "quarantined" };
  if (j.counts.failed > 0 || j.counts.canceled > 0) return { word: "failed", row: "failed" };
  return { word: j.counts.flaky > 0 ? "passed (flaky)" : "passed", row: j.counts.flaky > 0 ? "flaky" : "succeeded" };
}

/** The URL the live region polls: the page itself with its filter, as a fragment (relative, for a master behind a path prefix). */
export function indexFragmentLink(filter: IndexData["filter"] = {}): string {
  return pageLink("./", { ...(filter.user ? { user: filter.user } : {}), ...(filter.name ? { name: filter.name } : {}), format: "fragment" });
}

/**
 * The master's front page: links to the other pages, a filter of the jobs
 * by user and name (a GET form: it works without scripts), and a live
 * region (live.tsx) with dist_test's headline numbers, the autoscalers'
 * latest decisions (when one reports) and the jobs of the last day, which
 * keeps itself current while the page is open: new jobs appear, running
 * ones move on. The form stays outside the region, so a poll never drops
 * what the reader is typing. `etag` names what the region shows
 * (index-route.tsx).
 */
export function IndexPage(props: IndexData & { etag: string }) {
  const { filter = {} } = props;
  return (
    <Page title="dt: distributed tests">
      <p id="nav">
        <a href="flaky">flaky tests</a> <a href="slaves">slaves</a> <a href="metrics">metrics</a>
      </p>
      <form method="get" action="./" id="job-filter" aria-label="Filter the jobs">
        <label>
          User <input name="user" value={filter.user ?? ""} size={12} />
        </label>{" "}
        <label>
          Name <input name="name" value={filter.name ?? ""} size={16} />
        </label>{" "}
        <button type="submit">Filter</button> {(filter.user || filter.name) && <a href="./">all jobs</a>}
      </form>
      <LiveRegion id="index-live" src={indexFragmentLink(filter)} etag={props.etag} live={true}>
        <IndexLive {...props} />
      </LiveRegion>
    </Page>
  );
}

/**
 * The index's live region, as the page shows it and its polls answer it.
 * The headline stays one line of text with nothing between the label and
 * its number: gce-autoscale.py scraped it with
 * `Queue length: (\d+).*Running: (\d+)`, where `.` does not cross a newline.
 */
export function IndexLive({ stats, decisions = [], jobs, filter = {}, now }: IndexData) {
  const tasks = jobs.reduce((n, j) => n + j.counts.total_tasks, 0);
  const states = new Map<string, number>();
  for (const j of jobs) {
    const { word } = jobState(j);
    states.set(word, (states.get(word) ?? 0) + 1);
  }
  const by = [filter.user ? `user ${filter.user}` : "", filter.name ? `name ${filter.name}` : ""].filter((s) => s !== "").join(", ");
  return (
    <>
      <h1>Stats</h1>
      <p>
        <code id="stats">{`Queue length: ${stats.queued} Running: ${stats.running} Idle slaves: ${stats.idleSlaves}`}</code>
      </p>
      {decisions.length > 0 && <AutoscalerSection decisions={decisions} />}
      <h1>Recent jobs (last 1 day{by ? `; ${by}` : ""})</h1>
      <p id="job-counts">{`${formatCount(jobs.length)} job${jobs.length === 1 ? "" : "s"}${states.size > 0 ? ": " : ""}${[...states].map(([word, n]) => `${formatCount(n)} ${word}`).join("; ")}`}</p>
      <table id="jobs">
        <thead>
          <tr>
            <th>Job ({jobs.length})</th>
            <th>State</th>
            <th>User</th>
            <th>Submitted</th>
            <th>Duration</th>
            <th>Tasks ({tasks})</th>
            <th>Passed</th>
            <th>Failed</th>
            <th>Flaky</th>
            <th>Test cases</th>
            <th>Trace</th>
          </tr>
        </thead>
        <tbody>
          {jobs.map((j) => {
            const state = jobState(j);
            const cases = j.counts.cases;
            return (
              <tr class={state.row}>
                <td class="mono">
                  <a href={pageLink("job", { job_id: j.job_id })}>{j.job_id}</a>
                </td>
                <td>{state.word}</td>
                <td>{j.user}</td>
                <td>{formatTime(j.created_at)}</td>
                <td>{formatDuration(Math.max(0, (j.finished_at ?? now) - j.created_at))}</td>
                <td>{`${j.counts.finished} of ${j.counts.total_tasks} finished`}</td>
                <td>{j.counts.succeeded + j.counts.flaky}</td>
                <td>{j.counts.failed}</td>
                <td>{j.counts.flaky}</td>
                <td>{cases && cases.total > 0 ? `${cases.passed} passed, ${cases.failed} failed${cases.flaky > 0 ? `, ${cases.flaky} flaky` : ""}` : ""}</td>
                <td>
                  <a href={pageLink("trace", { job_id: j.job_id })}>trace</a>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </>
  );
}

/** The latest decisions of the autoscalers that report to this master (`dt autoscale`), newest first. */
function AutoscalerSection({ decisions }: { decisions: readonly AutoscaleDecision[] }) {
  const shown = decisions.slice(0, DECISIONS_SHOWN);
  return (
    <>
      <h1>Autoscaler</h1>
      <table id="autoscaler">
        <thead>
          <tr>
            <th>Time</th>
            <th>Autoscaler</th>
            <th>Action</th>
            <th>Slaves</th>
            <th>Reason</th>
            <th>Chosen</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((d) => (
            <tr class={`decision-${d.action}`}>
              <td>{formatTime(d.at)}</td>
              <td>{d.autoscaler}</td>
              <td>{d.action}</td>
              <td>{`${d.from} → ${d.to}`}</td>
              <td>{d.reason}</td>
              <td class="mono">{(d.slaves ?? []).join(", ")}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {decisions.length > shown.length && <p class="note">{`The latest ${shown.length} of ${decisions.length}; all of them at `}<a href="api/v1/autoscaler/decisions">api/v1/autoscaler/decisions</a></p>}
    </>
  );
}
