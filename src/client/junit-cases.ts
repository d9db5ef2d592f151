import type { JobCaseView, TaskView } from "../master/protocol.ts";
import { type TasksById, caseLogLink, firstLine, tasksById } from "./cases.ts";
import { type SuiteXml, escapeXml, reusedProperties, testcaseXml } from "./junit.ts";

/**
 * A job's test cases as JUnit testsuites: one per binary, one testcase per
 * case with classname = the case's suite (gtest's test suite, JUnit's
 * classname: stable across runs, so a CI system's history of a case holds)
 * and `time` its own duration in seconds. A failed or crashed case carries
 * a `failure` with its message and its log link; a flaky one passes with
 * Surefire's `flakyFailure` (what Jenkins and GitLab show as flaky); a
 * skipped one is `skipped`; a failure that was quarantined is `skipped`
 * with message `quarantined: REASON`, its failure text in `system-out`. A
 * case whose task reused another run's result (docs/reuse.md) names that
 * run in a `dt.reused_from` property.
 */
export function caseSuites(cases: readonly JobCaseView[], tasks: readonly TaskView[], link: (l: string) => string): SuiteXml[] {
  const byBinary = new Map<string, SuiteXml>();
  const byId = tasksById(tasks);
  for (const c of cases) {
    let suite = byBinary.get(c.binary);
    if (!suite) byBinary.set(c.binary, (suite = { name: c.binary, tests: 0, failures: 0, skipped: 0, sec: 0, cases: [] }));
    const sec = (c.duration_ms ?? 0) / 1000;
    suite.tests++;
    suite.sec += sec;
    const open = `    <testcase name="${escapeXml(c.name)}" classname="${escapeXml(c.suite)}" time="${sec.toFixed(3)}"`;
    const properties = reusedProperties(c.reused_from);
    const testcase = (...children: string[]) => suite.cases.push(testcaseXml(open, [...properties, ...children]));
    const message = `message="${escapeXml(firstLine(c.message))}"`;
    if ((c.status === "failed" || c.status === "crashed") && c.quarantined) {
      // Quarantined: not a failure of the job, so skipped with the entry's reason; the failure's text is kept, in system-out.
      suite.skipped++;
      const why = `quarantined: ${c.quarantined.reason}`;
      const kept = `${c.status} (quarantined, entry ${c.quarantined.id})\n${detail(c, byId, link)}`;
      testcase(`<skipped message="${escapeXml(why)}"/>`, `<system-out>${escapeXml(kept)}</system-out>`);
    } else if (c.status === "failed" || c.status === "crashed") {
      suite.failures++;
      testcase(`<failure ${message} type="${c.status}">${escapeXml(detail(c, byId, link))}</failure>`);
    } else if (c.status === "flaky") {
      // Surefire's schema gives flakyFailure no text of its own: the detail goes in its stackTrace.
      testcase(`<flakyFailure ${message} type="flaky"><stackTrace>${escapeXml(detail(c, byId, link))}</stackTrace></flakyFailure>`);
    } else if (c.status === "skipped") {
      suite.skipped++;
      testcase(c.message ? `<skipped ${message}/>` : "<skipped/>");
    } else {
      testcase();
    }
  }
  return [...byBinary.values()];
}

/**
 * The tasks the case suites do not speak for, listed as one testcase each:
 * those of a binary that reported no cases, and those that did not pass
 * (failed, canceled, unfinished) without a failed case of their own — a
 * shard that crashed before its first case, or never ran, must not vanish
 * from the report, nor a task whose only failed cases are quarantined
 * (skipped there) and that failed anyway.
 */
export function tasksWithoutCases(tasks: readonly TaskView[], cases: readonly JobCaseView[]): TaskView[] {
  const binaries = new Set(cases.map((c) => c.binary));
  // A quarantined failure, skipped in the report, accounts for no failure of its task: a task failed without another failed case stays one.
  const failing = new Set(cases.filter((c) => (c.status === "failed" || c.status === "crashed") && !c.quarantined).map((c) => c.task_id));
  return tasks.filter((t) => !binaries.has(t.binary ?? t.description) || (t.group !== "succeeded" && t.group !== "flaky" && t.group !== "quarantined" && !failing.has(t.task_id)));
}

/** A failure's whole message, where it is, and the log of the attempt that decided it. */
function detail(c: JobCaseView, tasks: TasksById, link: (l: string) => string): string {
  const parts: string[] = [];
  if (c.message) parts.push(c.message);
  if (c.file) parts.push(`at ${c.file}${c.line !== null ? `:${c.line}` : ""}`);
  const log = caseLogLink(c, tasks);
  parts.push(`log: ${log ? link(log) : "none"} (task ${c.task_id}, attempt ${c.attempt})`);
  return parts.join("\n");
}
