import { defineCommand } from "citty";
import { resolve } from "node:path";
import { loadAuthPolicy } from "../common/auth/policy.ts";
import { DtError } from "../common/errors.ts";
import { parseDuration } from "../common/units.ts";
import { autoQuarantineConfig } from "../master/quarantine/auto.ts";
import { startMasterServer } from "../master/server.ts";
import { ReloadablePolicy, reloadAuthPolicyOnHangup } from "../service/policy-reload.ts";
import { commandContext, defaultDataDir, logArgs } from "./context.ts";
import { masterStoreOptions, s3EndpointArg } from "./s3-args.ts";

/** How long in-flight requests may take after SIGTERM before the server closes them. */
const STOP_GRACE_MS = 10_000;

export const masterArgs = {
  port: { type: "string", description: "TCP port (dist_test's 8081); 0 picks a free one", default: "8081" },
  host: { type: "string", description: "Address to listen on", default: "0.0.0.0" },
  db: { type: "string", description: "Database: sqlite (dt.sqlite in --data-dir), sqlite:PATH, or mysql://user:password@host:port/db (also ?socket=PATH)", default: "sqlite" },
  "data-dir": { type: "string", description: "Database, CAS blobs, logs and artifacts (default $XDG_DATA_HOME/dt/master)" },
  "public-url": { type: "string", description: "URL slaves and clients reach this master at (default http://<hostname>:<port>)" },
  "isolate-server": { type: "string", description: "A separate CAS for slaves to fetch from (default: the one this master serves)" },
  queue: { type: "string", description: "beanstalk://host:port: slaves reserve tasks from beanstalkd, as with dist_test (default: the in-process queue; slaves long-poll the master)" },
  "queue-tube-prefix": { type: "string", description: "Prefix of this master's beanstalkd tubes, so masters can share one server", default: "dt" },
  "queue-feed-ahead": { type: "string", description: "Ready tasks kept in each beanstalkd tube; the rest wait in the master's fair-share order", default: "16" },
  // 30 s: three missed heartbeats at the default interval before a slave is given up on.
  "lease-ttl": { type: "string", description: "A slave silent this long loses its tasks (SLAVE_LOST, requeued)", default: "30s" },
  "heartbeat-interval": { type: "string", description: "How often slaves heartbeat each task", default: "5s" },
  // Ten minutes: long enough for an autoscaler to bring up a slave with the right dimensions.
  "no-resource-timeout": { type: "string", description: "A task no live slave can run for this long ends NO_RESOURCE", default: "10m" },
  artifacts: { type: "string", description: "s3://BUCKET/PREFIX: keep logs and artifacts in S3, linked by presigned URLs (default: <data-dir>/artifacts)" },
  "cas-store": { type: "string", description: "s3://BUCKET/PREFIX: keep the CAS this master serves in S3 (default: <data-dir>/cas)" },
  "auto-quarantine": { type: "string", description: "Quarantine a case by itself when its flake rate over the last 7 days (at least --auto-quarantine-min-runs runs) reaches RATE (0-1, e.g. 0.2); off by default" },
  // A week: the next week's builds tell whether the case was fixed, and the entry ends by itself.
  "auto-quarantine-days": { type: "string", description: "How long an automatic quarantine lasts, in days", default: "7" },
  // Five: one flaky run of two is 50% by chance; five runs make a rate worth acting on.
  "auto-quarantine-min-runs": { type: "string", description: "Task runs of a case in the window before its flake rate counts", default: "5" },
  // A week: as long as a CI system re-runs a branch's pipeline; older results stay stored, and are only no longer reused.
  "reuse-max-age": { type: "string", description: "Oldest result an idempotent task may reuse (docs/reuse.md), e.g. 7d or 12h; 0 turns reuse off", default: "7d" },
  ...s3EndpointArg,
  ...logArgs,
} as const;

export default defineCommand({
  meta: { name: "master", description: "Run the master: job API (dt's and dist_test's), scheduler, HTML view, artifact store and CAS on one port; SIGHUP re-reads the access policy" },
  args: masterArgs,
  async run({ args }) {
    const ctx = commandContext(args);
    const port = Number(args.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new DtError("invalid_input", `--port: ${JSON.stringify(args.port)} is not a port number (0-65535)`);
    const leaseTtlMs = parseDuration(args["lease-ttl"], "--lease-ttl");
    const heartbeatIntervalMs = parseDuration(args["heartbeat-interval"], "--heartbeat-interval");
    if (heartbeatIntervalMs * 2 > leaseTtlMs) throw new DtError("invalid_input", `--heartbeat-interval (${args["heartbeat-interval"]}) must be at most half of --lease-ttl (${args["lease-ttl"]}), or one late heartbeat loses a task`);
    for (const flag of ["public-url", "isolate-server"] as const) if (args[flag] !== undefined) httpUrl(args[flag], `--${flag}`);
    const noResourceTimeoutMs = parseDuration(args["no-resource-timeout"], "--no-resource-timeout");
    const autoQuarantine = autoQuarantineConfig(args["auto-quarantine"], args["auto-quarantine-days"], args["auto-quarantine-min-runs"]);
    const reuseMaxAgeMs = parseDuration(args["reuse-max-age"], "--reuse-max-age");
    const auth = new ReloadablePolicy(loadAuthPolicy(ctx.config));
    // SIGHUP (systemctl reload) re-reads the config's access policy; connections and everything else stay.
    const stopReloading = reloadAuthPolicyOnHangup({ env: ctx.env, log: ctx.log, apply: (policy) => auth.set(policy), current: () => auth });
    try {
      const server = await startMasterServer({
        port,
        host: args.host,
        db: args.db,
        dataDir: resolve(args["data-dir"] ?? defaultDataDir(ctx.env, "master")),
        publicUrl: args["public-url"],
        isolateServer: args["isolate-server"],
        queue: args.queue,
        queueTubePrefix: args["queue-tube-prefix"],
        queueFeedAhead: Number(args["queue-feed-ahead"]),
        dispatch: {
          leaseTtlMs,
          heartbeatIntervalMs,
          noResourceTimeoutMs,
          maxWaitMs: 30_000,
          maxInfraRequeues: 3,
          autoQuarantine,
          reuseMaxAgeMs,
        },
        ...masterStoreOptions(args, ctx.env),
        auth,
        clock: ctx.clock,
        log: ctx.log,
      });
      ctx.log.info(`master listening on ${server.url} (port ${server.port})`, { url: server.url, port: server.port });
      if (autoQuarantine) ctx.log.info(`auto-quarantine on: cases flaky in ${autoQuarantine.rate * 100}% or more of at least ${autoQuarantine.minRuns} runs in 7 days are quarantined for ${args["auto-quarantine-days"]} days`);
      await new Promise<void>((resolveStop) => {
        process.once("SIGTERM", () => resolveStop());
        process.once("SIGINT", () => resolveStop());
      });
      ctx.log.info("stopping");
      await server.stop(STOP_GRACE_MS);
    } finally {
      stopReloading();
    }
  },
});

/** A URL slaves and clients are given: http or https, with a host. */
function httpUrl(value: string, flag: string): void {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:") || url.hostname === "") {
    throw new DtError("invalid_input", `${flag} ${JSON.stringify(value)}: write an http(s) URL, e.g. http://dt-master.example:8081`);
  }
}
