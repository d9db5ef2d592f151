/** @jsxImportSource hono/jsx */
import type { JobCaseView, JobCounts, ReusedFromView } from "../master/protocol.ts";
import { formatCount, formatDuration, pageLink } from "./layout.tsx";

/** The run a result came from: its job, task and attempt. */
type RunRef = Pick<ReusedFromView, "job_id" | "task_id" | "attempt">;

/**
 * The original run, linked: its job's page and its attempt's log (`live`:
 * the log as it runs, for a run still going). Relative links, as the
 * page's others, so that a master behind a path prefix keeps them; ids go
 * through the query string's encoding and the text through the JSX's
 * escaping, whatever they hold.
 */
function Origin({ from, live = false }: { from: RunRef; live?: boolean }) {
  const log = { job_id: from.job_id, task_id: from.task_id, attempt: from.attempt, log: "stdout" };
  return (
    <>
      job <a class="mono" href={pageLink("job", { job_id: from.job_id })}>{from.job_id}</a> (task <span class="mono">{from.task_id}</span>, attempt {from.attempt},{" "}
      {live ? <a href={pageLink("log", log)}>live log</a> : <a href={pageLink("view_log", log)}>log</a>})
    </>
  );
}

/**
 * An attempt that did not run (docs/reuse.md): SUCCEEDED, the result it
 * took and the time that saved; QUEUED, the run in another job it waits for.
 * In words, not by colour, as the quarantined mark is.
 */
export function ReuseMark({ from, state }: { from: ReusedFromView; state: string }) {
  if (state === "QUEUED") {
    return (
      <div class="note waiting">
        waiting for <Origin from={from} live />, an identical task running there
      </div>
    );
  }
  const saved = from.saved_ms > 0 ? `; saved ${formatDuration(from.saved_ms)}` : "";
  return (
    <div class="note reused">
      reused: did not run; the result of <Origin from={from} />
      {from.in_flight ? ", which ran while this waited" : ""}
      {saved}
    </div>
  );
}

/** A case whose task reused another run's result: the run it is from. */
export function CaseReuseMark({ c }: { c: JobCaseView }) {
  if (!c.reused_from) return null;
  return (
    <div class="note reused">
      reused: the result of <Origin from={c.reused_from} />
    </div>
  );
}

/** The header's reuse line, `Reused: 1,820 (12 from runs in flight), saving 5 h 02 m; …`; nothing for a job that reused nothing. */
export function ReuseCounts({ counts }: { counts: JobCounts }) {
  const c = { reused: counts.reused ?? 0, coalesced: counts.coalesced ?? 0, waiting: counts.waiting ?? 0, savedMs: counts.saved_ms ?? 0 };
  if (c.reused === 0 && c.waiting === 0) return null;
  const n = formatCount;
  const parts: string[] = [];
  if (c.reused > 0) parts.push(`Reused: ${n(c.reused)}${c.coalesced > 0 ? ` (${n(c.coalesced)} from runs in flight)` : ""}${c.savedMs > 0 ? `, saving ${formatDuration(c.savedMs)} of runs` : ""}`);
  if (c.waiting > 0) parts.push(`waiting for identical tasks in other jobs: ${n(c.waiting)}`);
  return (
    <>
      <br />
      <span id="reuse-counts">{parts.join("; ")}</span>
    </>
  );
}
