/** @jsxImportSource hono/jsx */
import type { AutoscaleDecision, JobSummary } from "../master/protocol.ts";
import { Page, formatDuration, formatTime, pageLink } from "./layout.tsx";

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

/**
 * The master's front page: dist_test's headline numbers, the autoscalers'
 * latest decisions (when one reports) and the jobs of the last day, by user
 * and name if asked (a GET form: it works without scripts), each with its
 * state in words and colour, its tasks and test cases passed and failed,
 * and how long it ran. The headline stays one line of text with nothing
 * between the label and its number: gce-autoscale.py scraped it with
 * `Queue length: (\d+).*Running: (\d+)`, where `.` does not cross a newline.
 */
export function IndexPage({ stats, decisions = [], jobs, filter = {}, now }: IndexData) {
  const tasks = jobs.reduce((n, j) => n + j.counts.total_tasks, 0);
  return (
    <Page title="dt: distributed tests">
      <p id="nav">
        <a href="flaky">flaky tests</a> <a href="slaves">slaves</a> <a href="metrics">metrics</a>
      </p>
      <h1>Stats</h1>
      <p>
        <code id="stats">{`Queue length: ${stats.queued} Running: ${stats.running} Idle slaves: ${stats.idleSlaves}`}</code>
      </p>
      {decisions.length > 0 && <AutoscalerSection decisions={decisions} />}
      <h1>Recent jobs (last 1 day)</h1>
      <form method="get" action="./" id="job-filter">
        <label>
          User <input name="user" value={filter.user ?? ""} size={12} />
        </label>{" "}
        <label>
          Name <input name="name" value={filter.name ?? ""} size={16} />
        </label>{" "}
        <button type="submit">Filter</button> {(filter.user || filter.name) && <a href="./">all jobs</a>}
      </form>
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
    </Page>
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
