/** @jsxImportSource hono/jsx */
/** A task's attempts on the job page: each with its state, slave, phases, time and links. */
import { ACTIVE_STATES } from "../../master/model.ts";
import type { AttemptView, CaseSelectionView, TaskView } from "../../master/protocol.ts";
import { attemptDurationMs, formatDuration, pageLink } from "../layout.tsx";
import { ReuseMark } from "../reuse-marks.tsx";
import { LOST_STATES } from "./rows.ts";

/** An attempt's state in words: what the row's colour also says, never the colour alone. */
export function attemptWords(a: AttemptView): string {
  const exit = a.exit_code !== null && a.state !== "SUCCEEDED" ? ` (exit ${a.exit_code})` : "";
  const lost = LOST_STATES.has(a.state) ? ", lost to the infrastructure: not a test failure" : "";
  const quarantined = a.quarantined ? ", quarantined: its failing cases are quarantined, so it fails nothing" : "";
  return `${a.state}${exit}${lost}${quarantined}`;
}

/** The row class that colours an attempt: lost attempts are neutral, not red. */
export function attemptClass(a: AttemptView): string {
  if (LOST_STATES.has(a.state)) return "attempt lost";
  if (a.state === "SUCCEEDED") return "attempt succeeded";
  if (a.state === "QUEUED" || ACTIVE_STATES.has(a.state)) return "attempt running";
  if (a.quarantined) return "attempt quarantined";
  return "attempt failed";
}

/** fetch, run and upload times, where the slave reported them: where an attempt's time went. */
function Phases({ a }: { a: AttemptView }) {
  const span = (from: number | null, to: number | null) => (from !== null && to !== null && to >= from ? formatDuration(to - from) : null);
  const parts = [
    ["fetch", span(a.leased_at, a.fetch_done_at)],
    ["run", span(a.command_start_at, a.command_end_at)],
    ["upload", span(a.command_end_at, a.upload_done_at)],
  ].filter(([, v]) => v !== null);
  return <>{parts.map(([k, v]) => `${k} ${v}`).join(", ")}</>;
}

/** The attempt's logs: the viewer and the file once uploaded, the live viewer while it runs. */
export function LogLinks({ jobId, taskId, a }: { jobId: string; taskId: string; a: AttemptView }) {
  const links = (["stdout", "stderr"] as const).map((stream) => {
    const query = { job_id: jobId, task_id: taskId, attempt: a.attempt, log: stream };
    const file = stream === "stdout" ? a.stdout_link : a.stderr_link;
    if (file) return <span class="log-link"><a href={pageLink("view_log", query)}>{stream}</a> (<a href={file}>raw</a>)</span>;
    if (ACTIVE_STATES.has(a.state)) return <span class="log-link"><a href={pageLink("log", query)}>{`${stream} (live)`}</a></span>;
    return null;
  });
  return <>{links.filter((l) => l !== null).map((l) => <>{l} </>)}</>;
}

/** The attempt's archive of artifacts and its outputs' listing, where it has them. */
export function FileLinks({ jobId, taskId, a }: { jobId: string; taskId: string; a: AttemptView }) {
  return (
    <>
      {a.artifact_archive_link ? <><a href={a.artifact_archive_link}>artifacts</a> </> : a.artifact_missing ? "artifacts missing " : null}
      {a.outputs_ref ? <a href={pageLink("outputs", { job_id: jobId, task_id: taskId, attempt: a.attempt })}>outputs</a> : null}
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

/** One task's attempts as a table, oldest first; a sharded row shows one per shard, each under its shard's name. */
export function AttemptTable({ jobId, task, now }: { jobId: string; task: TaskView; now: number }) {
  return (
    <table class="attempts">
      <thead>
        <tr>
          <th>attempt</th>
          <th>state</th>
          <th>slave</th>
          <th>phases</th>
          <th>time</th>
          <th>logs</th>
          <th>files</th>
        </tr>
      </thead>
      <tbody>
        {task.attempts.map((a) => {
          const ms = attemptDurationMs(a, now);
          return (
            <tr class={attemptClass(a)} data-state={a.state}>
              <td>{a.attempt}</td>
              <td>
                {attemptWords(a)}
                {a.reused_from ? <ReuseMark from={a.reused_from} state={a.state} /> : null}
                {a.message ? <div class="note">{a.message}</div> : null}
                {a.case_selection ? <RetryCases selection={a.case_selection} /> : null}
              </td>
              <td>{a.slave ?? ""}</td>
              <td>
                <Phases a={a} />
              </td>
              <td>{ms === null ? "" : formatDuration(ms)}</td>
              <td>
                <LogLinks jobId={jobId} taskId={task.task_id} a={a} />
              </td>
              <td>
                <FileLinks jobId={jobId} taskId={task.task_id} a={a} />
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
