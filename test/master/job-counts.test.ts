/**
 * A job's counts over real HTTP on a real SQLite file: test retries (after
 * FAILED or TIMED_OUT, spending max_retries) and requeues after an
 * infrastructure loss (SLAVE_LOST, INFRA_FAILED, spending none) are counted
 * apart, in the native API and in dist_test's /job_status, whose client
 * prints `retried_tasks` as "(N retries)".
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../../src/common/clock.ts";
import { createLogger } from "../../src/common/log.ts";
import { FsArtifactStore } from "../../src/master/artifacts/fs-artifact-store.ts";
import { LiveLogs } from "../../src/master/artifacts/live-logs.ts";
import { masterApp } from "../../src/master/http/app.ts";
import { distTestRoutes } from "../../src/master/http/dist-test-api.ts";
import { Master } from "../../src/master/master.ts";
import type { JobSummary, Lease, LeaseResponse } from "../../src/master/protocol.ts";
import { MysqlRepo } from "../../src/master/repo/mysql.ts";
import { takeMysqlDatabase } from "../helpers/mysql-databases.ts";
import { HASH, report, serveTestMasterApp, slave } from "./helpers.ts";

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

type Served = { h: { clock: ManualClock; master: Master }; url: string; stop: () => Promise<void> };

test("counts.retries counts test retries only; counts.requeues the attempts after SLAVE_LOST and INFRA_FAILED; dist_test's retried_tasks as retries", async () => {
  const served = await serveTestMasterApp((master) => [{ prefix: "/", app: distTestRoutes(master) }]);
  stops.push(served.stop);
  await countsScenario(served);
});

const mysqlUrl = process.env.DT_TEST_MYSQL_URL;
if (!mysqlUrl) console.warn("SKIP job counts on MySQL: DT_TEST_MYSQL_URL is not set (e.g. mysql://root@127.0.0.1:3306/dt_test)");

describe.skipIf(!mysqlUrl)("on MySQL/MariaDB", () => {
  test("the same counts as on SQLite, from the same attempts", async () => {
    const database = await takeMysqlDatabase(mysqlUrl!);
    const dir = mkdtempSync(join(tmpdir(), "dt-counts-mysql-"));
    const clock = new ManualClock();
    const repo = await MysqlRepo.open(database.url);
    let ids = 0;
    const master = new Master({
      repo, artifacts: new FsArtifactStore(join(dir, "artifacts")), liveLogs: new LiveLogs(join(dir, "live")), clock, log: createLogger({ level: "silent" }),
      newId: () => `lease-${++ids}`, publicUrl: "http://dt.test",
      dispatch: { leaseTtlMs: 30_000, heartbeatIntervalMs: 5_000, noResourceTimeoutMs: 600_000, isolateServer: "http://dt.test", maxWaitMs: 30_000, maxInfraRequeues: 3 },
    });
    await master.dispatcher.rebuild();
    const app = masterApp({ master, log: createLogger({ level: "silent" }), mounts: [{ prefix: "/", app: distTestRoutes(master) }] });
    const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch });
    stops.push(async () => {
      await server.stop(true);
      master.dispatcher.close();
      await repo.close();
      await database.release();
      rmSync(dir, { recursive: true, force: true });
    });
    await countsScenario({ h: { clock, master }, url: `http://127.0.0.1:${server.port}`, stop: async () => {} });
  });
});

/** SLAVE_LOST, INFRA_FAILED, FAILED, then SUCCEEDED on one task with max_retries 1, the counts read after each step. */
async function countsScenario(served: Served): Promise<void> {
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
  expect(await counts()).toEqual({ total_tasks: 1, queued: 0, running: 0, succeeded: 0, failed: 0, flaky: 1, quarantined: 0, canceled: 0, finished: 1, retries: 1, requeues: 2, reused: 0, coalesced: 0, waiting: 0, saved_ms: 0, cases: { total: 0, passed: 0, failed: 0, flaky: 0, skipped: 0 } });
  expect(await distTest()).toMatchObject({ total_tasks: 4, retried_tasks: 1, flaky_groups: 1, finished_groups: 1, status: "finished" });
  const attempts = (await h.master.jobTasks("counts.1.1")).tasks[0]!.attempts.map((a) => [a.state, a.retry]);
  expect(attempts).toEqual([["SLAVE_LOST", 0], ["INFRA_FAILED", 0], ["FAILED", 0], ["SUCCEEDED", 1]]);
}
