/**
 * HTTP for metrics: the `/metrics` handler, and a middleware that counts a
 * server's requests by route pattern and status.
 *
 * @example
 *   app.use("*", httpMetrics(registry));
 *   app.get("/metrics", metricsHandler(registry));
 */
import type { Context, Handler, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import { PROMETHEUS_CONTENT_TYPE, type Registry } from "./registry.ts";

/**
 * Request durations (s): an API call takes milliseconds, a blob upload
 * seconds, and a slave's long-poll for work up to 30 s; the top bucket
 * holds them all.
 */
export const HTTP_DURATION_BUCKETS = [0.005, 0.025, 0.1, 0.25, 1, 2.5, 10, 30, 60];

/** Methods kept as they are; any other counts as "other", so a client inventing methods cannot add series. */
const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]);

/** Answers a scrape with the registry's exposition. */
export function metricsHandler(registry: Registry): Handler {
  return async (c) => c.body(await registry.metrics(), 200, { "Content-Type": PROMETHEUS_CONTENT_TYPE, "Cache-Control": "no-store" });
}

/**
 * The route pattern a request matched (`/api/v1/jobs/:job`), never its path,
 * which would make a series per job id; "unmatched" when only middleware
 * matched (a 404, or a method the path does not take).
 */
export function routeOf(c: Context): string {
  let routes: ReturnType<typeof matchedRoutes>;
  try {
    routes = matchedRoutes(c);
  } catch {
    // A context made by another copy of hono has no match result this one can read: count the request rather than fail it.
    return "unknown";
  }
  for (let i = routes.length - 1; i >= 0; i--) {
    const { method, path } = routes[i]!;
    // app.use() registers middleware as ALL on a wildcard path; a route of dt's own ends in a name or a parameter.
    if (!(method === "ALL" && path.endsWith("*"))) return path;
  }
  return "unmatched";
}

/**
 * Counts every request into `dt_http_requests_total{method,route,status}`
 * and times it into `dt_http_request_duration_seconds{route}` (until the
 * handler answered: a streamed body may go on after). Mount it before the
 * auth guard, so refusals are counted too.
 */
export function httpMetrics(registry: Registry): MiddlewareHandler {
  const requests = registry.counter({
    name: "dt_http_requests_total",
    help: "HTTP requests answered, by method, route pattern and status.",
    labelNames: ["method", "route", "status"],
  });
  const durations = registry.histogram({
    name: "dt_http_request_duration_seconds",
    help: "Time from a request's arrival to its answer's headers, by route pattern (slave lease long-polls included).",
    labelNames: ["route"],
    buckets: HTTP_DURATION_BUCKETS,
  });
  // The children by method, route and status: a slave fleet's requests are a handful of these, and each request would otherwise
  // build and JSON-encode its label set twice to find them.
  const children = new Map<string, { count: ReturnType<typeof requests.with>; time: ReturnType<typeof durations.with> }>();
  const childrenOf = (method: string, route: string, status: string) => {
    const key = `${method} ${status} ${route}`;
    let child = children.get(key);
    if (!child) children.set(key, (child = { count: requests.with({ method, route, status }), time: durations.with({ route }) }));
    return child;
  };
  return async (c, next) => {
    const started = performance.now();
    let status: number | undefined;
    try {
      await next();
      status = c.res.status;
    } finally {
      // hono turns handler errors into responses; one that escapes still was a request, answered 500 further out.
      const route = routeOf(c);
      const method = KNOWN_METHODS.has(c.req.method) ? c.req.method : "other";
      const child = childrenOf(method, route, String(status ?? 500));
      child.count.inc();
      child.time.observe((performance.now() - started) / 1000);
    }
  };
}
