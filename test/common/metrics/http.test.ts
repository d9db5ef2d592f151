import { describe, expect, test } from "bun:test";
import { Hono } from "hono";
import { httpMetrics, metricsHandler } from "../../../src/common/metrics/http.ts";
import { PROMETHEUS_CONTENT_TYPE, Registry } from "../../../src/common/metrics/registry.ts";

/** An app shaped like dt's: a middleware before the counter, a refusing one after it, a mounted group, a route with its own middleware. */
function app() {
  const registry = new Registry();
  const a = new Hono();
  a.use("*", async (_c, next) => next());
  a.use("*", httpMetrics(registry));
  a.use("*", async (c, next) => (c.req.header("x-refuse") ? c.text("no", 401) : next()));
  a.get("/metrics", metricsHandler(registry));
  a.get("/jobs/:job", (c) => c.json({ job: c.req.param("job") }));
  a.get("/boom", () => {
    throw new Error("boom");
  });
  a.onError((_err, c) => c.json({ error: "internal" }, 500));
  const sub = new Hono();
  sub.get("/blobs/:hash", (c) => c.text("blob"));
  a.route("/api/cas/v1", sub);
  a.on(["GET", "POST"], "/legacy", async (_c, next) => next(), (c) => c.text("ok"));
  return { a, registry };
}

const get = (a: Hono, path: string, init?: RequestInit) => a.request(new Request(`http://dt.test${path}`, init));

describe("httpMetrics", () => {
  test("counts by route pattern, never by path; unmatched, refused and failed requests too", async () => {
    const { a, registry } = app();
    for (const id of ["a", "b", "c"]) expect((await get(a, `/jobs/${id}?x=${id}`)).status).toBe(200);
    await get(a, `/api/cas/v1/blobs/${"f".repeat(64)}`);
    await get(a, "/no/such/path/1");
    await get(a, "/no/such/path/2");
    await get(a, "/jobs/a", { method: "DELETE" });
    await get(a, "/jobs/a", { headers: { "x-refuse": "1" } });
    await get(a, "/boom");
    await get(a, "/legacy", { method: "POST" });
    const text = await registry.metrics();
    expect(text).toContain('dt_http_requests_total{method="GET",route="/jobs/:job",status="200"} 3\n');
    expect(text).toContain('dt_http_requests_total{method="GET",route="/api/cas/v1/blobs/:hash",status="200"} 1\n');
    expect(text).toContain('dt_http_requests_total{method="GET",route="unmatched",status="404"} 2\n');
    expect(text).toContain('dt_http_requests_total{method="DELETE",route="unmatched",status="404"} 1\n');
    expect(text).toContain('dt_http_requests_total{method="GET",route="/jobs/:job",status="401"} 1\n');
    expect(text).toContain('dt_http_requests_total{method="GET",route="/boom",status="500"} 1\n');
    expect(text).toContain('dt_http_requests_total{method="POST",route="/legacy",status="200"} 1\n');
    expect(text).toContain('dt_http_request_duration_seconds_count{route="/jobs/:job"} 4\n');
    expect(text).not.toContain("/jobs/a");
    expect(text).not.toContain("/no/such");
  });

  test("/metrics answers the text format, uncached, whatever the query; other methods are 404", async () => {
    const { a } = app();
    const res = await get(a, "/metrics?name[]=x&%zz");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe(PROMETHEUS_CONTENT_TYPE);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(await res.text()).toContain("# TYPE dt_http_requests_total counter");
    expect((await get(a, "/metrics", { method: "POST", body: "x" })).status).toBe(404);
  });
});
