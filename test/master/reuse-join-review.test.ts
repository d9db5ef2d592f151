/**
 * An adversarial review of the join of identical tasks at lease time
 * (transitions/coalesce.ts joinIdentical, reuse/in-flight.ts candidates) and
 * of a reused task described otherwise (reuse/linked-cases.ts linkRenamed),
 * on a real Master with a played slave, over SQLite and MariaDB: a cancel
 * between a waiting task's leaving the queue and its write, a second slave
 * taking a twin while the first's join is written, several twins in one
 * lease call, a released task leading a later join, a restart with joined
 * tasks, leaks of candidates after many jobs, the ETA of a job that only
 * waits, and binaries that differ only in case or trailing space.
 *
 * Each test failed before its fix (see the review's report), or guards a
 * sound path.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { CaseReport, JobRequest, Lease, TaskRequest } from "../../src/master/protocol.ts";
import { playedSlave } from "./played-slave.ts";
import { type RepoHook, type ReuseFixture, hooked, reuseDialects } from "./reuse-fixture.ts";
import { type MasterFixture, hashOf } from "../web/fixture.ts";

/** updateAttempt(jobId, …, patch) writing that a task waits for another job's identical run. */
const joinWrite = (jobId: string) => (args: unknown[]) => args[0] === jobId && (args[3] as { reusedFrom?: { inFlight?: boolean } | null })?.reusedFrom?.inFlight === true;

for (const [dialect, open, skip] of reuseDialects("reuse join review")) {
describe.skipIf(skip)(`reuse join review on ${dialect}`, () => {
let fx: ReuseFixture;
const hooks: RepoHook[] = [];
const start = async () => {
  fx = await open(hooked(hooks));
};
afterEach(async () => {
  hooks.length = 0;
  await fx?.close();
});

const { leaseOne, reportOn } = playedSlave(() => fx as unknown as MasterFixture);
const leaseFor = (slave: string, free: number) => fx.master.dispatcher.lease({ slave: { name: slave, dimensions: {}, slots: free, version: "t" }, free, wait_ms: 0 });
const kase = (name: string, status: CaseReport["status"] = "passed", suite = "S"): CaseReport => ({ suite, name, status, duration_ms: 5, message: null, file: null, line: null });
const task = (word: string, over: Partial<TaskRequest> = {}): TaskRequest => ({ isolate_hash: hashOf(word), description: word, idempotent: true, ...over });
const submit = (job_id: string, tasks: TaskRequest[], over: Partial<JobRequest> = {}) => fx.master.submitJob({ job_id, tasks, ...over });
const counts = async (jobId: string) => (await fx.master.jobSummary(jobId)).counts;
const openJobs = () => (fx.master.dispatcher as unknown as { state: { open: Map<string, unknown> } }).state.open;
/** Nothing left in the dispatcher's memory: no open job, leader, follower or queued candidate. */
const drained = () => ({ open: [...openJobs().keys()], ...fx.master.dispatcher.inFlight.size, candidates: fx.master.dispatcher.inFlight.queuedCandidates, queued: fx.master.queueStats().queued });
const empty = { open: [], leaders: 0, followers: 0, candidates: 0, queued: 0 };

test("twins of three jobs in one lease call of three slots: one runs, the two others wait for it", async () => {
  await start();
  for (const id of ["a.1", "b.1", "c.1"]) await submit(id, [task("tri")]);
  const leases = await leaseFor("s1", 3);
  expect(leases.map((l) => l.job_id)).toEqual(["a.1"]);
  expect((await counts("b.1")).waiting).toBe(1);
  await reportOn(leases[0]!, "SUCCEEDED", [kase("a")]);
  for (const id of ["b.1", "c.1"]) expect(await counts(id)).toMatchObject({ reused: 1, coalesced: 1, finished: 1 });
  expect(drained()).toEqual(empty);
});

test("a twin is not given to a second slave while the first slave's lease writes that the twins wait for it: each twin runs once", async () => {
  await start();
  for (const id of ["a.2", "b.2", "c.2"]) await submit(id, [task("pair")]);
  let second: Lease[] = [];
  // While b.2's wait is written, another slave asks for work: c.2's twin, queued still, must not be its.
  hooks.push({ method: "updateAttempt", when: joinWrite("b.2"), act: async () => void (second = await leaseFor("s2", 1)) });
  const first = await leaseOne();
  expect({ first: first.job_id, second: second.map((l) => l.job_id) }).toEqual({ first: "a.2", second: [] });
  await reportOn(first, "SUCCEEDED", [kase("a")]);
  for (const id of ["b.2", "c.2"]) expect(await counts(id)).toMatchObject({ reused: 1, finished: 1 });
  expect(drained()).toEqual(empty);
});

test("a twin is not given to a second slave while the first slave's lease of its twin is being stored (idle slaves long-polling when jobs arrive together): it waits for it", async () => {
  await start();
  await submit("a.13", [task("window")]);
  await submit("b.13", [task("window")]);
  let second: Lease[] = [];
  // Between the first take and its LEASED write, another slave asks: b.13's twin is queued, and no leader is known yet.
  hooks.push({ method: "updateAttempt", when: (args) => args[0] === "a.13" && (args[3] as { state?: string }).state === "LEASED", act: async () => void (second = await leaseFor("s2", 1)) });
  const first = await leaseOne();
  expect({ first: first.job_id, second: second.map((l) => l.job_id) }).toEqual({ first: "a.13", second: [] });
});

test("a task planned while no copy ran, stored after a copy in another job was given a slave, waits for that copy instead of running again", async () => {
  await start();
  await submit("a.14", [task("late")]);
  let first: Lease | undefined;
  // b.14 found no copy running when planned; a.14's copy is leased before b.14 is stored and queued.
  hooks.push({ method: "createJob", when: (args) => (args[0] as { id?: string }).id === "b.14", act: async () => void (first = await leaseOne()) });
  await submit("b.14", [task("late")]);
  expect(first?.job_id).toBe("a.14");
  expect({ waiting: (await counts("b.14")).waiting, leased: (await leaseFor("s2", 1)).map((l) => l.job_id) }).toEqual({ waiting: 1, leased: [] });
  await reportOn(first!, "SUCCEEDED", [kase("a")]);
  expect(await counts("b.14")).toMatchObject({ reused: 1, coalesced: 1, finished: 1 });
  expect(drained()).toEqual(empty);
});

test("a job canceled while it is being queued (after it is stored) leaves nothing queued, waiting or open", async () => {
  await start();
  await submit("a.15", [task("q")]);
  const lease = await leaseOne();
  // gone.15's second task waits for a.15's run from the plan on; its first is queued. The cancel comes between store and queue.
  hooks.push({ method: "expectedDurations", when: () => openJobs().has("gone.15"), act: () => fx.master.cancelJob("gone.15") });
  await submit("gone.15", [task("other"), task("q")]);
  expect((await fx.master.jobSummary("gone.15")).status).toBe("finished");
  await reportOn(lease, "SUCCEEDED", [kase("a")]);
  expect(drained()).toEqual(empty);
});

test("a job canceled while its twin's wait is being written ends: its entry, and the wait, go at once, not when the leader ends", async () => {
  await start();
  await submit("lead.3", [task("cx")]);
  await submit("gone.3", [task("cx")]);
  hooks.push({ method: "updateAttempt", when: joinWrite("gone.3"), act: () => fx.master.cancelJob("gone.3") });
  const lease = await leaseOne();
  expect(lease.job_id).toBe("lead.3");
  expect((await fx.master.jobSummary("gone.3")).status).toBe("finished");
  expect({ open: [...openJobs().keys()], followers: fx.master.dispatcher.inFlight.size.followers }).toEqual({ open: ["lead.3"], followers: 0 });
  await reportOn(lease, "SUCCEEDED", [kase("a")]);
  expect(await counts("gone.3")).toMatchObject({ canceled: 1, reused: 0 });
  expect(drained()).toEqual(empty);
});

test("a task leased just as its job is canceled leads no twin of another job: the twin runs, it does not wait for a run being killed", async () => {
  await start();
  await submit("gone.11", [task("kill")]);
  await submit("b.11", [task("kill")]);
  // The lease is stored, then the job is canceled, before the twins are joined to it.
  hooks.push({ method: "updateAttempt", when: (args) => args[0] === "gone.11" && (args[3] as { state?: string }).state === "LEASED", act: () => fx.master.cancelJob("gone.11"), after: true });
  const doomed = await leaseOne();
  expect(doomed.job_id).toBe("gone.11");
  expect((await counts("b.11")).waiting).toBe(0);
  const next = await leaseOne();
  expect(next.job_id).toBe("b.11");
  await reportOn(next, "SUCCEEDED", [kase("a")]);
  await reportOn(doomed, "CANCELED");
  expect(drained()).toEqual(empty);
});

test("a waiting task released by its leader's failure, whose job is canceled while it is queued again, is not left in the queue or among the candidates", async () => {
  await start();
  await submit("lead.4", [task("rel")]);
  await submit("gone.4", [task("rel")]);
  const lease = await leaseOne();
  expect((await counts("gone.4")).waiting).toBe(1);
  // After the release is written (reusedFrom null), before the task is queued again: its job is canceled.
  hooks.push({ method: "getAttempt", when: (args) => args[0] === "gone.4", act: () => fx.master.cancelJob("gone.4") });
  await reportOn(lease, "FAILED", [kase("a", "failed")]);
  expect((await fx.master.jobSummary("gone.4")).status).toBe("finished");
  expect(drained()).toEqual(empty);
});

test("tasks released by a failed leader join the first of them given a slave, and take its result", async () => {
  await start();
  for (const id of ["a.5", "b.5", "c.5"]) await submit(id, [task("again")]);
  const first = await leaseOne();
  await reportOn(first, "FAILED", [kase("a", "failed")]);
  expect((await counts("b.5")).queued).toBe(1);
  const leases = await leaseFor("s1", 3);
  expect(leases.map((l) => l.job_id)).toEqual(["b.5"]);
  await reportOn(leases[0]!, "SUCCEEDED", [kase("a")]);
  expect((await fx.master.jobTasks("c.5")).tasks[0]!.attempts[0]!.reused_from).toMatchObject({ job_id: "b.5", in_flight: true });
  expect(drained()).toEqual(empty);
});

test("a leader lost with its slave is queued again as a candidate like its released twin: whichever of the two a slave takes first, the other waits for it", async () => {
  await start();
  await submit("a.10", [task("lost")]);
  await submit("b.10", [task("lost")]);
  await leaseOne();
  fx.clock.advance(31_000);
  await fx.master.dispatcher.sweep();
  // a.10's next attempt (a requeue, no retry spent) and b.10's released twin are both queued: one runs.
  const leases = await leaseFor("s1", 2);
  expect(leases.length).toBe(1);
  await reportOn(leases[0]!, "SUCCEEDED", [kase("a")]);
  for (const id of ["a.10", "b.10"]) expect((await fx.master.jobSummary(id)).status).toBe("finished");
  expect(drained()).toEqual(empty);
});

test("a restart with tasks that joined at lease time and twins of the leader's own job: the leader's result finishes the joined, its own twin runs", async () => {
  await start();
  await submit("a.6", [task("rs"), task("rs", { description: "rs-twin" })]);
  await submit("b.6", [task("rs")]);
  await submit("c.6", [task("rs")]);
  const lease = await leaseOne();
  expect((await counts("c.6")).waiting).toBe(1);
  await fx.restart();
  expect(fx.master.dispatcher.inFlight.size).toEqual({ leaders: 1, followers: 2 });
  await reportOn(lease, "SUCCEEDED", [kase("a")]);
  for (const id of ["b.6", "c.6"]) expect(await counts(id)).toMatchObject({ reused: 1, finished: 1 });
  const twin = await leaseOne();
  expect(twin.job_id).toBe("a.6");
  await reportOn(twin, "SUCCEEDED", [kase("a")]);
  expect((await fx.master.jobSummary("a.6")).status).toBe("finished");
  expect(drained()).toEqual(empty);
});

test("many jobs of twins that run, fail, are lost, canceled or find no slave leave no candidate, leader, follower or open entry behind", async () => {
  await start();
  const ids: string[] = [];
  for (let round = 0; round < 6; round++) {
    for (let j = 0; j < 4; j++) {
      const id = `m.${round}.${j}`;
      ids.push(id);
      // Unrunnable twins in round 4: no slave has "os=none"; they end NO_RESOURCE.
      await submit(id, [task(`w${round % 3}`, round === 4 ? { dimensions: { os: "none" } } : {}), task(`v${round}`)]);
    }
    if (round === 2) await fx.master.cancelJob(`m.${round}.1`);
    if (round === 4) {
      fx.clock.advance(700_000);
      await fx.master.dispatcher.sweep();
    }
    const held = await leaseFor("s1", 8);
    for (const [i, l] of held.entries()) {
      if (round === 3 && i === 0) continue; // lost below
      await reportOn(l, i % 3 === 1 ? "FAILED" : "SUCCEEDED", [kase("a", i % 3 === 1 ? "failed" : "passed")]);
    }
    fx.clock.advance(31_000);
    await fx.master.dispatcher.sweep();
    for (let n = fx.master.queueStats().queued; n > 0; n = fx.master.queueStats().queued) {
      const more = await leaseFor("s1", n);
      if (more.length === 0) break;
      for (const l of more) await reportOn(l, "SUCCEEDED", [kase("a")]);
    }
  }
  // The unrunnable twins of round 4 end once a slave was seen long enough without their dimension.
  fx.clock.advance(700_000);
  await leaseFor("s1", 1);
  await fx.master.dispatcher.sweep();
  const unfinished: string[] = [];
  for (const id of ids) if ((await fx.master.jobSummary(id)).status !== "finished") unfinished.push(id);
  expect(unfinished).toEqual([]);
  expect(drained()).toEqual(empty);
});

test("a twin described otherwise that joined at lease time shows the leader's cases under its own binary, counted once", async () => {
  await start();
  await submit("a.12", [task("desc", { description: "lead_bin" })]);
  await submit("b.12", [task("desc", { description: "follow_bin" })]);
  const lease = await leaseOne();
  await reportOn(lease, "SUCCEEDED", [kase("a"), kase("b"), kase("c", "skipped")]);
  const rows = await fx.master.deps.repo.listJobCases("b.12", { limit: 10 });
  expect(rows.map((r) => `${r.binary}/${r.name}`).sort()).toEqual(["follow_bin/a", "follow_bin/b", "follow_bin/c"]);
  expect(await counts("b.12")).toMatchObject({ coalesced: 1, cases: { total: 3, passed: 2, skipped: 1 } });
});

test("slaves long-polling when twins of six jobs are submitted at once are given each key once: every job finishes and nothing is left in memory", async () => {
  await start();
  const polls = Array.from({ length: 4 }, (_, i) => fx.master.dispatcher.lease({ slave: { name: `p${i}`, dimensions: {}, slots: 2, version: "t" }, free: 2, wait_ms: 500 }));
  // Wait on the event: all four polls held.
  for (const deadline = Date.now() + 5_000; (fx.master.dispatcher as unknown as { state: { waiters: Set<unknown> } }).state.waiters.size < 4;) {
    if (Date.now() > deadline) throw new Error("the polls were not held");
    await Bun.sleep(1);
  }
  const ids = Array.from({ length: 6 }, (_, i) => `w.${i}`);
  await Promise.all(ids.map((id) => submit(id, [task("hot"), task("cold")])));
  const served = (await Promise.all(polls)).flatMap((leases, i) => leases.map((l) => ({ l, slave: `p${i}` })));
  // Each key ran once, however the polls and the six submits interleaved: every other copy waited for it.
  expect(served.map((x) => x.l.description).sort()).toEqual(["cold", "hot"]);
  for (const { l, slave } of served) {
    await fx.master.dispatcher.report({
      lease_id: l.lease_id, job_id: l.job_id, task_id: l.task_id, attempt: l.attempt, state: "SUCCEEDED", exit_code: 0, message: null,
      times: { fetch_done_at: 1, map_done_at: 1, command_start_at: 1, command_end_at: 2, upload_done_at: 2 },
      cache: null, stdout_key: null, stderr_key: null, artifact_key: null, artifact_missing: false, slave,
    });
  }
  for (let n = fx.master.queueStats().queued; n > 0; n = fx.master.queueStats().queued) for (const l of await leaseFor("s1", n)) await reportOn(l, "SUCCEEDED", [kase("a")]);
  const unfinished: string[] = [];
  for (const id of ids) if ((await fx.master.jobSummary(id)).status !== "finished") unfinished.push(id);
  expect(unfinished).toEqual([]);
  expect(drained()).toEqual(empty);
});

test("a job whose only task left waits for another job's run estimates what that run has left, not 0 s", async () => {
  await start();
  // History: "slow" takes ten minutes.
  await submit("hist.7", [task("slow", { idempotent: false })]);
  const h = await leaseOne();
  const now = fx.clock.now();
  await fx.master.dispatcher.report({
    lease_id: h.lease_id, job_id: h.job_id, task_id: h.task_id, attempt: h.attempt, state: "SUCCEEDED", exit_code: 0, message: null,
    times: { fetch_done_at: now, map_done_at: now, command_start_at: now, command_end_at: now + 600_000, upload_done_at: now + 600_000 },
    cache: null, stdout_key: null, stderr_key: null, artifact_key: null, artifact_missing: false, slave: "s1",
  });
  await submit("a.7", [task("slow")]);
  await submit("b.7", [task("slow")]);
  const lease = await leaseOne();
  expect(lease.job_id).toBe("a.7");
  fx.clock.advance(1_000);
  const lead = await fx.master.jobSummary("a.7");
  const waits = await fx.master.jobSummary("b.7");
  expect(waits.counts.waiting).toBe(1);
  expect(lead.estimated_remaining_sec).toBeGreaterThan(500);
  // Waiting for a.7's run, b.7 ends when it does.
  expect(waits.estimated_remaining_sec).toBeGreaterThan(500);
});

for (const [what, origin, renamed] of [["case", "bin", "Bin"], ["trailing space", "bin", "bin "]] as const) {
  test(`a reused task whose description differs from its origin's only by ${what} shows the cases under its own binary`, async () => {
    await start();
    await submit("o.8", [task("same", { description: origin })]);
    await reportOn(await leaseOne(), "SUCCEEDED", [kase("a"), kase("b")]);
    await submit("r.8", [task("same", { description: renamed })]);
    expect((await counts("r.8")).reused).toBe(1);
    const rows = await fx.master.deps.repo.listJobCases("r.8", { limit: 10 });
    expect(rows.map((c) => JSON.stringify(c.binary))).toEqual([JSON.stringify(renamed), JSON.stringify(renamed)]);
  });
}

test("a renamed link of an origin with hostile suite and case names (long, quotes, unicode, repeated) keys each case once under the new binary and counts them once", async () => {
  await start();
  const long = "S".repeat(3_000);
  const cases = [kase("a'b\"c", "passed", long), kase("ünïcödé ✓", "passed", "S;DROP TABLE cases"), kase("x", "skipped"), kase("x", "passed"), kase("%_", "passed")];
  await submit("o.9", [task("hostile", { description: "old" })]);
  await reportOn(await leaseOne(), "SUCCEEDED", cases);
  const originCounts = (await counts("o.9")).cases;
  await submit("r.9", [task("hostile", { description: "new" }), task("hostile", { description: "newer" })]);
  const rows = await fx.master.deps.repo.listJobCases("r.9", { limit: 50 });
  expect(rows.length).toBe(8);
  expect(new Set(rows.map((r) => r.binary))).toEqual(new Set(["new", "newer"]));
  expect(rows.find((r) => r.suite === long)?.name).toBe("a'b\"c");
  const linked = (await counts("r.9")).cases!;
  expect(linked.total).toBe(2 * originCounts!.total);
  expect(linked.total).toBe(8);
  // Each case as the origin's job shows it, under the new binary, and with no rename (the INSERT … SELECT path).
  const shown = async (jobId: string, binary?: string) =>
    (await fx.master.deps.repo.listJobCases(jobId, { limit: 50 })).filter((r) => (!binary || r.binary === binary) && r.name !== "x").map((r) => `${r.suite.slice(0, 20)}/${r.name}: ${r.status}`).sort();
  expect(await shown("r.9", "new")).toEqual(await shown("o.9"));
  await submit("s.9", [task("hostile", { description: "old" })]);
  expect(await shown("s.9")).toEqual(await shown("o.9"));
});

test("a case reported twice by its origin (skipped, then passed) shows in a reusing job as the origin's job shows it (passed, two runs), described alike or otherwise", async () => {
  await start();
  await submit("o.16", [task("twice", { description: "old" })]);
  await reportOn(await leaseOne(), "SUCCEEDED", [kase("x", "skipped"), kase("x", "passed")]);
  await submit("same.16", [task("twice", { description: "old" })]);
  await submit("renamed.16", [task("twice", { description: "new" })]);
  const shown = async (jobId: string) => (await fx.master.deps.repo.listJobCases(jobId, { limit: 5 })).map((r) => `${r.name}: ${r.status} x${r.runs}`);
  const origin = await shown("o.16");
  expect(origin).toEqual(["x: passed x2"]);
  expect({ same: await shown("same.16"), renamed: await shown("renamed.16") }).toEqual({ same: origin, renamed: origin });
});
});
}
