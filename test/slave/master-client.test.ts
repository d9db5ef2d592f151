import { afterEach, describe, expect, test } from "bun:test";
import { Hono } from "hono";
import { createLogger } from "../../src/common/log.ts";
import { isDtError } from "../../src/common/errors.ts";
import type { ResultReport } from "../../src/master/protocol.ts";
import { backoffDelayMs } from "../../src/slave/backoff.ts";
import { MasterClient } from "../../src/slave/master-client.ts";
import { notRunReport } from "../../src/slave/outcome.ts";
import { closedServerUrl } from "../helpers/cas.ts";
import { waitUntil } from "../helpers/wait.ts";
import { TEST_BACKOFF } from "./harness.ts";

const log = createLogger({ level: "silent" });
const listeners: ReturnType<typeof Bun.serve>[] = [];
afterEach(async () => {
  for (const l of listeners.splice(0)) await l.stop(true);
});

/** A master whose slave API answers each request with the next of `statuses` (the last one repeats), counting requests. */
function scriptedMaster(statuses: number[], body: unknown) {
  const calls: string[] = [];
  const app = new Hono();
  app.all("/api/v1/slave/*", (c) => {
    calls.push(`${c.req.method} ${new URL(c.req.url).pathname}`);
    const status = statuses[Math.min(calls.length - 1, statuses.length - 1)]!;
    return status < 300 ? c.json(body as object, status as 200) : c.json({ error: `scripted ${status}`, code: status < 500 ? "invalid_input" : "unreachable" }, status as 500);
  });
  const listener = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch });
  listeners.push(listener);
  return { url: `http://127.0.0.1:${listener.port}`, calls };
}

const report: ResultReport = notRunReport(
  { lease_id: "L1", job_id: "j", task_id: "t.0", attempt: 0, isolate_hash: "h", isolate_server: "http://cas", description: "", timeout: 0, artifact_archive_globs: [], env: {}, lease_ttl_ms: 1, heartbeat_interval_ms: 1 },
  "test",
);

describe("MasterClient", () => {
  test("backoff doubles from 200 ms and is capped at 5 s, within ±20% jitter", () => {
    const policy = { initialMs: 200, maxMs: 5_000 };
    expect([1, 2, 3, 4, 5, 6, 40].map((n) => backoffDelayMs(policy, n, () => 0.5))).toEqual([200, 400, 800, 1600, 3200, 5000, 5000]);
    expect(backoffDelayMs(policy, 1, () => 0)).toBe(160);
    expect(backoffDelayMs(policy, 1, () => 0.999999)).toBe(240);
  });

  test("a result is retried through 5xx until the master answers 2xx", async () => {
    const master = scriptedMaster([503, 500, 502, 200], { ok: true, duplicate: false, stale: false });
    const client = new MasterClient(master.url, { log, backoff: TEST_BACKOFF });
    expect(await client.reportResult(report)).toEqual({ ok: true, duplicate: false, stale: false });
    expect(master.calls).toEqual(Array(4).fill("POST /api/v1/slave/result"));
  });

  test("a 4xx is the master's answer: thrown at once with its message, not retried", async () => {
    const master = scriptedMaster([400], {});
    const client = new MasterClient(master.url, { log, backoff: TEST_BACKOFF });
    const error = await client.reportResult(report).catch((e) => e);
    expect(isDtError(error, "invalid_input")).toBe(true);
    expect(error.message).toContain("scripted 400");
    expect(master.calls).toHaveLength(1);
  });

  test("an upload gives up after its tries and says so", async () => {
    const master = scriptedMaster([503], {});
    const client = new MasterClient(master.url, { log, backoff: TEST_BACKOFF, uploadAttempts: 3 });
    const error = await client.uploadOutput("L1", "stdout", import.meta.path).catch((e) => e);
    expect(isDtError(error, "unreachable")).toBe(true);
    expect(master.calls).toEqual(Array(3).fill("PUT /api/v1/slave/output"));
  });

  test("a lease poll against a master that is down keeps trying until aborted, then returns no leases", async () => {
    const attempts: number[] = [];
    const countingFetch = (async (input: string | URL | Request, init?: RequestInit) => {
      attempts.push(Date.now());
      return fetch(input, init);
    }) as typeof fetch;
    const client = new MasterClient(await closedServerUrl(), { log, backoff: TEST_BACKOFF, fetch: countingFetch });
    const drain = new AbortController();
    const poll = client.lease({ slave: { name: "s", dimensions: {}, slots: 1, version: "0" }, free: 1, wait_ms: 1000 }, drain.signal);
    await waitUntil(() => attempts.length >= 4, "four tries against the closed port");
    drain.abort();
    expect(await poll).toEqual({ leases: [] });
  });

  test("a 409 on a log append gives the master's size back", async () => {
    const app = new Hono();
    app.post("/api/v1/slave/log", (c) => c.json({ error: "offset past the end", code: "invalid_input", size: 7 }, 409));
    const listener = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch });
    listeners.push(listener);
    const client = new MasterClient(`http://127.0.0.1:${listener.port}`, { log, backoff: TEST_BACKOFF });
    expect(await client.appendLog("L1", "stdout", 10, new Uint8Array(3))).toBe(7);
  });

  test("a master URL that is not http(s) is refused up front", () => {
    expect(() => new MasterClient("ftp://m", { log })).toThrow("only http and https");
    expect(() => new MasterClient("not a url", { log })).toThrow("is not a URL");
  });
});
