/**
 * `dt slave --metrics-listen` on real processes: the master lists where the
 * slave serves its metrics; /metrics counts what the slave ran and shows
 * its hold; /readyz turns 503 while the slave is quarantined, saying why.
 */
import { describe, expect, test } from "bun:test";
import type { SlaveView } from "../../src/master/protocol.ts";
import { shellScript } from "../helpers/tree.ts";
import { E2E_TEST_TIMEOUT_MS, pollUntil, useCluster } from "./cluster.ts";

const setup = useCluster("dt-e2e-slave-metrics-");

describe("dt slave --metrics-listen", () => {
  test("metrics of what it ran, its hold, and readiness", async () => {
    const c = await setup();
    await c.startMaster();
    await c.startSlave("s1", 2, ["--metrics-listen", "127.0.0.1:0"]);
    const view = await c.api.get<SlaveView>("/api/v1/slaves/s1");
    expect(view.metrics_url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const base = view.metrics_url!.replace(/\/metrics$/, "");

    const hash = await c.archive({ "t.sh": shellScript("echo hi") }, ["./t.sh"]);
    const jobId = await c.submitNoWait([{ isolate_hash: hash, description: "a" }, { isolate_hash: hash, description: "b" }]);
    await c.api.waitFinished(jobId);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('dt_task_results_total{state="SUCCEEDED"} 2');
    expect(metrics).toMatch(/^dt_slave_slots 2$/m);
    expect(metrics).toMatch(/^dt_slave_running_tasks 0$/m);
    expect(metrics).toMatch(/^dt_slave_held\{kind="quarantine"\} 0$/m);
    expect(metrics).toContain('dt_task_duration_seconds_count{state="SUCCEEDED"} 2');
    expect(metrics).toMatch(/^dt_slave_cache_free_bytes \d+/m);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);

    expect((await c.dt(["slaves", "quarantine", "s1", "--reason", "memory errors"])).exitCode).toBe(0);
    await pollUntil(async () => (await fetch(`${base}/readyz`)).status === 503, "the slave's /readyz to say 503", 10_000);
    const ready = await (await fetch(`${base}/readyz`)).text();
    expect(ready).toContain("quarantined by an operator: memory errors");
    expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/^dt_slave_held\{kind="quarantine"\} 1$/m);
  }, E2E_TEST_TIMEOUT_MS);
});
