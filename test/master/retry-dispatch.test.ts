/**
 * The dispatcher's retries of only the failed cases (docs/retries.md), on a
 * real Master over SQLite with a played slave: what the retry's lease tells
 * the slave (GTEST_FILTER, shard variables), that an infrastructure requeue
 * of such a retry keeps its cases, that a numeric shard's crash reruns the
 * shard, what the API's views show, and the job page's note, escaped.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import type { CaseReport, CaseSelectionView, Lease } from "../../src/master/protocol.ts";
import { playedSlave } from "./played-slave.ts";
import { type MasterFixture, call, hashOf, makeMaster, withQuery } from "../web/fixture.ts";

let fx: MasterFixture;
beforeEach(async () => {
  fx = await makeMaster();
});
afterEach(() => fx.close());

const kase = (suite: string, name: string, status: CaseReport["status"]): CaseReport => ({ suite, name, status, duration_ms: 5, message: null, file: null, line: null });

const { leaseAll, leaseOne, reportOn } = playedSlave(() => fx);

const HOSTILE = `<img src=x onerror=alert(1)>`;

test("a failed attempt's retry is leased with GTEST_FILTER naming its failed cases only; an infrastructure requeue of it keeps them; the views and the page say so", async () => {
  const jobId = "retry.alice.1700000000.1";
  await fx.master.submitJob({ job_id: jobId, tasks: [{ isolate_hash: hashOf("t"), description: "unit_test", max_retries: 2, env: { GTEST_FILTER: "-Slow.*" } }] });
  const first = await leaseOne();
  expect(first.env.GTEST_FILTER).toBe("-Slow.*");
  await reportOn(first, "FAILED", [kase("A", "ok", "passed"), kase("A", "bad", "failed"), kase(HOSTILE, "worse", "failed")]);

  const retry = await leaseOne();
  expect(retry.attempt).toBe(1);
  // The include list replaces the user's filter: it names cases that ran under it.
  expect(retry.env.GTEST_FILTER).toBe(`A.bad:${HOSTILE}.worse`);
  expect(retry.env.DT_ATTEMPT).toBe("1");
  // The slave is lost: its requeue, no retry spent, runs the same cases, not the whole task.
  await reportOn(retry, "INFRA_FAILED");
  const requeued = await leaseOne();
  expect([requeued.attempt, requeued.env.GTEST_FILTER]).toEqual([2, retry.env.GTEST_FILTER]);

  const { tasks } = await fx.master.jobTasks(jobId);
  const selections = tasks[0]!.attempts.map((a) => [a.attempt, a.retry, a.case_selection]);
  const ran: CaseSelectionView = { mode: "include", count: 2, names: ["A.bad", `${HOSTILE}.worse`] };
  expect(selections).toEqual([[0, 0, null], [1, 1, ran], [2, 1, ran]]);
  // One of them passes now: the last retry names the other alone.
  await reportOn(requeued, "FAILED", [kase("A", "bad", "passed"), kase(HOSTILE, "worse", "failed")]);
  const last = await leaseOne();
  expect([last.attempt, last.env.GTEST_FILTER]).toEqual([3, `${HOSTILE}.worse`]);

  const res = await call(fx, withQuery("/job", { job_id: jobId }));
  const html = await res.text();
  expect(html).toContain(">retry: 2 failed cases</div>");
  expect(html).toContain(">retry: 1 failed case</div>");
  expect(html).not.toContain("<img");
  expect(html).toContain(`title="ran:\nA.bad\n&lt;img src=x onerror=alert(1)&gt;.worse"`);
});

test('"retry": "task" and an attempt without cases retry the whole task; a numeric shard that crashed reruns the shard, its failed cases alone drop the shard variables', async () => {
  const jobId = "retry.alice.1700000000.2";
  await fx.master.submitJob({
    job_id: jobId,
    tasks: [
      { isolate_hash: hashOf("whole"), description: "whole", max_retries: 1, retry: "task" },
      { isolate_hash: hashOf("silent"), description: "silent", max_retries: 1 },
      { isolate_hash: hashOf("sharded"), description: "sharded", max_retries: 1, shards: 2 },
    ],
  });
  const cases: Record<string, CaseReport[] | undefined> = {
    whole: [kase("W", "ok", "passed"), kase("W", "bad", "failed")],
    silent: undefined,
    "sharded.0": [kase("S", "ok", "passed"), kase("S", "died", "crashed")],
    "sharded.1": [kase("S", "ok1", "passed"), kase("S", "bad1", "failed")],
  };
  // All four leased before any reports, so that no retry, which goes first, is leased among them.
  for (const lease of await leaseAll(4)) await reportOn(lease, "FAILED", cases[lease.description]);
  const retries = new Map((await leaseAll(4)).map((lease) => [lease.description, lease] as const));
  const filterAndShard = (d: string): (string | number | null)[] => [retries.get(d)!.attempt, retries.get(d)!.env.GTEST_FILTER ?? null, retries.get(d)!.env.GTEST_SHARD_INDEX ?? null];
  expect(filterAndShard("whole")).toEqual([1, null, null]);
  expect(filterAndShard("silent")).toEqual([1, null, null]);
  expect(filterAndShard("sharded.0")).toEqual([1, null, "0"]);
  expect(filterAndShard("sharded.1")).toEqual([1, "S.bad1", null]);
  const { tasks } = await fx.master.jobTasks(jobId);
  expect(tasks.map((t) => [t.description, t.attempts[1]!.case_selection?.count ?? null])).toEqual([["whole", null], ["silent", null], ["sharded.0", null], ["sharded.1", 1]]);
});
