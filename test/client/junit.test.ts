import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import watch from "../../src/commands/watch.ts";
import { escapeXml, junitXml } from "../../src/client/junit.ts";
import type { JobCaseView } from "../../src/master/protocol.ts";
import { junitXmlParser } from "../../src/results/junit-xml.ts";
import { attemptOf, caseCountsOf, caseOf, summaryOf, taskOf } from "./fake-master.ts";
import { useClientWorld } from "./harness.ts";
import { findAll, parseXml } from "./xml-check.ts";

const world = useClientWorld();
const JOB = "ci.alice.1700000000.9";
const NASTY = `a<b>&"c"'d'\u0001\ud800 ]]> é`;

function job() {
  return {
    frames: [summaryOf(JOB, { total_tasks: 4, finished: 4, succeeded: 1, failed: 1, flaky: 1, canceled: 1, retries: 1 })],
    tasks: [
      taskOf("h.0", "passes", "succeeded", [attemptOf(0, "SUCCEEDED")]),
      taskOf("h.1", NASTY, "failed", [attemptOf(0, "FAILED", { exit_code: 3, stderr_link: "/api/v1/artifacts/x.stderr?a=1&b=2", message: "<boom>" })]),
      taskOf("h.2", "flaky", "flaky", [attemptOf(0, "TIMED_OUT", { exit_code: null, message: "timed out" }), attemptOf(1, "SUCCEEDED", { command_start_at: 0, command_end_at: 1250 })]),
      taskOf("h.3", "canceled", "canceled", [attemptOf(0, "CANCELED", { command_start_at: null, command_end_at: null, exit_code: null })]),
    ],
  };
}

test("--junit writes well-formed XML: a testsuite for the job, a testcase per group with failures, flaky notes and skips", async () => {
  const w = await world();
  w.master.addJob(JOB, job());
  const out = join(w.dir, "reports", "junit.xml");
  const r = await w.run(watch, ["--junit", out, JOB]);
  expect(r.code).toBe(88);
  const root = parseXml(readFileSync(out, "utf8"));
  expect(root.name).toBe("testsuites");
  const [suite] = findAll(root, "testsuite");
  expect(suite!.attrs).toMatchObject({ name: JOB, tests: "4", failures: "1", errors: "0", skipped: "1" });
  const cases = findAll(root, "testcase");
  expect(cases.map((c) => c.attrs.name)).toEqual(["passes", "a<b>&\"c\"'d'\ufffd\ufffd ]]> é", "flaky", "canceled"]);
  expect(cases.every((c) => c.attrs.classname === JOB)).toBe(true);
  expect(cases.map((c) => c.attrs.time)).toEqual(["2.500", "2.500", "1.250", "0.000"]);
  const [failure] = findAll(cases[1]!, "failure");
  expect(failure!.attrs.message).toBe("exit code 3");
  expect(failure!.text).toContain(`stderr: ${w.master.url}/api/v1/artifacts/x.stderr?a=1&b=2`);
  expect(failure!.text).toContain("<boom>");
  expect(findAll(cases[2]!, "failure")).toEqual([]);
  expect(findAll(cases[2]!, "system-out")[0]!.text).toContain("flaky: passed after 1 failed attempt(s)");
  expect(findAll(cases[3]!, "skipped")[0]!.attrs.message).toBe("canceled");
  expect(findAll(root, "failure")).toHaveLength(1);
});

test("escapeXml leaves nothing the strict reader rejects, and what XML cannot carry becomes U+FFFD", () => {
  const ascii = Array.from({ length: 0x80 }, (_, c) => String.fromCharCode(c)).join("");
  const text = `${ascii}\ud800\udc00\udfff\uffff`;
  const expected = `${ascii.replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/g, "\ufffd")}\ud800\udc00\ufffd\ufffd`;
  const root = parseXml(`<r a="${escapeXml(text)}">${escapeXml(text)}</r>`);
  expect(root.text).toBe(expected);
  expect(root.attrs.a).toBe(expected);
  expect(() => parseXml("<r>a & b</r>")).toThrow();
  expect(() => parseXml("<r><s></r></s>")).toThrow();
  expect(() => parseXml('<r a="1" a="2"/>')).toThrow();
});

test("a JUnit report of a job that passed has no failures", () => {
  const summary = summaryOf(JOB, { total_tasks: 1, finished: 1, succeeded: 1 });
  const root = parseXml(junitXml(summary, [taskOf("h.0", "t", "succeeded", [attemptOf(0, "SUCCEEDED")])], (l) => l));
  expect(findAll(root, "testsuite")[0]!.attrs).toMatchObject({ tests: "1", failures: "0", skipped: "0" });
});

/** A job of one gtest binary in two shards (one failed, one flaky), a script binary without cases, and hostile text in names and messages. */
function jobWithCases() {
  const cases: JobCaseView[] = [
    caseOf("gtest_unittest", "ExpectTest", "ExpectPrecedence", "failed", { duration_ms: 12, message: "Value of: 1 + 1\n  Actual: 2\n<script>alert(1)</script>", file: "gtest_unittest.cc", line: 42 }),
    caseOf("gtest_unittest", "Death", "Aborts", "crashed", { duration_ms: null, message: "the binary died" }),
    caseOf("gtest_unittest", "Net", "Retry", "flaky", { task_id: "h.1", attempt: 1, duration_ms: 3456, message: "timeout" }),
    caseOf("gtest_unittest", "Disk", "Full", "skipped", { message: "no disk" }),
    caseOf("gtest_unittest", `Ty/${NASTY}`, "Param/0", "passed", { duration_ms: 1.5 }),
    caseOf("other_binary", "pkg.FooTest", "bar", "passed", { task_id: "h.3" }),
  ];
  const shard0 = taskOf("h.0", "gtest_unittest.0", "failed", [attemptOf(0, "FAILED", { stdout_link: "/api/v1/artifacts/s0.stdout?a=1&b=2" })]);
  const shard1 = taskOf("h.1", "gtest_unittest.1", "flaky", [attemptOf(0, "FAILED"), attemptOf(1, "SUCCEEDED", { stdout_link: "/api/v1/artifacts/s1.stdout" })]);
  // A third shard that died before its first case: no failed case speaks for it, so it stays a testcase of its own.
  const shard2 = taskOf("h.2", "gtest_unittest.2", "failed", [attemptOf(0, "FAILED", { exit_code: 134 })]);
  const other = taskOf("h.3", "other_binary", "succeeded", [attemptOf(0, "SUCCEEDED")]);
  const script = taskOf("h.4", "lint.sh", "succeeded", [attemptOf(0, "SUCCEEDED")]);
  for (const t of [shard0, shard1, shard2]) t.binary = "gtest_unittest";
  other.binary = "other_binary";
  script.binary = "lint.sh";
  const tasks = [shard0, shard1, shard2, other, script];
  return { frames: [summaryOf(JOB, { total_tasks: 5, finished: 5, succeeded: 2, failed: 2, flaky: 1, retries: 1, cases: caseCountsOf(cases) })], tasks, cases };
}

test("--junit with cases: a testsuite per binary, a testcase per case (classname = suite), flakyFailure, skipped; tasks without cases as before", async () => {
  const w = await world();
  const script = jobWithCases();
  w.master.addJob(JOB, script);
  const out = join(w.dir, "junit.xml");
  const r = await w.run(watch, ["--junit", out, JOB]);
  expect(r.code).toBe(88);
  const xml = readFileSync(out, "utf8");
  const root = parseXml(xml);
  const suites = findAll(root, "testsuite");
  expect(suites.map((s) => s.attrs.name)).toEqual(["gtest_unittest", "other_binary", JOB]);
  expect(suites[0]!.attrs).toMatchObject({ tests: "5", failures: "2", skipped: "1", time: "3.482" });
  expect(root.attrs).toMatchObject({ tests: "8", failures: "3", skipped: "1" });
  const [precedence, aborts, retry, full, param] = findAll(suites[0]!, "testcase");
  expect(precedence!.attrs).toEqual({ name: "ExpectPrecedence", classname: "ExpectTest", time: "0.012" });
  const failure = findAll(precedence!, "failure")[0]!;
  expect(failure.attrs).toEqual({ message: "Value of: 1 + 1", type: "failed" });
  expect(failure.text).toContain("<script>alert(1)</script>");
  expect(failure.text).toContain("at gtest_unittest.cc:42");
  expect(failure.text).toContain(`log: ${w.master.url}/api/v1/artifacts/s0.stdout?a=1&b=2 (task h.0, attempt 0)`);
  expect(findAll(aborts!, "failure")[0]!.attrs.type).toBe("crashed");
  expect(findAll(retry!, "failure")).toEqual([]);
  expect(findAll(retry!, "flakyFailure")[0]!.attrs.message).toBe("timeout");
  expect(findAll(findAll(retry!, "flakyFailure")[0]!, "stackTrace")[0]!.text).toContain(`log: ${w.master.url}/api/v1/artifacts/s1.stdout`);
  expect(findAll(full!, "skipped")[0]!.attrs.message).toBe("no disk");
  expect(param!.attrs.classname).toBe("Ty/a<b>&\"c\"'d'\ufffd\ufffd ]]> é");
  // The dead shard and the script, one testcase each, as before cases.
  expect(findAll(suites[2]!, "testcase").map((c) => c.attrs.name)).toEqual(["gtest_unittest.2", "lint.sh"]);
  expect(findAll(findAll(suites[2]!, "testcase")[0]!, "failure")[0]!.attrs.message).toBe("exit code 134");
});

test("the JUnit file with cases reads back through dt's own JUnit parser, Python's ElementTree and xmllint, every case with its identity and status", async () => {
  const w = await world();
  const script = jobWithCases();
  w.master.addJob(JOB, script);
  const out = join(w.dir, "junit.xml");
  await w.run(watch, ["--junit", out, JOB]);

  // dt's parser (the one slaves run on a runner's report): the statuses JUnit can say, flaky as a pass after a flakyFailure.
  const outcome = await junitXmlParser.parse(out);
  expect(outcome.notes).toEqual([]);
  const expected = script.cases.map((c) => ({ suite: c.suite, name: c.name, status: c.status === "crashed" ? "failed" : c.status === "flaky" ? "passed" : c.status, flaky: c.status === "flaky" ? 1 : 0 }));
  const read = outcome.cases.filter((c) => c.suite !== JOB).map((c) => ({ suite: c.suite, name: c.name, status: c.status, flaky: c.flakyFailures ?? 0 }));
  expect(read).toEqual(expected.map((e) => ({ ...e, suite: e.suite.replace(/[\u0001]|\ud800/g, "\ufffd") })));
  expect(outcome.cases.find((c) => c.name === "ExpectPrecedence")!.durationMs).toBe(12);

  // A second consumer: Python's ElementTree, as many CI report plugins are.
  const py = Bun.spawnSync(["python3", "-c", `
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
for suite in root.iter("testsuite"):
    for case in suite.iter("testcase"):
        status = "failed" if case.find("failure") is not None else "skipped" if case.find("skipped") is not None else "flaky" if case.find("flakyFailure") is not None else "passed"
        print(suite.get("name"), case.get("classname"), case.get("name"), status, case.get("time"), sep="\\t")
`, out]);
  expect(py.stderr.toString()).toBe("");
  const rows = py.stdout.toString().trimEnd().split("\n").map((l) => l.split("\t"));
  const caseRows = rows.filter((r) => r[0] !== JOB);
  expect(caseRows.map((r) => r.slice(0, 4))).toEqual(script.cases.map((c) => [c.binary, c.suite.replace(/[\u0001]|\ud800/g, "\ufffd"), c.name, c.status === "crashed" ? "failed" : c.status]));
  expect(rows.filter((r) => r[0] === JOB).map((r) => [r[2], r[3]])).toEqual([["gtest_unittest.2", "failed"], ["lint.sh", "passed"]]);

  const lint = Bun.spawnSync(["xmllint", "--noout", out]);
  expect(lint.stderr.toString()).toBe("");
  expect(lint.exitCode).toBe(0);
});

test("--junit reads every case, page after page", async () => {
  const w = await world();
  const cases = Array.from({ length: 10_500 }, (_, i) => caseOf("bin", "S", `c${i}`, i === 10_400 ? "failed" : "passed"));
  const task = taskOf("h.0", "bin", "failed", [attemptOf(0, "FAILED")]);
  w.master.addJob(JOB, { frames: [summaryOf(JOB, { total_tasks: 1, finished: 1, failed: 1, cases: caseCountsOf(cases) })], tasks: [task], cases });
  const out = join(w.dir, "junit.xml");
  await w.run(watch, ["--junit", out, JOB]);
  const root = parseXml(readFileSync(out, "utf8"));
  expect(findAll(root, "testcase")).toHaveLength(10_500);
  expect(findAll(root, "failure")).toHaveLength(1);
  expect(w.master.requests.filter((q) => q.path.includes("status=all")).length).toBe(2);
});
