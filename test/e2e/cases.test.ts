/**
 * Test cases on real processes: `dt master`, a `dt slave` and `dt submit`.
 * The slave reads each attempt's cases (a gtest XML report in the outputs,
 * gtest's stdout) and reports them with its result; the master stores them
 * (GET jobs/:id/cases, the job's case counts) and keeps the attempt's
 * message, which says what the cases add to the exit code. No attempt may
 * become an infrastructure failure over its cases.
 */
import { expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EXIT } from "../../src/commands/exit-codes.ts";
import type { JobCasesPage } from "../../src/master/protocol.ts";
import { gtestXmlParser } from "../../src/results/junit-xml.ts";
import { shellScript } from "../helpers/tree.ts";
import { E2E_TEST_TIMEOUT_MS, taskNamed, useCluster } from "./cluster.ts";

const setup = useCluster("dt-e2e-cases-");
const GTEST_XML = readFileSync(join(import.meta.dir, "../fixtures/results/gtest/full.xml"), "utf8");

const SUITE = {
  "full.xml": GTEST_XML,
  "xml.sh": shellScript('cp full.xml "$ISOLATED_OUTDIR/gtest.xml"\nexit 1'),
  "passed.sh": shellScript("echo '[ RUN      ] A.one'\necho '[       OK ] A.one (1 ms)'\necho '[ RUN      ] A.two'\necho '[       OK ] A.two (2 ms)'\nexit 2"),
  "crash.sh": shellScript("echo '[ RUN      ] Crash.Aborts'\nkill -ABRT $$"),
  "garbage.sh": shellScript(`printf '<testsuites><testsuite name="S"><testcase classname="S" name="ok"/><testcase name="x" <<&&' > "$ISOLATED_OUTDIR/TEST-g.xml"`),
};

test("a slave reports cases to a real master: the reports are taken, the messages say what the cases add, nothing is an infrastructure failure", async () => {
  const c = await setup();
  await c.startMaster();
  await c.startSlave("s1", 2);
  const tasks = [
    { isolate_hash: await c.archive(SUITE, ["./xml.sh"]), description: "gtest_xml" },
    { isolate_hash: await c.archive(SUITE, ["./passed.sh"]), description: "all_passed" },
    { isolate_hash: await c.archive(SUITE, ["./crash.sh"]), description: "crash" },
    { isolate_hash: await c.archive(SUITE, ["./garbage.sh"]), description: "garbage", result_globs: ["TEST-*.xml"] },
  ];
  writeFileSync(join(c.dir, "tasks.json"), JSON.stringify({ tasks }));
  const submitted = await c.dt(["submit", "tasks.json", "--poll-interval", "0.2"]);
  // Three tasks fail by their exit code: dist_test's 88.
  expect(submitted.exitCode, submitted.stderr).toBe(EXIT.testsFailed);
  const jobId = readFileSync(join(c.env.HOME!, ".dist-test-last-job"), "utf8");
  const views = await c.api.tasks(jobId);
  const only = (description: string) => {
    const attempts = taskNamed(views, description).attempts;
    expect(attempts).toHaveLength(1);
    return attempts[0]!;
  };
  expect(only("gtest_xml")).toMatchObject({ state: "FAILED", exit_code: 1, message: null });
  expect(only("all_passed")).toMatchObject({ state: "FAILED", exit_code: 2, message: "exited 2 with every one of its 2 cases passed" });
  expect(only("crash")).toMatchObject({ state: "FAILED", exit_code: 134, message: "killed by SIGABRT; crashed in Crash.Aborts" });
  const garbage = only("garbage");
  expect(garbage.state).toBe("SUCCEEDED");
  expect(garbage.message).toStartWith("results: TEST-g.xml: ");
  // Stored per case by the master: the XML's cases, the stdout ones, the crashed one, and the one case read from the garbage file.
  const xmlCases = (await gtestXmlParser.parse(join(import.meta.dir, "../fixtures/results/gtest/full.xml"))).cases;
  const page = await c.api.get<JobCasesPage>(`/api/v1/jobs/${jobId}/cases?status=all&limit=1000`);
  const key = (binary: string, suite: string, name: string) => `${binary} ${suite}.${name}`;
  const stored = new Map(page.cases.map((v) => [key(v.binary, v.suite, v.name), v.status]));
  expect(stored.size).toBe(xmlCases.length + 2 + 1 + 1);
  for (const x of xmlCases) expect(stored.get(key("gtest_xml", x.suite, x.name))).toBe(x.status === "crashed" ? "failed" : x.status);
  expect([stored.get(key("all_passed", "A", "one")), stored.get(key("all_passed", "A", "two")), stored.get(key("crash", "Crash", "Aborts")), stored.get(key("garbage", "S", "ok"))]).toEqual(["passed", "passed", "crashed", "passed"]);
  expect((await c.api.job(jobId)).counts.cases?.total).toBe(stored.size);
  const slave = await c.api.get<{ state: string; infra_failures: unknown[]; hold: unknown }>("/api/v1/slaves/s1");
  expect(slave).toMatchObject({ infra_failures: [], hold: null });
}, E2E_TEST_TIMEOUT_MS);
