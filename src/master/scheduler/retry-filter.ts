/**
 * What a failed attempt's retry runs: only the cases that failed, when the
 * attempt's report says which, through the same filter auto shards use
 * (cases/case-filter.ts); the whole task when it cannot say, or cannot be
 * told. Pure: the dispatcher reads the task's case runs and passes them in.
 *
 * @example
 *   const choice = chooseRetry({ task, attemptSelection: null, failedAttempt: 0, runs, quarantined: () => false });
 *   // { run: "cases", selection: { include: [{ suite: "FlakyTest", name: "FailsOnFirstAttempt" }] } }
 */
import type { CaseStatus } from "../../results/model.ts";
import { type CaseName, type CaseSelection, canExclude, fitsFilter } from "../cases/case-filter.ts";
import { LEFT_OUT_NOTE } from "../cases/selection-check.ts";
import type { Task } from "../model.ts";
import type { TaskCaseRun } from "../repo/repo.ts";

export type { TaskCaseRun };

/** Why a retry runs the whole task rather than some of its cases. */
export type WholeTaskReason =
  /** The task asked for it: `"retry": "task"`. */
  | "retry-mode"
  /** The attempt reported no case: it died before its first (a crash at start-up, a missing library), or its runner's output was not read. */
  | "no-cases"
  /** Every case it reported passed or was skipped, yet it failed (a leak checker, a non-zero exit at the end): only a whole run tells. */
  | "no-failed-case"
  /** A crash left cases unrun, and the task is a numeric shard: a filter drops GTEST_SHARD_INDEX, so an exclusion would run other shards' cases. */
  | "numeric-shard"
  /** A crash left cases unrun, and the runner's case_filter has no exclusion form to name "all but these". */
  | "no-exclude"
  /** The filter would not fit in one environment variable or the command line. */
  | "too-long";

/** The next attempt's cases. */
export type RetryChoice =
  | { run: "task"; why: WholeTaskReason }
  | { run: "cases"; selection: CaseSelection }
  /** Every failure is of a quarantined case: a retry would spend a slave on what cannot fail the job. */
  | { run: "nothing" };

export interface RetryInput {
  task: Pick<Task, "caseFilter" | "caseSelection" | "retryMode" | "shardCount" | "env">;
  /** The failed attempt's number and its own selection (a retry's; null: the task's cases). */
  failedAttempt: number;
  attemptSelection: CaseSelection | null;
  /**
   * The failed attempt was killed at its timeout: like a crash, it left the
   * cases after the hang unrun, even when the hang was outside any case (a
   * suite's set-up) and no case is reported crashed.
   */
  timedOut?: boolean;
  /** Every case run the task's attempts reported so far, the failed one's included, in attempt order. */
  runs: readonly TaskCaseRun[];
  /** True for a case whose failure does not fail the job (quarantine, docs/retries.md). */
  quarantined: (c: CaseName) => boolean;
}

const isFailure = (s: CaseStatus) => s === "failed" || s === "crashed";
/** Cases whose latest run in the task settles them: a crash retry need not run them again. */
const isSettled = (s: CaseStatus) => s === "passed" || s === "skipped";
const keyOf = (c: CaseName) => `${c.suite}\u0000${c.name}`;

/**
 * Decides the retry of attempt `failedAttempt` (FAILED or TIMED_OUT) of a
 * task; see docs/retries.md for the rules, in the order tried here.
 */
export function chooseRetry(input: RetryInput): RetryChoice {
  const { task } = input;
  if (task.retryMode === "task") return { run: "task", why: "retry-mode" };
  const reported = input.runs.filter((r) => r.attempt === input.failedAttempt);
  if (reported.length === 0) return { run: "task", why: "no-cases" };
  const failures = reported.filter((r) => isFailure(r.status));
  if (failures.length === 0) return { run: "task", why: "no-failed-case" };
  const crashed = input.timedOut === true || failures.some((r) => r.status === "crashed");
  // A crash (or a timeout) left the cases after it unrun, so even a quarantined crash calls for a retry of the rest.
  if (!crashed && failures.every((r) => input.quarantined(r))) return { run: "nothing" };

  let selection: CaseSelection;
  if (crashed) {
    const chosen = afterCrash(input);
    if ("run" in chosen) return chosen;
    // Nothing left but quarantined cases; an empty include list would be no filter at all (gtest reads "" as "*").
    if ("include" in chosen && chosen.include.length === 0) return { run: "nothing" };
    selection = chosen;
  } else {
    selection = { include: unique(failures.filter((r) => !input.quarantined(r))) };
  }
  if (!fitsFilter(task.caseFilter, selection, task.env)) return { run: "task", why: "too-long" };
  return { run: "cases", selection };
}

/**
 * After a crash: every case of the crashed attempt's selection not yet
 * settled in this task (its latest run passed or was skipped), nor
 * quarantined and failing. An include list stays one; otherwise the cases
 * not to run again are excluded, so the cases the crash kept from running,
 * which no report names, run too.
 */
function afterCrash(input: RetryInput): CaseSelection | { run: "task"; why: WholeTaskReason } {
  const latest = new Map<string, TaskCaseRun>();
  for (const r of input.runs) {
    const seen = latest.get(keyOf(r));
    if (!seen || r.attempt >= seen.attempt) latest.set(keyOf(r), r);
  }
  const done = [...latest.values()].filter((r) => isSettled(r.status) || (isFailure(r.status) && input.quarantined(r)));
  const doneKeys = new Set(done.map(keyOf));
  const base = input.attemptSelection ?? input.task.caseSelection;
  if (base && "include" in base) return { include: base.include.filter((c) => !doneKeys.has(keyOf(c))) };
  if (base === null && input.task.shardCount !== null) return { run: "task", why: "numeric-shard" };
  if (!canExclude(input.task.caseFilter)) return { run: "task", why: "no-exclude" };
  // The task's own exclusion (an auto shard's last) always stays: an attempt's is built on it, but need not say so.
  const taskExcluded = input.task.caseSelection && "exclude" in input.task.caseSelection ? input.task.caseSelection.exclude : [];
  return { exclude: unique([...taskExcluded, ...(base?.exclude ?? []), ...done]) };
}

/** The cases once each, as CaseNames (a runner's reruns report a case more than once). */
function unique(cases: readonly CaseName[]): CaseName[] {
  const byKey = new Map<string, CaseName>();
  for (const c of cases) if (!byKey.has(keyOf(c))) byKey.set(keyOf(c), { suite: c.suite, name: c.name });
  return [...byKey.values()];
}

/** Names an unproven retry's message lists; the rest are counted. */
const UNPROVEN_NAMES = 5;

/**
 * Why a retry of some cases that exited 0 is no pass, or null when it is
 * one: it did not report every case it selects that an earlier attempt of
 * the task ran (those exist in the binary, so the filter did not reach
 * them): of an include list, its cases; of an exclusion (after a crash),
 * the earlier cases it does not leave out. A command line that shards on
 * its own (dist_test's clients pass `-e GTEST_SHARD_INDEX=…` to their
 * wrapper, out of the master's sight) has gtest shard the filtered list,
 * and a shard of a one-case list runs nothing and passes. A report the
 * slave had to cut proves nothing. `earlier`: the task's case runs before
 * this attempt.
 */
export function unprovenRetry(selection: CaseSelection | null, reported: readonly CaseName[], notes: readonly string[], earlier: readonly TaskCaseRun[]): string | null {
  if (!selection || notes.some((n) => LEFT_OUT_NOTE.test(n))) return null;
  const seen = new Set(reported.map(keyOf));
  const ranBefore = new Set(earlier.map(keyOf));
  let expected: CaseName[];
  if ("exclude" in selection) {
    const left = new Set(selection.exclude.map(keyOf));
    expected = unique(earlier).filter((c) => !left.has(keyOf(c)));
  } else expected = selection.include.filter((c) => ranBefore.has(keyOf(c)));
  const missing = expected.filter((c) => !seen.has(keyOf(c)));
  if (missing.length === 0) return null;
  const n = expected.length;
  const names = missing.slice(0, UNPROVEN_NAMES).map((c) => `${c.suite}.${c.name}`).join(", ");
  const more = missing.length > UNPROVEN_NAMES ? ` and ${missing.length - UNPROVEN_NAMES} more` : "";
  return `the retry exited 0 but did not report ${missing.length} of the ${n} case${n === 1 ? "" : "s"} it was to run again (${names}${more}): ` +
    "its filter did not reach them (a command line that sets GTEST_SHARD_INDEX itself shards the filtered list), so it is no pass; the whole task runs next, spending no retry";
}
