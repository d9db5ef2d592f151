import { expect, test } from "bun:test";
import watch from "../../src/commands/watch.ts";
import type { JobCaseView } from "../../src/master/protocol.ts";
import { attemptOf, caseCountsOf, caseOf, summaryOf, taskOf } from "./fake-master.ts";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { firstLine } from "../../src/client/cases.ts";
import { useClientWorld } from "./harness.ts";
import { findAll, parseXml } from "./xml-check.ts";

const world = useClientWorld();
const JOB = "ci.alice.1700000000.13";

/** A job of two shards of one gtest binary: shard 0 failed (two failed cases and a crash), shard 1 passed after a failed attempt (a flaky case). */
function gtestJob(cases: JobCaseView[]) {
  const failed = taskOf("h.0", "gtest_unittest.0", "failed", [attemptOf(0, "FAILED", { stdout_link: "/api/v1/artifacts/s0.stdout" })]);
  const flaky = taskOf("h.1", "gtest_unittest.1", "flaky", [
    attemptOf(0, "FAILED", { stdout_link: "/api/v1/artifacts/s1a0.stdout" }),
    attemptOf(1, "SUCCEEDED", { stdout_link: "/api/v1/artifacts/s1a1.stdout" }),
  ]);
  for (const t of [failed, flaky]) t.binary = "gtest_unittest";
  return {
    frames: [summaryOf(JOB, { total_tasks: 2, finished: 2, failed: 1, flaky: 1, retries: 1, cases: caseCountsOf(cases) })],
    tasks: [failed, flaky],
    cases,
  };
}

function manyCases(): JobCaseView[] {
  const cases: JobCaseView[] = [
    caseOf("gtest_unittest", "ExpectTest", "ExpectPrecedence", "failed", { message: "\nValue of: 1 + 1\n  Actual: 2\nExpected: 3", file: "gtest_unittest.cc", line: 42 }),
    caseOf("gtest_unittest", "Death", "Aborts", "crashed", { duration_ms: null, message: "the binary died while it ran" }),
    caseOf("gtest_unittest", "Net", "Retry", "flaky", { task_id: "h.1", attempt: 1, duration_ms: 3456, message: "timeout\nafter 3 s" }),
    caseOf("gtest_unittest", "Disk", "Full", "skipped", { message: "no disk" }),
  ];
  for (let i = 0; i < 1_090; i++) cases.push(caseOf("gtest_unittest", "Many", `Case${i}`, "passed", { task_id: i % 2 === 0 ? "h.0" : "h.1" }));
  return cases;
}

test("the final report names each failed case with its first message line and log, then the flaky ones, then the case counts", async () => {
  const w = await world();
  w.master.addJob(JOB, gtestJob(manyCases()));
  const r = await w.run(watch, [JOB]);
  expect(r.code).toBe(88);
  const out = r.stdout;
  // The task lines are there as before; the cases follow them.
  expect(out).toContain("FAILED gtest_unittest.0 (task h.0, 1 attempt)");
  const tail = out.slice(out.indexOf("FAILED  gtest_unittest › ")).trimEnd().split("\n");
  expect(tail).toEqual([
    "FAILED  gtest_unittest › ExpectTest.ExpectPrecedence  12 ms  Value of: 1 + 1",
    `  log: ${w.master.url}/api/v1/artifacts/s0.stdout`,
    "CRASHED gtest_unittest › Death.Aborts  the binary died while it ran",
    `  log: ${w.master.url}/api/v1/artifacts/s0.stdout`,
    "FLAKY   gtest_unittest › Net.Retry  3.5 s  timeout",
    `  log: ${w.master.url}/api/v1/artifacts/s1a1.stdout`,
    "1,094 cases: 1,090 passed, 2 failed, 1 flaky, 1 skipped",
  ]);
  // Bounded reads: one page of failed and one of flaky cases, never the whole job.
  const reads = w.master.requests.filter((q) => q.path.includes("/cases"));
  expect(reads.map((q) => new URL(q.path, w.master.url).searchParams.get("status"))).toEqual(["failed", "flaky"]);
  expect(reads.every((q) => new URL(q.path, w.master.url).searchParams.get("limit") === "50")).toBe(true);
});

test("past 50 failed cases the report says how many more and where to read them", async () => {
  const w = await world();
  const cases = Array.from({ length: 60 }, (_, i) => caseOf("bin", "S", `F${i}`, "failed", { message: `boom ${i}` }));
  w.master.addJob(JOB, gtestJob(cases));
  const r = await w.run(watch, [JOB]);
  const failedLines = r.stdout.split("\n").filter((l) => l.startsWith("FAILED  bin › "));
  expect(failedLines).toHaveLength(50);
  expect(failedLines[49]).toBe("FAILED  bin › S.F49  12 ms  boom 49");
  expect(r.stdout).toContain(`and 10 more failed cases: ${w.master.url}/api/v1/jobs/${JOB}/cases?status=failed\n60 cases: 0 passed, 60 failed\n`);
});

test("hostile case names and messages are printed without terminal control characters", async () => {
  const w = await world();
  const cases = [caseOf("bin", "S\u001b[2J", "x\u0007", "failed", { message: "\u001b]0;pwned\u0007evil\nmore" })];
  w.master.addJob(JOB, gtestJob(cases));
  const r = await w.run(watch, [JOB]);
  expect(r.stdout).not.toContain("\u001b");
  expect(r.stdout).not.toContain("\u0007");
  expect(r.stdout).toMatch(/FAILED {2}bin › S.*\[2J\.x.* {2}12 ms {2}.*evil\n/);
});

test("a job whose tasks reported no cases, or a master without the cases API, is reported as before", async () => {
  const w = await world();
  const before = gtestJob([]);
  const plain = { frames: [summaryOf(JOB, { total_tasks: 2, finished: 2, failed: 1, flaky: 1, retries: 1 })], tasks: before.tasks };
  w.master.addJob(JOB, plain);
  const baseline = await w.run(watch, [JOB]);
  expect(baseline.stdout).toContain("FAILED gtest_unittest.0 (task h.0, 1 attempt)");

  // Counts of zero cases: no case lines, and the cases route is not asked.
  const zero = "ci.alice.1700000000.14";
  w.master.addJob(zero, { ...plain, frames: [summaryOf(zero, { total_tasks: 2, finished: 2, failed: 1, flaky: 1, retries: 1, cases: caseCountsOf([]) })] });
  const r0 = await w.run(watch, [zero]);
  expect(r0.stdout.replaceAll(zero, JOB)).toBe(baseline.stdout);
  expect(w.master.requests.some((q) => q.path.includes("/cases"))).toBe(false);

  // Counts that say cases, but the route is a 404 (no `cases` in the script): the task report alone, same exit code.
  const gone = "ci.alice.1700000000.15";
  w.master.addJob(gone, { ...plain, frames: [summaryOf(gone, { total_tasks: 2, finished: 2, failed: 1, flaky: 1, retries: 1, cases: { total: 3, passed: 2, failed: 1, flaky: 0, skipped: 0 } })] });
  const junit = join(w.dir, "junit.xml");
  const r404 = await w.run(watch, ["--junit", junit, gone]);
  expect(r404.code).toBe(baseline.code);
  expect(r404.stdout.replaceAll(gone, JOB)).toBe(baseline.stdout);
  // The JUnit file lists the tasks, as before cases, and a warning says why.
  expect(findAll(parseXml(readFileSync(junit, "utf8")), "testcase").map((c) => c.attrs.name)).toEqual(["gtest_unittest.0", "gtest_unittest.1"]);
  expect(r404.stderr).toContain(`the JUnit report lists tasks, not test cases: reading the cases of job ${gone} failed`);
  expect(w.master.requests.some((q) => q.path.includes(`/jobs/${gone}/cases`))).toBe(true);
});

test("a passing job with cases ends with its case counts only", async () => {
  const w = await world();
  const cases = [caseOf("bin", "S", "a", "passed"), caseOf("bin", "S", "b", "skipped")];
  const task = taskOf("h.0", "bin", "succeeded", [attemptOf(0, "SUCCEEDED")]);
  w.master.addJob(JOB, { frames: [summaryOf(JOB, { total_tasks: 1, finished: 1, succeeded: 1, cases: caseCountsOf(cases) })], tasks: [task], cases });
  const r = await w.run(watch, [JOB]);
  expect(r.code).toBe(0);
  expect(r.stdout.trimEnd().split("\n").at(-1)).toBe("2 cases: 1 passed, 0 failed, 1 skipped");
  expect(r.stdout).not.toContain("FAILED");
});

test("a case's first line skips gtest's place line when more follows, and is bounded", () => {
  expect(firstLine("/src/foo_test.cc:41: Failure\nExpected equality of these values:\n  1")).toBe("Expected equality of these values:");
  expect(firstLine("unknown file: Failure\nC++ exception thrown")).toBe("C++ exception thrown");
  expect(firstLine("foo_test.cc:41: Failure")).toBe("foo_test.cc:41: Failure");
  expect(firstLine("\n\n  Value of: x  \nActual: 2")).toBe("Value of: x");
  expect(firstLine(null)).toBe("");
  expect(firstLine("y".repeat(500))).toBe(`${"y".repeat(200)}…`);
});
