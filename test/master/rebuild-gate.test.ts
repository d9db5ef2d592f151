/**
 * What a restarted master does while it rebuilds, seen from the outside:
 * leases it adopted are not lost for heartbeats it could not hear, dist_test's
 * writes by GET wait as POSTs do, and a rebuild that fails leaves it not
 * ready rather than half-built.
 */
import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { ManualClock, systemClock } from "../../src/common/clock.ts";
import { createLogger } from "../../src/common/log.ts";
import { FsArtifactStore } from "../../src/master/artifacts/fs-artifact-store.ts";
import { LiveLogs } from "../../src/master/artifacts/live-logs.ts";
import { masterApp } from "../../src/master/http/app.ts";
import { distTestRoutes } from "../../src/master/http/dist-test-api.ts";
import { Master } from "../../src/master/master.ts";
import type { Repo } from "../../src/master/repo/repo.ts";
import { SqliteRepo } from "../../src/master/repo/sqlite.ts";
import type { Clock } from "../../src/common/clock.ts";
import { TempDirs } from "../helpers/temp.ts";
import { makeAttempt, makeJobWithTasks } from "./repo.conformance.ts";
import { slave } from "./helpers.ts";

const temps = new TempDirs();
const stops: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
  await temps.cleanup();
});

const TTL = 30_000;
const DISPATCH = { leaseTtlMs: TTL, heartbeatIntervalMs: 5_000, noResourceTimeoutMs: 600_000, maxWaitMs: 1_000, maxInfraRequeues: 3, isolateServer: "http://dt.test" };

/** A repo whose `method` waits for `release()` the first time it is called for `arg0` (or any first argument when none). */
function holdOnce(repo: Repo, method: keyof Repo, arg0?: string) {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let reached!: () => void;
  const held = new Promise<void>((resolve) => (reached = resolve));
  let done = false;
  const proxy = new Proxy(repo, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== "function") return value;
      if (prop !== method) return value.bind(target);
      return async (...args: unknown[]) => {
        if (!done && (arg0 === undefined || args[0] === arg0)) {
          done = true;
          reached();
          await gate;
        }
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { repo: proxy, release, held };
}

function newMaster(dir: string, repo: Repo, clock: Clock): Master {
  return new Master({
    repo, artifacts: new FsArtifactStore(join(dir, "artifacts")), liveLogs: new LiveLogs(join(dir, "live")),
    clock, log: createLogger({ level: "silent" }), newId: () => crypto.randomUUID(), publicUrl: "http://dt.test", dispatch: DISPATCH,
  });
}

test("a lease adopted by a rebuild longer than the TTL is not lost at the first sweep: its TTL counts from the end of the rebuild, when heartbeats are heard again", async () => {
  const dir = await temps.make("dt-rebuild-ttl-");
  const path = join(dir, "dt.sqlite");
  const clock = new ManualClock();
  const seed = await SqliteRepo.open(path);
  // The first job's lease is adopted at once; the second job's rebuild is held while the clock passes two TTLs.
  const running = makeJobWithTasks("a-running", 1);
  running.attempts[0] = makeAttempt(running.tasks[0]!, { state: "RUNNING", slave: "s1", leaseId: "lease-a", leasedAt: clock.now() - 1_000, leaseExpiresAt: clock.now() + 1_000 });
  const other = makeJobWithTasks("b-queued", 1);
  await seed.createJob(running.job, running.tasks, running.attempts);
  await seed.createJob(other.job, other.tasks, other.attempts);
  await seed.close();

  const base = await SqliteRepo.open(path);
  const slow = holdOnce(base, "getJob", "b-queued");
  const master = newMaster(dir, slow.repo, clock);
  stops.push(async () => {
    slow.release();
    master.dispatcher.close();
    await base.close();
  });
  const rebuilt = master.dispatcher.rebuild();
  await slow.held;
  expect(master.dispatcher.activeLeases).toBe(1);
  // Slaves' heartbeats meanwhile wait for the rebuild and are answered 503: the master hears none of them.
  clock.advance(2 * TTL);
  slow.release();
  await rebuilt;

  await master.dispatcher.sweep();
  expect((await base.getAttempt("a-running", running.tasks[0]!.taskId, 0))?.state).toBe("RUNNING");
  // The slave's first heartbeat after the rebuild finds its lease.
  clock.advance(TTL - 1);
  expect(await master.dispatcher.heartbeat({ slave: slave("s1"), leases: [{ lease_id: "lease-a", phase: "RUNNING" }] })).toMatchObject({ unknown: [], cancel: [] });
  // Not immortal: silent for a TTL after that, it is lost.
  clock.advance(TTL + 1);
  await master.dispatcher.sweep();
  expect((await base.getAttempt("a-running", running.tasks[0]!.taskId, 0))?.state).toBe("SLAVE_LOST");
});

test("dist_test's writes sent as GET (/cancel_job, /retry_task, /submit_job) wait for the rebuild like POSTs, then get 503 with Retry-After; its reads do not", async () => {
  const dir = await temps.make("dt-rebuild-get-");
  const path = join(dir, "dt.sqlite");
  const seed = await SqliteRepo.open(path);
  const job = makeJobWithTasks("alice.1700000000.1", 2);
  await seed.createJob(job.job, job.tasks, job.attempts);
  await seed.close();

  const base = await SqliteRepo.open(path);
  const slow = holdOnce(base, "openAttempts");
  const master = newMaster(dir, slow.repo, systemClock);
  const app = masterApp({ master, log: createLogger({ level: "silent" }), mounts: [{ prefix: "/", app: distTestRoutes(master) }], rebuildWaitMs: 50 });
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch });
  const url = `http://127.0.0.1:${server.port}`;
  stops.push(async () => {
    slow.release();
    await server.stop(true);
    await master.stop();
    await base.close();
  });
  const started = master.start();
  await slow.held;

  const jobId = encodeURIComponent(job.job.id);
  const taskJson = encodeURIComponent(JSON.stringify({ job_id: job.job.id, task_id: job.tasks[0]!.taskId }));
  const jobJson = encodeURIComponent(JSON.stringify({ tasks: [{ isolate_hash: "b".repeat(40), description: "x" }] }));
  for (const call of [`/cancel_job?job_id=${jobId}`, `/retry_task?task_json=${taskJson}`, `/submit_job?job_id=bob.1700000000.2&job_json=${jobJson}`]) {
    const answer = await fetch(`${url}${call}`);
    expect({ call, status: answer.status }).toEqual({ call, status: 503 });
    expect(answer.headers.get("retry-after")).toBe("2");
  }
  // Nothing was written: the job is not canceled, and no job was stored.
  expect((await base.getJob(job.job.id))?.canceledAt).toBeNull();
  expect(await base.getJob("bob.1700000000.2")).toBeNull();
  // A read by GET is served meanwhile.
  const status = await fetch(`${url}/job_status?job_id=${jobId}`);
  expect(status.status).toBe(200);

  slow.release();
  await started;
  expect((await fetch(`${url}/cancel_job?job_id=${jobId}`)).status).toBe(200);
  expect((await base.getAttempts(job.job.id)).map((a) => a.state)).toEqual(["CANCELED", "CANCELED"]);
});

test("a rebuild that fails leaves the master not ready: waiting writes are answered at once, and /readyz names the failure", async () => {
  const dir = await temps.make("dt-rebuild-fail-");
  const base = await SqliteRepo.open(join(dir, "dt.sqlite"));
  const slow = holdOnce(base, "openAttempts");
  const failing = new Proxy(slow.repo, {
    get(target, prop, receiver) {
      if (prop === "openAttempts") return async () => {
        await (Reflect.get(target, prop, receiver) as () => Promise<unknown>)();
        throw new Error("disk I/O error");
      };
      return Reflect.get(target, prop, receiver);
    },
  });
  const master = newMaster(dir, failing, systemClock);
  stops.push(async () => {
    slow.release();
    await master.stop();
    await base.close();
  });
  const app = masterApp({ master, log: createLogger({ level: "silent" }), rebuildWaitMs: 60_000 });
  const started = master.start().then(() => "started", (err: Error) => err.message);
  await slow.held;
  const lease = app.request("/api/v1/slave/lease", { method: "POST", body: JSON.stringify({ slave: slave(), free: 1, wait_ms: 0 }) });
  const waited = performance.now();
  slow.release();
  expect(await started).toBe("disk I/O error");
  const answer = await lease;
  // Answered when the rebuild failed, not after the 60 s wait.
  expect(performance.now() - waited).toBeLessThan(10_000);
  expect(answer.status).toBe(503);
  expect(master.ready).toBe(false);
  const readyz = await app.request("/readyz");
  expect(readyz.status).toBe(503);
  expect(((await readyz.json()) as { error: string }).error).toContain("rebuilding the queue from the database failed: disk I/O error");
  // A write arriving after the failure is not let in either.
  expect((await app.request("/api/v1/slave/lease", { method: "POST", body: JSON.stringify({ slave: slave(), free: 1, wait_ms: 0 }) })).status).toBe(503);
});
