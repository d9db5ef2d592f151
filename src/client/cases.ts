import type { Logger } from "../common/log.ts";
import type { JobCaseCounts, JobCaseView, JobSummary, TaskView } from "../master/protocol.ts";
import type { MasterClient } from "./api.ts";
import { printable } from "./printable.ts";

/**
 * Failed (and, apart, flaky) cases the final report names, at most: a
 * broken build can fail 10,000 cases, and a CI log wants the first ones
 * with their messages, then where to read the rest.
 */
export const MAX_LISTED_CASES = 50;

/** Cases per page when the JUnit file reads them all: the master's own maximum, so a million cases is 100 requests. */
export const CASES_PER_PAGE = 10_000;

/** A failure message is shown by its first line, cut here: the log link has the rest. */
const MESSAGE_CHARS = 200;

/** What the final report lists of a job's test cases. */
export interface ListedCases {
  counts: JobCaseCounts;
  /** The first MAX_LISTED_CASES failed (or crashed) cases, and the first flaky ones. */
  failed: JobCaseView[];
  flaky: JobCaseView[];
}

/** The job's case counts when its tasks reported cases; undefined for none, or a master from before cases. */
export function caseCounts(summary: JobSummary): JobCaseCounts | undefined {
  const cases = summary.counts.cases;
  return cases && cases.total > 0 ? cases : undefined;
}

/**
 * The failed and flaky cases the report names, one bounded page each. A
 * master that cannot answer (no cases route, a failure) leaves the report
 * as it was without cases: the task lines above still say what failed.
 */
export async function readListedCases(api: MasterClient, summary: JobSummary, log: Logger): Promise<ListedCases | undefined> {
  const counts = caseCounts(summary);
  if (!counts) return undefined;
  try {
    const page = async (status: "failed" | "flaky", n: number) => (n > 0 ? (await api.jobCases(summary.job_id, { status, limit: MAX_LISTED_CASES })).cases : []);
    return { counts, failed: await page("failed", counts.failed), flaky: await page("flaky", counts.flaky) };
  } catch (err) {
    log.debug(`reading the test cases of job ${summary.job_id} failed (the report lists its tasks only): ${(err as Error).message}`);
    return undefined;
  }
}

/**
 * Every case of the job, page by page (for the JUnit file). A cursor that
 * does not move on ends the read rather than looping.
 */
export async function readAllCases(api: MasterClient, jobId: string): Promise<JobCaseView[]> {
  const all: JobCaseView[] = [];
  let cursor: string | null = null;
  for (;;) {
    const page = await api.jobCases(jobId, { status: "all", limit: CASES_PER_PAGE, cursor });
    all.push(...page.cases);
    if (page.next_cursor === null || page.next_cursor === cursor || page.cases.length === 0) return all;
    cursor = page.next_cursor;
  }
}

/** `binary › suite.name`, as the report and the job page name a case. */
export function caseTitle(c: Pick<JobCaseView, "binary" | "suite" | "name">): string {
  return `${c.binary} › ${c.suite ? `${c.suite}.` : ""}${c.name}`;
}

/** A case's own duration: `12 ms`, `3.4 s`; empty when the runner gave none. */
export function caseDuration(ms: number | null): string {
  if (ms === null) return "";
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/**
 * gtest opens every failure with where it is (`foo_test.cc:41: Failure`,
 * or `unknown file: Failure`); the case's file and line say that already.
 */
const GTEST_PLACE_LINE = /^.*(?::\d+|unknown file): Failure$/;

/**
 * The first line of a failure message that says what failed, bounded:
 * the first non-empty one, past gtest's place line when more follows.
 *
 * @example
 *   firstLine("foo_test.cc:41: Failure\nExpected equality of these values:\n  1") // "Expected equality of these values:"
 */
export function firstLine(message: string | null): string {
  const lines = (message ?? "").split("\n").map((l) => l.trim()).filter((l) => l !== "");
  const line = (lines.length > 1 && GTEST_PLACE_LINE.test(lines[0]!) ? lines[1] : lines[0]) ?? "";
  return line.length > MESSAGE_CHARS ? `${line.slice(0, MESSAGE_CHARS)}…` : line;
}

/** `1,097`: a count as the client's reports write it. */
export const formatCount = (x: number) => x.toLocaleString("en-US");
const n = formatCount;

/** `1,097 cases: 1,085 passed, 11 failed, 1 flaky, 1 skipped` (flaky and skipped when there are any). */
export function caseCountLine(c: JobCaseCounts, quarantined = 0): string {
  const parts = [`${n(c.passed)} passed`, `${n(c.failed)} failed${quarantined > 0 ? ` (${n(quarantined)} of them quarantined)` : ""}`];
  if (c.flaky > 0) parts.push(`${n(c.flaky)} flaky`);
  if (c.skipped > 0) parts.push(`${n(c.skipped)} skipped`);
  return `${n(c.total)} case${c.total === 1 ? "" : "s"}: ${parts.join(", ")}`;
}

/** A job's tasks by id: a JUnit file of 10,000 failed cases over 10,000 tasks looks each up at once. */
export type TasksById = ReadonlyMap<string, TaskView>;

export const tasksById = (tasks: readonly TaskView[]): TasksById => new Map(tasks.map((t) => [t.task_id, t]));

/** The log of the case's deciding attempt (stdout, where gtest writes; else stderr), as a master link. */
export function caseLogLink(c: JobCaseView, tasks: TasksById): string | null {
  const attempt = tasks.get(c.task_id)?.attempts.find((a) => a.attempt === c.attempt);
  return attempt?.stdout_link ?? attempt?.stderr_link ?? null;
}

/**
 * The report's end for a job with cases: each failed case by name with its
 * first message line and its log, then the flaky ones, then the counts.
 * `link` makes the master's links absolute (or a kept copy's path);
 * `moreAt` says where the cases past the cap are read.
 *
 * @example
 *   FAILED  gtest_unittest › ExpectTest.ExpectPrecedence  12 ms  Expected equality of these values:
 *     stdout: http://master:8081/api/v1/artifacts/…stdout
 *   1,097 cases: 1,085 passed, 11 failed, 1 skipped
 */
export function caseReport(listed: ListedCases, tasks: readonly TaskView[], link: (l: string) => string, moreAt: (status: "failed" | "flaky") => string): string[] {
  const lines: string[] = [];
  const byId = tasksById(tasks);
  // Quarantined failures are listed apart, below: they failed, but fail nothing.
  const quarantined = listed.failed.filter((c) => c.quarantined);
  const failed = listed.failed.filter((c) => !c.quarantined);
  const groups = [
    { cases: failed, total: listed.counts.failed - quarantined.length, status: "failed" as const },
    { cases: listed.flaky, total: listed.counts.flaky, status: "flaky" as const },
  ];
  for (const { cases, total, status } of groups) {
    for (const c of cases) {
      const label = c.status === "crashed" ? "CRASHED" : status === "flaky" ? "FLAKY  " : "FAILED ";
      const rest = [caseDuration(c.duration_ms), printable(firstLine(c.message))].filter((s) => s !== "");
      lines.push([`${label} ${printable(caseTitle(c))}`, ...rest].join("  "));
      const log = caseLogLink(c, byId);
      if (log) lines.push(`  log: ${link(log)}`);
    }
    const more = total - cases.length;
    if (more > 0) lines.push(`and ${n(more)} more ${status} case${more === 1 ? "" : "s"}: ${moreAt(status)}`);
  }
  if (quarantined.length > 0) {
    lines.push("quarantined failures:");
    for (const c of quarantined) {
      const rest = [caseDuration(c.duration_ms), printable(firstLine(c.message))].filter((s) => s !== "");
      lines.push([`QUARANTINED ${c.status === "crashed" ? "CRASHED" : "FAILED"} ${printable(caseTitle(c))}`, ...rest].join("  "));
      const until = c.quarantined!.until === null ? "" : `, until ${new Date(c.quarantined!.until).toISOString()}`;
      lines.push(`  reason: ${printable(c.quarantined!.reason)} (entry ${c.quarantined!.id}${until})`);
      const log = caseLogLink(c, byId);
      if (log) lines.push(`  log: ${link(log)}`);
    }
  }
  lines.push(caseCountLine(listed.counts, quarantined.length));
  return lines;
}
