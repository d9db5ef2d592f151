import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import watch from "../../src/commands/watch.ts";
import { escapeXml, junitXml } from "../../src/client/junit.ts";
import { attemptOf, summaryOf, taskOf } from "./fake-master.ts";
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
