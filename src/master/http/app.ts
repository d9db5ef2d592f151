import { Hono } from "hono";
import type { AuthGuard } from "../../common/auth/guard.ts";
import { errorBody, httpStatusOf, securityHeaders } from "../../common/http.ts";
import type { Logger } from "../../common/log.ts";
import { httpMetrics, metricsHandler } from "../../common/metrics/http.ts";
import { type ReadinessCheck, readinessHandler } from "../../common/metrics/readiness.ts";
import type { Registry } from "../../common/metrics/registry.ts";
import type { Master } from "../master.ts";
import { autoscaleRoutes } from "./autoscale-api.ts";
import { nativeRoutes } from "./native-api.ts";
import { slaveRoutes } from "./slave-api.ts";

export interface MasterAppOptions {
  master: Master;
  log: Logger;
  /** Who may read and write; without one every request passes (in-process tests of the routes alone). */
  guard?: AuthGuard;
  /** Extra route groups mounted at their prefix: the CAS (`/api/cas/v1`), dist_test's API and the HTML view (`/`). */
  mounts?: { prefix: string; app: Hono }[];
  /** Served at GET /metrics, and every request counted into it by route pattern; none: no /metrics. */
  metrics?: Registry;
  /** What GET /readyz checks (database, queue, stores), each within 2 s; none: it answers ready, as /healthz does. */
  readiness?: readonly ReadinessCheck[];
}

/**
 * Every HTTP route of the master on one app: errors as JSON, never a bare
 * 500 page. `/healthz` says the process serves; `/readyz` that what it
 * depends on answers too; `/metrics` is for Prometheus. All three are GETs,
 * so reads for the guard.
 */
export function masterApp(options: MasterAppOptions): Hono {
  const app = new Hono();
  app.onError((err, c) => {
    const status = httpStatusOf(err);
    if (status >= 500) options.log.error(`${c.req.method} ${c.req.path} failed:`, err);
    return c.json(errorBody(err), status);
  });
  app.notFound((c) => c.json({ error: `no such endpoint: ${c.req.method} ${c.req.path}`, code: "not_found" }, 404));
  app.use("*", securityHeaders);
  // Before the guard, so refused requests are counted too.
  if (options.metrics) app.use("*", httpMetrics(options.metrics));
  if (options.guard) app.use("*", options.guard.middleware());
  app.get("/healthz", (c) => c.json({ ok: true }));
  app.get("/readyz", readinessHandler(options.readiness ?? []));
  if (options.metrics) app.get("/metrics", metricsHandler(options.metrics));
  app.route("/api/v1/slave", slaveRoutes(options.master));
  app.route("/api/v1", nativeRoutes(options.master));
  app.route("/api/v1", autoscaleRoutes(options.master));
  for (const { prefix, app: mounted } of options.mounts ?? []) app.route(prefix, mounted);
  return app;
}
