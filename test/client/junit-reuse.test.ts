/**
 * JUnit of a job that reused results (docs/reuse.md): a testcase whose
 * result was taken from another run has, as its first child, a
 * `properties` with `dt.reused_from` = JOB/TASK/ATTEMPT (per case, and per
 * task for tasks without cases); every other testcase is written as before.
 * The file is read back by dt's JUnit parser, Python's ElementTree and
 * xmllint; an origin job id holding markup and quotes comes out escaped.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import watch from "../../src/commands/watch.ts";
import { junitXml } from "../../src/client/junit.ts";
import type { JobCaseView, ReusedFromView } from "../../src/master/protocol.ts";
import { junitXmlParser } from "../../src/results/junit-xml.ts";
import { attemptOf, caseCountsOf, caseOf, summaryOf, taskOf } from "./fake-master.ts";
import { useClientWorld } from "./harness.ts";
import { type XmlElement, findAll, parseXml } from "./xml-check.ts";

const world = useClientWorld();
const JOB = "ci.alice.1700000000.9";
const ORIGIN = "ci.alice.1690000000.1";
/** No job id the API takes looks like this; the report must not trust that none does. */
const HOSTILE = `evil"'<script>alert(1)</script>&`;

const from = (jobId: string, taskId: string, inFlight = false): ReusedFromView => ({ job_id: jobId, task_id: taskId, attempt: 0, saved_ms: 2_500, in_flight: inFlight, url: `http://m/job?job_id=${encodeURIComponent(jobId)}` });

/** The property values of a testcase's first child, which must be its properties. */
function reusedFrom(testcase: XmlElement): string | undefined {
  const first = testcase.children[0];
  if (first?.name !== "properties") {
    expect(findAll(testcase, "properties")).toEqual([]);
    return undefined;
  }
  expect(first.children.map((p) => p.attrs.name)).toEqual(["dt.reused_from"]);
  return first.children[0]!.attrs.value;
}

/** xmllint, a validator that is not dt's own parser, finds the file well-formed. */
function xmllint(path: string): void {
  const lint = Bun.spawnSync(["xmllint", "--noout", path]);
  expect(lint.stderr.toString()).toBe("");
  expect(lint.exitCode).toBe(0);
}

test("without cases: a reused task's testcase names the run it took, first; the rest are as before reuse", async () => {
  const w = await world();
  const tasks = [
    taskOf("h.0", "reused", "succeeded", [attemptOf(0, "SUCCEEDED", { slave: null, reused_from: from(ORIGIN, "o.0") })]),
    taskOf("h.1", "from a hostile job", "succeeded", [attemptOf(0, "SUCCEEDED", { reused_from: from(HOSTILE, "o.1", true) })]),
    taskOf("h.2", "ran", "succeeded", [attemptOf(0, "SUCCEEDED")]),
    taskOf("h.3", "failed", "failed", [attemptOf(0, "FAILED", { exit_code: 2 })]),
  ];
  w.master.addJob(JOB, { frames: [summaryOf(JOB, { total_tasks: 4, finished: 4, succeeded: 3, failed: 1, reused: 2, coalesced: 1, saved_ms: 5_000 })], tasks });
  const out = join(w.dir, "junit.xml");
  const r = await w.run(watch, ["--junit", out, JOB]);
  expect(r.code).toBe(88);
  const xml = readFileSync(out, "utf8");
  const cases = findAll(parseXml(xml), "testcase");
  expect(cases.map((c) => [c.attrs.name, reusedFrom(c)])).toEqual([
    ["reused", `${ORIGIN}/o.0/0`],
    ["from a hostile job", `${HOSTILE}/o.1/0`],
    ["ran", undefined],
    ["failed", undefined],
  ]);
  expect(xml).toContain(`    <testcase name="reused" classname="${JOB}" time="2.500">\n      <properties><property name="dt.reused_from" value="${ORIGIN}/o.0/0"/></properties>\n    </testcase>\n`);
  expect(xml).toContain(`value="evil&quot;&apos;&lt;script&gt;alert(1)&lt;/script&gt;&amp;/o.1/0"`);
  expect(xml).not.toContain("<script>");
  // A passed task that ran is the self-closed testcase it always was.
  expect(xml).toContain(`    <testcase name="ran" classname="${JOB}" time="2.500"/>\n`);
  xmllint(out);
  expect(r.stdout).toContain("4 tasks: 2 reused (1 from runs in flight), 2 ran; reuse saved 5s of runs\n");
});

test("a job without reuse writes the same JUnit as before: no properties anywhere", () => {
  const summary = summaryOf(JOB, { total_tasks: 2, finished: 2, succeeded: 1, failed: 1 });
  const xml = junitXml(summary, [taskOf("h.0", "t", "succeeded", [attemptOf(0, "SUCCEEDED")]), taskOf("h.1", "u", "failed", [attemptOf(0, "FAILED")])], (l) => l, [
    caseOf("bin", "S", "a", "passed"),
    caseOf("bin", "S", "b", "failed", { task_id: "h.1", message: "boom" }),
  ]);
  expect(xml).not.toContain("properties");
  expect(xml).toContain('    <testcase name="a" classname="S" time="0.012"/>\n');
  expect(xml).toContain('    <testcase name="b" classname="S" time="0.012">\n      <failure message="boom" type="failed">');
});

/** A job with a reused shard (its cases linked from the original run) and a shard that ran. */
function jobWithReusedCases() {
  const origin = { job_id: ORIGIN, task_id: "o.0", attempt: 0 };
  const hostile = { job_id: HOSTILE, task_id: "o.1", attempt: 0 };
  const cases: JobCaseView[] = [
    caseOf("gtest_unittest", "Reused", "Passes", "passed", { reused_from: origin }),
    caseOf("gtest_unittest", "Reused", "Wobbles", "flaky", { reused_from: origin, message: "failed once" }),
    caseOf("gtest_unittest", "Reused", "Skips", "skipped", { reused_from: hostile, task_id: "h.1", message: "not here" }),
    caseOf("gtest_unittest", "Ran", "Fails", "failed", { task_id: "h.2", message: "boom" }),
    caseOf("gtest_unittest", "Ran", "Passes", "passed", { task_id: "h.2" }),
  ];
  const tasks = [
    taskOf("h.0", "gtest_unittest.0", "succeeded", [attemptOf(0, "SUCCEEDED", { reused_from: from(ORIGIN, "o.0") })]),
    taskOf("h.1", "gtest_unittest.1", "succeeded", [attemptOf(0, "SUCCEEDED", { reused_from: from(HOSTILE, "o.1") })]),
    taskOf("h.2", "gtest_unittest.2", "failed", [attemptOf(0, "FAILED")]),
  ];
  for (const t of tasks) t.binary = "gtest_unittest";
  return { frames: [summaryOf(JOB, { total_tasks: 3, finished: 3, succeeded: 2, failed: 1, reused: 2, saved_ms: 5_000, cases: caseCountsOf(cases) })], tasks, cases };
}

test("with cases: each reused case names the original run before its other children; cases that ran have none", async () => {
  const w = await world();
  const script = jobWithReusedCases();
  w.master.addJob(JOB, script);
  const out = join(w.dir, "junit.xml");
  expect((await w.run(watch, ["--junit", out, JOB])).code).toBe(88);
  const xml = readFileSync(out, "utf8");
  const cases = findAll(parseXml(xml), "testcase");
  expect(cases.map((c) => [c.attrs.classname, c.attrs.name, reusedFrom(c), c.children.map((k) => k.name)])).toEqual([
    ["Reused", "Passes", `${ORIGIN}/o.0/0`, ["properties"]],
    ["Reused", "Wobbles", `${ORIGIN}/o.0/0`, ["properties", "flakyFailure"]],
    ["Reused", "Skips", `${HOSTILE}/o.1/0`, ["properties", "skipped"]],
    ["Ran", "Fails", undefined, ["failure"]],
    ["Ran", "Passes", undefined, []],
  ]);
  expect(xml).not.toContain("<script>");
  xmllint(out);

  // dt's own parser reads every case as before: the properties change no status.
  const outcome = await junitXmlParser.parse(out);
  expect(outcome.notes).toEqual([]);
  expect(outcome.cases.map((c) => [c.suite, c.name, c.status])).toEqual([
    ["Reused", "Passes", "passed"],
    ["Reused", "Wobbles", "passed"],
    ["Reused", "Skips", "skipped"],
    ["Ran", "Fails", "failed"],
    ["Ran", "Passes", "passed"],
  ]);

  // Python's ElementTree, as many CI report plugins are, finds the property where pytest's record_property puts it.
  const py = Bun.spawnSync(["python3", "-c", `
import sys, xml.etree.ElementTree as ET
for case in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    prop = case.find("properties/property[@name='dt.reused_from']")
    print(case.get("classname"), case.get("name"), "" if prop is None else prop.get("value"), sep="\\t")
`, out]);
  expect(py.stderr.toString()).toBe("");
  expect(py.stdout.toString().replace(/\n$/, "").split("\n").map((l) => l.split("\t"))).toEqual([
    ["Reused", "Passes", `${ORIGIN}/o.0/0`],
    ["Reused", "Wobbles", `${ORIGIN}/o.0/0`],
    ["Reused", "Skips", `${HOSTILE}/o.1/0`],
    ["Ran", "Fails", ""],
    ["Ran", "Passes", ""],
  ]);
});
