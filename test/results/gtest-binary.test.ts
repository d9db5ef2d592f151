/**
 * The results parsers on a real gtest binary (dt's sample suite, built from
 * Debian's googletest by scripts/services/gtest.sh; DT_TEST_GTEST_BIN names
 * it): its XML report and its stdout give the same cases with the statuses
 * gtest's own summary gives them; three shards give the unsharded run's
 * cases, each exactly once; a run that aborts gives the case it died in as
 * crashed, with the signal. The expected cases come from the binary itself
 * (`--gtest_list_tests`, its `[  PASSED  ]`/`[  FAILED  ]` lines), not from
 * dt.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { readResults } from "../../src/results/collect.ts";
import type { CaseResult } from "../../src/results/model.ts";
import { expectedStatuses, gtestBin, gtestBinMissing, gtestSummary, listTests, runGtest, statusMap } from "../helpers/gtest.ts";
import { TempDirs } from "../helpers/temp.ts";

const MISSING = gtestBinMissing();
if (MISSING) console.warn(`SKIP test/results/gtest-binary.test.ts: ${MISSING}`);

const temps = new TempDirs();
afterEach(() => temps.cleanup());

/** The XML alone, stdout alone, and both, of one run. */
async function readThreeWays(run: { outputsDir: string; stdoutPath: string; exitCode: number | null; signal: string | null }) {
  const how = { exitCode: run.exitCode, signal: run.signal };
  return {
    xml: await readResults({ outputsDir: run.outputsDir, stdoutLog: null, ...how }),
    stdout: await readResults({ outputsDir: null, stdoutLog: run.stdoutPath, ...how }),
    both: await readResults({ outputsDir: run.outputsDir, stdoutLog: run.stdoutPath, ...how }),
  };
}

const sorted = (map: Map<string, string>) => [...map.entries()].sort(([a], [b]) => a.localeCompare(b));

describe.skipIf(MISSING !== undefined)("a real gtest binary", () => {
  test("XML and stdout each give every listed case once, with the statuses of gtest's own summary", async () => {
    const bin = gtestBin()!;
    const listed = await listTests(bin);
    // The sample's kinds of case, so a rebuilt sample that lost some would be noticed: typed, parameterized, skipped.
    expect(listed).toEqual(expect.arrayContaining(["SizeTest/2.ExactlyOne", "Small/ParityTest.IsEven/1", "MathTest.SkipsOnPurpose"]));
    expect(listed).not.toContain("MathTest.DISABLED_NeverRuns");

    const run = await runGtest(bin, { dir: await temps.make("dt-gtest-full-"), xml: true });
    expect(run.exitCode).toBe(1);
    const summary = gtestSummary(run.stdout);
    expect(summary.failed.length).toBeGreaterThan(0);
    expect(summary.skipped.length).toBeGreaterThan(0);
    const expected = expectedStatuses(listed, summary);

    expect(readdirSync(run.outputsDir)).toEqual([`${bin.split("/").at(-1)}.xml`]);
    const { xml, stdout, both } = await readThreeWays(run);
    for (const [how, results] of Object.entries({ xml, stdout, both })) {
      expect({ how, notes: results.notes }).toEqual({ how, notes: [] });
      expect({ how, cases: sorted(statusMap(results.cases)) }).toEqual({ how, cases: sorted(expected) });
    }
    expect(xml.sources.map((s) => s.format)).toEqual(["gtest-xml"]);
    expect(stdout.sources.map((s) => s.format)).toEqual(["gtest-stdout"]);
    // Both: every case from the XML, none added from stdout.
    expect(both.sources).toEqual([{ path: xml.sources[0]!.path, format: "gtest-xml", cases: listed.length }, { path: "stdout", format: "gtest-stdout", cases: 0 }]);

    // A failed case carries the assertion and where it is, in both formats; a passed one has no message.
    for (const results of [xml, stdout]) {
      const failed = results.cases.find((c) => c.suite === "MathTest" && c.name === "FailsOnPurpose")!;
      expect(failed).toMatchObject({ file: expect.stringContaining("sample_test.cc"), line: expect.any(Number) });
      expect(failed.message).toContain("arithmetic is not negotiable");
      expect(results.cases.find((c) => c.name === "Adds")).toMatchObject({ status: "passed", message: null });
      expect(results.cases.every((c) => c.durationMs !== null && c.durationMs >= 0)).toBe(true);
    }
  });

  test("three shards (GTEST_TOTAL_SHARDS/GTEST_SHARD_INDEX) give the unsharded run's cases, each exactly once, in XML and in stdout", async () => {
    const bin = gtestBin()!;
    const full = await runGtest(bin, { dir: await temps.make("dt-gtest-unsharded-"), xml: true });
    const unsharded = statusMap((await readResults({ outputsDir: full.outputsDir, stdoutLog: null, exitCode: full.exitCode })).cases);
    expect(unsharded.size).toBe((await listTests(bin)).length);

    const union = { xml: [] as CaseResult[], stdout: [] as CaseResult[] };
    for (let shard = 0; shard < 3; shard++) {
      const run = await runGtest(bin, { dir: await temps.make(`dt-gtest-shard${shard}-`), xml: true, env: { GTEST_TOTAL_SHARDS: "3", GTEST_SHARD_INDEX: String(shard) } });
      const { xml, stdout } = await readThreeWays(run);
      expect(xml.cases.length).toBeGreaterThan(0);
      // Each shard's statuses are its own summary's too.
      const listedInShard = xml.cases.map((c) => `${c.suite}.${c.name}`);
      expect(sorted(statusMap(stdout.cases))).toEqual(sorted(expectedStatuses(listedInShard, gtestSummary(run.stdout))));
      union.xml.push(...xml.cases);
      union.stdout.push(...stdout.cases);
    }
    // statusMap throws on a case two shards both reported.
    expect(sorted(statusMap(union.xml))).toEqual(sorted(unsharded));
    expect(sorted(statusMap(union.stdout))).toEqual(sorted(unsharded));
  });

  test("a binary that aborts mid-case (DT_SAMPLE_ABORT): no XML, stdout gives the cases before it as in a full run and the case it died in as crashed with the signal", async () => {
    const bin = gtestBin()!;
    const listed = await listTests(bin);
    const full = await runGtest(bin, { dir: await temps.make("dt-gtest-full-"), xml: true });
    const expected = expectedStatuses(listed, gtestSummary(full.stdout));

    const run = await runGtest(bin, { dir: await temps.make("dt-gtest-abort-"), xml: true, env: { DT_SAMPLE_ABORT: "1" } });
    expect({ exitCode: run.exitCode, signal: run.signal }).toEqual({ exitCode: null, signal: "SIGABRT" });
    // gtest writes its XML at the end of the run, which an abort never reaches.
    expect(readdirSync(run.outputsDir)).toEqual([]);

    const results = await readResults({ outputsDir: run.outputsDir, stdoutLog: run.stdoutPath, exitCode: run.exitCode, signal: run.signal });
    expect(results.notes).toEqual([]);
    const crashAt = listed.indexOf("CrashTest.AbortsWhenAsked");
    expect(crashAt).toBeGreaterThan(0);
    const before = new Map(listed.slice(0, crashAt).map((key) => [key, expected.get(key)!] as const));
    expect(sorted(statusMap(results.cases))).toEqual(sorted(new Map([...before, ["CrashTest.AbortsWhenAsked", "crashed"]])));
    expect(results.cases.at(-1)).toMatchObject({ suite: "CrashTest", name: "AbortsWhenAsked", status: "crashed", message: "crashed (signal 6, SIGABRT)" });

    // Through a shell, as `sh -c` tasks run it, the signal is only the exit code 128 + 6; the message says both.
    const viaShell = await readResults({ outputsDir: null, stdoutLog: run.stdoutPath, exitCode: 134, signal: null });
    expect(viaShell.cases.at(-1)).toMatchObject({ status: "crashed", message: "crashed (exit 134: signal 6, SIGABRT)" });
  });
});

test("DT_TEST_GTEST_BIN unset or not executable: the reason names the variable and the script that builds the binary", () => {
  const saved = process.env.DT_TEST_GTEST_BIN;
  try {
    delete process.env.DT_TEST_GTEST_BIN;
    expect(gtestBinMissing()).toContain("scripts/services/gtest.sh");
    process.env.DT_TEST_GTEST_BIN = join(import.meta.dir, "no-such-binary");
    expect(gtestBinMissing()).toContain("is not an executable file");
    expect(gtestBin()).toBeNull();
  } finally {
    if (saved === undefined) delete process.env.DT_TEST_GTEST_BIN;
    else process.env.DT_TEST_GTEST_BIN = saved;
  }
});
