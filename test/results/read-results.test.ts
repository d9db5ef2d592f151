/**
 * readResults over real outputs directories (copies of the runners' reports
 * laid out as a task leaves them) and taskVerdict.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { copyFile, mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { readResults } from "../../src/results/collect.ts";
import type { CaseResult } from "../../src/results/model.ts";
import { taskVerdict } from "../../src/results/verdict.ts";
import { TempDirs } from "../helpers/temp.ts";

const FIXTURES = join(import.meta.dir, "../fixtures/results");
const temps = new TempDirs();
afterEach(() => temps.cleanup());

async function outputs(files: Record<string, string>): Promise<string> {
  const dir = await temps.make("dt-outputs-");
  for (const [to, from] of Object.entries(files)) {
    await mkdir(join(dir, to, ".."), { recursive: true });
    await copyFile(join(FIXTURES, from), join(dir, to));
  }
  return dir;
}

const keys = (cases: readonly CaseResult[]) => cases.map((c) => `${c.suite}.${c.name}`);

describe("readResults", () => {
  test("gtest XML and the same run's stdout: each case once, from the XML", async () => {
    const dir = await outputs({ "test_detail.xml": "gtest/full.xml" });
    const results = await readResults({ outputsDir: dir, stdoutLog: join(FIXTURES, "gtest/full.stdout.txt"), exitCode: 1 });
    expect(results.notes).toEqual([]);
    expect(results.cases.length).toBe(16);
    expect(new Set(keys(results.cases)).size).toBe(16);
    // The XML's message is "file:line\n…"; stdout's would be "file:line: Failure\n…".
    expect(results.cases.find((c) => c.name === "FailsOnPurpose")?.message).not.toContain(": Failure");
    expect(results.sources).toEqual([
      { path: "test_detail.xml", format: "gtest-xml", cases: 16 },
      { path: "stdout", format: "gtest-stdout", cases: 0 },
    ]);
  });

  test("no result file (the binary aborted before writing it): stdout's cases, the running one crashed", async () => {
    const dir = await outputs({});
    const results = await readResults({ outputsDir: dir, stdoutLog: join(FIXTURES, "gtest/aborted.stdout.txt"), exitCode: null, signal: "SIGABRT" });
    expect(results.cases.length).toBe(12);
    expect(results.cases.at(-1)).toMatchObject({ suite: "CrashTest", name: "AbortsWhenAsked", status: "crashed", message: "crashed (signal 6, SIGABRT)" });
    expect(taskVerdict(null, "SIGABRT", results.cases)).toEqual({ failed: true, message: null });
  });

  test("reports in nested folders by their root element; other XML and files outside the globs are left alone", async () => {
    const dir = await outputs({
      "target/surefire-reports/TEST-com.example.SampleTest.xml": "surefire/TEST-com.example.SampleTest.xml",
      "target/surefire-reports/TEST-com.example.ParityTest.xml": "surefire/TEST-com.example.ParityTest.xml",
      "pom.xml": "surefire/pom.xml",
      "py/report.txt": "pytest/report.xml",
    });
    const results = await readResults({ outputsDir: dir, stdoutLog: null, exitCode: 1 });
    expect(results.notes).toEqual([]);
    expect(results.sources.map((s) => s.path)).toEqual(["target/surefire-reports/TEST-com.example.ParityTest.xml", "target/surefire-reports/TEST-com.example.SampleTest.xml"]);
    expect(results.cases.length).toBe(9);
    const withTxt = await readResults({ outputsDir: dir, stdoutLog: null, resultGlobs: ["py/*.txt"] });
    expect(withTxt.cases.length).toBe(10);
  });

  test("a glob that leaves the outputs is refused with a note; a symlink out is not followed", async () => {
    const dir = await outputs({ "a/report.xml": "pytest/report.xml" });
    const elsewhere = await outputs({ "secret.xml": "jest-junit/junit.xml" });
    await symlink(elsewhere, join(dir, "link"));
    const results = await readResults({ outputsDir: dir, stdoutLog: null, resultGlobs: ["../**/*.xml", "/etc/*.xml", "**/*.xml"] });
    expect(results.notes.length).toBe(2);
    expect(results.notes[0]).toContain("must not contain");
    expect(results.sources.map((s) => s.path)).toEqual(["a/report.xml"]);
  });

  test("a truncated report keeps its cases with a note naming the file; stdout adds the rest", async () => {
    const dir = await temps.make("dt-outputs-");
    const xml = await Bun.file(join(FIXTURES, "gtest/full.xml")).text();
    await writeFile(join(dir, "test_detail.xml"), xml.slice(0, xml.indexOf('name="SizeTest/1"')));
    const results = await readResults({ outputsDir: dir, stdoutLog: join(FIXTURES, "gtest/full.stdout.txt") });
    expect(results.notes.length).toBe(1);
    expect(results.notes[0]).toStartWith("test_detail.xml: gtest-xml: the file ends inside");
    expect(results.cases.length).toBe(16);
    expect(results.sources).toEqual([
      { path: "test_detail.xml", format: "gtest-xml", cases: 7 },
      { path: "stdout", format: "gtest-stdout", cases: 9 },
    ]);
  });

  test("nothing to read is no cases and no notes", async () => {
    expect(await readResults({ outputsDir: null, stdoutLog: null })).toEqual({ cases: [], notes: [], sources: [] });
    const missing = await readResults({ outputsDir: "/nonexistent/dt-outputs", stdoutLog: "/nonexistent/stdout.log" });
    expect(missing.cases).toEqual([]);
  });
});

describe("taskVerdict", () => {
  const pass = (name: string): CaseResult => ({ suite: "S", name, status: "passed", durationMs: 1, message: null, file: null, line: null });
  const skip = (name: string): CaseResult => ({ ...pass(name), status: "skipped" });
  const fail = (name: string): CaseResult => ({ ...pass(name), status: "failed", message: "boom" });

  test("a non-zero exit with every case passed is a failed task that says so", () => {
    expect(taskVerdict(1, null, [pass("a"), pass("b")])).toEqual({ failed: true, message: "exited 1 with every one of its 2 cases passed" });
    expect(taskVerdict(null, "SIGSEGV", [pass("a"), skip("b")])).toEqual({ failed: true, message: "was killed by signal 11, SIGSEGV with none of its 2 cases failed (1 passed, 1 skipped)" });
  });

  test("the exit code decides; failed cases explain a failure themselves", () => {
    expect(taskVerdict(0, null, [pass("a")])).toEqual({ failed: false, message: null });
    expect(taskVerdict(1, null, [pass("a"), fail("b")])).toEqual({ failed: true, message: null });
    expect(taskVerdict(1, null, [])).toEqual({ failed: true, message: null });
    expect(taskVerdict(0, null, [fail("b")])).toEqual({ failed: false, message: "exited 0 although 1 of its 1 cases failed" });
  });
});

describe("readResults on a hostile outputs directory", () => {
  test("a glob through a symlinked directory reads nothing outside the outputs, and says so", async () => {
    const dir = await outputs({ "a/report.xml": "pytest/report.xml" });
    const elsewhere = await outputs({ "secret.xml": "jest-junit/junit.xml" });
    await symlink(elsewhere, join(dir, "link"));
    const results = await readResults({ outputsDir: dir, stdoutLog: null, resultGlobs: ["link/*.xml", "**/*.xml"] });
    expect(results.sources.map((s) => s.path)).toEqual(["a/report.xml"]);
    expect(results.notes).toEqual(["link/secret.xml: could not be read: it lies outside the outputs (reached through a symlinked directory); not read"]);
  });

  test("a result file whose directory is swapped for a symlink after the glob saw it is not read from where the symlink points", async () => {
    const dir = await outputs({ "a/report.xml": "pytest/report.xml", "b/report.xml": "pytest/report.xml" });
    const elsewhere = await outputs({ "report.xml": "jest-junit/junit.xml" });
    const { rmSync, symlinkSync } = await import("node:fs");
    // The parse of a/ runs before b/ is opened: the swap lands between b/'s glob and its read, as a test's surviving process would.
    const { gtestXmlParser } = await import("../../src/results/junit-xml.ts");
    const detect = gtestXmlParser.detect;
    let swapped = false;
    gtestXmlParser.detect = (head) => {
      if (!swapped) {
        swapped = true;
        rmSync(join(dir, "b"), { recursive: true });
        symlinkSync(elsewhere, join(dir, "b"));
      }
      return detect(head);
    };
    try {
      const results = await readResults({ outputsDir: dir, stdoutLog: null });
      expect(swapped).toBe(true);
      expect(results.sources.map((s) => s.path)).toEqual(["a/report.xml"]);
      expect(results.notes).toEqual(["b/report.xml: could not be read: it lies outside the outputs (reached through a symlinked directory); not read"]);
    } finally {
      gtestXmlParser.detect = detect;
    }
  });

  test("result files are read up to a byte budget per attempt: a huge one is cut with a note, the ones after it are not read", async () => {
    const dir = await temps.make("dt-outputs-");
    const testcase = (i: number) => `<testcase classname="s" name="c${i}" time="0"><failure message="m">${"x".repeat(900)}</failure></testcase>\n`;
    const cases = Array.from({ length: 100 }, (_, i) => testcase(i)).join("");
    await writeFile(join(dir, "a.xml"), `<testsuites><testsuite name="s">${cases}</testsuite></testsuites>`);
    await writeFile(join(dir, "b.xml"), `<testsuites><testsuite name="s">${testcase(100)}</testsuite></testsuites>`);
    const results = await readResults({ outputsDir: dir, stdoutLog: null, maxResultBytes: 50_000 });
    // ~1 KB a case: about the first 50 of a.xml, none of b.xml.
    expect(results.cases.length).toBeGreaterThan(40);
    expect(results.cases.length).toBeLessThan(55);
    expect(results.notes[0]).toMatch(/^a\.xml: only its first 50000 of \d+ bytes were read/);
    expect(results.notes.at(-1)).toBe("1 result files (from b.xml) were not read: the attempt's result files are read up to 50000 bytes");
  });
});
