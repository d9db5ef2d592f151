import { hostname } from "node:os";
import { join, resolve } from "node:path";
import { AuthGuard } from "../common/auth/guard.ts";
import { type AuthPolicy, defaultAuthPolicy, describeAuthPolicy } from "../common/auth/policy.ts";
import type { Clock } from "../common/clock.ts";
import { DtError } from "../common/errors.ts";
import type { Logger } from "../common/log.ts";
import { processMetrics } from "../common/metrics/process.ts";
import type { ReadinessCheck } from "../common/metrics/readiness.ts";
import { Registry } from "../common/metrics/registry.ts";
import { openBlobStore } from "../isolate/cas/open-blob-store.ts";
import { CAS_API_PREFIX } from "../isolate/cas/client.ts";
import { casOutputsReader, storeOutputsReader } from "./outputs-reader.ts";
import { DEFAULT_CAS_LIMITS } from "../isolate/cas/limits.ts";
import { casRoutes, casTrafficMetrics } from "../isolate/cas/server.ts";
import { VERSION } from "../version.ts";
import { LiveLogs } from "./artifacts/live-logs.ts";
import { openArtifactStore } from "./artifacts/open-artifact-store.ts";
import { masterApp } from "./http/app.ts";
import { distTestRoutes } from "./http/dist-test-api.ts";
import { blobStoreManifestCheck } from "./jobs/manifest-check.ts";
import type { ChangeWaitLimits } from "./jobs/change-waiters.ts";
import { Master } from "./master.ts";
import { MasterMetrics } from "./metrics.ts";
import type { Repo } from "./repo/repo.ts";
import { MysqlRepo } from "./repo/mysql.ts";
import { SqliteRepo } from "./repo/sqlite.ts";
import type { DispatcherConfig } from "./scheduler/dispatcher.ts";
import { openExternalQueue } from "./queue/open-queue.ts";

export interface MasterServerOptions {
  port: number;
  host: string;
  /** `sqlite:PATH`; the only kind in this release. */
  db: string;
  dataDir: string;
  /** The URL slaves and clients use; default http://<hostname>:<port>. */
  publicUrl?: string;
  /** A separate CAS for slaves to fetch from; default: the one this master serves. */
  isolateServer?: string;
  /** `s3://bucket/prefix` for logs and artifacts; default `<data-dir>/artifacts`. */
  artifacts?: string;
  /** `s3://bucket/prefix` for the CAS this master serves; default `<data-dir>/cas`. */
  casStore?: string;
  /** An S3-compatible endpoint for both (resolved from --s3-endpoint and AWS_ENDPOINT_URL). */
  s3Endpoint?: string;
  dispatch: Omit<DispatcherConfig, "isolateServer">;
  /** `beanstalk://host:port` for slaves to reserve from; absent: the in-process queue. */
  queue?: string;
  /** Prefix of the beanstalkd tubes, so several masters can share one server. */
  queueTubePrefix?: string;
  /** Ready jobs kept per beanstalkd tube (see FeederConfig.feedAhead). */
  queueFeedAhead?: number;
  /** Who may read and write (see auth/policy.ts); default: writes from loopback only. */
  auth?: AuthPolicy;
  /** Bounds on held job long-polls; default DEFAULT_CHANGE_WAIT_LIMITS (maxWaiters 0 turns the long-poll off: clients poll). */
  changeWaits?: ChangeWaitLimits;
  clock: Clock;
  log: Logger;
}

/**
 * Seconds a connection may stay silent before the server resets it. It must
 * outlast every request the master holds on purpose (a job long-poll, 25 s;
 * a slave's lease long-poll, 30 s): Bun's default, 10 s, reset them.
 */
export const IDLE_TIMEOUT_SEC = 60;

/** A held request ends this long before the idle timeout at the latest: time to read the job and write the answer. */
const HOLD_MARGIN_MS = 10_000;

/** Opens the database named by `--db`: `sqlite` (in the data dir), `sqlite:PATH`, or a `mysql://` URL. */
export async function openRepo(db: string, dataDir: string): Promise<Repo> {
  if (db === "" || db === "sqlite") return SqliteRepo.open(join(dataDir, "dt.sqlite"));
  if (db.startsWith("sqlite:")) return SqliteRepo.open(resolve(db.slice("sqlite:".length)));
  if (db.startsWith("mysql://") || db.startsWith("mariadb://")) return MysqlRepo.open(db);
  throw new DtError("invalid_input", `--db ${JSON.stringify(db)}: write sqlite:PATH or mysql://user:password@host:port/database`);
}

/**
 * One process that is a whole installation: the master's APIs, the HTML
 * view, the artifact store and (unless another is named) the CAS, on one
 * port. Returns the running server and how to stop it.
 */
export async function startMasterServer(options: MasterServerOptions) {
  const longestHoldMs = IDLE_TIMEOUT_SEC * 1000 - HOLD_MARGIN_MS;
  for (const [what, ms] of [["changeWaits.maxWaitMs", options.changeWaits?.maxWaitMs ?? 0], ["dispatch.maxWaitMs", options.dispatch.maxWaitMs]] as const) {
    if (ms > longestHoldMs) throw new DtError("invalid_input", `${what} ${ms} ms: a held request must end by ${longestHoldMs} ms, or the server's ${IDLE_TIMEOUT_SEC} s idle timeout resets it`);
  }
  // What is open when a later step fails is closed again: a listening socket or a database pool left
  // open kept the process alive after its error was printed (a mistyped --cas-store never exited).
  const opened: (() => unknown)[] = [];
  try {
    return await start(options, opened);
  } catch (err) {
    for (const close of opened.reverse()) await Promise.resolve().then(close).catch(() => {});
    throw err;
  }
}

/** Listens on `host:port`; a port in use or an address that is not this host's is the operator's to fix. */
function listen(options: MasterServerOptions): ReturnType<typeof Bun.serve> {
  try {
    return Bun.serve({ port: options.port, hostname: options.host, fetch: () => new Response("starting", { status: 503 }), maxRequestBodySize: DEFAULT_CAS_LIMITS.maxBlobBytes, idleTimeout: IDLE_TIMEOUT_SEC });
  } catch (err) {
    throw new DtError("invalid_input", `cannot listen on ${options.host}:${options.port} (--host, --port): ${(err as Error).message}; choose another address or port`, { cause: err });
  }
}

async function start(options: MasterServerOptions, opened: (() => unknown)[]) {
  const externalQueue = options.queue
    ? await openExternalQueue(options.queue, { tubePrefix: options.queueTubePrefix, feedAhead: options.queueFeedAhead, leaseTtlMs: options.dispatch.leaseTtlMs, log: options.log })
    : undefined;
  if (externalQueue) opened.push(() => externalQueue.sink.close());
  const artifacts = await openArtifactStore({ store: options.artifacts, flag: "--artifacts", dir: join(options.dataDir, "artifacts"), s3Endpoint: options.s3Endpoint, clock: options.clock });
  opened.push(() => artifacts.close());
  const repo = await openRepo(options.db, options.dataDir);
  opened.push(() => repo.close());
  const blobStore = options.isolateServer
    ? undefined
    : await openBlobStore({ store: options.casStore, flag: "--cas-store", dir: join(options.dataDir, "cas"), s3Endpoint: options.s3Endpoint, clock: options.clock });
  if (blobStore) opened.push(() => blobStore.close());
  const server = listen(options);
  opened.push(() => server.stop(true));
  const publicUrl = (options.publicUrl ?? `http://${options.host === "0.0.0.0" ? hostname() : options.host}:${server.port}`).replace(/\/+$/, "");
  const registry = new Registry();
  processMetrics(registry, VERSION);
  const metrics = new MasterMetrics(registry);
  const master = new Master({
    repo,
    artifacts,
    liveLogs: new LiveLogs(join(options.dataDir, "live-logs")),
    clock: options.clock,
    log: options.log,
    newId: () => crypto.randomUUID(),
    publicUrl,
    dispatch: { ...options.dispatch, isolateServer: options.isolateServer ?? publicUrl },
    externalQueue,
    checkManifest: blobStore ? blobStoreManifestCheck(blobStore, publicUrl) : undefined,
    outputs: blobStore ? storeOutputsReader(blobStore, publicUrl) : options.isolateServer ? casOutputsReader(options.isolateServer) : undefined,
    observer: metrics,
    changeWaits: options.changeWaits,
  });
  metrics.attach(master);
  // dist_test's API and the HTML view live at the root, as on dist_test's master.
  const mounts = [{ prefix: "/", app: distTestRoutes(master) }];
  if (blobStore) mounts.unshift({ prefix: CAS_API_PREFIX, app: casRoutes({ store: blobStore, log: options.log, traffic: casTrafficMetrics(registry) }) });
  const readiness: ReadinessCheck[] = [
    { name: "database", check: () => repo.ping() },
    { name: "artifacts", check: () => artifacts.ping() },
  ];
  if (externalQueue) readiness.push({ name: "queue", check: () => externalQueue.sink.ping() });
  if (blobStore) readiness.push({ name: "cas", check: () => blobStore.ping() });
  const auth = options.auth ?? defaultAuthPolicy();
  options.log.info(`access: ${describeAuthPolicy(auth)}`);
  const app = masterApp({ master, log: options.log, mounts, guard: new AuthGuard({ policy: auth, clock: options.clock, log: options.log }), metrics: registry, readiness, rebuildExempt: [CAS_API_PREFIX] });
  // Serving before the rebuild: /healthz answers at once, /readyz says how far the rebuild is, writes wait for it.
  server.reload({ fetch: app.fetch });
  try {
    await master.start();
  } catch (err) {
    await server.stop(true);
    throw err;
  }
  let stopping: Promise<void> | undefined;
  return {
    master,
    /** What GET /metrics serves; an embedding process may add its own metrics. */
    registry,
    /** Every route, for tests that go through them all. */
    routes: app.routes.map(({ method, path }) => ({ method, path })),
    url: publicUrl,
    port: server.port,
    /** Stops taking requests, gives in-flight ones up to `graceMs`, then closes everything. Safe to call twice. */
    stop(graceMs = 10_000): Promise<void> {
      stopping ??= (async () => {
        await master.stop();
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([server.stop(false), new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
        clearTimeout(timer);
        await server.stop(true);
        await blobStore?.close();
        await artifacts.close();
        await repo.close();
      })();
      return stopping;
    },
  };
}
