import { defineCommand } from "citty";
import { resolve } from "node:path";
import { describeAuthPolicy, loadAuthPolicy } from "../common/auth/policy.ts";
import { DtError } from "../common/errors.ts";
import { parseDuration, parseSize } from "../common/units.ts";
import { s3EndpointOf } from "../common/s3-location.ts";
import { IsolateServer } from "../isolate/cas/isolate-server.ts";
import { openBlobStore } from "../isolate/cas/open-blob-store.ts";
import { ReloadablePolicy, reloadAuthPolicyOnHangup } from "../service/policy-reload.ts";
import { commandContext, defaultDataDir, logArgs } from "./context.ts";
import { s3EndpointArg } from "./s3-args.ts";

/** How long in-flight requests may take to finish after SIGTERM; systemd's default stop timeout is 90 s. */
const STOP_GRACE_MS = 10_000;

export default defineCommand({
  meta: { name: "isolate-server", description: "Serve the content-addressed store (CAS) that archive uploads to and run-isolated fetches from; SIGHUP re-reads the access policy" },
  args: {
    port: { type: "string", description: "TCP port; 0 picks a free one", default: "4242" },
    host: { type: "string", description: "Address to listen on", default: "0.0.0.0" },
    "data-dir": { type: "string", description: "Where blobs are kept (default $XDG_DATA_HOME/dt/cas)" },
    store: { type: "string", description: "s3://BUCKET/PREFIX: keep blobs in S3 instead of --data-dir (evicted by a bucket lifecycle rule, not --max-size)" },
    ...s3EndpointArg,
    "max-size": { type: "string", description: "Evict least recently used blobs beyond this size, e.g. 500GB (default: no limit)" },
    "min-age": {
      type: "string",
      // An hour covers the longest gap between an archive's presence check and the job that reads it.
      description: "Never evict a blob used more recently than this, e.g. 30m",
      default: "1h",
    },
    ...logArgs,
  },
  async run({ args }) {
    const ctx = commandContext(args);
    const port = Number(args.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new DtError("invalid_input", `--port: ${JSON.stringify(args.port)} is not a port number (0-65535)`);
    }
    const dataDir = resolve(args["data-dir"] ?? defaultDataDir(ctx.env, "cas"));
    if (args.store !== undefined && args["max-size"] !== undefined) {
      throw new DtError("invalid_input", "--max-size does not apply to an s3:// --store: S3 blobs are evicted by a bucket lifecycle rule on <prefix>/blobs/ (see docs/deployment.md#s3)");
    }
    // Read even without --max-size, which it qualifies: a typo is reported, not kept for the day it matters.
    const minAgeMs = parseDuration(args["min-age"], "--min-age");
    const trim = args["max-size"] === undefined ? undefined : { maxBytes: parseSize(args["max-size"], "--max-size"), minAgeMs };
    // Read before anything opens, so a bad config fails the start, not the first upload.
    const auth = new ReloadablePolicy(loadAuthPolicy(ctx.config));
    // SIGHUP (systemctl reload) re-reads the config's access policy; connections and the store stay.
    const stopReloading = reloadAuthPolicyOnHangup({ env: ctx.env, log: ctx.log, apply: (policy) => auth.set(policy), current: () => auth });
    try {
      const store = await openBlobStore({ store: args.store, flag: "--store", dir: dataDir, s3Endpoint: s3EndpointOf(args["s3-endpoint"], ctx.env), clock: ctx.clock });
      const server = new IsolateServer({ store, log: ctx.log, clock: ctx.clock, trim, auth });
      ctx.log.info(`access: ${describeAuthPolicy(auth)}`);
      let listener: ReturnType<typeof server.listen>;
      try {
        listener = server.listen(port, args.host);
      } catch (err) {
        await server.close();
        throw new DtError("invalid_input", `cannot listen on ${args.host}:${port} (--host, --port): ${(err as Error).message}; choose another address or port`, { cause: err });
      }
      // An S3 store is counted by listing it, which costs a request per 1,000 blobs: not at start-up.
      const where = args.store ?? (await store.stats().then((s) => `${s.blobs} blobs, ${s.bytes} bytes in ${dataDir}`));
      ctx.log.info(`isolate server listening on http://${args.host}:${listener.port} (${where})`, { port: listener.port, store: args.store ?? dataDir });
      server.requestTrim();
      await new Promise<void>((resolveStop) => {
        const stop = (signal: string) => {
          ctx.log.info(`${signal}: stopping`);
          resolveStop();
        };
        process.once("SIGTERM", () => stop("SIGTERM"));
        process.once("SIGINT", () => stop("SIGINT"));
      });
      // In-flight requests get a bounded time to finish; a client trickling an upload cannot hold the stop.
      let forceTimer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([listener.stop(), new Promise<void>((r) => (forceTimer = setTimeout(r, STOP_GRACE_MS)))]);
      clearTimeout(forceTimer);
      await listener.stop(true);
      await server.close();
    } finally {
      stopReloading();
    }
  },
});
