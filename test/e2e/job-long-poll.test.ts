/**
 * The job long-poll against a real `dt master` process, over real sockets:
 * a hold longer than Bun's default 10 s idle timeout is not cut, and
 * SIGTERM answers every held request and ends the master at once.
 */
import { expect, test } from "bun:test";
import type { JobSummary } from "../../src/master/protocol.ts";
import { E2E_TEST_TIMEOUT_MS, pollUntil, useCluster } from "./cluster.ts";

const setup = useCluster("dt-e2e-long-poll-");

/** A master with one job that stays queued (no slave), and its summary's version. */
async function queuedJob() {
  const c = await setup();
  const master = await c.startMaster();
  const hash = await c.archive({ "t.sh": { content: "true\n", mode: 0o755 } }, ["./t.sh"]);
  const jobId = await c.submitNoWait([{ isolate_hash: hash, description: "waits" }]);
  const { change_version: version } = await c.api.job(jobId);
  const hold = (ms: number) => fetch(`${master.url}/api/v1/jobs/${jobId}?wait_version=${version}&wait_ms=${ms}`);
  return { c, master, jobId, version: version!, hold };
}

test("a 14 s hold over a real socket is answered by the master (200, same version), not cut by the server's idle timeout", async () => {
  const { version, hold } = await queuedJob();
  const started = performance.now();
  const res = await hold(14_000);
  // Bun.serve's default idleTimeout (10 s) reset such a request after 10-12 s (ECONNRESET); the master sets 60 s. 14 s is past both.
  expect(res.status).toBe(200);
  expect(((await res.json()) as JobSummary).change_version).toBe(version);
  expect(performance.now() - started).toBeGreaterThanOrEqual(13_500);
}, E2E_TEST_TIMEOUT_MS);

test("SIGTERM with 50 held requests: each is answered, and the master exits well within its 10 s stop grace", async () => {
  const { master, hold } = await queuedJob();
  const held = Array.from({ length: 50 }, () => hold(25_000).then(async (r) => ({ status: r.status, body: (await r.json()) as JobSummary }), (err: Error) => err));
  await pollUntil(async () => (await (await fetch(`${master.url}/metrics`)).text()).includes("\ndt_held_job_requests 50\n"), "the master to hold 50 requests", 10_000);
  const signalledAt = performance.now();
  master.proc.kill("SIGTERM");
  const answers = await Promise.all(held);
  expect(answers.map((a) => (a instanceof Error ? a.message : a.status))).toEqual(Array(50).fill(200));
  expect(await master.waitExit(10_000)).toBe(0);
  expect(performance.now() - signalledAt).toBeLessThan(5_000);
}, E2E_TEST_TIMEOUT_MS);
