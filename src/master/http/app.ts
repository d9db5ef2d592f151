import { Hono } from "hono";
import type { AuthGuard } from "../../common/auth/guard.ts";
import { errorBody, httpStatusOf, securityHeaders } from "../../common/http.ts";
import type { Logger } from "../../common/log.ts";
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
}

/** Every HTTP route of the master on one app: errors as JSON, never a bare 500 page. */
export function masterApp(options: MasterAppOptions): Hono {
  const app = new Hono();
  app.onError((err, c) => {
    const status = httpStatusOf(err);
    if (status >= 500) options.log.error(`${c.req.method} ${c.req.path} failed:`, err);
    return c.json(errorBody(err), status);
  });
  app.notFound((c) => c.json({ error: `no such endpoint: ${c.req.method} ${c.req.path}`, code: "not_found" }, 404));
  app.use("*", securityHeaders);
  if (options.guard) app.use("*", options.guard.middleware());
  app.get("/healthz", (c) => c.json({ ok: true }));
  app.route("/api/v1/slave", slaveRoutes(options.master));
  app.route("/api/v1", nativeRoutes(options.master));
  app.route("/api/v1", autoscaleRoutes(options.master));
  for (const { prefix, app: mounted } of options.mounts ?? []) app.route(prefix, mounted);
  return app;
}
