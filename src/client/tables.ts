import type { FlakyCases, JobSummary, QuarantineView, SlaveView } from "../master/protocol.ts";
import { caseTitle } from "./cases.ts";
import { printable } from "./printable.ts";
import { formatDuration } from "./progress.ts";

/** `dt status`: a job's counts, for people. */
export function statusText(summary: JobSummary, link: (l: string) => string): string {
  const c = summary.counts;
  const who = summary.name ? `${summary.user}, ${summary.name}` : summary.user;
  const state = summary.canceled_at !== null ? `${summary.status} (canceled)` : summary.status;
  const lines = [
    `Job ${summary.job_id} (${who}): ${state}`,
    `  ${c.finished}/${c.total_tasks} tasks finished: ${c.succeeded} succeeded, ${c.failed} failed, ${c.flaky} flaky, ${c.quarantined ? `${c.quarantined} quarantined, ` : ""}${c.canceled} canceled`,
    `  ${c.running} running, ${c.queued} queued, ${c.retries} retries`,
  ];
  // Reuse (docs/reuse.md) only when there was some: the text of a job without it is as it was.
  const reuse = [
    (c.reused ?? 0) > 0 ? `${c.reused} reused${c.coalesced ? ` (${c.coalesced} from runs in flight)` : ""}${c.saved_ms ? `, saving ${formatDuration(c.saved_ms)} of runs` : ""}` : "",
    (c.waiting ?? 0) > 0 ? `${c.waiting} of the queued waiting for identical tasks in other jobs` : "",
  ].filter((x) => x !== "");
  if (reuse.length > 0) lines.push(`  ${reuse.join("; ")}`);
  if (summary.status === "running" && summary.estimated_remaining_sec !== null) lines.push(`  about ${formatDuration(summary.estimated_remaining_sec * 1000)} left`);
  lines.push(`  ${link(summary.url)}`);
  return `${lines.join("\n")}\n`;
}

/** `dt jobs`: one row per job, newest as the master sent them. */
export function jobsTable(jobs: readonly JobSummary[]): string {
  if (jobs.length === 0) return "No jobs found.\n";
  const rows = [["JOB", "USER", "STATUS", "DONE", "FAILED", "FLAKY", "CREATED"]];
  for (const job of jobs) {
    const c = job.counts;
    const status = job.canceled_at !== null ? "canceled" : job.status;
    rows.push([job.job_id, job.user, status, `${c.finished}/${c.total_tasks}`, String(c.failed), String(c.flaky), formatTime(job.created_at)]);
  }
  return columns(rows);
}

/** `dt slaves`: one row per slave, with what holds it and its latest infrastructure failure. */
export function slavesTable(slaves: readonly SlaveView[], now: number): string {
  if (slaves.length === 0) return "No slave has called this master yet.\n";
  const rows = [["SLAVE", "STATE", "SLOTS", "RUNNING", "LAST SEEN", "VERSION", "WHY"]];
  for (const s of slaves) {
    const why = s.hold ? `${s.hold.kind} by ${s.hold.by}: ${s.hold.reason}` : s.pending_command ? `${s.pending_command.action} requested: ${s.pending_command.reason}` : "";
    rows.push([s.name, s.state, String(s.slots), String(s.running.length), `${Math.max(0, Math.round((now - s.last_seen_at) / 1000))} s ago`, s.version, why]);
  }
  return columns(rows);
}

/** A flake rate for people: `50%`, `33.3%`, `0.1%`. */
export function formatRate(rate: number): string {
  const percent = rate * 100;
  return `${Number.isInteger(percent) ? percent : percent.toFixed(1)}%`;
}

/**
 * `dt flaky`: one row per case, flakiest first as the master sent them,
 * with its latest failure's time, job and log (`link` makes the master's
 * links absolute). Names come from test runners: printed on one line,
 * their control characters escaped.
 */
export function flakyTable(answer: FlakyCases, link: (l: string) => string): string {
  const window = `since ${formatTime(answer.since)}${answer.min_runs > 1 ? `, in at least ${answer.min_runs} jobs` : ""}${answer.binary === null ? "" : `, binary ${printable(answer.binary)}`}`;
  if (answer.cases.length === 0) return `No flaky test cases ${window}.\n`;
  const rows = [["TEST", "JOBS", "RUNS", "FAILURES", "FLAKY", "RATE", "LAST FAILURE", "JOB", "LOG"]];
  for (const c of answer.cases) {
    const f = c.last_failure;
    rows.push([printable(caseTitle(c)), String(c.jobs), String(c.runs), String(c.failures), String(c.flaky), formatRate(c.flake_rate), f ? formatTime(f.reported_at) : "", f ? printable(f.job_id) : "", f ? link(f.log_link) : ""]);
  }
  return `Flaky test cases ${window} (rate: flaky jobs ÷ jobs that ran the case):\n${columns(rows)}`;
}

/** Rows as aligned columns, two spaces apart; the last column is not padded. */
function columns(rows: readonly string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return `${rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ").trimEnd()).join("\n")}\n`;
}

/** `2024-01-02 15:04:05Z`: UTC, so that CI logs from different hosts line up. */
function formatTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19).replace("T", " ")}Z`;
}

/** `dt quarantine list`: one row per entry, newest first. */
export function quarantineTable(entries: readonly QuarantineView[]): string {
  if (entries.length === 0) return "No quarantined tests.\n";
  const rows = [["ID", "TEST", "BINARY", "UNTIL", "BY", "STATE", "REASON"]];
  for (const e of entries) {
    const state = e.active ? "active" : e.removed_at !== null ? `removed by ${e.removed_by ?? "?"}` : "expired";
    rows.push([String(e.id), printable(`${e.suite}.${e.name}`), e.binary === null ? "(any)" : printable(e.binary), e.until === null ? "-" : formatTime(e.until), printable(e.created_by), state, printable(e.reason)]);
  }
  return columns(rows);
}
