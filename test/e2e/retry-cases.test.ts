/**
 * Retries of only the failed cases (docs/retries.md), end to end: a real
 * master and slave run dt's flaky gtest fixture (test/fixtures/gtest/
 * flaky_test.cc, built beside DT_TEST_GTEST_BIN by scripts/services/gtest.sh),
 * whose FlakyTest.FailsOnFirstAttempt fails on attempt 0 only. What each
 * attempt ran is read from what the binary itself printed (its stdout log:
 * gtest's filter note and its count of tests run) and from the cases the
 * master stored, not from dt's own account alone.
 */
import { describe, expect, test } from "bun:test";
import { accessSync, constants, copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { createLogger } from "../../src/common/log.ts";
import { archiveTargets, targetFromPaths } from "../../src/isolate/archive/archive.ts";
import { CasClient } from "../../src/isolate/cas/client.ts";
import type { AttemptView, JobCasesPage, TaskView } from "../../src/master/protocol.ts";
import { readResults } from "../../src/results/collect.ts";
import { gtestBinMissing, listTests } from "../helpers/gtest.ts";
import { useCliCleanup } from "../helpers/scratch.ts";
import { E2E_TEST_TIMEOUT_MS, useCluster } from "./cluster.ts";

/** The fixture beside the sample binary, or why the tests cannot run. */
function flakyBin(): { bin: string } | { missing: string } {
  const sampleMissing = gtestBinMissing();
  if (sampleMissing) return { missing: sampleMissing };
  const bin = join(dirname(process.env.DT_TEST_GTEST_BIN!), "flaky_test");
  try {
    accessSync(bin, constants.X_OK);
    return { bin };
  } catch {
    return { missing: `${bin} is not an executable file (built beside DT_TEST_GTEST_BIN by bash scripts/services/gtest.sh; rebuild it)` };
  }
}

const FLAKY = flakyBin();
if ("missing" in FLAKY) console.warn(`SKIP test/e2e/retry-cases.test.ts: ${FLAKY.missing}`);

const { temps } = useCliCleanup();
const setupCluster = useCluster("dt-e2e-retry-cases-");

const THE_FLAKY_CASE = "FlakyTest.FailsOnFirstAttempt";

/**
 * What the binary printed of one attempt's run: gtest's filter note (absent
 * without GTEST_FILTER), how many cases ran, and the cases read from the
 * log. An attempt that printed nothing has no log.
 */
async function ranOf(attempt: AttemptView) {
  let text = "";
  if (attempt.stdout_master_link !== null) {
    const response = await fetch(attempt.stdout_master_link);
    expect(response.status).toBe(200);
    text = await response.text();
  }
  const dir = await temps.make("dt-e2e-retry-log-");
  await Bun.write(join(dir, "stdout"), text);
  const { cases } = await readResults({ outputsDir: null, stdoutLog: join(dir, "stdout"), exitCode: attempt.exit_code });
  return {
    filter: /^Note: Google Test filter = (.*)$/m.exec(text)?.[1] ?? null,
    ran: Number(/^\[==========\] (\d+) tests? from \d+ test suites? ran\./m.exec(text)?.[1] ?? Number.NaN),
    cases: cases.map((c) => `${c.suite}.${c.name} ${c.status}`).sort(),
  };
}

const commandMs = (a: AttemptView) => a.command_end_at! - a.command_start_at!;

describe.skipIf("missing" in FLAKY)("retries run only the failed cases: dt master + dt slave with a real gtest binary", () => {
  test("the retry of a flaky case runs that case alone (the task ends flaky, the case flaky, the others passed once); retry: task reruns all; a crash before any case reruns all; a crash mid-run or a timeout reruns all but what passed", async () => {
    const bin = (FLAKY as { bin: string }).bin;
    const all = await listTests(bin);
    expect(all).toHaveLength(8);
    const c = await setupCluster();
    await c.startMaster();
    await c.startSlave("s1", 2);
    const suite = join(c.dir, "suite");
    mkdirSync(suite);
    copyFileSync(bin, join(suite, "flaky_test"));
    const { results } = await archiveTargets([targetFromPaths({ root: suite, paths: ["flaky_test"], command: ["./flaky_test"] })], { cas: new CasClient(c.master!.url), log: createLogger({ level: "silent" }) });
    const hash = results[0]!.digest.hash;
    const jobId = await c.submitNoWait([
      { isolate_hash: hash, description: "cases", max_retries: 1 },
      { isolate_hash: hash, description: "whole", max_retries: 1, retry: "task" },
      { isolate_hash: hash, description: "crash_at_start", max_retries: 1, env: { DT_FLAKY_CRASH_AT_START: "1" } },
      { isolate_hash: hash, description: "crash_mid_run", max_retries: 1, env: { DT_FLAKY_CRASH_CASE: "1" } },
      // 3 s: past the first attempt's 0.9 s of SlowTest, short of HangTest's 120 s.
      { isolate_hash: hash, description: "timed_out", max_retries: 1, timeout: 3, env: { DT_FLAKY_HANG_CASE: "1" } },
    ]);
    const summary = await c.api.waitFinished(jobId);
    expect(summary.counts).toMatchObject({ total_tasks: 5, flaky: 5, failed: 0 });
    const tasks = new Map((await c.api.tasks(jobId)).map((t) => [t.description, t] as const));
    const attemptsOf = (name: string, failed: AttemptView["state"] = "FAILED"): AttemptView[] => {
      const task: TaskView | undefined = tasks.get(name);
      expect({ name, states: task?.attempts.map((a) => a.state) }).toEqual({ name, states: [failed, "SUCCEEDED"] });
      expect({ name, group: task!.group }).toEqual({ name, group: "flaky" });
      return task!.attempts;
    };
    const everyCasePassed = all.map((key) => `${key} passed`).sort();

    // The default: the retry is told the failed case only, and ran it alone; the whole binary's sleeps ran once.
    const [first, retry] = attemptsOf("cases");
    expect(first!.case_selection).toBeNull();
    expect(retry!.case_selection).toEqual({ mode: "include", count: 1, names: [THE_FLAKY_CASE] });
    expect(await ranOf(first!)).toMatchObject({ filter: null, ran: all.length });
    expect(await ranOf(retry!)).toEqual({ filter: THE_FLAKY_CASE, ran: 1, cases: [`${THE_FLAKY_CASE} passed`] });
    // The first attempt slept 900 ms in its SlowTest cases; the retry ran none of them.
    expect(commandMs(first!)).toBeGreaterThanOrEqual(900);
    expect(commandMs(retry!)).toBeLessThan(commandMs(first!));
    console.log(`retry of the flaky case: ${commandMs(retry!)} ms of command against ${commandMs(first!)} ms for the whole binary`);

    // retry: task, the whole binary again.
    const [, wholeRetry] = attemptsOf("whole");
    expect(wholeRetry!.case_selection).toBeNull();
    expect(await ranOf(wholeRetry!)).toEqual({ filter: null, ran: all.length, cases: everyCasePassed });
    // The same retry's cost with and without the filter, queued to reported (dt's per-task overhead included).
    const wallMs = (a: AttemptView) => a.reported_at! - a.queued_at;
    console.log(`retry queued to reported: ${wallMs(retry!)} ms for the failed case alone, ${wallMs(wholeRetry!)} ms for the whole task (command ${commandMs(wholeRetry!)} ms)`);

    // Died in a global constructor: no case to go by, so the whole task again.
    const [crashedAtStart, afterStartCrash] = attemptsOf("crash_at_start");
    expect(crashedAtStart!.exit_code).toBe(134);
    expect(await ranOf(crashedAtStart!)).toEqual({ filter: null, ran: Number.NaN, cases: [] });
    expect(afterStartCrash!.case_selection).toBeNull();
    expect(await ranOf(afterStartCrash!)).toEqual({ filter: null, ran: all.length, cases: everyCasePassed });

    // Died in CrashTest: ZLastTest never ran, so the retry excludes what passed rather than naming what failed.
    const [crashedMid, afterMidCrash] = attemptsOf("crash_mid_run");
    expect((await ranOf(crashedMid!)).cases).toEqual([
      "CrashTest.AbortsOnFirstAttemptWhenAsked crashed", "FlakyTest.FailsOnFirstAttempt failed", "FlakyTest.PassesAlways passed",
      "HangTest.HangsOnFirstAttemptWhenAsked passed", "SlowTest.SleepsA passed", "SlowTest.SleepsB passed", "SlowTest.SleepsC passed",
    ]);
    const passedBefore = ["FlakyTest.PassesAlways", "SlowTest.SleepsA", "SlowTest.SleepsB", "SlowTest.SleepsC", "HangTest.HangsOnFirstAttemptWhenAsked"];
    expect(afterMidCrash!.case_selection).toEqual({ mode: "exclude", count: 5, names: passedBefore });
    expect(await ranOf(afterMidCrash!)).toEqual({
      filter: `*-${passedBefore.join(":")}`, ran: 3,
      cases: ["CrashTest.AbortsOnFirstAttemptWhenAsked passed", `${THE_FLAKY_CASE} passed`, "ZLastTest.RunsAfterTheCrash passed"],
    });

    // The job's cases merge the attempts: what failed then passed is flaky; every other case passed, run once in the default task.
    const page = await c.api.get<JobCasesPage>(`/api/v1/jobs/${jobId}/cases?status=all&limit=1000`);
    const byBinary = (binary: string) => page.cases.filter((v) => v.binary === binary).map((v) => `${v.suite}.${v.name} ${v.status} ${v.runs}`).sort();
    expect(byBinary("cases")).toEqual(all.map((key) => (key === THE_FLAKY_CASE ? `${key} flaky 2` : `${key} passed 1`)).sort());
    expect(byBinary("whole")).toEqual(all.map((key) => `${key} ${key === THE_FLAKY_CASE ? "flaky" : "passed"} 2`).sort());
    expect(byBinary("crash_at_start")).toEqual(all.map((key) => `${key} passed 1`).sort());
    const rerun = new Set([THE_FLAKY_CASE, "CrashTest.AbortsOnFirstAttemptWhenAsked"]);
    expect(byBinary("crash_mid_run")).toEqual(all.map((key) => (rerun.has(key) ? `${key} flaky 2` : `${key} passed 1`)).sort());

    // Timed out in HangTest: the case running at the timeout is crashed, the cases after it never ran; the retry is the crash's.
    const [timedOut, afterTimeout] = attemptsOf("timed_out", "TIMED_OUT");
    expect((await ranOf(timedOut!)).cases).toEqual([
      "FlakyTest.FailsOnFirstAttempt failed", "FlakyTest.PassesAlways passed", "HangTest.HangsOnFirstAttemptWhenAsked crashed",
      "SlowTest.SleepsA passed", "SlowTest.SleepsB passed", "SlowTest.SleepsC passed",
    ]);
    const passedBeforeHang = passedBefore.slice(0, 4);
    expect(afterTimeout!.case_selection).toEqual({ mode: "exclude", count: 4, names: passedBeforeHang });
    expect(await ranOf(afterTimeout!)).toEqual({
      filter: `*-${passedBeforeHang.join(":")}`, ran: 4,
      cases: ["CrashTest.AbortsOnFirstAttemptWhenAsked passed", `${THE_FLAKY_CASE} passed`, "HangTest.HangsOnFirstAttemptWhenAsked passed", "ZLastTest.RunsAfterTheCrash passed"],
    });
    const hungOrFailed = new Set([THE_FLAKY_CASE, "HangTest.HangsOnFirstAttemptWhenAsked"]);
    expect(byBinary("timed_out")).toEqual(all.map((key) => (hungOrFailed.has(key) ? `${key} flaky 2` : `${key} passed 1`)).sort());

    // dt's own report of the job says what the retry ran.
    const report = await c.dt(["watch", jobId]);
    expect(report.exitCode, report.stderr).toBe(0);
    expect(report.stdout).toContain(`attempt 1: SUCCEEDED (retry ran 1 case: ${THE_FLAKY_CASE})`);
    expect(report.stdout).toContain("attempt 1: SUCCEEDED (retry ran every case not yet passed (5 left out))");
  }, E2E_TEST_TIMEOUT_MS);
});
