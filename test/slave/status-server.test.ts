/**
 * The slave's status server on a real socket: /metrics from SlaveMetrics
 * (accepted by promtool), /readyz from its checks, /healthz; the
 * --metrics-listen address parser; a port in use refused by name.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { hostname } from "node:os";
import { isDtError } from "../../src/common/errors.ts";
import { checkWritableDir } from "../../src/common/metrics/readiness.ts";
import { PROMETHEUS_CONTENT_TYPE } from "../../src/common/metrics/registry.ts";
import type { SlaveHold } from "../../src/master/protocol.ts";
import { SlaveMetrics } from "../../src/slave/metrics.ts";
import { holdCheck, parseListenAddress, startStatusServer, type StatusServer } from "../../src/slave/status-server.ts";
import { expectPromtoolAccepts, promtoolMissing } from "../common/metrics/promtool.ts";
import { TempDirs } from "../helpers/temp.ts";

const NO_PROMTOOL = promtoolMissing("test/slave/status-server.test.ts");
const temps = new TempDirs();
const servers: StatusServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
  await temps.cleanup();
});

const TIMES = { fetch_done_at: 10_300, map_done_at: 10_400, command_start_at: 10_500, command_end_at: 12_500, upload_done_at: 12_600 };

async function serve(o: { freeBytes?: (path: string) => Promise<number>; hold?: () => SlaveHold | undefined } = {}) {
  const cacheDir = await temps.make("dt-slave-status-");
  const metrics = new SlaveMetrics({ version: "9.9.9", cacheDir, freeBytes: o.freeBytes });
  const server = startStatusServer({
    host: "127.0.0.1",
    port: 0,
    registry: metrics.registry,
    readiness: [holdCheck(o.hold ?? (() => undefined)), { name: "cache", check: () => checkWritableDir(cacheDir, "cache") }],
  });
  servers.push(server);
  return { metrics, server, cacheDir };
}

const sample = (text: string, series: string) => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe("/metrics", () => {
  test("slots, running, hold, infrastructure failures, free disk, and the master's task metric names", async () => {
    const { metrics, server } = await serve({ freeBytes: async () => 5 * 2 ** 30 });
    metrics.setSlots(4);
    metrics.setRunning(2);
    metrics.setHold("quarantine");
    metrics.infraFailure();
    metrics.attemptEnded({ state: "SUCCEEDED", leasedAt: 10_000, times: TIMES, cache: { itemsHot: 9, bytesHot: 900, itemsCold: 1, bytesCold: 100 }, reportedAt: 12_700 });
    metrics.attemptEnded({ state: "INFRA_FAILED", leasedAt: 20_000, times: { ...TIMES, map_done_at: null, command_start_at: null, command_end_at: null, upload_done_at: null }, cache: null, reportedAt: 20_500 });
    const res = await fetch(`${server.url}/metrics?ignored=1`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe(PROMETHEUS_CONTENT_TYPE);
    const text = await res.text();
    expect(sample(text, "dt_slave_slots")).toBe(4);
    expect(sample(text, "dt_slave_running_tasks")).toBe(2);
    expect(sample(text, 'dt_slave_held{kind="quarantine"}')).toBe(1);
    expect(sample(text, 'dt_slave_held{kind="drain"}')).toBe(0);
    expect(sample(text, "dt_slave_infra_failures_total")).toBe(1);
    expect(sample(text, "dt_slave_cache_free_bytes")).toBe(5 * 2 ** 30);
    expect(sample(text, 'dt_task_results_total{state="SUCCEEDED"}')).toBe(1);
    expect(sample(text, 'dt_task_results_total{state="INFRA_FAILED"}')).toBe(1);
    expect(sample(text, 'dt_task_duration_seconds_sum{state="SUCCEEDED"}')).toBe(2);
    // No queue phase on a slave: it never knew when the task was queued.
    expect(sample(text, 'dt_task_phase_seconds_count{phase="queue"}')).toBeUndefined();
    expect(sample(text, 'dt_task_phase_seconds_count{phase="fetch"}')).toBe(2);
    expect(sample(text, 'dt_task_phase_seconds_sum{phase="report"}')).toBe(0.1);
    expect(sample(text, "dt_slave_cache_hit_ratio")).toBe(0.9);
    expect(sample(text, 'dt_build_info{version="9.9.9"}')).toBe(1);
    metrics.setHold(null);
    expect(sample(await (await fetch(`${server.url}/metrics`)).text(), 'dt_slave_held{kind="quarantine"}')).toBe(0);
  });

  test("free disk is read with statfs by default; a failing reading costs only that gauge", async () => {
    const real = await serve();
    expect(sample(await (await fetch(`${real.server.url}/metrics`)).text(), "dt_slave_cache_free_bytes")).toBeGreaterThan(0);
    const broken = await serve({ freeBytes: () => Promise.reject(new Error("no such directory")) });
    const res = await fetch(`${broken.server.url}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain("# dt_slave_cache_free_bytes: collecting failed: no such directory\n");
    expect(sample(text, "dt_slave_slots")).toBeUndefined();
    expect(sample(text, "dt_slave_running_tasks")).toBe(0);
  });

  test.skipIf(!!NO_PROMTOOL)(`promtool check metrics accepts it${NO_PROMTOOL ? ` [skipped: ${NO_PROMTOOL}]` : ""}`, async () => {
    const { metrics, server } = await serve({ freeBytes: async () => 1 });
    metrics.setSlots(1);
    metrics.attemptEnded({ state: "FAILED", leasedAt: 10_000, times: TIMES, cache: { itemsHot: 0, bytesHot: 0, itemsCold: 2, bytesCold: 20 }, reportedAt: 13_000 });
    await expectPromtoolAccepts(await (await fetch(`${server.url}/metrics`)).text());
  });
});

describe("/healthz and /readyz", () => {
  test("ready while not held and the cache is writable; 503 naming the hold, then the cache directory; healthz stays 200", async () => {
    let hold: SlaveHold | undefined;
    const { server, cacheDir } = await serve({ hold: () => hold });
    const ok = await fetch(`${server.url}/readyz`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ ok: true, checks: { hold: { ok: true }, cache: { ok: true } } });
    hold = { kind: "quarantine", by: "self", reason: "disk: /cache has 10 MB free", since: 1 };
    const held = await fetch(`${server.url}/readyz`);
    expect(held.status).toBe(503);
    expect(((await held.json()) as { error: string }).error).toBe("not ready: hold: quarantined by itself: disk: /cache has 10 MB free");
    hold = undefined;
    await temps.cleanup();
    const noCache = (await (await fetch(`${server.url}/readyz`)).json()) as { error: string };
    expect(noCache.error).toStartWith(`not ready: cache: cache ${cacheDir} cannot be written`);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  test("other paths and methods are a JSON 404", async () => {
    const { server } = await serve();
    for (const [method, path] of [["POST", "/metrics"], ["PUT", "/readyz"], ["GET", "/api/v1/anything"]] as const) {
      const res = await fetch(`${server.url}${path}`, { method, body: method === "GET" ? undefined : "x" });
      expect([method, path, res.status, ((await res.json()) as { code: string }).code]).toEqual([method, path, 404, "not_found"]);
    }
  });
});

describe("listening", () => {
  test("parseListenAddress takes HOST:PORT, [IPv6]:PORT and :PORT; anything else names the flag", () => {
    expect(parseListenAddress("127.0.0.1:9464", "--metrics-listen")).toEqual({ host: "127.0.0.1", port: 9464 });
    expect(parseListenAddress("[::1]:0", "--metrics-listen")).toEqual({ host: "::1", port: 0 });
    expect(parseListenAddress(":9464", "--metrics-listen")).toEqual({ host: "0.0.0.0", port: 9464 });
    expect(parseListenAddress("slave-1.example:80", "--metrics-listen")).toEqual({ host: "slave-1.example", port: 80 });
    for (const bad of ["9464", "host:", "host:99999", "::1:9464", "a b:1", "host:-1", ""]) {
      let err: unknown;
      try {
        parseListenAddress(bad, "--metrics-listen");
      } catch (e) {
        err = e;
      }
      expect([bad, isDtError(err, "invalid_input") && (err as Error).message.startsWith("--metrics-listen ")]).toEqual([bad, true]);
    }
  });

  test("listening on every interface, the URL names this host, so the master's slaves view can link it", async () => {
    const server = startStatusServer({ ...parseListenAddress(":0", "--metrics-listen"), registry: new SlaveMetrics({ version: "x", cacheDir: "/" }).registry, readiness: [] });
    servers.push(server);
    expect(server.url).toBe(`http://${hostname()}:${server.port}`);
    expect((await fetch(`http://127.0.0.1:${server.port}/healthz`)).status).toBe(200);
  });

  test("a port in use is DtError invalid_input naming the address", async () => {
    const { server } = await serve();
    let err: unknown;
    try {
      servers.push(startStatusServer({ host: "127.0.0.1", port: server.port, registry: new SlaveMetrics({ version: "x", cacheDir: "/" }).registry, readiness: [] }));
    } catch (e) {
      err = e;
    }
    expect(isDtError(err, "invalid_input")).toBe(true);
    expect((err as Error).message).toContain(`127.0.0.1:${server.port}`);
  });
});
