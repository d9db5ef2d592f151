/** @jsxImportSource hono/jsx */
import { Strip, timeSpread } from "./run-strip.tsx";
import { BINARY_HISTORY_MAX_TASKS } from "../master/http/binary-history-api.ts";
import type { BinaryHistory, BinaryRun, BinaryRunState, BinaryRunTask } from "../master/protocol.ts";
import { Page, formatCount, formatDuration, formatTime, pageLink } from "./layout.tsx";

/** The page sits one level down (`/tests/binary_history`): its links climb back to the pages at the root, relative still, for a master behind a path prefix. */
const UP = "../";

/** A run's state as a word, a letter for the strip, a colour beside it and the row class: never the colour alone. */
const STATES: Record<BinaryRunState, { word: string; letter: string; fill: string; row: string }> = {
  succeeded: { word: "passed", letter: "P", fill: "#6c6", row: "succeeded" },
  failed: { word: "failed", letter: "F", fill: "#d55", row: "failed" },
  flaky: { word: "flaky (passed on a retry)", letter: "R", fill: "#fc9", row: "flaky" },
  quarantined: { word: "failed, quarantined", letter: "Q", fill: "#ddd", row: "quarantined" },
  canceled: { word: "canceled", letter: "C", fill: "#ddd", row: "quarantined" },
  running: { word: "running", letter: "…", fill: "#ffa", row: "running" },
  queued: { word: "queued", letter: "…", fill: "#ffa", row: "running" },
};

/**
 * `/tests/binary_history?binary=[&limit=]`: GET tests/binary_history for
 * people: a test binary's latest runs over jobs, newest first, each one
 * job's task of the binary or its shards, with its state in words, its
 * time, its attempts and their logs; above them a strip of the runs, oldest
 * to newest, and their fastest, median and slowest time.
 */
export function BinaryHistoryPage({ history, query }: { history: BinaryHistory; query: Record<string, string> }) {
  const { binary, runs } = history;
  return (
    <Page title={`dt: ${binary} history`} up={UP}>
      <p>
        <a href={UP}>jobs</a> <a href={`${UP}flaky`}>flaky tests</a> <a href={pageLink(`${UP}flaky`, { binary })}>flaky cases of this binary</a>
      </p>
      <h1 class="mono">{binary}</h1>
      <p id="summary">
        {runs.length === 0
          ? "No job ran this binary. "
          : `The latest ${formatCount(runs.length)} run${runs.length === 1 ? "" : "s"} of this binary (one per job), newest first${history.truncated ? `; older runs are left out, as these have ${formatCount(BINARY_HISTORY_MAX_TASKS)} tasks or more between them` : ""}. `}
        <a href={pageLink(`${UP}api/v1/tests/binary_history`, query)}>JSON</a>
      </p>
      <RunStrip runs={runs} />
      {runs.length > 0 && (
        <table id="runs">
          <thead>
            <tr>
              <th>Submitted</th>
              <th>Job</th>
              <th>User</th>
              <th>State</th>
              <th>Time</th>
              <th>Tasks</th>
              <th>Attempts</th>
            </tr>
          </thead>
          <tbody>
            {runs.map((run) => (
              <RunRow run={run} />
            ))}
          </tbody>
        </table>
      )}
    </Page>
  );
}

/** The runs as a strip, oldest to newest (as a build history reads), each a letter and a colour with its job and time on hover; then the finished runs' times. */
function RunStrip({ runs }: { runs: readonly BinaryRun[] }) {
  if (runs.length === 0) return null;
  const timed = runs.filter((r) => r.duration_ms !== null && r.state !== "running" && r.state !== "queued").map((r) => r.duration_ms!).sort((a, b) => a - b);
  return (
    <>
      <Strip
        cells={runs.map((r) => ({
          letter: STATES[r.state].letter, fill: STATES[r.state].fill,
          title: `${STATES[r.state].word} in job ${r.job_id} submitted ${formatTime(r.created_at)}${r.duration_ms === null ? "" : `, ${formatDuration(r.duration_ms)}`}`,
        }))}
      />
      <p class="note" id="legend">
        {(["succeeded", "failed", "flaky", "quarantined", "canceled", "running"] as const).map((s) => `${STATES[s].letter} ${STATES[s].word}`).join(" · ")}
      </p>
      {timed.length > 0 && (
        <p id="durations">{`Times of ${timed.length} finished runs, first lease to last report: ${timeSpread(timed)}.`}</p>
      )}
    </>
  );
}

function RunRow({ run }: { run: BinaryRun }) {
  const state = STATES[run.state];
  const only = run.tasks.length === 1 ? run.tasks[0]! : null;
  return (
    <tr class={state.row}>
      <td>{formatTime(run.created_at)}</td>
      <td class="mono">
        <a href={pageLink(`${UP}job`, { job_id: run.job_id })}>{run.job_id}</a>
      </td>
      <td>{run.user}</td>
      <td>{state.word}</td>
      <td>{run.duration_ms === null ? "" : formatDuration(run.duration_ms)}</td>
      <td>
        {only ? <span class="mono">{only.description}</span> : <TaskList run={run} />}
      </td>
      <td>
        {only ? <AttemptLinks jobId={run.job_id} task={only} /> : formatCount(run.attempts)}
      </td>
    </tr>
  );
}

/** A sharded run's tasks: their states counted, and each with its attempts on demand (a `<details>`: works without scripts). */
function TaskList({ run }: { run: BinaryRun }) {
  const counts = new Map<string, number>();
  for (const t of run.tasks) counts.set(t.group, (counts.get(t.group) ?? 0) + 1);
  const summary = `${formatCount(run.tasks.length)} ${run.tasks.every((t) => t.shard_count !== null) ? "shards" : "tasks"}${run.complete ? "" : " (the first of more)"}: ${[...counts].map(([g, n]) => `${formatCount(n)} ${g}`).join(", ")}`;
  return (
    <details data-key={`run-${run.job_id}`}>
      <summary>{summary}</summary>
      <ul class="run-tasks">
        {run.tasks.map((t) => (
          <li>
            <span class="mono">{t.description}</span>
            {`: ${t.group}, `}
            <AttemptLinks jobId={run.job_id} task={t} />
          </li>
        ))}
      </ul>
    </details>
  );
}

/** Each attempt of a task by number and state, linked to its log, with its time on a slave. */
function AttemptLinks({ jobId, task }: { jobId: string; task: BinaryRunTask }) {
  return (
    <>
      {task.attempts.map((a, i) => (
        <>
          {i > 0 ? "; " : ""}
          <a href={pageLink(`${UP}view_log`, { job_id: jobId, task_id: task.task_id, attempt: a.attempt, log: "stdout" })}>{`attempt ${a.attempt}`}</a>
          {` ${a.state}${a.duration_ms === null ? "" : `, ${formatDuration(a.duration_ms)}`}`}
        </>
      ))}
    </>
  );
}
