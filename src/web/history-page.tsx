/** @jsxImportSource hono/jsx */
import { Strip, timeSpread } from "./run-strip.tsx";
import type { CaseHistory } from "../master/protocol.ts";
import { Page, formatDuration, formatTime, pageLink } from "./layout.tsx";

/** The page sits one level down (`/tests/history`): its links climb back to the pages at the root, relative still, for a master behind a path prefix. */
const UP = "../";

/**
 * `/tests/history?binary=&suite=&case=[&limit=]`: GET tests/history for
 * people: one case's latest runs over all jobs, newest first, each with its
 * job and that attempt's log, and the flake rate among them. Its binary
 * links to the binary's runs (`/tests/binary_history`, beside it).
 */
export function HistoryPage({ history, query }: { history: CaseHistory; query: Record<string, string> }) {
  const title = `${history.binary} › ${history.suite ? `${history.suite}.` : ""}${history.case}`;
  return (
    <Page title={`dt: ${title}`} up={UP}>
      <p>
        <a href={UP}>jobs</a> <a href={`${UP}flaky`}>flaky tests</a>
      </p>
      <h1 class="mono">
        <a href={pageLink("binary_history", { binary: history.binary })}>{history.binary}</a>
        {` › ${history.suite ? `${history.suite}.` : ""}${history.case}`}
      </h1>
      <p id="summary">
        {`The latest ${history.results.length} runs, newest first; flaky in ${history.flake_rate === null ? "—" : `${(history.flake_rate * 100).toFixed(1)}%`} of their tasks. `}
        <a href={pageLink(`${UP}api/v1/tests/history`, query)}>JSON</a>
      </p>
      <RunStrip results={history.results} />
      <table id="history">
        <thead>
          <tr>
            <th>Reported</th>
            <th>Job</th>
            <th>Task</th>
            <th>Attempt</th>
            <th>Status</th>
            <th>Time</th>
            <th>Log</th>
          </tr>
        </thead>
        <tbody>
          {history.results.map((r) => (
            <tr class={r.status === "passed" ? "succeeded" : r.status === "skipped" ? "" : "failed"}>
              <td>{formatTime(r.reported_at)}</td>
              <td class="mono">
                <a href={pageLink(`${UP}job`, { job_id: r.job_id })}>{r.job_id}</a>
              </td>
              <td class="mono">{r.task_id}</td>
              <td>{r.attempt}</td>
              <td>{r.status}</td>
              <td>{r.duration_ms === null ? "" : formatDuration(r.duration_ms)}</td>
              <td>
                <a href={pageLink(`${UP}view_log`, { job_id: r.job_id, task_id: r.task_id, attempt: r.attempt, log: "stdout" })}>stdout</a>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Page>
  );
}

/** A run's status as one letter beside its colour: the strip is read without colour too. */
const LETTER: Record<string, string> = { passed: "P", failed: "F", crashed: "C", skipped: "S" };
const FILL: Record<string, string> = { passed: "#6c6", failed: "#d55", crashed: "#a33", skipped: "#ccc" };

/**
 * The runs as a strip, oldest to newest (as a build history reads), each
 * cell a letter and a colour with its job and time on hover, then the
 * durations of the timed runs: fastest, median, slowest.
 */
function RunStrip({ results }: { results: CaseHistory["results"] }) {
  if (results.length === 0) return <p id="strip">No run of this case is stored.</p>;
  const timed = results.map((r) => r.duration_ms).filter((d): d is number => d !== null).sort((a, b) => a - b);
  return (
    <>
      <Strip
        cells={results.map((r) => ({
          letter: LETTER[r.status] ?? "?", fill: FILL[r.status] ?? "#eee",
          title: `${r.status} in job ${r.job_id} at ${formatTime(r.reported_at)}${r.duration_ms === null ? "" : `, ${formatDuration(r.duration_ms)}`}`,
        }))}
      />
      {timed.length > 0 && <p id="durations">{`Durations of ${timed.length} timed runs: ${timeSpread(timed)}.`}</p>}
    </>
  );
}
