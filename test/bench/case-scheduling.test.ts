/**
 * The pure parts of bench/case-scheduling.ts: the seeded workload (its
 * distribution must be the one the README's figures were measured on), the
 * lower bound, and the figures taken from a finished job's tasks and cases;
 * plus one real compile of a two-case binary, to see the flaky case fail
 * on DT_ATTEMPT=0 only. No cluster.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { caseCoverageProblems, clockProblem, makespanFigures, overheadsMs, retryFigures } from "../../bench/case-scheduling/analysis.ts";
import { ToolchainMissing, buildBinaries } from "../../bench/case-scheduling/binaries.ts";
import { FLAKY, LONGTAIL, benchBinaries, caseLowerBoundMs, gtestSource, longTailDurationsMs } from "../../bench/case-scheduling/workload.ts";
import type { AttemptView, JobCaseView, TaskView } from "../../src/master/protocol.ts";
import { TempDirs } from "../helpers/temp.ts";

const temps = new TempDirs();
afterEach(() => temps.cleanup());

describe("longTailDurationsMs", () => {
  test("the fixed seed gives 200 cases, the longest exactly 3 s, about 60 s in all, the same every time", () => {
    const d = longTailDurationsMs();
    expect(d).toHaveLength(200);
    expect(Math.max(...d)).toBe(3_000);
    expect(Math.abs(d.reduce((a, b) => a + b, 0) - 60_000)).toBeLessThanOrEqual(100);
    expect(longTailDurationsMs()).toEqual(d);
    // The README's tables were measured on these: a changed generator must change this test too.
    expect([...d].sort((a, b) => b - a).slice(0, 4)).toEqual([3_000, 2_451, 2_300, 2_177]);
    expect(d.slice(0, 4)).toEqual([287, 216, 449, 55]);
  });

  test("is long-tailed: the mean well above the median, a tenth of the cases holding two fifths of the time", () => {
    const sorted = longTailDurationsMs().sort((a, b) => b - a);
    const total = sorted.reduce((a, b) => a + b, 0);
    const median = sorted[100]!;
    expect(total / sorted.length).toBeGreaterThan(1.4 * median);
    expect(sorted.slice(0, 20).reduce((a, b) => a + b, 0) / total).toBeGreaterThan(0.4);
    expect(sorted.at(-1)!).toBeGreaterThanOrEqual(1);
  });

  test("another seed gives other durations with the same longest and total", () => {
    const other = longTailDurationsMs({ ...LONGTAIL, seed: 1 });
    expect(other).not.toEqual(longTailDurationsMs());
    expect(Math.max(...other)).toBe(3_000);
    expect(Math.abs(other.reduce((a, b) => a + b, 0) - 60_000)).toBeLessThanOrEqual(100);
  });

  test("refuses a shape no durations can have", () => {
    expect(() => longTailDurationsMs({ ...LONGTAIL, totalMs: 700_000 })).toThrow(/cannot have a longest of 3000 ms/);
    expect(() => longTailDurationsMs({ ...LONGTAIL, totalMs: 3_000 })).toThrow(/cannot have/);
  });
});

describe("caseLowerBoundMs", () => {
  test("is the longest case when it outlasts the work spread over the slots", () => {
    expect(caseLowerBoundMs([3_000, 100, 100], 8)).toBe(3_000);
  });
  test("is Σ ÷ slots when the work is spread thin", () => {
    expect(caseLowerBoundMs([1_000, 1_000, 1_000, 1_000], 2)).toBe(2_000);
    expect(caseLowerBoundMs(longTailDurationsMs(), 8)).toBeCloseTo(longTailDurationsMs().reduce((a, b) => a + b, 0) / 8, 6);
  });
  test("is 0 for no cases and refuses bad input", () => {
    expect(caseLowerBoundMs([], 8)).toBe(0);
    expect(() => caseLowerBoundMs([1], 0)).toThrow(/slots must be a positive integer, got 0/);
    expect(() => caseLowerBoundMs([-1], 8)).toThrow(/non-negative number of ms, got -1/);
    expect(() => caseLowerBoundMs([Number.NaN], 8)).toThrow(/got NaN/);
  });
});

describe("the binaries", () => {
  test("longtail_test's source has one TEST per case, all names distinct, sleeping the generated times", () => {
    const { longtail, short, flaky } = benchBinaries();
    const source = gtestSource(longtail);
    expect(source.match(/^TEST\(LongTail, Case\d{3}\) \{$/gm)).toHaveLength(200);
    expect(source).toContain(`TEST(LongTail, Case000) {\n  SleepMs(${longtail.cases[0]!.sleepMs});`);
    for (const spec of [longtail, ...short, flaky]) expect(new Set(spec.cases.map((c) => `${c.suite}.${c.name}`)).size).toBe(spec.cases.length);
    for (const c of short.flatMap((s) => s.cases)) expect(c.sleepMs).toBeWithin(100, 501);
    expect(flaky.cases.filter((c) => c.flaky)).toEqual([{ suite: "Flaky60s", name: "FailsOnFirstAttempt", sleepMs: FLAKY.flakyMs, flaky: true }]);
    expect(flaky.cases.reduce((a, c) => a + c.sleepMs, 0)).toBeWithin(58_000, 62_000);
  });

  // A real compile (about 3 s): the flaky case must fail on the first attempt only, or the retry bench measures nothing.
  test.skipIf(Bun.which("g++") === null)("a built flaky binary fails with DT_ATTEMPT=0 and passes with DT_ATTEMPT=1", async () => {
    const dir = await temps.make("dt-bench-cases-");
    const spec = { file: "flaky_small", cases: [{ suite: "S", name: "Ok", sleepMs: 1 }, { suite: "S", name: "Flaky", sleepMs: 1, flaky: true }] };
    const binary = (await buildBinaries([spec], join(dir, "bin"))).get("flaky_small")!;
    const run = (attempt: string) => Bun.spawnSync([binary], { env: { ...process.env, DT_ATTEMPT: attempt } });
    const first = run("0");
    expect(first.exitCode).toBe(1);
    expect(first.stdout.toString()).toContain("[  FAILED  ] S.Flaky");
    expect(first.stdout.toString()).toContain("[       OK ] S.Ok");
    expect(run("1").exitCode).toBe(0);
    // Built once: a second call with the same source keeps the binary.
    const before = Bun.file(binary).lastModified;
    await buildBinaries([spec], join(dir, "bin"));
    expect(Bun.file(binary).lastModified).toBe(before);
  }, 60_000);

  test("without g++ or googletest, says what is missing and which script installs it", async () => {
    const dir = await temps.make("dt-bench-cases-");
    const spec = { file: "never_built", cases: [{ suite: "S", name: "A", sleepMs: 1 }] };
    const error = await buildBinaries([spec], dir, { path: dir, gtestHeader: join(dir, "no", "gtest.h") }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ToolchainMissing);
    expect((error as Error).message).toBe(
      `cannot build the bench's gtest binaries: g++ and googletest (${join(dir, "no", "gtest.h")}, Debian's libgtest-dev) missing; scripts/services/gtest.sh installs them (apt-get, as root), then run the bench again`,
    );
  });
});

function attempt(a: Partial<AttemptView> & { attempt: number }): AttemptView {
  return {
    retry: 0, state: "SUCCEEDED", slave: "slave-1", exit_code: 0, message: null, queued_at: 1_000, leased_at: 1_010, fetch_done_at: 1_020, map_done_at: 1_030,
    command_start_at: 1_040, command_end_at: 2_040, upload_done_at: 2_050, reported_at: 2_060, stdout_link: null, stderr_link: null, artifact_archive_link: null,
    stdout_master_link: null, stderr_master_link: null, artifact_archive_master_link: null, artifact_missing: false, cache: null, ...a,
  };
}

function task(description: string, attempts: AttemptView[], binary?: string): TaskView {
  return { task_id: description, description, binary, group: "succeeded", max_retries: 1, timeout: 300, dimensions: {}, attempts };
}

function jobCase(binary: string, name: string, duration: number | null, extra: Partial<JobCaseView> = {}): JobCaseView {
  return { binary, suite: "S", name, status: "passed", task_id: binary, attempt: 0, duration_ms: duration, message: null, file: null, line: null, runs: 1, failures: 0, ...extra };
}

describe("makespanFigures", () => {
  test("makespan from the POST to the last report, against the bound from the cases' durations, with the dominant binary's shards", () => {
    const tasks = [
      task("big.0", [attempt({ attempt: 0, command_start_at: 1_040, command_end_at: 8_040, reported_at: 9_000 })], "big"),
      task("big.1", [attempt({ attempt: 0, reported_at: 11_000 })], "big"),
      task("small", [attempt({ attempt: 0, reported_at: 3_000 })], "small"),
    ];
    const cases = [jobCase("big", "A", 3_000), jobCase("big", "B", 4_000), jobCase("small", "C", 1_000)];
    const f = makespanFigures({ postedAt: 1_000, observedMs: 10_020, tasks, cases }, "big", 2);
    expect(f).toEqual({ makespanMs: 10_020, reportedSpanMs: 10_000, lowerBoundMs: 4_000, ratio: 2.505, longestCaseMs: 4_000, caseSumMs: 8_000, shards: 2, longestShardMs: 7_000 });
    expect(clockProblem(f)).toBeNull();
  });

  test("tells a shard from its binary by the description when the master gives no binary", () => {
    const tasks = [task("big.0", [attempt({ attempt: 0 })]), task("big.1", [attempt({ attempt: 0 })]), task("big2", [attempt({ attempt: 0 })])];
    expect(makespanFigures({ postedAt: 0, observedMs: 2_060, tasks, cases: [] }, "big", 8).shards).toBe(2);
  });

  test("refuses a job with an unreported attempt or a case without a duration", () => {
    expect(() => makespanFigures({ postedAt: 0, observedMs: 1, tasks: [task("t", [attempt({ attempt: 0, reported_at: null })])], cases: [] }, "t", 8)).toThrow(/never reported/);
    expect(() => makespanFigures({ postedAt: 0, observedMs: 1, tasks: [task("t", [attempt({ attempt: 0 })])], cases: [jobCase("t", "X", null)] }, "t", 8)).toThrow(/t S\.X reported no duration/);
  });
});

test("clockProblem: the monotonic makespan and the wall-clock span seconds apart mean the clock moved", () => {
  expect(clockProblem({ makespanMs: 47_460, reportedSpanMs: 30_200 })).toBe(
    "POST → finished took 47.46 s on the monotonic clock but POST → last report 30.20 s on the wall clock: the wall clock moved during the job, so its attempts' spans are not to be trusted",
  );
  expect(clockProblem({ makespanMs: 30_200, reportedSpanMs: 47_460 })).toMatch(/took 30\.20 s .* 47\.46 s/);
  expect(clockProblem({ makespanMs: 10_000, reportedSpanMs: 8_000 })).toBeNull();
});

describe("caseCoverageProblems", () => {
  const expected = ["S.A", "S.B", "S.C"];
  test("none when every case ran once and passed", () => {
    expect(caseCoverageProblems([jobCase("b", "A", 1), jobCase("b", "B", 1), jobCase("b", "C", 1), jobCase("other", "Z", 1)], "b", expected)).toEqual([]);
  });
  test("names a case run twice, one missing, one that is not the binary's, one failed", () => {
    const problems = caseCoverageProblems([jobCase("b", "A", 1, { runs: 2 }), jobCase("b", "X", 1), jobCase("b", "C", 1, { status: "failed" })], "b", expected);
    expect(problems).toEqual(["S.A ran 2 times", "S.X is not a case of b", "S.C failed", "1 of 3 cases of b never ran (S.B)"]);
  });
});

describe("retryFigures and overheadsMs", () => {
  const flakyCases = (runsEach: number) => [
    jobCase("f", "Slow", 1_000, { runs: runsEach }),
    jobCase("f", "Flaky", 300, { status: "flaky", runs: 2, failures: 1, attempt: 1 }),
  ];
  const retried = task("f", [
    attempt({ attempt: 0, state: "FAILED", exit_code: 1, leased_at: 1_010, command_start_at: 1_050, command_end_at: 2_350, reported_at: 2_400 }),
    attempt({ attempt: 1, retry: 1, queued_at: 2_400, leased_at: 2_420, command_start_at: 2_460, command_end_at: 2_770, reported_at: 2_820 }),
  ], "f");

  test("the retry's command, slot time, overhead and what it added, with the case runs it made", () => {
    expect(retryFigures({ postedAt: 1_000, observedMs: 1_830, tasks: [retried], cases: flakyCases(1) }, "S.Flaky")).toEqual({
      retryCommandMs: 310, retryLeaseToReportMs: 400, retryOverheadMs: 90, retryAddedMs: 420, retryCaseRuns: 1, flakyCaseMs: 300, makespanMs: 1_830, reportedSpanMs: 1_820,
    });
    // A whole-task retry ran every case again.
    expect(retryFigures({ postedAt: 1_000, observedMs: 1_830, tasks: [retried], cases: flakyCases(2) }, "S.Flaky").retryCaseRuns).toBe(2);
  });

  test("refuses a job whose retry is not the one expected", () => {
    expect(() => retryFigures({ postedAt: 0, observedMs: 1, tasks: [task("f", [attempt({ attempt: 0 })])], cases: flakyCases(1) }, "S.Flaky")).toThrow(/expected one task with two attempts, got f: SUCCEEDED/);
    expect(() => retryFigures({ postedAt: 0, observedMs: 1, tasks: [retried], cases: [jobCase("f", "Flaky", 300)] }, "S.Flaky")).toThrow(/S\.Flaky is passed \(300 ms\), not flaky/);
    expect(() => retryFigures({ postedAt: 0, observedMs: 1, tasks: [retried], cases: [] }, "S.Flaky")).toThrow(/not among the job's cases/);
  });

  test("overheadsMs: lease to report minus the command, for attempts that ran once", () => {
    expect(overheadsMs([task("a", [attempt({ attempt: 0 })]), retried, task("q", [attempt({ attempt: 0, leased_at: null })])])).toEqual([50]);
  });
});
