/**
 * scheduler/retry-filter.ts: what a failed attempt's retry runs, every
 * branch; and that the selection it gives renders as the lease would
 * (GTEST_FILTER, a runner's env or args).
 */
import { describe, expect, test } from "bun:test";
import { type CaseFilterSpec, type CaseName, MAX_FILTER_BYTES, renderCaseFilter } from "../../src/master/cases/case-filter.ts";
import { type RetryInput, type TaskCaseRun, chooseRetry, unprovenRetry } from "../../src/master/scheduler/retry-filter.ts";
import type { CaseStatus } from "../../src/results/model.ts";

const c = (suite: string, name: string): CaseName => ({ suite, name });
const ran = (attempt: number, name: string, status: CaseStatus, suite = "S"): TaskCaseRun => ({ attempt, suite, name, status });
const noQuarantine = () => false;

function input(over: Omit<Partial<RetryInput>, "task"> & { task?: Partial<RetryInput["task"]> } = {}): RetryInput {
  return {
    failedAttempt: 0, attemptSelection: null, runs: [], quarantined: noQuarantine, ...over,
    task: { caseFilter: null, caseSelection: null, retryMode: "cases", shardCount: null, env: {}, ...over.task },
  };
}

const ENV_RUNNER: CaseFilterSpec = { via: "env", target: "TESTS", separator: ",", format: "{suite}::{name}", exclude: null };

describe("chooseRetry", () => {
  test('"retry": "task" reruns the whole task whatever failed', () => {
    expect(chooseRetry(input({ task: { retryMode: "task" }, runs: [ran(0, "a", "failed"), ran(0, "b", "passed")] }))).toEqual({ run: "task", why: "retry-mode" });
  });

  test("an attempt that reported no case (died before its first) reruns the whole task, even when an earlier attempt reported some", () => {
    expect(chooseRetry(input())).toEqual({ run: "task", why: "no-cases" });
    expect(chooseRetry(input({ failedAttempt: 1, runs: [ran(0, "a", "failed")] }))).toEqual({ run: "task", why: "no-cases" });
  });

  test("an attempt that failed with every case passed or skipped (a non-zero exit at the end) reruns the whole task", () => {
    expect(chooseRetry(input({ runs: [ran(0, "a", "passed"), ran(0, "b", "skipped")] }))).toEqual({ run: "task", why: "no-failed-case" });
  });

  test("failed cases: an include list of them, once each, in report order; earlier attempts' failures it did not run again count no more", () => {
    const runs = [ran(0, "old", "failed"), ran(1, "b", "failed"), ran(1, "a", "passed"), ran(1, "c", "failed"), ran(1, "b", "failed")];
    expect(chooseRetry(input({ failedAttempt: 1, runs }))).toEqual({ run: "cases", selection: { include: [c("S", "b"), c("S", "c")] } });
  });

  test("quarantined failures: all of them, no retry; some, an include list of the others", () => {
    const runs = [ran(0, "q", "failed"), ran(0, "a", "passed"), ran(0, "f", "failed")];
    expect(chooseRetry(input({ runs: runs.filter((r) => r.name !== "f"), quarantined: (x) => x.name === "q" }))).toEqual({ run: "nothing" });
    expect(chooseRetry(input({ runs, quarantined: (x) => x.name === "q" }))).toEqual({ run: "cases", selection: { include: [c("S", "f")] } });
  });

  test("a crash in a whole-task attempt: every case but those settled (latest run passed or skipped); cases the crash kept from running run too", () => {
    const runs = [ran(0, "a", "passed"), ran(0, "f", "failed"), ran(0, "s", "skipped"), ran(0, "x", "crashed")];
    expect(chooseRetry(input({ runs }))).toEqual({ run: "cases", selection: { exclude: [c("S", "a"), c("S", "s")] } });
  });

  test("a crash after earlier retries: a case counts by its latest run (passed then crashed is not settled), the exclusion adds to an auto shard's", () => {
    const runs = [ran(0, "a", "passed"), ran(0, "b", "passed"), ran(0, "f", "failed"), ran(1, "b", "crashed")];
    const task = { caseSelection: { exclude: [c("Other", "shard")] }, shardCount: 4 };
    expect(chooseRetry(input({ task, failedAttempt: 1, attemptSelection: { exclude: [c("S", "a")] }, runs }))).toEqual({
      run: "cases", selection: { exclude: [c("Other", "shard"), c("S", "a")] },
    });
  });

  test("a crash in an attempt with an include list (a retry's, an auto shard's): that list minus the settled cases and quarantined failures", () => {
    const runs = [ran(0, "a", "failed"), ran(0, "b", "failed"), ran(0, "q", "failed"), ran(0, "p", "passed"), ran(1, "a", "passed"), ran(1, "b", "crashed")];
    const attemptSelection = { include: [c("S", "a"), c("S", "b"), c("S", "never"), c("S", "q")] };
    expect(chooseRetry(input({ failedAttempt: 1, attemptSelection, runs, quarantined: (x) => x.name === "q" }))).toEqual({
      run: "cases", selection: { include: [c("S", "b"), c("S", "never")] },
    });
    // The task's own include list when the attempt had none.
    expect(chooseRetry(input({ task: { caseSelection: { include: [c("S", "a"), c("S", "z")] }, shardCount: 3 }, runs: [ran(0, "a", "crashed")] }))).toEqual({
      run: "cases", selection: { include: [c("S", "a"), c("S", "z")] },
    });
  });

  test("a quarantined crash still retries the cases it kept from running, without itself; with nothing left but it, no retry (an empty list would be no filter)", () => {
    const quarantined = (x: CaseName) => x.name === "q";
    expect(chooseRetry(input({ runs: [ran(0, "a", "passed"), ran(0, "q", "crashed")], quarantined }))).toEqual({ run: "cases", selection: { exclude: [c("S", "a"), c("S", "q")] } });
    expect(chooseRetry(input({ attemptSelection: { include: [c("S", "q")] }, runs: [ran(0, "q", "crashed")], quarantined }))).toEqual({ run: "nothing" });
  });

  test("a crash in a numeric shard reruns the whole shard: a filter drops GTEST_SHARD_INDEX, so an exclusion would run the other shards' cases", () => {
    const runs = [ran(0, "a", "passed"), ran(0, "x", "crashed")];
    expect(chooseRetry(input({ task: { shardCount: 3 }, runs }))).toEqual({ run: "task", why: "numeric-shard" });
    // Its failed cases alone are still an include list.
    expect(chooseRetry(input({ task: { shardCount: 3 }, runs: [ran(0, "a", "passed"), ran(0, "f", "failed")] }))).toEqual({ run: "cases", selection: { include: [c("S", "f")] } });
  });

  test("a crash with a runner whose case_filter has no exclusion form reruns the whole task; its failed cases are still an include list", () => {
    expect(chooseRetry(input({ task: { caseFilter: ENV_RUNNER }, runs: [ran(0, "a", "passed"), ran(0, "x", "crashed")] }))).toEqual({ run: "task", why: "no-exclude" });
    expect(chooseRetry(input({ task: { caseFilter: ENV_RUNNER }, runs: [ran(0, "a", "passed"), ran(0, "f", "failed")] }))).toEqual({ run: "cases", selection: { include: [c("S", "f")] } });
  });

  test("a filter too long for one environment variable reruns the whole task", () => {
    const long = "n".repeat(1_000);
    const runs = Array.from({ length: Math.ceil(MAX_FILTER_BYTES / long.length) + 1 }, (_, i) => ran(0, `${long}${i}`, "failed"));
    expect(chooseRetry(input({ runs }))).toEqual({ run: "task", why: "too-long" });
    // Just under it still fits.
    expect(chooseRetry(input({ runs: runs.slice(0, 50) })).run).toBe("cases");
  });

  test("the selections render as the lease renders them: gtest's filter within the user's own, a runner's variable", () => {
    const chosen = chooseRetry(input({ task: { env: { GTEST_FILTER: "S.*-S.slow" } }, runs: [ran(0, "a", "passed"), ran(0, "x", "crashed")] }));
    // The exclusion keeps the user's positive and negative parts.
    expect(chosen).toEqual({ run: "cases", selection: { exclude: [c("S", "a")] } });
    if (chosen.run !== "cases") throw new Error("unreachable");
    expect(renderCaseFilter(null, chosen.selection, { GTEST_FILTER: "S.*-S.slow" }).env).toEqual({ GTEST_FILTER: "S.*-S.slow:S.a" });
    const failed = chooseRetry(input({ task: { caseFilter: ENV_RUNNER }, runs: [ran(0, "f", "failed", "pkg"), ran(0, "g", "failed", "pkg")] }));
    if (failed.run !== "cases") throw new Error(`expected cases, got ${JSON.stringify(failed)}`);
    expect(renderCaseFilter(ENV_RUNNER, failed.selection, {}).env).toEqual({ TESTS: "pkg::f,pkg::g" });
  });
});

describe("chooseRetry after a timeout", () => {
  test("a timed-out attempt with a failed case and none crashed (a hang outside any case) is retried as a crash: every case not settled; a numeric shard whole", () => {
    const runs = [ran(0, "ok", "passed"), ran(0, "bad", "failed")];
    expect(chooseRetry(input({ runs, timedOut: true }))).toEqual({ run: "cases", selection: { exclude: [c("S", "ok")] } });
    expect(chooseRetry(input({ runs, timedOut: true, task: { shardCount: 2 } }))).toEqual({ run: "task", why: "numeric-shard" });
    expect(chooseRetry(input({ runs }))).toEqual({ run: "cases", selection: { include: [c("S", "bad")] } });
  });
});

describe("unprovenRetry", () => {
  const selection = { include: [c("S", "a"), c("S", "b"), c("S", "gone")] };
  const earlier = [ran(0, "a", "failed"), ran(0, "b", "failed")];
  test("every case of it reported, an exclusion, or no selection: a pass is a pass", () => {
    expect(unprovenRetry(selection, [c("S", "a"), c("S", "b"), c("S", "gone")], [], earlier)).toBeNull();
    expect(unprovenRetry({ exclude: [c("S", "a"), c("S", "b")] }, [], [], earlier)).toBeNull();
    expect(unprovenRetry(null, [], [], earlier)).toBeNull();
  });
  test("a case that ran before and was not reported: no pass, naming it; one that never ran in the task (gone from the binary since the history) proves nothing", () => {
    expect(unprovenRetry(selection, [c("S", "a")], [], earlier)).toMatch(/^the retry exited 0 but did not report 1 of the 2 cases it was to run again \(S\.b\)/);
    expect(unprovenRetry(selection, [c("S", "a"), c("S", "b")], [], earlier)).toBeNull();
  });
  test("an exclusion (a retry after a crash): the cases that ran before and it does not leave out must be reported", () => {
    const runs = [ran(0, "ok", "passed"), ran(0, "died", "crashed"), ran(0, "bad", "failed")];
    const exclusion = { exclude: [c("S", "ok")] };
    expect(unprovenRetry(exclusion, [c("S", "died"), c("S", "bad"), c("S", "new")], [], runs)).toBeNull();
    expect(unprovenRetry(exclusion, [c("S", "new")], [], runs)).toMatch(/did not report 2 of the 2 cases it was to run again \(S\.died, S\.bad\)/);
  });
  test("a report the slave had to cut proves nothing", () => {
    expect(unprovenRetry(selection, [], ["5 of 9 cases were not reported: a report holds at most 4 cases and 100 bytes of them (failed cases were kept first)"], earlier)).toBeNull();
  });
});
