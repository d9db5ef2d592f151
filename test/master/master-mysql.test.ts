import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startMasterServer } from "../../src/master/server.ts";
import { systemClock } from "../../src/common/clock.ts";
import { createLogger } from "../../src/common/log.ts";
import type { JobSummary, Lease } from "../../src/master/protocol.ts";
import { putManifest, slave } from "./helpers.ts";

const url = process.env.DT_TEST_MYSQL_URL;
if (!url) console.warn("SKIP master on MySQL: DT_TEST_MYSQL_URL is not set (e.g. mysql://root@127.0.0.1:3306/dt_test)");

/** The whole master on MariaDB, as `dt master --db mysql://…` runs it: a job in, leased, reported, counted. */
describe.skipIf(!url)("a master on MySQL/MariaDB", () => {
  const dir = mkdtempSync(join(tmpdir(), "dt-master-mysql-"));
  const database = `dt_master_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const dbUrl = url ? url.replace(/\/[^/?]*(\?|$)/, `/${database}$1`) : "";
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    Bun.spawnSync(["mariadb", "-uroot", "-e", `DROP DATABASE IF EXISTS ${database}`]);
  });

  test("runs a job from submit to finished over HTTP", async () => {
    const server = await startMasterServer({
      port: 0, host: "127.0.0.1", db: dbUrl, dataDir: dir, clock: systemClock, log: createLogger({ level: "silent" }),
      dispatch: { leaseTtlMs: 30_000, heartbeatIntervalMs: 5_000, noResourceTimeoutMs: 600_000, maxWaitMs: 30_000, maxInfraRequeues: 3 },
    });
    try {
      const post = (path: string, body: unknown) => fetch(`${server.url}${path}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      const hash = await putManifest(server.url);
      const created: unknown = await (await post("/api/v1/jobs", { job_id: "mysql-job", tasks: [{ isolate_hash: hash, description: "a" }, { isolate_hash: hash, description: "b", max_retries: 1 }] })).json();
      expect(created).toMatchObject({ job_id: "mysql-job", tasks: 2 });
      const { leases } = (await (await post("/api/v1/slave/lease", { slave: slave(), free: 2, wait_ms: 0 })).json()) as { leases: Lease[] };
      expect(leases).toHaveLength(2);
      const now = Date.now();
      for (const lease of leases) {
        const state = lease.description === "a" ? "SUCCEEDED" : "FAILED";
        await post("/api/v1/slave/result", {
          lease_id: lease.lease_id, job_id: lease.job_id, task_id: lease.task_id, attempt: lease.attempt, state, exit_code: state === "SUCCEEDED" ? 0 : 1,
          message: null, times: { fetch_done_at: now, map_done_at: now, command_start_at: now, command_end_at: now + 10, upload_done_at: now + 10 },
          cache: null, stdout_key: null, stderr_key: null, artifact_key: null, artifact_missing: false,
        });
      }
      const [retry] = ((await (await post("/api/v1/slave/lease", { slave: slave(), free: 2, wait_ms: 0 })).json()) as { leases: Lease[] }).leases;
      expect(retry).toMatchObject({ description: "b", attempt: 1 });
      const summary = (await (await fetch(`${server.url}/api/v1/jobs/mysql-job`)).json()) as JobSummary;
      expect(summary.counts).toMatchObject({ total_tasks: 2, succeeded: 1, running: 1, retries: 1 });
      const status: unknown = await (await fetch(`${server.url}/job_status?job_id=mysql-job`)).json();
      expect(status).toMatchObject({ total_groups: 2, succeeded_groups: 1, flaky_groups: 1, status: "running" });
    } finally {
      await server.stop(1_000);
    }
  });
});
