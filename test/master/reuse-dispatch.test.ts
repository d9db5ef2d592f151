/**
 * Reuse of identical tasks' results (docs/reuse.md) on a real Master with a
 * played slave, over SQLite and over MariaDB (DT_TEST_MYSQL_URL): a hit at
 * submit, the misses, an expired or flaky original, identical tasks in
 * flight (the first succeeds, fails, is lost, is canceled) and a restart of
 * the master while one waits.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { CaseReport, JobRequest, TaskRequest } from "../../src/master/protocol.ts";
import { playedSlave } from "./played-slave.ts";
import { type ReuseFixture, reuseDialects } from "./reuse-fixture.ts";
import { type MasterFixture, hashOf } from "../web/fixture.ts";

const dialects = reuseDialects("reuse");

for (const [dialect, open, skip] of dialects) {
describe.skipIf(skip)(`reuse on ${dialect}`, () => {
let fx: ReuseFixture;
beforeEach(async () => {
  fx = await open();
});
afterEach(() => fx.close());

const { leaseAll, leaseOne, reportOn } = playedSlave(() => fx as unknown as MasterFixture);
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

test("identical tasks in flight run once: queued together, the first given a slave runs and its twin in the other job waits for it; submitted while one runs, a task waits at once", async () => {
  await submit("lead.1", [task("f1"), task("f2")]);
  await submit("follow.1", [task("f1"), task("f2")]);
  // Both jobs keep their place in the queue until one copy is given a slave.
  expect(queued()).toBe(4);
  expect(await counts("follow.1")).toMatchObject({ waiting: 0, queued: 2 });
  // Fair share takes one task of each job; each job's other task waits for the other job's copy.
  const leases = await leaseAll(2);
  expect(leases.map((l) => l.job_id).sort()).toEqual(["follow.1", "lead.1"]);
  expect(queued()).toBe(0);
  expect(await counts("lead.1")).toMatchObject({ waiting: 1, running: 1 });
  const waitingFor = (await fx.master.jobTasks("follow.1")).tasks.map((t) => t.attempts[0]!.reused_from?.job_id).filter(Boolean);
  expect(waitingFor).toEqual(["lead.1"]);
  // A third job submitted now waits for the running copies from the start.
  await submit("late.1", [task("f1"), task("f2")]);
  expect(await counts("late.1")).toMatchObject({ waiting: 2, queued: 2 });
  expect(queued()).toBe(0);
  for (const l of leases) await reportOn(l, "SUCCEEDED", [kase("a"), kase("b")]);
  for (const jobId of ["lead.1", "follow.1", "late.1"]) {
    const summary = await fx.master.jobSummary(jobId);
    expect({ jobId, status: summary.status }).toEqual({ jobId, status: "finished" });
    expect(summary.counts.cases).toMatchObject({ total: 4, passed: 4 });
  }
  expect(await counts("follow.1")).toMatchObject({ succeeded: 2, reused: 1, coalesced: 1, waiting: 0 });
  expect(await counts("late.1")).toMatchObject({ succeeded: 2, reused: 2, coalesced: 2, waiting: 0 });
  expect(fx.master.dispatcher.inFlight.size).toEqual({ leaders: 0, followers: 0 });
});

test("in flight: a first attempt that fails, is lost or is canceled with its job makes the waiting task run on its own", async () => {
  await submit("lead.2", [task("g1"), task("g2")]);
  await submit("lead.3", [task("g3")]);
  const leases = await leaseAll(3);
  await submit("follow.2", [task("g1"), task("g2"), task("g3")]);
  expect(queued()).toBe(0);
  const byTask = new Map(leases.map((l) => [l.job_id === "lead.3" ? "g3" : l.task_id.endsWith(".0") ? "g1" : "g2", l]));
  await reportOn(byTask.get("g1")!, "FAILED", [kase("a", "failed")]);
  await reportOn(byTask.get("g2")!, "INFRA_FAILED");
  // Each failure released its follower into the queue (the lost one's requeue too).
  const waiting = (await counts("follow.2")).waiting;
  expect(waiting).toBe(1);
  await fx.master.cancelJob("lead.3");
  expect((await counts("follow.2")).waiting).toBe(0);
  // Queued: follow.2's three, and lead.2's g2 again (a lost run is requeued). Its g2 and follow.2's are identical: the first given a
  // slave runs, the other waits for it, so three leases run all four.
  const next = await leaseAll(3);
  expect(queued()).toBe(0);
  for (const l of next) await reportOn(l, "SUCCEEDED", [kase("a")]);
  const follow = await fx.master.jobSummary("follow.2");
  expect(follow.status).toBe("finished");
  expect(follow.counts).toMatchObject({ succeeded: 3, canceled: 0 });
  expect((await counts("lead.2")).finished).toBe(2);
  // The canceled leader's job says canceled, the follower's job does not.
  expect((await counts("lead.3")).canceled).toBe(1);
});

test("a canceled waiting job ends canceled, and its leader's result still finishes others", async () => {
  await submit("lead.4", [task("h")]);
  const [lease] = await leaseAll(1);
  await submit("follow.4", [task("h")]);
  await submit("follow.5", [task("h")]);
  await fx.master.cancelJob("follow.4");
  expect(await counts("follow.4")).toMatchObject({ canceled: 1, finished: 1 });
  await reportOn(lease!, "SUCCEEDED", [kase("a")]);
  expect(await counts("follow.5")).toMatchObject({ reused: 1, coalesced: 1, finished: 1 });
  expect(await counts("follow.4")).toMatchObject({ canceled: 1, reused: 0 });
});

test("a job with reuse false runs every task: it neither waits for a running copy nor joins one given a slave first; its results are still kept", async () => {
  await submit("lead.8", [task("n1"), task("n2")]);
  const [running] = await leaseAll(1);
  await submit("forced.8", [task("n1"), task("n2")], { reuse: false });
  expect(await counts("forced.8")).toMatchObject({ waiting: 0, queued: 2 });
  // lead.8's other copy is given a slave before forced.8's: forced.8 runs its own all the same.
  const rest = await leaseAll(3);
  expect(rest.filter((l) => l.job_id === "forced.8").length).toBe(2);
  for (const l of [running!, ...rest]) await reportOn(l, "SUCCEEDED", [kase("a")]);
  expect(await counts("forced.8")).toMatchObject({ succeeded: 2, reused: 0 });
  // Kept: a later job reuses a result (forced.8's or lead.8's).
  await submit("later.8", [task("n1"), task("n2")]);
  expect((await counts("later.8")).reused).toBe(2);
});

test("a master restarted while tasks wait: one whose leader ended in the crash window (stored, followers not yet told) takes the stored result at the first sweep; one whose leader still runs takes its result when it reports", async () => {
  await submit("lead.6", [task("r1"), task("r2")]);
  const leases = await leaseAll(2);
  await submit("follow.6", [task("r1"), task("r2")]);
  const [l1, l2] = [leases.find((l) => l.task_id.endsWith(".0"))!, leases.find((l) => l.task_id.endsWith(".1"))!];
  await fx.restart(async (repo) => {
    // What the previous master stored of r2's report before it died, before it could tell r2's follower.
    await repo.updateAttempt("lead.6", l2.task_id, 0, { state: "SUCCEEDED", exitCode: 0, reportedAt: fx.clock.now() });
    const key = (await repo.getTask("lead.6", l2.task_id))!.taskKey!;
    await repo.recordReusable({ taskKey: key, jobId: "lead.6", taskId: l2.task_id, attempt: 0, reportedAt: fx.clock.now(), savedMs: 42 });
  });
  expect(await counts("follow.6")).toMatchObject({ waiting: 2 });
  await fx.master.dispatcher.sweep();
  expect(await counts("follow.6")).toMatchObject({ waiting: 1, reused: 1, saved_ms: 42 });
  // r1's leader reports to the restarted master: its follower takes the result at once.
  await reportOn(l1, "SUCCEEDED", [kase("a")]);
  expect(await counts("follow.6")).toMatchObject({ waiting: 0, reused: 2, coalesced: 2, finished: 2 });
  expect(queued()).toBe(0);
});

test("a follower whose leader's run left nothing to reuse when the master restarted runs on its own at the first sweep", async () => {
  await submit("lead.7", [task("s1")]);
  const [lease] = await leaseAll(1);
  await submit("follow.7", [task("s1")]);
  await fx.restart((repo) => repo.updateAttempt("lead.7", lease!.task_id, 0, { state: "FAILED", exitCode: 1, reportedAt: fx.clock.now() }).then(() => {}));
  await fx.master.dispatcher.sweep();
  expect(await counts("follow.7")).toMatchObject({ waiting: 0, queued: 1 });
  const [run] = await leaseAll(1);
  expect(run!.job_id).toBe("follow.7");
});
});
}
