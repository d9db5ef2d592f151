/**
 * A slave played by a test against a real Master's dispatcher: leases for
 * slave "s1" and reports with fixed phase times, the cases given. Shared by
 * the retry tests (retry-dispatch, retry-quarantine-edges).
 */
import type { ReportedState } from "../../src/master/model.ts";
import type { CaseReport, Lease } from "../../src/master/protocol.ts";
import type { MasterFixture } from "../web/fixture.ts";

export function playedSlave(fx: () => MasterFixture) {
  async function leaseAll(n: number): Promise<Lease[]> {
    const leases = await fx().master.dispatcher.lease({ slave: { name: "s1", dimensions: {}, slots: n, version: "t" }, free: n, wait_ms: 0 });
    if (leases.length !== n) throw new Error(`${leases.length} leases, expected ${n}`);
    return leases;
  }
  const leaseOne = async () => (await leaseAll(1))[0]!;
  async function reportOn(lease: Lease, state: ReportedState, cases?: CaseReport[]): Promise<void> {
    const now = fx().clock.now();
    await fx().master.dispatcher.report({
      lease_id: lease.lease_id, job_id: lease.job_id, task_id: lease.task_id, attempt: lease.attempt, state,
      exit_code: state === "SUCCEEDED" ? 0 : state === "FAILED" ? 1 : null, message: null,
      times: { fetch_done_at: now, map_done_at: now, command_start_at: now, command_end_at: now + 10, upload_done_at: now + 10 },
      cache: null, stdout_key: null, stderr_key: null, artifact_key: null, artifact_missing: false, slave: "s1",
      ...(cases ? { cases, result_format: "gtest-xml" as const } : {}),
    });
  }
  return { leaseAll, leaseOne, reportOn };
}
