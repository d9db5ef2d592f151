/** @jsxImportSource hono/jsx */
/**
 * The job page's table: one row per task, a sharded binary one row with its
 * shards inside; name first; failed cases under a failed row's name, with
 * links to the log at the failing line; attempts (and the digest) one click
 * away, in a `<details>` that stays open across live updates.
 */
import type { JobCaseView, TaskView } from "../../master/protocol.ts";
import { messageHead } from "../case-list.tsx";
import { formatCount, formatDuration, pageLink } from "../layout.tsx";
import { CaseReuseMark, ReuseMark } from "../reuse-marks.tsx";
import { AttemptTable, FileLinks, LogLinks } from "./attempts.tsx";
import { DEFAULT_ORDER, type RowQuery, STATE_WORDS, type SortKey, queryParams } from "./row-query.ts";
import { type JobRow, MAX_SHOWN_SHARDS, rowDurationMs, shownIndexes } from "./rows.ts";

export interface TableData {
  jobId: string;
  rows: readonly JobRow[];
  /** The shown rows' tasks, by task index. */
  tasks: ReadonlyMap<number, TaskView>;
  /** Failed and flaky cases of the shown rows' tasks, by task id. */
  cases: ReadonlyMap<string, JobCaseView[]>;
  query: RowQuery;
  now: number;
}

/** The digest a task runs: its id is `<digest>.<index>`. */
const digestOf = (taskId: string) => taskId.slice(0, taskId.lastIndexOf("."));

function SortHeader({ jobId, query, sort, label }: { jobId: string; query: RowQuery; sort: SortKey; label: string }) {
  const current = query.sort === sort;
  // The current column's link turns its order round; another's starts with its natural order.
  const order = current ? (query.order === "asc" ? "desc" : "asc") : DEFAULT_ORDER[sort];
  const href = pageLink("job", { job_id: jobId, ...queryParams({ ...query, sort, order, page: 1 }) });
  const arrow = current ? (query.order === "asc" ? " ▲" : " ▼") : "";
  return (
    <th aria-sort={current ? (query.order === "asc" ? "ascending" : "descending") : undefined}>
      <a href={href} data-sort={sort} title={`sort by ${label}`}>{`${label}${arrow}`}</a>
    </th>
  );
}

export function TaskTable({ jobId, rows, tasks, cases, query, now }: TableData) {
  return (
    <table id="tasks">
      <thead>
        <tr>
          <SortHeader jobId={jobId} query={query} sort="name" label="task" />
          <SortHeader jobId={jobId} query={query} sort="state" label="state" />
          <SortHeader jobId={jobId} query={query} sort="duration" label="time" />
          <th>attempts</th>
          <th>latest attempt</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <TaskRow jobId={jobId} row={row} tasks={shownIndexes(row).flatMap((i) => tasks.get(i) ?? [])} cases={cases} now={now} />
        ))}
      </tbody>
    </table>
  );
}

function TaskRow({ jobId, row, tasks, cases, now }: { jobId: string; row: JobRow; tasks: TaskView[]; cases: ReadonlyMap<string, JobCaseView[]>; now: number }) {
  const ms = rowDurationMs(row, now);
  const rowCases = tasks.flatMap((t) => cases.get(t.task_id) ?? []);
  const latest = row.shards === null ? tasks[0]?.attempts.at(-1) : undefined;
  return (
    <tr class={`task ${row.state}`} data-key={row.key} data-state={row.state} data-name={row.name} data-shards={row.shards === null ? undefined : String(row.shards)}>
      <td class="name">
        <span class="task-name">{row.name}</span>{" "}
        <a class="binary-history" href={pageLink("tests/binary_history", { binary: row.name })} title="this binary's latest runs over all jobs">history</a>
        {row.shards !== null ? <span class="note">{` · ${row.shards} shards`}</span> : null}
        {rowCases.length > 0 ? <FailedCaseList jobId={jobId} cases={rowCases} /> : null}
        <details data-key={`attempts:${row.key}`}>
          <summary>{`${row.attempts} attempt${row.attempts === 1 ? "" : "s"}${row.shards !== null ? ` over ${row.shards} shards` : ""}, digest`}</summary>
          {tasks.map((t) => (
            <div class="shard" data-task={t.task_id}>
              {row.shards !== null ? <h3>{`shard ${(t.shard_index ?? 0) + 1} of ${t.shard_count}: ${STATE_WORDS[t.group === "succeeded" ? "passed" : t.group]}`}</h3> : null}
              <p class="note">
                task <span class="mono">{t.task_id}</span>; run it here: <code>{`dt run-isolated --hash ${digestOf(t.task_id)} --leak-temp-dir`}</code>
              </p>
              <AttemptTable jobId={jobId} task={t} now={now} />
            </div>
          ))}
          {row.indexes.length > tasks.length ? (
            <p class="note">
              {`${formatCount(row.indexes.length - tasks.length)} more shards, not shown: the ${MAX_SHOWN_SHARDS} above are the first by state (failed first). All of them: `}
              <a href={`api/v1/jobs/${encodeURIComponent(jobId)}/tasks`}>tasks (JSON)</a>
            </p>
          ) : null}
        </details>
      </td>
      <td class="state">
        {STATE_WORDS[row.state]}
        {latest?.reused_from ? <ReuseMark from={latest.reused_from} state={latest.state} /> : null}
      </td>
      <td>{ms === null ? "" : formatDuration(ms)}</td>
      <td>
        {row.attempts}
        {row.lost > 0 ? <span class="lost-count">{` (${row.lost} lost)`}</span> : null}
      </td>
      <td>
        {latest && tasks[0] ? (
          <>
            <LogLinks jobId={jobId} taskId={tasks[0].task_id} a={latest} />
            <FileLinks jobId={jobId} taskId={tasks[0].task_id} a={latest} />
          </>
        ) : row.shards !== null ? (
          <span class="note">per shard, under attempts</span>
        ) : null}
      </td>
    </tr>
  );
}

/** A failed row's failed and flaky cases: what failed, the message's head, the log at the failure, the case's history. */
function FailedCaseList({ jobId, cases }: { jobId: string; cases: JobCaseView[] }) {
  return (
    <ul class="failed-cases">
      {cases.map((c) => {
        const full = c.suite ? `${c.suite}.${c.name}` : c.name;
        const log = { job_id: jobId, task_id: c.task_id, attempt: c.attempt, log: "stdout", case: full, ...(c.file ? { at: c.line !== null ? `${c.file}:${c.line}` : c.file } : {}) };
        return (
          <li class={`failed-case ${c.quarantined ? "quarantined" : c.status}`}>
            <span class="mono">{full}</span> <strong>{c.quarantined ? `${c.status}, quarantined` : c.status}</strong>
            {c.duration_ms !== null ? ` in ${formatDuration(c.duration_ms)}` : ""}
            {c.runs > 1 ? ` (${formatCount(c.failures)} of ${formatCount(c.runs)} runs failed)` : ""}{" "}
            <a class="case-log" href={pageLink("view_log", log)}>log at the failure</a>{" "}
            <a href={pageLink("tests/history", { binary: c.binary, suite: c.suite, case: c.name })}>history</a>
            {c.quarantined ? <div class="note">{`quarantined (entry ${c.quarantined.id}): ${c.quarantined.reason}`}</div> : null}
            <CaseReuseMark c={c} />
            {c.message ? <pre class="note">{messageHead(c.message)}</pre> : null}
            {c.file ? <div class="note">{`${c.file}${c.line !== null ? `:${c.line}` : ""}`}</div> : null}
          </li>
        );
      })}
    </ul>
  );
}
