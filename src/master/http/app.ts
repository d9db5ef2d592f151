import { Hono, type MiddlewareHandler } from "hono";
import { type AuthGuard, isDistTestWrite } from "../../common/auth/guard.ts";
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
  /** How long a write waits for a restart's rebuild before it is answered 503 (REBUILD_WAIT_MS). */
  rebuildWaitMs?: number;
  /** Path prefixes whose writes need no rebuilt queue (the CAS). */
  rebuildExempt?: readonly string[];
}

/**
 * 5 s: a rebuild of a few jobs is done within it, so the request is only
 * slower; a longer one (100,000 tasks on MariaDB) answers 503 with
 * Retry-After, which dt's clients and slaves retry, rather than piling up
 * held connections.
 */
export const REBUILD_WAIT_MS = 5_000;

/** Seconds a client told 503 during a rebuild waits before asking again. */
const REBUILD_RETRY_AFTER_SEC = 2;

/**
 * Requests that change the queue (every method but GET and HEAD: submit,
 * cancel, retry, and the slaves' lease, claim, heartbeat, result, logs;
 * and dist_test's submit, cancel and retry by any method) wait for a
 * restart's rebuild: before it, the master does not know which leases and
 * offers exist, and would refuse a slave's live lease, queue a task twice,
 * or find nothing to retry. Reads are served from the database at once.
 */
function untilRebuilt(master: Master, waitMs: number, exempt: readonly string[]): MiddlewareHandler {
  return async (c, next) => {
    const read = (c.req.method === "GET" || c.req.method === "HEAD") && !isDistTestWrite(c.req.path);
    if (master.ready || read || exempt.some((p) => c.req.path.startsWith(p))) return next();
    if (await master.whenReady(waitMs)) return next();
    const why = await master.checkRebuilt().then(() => "", (err: Error) => err.message);
    c.header("Retry-After", String(REBUILD_RETRY_AFTER_SEC));
    return c.json({ error: `the master restarted: ${why || "rebuilding its queue"}; retry in a few seconds`, code: "unreachable" }, 503);
  };
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
  app.use("*", untilRebuilt(options.master, options.rebuildWaitMs ?? REBUILD_WAIT_MS, options.rebuildExempt ?? []));
  app.get("/healthz", (c) => c.json({ ok: true }));
  // A restart's rebuild first: until it is done the master serves reads only, whatever its dependencies say.
  app.get("/readyz", readinessHandler([{ name: "rebuild", check: () => options.master.checkRebuilt() }, ...(options.readiness ?? [])]));
  if (options.metrics) app.get("/metrics", metricsHandler(options.metrics));
  app.route("/api/v1/slave", slaveRoutes(options.master));
  app.route("/api/v1", nativeRoutes(options.master));
  app.route("/api/v1", autoscaleRoutes(options.master));
  for (const { prefix, app: mounted } of options.mounts ?? []) app.route(prefix, mounted);
  return app;
}
