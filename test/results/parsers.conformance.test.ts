/**
 * The results parsers' conformance suite: every report in
 * test/fixtures/results/, written by a real runner, against the cases that
 * runner printed on its console (the *-console.txt / *.stdout.txt beside each
 * report; see each folder's README). The expectations were written from those
 * consoles, not from dt's output.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { RESULT_PARSERS } from "../../src/results/collect.ts";
import type { CaseResult, CaseStatus, ResultFormat } from "../../src/results/model.ts";
import { readHead } from "../../src/results/parser.ts";

const FIXTURES = join(import.meta.dir, "../fixtures/results");

/** One expected case: identity, status, whether the runner gave a duration and a message. */
interface Expected {
  suite: string;
  name: string;
  status: CaseStatus;
  duration: boolean;
  message: boolean;
}

const c = (suite: string, name: string, status: CaseStatus, duration = true, message = status !== "passed"): Expected => ({ suite, name, status, duration, message });

interface Fixture {
  file: string;
  format: ResultFormat;
  expected: Expected[];
  options?: { exitCode?: number | null; signal?: string | null };
  /** Some expected cases' message must contain this text (the runner's own words). */
  messages?: Record<string, string>;
  /** Where the runner said a failure is: "suite name" → [file suffix, line]. */
  locations?: Record<string, [string, number]>;
}

// googletest, full.stdout.txt: 16 ran (10 OK, 5 FAILED, 1 SKIPPED); MathTest.DISABLED_NeverRuns is disabled, not run.
const GTEST_FULL: Expected[] = [
  c("MathTest", "Adds", "passed"),
  c("MathTest", "FailsOnPurpose", "failed"),
  c("MathTest", "SkipsOnPurpose", "skipped"),
  c("TextTest", "Escapes", "failed"),
  c("TextTest", "Passes", "passed"),
  c("SizeTest/0", "AtMostEight", "passed"),
  c("SizeTest/0", "ExactlyOne", "passed"),
  c("SizeTest/1", "AtMostEight", "passed"),
  c("SizeTest/1", "ExactlyOne", "failed"),
  c("SizeTest/2", "AtMostEight", "passed"),
  c("SizeTest/2", "ExactlyOne", "failed"),
  c("CrashTest", "AbortsWhenAsked", "passed"),
  c("ZLastTest", "RunsAfterTheCrash", "passed"),
  c("Small/ParityTest", "IsEven/0", "passed"),
  c("Small/ParityTest", "IsEven/1", "failed"),
  c("Small/ParityTest", "IsEven/2", "passed"),
];
// A disabled test did not run: gtest lists it as status="notrun" in the XML of one shard and prints
// `[ DISABLED ]` in every shard's stdout; it is no case in either.
const GTEST_FULL_STDOUT = GTEST_FULL;
// aborted.stdout.txt: the same run up to `[ RUN      ] CrashTest.AbortsWhenAsked`, then SIGABRT (exit 134).
const GTEST_ABORTED = [...GTEST_FULL_STDOUT.slice(0, 11), c("CrashTest", "AbortsWhenAsked", "crashed", false)];
const GTEST_MESSAGES = {
  "MathTest FailsOnPurpose": "arithmetic is not negotiable",
  "TextTest Escapes": `Which is: "<a & \\"b\\">"`,
  "MathTest SkipsOnPurpose": "not on this platform",
  "Small/ParityTest IsEven/1": "3 is odd",
};
const GTEST_LOCATIONS: Record<string, [string, number]> = {
  "MathTest FailsOnPurpose": ["sample_test.cc", 12],
  "SizeTest/1 ExactlyOne": ["sample_test.cc", 41],
  "Small/ParityTest IsEven/1": ["sample_test.cc", 29],
};

// pytest-console.txt: 3 failed, 4 passed, 1 skipped, 1 xfailed, 1 error (xfail is written as <skipped>, the error as <error>).
const PYTEST: Expected[] = [
  c("test_sample", "test_adds", "passed"),
  c("test_sample", "test_fails_on_purpose", "failed"),
  c("test_sample", "test_errors_in_setup", "failed"),
  c("test_sample", "test_skips_on_purpose", "skipped"),
  c("test_sample", "test_expected_failure", "skipped"),
  c("test_sample", "test_is_even[2]", "passed"),
  c("test_sample", "test_is_even[3]", "failed"),
  c("test_sample", "test_is_even[4]", "passed"),
  c("test_sample.TestGroup", "test_prints_and_passes", "passed"),
  c("test_sample.TestGroup", "test_in_class_fails", "failed"),
];

// go-test-v.txt: PASS TestAdds, TestTable/two, TestTable/four, TestLogsAndPasses; FAIL TestFailsOnPurpose, TestTable, TestTable/three; SKIP TestSkipsOnPurpose.
const GO: Expected[] = [
  c("example.com/sample", "TestAdds", "passed"),
  c("example.com/sample", "TestFailsOnPurpose", "failed"),
  c("example.com/sample", "TestSkipsOnPurpose", "skipped"),
  c("example.com/sample", "TestTable", "failed"),
  c("example.com/sample", "TestTable/two", "passed"),
  c("example.com/sample", "TestTable/three", "failed"),
  c("example.com/sample", "TestTable/four", "passed"),
  c("example.com/sample", "TestLogsAndPasses", "passed"),
];
const GOTESTSUM = [GO[1]!, GO[5]!, GO[3]!, GO[2]!, GO[0]!, GO[4]!, GO[6]!, GO[7]!];

// jest-console.txt: 3 failed, 1 skipped, 1 todo, 5 passed; jest-junit writes the todo with no child (passed).
const JEST: Expected[] = [
  c("math", "math adds", "passed"),
  c("math", "math fails on purpose", "failed"),
  c("math", "math skips on purpose", "skipped", true, false),
  c("math", "math is written some day", "passed"),
  c("math", "math 2 is even", "passed"),
  c("math", "math 3 is even", "failed"),
  c("math", "math 4 is even", "passed"),
  c("math", "math nested <escape> & co passes", "passed"),
  c("undefined", "throws an error", "failed"),
  c("undefined", "passes at top level", "passed"),
];

// mvn-console.txt: Tests run: 9, Failures: 2, Errors: 1, Skipped: 2, Flakes: 1.
const SUREFIRE_SAMPLE: Expected[] = [
  c("com.example.SampleTest", "failsOnPurpose", "failed"),
  c("com.example.SampleTest", "assumptionFails", "skipped"),
  c("com.example.SampleTest", "adds", "passed"),
  c("com.example.SampleTest", "throwsAnError", "failed"),
  c("com.example.SampleTest", "ignored", "skipped"),
  c("com.example.SampleTest", "flakyPassesOnRerun", "passed"),
];
const SUREFIRE_PARITY: Expected[] = [
  c("com.example.ParityTest", "isEven[2]", "passed"),
  c("com.example.ParityTest", "isEven[3]", "failed"),
  c("com.example.ParityTest", "isEven[4]", "passed"),
];

const FIXTURE_LIST: Fixture[] = [
  { file: "gtest/full.xml", format: "gtest-xml", expected: GTEST_FULL, messages: GTEST_MESSAGES, locations: GTEST_LOCATIONS },
  { file: "gtest/full.stdout.txt", format: "gtest-stdout", expected: GTEST_FULL_STDOUT, messages: GTEST_MESSAGES, locations: GTEST_LOCATIONS },
  {
    file: "gtest/aborted.stdout.txt",
    format: "gtest-stdout",
    expected: GTEST_ABORTED,
    options: { exitCode: null, signal: "SIGABRT" },
    messages: { "CrashTest AbortsWhenAsked": "crashed (signal 6, SIGABRT)" },
  },
  { file: "pytest/report.xml", format: "junit-xml", expected: PYTEST, messages: { "test_sample test_fails_on_purpose": "arithmetic is not negotiable", "test_sample test_errors_in_setup": "fixture <setup> & teardown broke", "test_sample test_expected_failure": "known bug" }, locations: { "test_sample test_fails_on_purpose": ["test_sample.py", 10], "test_sample.TestGroup test_in_class_fails": ["test_sample.py", 42] } },
  { file: "pytest/report-logging.xml", format: "junit-xml", expected: PYTEST },
  { file: "go-junit-report/report.xml", format: "junit-xml", expected: GO, messages: { "example.com/sample TestTable/three": "3 is odd" }, locations: { "example.com/sample TestFailsOnPurpose": ["sample_test.go", 12] } },
  { file: "gotestsum/report.xml", format: "junit-xml", expected: GOTESTSUM, messages: { "example.com/sample TestSkipsOnPurpose": "not on this platform" } },
  { file: "jest-junit/junit.xml", format: "junit-xml", expected: JEST, messages: { "undefined throws an error": "boom: <not> & xml-safe" }, locations: { "math math fails on purpose": ["__tests__/sample.test.js", 4] } },
  { file: "surefire/TEST-com.example.SampleTest.xml", format: "junit-xml", expected: SUREFIRE_SAMPLE, messages: { "com.example.SampleTest throwsAnError": "boom <not> & xml-safe", "com.example.SampleTest ignored": "not on this platform" }, locations: { "com.example.SampleTest failsOnPurpose": ["SampleTest.java", 15] } },
  { file: "surefire/TEST-com.example.ParityTest.xml", format: "junit-xml", expected: SUREFIRE_PARITY, locations: { "com.example.ParityTest isEven[3]": ["ParityTest.java", 20] } },
];

const shape = (cases: readonly CaseResult[]): Expected[] =>
  cases.map((r) => ({ suite: r.suite, name: r.name, status: r.status, duration: r.durationMs !== null, message: r.message !== null }));

const byKey = (cases: readonly CaseResult[]) => new Map(cases.map((r) => [`${r.suite} ${r.name}`, r]));

describe("results parsers: real runners' reports", () => {
  for (const fixture of FIXTURE_LIST) {
    const path = join(FIXTURES, fixture.file);
    test(`${fixture.file} (${fixture.format})`, async () => {
      const parser = RESULT_PARSERS[fixture.format];
      const head = await readHead(path);
      // Each file is claimed by its own parser and by no other.
      for (const other of Object.values(RESULT_PARSERS)) expect(other.detect(head)).toBe(other === parser);
      const outcome = await parser.parse(path, fixture.options);
      expect(outcome.format).toBe(fixture.format);
      expect(outcome.notes).toEqual([]);
      expect(shape(outcome.cases)).toEqual(fixture.expected);
      const cases = byKey(outcome.cases);
      for (const [key, text] of Object.entries(fixture.messages ?? {})) expect(cases.get(key)?.message ?? "").toContain(text);
      for (const [key, [file, line]] of Object.entries(fixture.locations ?? {})) {
        expect(cases.get(key)?.file ?? "").toEndWith(file);
        expect(cases.get(key)?.line).toBe(line);
      }
      for (const r of outcome.cases) if (r.status === "passed") expect([r.file, r.line]).toEqual([null, null]);
    });
  }

  test("Surefire's reruns: a flaky case passed with its flaky failures counted; rerun failures stay failures", async () => {
    const outcome = await RESULT_PARSERS["junit-xml"].parse(join(FIXTURES, "surefire/TEST-com.example.SampleTest.xml"));
    const cases = byKey(outcome.cases);
    expect(cases.get("com.example.SampleTest flakyPassesOnRerun")).toMatchObject({ status: "passed", flakyFailures: 1 });
    expect(cases.get("com.example.SampleTest failsOnPurpose")?.flakyFailures).toBeUndefined();
  });

  test("gtest's three shards hold every case of the full run exactly once, with the same status (XML and stdout)", async () => {
    for (const [format, suffix] of [["gtest-xml", "xml"], ["gtest-stdout", "stdout.txt"]] as const) {
      const shards = await Promise.all([0, 1, 2].map((i) => RESULT_PARSERS[format].parse(join(FIXTURES, `gtest/shard${i}.${suffix}`))));
      for (const shard of shards) expect(shard.notes).toEqual([]);
      const union = shards.flatMap((s) => s.cases).map((r) => `${r.suite} ${r.name} ${r.status}`);
      expect(union.length).toBe(GTEST_FULL.length);
      expect(union.sort()).toEqual(GTEST_FULL.map((e) => `${e.suite} ${e.name} ${e.status}`).sort());
    }
  });

  test("a crash without a signal names the exit code, and 128 + N as signal N", async () => {
    const path = join(FIXTURES, "gtest/aborted.stdout.txt");
    const viaShell = await RESULT_PARSERS["gtest-stdout"].parse(path, { exitCode: 134, signal: null });
    expect(viaShell.cases.at(-1)?.message).toStartWith("crashed (exit 134: signal 6, SIGABRT)");
    const unknown = await RESULT_PARSERS["gtest-stdout"].parse(path);
    expect(unknown.cases.at(-1)).toMatchObject({ status: "crashed", message: "crashed (the output ends during this case)" });
  });
});
