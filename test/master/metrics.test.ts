/**
 * The master's /metrics and /readyz on a real server on port 0, with a job
 * driven through the slave protocol over HTTP: queue length by dimension
 * set while queued, running tasks, slaves by state, results by state,
 * phase latencies, cache use, CAS bytes, requests by route pattern, the
 * output accepted by promtool; readiness failing, named, when the artifact
 * directory, the database or beanstalkd goes away.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { accessOf } from "../../src/common/auth/guard.ts";
import { systemClock } from "../../src/common/clock.ts";
import { createLogger } from "../../src/common/log.ts";
import { PROMETHEUS_CONTENT_TYPE } from "../../src/common/metrics/registry.ts";
import { CasClient } from "../../src/isolate/cas/client.ts";
import { digestOfBytes } from "../../src/isolate/digest.ts";
import { dimensionsText, phaseSeconds } from "../../src/master/metrics.ts";
import type { Lease, ResultReport, SlaveIdentity } from "../../src/master/protocol.ts";
import { startMasterServer } from "../../src/master/server.ts";
import { expectPromtoolAccepts, promtoolMissing } from "../common/metrics/promtool.ts";
import { beanstalkdMissing, startBeanstalkd } from "../helpers/beanstalkd.ts";
import { TempDirs } from "../helpers/temp.ts";
import { putManifest, serveTestMaster } from "./helpers.ts";

const NO_PROMTOOL = promtoolMissing("test/master/metrics.test.ts");
const NO_BEANSTALKD = beanstalkdMissing();
if (NO_BEANSTALKD) console.warn(`SKIP test/master/metrics.test.ts (readiness with beanstalkd): ${NO_BEANSTALKD}`);

const temps = new TempDirs();
const stops: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
  await temps.cleanup();
});

async function master() {
  const dataDir = await temps.make("dt-master-metrics-");
  const server = await serveTestMaster(dataDir);
  stops.push(() => server.stop(100));
  const post = (path: string, body: unknown) => fetch(`${server.url}${path}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const scrape = async () => {
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe(PROMETHEUS_CONTENT_TYPE);
    return res.text();
  };
  return { server, dataDir, post, scrape };
}

/** The value of one series, e.g. `dt_running_tasks` or `dt_slaves{state="busy"}`; undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const LINUX_CI = { os: "linux", pool: "ci" };
const worker: SlaveIdentity = { name: "w1", dimensions: LINUX_CI, slots: 4, version: "test" };

function result(lease: Lease, state: ResultReport["state"], cache: ResultReport["cache"]): ResultReport {
  const end = Date.now();
  const start = end - 1_500;
  return {
    lease_id: lease.lease_id, job_id: lease.job_id, task_id: lease.task_id, attempt: lease.attempt, state, exit_code: state === "SUCCEEDED" ? 0 : 1, message: null,
    times: { fetch_done_at: start - 200, map_done_at: start - 100, command_start_at: start, command_end_at: end, upload_done_at: end },
    cache, stdout_key: null, stderr_key: null, artifact_key: null, artifact_missing: false, slave: worker.name,
  };
}

describe("a job through the slave protocol", () => {
  test("queued by dimension set, then running, then results, phases, cache use and requests by route pattern", async () => {
    const { server, post, scrape } = await master();
    const tasks = [
      { isolate_hash: await putManifest(server.url, "c"), description: "a", dimensions: LINUX_CI },
      { isolate_hash: await putManifest(server.url, "d"), description: "b", dimensions: LINUX_CI },
      { isolate_hash: await putManifest(server.url, "e"), description: "c" },
    ];
    expect((await post("/api/v1/jobs", { job_id: "metrics.1.1", tasks })).status).toBe(201);
    let text = await scrape();
    expect(sample(text, 'dt_queued_tasks{dimensions="os=linux,pool=ci"}')).toBe(2);
    expect(sample(text, 'dt_queued_tasks{dimensions=""}')).toBe(1);
    expect(sample(text, "dt_running_tasks")).toBe(0);
    expect(sample(text, 'dt_slaves{state="idle"}')).toBe(0);

    const lease = await post("/api/v1/slave/lease", { slave: worker, free: 3, wait_ms: 0 });
    const { leases } = (await lease.json()) as { leases: Lease[] };
    expect(leases).toHaveLength(3);
    text = await scrape();
    expect(sample(text, 'dt_queued_tasks{dimensions="os=linux,pool=ci"}')).toBeUndefined();
    expect(sample(text, "dt_running_tasks")).toBe(3);
    expect(sample(text, 'dt_slaves{state="busy"}')).toBe(1);
    expect(sample(text, 'dt_slaves{state="lost"}')).toBe(0);

    const cache = { itemsHot: 3, bytesHot: 300, itemsCold: 1, bytesCold: 100 };
    const states: ResultReport["state"][] = ["SUCCEEDED", "FAILED", "INFRA_FAILED"];
    for (const [i, state] of states.entries()) expect((await post("/api/v1/slave/result", result(leases[i]!, state, cache))).status).toBe(200);
    expect((await fetch(`${server.url}/api/v1/jobs/metrics.1.1?verbose=1`)).status).toBe(200);
    text = await scrape();
    for (const state of states) expect([state, sample(text, `dt_task_results_total{state="${state}"}`)]).toEqual([state, 1]);
    // The infrastructure failure is requeued: its task waits again, by its dimension set.
    const queued = text.split("\n").filter((l) => l.startsWith("dt_queued_tasks{"));
    expect(queued).toHaveLength(1);
    expect(queued[0]).toEndWith(" 1");
    expect(sample(text, "dt_running_tasks")).toBe(0);
    expect(sample(text, 'dt_slaves{state="idle"}')).toBe(1);
    expect(sample(text, 'dt_task_duration_seconds_sum{state="SUCCEEDED"}')).toBe(1.5);
    expect(sample(text, 'dt_task_duration_seconds_bucket{state="SUCCEEDED",le="1"}')).toBe(0);
    expect(sample(text, 'dt_task_duration_seconds_bucket{state="SUCCEEDED",le="2.5"}')).toBe(1);
    for (const phase of ["queue", "fetch", "map", "run", "upload", "report"]) expect([phase, sample(text, `dt_task_phase_seconds_count{phase="${phase}"}`)]).toEqual([phase, 3]);
    expect(sample(text, 'dt_task_phase_seconds_sum{phase="map"}')).toBeCloseTo(0.3, 6);
    expect(sample(text, 'dt_slave_cache_items_total{result="hit"}')).toBe(9);
    expect(sample(text, 'dt_slave_cache_bytes_total{result="miss"}')).toBe(300);
    expect(sample(text, "dt_slave_cache_hit_ratio")).toBe(0.75);
    expect(sample(text, 'dt_http_requests_total{method="POST",route="/api/v1/slave/result",status="200"}')).toBe(3);
    expect(sample(text, 'dt_http_requests_total{method="GET",route="/api/v1/jobs/:job",status="200"}')).toBe(1);
    expect(sample(text, 'dt_http_request_duration_seconds_count{route="/api/v1/slave/lease"}')).toBe(1);
    expect(text).not.toContain("metrics.1.1");
    expect(text).toMatch(/^dt_build_info\{version="[^"]+"\} 1$/m);
    expect(sample(text, "process_start_time_seconds")).toBeGreaterThan(1_600_000_000);
  });

  test("reuse: hits, misses and coalesced idempotent tasks are counted (docs/reuse.md)", async () => {
    const { server, post, scrape } = await master();
    const [one, two] = [await putManifest(server.url, "r1"), await putManifest(server.url, "r2")];
    const tasks = [{ isolate_hash: one, description: "one", idempotent: true }, { isolate_hash: two, description: "two", idempotent: true }];
    expect((await post("/api/v1/jobs", { job_id: "reuse.1.1", tasks })).status).toBe(201);
    let text = await scrape();
    expect([sample(text, 'dt_reuse_tasks_total{result="miss"}'), sample(text, 'dt_reuse_tasks_total{result="hit"}')]).toEqual([2, undefined]);
    // Task "one" runs; a second job submitted meanwhile waits for it, and finds nothing stored for "two" either.
    const { leases } = (await (await post("/api/v1/slave/lease", { slave: { ...worker, dimensions: {} }, free: 1, wait_ms: 0 })).json()) as { leases: Lease[] };
    expect((await post("/api/v1/jobs", { job_id: "reuse.1.2", tasks })).status).toBe(201);
    expect((await post("/api/v1/slave/result", result(leases[0]!, "SUCCEEDED", null))).status).toBe(200);
    text = await scrape();
    expect([sample(text, 'dt_reuse_tasks_total{result="miss"}'), sample(text, 'dt_reuse_tasks_total{result="coalesced"}')]).toEqual([4, 1]);
    // A third job: "one" has a stored result now.
    expect((await post("/api/v1/jobs", { job_id: "reuse.1.3", tasks })).status).toBe(201);
    text = await scrape();
    expect([sample(text, 'dt_reuse_tasks_total{result="hit"}'), sample(text, 'dt_reuse_tasks_total{result="miss"}')]).toEqual([1, 5]);
  });

  test.skipIf(!!NO_PROMTOOL)(`promtool check metrics accepts the master's /metrics, every kind of series present${NO_PROMTOOL ? ` [skipped: ${NO_PROMTOOL}]` : ""}`, async () => {
    const { server, post, scrape } = await master();
    const [c, d] = [await putManifest(server.url, "c"), await putManifest(server.url, "d")];
    await post("/api/v1/jobs", { job_id: "promtool.1.1", tasks: [{ isolate_hash: c, description: "a", dimensions: { os: 'we"ird\\name' } }, { isolate_hash: d, description: "b" }] });
    const { leases } = (await (await post("/api/v1/slave/lease", { slave: { ...worker, dimensions: {} }, free: 1, wait_ms: 0 })).json()) as { leases: Lease[] };
    await post("/api/v1/slave/result", result(leases[0]!, "SUCCEEDED", { itemsHot: 1, bytesHot: 1, itemsCold: 1, bytesCold: 1 }));
    await fetch(`${server.url}/no/such/page`);
    const text = await scrape();
    expect(text).toContain('dt_queued_tasks{dimensions="os=we\\"ird\\\\name"} 1');
    await expectPromtoolAccepts(text);
  });
});

test("a dimension set's label is k=v,... with keys sorted; a task that runs anywhere has an empty one", () => {
  expect(dimensionsText({ pool: "ci", os: "linux" })).toBe("os=linux,pool=ci");
  expect(dimensionsText({})).toBe("");
});

test("phases whose ends are unknown are left out; a clock skew makes a phase 0, not negative", () => {
  const none = { fetch_done_at: null, map_done_at: null, command_start_at: null, command_end_at: null, upload_done_at: null };
  expect(phaseSeconds({ state: "SLAVE_LOST", queuedAt: 1_000, leasedAt: 3_000, times: none, cache: null, reportedAt: 9_000 })).toEqual([["queue", 2]]);
  const skewed = { ...none, fetch_done_at: 2_500 };
  expect(phaseSeconds({ state: "FAILED", leasedAt: 3_000, times: skewed, cache: null, reportedAt: null })).toEqual([["fetch", 0]]);
});

test("CAS bytes through the master's mounted CAS: an upload and a download count their bytes", async () => {
  const { server, scrape } = await master();
  const bytes = new TextEncoder().encode("x".repeat(70_000));
  const digest = digestOfBytes(bytes);
  await new CasClient(server.url).putBlob(digest, bytes);
  expect((await (await fetch(`${server.url}/api/cas/v1/blobs/${digest.hash}`)).arrayBuffer()).byteLength).toBe(digest.size);
  const text = await scrape();
  expect(sample(text, "dt_cas_bytes_received_total")).toBe(digest.size);
  expect(sample(text, "dt_cas_bytes_sent_total")).toBe(digest.size);
  expect(sample(text, 'dt_http_requests_total{method="GET",route="/api/cas/v1/blobs/:hash",status="200"}')).toBe(1);
});

describe("/readyz", () => {
  test("200 with each check; 503 naming the artifact store when its directory is removed, and the database once it is closed", async () => {
    const { server, dataDir } = await master();
    const ok = await fetch(`${server.url}/readyz`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ ok: true, checks: { database: { ok: true }, artifacts: { ok: true }, cas: { ok: true } } });

    await rm(join(dataDir, "artifacts"), { recursive: true, force: true });
    const noArtifacts = await fetch(`${server.url}/readyz`);
    expect(noArtifacts.status).toBe(503);
    const body = (await noArtifacts.json()) as { error: string; checks: Record<string, { ok: boolean }> };
    expect(body.error).toStartWith(`not ready: artifacts: artifact store ${join(dataDir, "artifacts")}`);
    expect(body.checks.database?.ok).toBe(true);

    await server.master.deps.repo.close();
    const noDatabase = (await (await fetch(`${server.url}/readyz`)).json()) as { error: string };
    expect(noDatabase.error).toContain("database: SQLite database");
    expect(noDatabase.error).toContain("Cannot use a closed database");
    // Liveness only says the process serves.
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  test.skipIf(!!NO_BEANSTALKD)(`with beanstalkd: the queue is checked, and named when it is killed${NO_BEANSTALKD ? ` [skipped: ${NO_BEANSTALKD}]` : ""}`, async () => {
    const beanstalkd = (await startBeanstalkd())!;
    stops.push(() => beanstalkd.destroy());
    const server = await startMasterServer({
      port: 0, host: "127.0.0.1", db: "sqlite", dataDir: await temps.make("dt-master-readyz-"), queue: beanstalkd.url,
      dispatch: { leaseTtlMs: 30_000, heartbeatIntervalMs: 5_000, noResourceTimeoutMs: 60_000, maxWaitMs: 1_000, maxInfraRequeues: 3 },
      clock: systemClock, log: createLogger({ level: "silent" }),
    });
    stops.push(() => server.stop(100));
    const ok = await fetch(`${server.url}/readyz`);
    expect(await ok.json()).toMatchObject({ ok: true, checks: { queue: { ok: true } } });
    await beanstalkd.stop();
    const down = await fetch(`${server.url}/readyz`);
    expect(down.status).toBe(503);
    const body = (await down.json()) as { error: string; checks: Record<string, { ok: boolean }> };
    expect(body.error).toStartWith("not ready: queue: ");
    expect(body.error).toContain(`127.0.0.1:${beanstalkd.address.port}`);
    expect(body.checks.database?.ok).toBe(true);
  });
});

test("no input to get wrong: queries are ignored, other methods are a JSON 404, and both are reads for the guard", async () => {
  const { server } = await master();
  expect((await fetch(`${server.url}/metrics?name[]=dt_x&%zz`)).status).toBe(200);
  expect((await fetch(`${server.url}/readyz?full=yes`)).status).toBe(200);
  for (const path of ["/metrics", "/readyz"]) {
    const res = await fetch(`${server.url}${path}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
    expect([path, res.status, ((await res.json()) as { code: string }).code]).toEqual([path, 404, "not_found"]);
    expect(server.routes).toContainEqual({ method: "GET", path });
    expect(accessOf("GET", path)).toBe("read");
  }
});
