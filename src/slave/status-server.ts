/**
 * A slave's status server (`dt slave --metrics-listen HOST:PORT`): what
 * Prometheus and a supervisor ask a slave, on a port of its own, since a
 * slave serves nothing else.
 *   GET /healthz  200 while the process serves (liveness)
 *   GET /readyz   200, or 503 naming what failed (the slave's hold, its cache directory)
 *   GET /metrics  Prometheus text format (see metrics.ts)
 *
 * @example
 *   const status = startStatusServer({ ...parseListenAddress("0.0.0.0:9464", "--metrics-listen"), registry: metrics.registry,
 *     readiness: [holdCheck(() => health.hold()), { name: "cache", check: () => checkWritableDir(cacheDir, "cache") }] });
 *   // … on exit: await status.stop();
 */
import { Hono } from "hono";
import { hostname } from "node:os";
import { DtError } from "../common/errors.ts";
import { errorBody, httpStatusOf, securityHeaders } from "../common/http.ts";
import { metricsHandler } from "../common/metrics/http.ts";
import { type ReadinessCheck, readinessHandler } from "../common/metrics/readiness.ts";
import type { Registry } from "../common/metrics/registry.ts";
import type { SlaveHold } from "../master/protocol.ts";

export interface StatusServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  registry: Registry;
  /** What /readyz checks, each within 2 s; a function when the checks depend on state made later. */
  readiness: readonly ReadinessCheck[] | (() => readonly ReadinessCheck[]);
}

export interface StatusServer {
  /** http://host:port with the port bound; the host name when listening on every interface, so others can reach it (the master's slaves view links it). */
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** The routes alone, for in-process tests. */
export function statusApp(o: Pick<StatusServerOptions, "registry" | "readiness">): Hono {
  const app = new Hono();
  app.onError((err, c) => c.json(errorBody(err), httpStatusOf(err)));
  app.notFound((c) => c.json({ error: `no such endpoint: ${c.req.method} ${c.req.path}; a slave serves /healthz, /readyz and /metrics`, code: "not_found" }, 404));
  app.use("*", securityHeaders);
  app.get("/healthz", (c) => c.json({ ok: true }));
  app.get("/readyz", readinessHandler(o.readiness));
  app.get("/metrics", metricsHandler(o.registry));
  return app;
}

/** Listens now; a port in use or an address not on this host is DtError invalid_input naming it. */
export function startStatusServer(o: StatusServerOptions): StatusServer {
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({ hostname: o.host, port: o.port, fetch: statusApp(o).fetch });
  } catch (err) {
    throw new DtError("invalid_input", `cannot serve the slave's status on ${formatHostPort(o.host, o.port)}: ${(err as Error).message}; choose another address or port`, { cause: err });
  }
  return {
    url: `http://${formatHostPort(o.host === "0.0.0.0" || o.host === "::" ? hostname() : o.host, server.port!)}`,
    port: server.port!,
    stop: () => server.stop(true),
  };
}

/**
 * `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (every interface) as given to a
 * flag; DtError invalid_input naming the flag otherwise.
 */
export function parseListenAddress(text: string, flag: string): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\[\]\s]*)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) throw new DtError("invalid_input", `${flag} ${JSON.stringify(text)}: write HOST:PORT, [IPv6]:PORT or :PORT (e.g. 0.0.0.0:9464)`);
  return { host: m[1] ?? (m[2] || "0.0.0.0"), port };
}

/** A readiness check that fails while the slave holds itself or is held (drain, quarantine), saying why. */
export function holdCheck(hold: () => SlaveHold | undefined): ReadinessCheck {
  return {
    name: "hold",
    check: async () => {
      const h = hold();
      if (h) throw new Error(`${h.kind === "drain" ? "draining" : "quarantined"} by ${h.by === "self" ? "itself" : "an operator"}: ${h.reason}`);
    },
  };
}

function formatHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
