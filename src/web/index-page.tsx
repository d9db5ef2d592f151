/** @jsxImportSource hono/jsx */
import type { JobSummary } from "../master/protocol.ts";
import { Page, formatTime, pageLink } from "./layout.tsx";

/** What the index shows: Master.queueStats() and Master.listJobs() of the last day. */
export interface IndexData {
  stats: { queued: number; running: number; idleSlaves: number };
  jobs: readonly JobSummary[];
}

/**
 * The master's front page: dist_test's headline numbers and the jobs of the
 * last day. The headline stays one line of text with nothing between the
 * label and its number: gce-autoscale.py scraped it with
 * `Queue length: (\d+).*Running: (\d+)`, where `.` does not cross a newline.
 */
export function IndexPage({ stats, jobs }: IndexData) {
  const tasks = jobs.reduce((n, j) => n + j.counts.total_tasks, 0);
  return (
    <Page title="dt: distributed tests">
      <h1>Stats</h1>
      <p>
        <code id="stats">{`Queue length: ${stats.queued} Running: ${stats.running} Idle slaves: ${stats.idleSlaves}`}</code>
      </p>
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
