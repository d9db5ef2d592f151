/** @jsxImportSource hono/jsx */
import type { AutoscaleDecision, JobSummary } from "../master/protocol.ts";
import { Page, formatTime, pageLink } from "./layout.tsx";

/** Decisions the index lists: the last few minutes of a busy autoscaler; GET /api/v1/autoscaler/decisions has the rest. */
const DECISIONS_SHOWN = 20;

/** What the index shows: Master.queueStats(), the autoscalers' decisions (newest first) and Master.listJobs() of the last day. */
export interface IndexData {
  stats: { queued: number; running: number; idleSlaves: number };
  decisions?: readonly AutoscaleDecision[];
  jobs: readonly JobSummary[];
}

/**
 * The master's front page: dist_test's headline numbers, the autoscalers'
 * latest decisions (when one reports) and the jobs of the last day. The headline stays one line of text with nothing between the
 * label and its number: gce-autoscale.py scraped it with
 * `Queue length: (\d+).*Running: (\d+)`, where `.` does not cross a newline.
 */
export function IndexPage({ stats, decisions = [], jobs }: IndexData) {
  const tasks = jobs.reduce((n, j) => n + j.counts.total_tasks, 0);
  return (
    <Page title="dt: distributed tests">
      <p id="nav">
        <a href="flaky">flaky tests</a> <a href="slaves">slaves</a>
      </p>
      <h1>Stats</h1>
      <p>
        <code id="stats">{`Queue length: ${stats.queued} Running: ${stats.running} Idle slaves: ${stats.idleSlaves}`}</code>
      </p>
      {decisions.length > 0 && <AutoscalerSection decisions={decisions} />}
      <h1>Recent jobs (last 1 day)</h1>
      <table id="jobs">
        <thead>
          <tr>
            <th>Job ({jobs.length})</th>
            <th>User</th>
            <th>Submitted</th>
            <th>Tasks ({tasks})</th>
            <th>Finished</th>
            <th>Failed</th>
            <th>Flaky</th>
            <th>Status</th>
            <th>Trace</th>
          </tr>
        </thead>
        <tbody>
          {jobs.map((j) => (
            <tr>
              <td class="mono">
                <a href={pageLink("job", { job_id: j.job_id })}>{j.job_id}</a>
              </td>
              <td>{j.user}</td>
              <td>{formatTime(j.created_at)}</td>
              <td>{j.counts.total_tasks}</td>
              <td>{j.counts.finished}</td>
              <td>{j.counts.failed}</td>
              <td>{j.counts.flaky}</td>
              <td>{j.canceled_at === null ? j.status : `${j.status} (canceled)`}</td>
              <td>
                <a href={pageLink("trace", { job_id: j.job_id })}>trace</a>
              </td>
            </tr>
          ))}
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
