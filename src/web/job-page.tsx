/** @jsxImportSource hono/jsx */
import type { DistTestJobStatus } from "../master/jobs/status.ts";
import { ACTIVE_STATES, type Job } from "../master/model.ts";
import type { AttemptView, CaseSelectionView, JobCounts, JobFlagView } from "../master/protocol.ts";
import { Page, attemptDurationMs, formatDuration, formatTime, pageLink } from "./layout.tsx";
import { CaseCounts, FailedCases, type JobPageCases } from "./case-list.tsx";
import { ReuseCounts, ReuseMark } from "./reuse-marks.tsx";
import { ROW_FILTERS, type RowFilter, type TaskRow } from "./task-rows.ts";

/** What the job page shows: Master.distTestStatus() and the rows of Master.jobTasks(). */
export interface JobPageData {
  job: Job;
  status: DistTestJobStatus;
  /** Every attempt of the job; the page filters them. */
  rows: readonly TaskRow[];
  filter: RowFilter | null;
  now: number;
  /** The job's test cases, when its tasks reported any: counts in the header, failed cases above the tasks. */
  cases?: JobPageCases;
  /** What the master found wrong with the job's runs (a shard that strayed from its case filter). */
  flags?: readonly JobFlagView[];
  /** The API's counts of the job (Master.jobCounts): the header's reuse line reads them. */
  counts?: JobCounts;
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

const FILTER_LABELS: Record<RowFilter, string> = {
  running: "running", failed: "failed", succeeded: "succeeded", timedout: "timed out", flaky: "flaky", finished: "finished",
};

function rowClass(r: TaskRow): string {
  if (!r.ended) return "running";
  if (r.attempt.state === "SUCCEEDED") return "succeeded";
  if (r.attempt.quarantined) return "quarantined";
  return ROW_FILTERS.flaky(r) ? "flaky" : "failed";
}

function LogLinks({ jobId, row, stream }: { jobId: string; row: TaskRow; stream: "stdout" | "stderr" }) {
  const a = row.attempt;
  const query = { job_id: jobId, task_id: row.task.task_id, attempt: a.attempt, log: stream };
  const download = stream === "stdout" ? a.stdout_link : a.stderr_link;
  if (download) {
    return (
      <>
        <a href={pageLink("view_log", query)}>view</a> <a href={download}>download</a>
      </>
    );
  }
  if (ACTIVE_STATES.has(a.state)) return <a href={pageLink("log", query)}>live</a>;
  return null;
}

function StateCell({ attempt }: { attempt: AttemptView }) {
  return (
    <>
      {attempt.state}
      {attempt.exit_code !== null && attempt.state !== "SUCCEEDED" ? ` (exit ${attempt.exit_code})` : ""}
      {attempt.quarantined ? ", quarantined: its failing cases are quarantined, so it fails nothing" : ""}
      {attempt.reused_from ? <ReuseMark from={attempt.reused_from} state={attempt.state} /> : null}
      {attempt.message ? <div class="note">{attempt.message}</div> : null}
      {attempt.case_selection ? <RetryCases selection={attempt.case_selection} /> : null}
    </>
  );
}

/** What a retry of some cases ran (docs/retries.md): its count, with the first names on hover. */
function RetryCases({ selection }: { selection: CaseSelectionView }) {
  const more = selection.count > selection.names.length ? `\n… and ${selection.count - selection.names.length} more` : "";
  const text = selection.mode === "include"
    ? `retry: ${selection.count} failed case${selection.count === 1 ? "" : "s"}`
    : `retry: every case not yet passed (${selection.count} left out)`;
  return <div class="note retry-cases" title={`${selection.mode === "include" ? "ran" : "left out"}:\n${selection.names.join("\n")}${more}`}>{text}</div>;
}

function Progress({ status }: { status: DistTestJobStatus }) {
  const percent = (n: number) => (status.total_groups === 0 ? 0 : (n * 100) / status.total_groups).toFixed(2);
  return (
    <div class="bar" title={`${status.succeeded_groups} succeeded, ${status.failed_groups} failed of ${status.total_groups}`}>
      <div class="ok" style={`width: ${percent(status.succeeded_groups)}%`} />
      <div class="bad" style={`width: ${percent(status.failed_groups)}%`} />
    </div>
  );
}

/** `/job?job_id=X[&status=F]`: dist_test's task table, one row per attempt, filtered on the server. */
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

export function JobPage({ job, status, rows, filter, now, cases, flags, counts }: JobPageData) {
  const shown = filter ? rows.filter(ROW_FILTERS[filter]) : rows;
  const ends = rows.flatMap((r) => (r.attempt.reported_at === null ? [] : [r.attempt.reported_at]));
  const runtime = (status.status === "finished" && ends.length > 0 ? Math.max(...ends) : now) - job.createdAt;
  return (
    <Page title={`dt: job ${job.id}`}>
      <h1>
        Job <span class="mono">{job.id}</span> ({status.status}{job.canceledAt !== null ? ", canceled" : ""})
      </h1>
      <Progress status={status} />
      <p>
        <strong>Submitted: {formatTime(job.createdAt)}</strong> by {job.user}
        <br />
        <strong>Runtime: {formatDuration(runtime)}</strong>
        <br />
        Groups: {status.total_groups}, finished {status.finished_groups}, succeeded {status.succeeded_groups}, failed {status.failed_groups}, flaky {status.flaky_groups}; attempts: {status.total_tasks}, retried {status.retried_tasks}
        {counts ? <ReuseCounts counts={counts} /> : null}
        {cases ? (
          <>
            <br />
            <CaseCounts counts={cases.counts} />
          </>
        ) : null}
      </p>
      <p>
        <a href="./">Back to home</a> <a href={pageLink("trace", { job_id: job.id })}>Trace view</a>{" "}
        <a href={pageLink("job_status", { job_id: job.id })}>job_status (JSON)</a> <a href={pageLink("tasks", { job_id: job.id })}>tasks (JSON)</a>
      </p>
      {flags && flags.length > 0 ? <Flags flags={flags} /> : null}
      {cases ? <FailedCases jobId={job.id} cases={cases} /> : null}
      <div class="filters">
        Show: {filter === null ? <strong>all ({rows.length})</strong> : <a href={pageLink("job", { job_id: job.id })}>all ({rows.length})</a>}
        {(Object.keys(FILTER_LABELS) as RowFilter[]).map((f) => {
          const label = `${FILTER_LABELS[f]} (${rows.filter(ROW_FILTERS[f]).length})`;
          return f === filter ? <strong>{label}</strong> : <a href={pageLink("job", { job_id: job.id, status: f })}>{label}</a>;
        })}
      </div>
      {shown.length === 0 ? (
        <>
          <p id="empty">{noTasksMessage(job.id)}</p>
          {filter ? <p class="note">(with status {filter})</p> : null}
        </>
      ) : (
        <table id="tasks">
          <thead>
            <tr>
              <th>task</th>
              <th>attempt</th>
              <th>description</th>
              <th>state</th>
              <th>slave</th>
              <th>time</th>
              <th>stdout</th>
              <th>stderr</th>
              <th>artifacts</th>
              <th>outputs</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((r) => {
              const ms = attemptDurationMs(r.attempt, now);
              return (
                <tr class={rowClass(r)}>
                  <td class="mono">{r.task.task_id}</td>
                  <td>{r.attempt.attempt}</td>
                  <td>{r.task.description}</td>
                  <td>
                    <StateCell attempt={r.attempt} />
                  </td>
                  <td>{r.attempt.slave ?? ""}</td>
                  <td>{ms === null ? "" : formatDuration(ms)}</td>
                  <td>
                    <LogLinks jobId={job.id} row={r} stream="stdout" />
                  </td>
                  <td>
                    <LogLinks jobId={job.id} row={r} stream="stderr" />
                  </td>
                  <td>{r.attempt.artifact_archive_link ? <a href={r.attempt.artifact_archive_link}>download</a> : r.attempt.artifact_missing ? "missing" : ""}</td>
                  <td>{r.attempt.outputs_ref ? <a href={pageLink("outputs", { job_id: job.id, task_id: r.task.task_id, attempt: r.attempt.attempt })}>files</a> : ""}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </Page>
  );
}
