import type { AttemptView, JobCaseView, JobSummary, ReusedFromView, TaskView } from "../master/protocol.ts";
import { caseSuites, tasksWithoutCases } from "./junit-cases.ts";

/**
 * The job as JUnit XML, for CI systems that show test reports.
 *
 * Without test cases (`cases` empty): one testsuite for the job, one
 * testcase per task group (name = description, classname = job id). Failed
 * groups carry a `failure` with the exit code and the stderr link; flaky
 * groups pass with a note in `system-out`; canceled (or unfinished) groups
 * are `skipped`.
 *
 * With cases: one testsuite per binary and one testcase per case (see
 * junit-cases.ts); the tasks whose binary reported no cases, and failed
 * tasks no failed case accounts for (a shard that died before its first
 * case), stay one testcase each in a testsuite named for the job, so no
 * failure goes missing. `link` makes the master's links absolute.
 */
export function junitXml(summary: JobSummary, tasks: readonly TaskView[], link: (l: string) => string, cases: readonly JobCaseView[] = []): string {
  const suites: SuiteXml[] = cases.length > 0 ? caseSuites(cases, tasks, link) : [];
  const left = cases.length > 0 ? tasksWithoutCases(tasks, cases) : tasks;
  const timestamp = new Date(summary.created_at).toISOString().replace(/\.\d+Z$/, "");
  if (left.length > 0 || suites.length === 0) suites.push(taskSuite(summary.job_id, left, link));
  const total = { tests: 0, failures: 0, skipped: 0, sec: 0 };
  for (const s of suites) {
    total.tests += s.tests;
    total.failures += s.failures;
    total.skipped += s.skipped;
    total.sec += s.sec;
  }
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<testsuites name="dt" ${countAttrs(total)}>`,
    ...suites.flatMap((s) => [`  <testsuite name="${escapeXml(s.name)}" ${countAttrs(s)} timestamp="${timestamp}">`, ...s.cases, "  </testsuite>"]),
    "</testsuites>",
    "",
  ].join("\n");
}

/** One `<testsuite>`'s name, counts and testcase elements. */
export interface SuiteXml {
  name: string;
  tests: number;
  failures: number;
  skipped: number;
  sec: number;
  cases: string[];
}

function countAttrs(c: { tests: number; failures: number; skipped: number; sec: number }): string {
  return `tests="${c.tests}" failures="${c.failures}" errors="0" skipped="${c.skipped}" time="${c.sec.toFixed(3)}"`;
}

/** The job's tasks as testcases, one per task group, as dt wrote them before test cases. */
function taskSuite(jobId: string, tasks: readonly TaskView[], link: (l: string) => string): SuiteXml {
  const suite: SuiteXml = { name: jobId, tests: tasks.length, failures: 0, skipped: 0, sec: 0, cases: [] };
  const cases = suite.cases;
  for (const task of tasks) {
    const last = task.attempts.at(-1);
    const sec = last ? commandSeconds(last) : 0;
    suite.sec += sec;
    const open = `    <testcase name="${escapeXml(task.description)}" classname="${escapeXml(jobId)}" time="${sec.toFixed(3)}"`;
    // A reused task's one attempt is the SUCCEEDED one that names the run it took.
    const properties = reusedProperties(task.attempts.find((a) => a.state === "SUCCEEDED")?.reused_from);
    const testcase = (...children: string[]) => cases.push(testcaseXml(open, [...properties, ...children]));
    if (task.group === "failed") {
      suite.failures++;
      const failed = [...task.attempts].reverse().find((a) => a.state !== "SUCCEEDED") ?? last;
      const message = failed ? failureMessage(failed) : "failed";
      const body = task.attempts.map((a) => attemptText(a, link)).join("\n");
      testcase(`<failure message="${escapeXml(message)}" type="${escapeXml(failed?.state ?? "FAILED")}">${escapeXml(body)}</failure>`);
    } else if (task.group === "flaky") {
      const note = `flaky: passed after ${task.attempts.length - 1} failed attempt(s) of task ${task.task_id}\n${task.attempts.map((a) => attemptText(a, link)).join("\n")}`;
      testcase(`<system-out>${escapeXml(note)}</system-out>`);
    } else if (task.group === "quarantined") {
      // Every failing case of it was quarantined: not a failure of the job; what it did is kept in system-out.
      suite.skipped++;
      const body = task.attempts.map((a) => attemptText(a, link)).join("\n");
      testcase(`<skipped message="quarantined: its failing cases are quarantined"/>`, `<system-out>${escapeXml(body)}</system-out>`);
    } else if (task.group === "succeeded") {
      testcase();
    } else {
      suite.skipped++;
      const why = task.group === "canceled" ? "canceled" : `not finished (${task.group})`;
      testcase(`<skipped message="${escapeXml(why)}"/>`);
    }
  }
  return suite;
}

/**
 * A testcase element: `open` (its start tag up to its attributes' end),
 * then each child on a line of its own; `<testcase …/>` without children.
 */
export function testcaseXml(open: string, children: readonly string[]): string {
  if (children.length === 0) return `${open}/>`;
  return `${open}>\n${children.map((c) => `      ${c}`).join("\n")}\n    </testcase>`;
}

/**
 * The `properties` of a testcase whose result was taken from another run
 * (docs/reuse.md), naming that run as JOB/TASK/ATTEMPT; none for a result
 * that ran, whose testcase reads as before reuse. It goes first among the
 * testcase's children, where pytest's record_property puts a testcase's
 * properties.
 */
export function reusedProperties(from: Pick<ReusedFromView, "job_id" | "task_id" | "attempt"> | undefined): string[] {
  if (!from) return [];
  return [`<properties><property name="dt.reused_from" value="${escapeXml(`${from.job_id}/${from.task_id}/${from.attempt}`)}"/></properties>`];
}

/** The last attempt's command time; 0 when it never ran. */
function commandSeconds(attempt: AttemptView): number {
  if (attempt.command_start_at === null || attempt.command_end_at === null) return 0;
  return Math.max(0, attempt.command_end_at - attempt.command_start_at) / 1000;
}

function failureMessage(attempt: AttemptView): string {
  if (attempt.exit_code !== null) return `exit code ${attempt.exit_code}`;
  return attempt.message ?? attempt.state;
}

function attemptText(attempt: AttemptView, link: (l: string) => string): string {
  const parts = [`attempt ${attempt.attempt}: ${attempt.state}`];
  if (attempt.exit_code !== null) parts.push(`exit code ${attempt.exit_code}`);
  if (attempt.message) parts.push(attempt.message);
  if (attempt.stderr_link) parts.push(`stderr: ${link(attempt.stderr_link)}`);
  if (attempt.stdout_link) parts.push(`stdout: ${link(attempt.stdout_link)}`);
  return parts.join(", ");
}

/**
 * Text safe inside XML 1.0 content and double-quoted attributes. Characters
 * XML 1.0 cannot carry at all (most C0 controls, lone surrogates, U+FFFE/F)
 * become U+FFFD: a test's description or message is arbitrary text.
 */
export function escapeXml(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;")
    .replace(/\r/g, "&#13;");
}
