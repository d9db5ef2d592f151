/** bench/chaos/verdict.ts: what the chaos bench counts as lost, duplicated, retried and recovered. */
import { describe, expect, test } from "bun:test";
import type { AttemptState } from "../../src/master/model.ts";
import type { AttemptView, GroupState, TaskView } from "../../src/master/protocol.ts";
import { failuresOf, judge } from "../../bench/chaos/verdict.ts";

const FAULT_AT = 1_000_000;

function attempt(state: AttemptState, retry = 0, reportedAt: number | null = FAULT_AT + 2_000): AttemptView {
  return { attempt: 0, retry, state, slave: "slave-1", exit_code: null, message: null, queued_at: FAULT_AT - 5_000, leased_at: null, fetch_done_at: null, map_done_at: null, command_start_at: null, command_end_at: null, upload_done_at: null, reported_at: reportedAt } as AttemptView;
}

function task(id: string, group: GroupState, attempts: AttemptView[]): TaskView & { jobId: string } {
  return { jobId: "job", task_id: id, description: id, group, max_retries: 0, timeout: 0, dimensions: {}, attempts: attempts.map((a, i) => ({ ...a, attempt: i })) };
}

/** One completion mark per id given, as attempt 0. */
const marks = (...ids: string[]) => {
  const m = new Map<string, number[]>();
  for (const id of ids) m.set(`job ${id}`, [...(m.get(`job ${id}`) ?? []), 0]);
  return m;
};

describe("judge", () => {
  test("one success and one mark per task: nothing lost or duplicated, recovery from the fault", () => {
    const v = judge({
      tasks: [task("a", "succeeded", [attempt("SUCCEEDED", 0, FAULT_AT + 1_500)]), task("b", "succeeded", [attempt("SLAVE_LOST", 0, null), attempt("SUCCEEDED", 0, FAULT_AT + 9_000)])],
      submitted: 2, finished: true, marks: marks("a", "b"), faultAt: FAULT_AT, leftovers: 0,
    });
    expect(v).toMatchObject({ finished: true, lost: 0, duplicates: 0, retries: 0, requeues: 1, firstResultSec: 1.5, endSec: 9, wrongOutcome: 0 });
    expect(failuresOf(v)).toEqual([]);
  });

  test("a command that ran to its end twice is a duplicate though the master kept one result", () => {
    const v = judge({ tasks: [task("a", "succeeded", [attempt("SLAVE_LOST", 0, null), attempt("SUCCEEDED")])], submitted: 1, finished: true, marks: marks("a", "a"), leftovers: 0 });
    expect(v.duplicates).toBe(1);
    expect(failuresOf(v)).toEqual(["1 duplicate results"]);
    expect(v.notes).toContain("1 commands ran to their end twice or more (e.g. a: completions of attempts 0, 0; the master's attempts 0:SLAVE_LOST@slave-1, 1:SUCCEEDED@slave-1)");
  });

  test("two successes of one task are one duplicate, counted once with its two marks", () => {
    const v = judge({ tasks: [task("a", "succeeded", [attempt("SUCCEEDED"), attempt("SUCCEEDED")])], submitted: 1, finished: true, marks: marks("a", "a"), leftovers: 0 });
    expect(v.duplicates).toBe(1);
  });

  test("lost: a task missing from the master, one never ended, one passed without its command completing", () => {
    const v = judge({
      tasks: [task("a", "running", [attempt("RUNNING", 0, null)]), task("b", "succeeded", [attempt("SUCCEEDED")])],
      submitted: 3, finished: false, marks: marks(), leftovers: 0,
    });
    expect(v.lost).toBe(3);
    expect(failuresOf(v)).toEqual(["did not finish within its deadline", "3 tasks lost"]);
  });

  test("retries spent come from the attempts' retry numbers; other extra attempts are requeues", () => {
    const v = judge({
      tasks: [task("a", "canceled", [attempt("FAILED", 0), attempt("INFRA_FAILED", 1), attempt("CANCELED", 1)])],
      submitted: 1, finished: true, marks: marks(), expectedGroup: () => "canceled", leftovers: 2,
    });
    expect(v).toMatchObject({ lost: 0, retries: 1, requeues: 1, wrongOutcome: 0, leftovers: 2 });
    expect(failuresOf(v)).toEqual(["2 task processes left running"]);
  });

  test("a task in another final group than expected is a wrong outcome", () => {
    const v = judge({ tasks: [task("a", "failed", [attempt("FAILED")])], submitted: 1, finished: true, marks: marks(), leftovers: 0 });
    expect(v.wrongOutcome).toBe(1);
    expect(v.notes).toContain("1 ended 1 × failed, expected 1 × succeeded");
  });
});
