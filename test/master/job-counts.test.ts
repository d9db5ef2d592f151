/**
 * A job's counts over real HTTP on a real SQLite file: test retries (after
 * FAILED or TIMED_OUT, spending max_retries) and requeues after an
 * infrastructure loss (SLAVE_LOST, INFRA_FAILED, spending none) are counted
 * apart, in the native API and in dist_test's /job_status, whose client
 * prints `retried_tasks` as "(N retries)".
 */
import { afterEach, expect, test } from "bun:test";
import { distTestRoutes } from "../../src/master/http/dist-test-api.ts";
import type { JobSummary, Lease, LeaseResponse } from "../../src/master/protocol.ts";
import { HASH, report, serveTestMasterApp, slave } from "./helpers.ts";

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

test("counts.retries counts test retries only; counts.requeues the attempts after SLAVE_LOST and INFRA_FAILED; dist_test's retried_tasks as retries", async () => {
  const served = await serveTestMasterApp((master) => [{ prefix: "/", app: distTestRoutes(master) }]);
  stops.push(served.stop);
  const { h, url } = served;
  const post = (path: string, body: unknown) => fetch(`${url}${path}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const leaseOne = async (): Promise<Lease> => {
    const { leases } = (await (await post("/api/v1/slave/lease", { slave: slave(), free: 1, wait_ms: 0 })).json()) as LeaseResponse;
    expect(leases).toHaveLength(1);
    return leases[0]!;
  };
  const end = async (lease: Lease, state: "FAILED" | "SUCCEEDED" | "INFRA_FAILED") => expect((await post("/api/v1/slave/result", report(lease, state, h.clock.now()))).status).toBe(200);
  const counts = async () => ((await (await fetch(`${url}/api/v1/jobs/counts.1.1`)).json()) as JobSummary).counts;
  const distTest = async () => (await (await fetch(`${url}/job_status?job_id=counts.1.1`)).json()) as Record<string, unknown>;

  expect((await post("/api/v1/jobs", { job_id: "counts.1.1", tasks: [{ isolate_hash: HASH, description: "t", max_retries: 1 }] })).status).toBe(201);
  // Attempt 0: the slave is lost (lease lapses) → requeued, no retry spent.
  await leaseOne();
  h.clock.advance(31_000);
  await h.master.dispatcher.sweep();
  expect(await counts()).toMatchObject({ retries: 0, requeues: 1, queued: 1 });
  expect(await distTest()).toMatchObject({ retried_tasks: 0, total_tasks: 2 });
  // Attempt 1: the slave's own failure → requeued again.
  await end(await leaseOne(), "INFRA_FAILED");
  // Attempt 2: the test fails → a retry, spending the one allowed.
  await end(await leaseOne(), "FAILED");
  expect(await counts()).toMatchObject({ retries: 1, requeues: 2 });
  // Attempt 3: passes.
  await end(await leaseOne(), "SUCCEEDED");
  expect(await counts()).toEqual({ total_tasks: 1, queued: 0, running: 0, succeeded: 0, failed: 0, flaky: 1, canceled: 0, finished: 1, retries: 1, requeues: 2 });
  expect(await distTest()).toMatchObject({ total_tasks: 4, retried_tasks: 1, flaky_groups: 1, finished_groups: 1, status: "finished" });
  const attempts = (await h.master.jobTasks("counts.1.1")).tasks[0]!.attempts.map((a) => [a.state, a.retry]);
  expect(attempts).toEqual([["SLAVE_LOST", 0], ["INFRA_FAILED", 0], ["FAILED", 0], ["SUCCEEDED", 1]]);
});
