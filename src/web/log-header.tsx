/** @jsxImportSource hono/jsx */
import type { Master } from "../master/master.ts";
import type { Attempt } from "../master/model.ts";
import { pageLink } from "./layout.tsx";
import type { LogRef } from "./log-pages.tsx";

/** Whose log a page shows: the job, the task by its description, every attempt of the task, and this one. */
export interface LogContext {
  log: LogRef;
  description: string;
  attempt: Attempt;
  /** Every attempt of the task, this one included, by number. */
  attempts: Attempt[];
}

/** The log's context from the repo; null when the job has no such task (the attempt was found, so only a race with a purge). */
export async function logContext(master: Master, log: LogRef, attempt: Attempt): Promise<LogContext | null> {
  const task = await master.deps.repo.getTask(log.jobId, log.taskId);
  if (!task) return null;
  const attempts = await master.deps.repo.getAttempts(log.jobId, { from: task.index, to: task.index + 1 });
  return { log, description: task.description, attempt, attempts: attempts.filter((a) => a.taskId === log.taskId) };
}

/** An attempt's state in words (never by colour alone), with its slave and exit code when it has them. */
function stateText(a: Attempt): string {
  const parts = [a.state.toLowerCase().replaceAll("_", " ")];
  if (a.exitCode !== null) parts.push(`exit ${a.exitCode}`);
  if (a.slave) parts.push(`on ${a.slave}`);
  return parts.join(", ");
}

/** The raw log: the uploaded object once there is one, else what the master has so far (the native log API, first 4 MiB). */
function rawLink(ctx: LogContext): { href: string; label: string } {
  const { log, attempt } = ctx;
  const key = log.stream === "stdout" ? attempt.stdoutKey : attempt.stderrKey;
  if (key) return { href: `api/v1/artifacts/${encodeURIComponent(key)}`, label: "raw file" };
  const query = new URLSearchParams({ task: log.taskId, attempt: String(log.attempt), stream: log.stream });
  return { href: `api/v1/jobs/${encodeURIComponent(log.jobId)}/log?${query}`, label: "raw text so far" };
}

/** The viewer's header: links back to the job, to the other stream, to the task's other attempts and to the raw log. `page` is view_log or log. */
export function LogHeader({ ctx, page }: { ctx: LogContext; page: string }) {
  const { log, attempt } = ctx;
  const other = log.stream === "stdout" ? "stderr" : "stdout";
  const at = (n: number, stream: string) => pageLink(page, { job_id: log.jobId, task_id: log.taskId, attempt: n, log: stream });
  const rawLog = rawLink(ctx);
  return (
    <header>
      <p>
        <a id="log-job" href={pageLink("job", { job_id: log.jobId })}>Job {log.jobId}</a>
      </p>
      <h1>
        {ctx.description} <small>attempt {log.attempt}, {log.stream}</small>
      </h1>
      <details>
        <summary>Task digest</summary>
        <code>{log.taskId}</code>
      </details>
      <p>
        State: <span class={`state ${attempt.state.toLowerCase()}`}>{stateText(attempt)}</span>
        {attempt.message ? <span class="note"> — {attempt.message}</span> : null}
      </p>
      <nav aria-label="Other logs">
        <ul>
          <li>
            <a id="log-other-stream" href={at(log.attempt, other)}>{other} of this attempt</a>
          </li>
          <li>
            <a id="log-raw" href={rawLog.href}>{rawLog.label}</a> (text/plain)
          </li>
          {ctx.attempts.length > 1 ? (
            <li>
              Attempts:{" "}
              {ctx.attempts.map((a) =>
                a.attempt === log.attempt ? (
                  <strong aria-current="page">{`${a.attempt} (${stateText(a)}) `}</strong>
                ) : (
                  <>
                    <a class="log-attempt" href={at(a.attempt, log.stream)}>{`${a.attempt} (${stateText(a)})`}</a>{" "}
                  </>
                ),
              )}
            </li>
          ) : null}
        </ul>
      </nav>
    </header>
  );
}
