/** The per-attempt timestamps of a finished job, checked complete, and the spans the report is made of. */
import type { AttemptView, TaskView } from "../../src/master/protocol.ts";

/** An attempt that ran to a report: every timestamp set. */
export interface RanAttempt {
  description: string;
  slave: string;
  queuedAt: number;
  leasedAt: number;
  fetchDoneAt: number;
  mapDoneAt: number;
  commandStartAt: number;
  commandEndAt: number;
  uploadDoneAt: number;
  reportedAt: number;
}

/**
 * The single attempt of every task, which must have succeeded with every
 * timestamp set; throws with a tally of the attempts of the tasks that did
 * not (a bench on failed or retried tasks would measure the wrong thing).
 */
export function ranAttempts(tasks: readonly TaskView[]): RanAttempt[] {
  const bad = tasks.filter((t) => t.attempts.length !== 1 || t.attempts[0]!.state !== "SUCCEEDED");
  if (bad.length > 0) throw new Error(`${bad.length} of ${tasks.length} tasks did not run once and succeed: ${attemptTally(bad)}`);
  return tasks.map((t) => {
    const a: AttemptView = t.attempts[0]!;
    const times = [a.leased_at, a.fetch_done_at, a.map_done_at, a.command_start_at, a.command_end_at, a.upload_done_at, a.reported_at];
    if (times.some((x) => x === null) || a.slave === null) throw new Error(`task ${t.task_id}: attempt without every timestamp: ${JSON.stringify(a)}`);
    return {
      description: t.description, slave: a.slave, queuedAt: a.queued_at, leasedAt: a.leased_at!, fetchDoneAt: a.fetch_done_at!, mapDoneAt: a.map_done_at!,
      commandStartAt: a.command_start_at!, commandEndAt: a.command_end_at!, uploadDoneAt: a.upload_done_at!, reportedAt: a.reported_at!,
    };
  });
}

/**
 * What the attempts of `tasks` came to, counted by state and message (a
 * systematic failure reads as one line, not as its first instance), and one
 * task's attempts in full.
 */
export function attemptTally(tasks: readonly TaskView[]): string {
  const outcomes = new Map<string, number>();
  for (const a of tasks.flatMap((t) => t.attempts)) {
    const key = `${a.state}${a.message ? ` (${a.message})` : ""}`;
    outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
  }
  const example = tasks.find((t) => t.attempts.length > 1) ?? tasks[0];
  const since = (at: number | null) => (at === null ? "—" : `+${at - example!.attempts[0]!.queued_at}`);
  const attempts = example?.attempts.map(
    (a) => `${a.state} on ${a.slave ?? "no slave"}, ms after queued: leased ${since(a.leased_at)}, command ${since(a.command_start_at)}–${since(a.command_end_at)}, reported ${since(a.reported_at)}`,
  );
  return `attempts ${[...outcomes].map(([k, n]) => `${n} × ${k}`).join(", ")}${example ? `; e.g. task ${example.task_id} (${example.description}): ${attempts!.join("; ")}` : ""}`;
}

/** The command's own time, ms (measured on the slave). */
export const commandMs = (a: RanAttempt) => a.commandEndAt - a.commandStartAt;

/** Lease to report, minus the command: what dt adds to every task. */
export const overheadMs = (a: RanAttempt) => a.reportedAt - a.leasedAt - commandMs(a);

/** The overhead's parts, in order; they sum to overheadMs. */
export const OVERHEAD_PHASES: readonly { name: string; ms: (a: RanAttempt) => number }[] = [
  { name: "leased→fetch_done", ms: (a) => a.fetchDoneAt - a.leasedAt },
  { name: "fetch_done→map_done", ms: (a) => a.mapDoneAt - a.fetchDoneAt },
  { name: "map_done→command_start", ms: (a) => a.commandStartAt - a.mapDoneAt },
  { name: "command_end→upload_done", ms: (a) => a.uploadDoneAt - a.commandEndAt },
  { name: "upload_done→reported", ms: (a) => a.reportedAt - a.uploadDoneAt },
];

export const first = (values: readonly number[]) => values.reduce((a, b) => Math.min(a, b), Infinity);
export const last = (values: readonly number[]) => values.reduce((a, b) => Math.max(a, b), -Infinity);
