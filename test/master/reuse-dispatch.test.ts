/**
 * Reuse of identical tasks' results (docs/reuse.md) on a real Master over
 * SQLite with a played slave: a hit at submit, the misses, an expired or
 * flaky original, and identical tasks in flight (the first succeeds, fails,
 * is lost, is canceled).
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import type { CaseReport, JobRequest, TaskRequest } from "../../src/master/protocol.ts";
import { playedSlave } from "./played-slave.ts";
import { type MasterFixture, hashOf, makeMaster } from "../web/fixture.ts";

let fx: MasterFixture;
beforeEach(async () => {
  fx = await makeMaster();
});
afterEach(() => fx.close());

const { leaseAll, leaseOne, reportOn } = playedSlave(() => fx);
const kase = (name: string, status: CaseReport["status"] = "passed", flaky_failures?: number): CaseReport => ({ suite: "S", name, status, duration_ms: 5, message: null, file: null, line: null, ...(flaky_failures ? { flaky_failures } : {}) });
const task = (word: string, over: Partial<TaskRequest> = {}): TaskRequest => ({ isolate_hash: hashOf(word), description: word, idempotent: true, ...over });
const submit = (job_id: string, tasks: TaskRequest[], over: Partial<JobRequest> = {}) => fx.master.submitJob({ job_id, tasks, ...over });
const counts = async (jobId: string) => (await fx.master.jobSummary(jobId)).counts;
const queued = () => fx.master.queueStats().queued;

/** Runs every queued attempt to `state` with `cases`. */
async function runAll(n: number, state: "SUCCEEDED" | "FAILED" = "SUCCEEDED", cases = [kase("a"), kase("b")]): Promise<void> {
  for (const lease of await leaseAll(n)) await reportOn(lease, state, cases);
}

test("an unchanged idempotent task takes its first run's result at submit: SUCCEEDED, never queued, linked to the original's attempt, logs and cases", async () => {
  await submit("first.1", [task("t1"), task("t2")]);
  await runAll(2);
  fx.clock.advance(60_000);
  await submit("again.1", [task("t1"), task("t2")]);
  expect(queued()).toBe(0);
  const summary = await fx.master.jobSummary("again.1");
  expect(summary.status).toBe("finished");
  expect(summary.counts).toMatchObject({ total_tasks: 2, succeeded: 2, reused: 2, coalesced: 0, waiting: 0, saved_ms: 20 });
  expect(summary.counts.cases).toMatchObject({ total: 4, passed: 4 });
  const { tasks } = await fx.master.jobTasks("again.1");
  const a = tasks[0]!.attempts;
  expect(a.length).toBe(1);
  expect(a[0]!.state).toBe("SUCCEEDED");
  expect(a[0]!.reused_from).toMatchObject({ job_id: "first.1", task_id: `${hashOf("t1")}.0`, attempt: 0, saved_ms: 10, in_flight: false, url: "http://dt.test/job?job_id=first.1" });
  expect(a[0]!.slave).toBeNull();
  const cases = await fx.master.deps.repo.listJobCases("again.1", { limit: 10 });
  expect(cases.map((c) => c.reusedFrom?.jobId)).toEqual(["first.1", "first.1", "first.1", "first.1"]);
});

test("a change to any property of the key runs the task; description, priority, retries and the job do not", async () => {
  await submit("base.1", [task("k")]);
  await runAll(1);
  const changed: [string, Partial<TaskRequest>][] = [
    ["isolate", { isolate_hash: hashOf("other") }], ["env", { env: { A: "1" } }], ["dimensions", { dimensions: { os: "linux" } }],
    ["timeout", { timeout: 60 }], ["shards", { shards: 2 }], ["case filter", { case_filter: { env: "MY_FILTER" } }],
    ["artifacts", { artifact_archive_globs: ["*.log"] }], ["results", { result_globs: ["out/*.xml"] }],
  ];
  for (const [i, [what, over]] of changed.entries()) {
    await submit(`miss.${i}`, [task("k", over)]);
    expect({ what, reused: (await counts(`miss.${i}`)).reused }).toEqual({ what, reused: 0 });
  }
  await submit("same.1", [task("k", { description: "renamed", priority: 5, max_retries: 3 })], { priority: 9, name: "other" });
  expect((await counts("same.1")).reused).toBe(1);
});

test("what is never reused: a result older than --reuse-max-age, a flaky or retried original, a task not idempotent, a job with reuse false; reuse true makes every task idempotent", async () => {
  await submit("old.1", [task("old")]);
  await runAll(1);
  fx.clock.advance(8 * 86_400_000);
  await submit("old.2", [task("old")]);
  expect((await counts("old.2")).reused).toBe(0);
  await runAll(1);
  // Flaky within the run (a case passed on a rerun), and a success after a retry: neither is kept.
  await submit("flaky.1", [task("fl"), task("re", { max_retries: 1 })]);
  const [fl, re] = await leaseAll(2);
  await reportOn(fl!, "SUCCEEDED", [kase("a", "passed", 1)]);
  await reportOn(re!, "FAILED", [kase("x", "failed")]);
  await reportOn(await leaseOne(), "SUCCEEDED", [kase("x")]);
  await submit("flaky.2", [task("fl"), task("re", { max_retries: 1 })]);
  expect((await counts("flaky.2")).reused).toBe(0);
  await runAll(2);
  await submit("plain.1", [task("p", { idempotent: false })]);
  await runAll(1);
  await submit("plain.2", [task("p", { idempotent: false })]);
  expect((await counts("plain.2")).reused).toBe(0);
  await runAll(1);
  // The job's reuse: false runs a task with a result; reuse: true reuses for a task that did not say idempotent.
  await submit("forced.1", [task("old")], { reuse: false });
  expect((await counts("forced.1")).reused).toBe(0);
  await runAll(1);
  await submit("all.1", [task("old", { idempotent: false })], { reuse: true });
  expect((await counts("all.1")).reused).toBe(1);
});

test("identical tasks in flight run once: the second job waits for the first's attempt and takes its result", async () => {
  await submit("lead.1", [task("f1"), task("f2")]);
  await submit("follow.1", [task("f1"), task("f2")]);
  expect(queued()).toBe(2);
  expect(await counts("follow.1")).toMatchObject({ waiting: 2, queued: 2, finished: 0 });
  const views = (await fx.master.jobTasks("follow.1")).tasks.map((t) => t.attempts[0]!.reused_from?.job_id);
  expect(views).toEqual(["lead.1", "lead.1"]);
  await runAll(2);
  expect(queued()).toBe(0);
  const follow = await fx.master.jobSummary("follow.1");
  expect(follow.status).toBe("finished");
  expect(follow.counts).toMatchObject({ succeeded: 2, reused: 2, coalesced: 2, waiting: 0 });
  expect(follow.counts.cases).toMatchObject({ total: 4, passed: 4 });
});

test("in flight: a first attempt that fails, is lost or is canceled with its job makes the waiting task run on its own", async () => {
  await submit("lead.2", [task("g1"), task("g2")]);
  await submit("lead.3", [task("g3")]);
  await submit("follow.2", [task("g1"), task("g2"), task("g3")]);
  expect(queued()).toBe(3);
  const leases = await leaseAll(3);
  const byTask = new Map(leases.map((l) => [l.job_id === "lead.3" ? "g3" : l.task_id.endsWith(".0") ? "g1" : "g2", l]));
  await reportOn(byTask.get("g1")!, "FAILED", [kase("a", "failed")]);
  await reportOn(byTask.get("g2")!, "INFRA_FAILED");
  // Each failure released its follower into the queue (the lost one's requeue too).
  const waiting = (await counts("follow.2")).waiting;
  expect(waiting).toBe(1);
  await fx.master.cancelJob("lead.3");
  expect((await counts("follow.2")).waiting).toBe(0);
  const next = await leaseAll(4);
  expect(next.filter((l) => l.job_id === "follow.2").length).toBe(3);
  for (const l of next) await reportOn(l, "SUCCEEDED", [kase("a")]);
  const follow = await fx.master.jobSummary("follow.2");
  expect(follow.counts).toMatchObject({ succeeded: 3, reused: 0, canceled: 0 });
  // The canceled leader's job says canceled, the follower's job does not.
  expect((await counts("lead.3")).canceled).toBe(1);
});

test("a canceled waiting job ends canceled, and its leader's result still finishes others", async () => {
  await submit("lead.4", [task("h")]);
  await submit("follow.4", [task("h")]);
  await submit("follow.5", [task("h")]);
  await fx.master.cancelJob("follow.4");
  expect(await counts("follow.4")).toMatchObject({ canceled: 1, finished: 1 });
  await runAll(1);
  expect(await counts("follow.5")).toMatchObject({ reused: 1, coalesced: 1, finished: 1 });
  expect(await counts("follow.4")).toMatchObject({ canceled: 1, reused: 0 });
});
