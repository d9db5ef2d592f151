/**
 * An adversarial review of reuse (docs/reuse.md, issue 15) on a real Master
 * with a played slave, over SQLite and MariaDB: the in-flight waiting list
 * against fair share, a database error while waiting tasks are told, a
 * leader that ends while a job that waits for it is being stored, a
 * success proven flaky by a later identical run, auto shards, a reused
 * task described otherwise, concurrent submits and reports (MariaDB
 * deadlocks), a seeded random interleaving drained to an empty dispatcher,
 * dist_test's view of reused tasks and hostile `idempotent` / `reuse`.
 *
 * Tests named "KNOWN GAP:" fail on purpose: each shows a finding left for
 * the lead (see the review's report); the rest guard fixed or sound paths.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { CaseReport, JobRequest, Lease, TaskRequest } from "../../src/master/protocol.ts";
import { playedSlave } from "./played-slave.ts";
import { caseKey } from "../../src/master/cases/case-key.ts";
import { type RepoHook, type ReuseFixture, hooked, reuseDialects } from "./reuse-fixture.ts";
import { type MasterFixture, hashOf } from "../web/fixture.ts";

/** The next job stored (createJob, alone or in a transaction with its reused cases) is followed by `act`. */
const afterNextJobStored = (act: () => Promise<unknown>): RepoHook => ({ method: ["createJob", "transaction"], act, after: true });

for (const [dialect, open, skip] of reuseDialects("reuse review")) {
describe.skipIf(skip)(`reuse review on ${dialect}`, () => {
let fx: ReuseFixture;
const hooks: RepoHook[] = [];
const start = async () => {
  fx = await open(hooked(hooks));
};
afterEach(async () => {
  hooks.splice(0);
  await fx?.close();
});

const { leaseAll, leaseOne, reportOn } = playedSlave(() => fx as unknown as MasterFixture);
const kase = (name: string, status: CaseReport["status"] = "passed"): CaseReport => ({ suite: "S", name, status, duration_ms: 5, message: null, file: null, line: null });
const task = (word: string, over: Partial<TaskRequest> = {}): TaskRequest => ({ isolate_hash: hashOf(word), description: word, idempotent: true, ...over });
const submit = (job_id: string, tasks: TaskRequest[], over: Partial<JobRequest> = {}) => fx.master.submitJob({ job_id, tasks, ...over });
const counts = async (jobId: string) => (await fx.master.jobSummary(jobId)).counts;

test("identical tasks queued in two jobs each keep their job's fair share: the first one given a slave runs, and the other waits for it, not the other way round", async () => {
  await start();
  // Alice's job: nine tasks of her own, then one that Bob's job also has, last in her job's order.
  const fillers = Array.from({ length: 9 }, (_, i) => task(`alice-${i}`, { idempotent: false }));
  await submit("alice.1", [...fillers, task("shared")], { user: "alice" });
  await submit("bob.1", [task("shared")], { user: "bob" });
  // Nothing runs yet: both are queued, neither waits for the other.
  expect((await counts("bob.1")).waiting).toBe(0);
  // Two slots: Alice's first task, then Bob's (fair share: he runs nothing), which runs the shared task for both.
  const [first, second] = await leaseAll(2);
  expect([first!.job_id, second!.job_id]).toEqual(["alice.1", "bob.1"]);
  expect(await counts("alice.1")).toMatchObject({ waiting: 1, queued: 9 });
  await reportOn(second!, "SUCCEEDED", [kase("a")]);
  expect((await fx.master.jobSummary("bob.1")).status).toBe("finished");
  // Alice's copy took Bob's result: nine more leases finish her job, not ten.
  await reportOn(first!, "SUCCEEDED", [kase("a")]);
  for (const l of await leaseAll(8)) await reportOn(l, "SUCCEEDED", [kase("a")]);
  expect(await counts("alice.1")).toMatchObject({ finished: 10, reused: 1, coalesced: 1 });
  expect(fx.master.queueStats().queued).toBe(0);
});

test("a database error while a leader's failure is told to the tasks waiting for it loses neither the leader's retry nor the waiting task", async () => {
  await start();
  await submit("lead.1", [task("k", { max_retries: 1 })]);
  await submit("follow.1", [task("k")]);
  const lease = await leaseOne();
  hooks.push({ method: "getAttempt", act: () => Promise.reject(new Error("injected: the database went away")) });
  // The release of the waiting task fails half-way; the leader's report still stands and is answered.
  await reportOn(lease, "FAILED", [kase("a", "failed")]).catch(() => {});
  // The slave's retry of its report, if the first answer was an error.
  await reportOn(lease, "FAILED", [kase("a", "failed")]);
  await fx.master.dispatcher.sweep();
  const next = await leaseAll(2);
  expect(next.map((l) => `${l.job_id}#${l.attempt}`).sort()).toEqual(["follow.1#0", "lead.1#1"]);
  for (const l of next) await reportOn(l, "SUCCEEDED", [kase("a")]);
  expect((await fx.master.jobSummary("lead.1")).status).toBe("finished");
  expect((await fx.master.jobSummary("follow.1")).status).toBe("finished");
  expect(fx.master.dispatcher.inFlight.size).toEqual({ leaders: 0, followers: 0 });
});

test("a task that chose to wait for a leader which ended while its job was being stored takes that result at once, not at a later sweep", async () => {
  await start();
  await submit("lead.2", [task("race")]);
  const lease = await leaseOne();
  // After follow.2 is planned (waiting for lead.2's attempt) and stored, before it is queued: the leader reports.
  hooks.push(afterNextJobStored(() => reportOn(lease, "SUCCEEDED", [kase("a")])));
  await submit("follow.2", [task("race")]);
  expect(await counts("follow.2")).toMatchObject({ waiting: 0, reused: 1, coalesced: 1, finished: 1 });
  expect(fx.master.dispatcher.inFlight.size).toEqual({ leaders: 0, followers: 0 });
});

test("the same when the leader failed meanwhile: the waiting task is queued at once", async () => {
  await start();
  await submit("lead.3", [task("race-fail")]);
  const lease = await leaseOne();
  hooks.push(afterNextJobStored(() => reportOn(lease, "FAILED", [kase("a", "failed")])));
  await submit("follow.3", [task("race-fail")]);
  expect(await counts("follow.3")).toMatchObject({ waiting: 0, queued: 1 });
  expect((await leaseOne()).job_id).toBe("follow.3");
});

test("an identical task's first run that fails, or passes only on a rerun, after a success proves the success flaky: it is reused no more, until a later run passes again", async () => {
  await start();
  await submit("ok.1", [task("det")]);
  await reportOn(await leaseOne(), "SUCCEEDED", [kase("a")]);
  // The same inputs, forced to run: this time the test fails.
  await submit("forced.1", [task("det")], { reuse: false });
  await reportOn(await leaseOne(), "FAILED", [kase("a", "failed")]);
  await submit("again.1", [task("det")]);
  expect((await counts("again.1")).reused).toBe(0);
  // That run passes: it is the result kept now.
  await reportOn(await leaseOne(), "SUCCEEDED", [kase("a")]);
  await submit("again.2", [task("det")]);
  expect((await fx.master.jobTasks("again.2")).tasks[0]!.attempts[0]!.reused_from?.job_id).toBe("again.1");
  // Passing only on a rerun (a flaky case) proves the same; a lost slave proves nothing.
  await submit("forced.2", [task("det")], { reuse: false });
  await reportOn(await leaseOne(), "SUCCEEDED", [{ ...kase("a"), flaky_failures: 1 }]);
  await submit("again.3", [task("det")]);
  expect((await counts("again.3")).reused).toBe(0);
  await reportOn(await leaseOne(), "SUCCEEDED", [kase("a")]);
  await submit("forced.3", [task("det")], { reuse: false });
  await reportOn(await leaseOne(), "INFRA_FAILED");
  await submit("again.4", [task("det")]);
  expect((await counts("again.4")).reused).toBe(1);
});

test("an unchanged auto-sharded idempotent job reuses nothing on its first re-submit (the first run's numeric shards wrote the history that plans case shards: other keys); from the second re-submit on, all (docs/reuse.md)", async () => {
  await start();
  const auto = task("auto", { shards: "auto" as unknown as number });
  const runAll = async (jobId: string) => {
    const n = (await counts(jobId)).queued;
    for (const l of n > 0 ? await leaseAll(n) : []) await reportOn(l, "SUCCEEDED", [kase(`c${l.task_id.slice(-1)}`), kase(`d${l.task_id.slice(-1)}`)]);
  };
  await submit("auto.1", [auto]);
  await runAll("auto.1");
  await submit("auto.2", [auto]);
  const second = await counts("auto.2");
  await runAll("auto.2");
  await submit("auto.3", [auto]);
  const third = await counts("auto.3");
  expect({ second: second.reused, third: third.reused }).toEqual({ second: 0, third: third.total_tasks });
  expect(third.total_tasks).toBeGreaterThan(0);
});

for (const firstSeed of [12345, 7, 2024, 31337, 99, 4242]) test(`a random interleaving of identical jobs (seed ${firstSeed}): submits, reports that pass or fail, lost slaves, cancels, concurrent with each other, and a restart; then everything drains: every job finished, no open entry, no leader or follower left`, async () => {
  await start();
  let seed = firstSeed;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const words = ["p", "q", "r"];
  // Fewer leases than asked are fine here: an item of a job canceled meanwhile is dropped when taken.
  const leaseUpTo = (n: number) => fx.master.dispatcher.lease({ slave: { name: "s1", dimensions: {}, slots: n, version: "t" }, free: n, wait_ms: 0 });
  const jobs: string[] = [];
  const held: Lease[] = [];
  for (let step = 0; step < 60; step++) {
    const op = rand(10);
    if (op < 3) {
      const id = `rnd.${step}`;
      jobs.push(id);
      await submit(id, Array.from({ length: 1 + rand(3) }, () => task(words[rand(words.length)]!, { max_retries: rand(2) })));
    } else if (op < 5) {
      const free = (await fx.master.queueStats()).queued;
      if (free > 0) held.push(...(await leaseUpTo(Math.min(free, 2))));
    } else if (op < 8 && held.length > 0) {
      // Two reports at once, one of them perhaps racing a cancel of a random job.
      const batch = held.splice(0, 2);
      // A slave sends a report again when it got an error (MariaDB may end one of two concurrent first reports of two jobs as a deadlock).
      const report = (l: Lease, state: "FAILED" | "SUCCEEDED", cases: CaseReport[]) => reportOn(l, state, cases).catch(() => reportOn(l, state, cases));
      const work: Promise<unknown>[] = batch.map((l) => report(l, rand(3) === 0 ? "FAILED" : "SUCCEEDED", [kase("a", rand(3) === 0 ? "failed" : "passed")]));
      if (rand(2) === 0 && jobs.length > 0) work.push(fx.master.cancelJob(jobs[rand(jobs.length)]!));
      await Promise.all(work);
    } else if (op === 8) {
      // The slave holding the oldest lease is lost.
      fx.clock.advance(31_000);
      await fx.master.dispatcher.sweep();
      held.length = 0;
    } else if (op === 9 && step === 45) {
      held.length = 0;
      await fx.restart();
      await fx.master.dispatcher.sweep();
    }
  }
  // Drain: whatever is queued runs and passes; leases not reported are lost.
  fx.clock.advance(31_000);
  await fx.master.dispatcher.sweep();
  for (let round = 0; round < 20; round++) {
    const n = fx.master.queueStats().queued;
    if (n === 0) break;
    for (const l of await leaseUpTo(n)) await reportOn(l, "SUCCEEDED", [kase("a")]);
    await fx.master.dispatcher.sweep();
  }
  const unfinished: string[] = [];
  for (const id of jobs) if ((await fx.master.jobSummary(id)).status !== "finished") unfinished.push(id);
  expect(unfinished).toEqual([]);
  let waited = 0;
  for (const id of jobs) waited += (await counts(id)).coalesced ?? 0;
  // The interleaving did make tasks wait (3 to 8 per seed when written).
  expect(waited).toBeGreaterThan(0);
  expect((fx.master.dispatcher as unknown as { state: { open: Map<string, unknown> } }).state.open.size).toBe(0);
  expect(fx.master.dispatcher.inFlight.size).toEqual({ leaders: 0, followers: 0 });
});

test("concurrent submits that each reuse results all succeed (MariaDB: each locks the end of job_cases for its new job's rows)", async () => {
  await start();
  await submit("seed.1", [task("c1"), task("c2")]);
  for (const l of await leaseAll(2)) await reportOn(l, "SUCCEEDED", [kase("a"), kase("b")]);
  for (let round = 0; round < 5; round++) {
    const ids = Array.from({ length: 4 }, (_, i) => `conc.${round}.${i}`);
    const outcomes = await Promise.allSettled(ids.map((id) => submit(id, [task("c1"), task("c2")])));
    expect(outcomes.map((o) => (o.status === "rejected" ? String(o.reason) : "ok"))).toEqual(ids.map(() => "ok"));
    for (const id of ids) expect(await counts(id)).toMatchObject({ reused: 2, finished: 2 });
  }
});

test("concurrent first reports of four jobs all stand at once (MariaDB: each locks the end of job_cases for its job's first rows)", async () => {
  await start();
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 4; i++) await submit(`first.${round}.${i}`, [task(`f${round}.${i}`, { idempotent: false })]);
    const leases = await leaseAll(4);
    const outcomes = await Promise.allSettled(leases.map((l) => reportOn(l, "SUCCEEDED", [kase("a")])));
    expect(outcomes.map((o) => (o.status === "rejected" ? String(o.reason) : "ok"))).toEqual(["ok", "ok", "ok", "ok"]);
  }
});

test("a task that reuses the result of an identical task described otherwise shows the cases under its own binary, keyed as its own", async () => {
  await start();
  await submit("named.1", [task("bin", { description: "old_name" })]);
  await reportOn(await leaseOne(), "SUCCEEDED", [kase("a")]);
  await submit("named.2", [task("bin", { description: "new_name" })]);
  expect((await counts("named.2")).reused).toBe(1);
  const rows = await fx.master.deps.repo.listJobCases("named.2", { limit: 10 });
  expect(rows.map((c) => c.binary)).toEqual(["new_name"]);
  expect(rows[0]!.caseKey).toBe(caseKey("new_name", "S", "a"));
  expect(rows[0]!.reusedFrom).toMatchObject({ jobId: "named.1", attempt: 0 });
  expect(await counts("named.2")).toMatchObject({ cases: { total: 1, passed: 1 } });
});

test("dist_test's /job_status and /tasks see a job whose every task was reused at submit as finished and succeeded", async () => {
  await start();
  await submit("dt.1", [task("x"), task("y")]);
  for (const l of await leaseAll(2)) await reportOn(l, "SUCCEEDED", [kase("a")]);
  await submit("dt.2", [task("x"), task("y")]);
  expect(await fx.master.distTestStatus("dt.2")).toMatchObject({ status: "finished", total_groups: 2, succeeded_groups: 2, failed_groups: 0, finished_tasks: 2, running_tasks: 0 });
  // The summary a long poll returns at once: nothing is left to change.
  const summary = await fx.master.jobSummaryAfter("dt.2", "no-such-version", 5_000);
  expect(summary.status).toBe("finished");
});

test("hostile idempotent and reuse fields are refused, naming the field, and store nothing", async () => {
  await start();
  for (const [what, raw, field] of [
    ["idempotent string", { job_id: "bad.1", tasks: [{ ...task("h"), idempotent: "yes" }] }, "tasks[0].idempotent"],
    ["idempotent number", { job_id: "bad.2", tasks: [{ ...task("h"), idempotent: 1 }] }, "tasks[0].idempotent"],
    ["reuse string", { job_id: "bad.3", tasks: [task("h")], reuse: "true" }, "reuse"],
    ["reuse object", { job_id: "bad.4", tasks: [task("h")], reuse: {} }, "reuse"],
  ] as const) {
    const err = await fx.master.submitJob(raw).then(() => null, (e: Error) => e);
    expect({ what, message: err?.message.startsWith(`${field}:`) }).toEqual({ what, message: true });
    expect(await fx.master.deps.repo.getJob(raw.job_id)).toBeNull();
  }
});
test("--reuse-max-age 0 turns reuse off: identical idempotent jobs each run every task, queued together or not, and look nothing up", async () => {
  fx = await open({ reuseMaxAgeMs: 0 });
  await submit("off.1", [task("z1"), task("z2")]);
  await submit("off.2", [task("z1"), task("z2")]);
  const leases = await leaseAll(4);
  expect(leases.length).toBe(4);
  for (const l of leases) await reportOn(l, "SUCCEEDED", [kase("a")]);
  await submit("off.3", [task("z1"), task("z2")]);
  expect(await counts("off.3")).toMatchObject({ reused: 0, waiting: 0, queued: 2 });
  expect(fx.master.dispatcher.inFlight.size.followers).toBe(0);
});
});
}
