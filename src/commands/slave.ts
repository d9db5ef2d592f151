import { defineCommand } from "citty";
import { mkdirSync } from "node:fs";
import { availableParallelism, hostname } from "node:os";
import { dirname, resolve } from "node:path";
import { authenticatedFetch, withoutCredentials } from "../common/auth/credentials.ts";
import { DtError } from "../common/errors.ts";
import { parseDuration, parseSize } from "../common/units.ts";
import { parseCacheSize } from "../isolate/cache/cache-size.ts";
import { DEFAULT_CACHE_LIMITS } from "../isolate/cache/local-cache.ts";
import { DEFAULT_ARTIFACT_CAP_BYTES } from "../slave/artifacts.ts";
import { DEFAULT_MAX_OUTPUTS_FILES } from "../isolate/outputs/upload-outputs.ts";
import { parseBeanstalkUrl } from "../master/queue/beanstalk-client.ts";
import { BeanstalkLeaseSource } from "../slave/beanstalk-lease-source.ts";
import { checkWritableDir } from "../common/metrics/readiness.ts";
import type { ResultReport, SlaveIdentity } from "../master/protocol.ts";
import { DEFAULT_HEALTH_LIMITS, SlaveHealth, isOwnInfraFailure } from "../slave/health.ts";
import { SlaveMetrics } from "../slave/metrics.ts";
import { openSlaveDir } from "../slave/slave-dir.ts";
import { holdCheck, parseListenAddress, startStatusServer } from "../slave/status-server.ts";
import type { TaskRun } from "../slave/task-runner.ts";
import { DEFAULT_LEASE_WAIT_MS, Slave } from "../slave/lease-loop.ts";
import { MasterClient } from "../slave/master-client.ts";
import { VERSION } from "../version.ts";
import type { ArgvPolicy } from "./argv.ts";
import { commandContext, keyValues, logArgs } from "./context.ts";

/** Seconds from SIGTERM to SIGKILL for a timed-out, canceled or drained task: dist_test's slave gave 5 s. */
const GRACE_PERIOD_SEC = 5;
/** Ten minutes: most tests finish in that time, and a deploy that drains slaves one by one is not held for long. */
const DEFAULT_DRAIN_TIMEOUT = "10m";
/** An idle slave fed by beanstalkd tells the master it is alive this often: well within the master's live window (long-poll + lease TTL). */
const IDLE_HEARTBEAT_MS = 5_000;
/** DEFAULT_MAX_OUTPUTS_BYTES as the flag is written: any test report and a few core dumps, not a runaway test's cache. */
const DEFAULT_MAX_OUTPUTS_SIZE = "1GiB";

/** `--dimensions` given twice (a unit's arguments and its instance's) joins the two lists. */
export const argvPolicy: ArgvPolicy = { listFlags: ["dimensions"] };

export default defineCommand({
  meta: { name: "slave", description: "Lease tasks from a dt master and run them, N at a time; SIGTERM drains (running tasks finish, then dt exits)" },
  args: {
    master: { type: "string", alias: "m", description: "Master URL (or DIST_TEST_MASTER, or [dist_test] master in the config)" },
    slots: { type: "string", description: "Tasks run at once (default: the number of cores)" },
    "cache-dir": { type: "string", description: "Local blob cache shared by all slots (or DT_CACHE_DIR, or [isolate] cache_dir; default ~/.cache/dt/isolate)" },
    dimensions: { type: "string", description: "k=v,... this slave offers (repeatable: the lists are joined); os and cpu are added unless given. Tasks run only where all their dimensions match" },
    name: { type: "string", description: "Name the master knows this slave by (default: the host name)" },
    "drain-timeout": { type: "string", description: `After SIGTERM, how long running tasks may go on before they are killed and requeued`, default: DEFAULT_DRAIN_TIMEOUT },
    "root-dir": { type: "string", description: "Where run directories are made, in slave-<name>/, which a restarted slave empties after killing what its previous life left running (default: beside the cache, so files can be hardlinked)" },
    // run_isolated's --max-cache-size default, which slaves have used for years.
    "max-cache-size": { type: "string", description: "Most bytes the local blob cache keeps; a task whose inputs are bigger (or bigger than the cache's filesystem) fails at once", default: "50GiB" },
    "min-free-disk": { type: "string", description: "Below this free space on the cache's or the run directories' disk the slave quarantines itself until there is room", default: "1GiB" },
    "max-infra-failures": { type: "string", description: `Infrastructure failures in a row (fetch, spawn) after which the slave quarantines itself`, default: String(DEFAULT_HEALTH_LIMITS.maxInfraFailures) },
    "metrics-listen": { type: "string", description: "Serve /metrics, /healthz and /readyz on HOST:PORT (or DT_METRICS_LISTEN; default: not served)" },
    "max-outputs-size": { type: "string", description: "Most bytes of ISOLATED_OUTDIR an attempt uploads to the CAS as its outputs; over it nothing is uploaded and the attempt says so (its result stands)", default: DEFAULT_MAX_OUTPUTS_SIZE },
    "quarantine-cooldown": { type: "string", description: "How long a quarantine for infrastructure failures lasts before the slave tries again; 0: until `dt slaves resume`", default: "10m" },
    ...logArgs,
  },
  async run({ args }) {
    const ctx = commandContext(args);
    const masterUrl = ctx.config.require("master", args.master, "--master");
    const cacheDir = resolve(ctx.config.get("cacheDir", args["cache-dir"])!);
    const slots = args.slots === undefined ? availableParallelism() : Number(args.slots);
    if (!Number.isInteger(slots) || slots < 1) throw new DtError("invalid_input", `--slots: ${JSON.stringify(args.slots)} is not a positive integer`);
    const maxInfraFailures = Number(args["max-infra-failures"]);
    if (!Number.isInteger(maxInfraFailures) || maxInfraFailures < 1) throw new DtError("invalid_input", `--max-infra-failures: ${JSON.stringify(args["max-infra-failures"])} is not a positive integer`);
    // Every flag is read before any work (the previous life's cleanup, the master's answer, which is waited for): a typo fails at once.
    const cacheLimits = { ...DEFAULT_CACHE_LIMITS, maxBytes: parseCacheSize(args["max-cache-size"], "--max-cache-size") };
    const minFreeBytes = parseSize(args["min-free-disk"], "--min-free-disk");
    const maxOutputsBytes = parseSize(args["max-outputs-size"], "--max-outputs-size");
    const infraCooldownMs = parseDuration(args["quarantine-cooldown"], "--quarantine-cooldown");
    const drainTimeoutMs = parseDuration(args["drain-timeout"], "--drain-timeout");
    const given = args.dimensions ? keyValues(args.dimensions.split(",").map((d) => d.trim()).filter(Boolean), "--dimensions") : {};
    const listen = args["metrics-listen"] || ctx.env.DT_METRICS_LISTEN;
    const listenAddress = listen ? parseListenAddress(listen, args["metrics-listen"] ? "--metrics-listen" : "DT_METRICS_LISTEN") : undefined;
    const name = args.name || hostname();
    // This process's claims apart from those of an earlier life under the same name (see ClaimRequest.life).
    const life = crypto.randomUUID();
    const dimensions = { os: process.platform, cpu: process.arch, ...given };
    // One account for the master and the CAS, as dist_test's slaves had. The
    // master's challenges only; the CAS is whichever one the master names.
    const master = new MasterClient(masterUrl, { log: ctx.log, slaveName: name, fetch: authenticatedFetch(ctx.config, [masterUrl]) });
    const rootDir = resolve(args["root-dir"] ?? resolve(dirname(cacheDir), "runs"));
    // Made now, not at the first task: the health check looks at their disks before any work comes.
    for (const dir of [cacheDir, rootDir]) mkdirSync(dir, { recursive: true });
    // Before anything else, even before the master answers: what a killed previous life left running competes with the retry of its work.
    const own = await openSlaveDir({ rootDir, name, log: ctx.log });
    // The master says where work comes from; with beanstalkd the slave reserves there itself.
    const queue = await master.queueInfo();
    if (queue.kind === "beanstalk") ctx.log.info(`reserving work from beanstalkd ${queue.address} (tubes ${queue.tube_prefix}.*)`);
    const health = new SlaveHealth({
      paths: [cacheDir, rootDir],
      limits: {
        minFreeBytes,
        maxInfraFailures,
        infraCooldownMs,
      },
      clock: ctx.clock,
      log: ctx.log,
    });
    const metrics = listenAddress ? new SlaveMetrics({ version: VERSION, cacheDir }) : undefined;
    const status = listenAddress && metrics
      ? startStatusServer({
        ...listenAddress,
        registry: metrics.registry,
        readiness: [holdCheck(() => health.hold()), { name: "cache", check: () => checkWritableDir(cacheDir, "cache") }],
      })
      : undefined;
    if (status) ctx.log.info(`metrics on ${status.url}/metrics`, { metrics_url: `${status.url}/metrics` });
    metrics?.setSlots(slots);
    health.onChange(() => metrics?.setHold(health.hold()?.kind ?? null));
    const slave = new Slave({
      master,
      name,
      dimensions,
      ...(queue.kind === "beanstalk"
        ? {
          source: (identity: () => SlaveIdentity) => new BeanstalkLeaseSource({
            address: parseBeanstalkUrl(queue.address), tubePrefix: queue.tube_prefix, ttrSec: queue.ttr_sec, dimensions, waitMs: DEFAULT_LEASE_WAIT_MS, log: ctx.log,
            claim: (leaseId, signal) => master.claim({ slave: identity(), lease_id: leaseId, life }, signal),
          }),
          idleHeartbeatMs: IDLE_HEARTBEAT_MS,
        }
        : {}),
      version: VERSION,
      slots,
      drainTimeoutMs,
      runner: {
        casFetch: authenticatedFetch(ctx.config),
        cacheDir,
        cacheLimits,
        rootDir: own.dir,
        ledger: own.ledger,
        // Tasks do not see the slave's account: a test printing its environment would publish it in its log.
        baseEnv: withoutCredentials(ctx.env),
        gracePeriodSec: GRACE_PERIOD_SEC,
        artifactCapBytes: DEFAULT_ARTIFACT_CAP_BYTES,
        outputs: { limits: { maxBytes: maxOutputsBytes, maxFiles: DEFAULT_MAX_OUTPUTS_FILES }, capName: `--max-outputs-size ${args["max-outputs-size"]}` },
      },
      health,
      ...(metrics && status
        ? {
          metricsUrl: `${status.url}/metrics`,
          onRunningChanged: (n: number) => metrics.setRunning(n),
          onAttemptEnded: (report: ResultReport, run: TaskRun) => {
            metrics.attemptEnded({ state: report.state, times: report.times, cache: report.cache, leasedAt: run.leasedAt, reportedAt: ctx.clock.now() });
            if (isOwnInfraFailure(report.state, run.abortReason)) metrics.infraFailure();
          },
        }
        : {}),
      log: ctx.log,
      clock: ctx.clock,
    });

    // First SIGTERM/SIGINT: drain. Second: kill the running tasks now (they are reported and requeued), then exit.
    const onSignal = (signal: string) => {
      if (!slave.draining) {
        ctx.log.info(`${signal}: draining`);
        slave.drain();
      } else {
        ctx.log.warn(`${signal} again: killing the running tasks`);
        slave.killAll();
      }
    };
    const onTerm = () => onSignal("SIGTERM");
    const onInt = () => onSignal("SIGINT");
    process.on("SIGTERM", onTerm);
    process.on("SIGINT", onInt);
    try {
      await slave.run();
    } finally {
      process.off("SIGTERM", onTerm);
      process.off("SIGINT", onInt);
      await status?.stop();
    }
  },
});
