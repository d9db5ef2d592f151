import type { AttemptView, CaseSelectionView, JobSummary, TaskView } from "../master/protocol.ts";
import { printable } from "./printable.ts";
import { formatDuration } from "./progress.ts";
import { formatCount } from "./cases.ts";

/** How a finished job went, as the exit code will tell it. */
export type JobOutcome = "passed" | "failed";

/** Passed when every group succeeded, flaky ones included; failed when any failed or was canceled. */
export function jobOutcome(summary: JobSummary): JobOutcome {
  return summary.counts.failed > 0 || summary.counts.canceled > 0 ? "failed" : "passed";
}

/** Groups worth a line in the summary, worst first. */
const LISTED = { failed: "FAILED", canceled: "CANCELED", flaky: "FLAKY", quarantined: "QUARANTINED" } as const;

/**
 * The end-of-watch report: a count line, then each failed, canceled and
 * flaky group with its task id, attempts, and the links to the logs of the
 * attempts that did not pass. `link` makes the master's links absolute.
 *
 * @example
 *   FAILED foo-test.0 (task 3f…a1.0, shard 1 of 3 of foo-test, 2 attempts)
 *     attempt 0: FAILED, exit 1
 *       stdout: http://master/api/v1/artifacts/…stdout
 */
export function failureReport(summary: JobSummary, tasks: readonly TaskView[], link: (l: string) => string): string[] {
  const c = summary.counts;
  const lines: string[] = [];
  // A flaky task passed in the end: it counts among the passed, as for the exit code.
  const parts = [`${c.failed} failed`];
  if (c.canceled > 0) parts.push(`${c.canceled} canceled`);
  // A quarantined task failed only by quarantined cases: it passes too, and says so.
  const quarantined = c.quarantined ?? 0;
  const notes = [c.flaky > 0 ? `${c.flaky} flaky` : "", quarantined > 0 ? `${quarantined} quarantined` : ""].filter((x) => x !== "");
  const note = notes.length > 0 ? ` (${notes.join(", ")})` : "";
  lines.push(`Job ${summary.job_id}: ${c.succeeded + c.flaky + quarantined} of ${c.total_tasks} tasks passed${note}; ${parts.join(", ")}`);
  for (const group of ["failed", "canceled", "flaky", "quarantined"] as const) {
    for (const task of tasks.filter((t) => t.group === group)) {
      const n = task.attempts.length;
      lines.push(`${LISTED[group]} ${printable(task.description)} (task ${task.task_id}${shardOf(task)}, ${n} attempt${n === 1 ? "" : "s"})`);
      // A retry that ran some cases is listed even when it passed: what it ran is what the flaky verdict rests on.
      for (const attempt of task.attempts.filter((a) => a.state !== "SUCCEEDED" || a.case_selection)) lines.push(...attemptLines(attempt, link));
    }
  }
  return lines;
}

/** A shard names its binary and its place among the binary's shards: the shards are one binary, not N tests. */
function shardOf(task: TaskView): string {
  if (task.shard_index == null || task.shard_count == null || task.binary === undefined) return "";
  return `, shard ${task.shard_index + 1} of ${task.shard_count} of ${printable(task.binary)}`;
}

/** Names a report line shows of a retry's cases; the API's view has up to 50, the rest is counted. */
const NOTE_NAMES = 3;

/**
 * What a retry of some cases ran, in words.
 *
 * @example
 *   selectionNote({ mode: "include", count: 1, names: ["FlakyTest.FailsOnFirstAttempt"] }); // "retry ran 1 case: FlakyTest.FailsOnFirstAttempt"
 */
export function selectionNote(selection: CaseSelectionView): string {
  if (selection.mode === "exclude") return `retry ran every case not yet passed (${selection.count} left out)`;
  const shown = selection.names.slice(0, NOTE_NAMES).map(printable).join(", ");
  const more = selection.count > NOTE_NAMES ? `, and ${selection.count - NOTE_NAMES} more` : "";
  return `retry ran ${selection.count} case${selection.count === 1 ? "" : "s"}: ${shown}${more}`;
}

function attemptLines(attempt: AttemptView, link: (l: string) => string): string[] {
  // A lost slave or a slave's own failure is no verdict on the test, and cost it no retry.
  const infra = attempt.state === "SLAVE_LOST" || attempt.state === "INFRA_FAILED";
  const what: string[] = [infra ? `${attempt.state} (infrastructure, not a test failure)` : attempt.state];
  if (attempt.case_selection) what[0] += ` (${selectionNote(attempt.case_selection)})`;
  if (attempt.exit_code !== null) what.push(`exit ${attempt.exit_code}`);
  if (attempt.message) what.push(printable(attempt.message));
  if (attempt.slave) what.push(`on ${attempt.slave}`);
  const lines = [`  attempt ${attempt.attempt}: ${what.join(", ")}`];
  if (attempt.stdout_link) lines.push(`    stdout: ${link(attempt.stdout_link)}`);
  if (attempt.stderr_link) lines.push(`    stderr: ${link(attempt.stderr_link)}`);
  if (attempt.artifact_archive_link) lines.push(`    artifacts: ${link(attempt.artifact_archive_link)}`);
  return lines;
}

/**
 * The job's flags (what the master found wrong with its runs that is no
 * test's failure), one line each, for after the summary; none when it has
 * none or the master is older than flags.
 *
 * @example
 *   FLAG case_selection: attempt 0 of 3f…a1.2 ran 2 cases outside its filter: A.x, B.y
 */
export function flagReport(summary: JobSummary): string[] {
  return (summary.flags ?? []).map((f) => `FLAG ${printable(f.kind)}: ${printable(f.text)}`);
}

const n = formatCount;

/**
 * What reuse did for the job (docs/reuse.md), one line for after the
 * summary; none when it reused nothing, so a job without reuse (or from a
 * master before it) reports as before. Reused tasks are among the
 * succeeded; the rest ran, but for the canceled, which are said apart.
 *
 * @example
 *   reuseReport(summary) // ["2,000 tasks: 1,820 reused (12 from runs in flight), 180 ran; reuse saved 5h12m of runs"]
 */
export function reuseReport(summary: JobSummary): string[] {
  const c = summary.counts;
  const reused = c.reused ?? 0;
  if (reused === 0) return [];
  const coalesced = c.coalesced ?? 0;
  const parts = [`${n(reused)} reused${coalesced > 0 ? ` (${n(coalesced)} from runs in flight)` : ""}`, `${n(Math.max(0, c.total_tasks - reused - c.canceled))} ran`];
  if (c.canceled > 0) parts.push(`${n(c.canceled)} canceled`);
  const saved = (c.saved_ms ?? 0) > 0 ? `; reuse saved ${formatDuration(c.saved_ms!)} of runs` : "";
  return [`${n(c.total_tasks)} task${c.total_tasks === 1 ? "" : "s"}: ${parts.join(", ")}${saved}`];
}
