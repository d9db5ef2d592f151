/**
 * The invariant of case selections: every case runs exactly once over a
 * binary's auto shards. When an attempt that ran a selection reports, its
 * cases are compared with the selection; a case outside it (the command
 * line overrode the filter, a wildcard matched a sibling) or, for an
 * include list, a case of it not reported (renamed, removed, filtered out by
 * something else) puts a flag on the job, shown with its summary.
 *
 * A missing case is only looked for when the attempt ran to its end: a
 * crashed case, or a failed attempt that reported nothing (it died before
 * its first case), explains the ones after it. A timed-out or lost attempt
 * is not checked for missing cases at all, nor is a report the slave had to
 * cut (more cases than one report holds).
 */
import type { CaseReport } from "../../results/wire.ts";
import type { AttemptState, JobFlag } from "../model.ts";
import type { Repo } from "../repo/repo.ts";
import type { CaseName, CaseSelection } from "./case-filter.ts";

/** Names a flag lists of each kind; the rest are counted. */
export const FLAG_NAMES_SHOWN = 20;
/** A flag's text at most: 20 names of a few hundred characters each fit, a 100,000-case list does not. */
export const MAX_FLAG_TEXT = 8_000;

/**
 * Flags one job stores at most: a command line that overrides the filter
 * makes every shard and retry of a 10,000-shard job stray, and the summary
 * shows the first hundred (protocol.ts MAX_SHOWN_FLAGS) anyway.
 */
export const MAX_FLAGS_PER_JOB = 100;
const LAST_FLAG_NOTE = "; later flags of this job are not recorded";

/** Where the report came from. */
export interface ReportedAttempt {
  jobId: string;
  taskId: string;
  attempt: number;
  state: AttemptState;
  cases: readonly Pick<CaseReport, "suite" | "name" | "status">[];
  /** The report's result notes: one says when the slave left cases out of a full report. */
  notes: readonly string[];
  at: number;
}

/** The note of slave/case-report.ts fitCases when a report could not hold every case: then a missing case may have run. */
export const LEFT_OUT_NOTE = /cases were not reported: a report holds at most/;

const keyOf = (c: CaseName) => `${c.suite}\0${c.name}`;
const shown = (c: CaseName) => `${c.suite}.${c.name}`;

/**
 * The flag for `reported` against `selection`, or null when it kept to it.
 * Pure; checkCaseSelection stores it.
 */
export function selectionFlag(selection: CaseSelection, reported: ReportedAttempt): JobFlag | null {
  const listed = new Set(("include" in selection ? selection.include : selection.exclude).map(keyOf));
  const seen = new Set<string>();
  const outside: CaseName[] = [];
  for (const c of reported.cases) {
    const key = keyOf(c);
    if (seen.has(key)) continue;
    seen.add(key);
    if ("include" in selection ? !listed.has(key) : listed.has(key)) outside.push(c);
  }
  const ranToEnd = reported.state === "SUCCEEDED" || (reported.state === "FAILED" && reported.cases.length > 0);
  const crashed = reported.cases.some((c) => c.status === "crashed");
  const leftOut = reported.notes.some((n) => LEFT_OUT_NOTE.test(n));
  const missing = "include" in selection && ranToEnd && !crashed && !leftOut ? selection.include.filter((c) => !seen.has(keyOf(c))) : [];
  if (outside.length === 0 && missing.length === 0) return null;
  const parts: string[] = [];
  if (outside.length > 0) parts.push(`ran ${outside.length} case${outside.length === 1 ? "" : "s"} outside its filter: ${names(outside)}`);
  if (missing.length > 0) parts.push(`did not report ${missing.length} case${missing.length === 1 ? "" : "s"} of its filter: ${names(missing)}`);
  const text = `attempt ${reported.attempt} of ${reported.taskId} ${parts.join("; ")}`;
  return {
    jobId: reported.jobId, taskId: reported.taskId, attempt: reported.attempt, kind: "case_selection",
    text: text.length > MAX_FLAG_TEXT ? `${text.slice(0, MAX_FLAG_TEXT - 1)}…` : text, createdAt: reported.at,
  };
}

function names(list: readonly CaseName[]): string {
  const head = list.slice(0, FLAG_NAMES_SHOWN).map(shown).join(", ");
  return list.length > FLAG_NAMES_SHOWN ? `${head} and ${list.length - FLAG_NAMES_SHOWN} more` : head;
}

/**
 * Checks an attempt that just ended, in the transaction that ends it,
 * against its selection: its own (a retry's) or its task's (an auto
 * shard's); without one there is nothing to check.
 */
export async function checkCaseSelection(repo: Repo, selection: CaseSelection | null, reported: ReportedAttempt): Promise<void> {
  if (!selection) return;
  const flag = selectionFlag(selection, reported);
  if (!flag) return;
  // Read only when a flag is due, which a job that keeps to its filters never is.
  const stored = (await repo.listJobFlags(reported.jobId, MAX_FLAGS_PER_JOB)).length;
  if (stored >= MAX_FLAGS_PER_JOB) return;
  if (stored === MAX_FLAGS_PER_JOB - 1) flag.text = `${flag.text.slice(0, MAX_FLAG_TEXT - LAST_FLAG_NOTE.length)}${LAST_FLAG_NOTE}`;
  await repo.addJobFlag(flag);
}
