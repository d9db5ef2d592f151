/**
 * What the client says of retries that ran only some cases (docs/retries.md):
 * the end-of-watch report names what such a retry ran, and a tasks file's
 * `retry` and `case_filter` keys reach the request, checked as the master
 * checks them.
 */
import { afterAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { failureReport, selectionNote } from "../../src/client/summary.ts";
import { readTasksFile } from "../../src/client/tasks-file.ts";
import { DtError } from "../../src/common/errors.ts";
import { caseSelectionView } from "../../src/master/cases/selection-view.ts";
import { CASE_SELECTION_NAMES } from "../../src/master/protocol.ts";
import { TempDirs } from "../helpers/temp.ts";
import { attemptOf, summaryOf, taskOf } from "./fake-master.ts";

const temps = new TempDirs();
afterAll(() => temps.cleanup());
const HASH = "ab".repeat(32);
const JOB = "alice.1700000000.3";

test("the report lists a flaky task's retry that ran some cases, passed as it did, with what it ran; a whole-task retry that passed is not listed", () => {
  const flaky = taskOf("h.0", "flaky_test", "flaky", [
    attemptOf(0, "FAILED", { stdout_link: "/a/0.stdout" }),
    attemptOf(1, "SUCCEEDED", { stdout_link: "/a/1.stdout", case_selection: { mode: "include", count: 1, names: ["FlakyTest.FailsOnFirstAttempt"] } }),
  ]);
  const whole = taskOf("h.1", "whole_test", "flaky", [attemptOf(0, "FAILED"), attemptOf(1, "SUCCEEDED", { case_selection: null })]);
  const lines = failureReport(summaryOf(JOB, { total_tasks: 2, finished: 2, flaky: 2 }), [flaky, whole], (l) => `http://m${l}`);
  expect(lines).toEqual([
    `Job ${JOB}: 2 of 2 tasks passed (2 flaky); 0 failed`,
    "FLAKY flaky_test (task h.0, 2 attempts)",
    "  attempt 0: FAILED, exit 1, on slave-1",
    "    stdout: http://m/a/0.stdout",
    "  attempt 1: SUCCEEDED (retry ran 1 case: FlakyTest.FailsOnFirstAttempt), exit 0, on slave-1",
    "    stdout: http://m/a/1.stdout",
    "FLAKY whole_test (task h.1, 2 attempts)",
    "  attempt 0: FAILED, exit 1, on slave-1",
  ]);
});

test("selectionNote: a few names then a count; an exclusion as what was left out; hostile names made printable", () => {
  expect(selectionNote({ mode: "include", count: 2, names: ["S.a", "S.b"] })).toBe("retry ran 2 cases: S.a, S.b");
  expect(selectionNote({ mode: "include", count: 120, names: ["S.a", "S.b", "S.c", "S.d"] })).toBe("retry ran 120 cases: S.a, S.b, S.c, and 117 more");
  expect(selectionNote({ mode: "exclude", count: 4, names: ["S.a"] })).toBe("retry ran every case not yet passed (4 left out)");
  expect(selectionNote({ mode: "include", count: 1, names: ["S.\u001b[31mred\nnext"] })).not.toMatch(/[\u001b\n]/);
});

test("the API's view of a selection counts every case and names the first 50", () => {
  const many = Array.from({ length: 70 }, (_, i) => ({ suite: "S", name: `c${i}` }));
  expect(caseSelectionView(null)).toBeNull();
  const view = caseSelectionView({ include: many });
  expect(view).toMatchObject({ mode: "include", count: 70 });
  expect(view!.names).toHaveLength(CASE_SELECTION_NAMES);
  expect(view!.names[0]).toBe("S.c0");
  expect(caseSelectionView({ exclude: [{ suite: "P/1", name: "x" }] })).toEqual({ mode: "exclude", count: 1, names: ["P/1.x"] });
});

test("a tasks file's retry and case_filter reach the request; a wrong value is refused naming the file and field", async () => {
  const dir = await temps.make("dt-retry-tasks-");
  const write = (tasks: unknown[]) => {
    const path = join(dir, `t${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(path, JSON.stringify({ tasks }));
    return path;
  };
  const ok = write([{ isolate_hash: HASH, description: "a", retry: "task" }, { isolate_hash: HASH, description: "b", retry: "cases", case_filter: { env: "TESTS", separator: "," } }]);
  expect(readTasksFile(ok).tasks).toEqual([
    { isolate_hash: HASH, description: "a", retry: "task" },
    { isolate_hash: HASH, description: "b", retry: "cases", case_filter: { env: "TESTS", separator: "," } },
  ]);
  const refusal = (path: string) => {
    try {
      readTasksFile(path);
    } catch (err) {
      expect(err).toBeInstanceOf(DtError);
      return (err as Error).message;
    }
    throw new Error("accepted");
  };
  const wrong = write([{ isolate_hash: HASH, description: "a", retry: "failed" }]);
  expect(refusal(wrong)).toBe(`${wrong}: tasks[0].retry: must be "cases" (a retry runs only the failed cases, the default) or "task" (the whole task again), got "failed"`);
  const badFilter = write([{ isolate_hash: HASH, description: "a", case_filter: { env: "1BAD" } }]);
  expect(refusal(badFilter)).toStartWith(`${badFilter}: tasks[0].case_filter.env: must be an environment variable's name`);
});
