/**
 * Edges of retrying only the failed cases and of the quarantine, on a real
 * Master over SQLite with a played slave: a retry of a retry, a restart
 * with a retry queued, a lost retry, a quarantine that ends between a
 * task's attempts, and concurrent reports under --auto-quarantine.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../../src/common/clock.ts";
import { createLogger } from "../../src/common/log.ts";
import { FsArtifactStore } from "../../src/master/artifacts/fs-artifact-store.ts";
import { LiveLogs } from "../../src/master/artifacts/live-logs.ts";
import { Master } from "../../src/master/master.ts";
import { AUTO_QUARANTINE_DEFAULTS, type AutoQuarantineConfig } from "../../src/master/quarantine/auto.ts";
import { SqliteRepo } from "../../src/master/repo/sqlite.ts";
import type { CaseReport, JobCasesPage, Lease } from "../../src/master/protocol.ts";
import { playedSlave } from "./played-slave.ts";
import { type MasterFixture, call, hashOf, makeMaster } from "../web/fixture.ts";
import { HASH, report, slave, testMaster } from "./helpers.ts";

let fx: MasterFixture;
beforeEach(async () => {
  fx = await makeMaster();
});
afterEach(() => fx.close());

const kase = (suite: string, name: string, status: CaseReport["status"]): CaseReport => ({ suite, name, status, duration_ms: 5, message: status === "passed" ? null : `${name} ${status}`, file: null, line: null });

const { leaseAll, leaseOne, reportOn } = playedSlave(() => fx);
const nothingQueued = async () => expect(await fx.master.dispatcher.lease({ slave: { name: "s1", dimensions: {}, slots: 1, version: "t" }, free: 1, wait_ms: 0 })).toEqual([]);

async function jobCases(jobId: string): Promise<JobCasesPage["cases"]> {
  const res = await call(fx, `/api/v1/jobs/${jobId}/cases`);
  expect(res.status).toBe(200);
  return ((await res.json()) as JobCasesPage).cases;
}

test("a retry of a retry runs only what the last one failed; max_retries bounds them; cases and the group merge the attempts", async () => {
  const jobId = "edges.alice.1700000000.1";
  await fx.master.submitJob({ job_id: jobId, tasks: [{ isolate_hash: hashOf("t"), description: "unit_test", max_retries: 2 }] });
  await reportOn(await leaseOne(), "FAILED", [kase("S", "ok", "passed"), kase("S", "a", "failed"), kase("S", "b", "failed")]);
  const first = await leaseOne();
  expect([first.attempt, first.env.GTEST_FILTER]).toEqual([1, "S.a:S.b"]);
  await reportOn(first, "FAILED", [kase("S", "a", "passed"), kase("S", "b", "failed")]);
  const second = await leaseOne();
  expect([second.attempt, second.env.GTEST_FILTER]).toEqual([2, "S.b"]);
  await reportOn(second, "FAILED", [kase("S", "b", "failed")]);
  // Two retries spent: none more.
  await nothingQueued();
  const summary = await fx.master.jobSummary(jobId);
  expect(summary.counts).toMatchObject({ failed: 1, flaky: 0, retries: 2, requeues: 0, finished: 1 });
  const statuses = Object.fromEntries((await jobCases(jobId)).map((c) => [`${c.suite}.${c.name}`, [c.status, c.runs, c.attempt]]));
  expect(statuses).toEqual({ "S.ok": ["passed", 1, 0], "S.a": ["flaky", 2, 1], "S.b": ["failed", 3, 2] });
});

async function quarantine(body: Record<string, unknown>): Promise<number> {
  const res = await call(fx, "/api/v1/quarantine", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  expect(res.status, await res.clone().text()).toBe(201);
  return ((await res.json()) as { id: number }).id;
}

test("a quarantine that expires between a task's attempts: the case's last failure was not quarantined, so it is shown as a failure, as the job's exit says", async () => {
  const jobId = "edges.alice.1700000000.2";
  await quarantine({ suite: "S", name: "q", reason: "known flaky", until: fx.clock.now() + 60_000 });
  await fx.master.submitJob({ job_id: jobId, tasks: [{ isolate_hash: hashOf("t"), description: "unit_test", max_retries: 1, retry: "task" }] });
  // Attempt 0: the quarantined case and another fail; the other is no quarantine's, so the whole task is retried.
  await reportOn(await leaseOne(), "FAILED", [kase("S", "q", "failed"), kase("S", "b", "failed")]);
  fx.clock.advance(60_000);
  // Attempt 1, at the entry's `until`: no longer quarantined, and it fails again.
  await reportOn(await leaseOne(), "FAILED", [kase("S", "q", "failed"), kase("S", "b", "passed")]);
  const summary = await fx.master.jobSummary(jobId);
  expect(summary.counts).toMatchObject({ failed: 1, quarantined: 0, finished: 1 });
  const q = (await jobCases(jobId)).find((c) => c.name === "q")!;
  expect([q.status, q.attempt, q.quarantined ?? null]).toEqual(["failed", 1, null]);
});

test("a quarantined case and another fail: the retry runs the other alone; its pass makes the group flaky; the quarantined failure stays marked", async () => {
  const jobId = "edges.alice.1700000000.3";
  const id = await quarantine({ suite: "S", name: "q", reason: "known flaky" });
  await fx.master.submitJob({ job_id: jobId, tasks: [{ isolate_hash: hashOf("t"), description: "unit_test", max_retries: 1 }] });
  await reportOn(await leaseOne(), "FAILED", [kase("S", "q", "failed"), kase("S", "b", "failed")]);
  const retry = await leaseOne();
  expect(retry.env.GTEST_FILTER).toBe("S.b");
  await reportOn(retry, "SUCCEEDED", [kase("S", "b", "passed")]);
  expect((await fx.master.jobSummary(jobId)).counts).toMatchObject({ failed: 0, flaky: 1, quarantined: 0, retries: 1, finished: 1 });
  expect((await fx.master.distTestStatus(jobId))).toMatchObject({ failed_groups: 0, succeeded_groups: 1, flaky_groups: 1, status: "finished" });
  const q = (await jobCases(jobId)).find((c) => c.name === "q")!;
  expect([q.status, q.quarantined?.id]).toEqual(["failed", id]);
});

test("a retry of some cases keeps them through a master restart (queued, rebuilt from the database) and a lost lease (the sweep's requeue)", async () => {
  const m = await testMaster();
  try {
    const jobId = "edges.alice.1700000000.4";
    await m.master.submitJob({ job_id: jobId, tasks: [{ isolate_hash: HASH, description: "unit_test", max_retries: 1 }] });
    const [first] = await m.master.dispatcher.lease({ slave: slave(), free: 1, wait_ms: 0 });
    await m.master.dispatcher.report({ ...report(first!, "FAILED", m.clock.now()), slave: "s1", cases: [kase("S", "ok", "passed"), kase("S", "bad", "failed")], result_format: "gtest-xml" });
    // The retry is queued, not leased, when the master restarts.
    await m.restart();
    const [retry] = await m.master.dispatcher.lease({ slave: slave(), free: 1, wait_ms: 0 });
    expect([retry!.attempt, retry!.env.GTEST_FILTER]).toEqual([1, "S.bad"]);
    // Its slave goes silent past the lease's TTL: the requeue runs the same case, no retry spent.
    m.clock.advance(31_000);
    await m.master.dispatcher.sweep();
    const [requeued] = await m.master.dispatcher.lease({ slave: slave("s2"), free: 1, wait_ms: 0 });
    expect([requeued!.attempt, requeued!.env.GTEST_FILTER]).toEqual([2, "S.bad"]);
    // And once more across a restart, now leased: adopted, it reports, and the case merges flaky.
    await m.restart();
    await m.master.dispatcher.report({ ...report(requeued!, "SUCCEEDED", m.clock.now()), slave: "s2", cases: [kase("S", "bad", "passed")], result_format: "gtest-xml" });
    expect((await m.master.jobSummary(jobId)).counts).toMatchObject({ flaky: 1, retries: 1, requeues: 1, finished: 1 });
  } finally {
    await m.cleanup();
  }
});

test("auto-quarantine: reports of two jobs that make the same case flaky at once add one entry, not two (removing it must end the quarantine)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "dt-edges-"));
  const clock = new ManualClock(1_700_000_000_000);
  const repo = await SqliteRepo.open(":memory:", { clock });
  const autoQuarantine: AutoQuarantineConfig = { rate: 0.5, expiryMs: 86_400_000, windowMs: AUTO_QUARANTINE_DEFAULTS.windowMs, minRuns: 1 };
  const master = new Master({
    repo, artifacts: new FsArtifactStore(`${dir}/artifacts`), liveLogs: new LiveLogs(`${dir}/live`), clock, log: createLogger({ level: "silent" }),
    newId: () => crypto.randomUUID(), publicUrl: "http://dt.test",
    dispatch: { leaseTtlMs: 30_000, heartbeatIntervalMs: 5_000, noResourceTimeoutMs: 600_000, isolateServer: "http://dt.test", maxWaitMs: 30_000, maxInfraRequeues: 3, autoQuarantine },
  });
  try {
    const leaseN = (n: number) => master.dispatcher.lease({ slave: slave("s1", {}, n), free: n, wait_ms: 0 });
    const send = (lease: Lease, state: "FAILED" | "SUCCEEDED", status: CaseReport["status"]) =>
      master.dispatcher.report({ ...report(lease, state, clock.now()), slave: "s1", cases: [kase("S", "flaky", status)], result_format: "gtest-xml" });
    for (const id of ["edges.alice.1700000000.5", "edges.alice.1700000000.6"]) await master.submitJob({ job_id: id, tasks: [{ isolate_hash: HASH, description: "bin", max_retries: 1 }] });
    for (const lease of await leaseN(2)) await send(lease, "FAILED", "failed");
    const retries = await leaseN(2);
    expect(retries.map((l) => l.attempt)).toEqual([1, 1]);
    await Promise.all(retries.map((l) => send(l, "SUCCEEDED", "passed")));
    const entries = await repo.listQuarantine({ limit: 10 });
    expect(entries.map((e) => [e.binary, e.suite, e.name, e.createdBy])).toEqual([["bin", "S", "flaky", "auto"]]);
  } finally {
    master.dispatcher.close();
    await repo.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a retry of some cases that passes without reporting them (its command line shards the filtered list to nothing, as dist_test's -e GTEST_SHARD_INDEX does) is no pass: the whole task runs next", async () => {
  const jobId = "edges.alice.1700000000.7";
  // One retry: the master's filter not reaching the binary must not spend it.
  await fx.master.submitJob({ job_id: jobId, tasks: [{ isolate_hash: hashOf("t"), description: "kudu-test.2", max_retries: 1 }] });
  await reportOn(await leaseOne(), "FAILED", [kase("S", "ok", "passed"), kase("S", "bad", "failed")]);
  const retry = await leaseOne();
  expect(retry.env.GTEST_FILTER).toBe("S.bad");
  // gtest ran 0 of 0 tests in this shard and exited 0.
  await reportOn(retry, "SUCCEEDED", []);
  expect((await fx.master.jobSummary(jobId)).counts).toMatchObject({ flaky: 0, succeeded: 0, finished: 0 });
  const whole = await leaseOne();
  expect([whole.attempt, whole.env.GTEST_FILTER ?? "(none)"]).toEqual([2, "(none)"]);
  expect((await fx.master.jobSummary(jobId)).counts).toMatchObject({ retries: 1, requeues: 1 });
  const { tasks } = await fx.master.jobTasks(jobId);
  expect(tasks[0]!.attempts[1]).toMatchObject({ state: "FAILED" });
  expect(tasks[0]!.attempts[1]!.message).toMatch(/did not report 1 of the 1 case it was to run again \(S\.bad\)/);
  // The whole task reports its cases: the group is flaky.
  await reportOn(whole, "SUCCEEDED", [kase("S", "ok", "passed"), kase("S", "bad", "passed")]);
  expect((await fx.master.jobSummary(jobId)).counts).toMatchObject({ flaky: 1, finished: 1 });
});

test("POST quarantine refuses an until past year 9999 (a date no client can print: it stored the entry, then answered 500); DELETE refuses a user with NUL, as POST does", async () => {
  const post = (body: unknown) => call(fx, "/api/v1/quarantine", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  for (const until of [9e15, Date.UTC(10_000, 0, 1)]) {
    const res = await post({ suite: "S", name: "n", until });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/^POST quarantine: until: .*9999/);
  }
  expect((await fx.master.deps.repo.listQuarantine({ limit: 10 })).length).toBe(0);
  const id = await quarantine({ suite: "S", name: "n", until: Date.UTC(9999, 11, 31) });
  const nul = await call(fx, `/api/v1/quarantine/${id}?user=%00x`, { method: "DELETE" });
  expect([nul.status, ((await nul.json()) as { error: string }).error]).toEqual([400, expect.stringMatching(/^user: .*NUL/)]);
  const res = await call(fx, `/api/v1/quarantine/${id}?user=bob`, { method: "DELETE" });
  expect([res.status, ((await res.json()) as { removed_by: string }).removed_by]).toEqual([200, "bob"]);
});

test("a timed-out attempt that failed a case and then hung outside any case (a suite's set-up): its retry runs every case not yet passed, not the failed one alone, since the cases after the hang never ran", async () => {
  const jobId = "edges.alice.1700000000.8";
  await fx.master.submitJob({ job_id: jobId, tasks: [{ isolate_hash: hashOf("t"), description: "unit_test", max_retries: 1 }] });
  await reportOn(await leaseOne(), "TIMED_OUT", [kase("S", "ok", "passed"), kase("S", "bad", "failed")]);
  const retry = await leaseOne();
  expect(retry.env.GTEST_FILTER).toBe("*-S.ok");
  // Quarantined, the failed case is left out of it, and a retry is still made for the cases the hang kept from running.
  const jobId2 = "edges.alice.1700000000.9";
  await quarantine({ suite: "S", name: "bad", reason: "known flaky" });
  await fx.master.submitJob({ job_id: jobId2, tasks: [{ isolate_hash: hashOf("t"), description: "unit_test", max_retries: 1 }] });
  await reportOn(await leaseOne(), "TIMED_OUT", [kase("S", "ok", "passed"), kase("S", "bad", "failed")]);
  const retry2 = await leaseOne();
  expect([retry2.job_id, retry2.env.GTEST_FILTER]).toEqual([jobId2, "*-S.ok:S.bad"]);
});
