/**
 * The final report and the JUnit file against a real master (startMasterServer
 * on port 0, SQLite): a slave reports test cases through the slave API (a
 * failed task with a failed, a passed and a skipped case; a task that failed
 * then passed, so its case is flaky), and `dt watch --junit` names the failed
 * and flaky cases with their log links, counts them, and writes a JUnit file
 * that dt's own parser reads back.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import watch from "../../src/commands/watch.ts";
import { systemClock } from "../../src/common/clock.ts";
import { createLogger } from "../../src/common/log.ts";
import { type CaseReport, type Lease, outputKey } from "../../src/master/protocol.ts";
import { startMasterServer } from "../../src/master/server.ts";
import { junitXmlParser } from "../../src/results/junit-xml.ts";
import { putManifest, slave } from "../master/helpers.ts";
import { useClientWorld } from "./harness.ts";

const world = useClientWorld();
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const kase = (suite: string, name: string, status: CaseReport["status"], message: string | null = null): CaseReport => ({ suite, name, status, duration_ms: 12, message, file: null, line: null });

test("dt watch --junit against a real master: failed and flaky cases by name with their logs, the counts, and a JUnit file that reads back", async () => {
  const dir = mkdtempSync(join(tmpdir(), "dt-cases-client-"));
  dirs.push(dir);
  const server = await startMasterServer({
    port: 0, host: "127.0.0.1", db: "sqlite", dataDir: dir, clock: systemClock, log: createLogger({ level: "silent" }),
    dispatch: { leaseTtlMs: 60_000, heartbeatIntervalMs: 5_000, noResourceTimeoutMs: 600_000, maxWaitMs: 1_000, maxInfraRequeues: 3 },
  });
  try {
    const url = server.url;
    const post = (path: string, body: unknown) => fetch(`${url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const hash = await putManifest(url);
    const jobId = "cases.alice.1700000000.1";
    expect((await post("/api/v1/jobs", { job_id: jobId, tasks: [{ isolate_hash: hash, description: "unit_tests" }, { isolate_hash: hash, description: "net_tests", max_retries: 1 }] })).status).toBe(201);

    const leased: Lease[] = [];
    const run = async (description: string, state: "SUCCEEDED" | "FAILED", cases: CaseReport[]): Promise<Lease> => {
      // A retry is queued by the failure before it: lease what is queued now, then take this task's.
      leased.push(...((await (await post("/api/v1/slave/lease", { slave: slave(), free: 4, wait_ms: 0 })).json()) as { leases: Lease[] }).leases);
      const lease = leased.splice(leased.findIndex((l) => l.description === description), 1)[0]!;
      expect(lease?.description).toBe(description);
      expect((await fetch(`${url}/api/v1/slave/output?lease=${lease.lease_id}&kind=stdout`, { method: "PUT", body: `[ RUN ] ${description} attempt ${lease.attempt}\n` })).status).toBe(200);
      const now = Date.now();
      const res = await post("/api/v1/slave/result", {
        lease_id: lease.lease_id, job_id: jobId, task_id: lease.task_id, attempt: lease.attempt, state, exit_code: state === "SUCCEEDED" ? 0 : 1, message: null,
        times: { fetch_done_at: now, map_done_at: now, command_start_at: now, command_end_at: now + 10, upload_done_at: now + 10 },
        cache: null, stdout_key: outputKey(jobId, lease.task_id, lease.attempt, "stdout"), stderr_key: null, artifact_key: null, artifact_missing: false, slave: "s1",
        cases, result_format: "gtest-xml",
      });
      expect(res.status, await res.clone().text()).toBe(200);
      return lease;
    };
    const unit = await run("unit_tests", "FAILED", [kase("Math", "Adds", "passed"), kase("Math", "Divides", "failed", "Expected: 1\n  Actual: 0"), kase("Disk", "Full", "skipped", "no disk")]);
    const net0 = await run("net_tests", "FAILED", [kase("Net", "Retry", "failed", "timeout")]);
    const net1 = await run("net_tests", "SUCCEEDED", [kase("Net", "Retry", "passed")]);
    expect(net1.attempt).toBe(net0.attempt + 1);

    const w = await world();
    w.env.DIST_TEST_MASTER = url;
    const junit = join(w.dir, "junit.xml");
    const r = await w.run(watch, ["--junit", junit, jobId]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(88);
    const stdoutOf = (l: Lease) => `${url}/api/v1/artifacts/${outputKey(jobId, l.task_id, l.attempt, "stdout")}`;
    const tail = r.stdout.slice(r.stdout.indexOf("FAILED  ")).trimEnd().split("\n");
    expect(tail).toEqual([
      "FAILED  unit_tests › Math.Divides  12 ms  Expected: 1",
      `  log: ${stdoutOf(unit)}`,
      "FLAKY   net_tests › Net.Retry  12 ms  timeout",
      `  log: ${stdoutOf(net1)}`,
      "4 cases: 1 passed, 1 failed, 1 flaky, 1 skipped",
    ]);
    // The log link is the master's, and it serves the attempt's log.
    expect(await (await fetch(stdoutOf(unit))).text()).toBe("[ RUN ] unit_tests attempt 0\n");

    const outcome = await junitXmlParser.parse(junit);
    expect(outcome.cases.map((c) => [c.suite, c.name, c.status, c.flakyFailures ?? 0])).toEqual([
      ["Math", "Adds", "passed", 0],
      ["Math", "Divides", "failed", 0],
      ["Disk", "Full", "skipped", 0],
      ["Net", "Retry", "passed", 1],
    ]);
    expect(readFileSync(junit, "utf8")).toContain(`log: ${stdoutOf(unit)}`);
  } finally {
    await server.stop(1_000);
  }
});
