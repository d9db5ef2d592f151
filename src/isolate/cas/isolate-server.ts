import { Hono } from "hono";
import { AuthGuard } from "../../common/auth/guard.ts";
import type { AuthPolicy } from "../../common/auth/policy.ts";
import type { Clock } from "../../common/clock.ts";
import { securityHeaders } from "../../common/http.ts";
import type { Logger } from "../../common/log.ts";
import { httpMetrics, metricsHandler } from "../../common/metrics/http.ts";
import { processMetrics } from "../../common/metrics/process.ts";
import { readinessHandler } from "../../common/metrics/readiness.ts";
import { Registry } from "../../common/metrics/registry.ts";
import { VERSION } from "../../version.ts";
import type { BlobStore, TrimPolicy } from "./blob-store.ts";
import { CAS_API_PREFIX } from "./client.ts";
import { type CasLimits, DEFAULT_CAS_LIMITS } from "./limits.ts";
import { casRoutes, casTrafficMetrics } from "./server.ts";

export interface IsolateServerOptions {
  store: BlobStore;
  log: Logger;
  clock: Clock;
  /** Undefined means the store grows without bound. */
  trim?: TrimPolicy;
  limits?: CasLimits;
  /** Who may upload (and read, if closed); without one every request passes (in-process tests of the routes). `dt isolate-server` always gives one. */
  auth?: AuthPolicy;
  /** Where GET /metrics reads from; default: a registry of the server's own. */
  registry?: Registry;
}

/**
 * Once over its size limit, the store is trimmed again at this interval even
 * without new uploads: blobs younger than `--min-age` could not go at the
 * first pass, and become evictable only as time passes.
 */
const TRIM_RETRY_INTERVAL_MS = 60_000;

/**
 * The standalone CAS: `/healthz` (the process serves), `/readyz` (the store
 * answers too), `/metrics` (Prometheus: bytes in and out, requests by
 * route) and the CAS API. Owns garbage collection:
 * a trim runs after uploads whenever the store is over its limit, one at a
 * time, never on the request path.
 */
export class IsolateServer {
  readonly app = new Hono();
  readonly registry: Registry;
  private trimming: Promise<void> | undefined;
  private trimAgain = false;
  private retryTimer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly options: IsolateServerOptions) {
    this.registry = options.registry ?? new Registry();
    processMetrics(this.registry, VERSION);
    this.app.use("*", securityHeaders);
    // Before the guard, so refused requests are counted too.
    this.app.use("*", httpMetrics(this.registry));
    if (options.auth) this.app.use("*", new AuthGuard({ policy: options.auth, clock: options.clock, log: options.log }).middleware());
    this.app.get("/healthz", (c) => c.json({ ok: true }));
    this.app.get("/readyz", readinessHandler([{ name: "cas", check: () => options.store.ping() }]));
    this.app.get("/metrics", metricsHandler(this.registry));
    this.app.notFound((c) =>
      c.json({ error: `no such endpoint: ${c.req.method} ${c.req.path}; the CAS API is under ${CAS_API_PREFIX}/ (see docs/api.md)`, code: "not_found" }, 404),
    );
    this.app.route(CAS_API_PREFIX, casRoutes({ store: options.store, log: options.log, limits: options.limits, onStored: () => this.requestTrim(), traffic: casTrafficMetrics(this.registry) }));
    if (options.trim) {
      this.retryTimer = setInterval(() => this.requestTrim(), TRIM_RETRY_INTERVAL_MS);
      this.retryTimer.unref?.();
    }
  }

  /** Starts a trim unless one is running (then it runs once more after). */
  requestTrim(): void {
    if (!this.options.trim) return;
    if (this.trimming) {
      this.trimAgain = true;
      return;
    }
    this.trimming = this.runTrim().finally(() => {
      this.trimming = undefined;
      if (this.trimAgain) {
        this.trimAgain = false;
        this.requestTrim();
      }
    });
  }

  /** Waits for any trim in progress (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.trimming) await this.trimming;
  }

  private async runTrim(): Promise<void> {
    const policy = this.options.trim!;
    try {
      const { blobs, bytes } = await this.options.store.trim(policy);
      if (blobs > 0) this.options.log.info(`evicted ${blobs} blobs (${bytes} bytes) to stay under ${policy.maxBytes} bytes`, { evicted: blobs, bytes });
    } catch (err) {
      this.options.log.error("trimming the blob store failed", err);
    }
  }

  /** Serves on `port` (0 picks a free one); returns the bound server. */
  listen(port: number, hostname = "0.0.0.0"): ReturnType<typeof Bun.serve> {
    return Bun.serve({
      port,
      hostname,
      fetch: this.app.fetch,
      // Blob uploads stream to disk; the per-endpoint limits in server.ts apply.
      maxRequestBodySize: (this.options.limits ?? DEFAULT_CAS_LIMITS).maxBlobBytes,
      idleTimeout: 120,
    });
  }

  async close(): Promise<void> {
    clearInterval(this.retryTimer);
    await this.settled();
    await this.options.store.close();
  }
}
