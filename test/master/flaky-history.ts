/**
 * A real master (startMasterServer on port 0, SQLite) with a flaky history
 * made the way a cluster makes it: jobs submitted through the native API,
 * leased and reported with their test cases through the slave API, a failed
 * attempt retried by the master and its retry reported. For the tests of
 * GET tests/flaky, `dt flaky` and the /flaky page.
 *
 * Jobs (binary "unit_tests", one task each):
 * - flaky.1: attempt 0 fails Net.Retry ("timeout") and Math.Broken, passes
 *   Math.Adds; its retry passes Net.Retry and fails Math.Broken again.
 * - flaky.2: passes Net.Retry and Math.Adds, fails Math.Broken (no retry).
 * So Net.Retry is flaky in 1 of 2 jobs (3 runs, 1 failure); Math.Broken
 * failed everywhere and Math.Adds passed everywhere: neither is flaky.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "bun:test";
import { systemClock } from "../../src/common/clock.ts";
import { createLogger } from "../../src/common/log.ts";
import { type CaseReport, type Lease, outputKey } from "../../src/master/protocol.ts";
import { startMasterServer } from "../../src/master/server.ts";
import { putManifest, slave } from "./helpers.ts";

export const kase = (suite: string, name: string, status: CaseReport["status"], message: string | null = null): CaseReport => ({ suite, name, status, duration_ms: 12, message, file: null, line: null });

export interface FlakyHistory {
  url: string;
  /** The lease of flaky.1's failing attempt: Net.Retry's last failure. */
  failing: Lease;
  /** What that attempt's stdout holds. */
  failingLog: string;
  /** Submits and reports a one-task job; a FAILED report with retries left is followed by its retry's report. */
  runJob: (jobId: string, binary: string, attempts: { state: "SUCCEEDED" | "FAILED"; cases: CaseReport[] }[]) => Promise<Lease[]>;
  stop: () => Promise<void>;
}

export async function startFlakyHistory(): Promise<FlakyHistory> {
  const dir = mkdtempSync(join(tmpdir(), "dt-flaky-"));
  let server: Awaited<ReturnType<typeof startMasterServer>>;
  try {
    server = await startMasterServer({
      port: 0, host: "127.0.0.1", db: "sqlite", dataDir: dir, clock: systemClock, log: createLogger({ level: "silent" }),
      dispatch: { leaseTtlMs: 60_000, heartbeatIntervalMs: 5_000, noResourceTimeoutMs: 600_000, maxWaitMs: 1_000, maxInfraRequeues: 3 },
    });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const url = server.url;
  const post = (path: string, body: unknown) => fetch(`${url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const hash = await putManifest(url);

  const runJob: FlakyHistory["runJob"] = async (jobId, binary, attempts) => {
    const created = await post("/api/v1/jobs", { job_id: jobId, tasks: [{ isolate_hash: hash, description: binary, max_retries: attempts.length - 1 }] });
    expect(created.status, await created.clone().text()).toBe(201);
    const leases: Lease[] = [];
    for (const { state, cases } of attempts) {
      const leased = ((await (await post("/api/v1/slave/lease", { slave: slave(), free: 1, wait_ms: 0 })).json()) as { leases: Lease[] }).leases;
      expect(leased.map((l) => [l.job_id, l.attempt])).toEqual([[jobId, leases.length]]);
      const lease = leased[0]!;
      const log = `[ RUN ] ${binary} attempt ${lease.attempt} of ${jobId}\n`;
      expect((await fetch(`${url}/api/v1/slave/output?lease=${lease.lease_id}&kind=stdout`, { method: "PUT", body: log })).status).toBe(200);
      const now = Date.now();
      const res = await post("/api/v1/slave/result", {
        lease_id: lease.lease_id, job_id: jobId, task_id: lease.task_id, attempt: lease.attempt, state, exit_code: state === "SUCCEEDED" ? 0 : 1, message: null,
        times: { fetch_done_at: now, map_done_at: now, command_start_at: now, command_end_at: now + 10, upload_done_at: now + 10 },
        cache: null, stdout_key: outputKey(jobId, lease.task_id, lease.attempt, "stdout"), stderr_key: null, artifact_key: null, artifact_missing: false, slave: "s1",
        cases, result_format: "gtest-xml",
      });
      expect(res.status, await res.clone().text()).toBe(200);
      leases.push(lease);
    }
    return leases;
  };

  try {
    const [failing] = await runJob("flaky.1", "unit_tests", [
      { state: "FAILED", cases: [kase("Net", "Retry", "failed", "timeout\nafter 5 s"), kase("Math", "Adds", "passed"), kase("Math", "Broken", "failed", "Expected: 1")] },
      { state: "FAILED", cases: [kase("Net", "Retry", "passed"), kase("Math", "Broken", "failed", "Expected: 1")] },
    ]);
    await runJob("flaky.2", "unit_tests", [{ state: "FAILED", cases: [kase("Net", "Retry", "passed"), kase("Math", "Adds", "passed"), kase("Math", "Broken", "failed", "Expected: 1")] }]);
    return {
      url, failing: failing!, failingLog: "[ RUN ] unit_tests attempt 0 of flaky.1\n", runJob,
      stop: async () => {
        await server.stop(1_000);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await server.stop(1_000);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
