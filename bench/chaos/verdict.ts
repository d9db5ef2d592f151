/**
 * What one scenario run came to, from the master's view of its tasks and
 * the marks the commands wrote: finished, tasks lost, duplicate results,
 * retries and requeues spent, recovery time, processes left. Pure, so the
 * counting is tested on its own (test/bench/chaos-verdict.test.ts).
 */
import type { GroupState, TaskView } from "../../src/master/protocol.ts";
import { attemptTally, first, last } from "../cluster/attempts.ts";

/** A task group that will not change any more. */
const FINAL_GROUPS: ReadonlySet<GroupState> = new Set(["succeeded", "failed", "flaky", "canceled"]);
/** Attempts whose command ran and gave an answer: a task should have one of these that counts. */
const RESULT_STATES = new Set(["SUCCEEDED", "FAILED", "TIMED_OUT"]);

export interface RunFacts {
  /** Every task of the scenario's jobs, tagged with its job. */
  tasks: readonly (TaskView & { jobId: string })[];
  /** How many tasks were submitted. */
  submitted: number;
  /** Every job read finished before the deadline. */
  finished: boolean;
  /** The attempt number of each completion mark, per `<job> <task>` (harness.ts's MARK). */
  marks: ReadonlyMap<string, readonly number[]>;
  /** The group each task should end in (default: succeeded). */
  expectedGroup?: (task: TaskView) => GroupState;
  /** When the fault was injected (epoch ms); undefined for a scenario without one. */
  faultAt?: number;
  /** Task processes still alive once the job was over and a grace period had passed. */
  leftovers: number;
}

export interface Verdict {
  finished: boolean;
  /** Tasks with no final result: missing from the master, not in a final group, or passed without their command running to its end. */
  lost: number;
  /** Tasks with more than one success, or whose command ran to its end more than once. */
  duplicates: number;
  /** Retries of the task's own budget spent (a failed attempt retried). */
  retries: number;
  /** Attempts requeued without spending a retry (slave lost, infrastructure failure). */
  requeues: number;
  /** Seconds from the fault to the next result reported after it; undefined without a fault or a result after it. */
  firstResultSec?: number;
  /** Seconds from the fault (or the first queued task) to the last result reported. */
  endSec?: number;
  /** Tasks that ended in another group than expected (e.g. failed where they should pass). */
  wrongOutcome: number;
  leftovers: number;
  /** What the numbers are made of, for the notes column. */
  notes: string[];
}

export function judge(facts: RunFacts): Verdict {
  const expected = facts.expectedGroup ?? (() => "succeeded" as GroupState);
  const notes: string[] = [];
  const missing = Math.max(0, facts.submitted - facts.tasks.length);
  if (missing > 0) notes.push(`${missing} tasks missing from the master`);
  const unfinished = facts.tasks.filter((t) => !FINAL_GROUPS.has(t.group));
  if (unfinished.length > 0) notes.push(`${unfinished.length} tasks not ended (${tally(unfinished.map((t) => t.group))}): ${attemptTally(unfinished)}`);
  // A success the master holds without the command having written its mark: a result nobody produced.
  const unrun = facts.tasks.filter((t) => t.group === "succeeded" && !facts.marks.has(markKey(t)));
  if (unrun.length > 0) notes.push(`${unrun.length} passed without their command completing`);

  const twoSuccesses = facts.tasks.filter((t) => t.attempts.filter((a) => a.state === "SUCCEEDED").length > 1);
  const ranTwice = facts.tasks.filter((t) => (facts.marks.get(markKey(t))?.length ?? 0) > 1);
  if (twoSuccesses.length > 0) notes.push(`${twoSuccesses.length} tasks with 2+ successes`);
  if (ranTwice.length > 0) {
    // One example in full: whether the master saw two attempts or one tells a requeue apart from a lease it never knew was lost.
    const e = ranTwice[0]!;
    const seen = e.attempts.map((a) => `${a.attempt}:${a.state}@${a.slave ?? "-"}`).join(", ");
    notes.push(`${ranTwice.length} commands ran to their end twice or more (e.g. ${e.description}: completions of attempts ${facts.marks.get(markKey(e))!.join(", ")}; the master's attempts ${seen})`);
  }
  const duplicates = new Set([...twoSuccesses, ...ranTwice].map(markKey)).size;

  const wrong = facts.tasks.filter((t) => FINAL_GROUPS.has(t.group) && t.group !== expected(t));
  if (wrong.length > 0) notes.push(`${wrong.length} ended ${tally(wrong.map((t) => t.group))}, expected ${tally(wrong.map(expected))}`);

  const attempts = facts.tasks.flatMap((t) => t.attempts);
  const retries = facts.tasks.reduce((sum, t) => sum + Math.max(0, ...t.attempts.map((a) => a.retry)), 0);
  const requeues = attempts.length - facts.tasks.length - retries;
  const lostStates = attempts.filter((a) => a.state === "SLAVE_LOST" || a.state === "INFRA_FAILED");
  if (lostStates.length > 0) notes.push(`attempts ${tally(lostStates.map((a) => a.state))}`);

  const results = attempts.filter((a) => RESULT_STATES.has(a.state) && a.reported_at !== null).map((a) => a.reported_at!);
  const start = facts.faultAt ?? first(attempts.map((a) => a.queued_at));
  const after = results.filter((at) => at >= start);
  return {
    finished: facts.finished,
    lost: missing + unfinished.length + unrun.length,
    duplicates,
    retries,
    requeues,
    firstResultSec: facts.faultAt !== undefined && after.length > 0 ? (first(after) - facts.faultAt) / 1000 : undefined,
    endSec: results.length > 0 && Number.isFinite(start) ? (last(results) - start) / 1000 : undefined,
    wrongOutcome: wrong.length,
    leftovers: facts.leftovers,
    notes,
  };
}

/** Why a verdict fails the bench: empty when it passes. */
export function failuresOf(v: Verdict): string[] {
  return [
    !v.finished && "did not finish within its deadline",
    v.lost > 0 && `${v.lost} tasks lost`,
    v.duplicates > 0 && `${v.duplicates} duplicate results`,
    v.wrongOutcome > 0 && `${v.wrongOutcome} tasks ended in the wrong state`,
    v.leftovers > 0 && `${v.leftovers} task processes left running`,
  ].filter((f): f is string => typeof f === "string");
}

function markKey(t: TaskView & { jobId: string }): string {
  return `${t.jobId} ${t.task_id}`;
}

/** `3 × SLAVE_LOST, 1 × INFRA_FAILED`. */
function tally(values: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts].map(([v, n]) => `${n} × ${v}`).join(", ");
}
