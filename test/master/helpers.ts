import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AuthPolicy } from "../../src/common/auth/policy.ts";
import { ManualClock, systemClock } from "../../src/common/clock.ts";
import { createLogger } from "../../src/common/log.ts";
import { CasClient } from "../../src/isolate/cas/client.ts";
import { digestOfBytes } from "../../src/isolate/digest.ts";
import { FsArtifactStore } from "../../src/master/artifacts/fs-artifact-store.ts";
import { LiveLogs } from "../../src/master/artifacts/live-logs.ts";
import { type MasterAppOptions, masterApp } from "../../src/master/http/app.ts";
import { Master, type MasterDeps } from "../../src/master/master.ts";
import type { Lease, ResultReport, SlaveIdentity } from "../../src/master/protocol.ts";
import { SqliteRepo } from "../../src/master/repo/sqlite.ts";
import { startMasterServer } from "../../src/master/server.ts";

export const HASH = "a".repeat(64);
export const slave = (name = "s1", dimensions: Record<string, string> = {}, slots = 4): SlaveIdentity => ({ name, dimensions, slots, version: "test" });

/**
 * A Master on a SQLite file in a temp dir, on a manual clock; `restart`
 * reopens it on the same files. `externalQueue` makes a fresh beanstalkd
 * connection for each (re)start, as a real restart would.
 */
export async function testMaster(dbPath?: string, externalQueue?: () => Promise<MasterDeps["externalQueue"]>) {
  const dir = mkdtempSync(join(tmpdir(), "dt-master-"));
  const clock = new ManualClock();
  let ids = 0;
  const open = async (path: string) => {
    const master = new Master({
      repo: await SqliteRepo.open(path),
      artifacts: new FsArtifactStore(join(dir, "artifacts")),
      liveLogs: new LiveLogs(join(dir, "live")),
      clock,
      log: createLogger({ level: "silent" }),
      newId: () => `lease-${++ids}`,
      publicUrl: "http://dt.test",
      dispatch: { leaseTtlMs: 30_000, heartbeatIntervalMs: 5_000, noResourceTimeoutMs: 600_000, isolateServer: "http://dt.test", maxWaitMs: 30_000, maxInfraRequeues: 3 },
      externalQueue: await externalQueue?.(),
    });
    await master.dispatcher.rebuild();
    return master;
  };
  const path = dbPath ?? join(dir, "dt.sqlite");
  const handle = {
    dir,
    clock,
    master: await open(path),
    async restart() {
      handle.master.dispatcher.close();
      await handle.master.deps.repo.close();
      handle.master = await open(path);
      return handle.master;
    },
    async cleanup() {
      handle.master.dispatcher.close();
      await handle.master.deps.repo.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return handle;
}

/**
 * A testMaster behind the master's HTTP routes (masterApp, with `mounts`) on
 * 127.0.0.1 and a free port, without auth; `stop` ends both.
 */
export async function serveTestMasterApp(mounts?: (master: Master) => MasterAppOptions["mounts"]) {
  const h = await testMaster();
  const app = masterApp({ master: h.master, log: createLogger({ level: "silent" }), mounts: mounts?.(h.master) });
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch });
  return {
    h,
    url: `http://127.0.0.1:${server.port}`,
    async stop() {
      await server.stop(true);
      await h.cleanup();
    },
  };
}

/** A report for a lease, with command times one second apart. */
export function report(lease: Lease, state: ResultReport["state"], at: number, exitCode: number | null = state === "SUCCEEDED" ? 0 : 1): ResultReport {
  return {
    lease_id: lease.lease_id, job_id: lease.job_id, task_id: lease.task_id, attempt: lease.attempt, state, exit_code: exitCode, message: null,
    times: { fetch_done_at: at, map_done_at: at, command_start_at: at, command_end_at: at + 1000, upload_done_at: at + 1000 },
    cache: null, stdout_key: null, stderr_key: null, artifact_key: null, artifact_missing: false,
  };
}

/**
 * A whole master server as `dt master` runs it, on 127.0.0.1 and a free
 * port, quiet, on SQLite in `dataDir`; `auth` is its access policy (default:
 * writes from loopback). The caller stops it.
 */
export function serveTestMaster(dataDir: string, auth?: AuthPolicy) {
  return startMasterServer({
    port: 0,
    host: "127.0.0.1",
    db: "sqlite",
    dataDir,
    // A short long-poll, so a lease request with nothing to lease answers at once.
    dispatch: { leaseTtlMs: 30_000, heartbeatIntervalMs: 5_000, noResourceTimeoutMs: 60_000, maxWaitMs: 1_000, maxInfraRequeues: 3 },
    auth,
    clock: systemClock,
    log: createLogger({ level: "silent" }),
  });
}

/**
 * Uploads a small valid manifest (command `./t`, one file named after
 * `seed`, so that seeds give distinct digests) to the CAS at `url`, as dt
 * archive would; returns its digest. A master that serves the CAS refuses a
 * job naming a manifest it does not have.
 */
export async function putManifest(url: string, seed = ""): Promise<string> {
  const bytes = new TextEncoder().encode(JSON.stringify({ algo: "sha-256", command: ["./t"], files: { [`t${seed}`]: { h: "b".repeat(64), s: 1, m: 0o755 } }, version: "1.4" }));
  const digest = digestOfBytes(bytes);
  await new CasClient(url).putBlob(digest, bytes);
  return digest.hash;
}
