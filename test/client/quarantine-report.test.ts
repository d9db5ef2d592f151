/**
 * The client's report of quarantined failures against a fake master: exit
 * 0 when every failure is quarantined, the `quarantined failures:` block
 * apart from the failures with each reason, and JUnit's skipped testcase
 * with the failure kept in system-out; a hostile reason stays text.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import watch from "../../src/commands/watch.ts";
import { junitXml } from "../../src/client/junit.ts";
import type { JobCaseView } from "../../src/master/protocol.ts";
import { attemptOf, caseCountsOf, caseOf, summaryOf, taskOf } from "./fake-master.ts";
import { useClientWorld } from "./harness.ts";
import { findAll, parseXml } from "./xml-check.ts";

const world = useClientWorld();
const JOB = "ci.alice.1700000000.21";
const HOSTILE = `<b>bug</b> & "x"\u001b[31m`;

function job(extraFailure: boolean) {
  const q = { id: 7, reason: HOSTILE, until: Date.UTC(2030, 0, 1) };
  const cases: JobCaseView[] = [
    caseOf("math_test", "MathTest", "Adds", "passed"),
    caseOf("math_test", "MathTest", "FailsOnPurpose", "failed", { message: "math.cc:12: Failure\narithmetic is not negotiable", file: "math.cc", line: 12, quarantined: q }),
  ];
  if (extraFailure) cases.push(caseOf("math_test", "MathTest", "Real", "failed", { message: "real failure" }));
  const task = taskOf("h.0", "math_test", extraFailure ? "failed" : "quarantined", [attemptOf(0, "FAILED", { stdout_link: "/api/v1/artifacts/m.stdout", quarantined: !extraFailure })]);
  task.binary = "math_test";
  return {
    frames: [summaryOf(JOB, { total_tasks: 1, finished: 1, failed: extraFailure ? 1 : 0, quarantined: extraFailure ? 0 : 1, cases: caseCountsOf(cases) })],
    tasks: [task],
    cases,
  };
}

test("every failure quarantined: exit 0; the report lists them under 'quarantined failures:' with the reason; JUnit skips them, keeping the failure", async () => {
  const w = await world();
  w.master.addJob(JOB, job(false));
  const junit = join(w.dir, "junit.xml");
  const r = await w.run(watch, ["--junit", junit, JOB]);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout).toContain(`Job ${JOB}: 1 of 1 tasks passed (1 quarantined); 0 failed`);
  expect(r.stdout).toContain("QUARANTINED math_test (task h.0, 1 attempt)");
  const tail = r.stdout.slice(r.stdout.indexOf("quarantined failures:")).trimEnd().split("\n");
  expect(tail).toEqual([
    "quarantined failures:",
    "QUARANTINED FAILED math_test › MathTest.FailsOnPurpose  12 ms  arithmetic is not negotiable",
    `  reason: <b>bug</b> & "x"\\x1b[31m (entry 7, until 2030-01-01T00:00:00.000Z)`,
    `  log: ${w.master.url}/api/v1/artifacts/m.stdout`,
    "2 cases: 1 passed, 1 failed (1 of them quarantined)",
  ]);
  const root = parseXml(readFileSync(junit, "utf8"));
  const testcase = findAll(root, "testcase").find((c) => c.attrs.name === "FailsOnPurpose")!;
  expect(findAll(testcase, "failure")).toEqual([]);
  expect(findAll(testcase, "skipped").map((s) => s.attrs.message)).toEqual([`quarantined: <b>bug</b> & "x"\ufffd[31m`]);
  const out = findAll(testcase, "system-out")[0]!;
  expect(out.text).toContain("arithmetic is not negotiable");
  expect(out.text).toContain("quarantined, entry 7");
  const [suite] = findAll(root, "testsuite");
  expect(suite!.attrs).toMatchObject({ failures: "0", skipped: "1" });
});

test("a failure beside the quarantined one: exit 88; the failure is listed as FAILED, the quarantined one apart", async () => {
  const w = await world();
  w.master.addJob(JOB, job(true));
  const r = await w.run(watch, [JOB]);
  expect(r.code).toBe(88);
  expect(r.stdout).toMatch(/^FAILED  math_test › MathTest\.Real {2}12 ms {2}real failure$/m);
  expect(r.stdout).not.toMatch(/^FAILED  math_test › MathTest\.FailsOnPurpose/m);
  expect(r.stdout).toMatch(/quarantined failures:\nQUARANTINED FAILED math_test › MathTest\.FailsOnPurpose/);
});

test("JUnit: a failed task whose only failed case is quarantined (its retry failed without a failing case) stays a failure; hostile failure text stays well-formed", async () => {
  const nasty = `]]><x>\u0000\u0007 & "q" \ud800 ]]>`;
  const cases: JobCaseView[] = [
    caseOf("math_test", "MathTest", "Quarantined", "failed", { message: nasty, quarantined: { id: 3, reason: `reason ]]> ${nasty}`, until: null } }),
    // Its retry ran this case alone, which passed, but the attempt still failed (a leak checker's exit): no failed case to blame.
    caseOf("math_test", "MathTest", "Other", "flaky", { attempt: 1, runs: 2 }),
  ];
  const task = taskOf("h.0", "math_test", "failed", [attemptOf(0, "FAILED"), attemptOf(1, "FAILED", { message: "exited 1 with every one of its 1 cases passed" })]);
  task.binary = "math_test";
  const xml = junitXml(summaryOf(JOB, { total_tasks: 1, finished: 1, failed: 1, cases: caseCountsOf(cases) }), [task], (l) => l, cases);
  const root = parseXml(xml);
  const [all] = findAll(root, "testsuites");
  expect(Number(all!.attrs.failures)).toBe(1);
  const failedTask = findAll(root, "testcase").find((c) => c.attrs.name === "math_test")!;
  expect(findAll(failedTask, "failure").length).toBe(1);
  const quarantined = findAll(root, "testcase").find((c) => c.attrs.name === "Quarantined")!;
  expect(findAll(quarantined, "skipped")[0]!.attrs.message).toStartWith("quarantined: reason ]]> ]]><x>\ufffd\ufffd & \"q\" \ufffd ]]>");
  expect(findAll(quarantined, "system-out")[0]!.text).toContain("]]><x>\ufffd\ufffd & \"q\"");
});
