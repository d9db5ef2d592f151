/**
 * Edges of retrying only the failed cases and of the quarantine, on a real
 * Master over SQLite with a played slave: a retry of a retry, a restart
 * with a retry queued, a lost retry, a quarantine that ends between a
 * task's attempts, and concurrent reports under --auto-quarantine.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import type { ReportedState } from "../../src/master/model.ts";
import type { CaseReport, JobCasesPage, Lease } from "../../src/master/protocol.ts";
import { type MasterFixture, call, hashOf, makeMaster } from "../web/fixture.ts";

let fx: MasterFixture;
beforeEach(async () => {
  fx = await makeMaster();
});
afterEach(() => fx.close());

const kase = (suite: string, name: string, status: CaseReport["status"]): CaseReport => ({ suite, name, status, duration_ms: 5, message: status === "passed" ? null : `${name} ${status}`, file: null, line: null });

async function leaseAll(n: number): Promise<Lease[]> {
  const leases = await fx.master.dispatcher.lease({ slave: { name: "s1", dimensions: {}, slots: n, version: "t" }, free: n, wait_ms: 0 });
  if (leases.length !== n) throw new Error(`${leases.length} leases, expected ${n}`);
  return leases;
}
const leaseOne = async () => (await leaseAll(1))[0]!;
const nothingQueued = async () => expect(await fx.master.dispatcher.lease({ slave: { name: "s1", dimensions: {}, slots: 1, version: "t" }, free: 1, wait_ms: 0 })).toEqual([]);

async function reportOn(lease: Lease, state: ReportedState, cases?: CaseReport[]): Promise<void> {
  const now = fx.clock.now();
  await fx.master.dispatcher.report({
    lease_id: lease.lease_id, job_id: lease.job_id, task_id: lease.task_id, attempt: lease.attempt, state,
    exit_code: state === "SUCCEEDED" ? 0 : state === "FAILED" ? 1 : null, message: null,
    times: { fetch_done_at: now, map_done_at: now, command_start_at: now, command_end_at: now + 10, upload_done_at: now + 10 },
    cache: null, stdout_key: null, stderr_key: null, artifact_key: null, artifact_missing: false, slave: "s1",
    ...(cases ? { cases, result_format: "gtest-xml" as const } : {}),
  });
}

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
