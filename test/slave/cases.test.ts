/**
 * A slave reads each attempt's test cases (result files in ISOLATED_OUTDIR
 * by the lease's result_globs, and gtest's stdout) and reports them with the
 * result: real commands, a real slave and the fake master capturing the
 * report. The cases never change the state the exit code gives, and trouble
 * reading them is a note.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gtestXmlParser } from "../../src/results/junit-xml.ts";
import { toWireCase } from "../../src/results/to-wire.ts";
import { shellScript } from "../helpers/tree.ts";
import { resultOf, useSlaveSetup } from "./harness.ts";

const setup = useSlaveSetup();
const TEST_TIMEOUT_MS = 30_000;
const FIXTURES = join(import.meta.dir, "../fixtures/results/gtest");
const GTEST_XML = readFileSync(join(FIXTURES, "full.xml"), "utf8");

/** gtest's console lines for `cases` ([name, "OK" | "FAILED"]), as a shell script's printf lines. */
const gtestLines = (cases: [string, "OK" | "FAILED"][]) =>
  cases.map(([name, end]) => `echo '[ RUN      ] ${name}'\n${end === "FAILED" ? `echo 'x.cc:7: Failure'\n` : ""}echo '[${end === "OK" ? "       OK " : "  FAILED  "}] ${name} (3 ms)'`).join("\n");

describe("dt slave reports the attempt's test cases", () => {
  test("from a gtest XML report in ISOLATED_OUTDIR: every case of the real file, with the format; the exit code keeps deciding", async () => {
    const s = await setup();
    const hash = await s.archive({ "full.xml": GTEST_XML, "t.sh": shellScript('cp full.xml "$ISOLATED_OUTDIR/gtest.xml"\nexit 1') }, { command: ["./t.sh"] });
    const [lease] = s.master.push({ isolate_hash: hash });
    s.startSlave();
    const report = await resultOf(s.master, lease!.lease_id);
    const expected = (await gtestXmlParser.parse(join(FIXTURES, "full.xml"))).cases.map(toWireCase);
    expect(expected.length).toBeGreaterThan(10);
    expect(report).toMatchObject({ state: "FAILED", exit_code: 1, message: null, result_format: "gtest-xml" });
    expect(report.cases).toEqual(expected);
    expect(report.result_notes).toBeUndefined();
  }, TEST_TIMEOUT_MS);

  test("from gtest's stdout alone, and only the files result_globs names: an XML report elsewhere in the outputs is an output like another", async () => {
    const s = await setup();
    const script = `mkdir -p "$ISOLATED_OUTDIR/other"\ncp full.xml "$ISOLATED_OUTDIR/other/gtest.xml"\n${gtestLines([["Math.Adds", "OK"], ["Math.Fails", "FAILED"]])}\nexit 1`;
    const hash = await s.archive({ "full.xml": GTEST_XML, "t.sh": shellScript(script) }, { command: ["./t.sh"] });
    const [lease] = s.master.push({ isolate_hash: hash, result_globs: ["reports/*.xml"] });
    s.startSlave();
    const report = await resultOf(s.master, lease!.lease_id);
    expect(report).toMatchObject({ state: "FAILED", exit_code: 1, message: null, result_format: "gtest-stdout" });
    expect(report.cases).toEqual([
      { suite: "Math", name: "Adds", status: "passed", duration_ms: 3, message: null, file: null, line: null },
      { suite: "Math", name: "Fails", status: "failed", duration_ms: 3, message: "x.cc:7: Failure", file: "x.cc", line: 7 },
    ]);
  }, TEST_TIMEOUT_MS);

  test("a binary killed by SIGABRT in a case: that case is crashed (signal 6, SIGABRT), the attempt FAILED saying where", async () => {
    const s = await setup();
    const script = `${gtestLines([["Crash.Before", "OK"]])}\necho '[ RUN      ] Crash.Aborts'\necho 'about to abort'\nkill -ABRT $$`;
    const hash = await s.archive({ "t.sh": shellScript(script) }, { command: ["./t.sh"] });
    const [lease] = s.master.push({ isolate_hash: hash });
    s.startSlave();
    const report = await resultOf(s.master, lease!.lease_id);
    expect(report).toMatchObject({ state: "FAILED", exit_code: 134, message: "killed by SIGABRT; crashed in Crash.Aborts", result_format: "gtest-stdout" });
    expect(report.cases!.map((c) => [c.name, c.status, c.message])).toEqual([
      ["Before", "passed", null],
      ["Aborts", "crashed", "crashed (signal 6, SIGABRT)\nabout to abort"],
    ]);
  }, TEST_TIMEOUT_MS);

  test("a binary killed by its timeout in a case: TIMED_OUT, the message names the case, which is crashed with the timeout in its message", async () => {
    const s = await setup();
    const script = `${gtestLines([["Slow.Before", "OK"]])}\necho '[ RUN      ] Slow.Hangs'\nsleep 30`;
    const hash = await s.archive({ "t.sh": shellScript(script) }, { command: ["./t.sh"] });
    const [lease] = s.master.push({ isolate_hash: hash, timeout: 1 });
    s.startSlave();
    const report = await resultOf(s.master, lease!.lease_id, 20_000);
    expect(report).toMatchObject({ state: "TIMED_OUT", message: "timed out after 1 s and was killed (SIGTERM); it was running Slow.Hangs" });
    expect(report.cases!.map((c) => [c.name, c.status, c.message])).toEqual([
      ["Before", "passed", null],
      ["Hangs", "crashed", "timed out after 1 s; crashed (signal 15, SIGTERM)"],
    ]);
  }, TEST_TIMEOUT_MS);

  test("a non-zero exit with every case passed is FAILED with a message saying so; exit 0 beside a failed case stays SUCCEEDED, saying so", async () => {
    const s = await setup();
    const allPassed = await s.archive({ "t.sh": shellScript(`${gtestLines([["A.one", "OK"], ["A.two", "OK"]])}\nexit 3`) }, { command: ["./t.sh"] });
    const zeroFailed = await s.archive({ "t.sh": shellScript(`${gtestLines([["A.one", "OK"], ["A.two", "FAILED"]])}\nexit 0`) }, { command: ["./t.sh"] });
    const [passedLease, zeroLease] = s.master.push({ isolate_hash: allPassed }, { isolate_hash: zeroFailed });
    s.startSlave();
    expect(await resultOf(s.master, passedLease!.lease_id)).toMatchObject({ state: "FAILED", exit_code: 3, message: "exited 3 with every one of its 2 cases passed" });
    expect(await resultOf(s.master, zeroLease!.lease_id)).toMatchObject({ state: "SUCCEEDED", exit_code: 0, message: "exited 0 although 1 of its 2 cases failed" });
  }, TEST_TIMEOUT_MS);

  test("a garbage result file is a note, never a failure: the passing attempt stays SUCCEEDED with the cases read so far", async () => {
    const s = await setup();
    const garbage = '<?xml version="1.0"?>\n<testsuites><testsuite name="S"><testcase classname="S" name="ok" time="0.5"/><testcase name="cut" <<<&&& garbage';
    const hash = await s.archive({ "g.xml": garbage, "t.sh": shellScript('cp g.xml "$ISOLATED_OUTDIR/TEST-g.xml"') }, { command: ["./t.sh"] });
    const [lease] = s.master.push({ isolate_hash: hash });
    s.startSlave();
    const report = await resultOf(s.master, lease!.lease_id);
    expect(report).toMatchObject({ state: "SUCCEEDED", exit_code: 0, result_format: "junit-xml" });
    expect(report.cases).toEqual([{ suite: "S", name: "ok", status: "passed", duration_ms: 500, message: null, file: null, line: null }]);
    expect(report.result_notes!.length).toBeGreaterThan(0);
    expect(report.result_notes![0]).toStartWith("TEST-g.xml: ");
    expect(report.message).toStartWith("results: TEST-g.xml: ");
  }, TEST_TIMEOUT_MS);

  test("a master that refuses the cases (413, as an older master's body limit) gets the report again without them, saying so", async () => {
    const s = await setup();
    const hash = await s.archive({ "t.sh": shellScript(gtestLines([["A.one", "OK"]])) }, { command: ["./t.sh"] });
    s.master.refuseCases = 1;
    const [lease] = s.master.push({ isolate_hash: hash });
    s.startSlave();
    const report = await resultOf(s.master, lease!.lease_id);
    expect(report).toMatchObject({ state: "SUCCEEDED", exit_code: 0 });
    expect(report.cases).toBeUndefined();
    expect(report.message).toMatch(/^results: the master refused the 1 cases \(POST result .*413 the test's master refuses cases\); reported without them$/);
    expect(s.master.resultPosts.map((r) => r.cases?.length ?? 0)).toEqual([1, 0]);
  }, TEST_TIMEOUT_MS);
});
