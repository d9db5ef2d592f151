/**
 * A big job must not stall the master: its cancel goes in batches with
 * other requests answered between them, and a restarted master serves
 * /healthz and /readyz while it rebuilds, finishing a cancel it was killed
 * in. Small jobs with small batches stand in for 100,000 tasks (see
 * bench/big-cancel.ts for those).
 */
import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { type Clock, ManualClock, systemClock } from "../../src/common/clock.ts";
import { createLogger } from "../../src/common/log.ts";
import { encodeIsolated } from "../../src/isolate/manifest.ts";
import { FsArtifactStore } from "../../src/master/artifacts/fs-artifact-store.ts";
import { LiveLogs } from "../../src/master/artifacts/live-logs.ts";
import { masterApp } from "../../src/master/http/app.ts";
import { Master } from "../../src/master/master.ts";
import type { JobCreated, JobSummary } from "../../src/master/protocol.ts";
import type { Repo } from "../../src/master/repo/repo.ts";
import { SqliteRepo } from "../../src/master/repo/sqlite.ts";
import { startMasterServer } from "../../src/master/server.ts";
import { TempDirs } from "../helpers/temp.ts";
import { makeJobWithTasks } from "./repo.conformance.ts";
import { slave } from "./helpers.ts";

const temps = new TempDirs();
const stops: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
  await temps.cleanup();
});

const DISPATCH = { leaseTtlMs: 30_000, heartbeatIntervalMs: 5_000, noResourceTimeoutMs: 600_000, maxWaitMs: 1_000, maxInfraRequeues: 3 };
/** Far above a batch of 50 rows even on a loaded machine; far below the whole cancel's time on one blocked event loop. */
const HEALTHZ_BOUND_MS = 1_000;

/** `repo` with `method` replaced by `wrap(original)`, every other member as it is: how a test holds or counts one kind of call. */
function withMethod<R extends object, K extends keyof R>(repo: R, method: K, wrap: (original: R[K]) => R[K]): R {
  return new Proxy(repo, {
    get(target, prop, receiver) {
      if (prop === method) return wrap((target[method] as (...args: unknown[]) => unknown).bind(target) as R[K]);
      const value = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** A Master on `repo`, its artifacts and live logs in `dir`. */
function masterOn(repo: Repo, dir: string, options: { clock?: Clock; bulkBatchRows?: number } = {}): Master {
  return new Master({
    repo, artifacts: new FsArtifactStore(join(dir, "artifacts")), liveLogs: new LiveLogs(join(dir, "live")),
    clock: options.clock ?? systemClock, log: createLogger({ level: "silent" }), newId: () => crypto.randomUUID(), publicUrl: "http://dt.test",
    dispatch: { ...DISPATCH, isolateServer: "http://dt.test", ...(options.bulkBatchRows === undefined ? {} : { bulkBatchRows: options.bulkBatchRows }) },
  });
}

test("/healthz answers while a 5,000-task cancel is being written, and the cancel is complete after", async () => {
  const server = await startMasterServer({
    port: 0, host: "127.0.0.1", db: "sqlite", dataDir: await temps.make("dt-big-cancel-"),
    // 100 batches: the cancel takes many turns of the event loop, each short.
    dispatch: { ...DISPATCH, bulkBatchRows: 50 },
    clock: systemClock, log: createLogger({ level: "silent" }),
  });
  stops.push(() => server.stop(100));
  const { bytes, digest } = encodeIsolated({ algo: "sha-256", version: "1.4", command: ["true"], files: {} });
  expect((await fetch(`${server.url}/api/cas/v1/blobs/${digest.hash}?size=${bytes.byteLength}`, { method: "PUT", body: bytes })).ok).toBe(true);
  const tasks = Array.from({ length: 5_000 }, (_, i) => ({ isolate_hash: digest.hash, description: `t${i}` }));
  const created = (await (await fetch(`${server.url}/api/v1/jobs`, { method: "POST", body: JSON.stringify({ tasks }) })).json()) as JobCreated;
  expect(created.tasks).toBe(5_000);

  let canceled = false;
  const cancel = fetch(`${server.url}/api/v1/jobs/${created.job_id}/cancel`, { method: "POST" }).then(async (r) => {
    canceled = true;
    return (await r.json()) as JobSummary;
  });
  const during: number[] = [];
  while (!canceled) {
    const started = performance.now();
    const answer = await fetch(`${server.url}/healthz`);
    expect(answer.status).toBe(200);
    // Only answers that came while the cancel was still being written count.
    if (!canceled) during.push(performance.now() - started);
  }
  const summary = await cancel;
  // One event loop held by the whole cancel would answer none of them before the cancel's own answer.
  expect(during.length).toBeGreaterThanOrEqual(3);
  expect(Math.max(...during)).toBeLessThan(HEALTHZ_BOUND_MS);
  expect(summary.counts).toMatchObject({ total_tasks: 5_000, canceled: 5_000, finished: 5_000, queued: 0 });
  expect(summary.status).toBe("finished");
  const attempts = await server.master.deps.repo.getAttempts(created.job_id);
  expect(attempts.length).toBe(5_000);
  expect(attempts.every((a) => a.state === "CANCELED")).toBe(true);
});

test("a restarted master serves /healthz and reads at once, /readyz says 503 while it rebuilds and 200 after, and writes wait; a cancel it was killed in is finished", async () => {
  const dir = await temps.make("dt-rebuild-");
  const path = join(dir, "dt.sqlite");
  // What a master killed mid-cancel leaves: the job marked canceled, its attempts still QUEUED. Beside it, a job that runs on.
  const seed = await SqliteRepo.open(path);
  const killed = makeJobWithTasks("killed-mid-cancel", 300, { canceledAt: Date.now() });
  const live = makeJobWithTasks("live", 3);
  await seed.createJob(killed.job, killed.tasks, killed.attempts);
  await seed.createJob(live.job, live.tasks, live.attempts);
  await seed.close();

  // The rebuild's cancel waits until the test lets it go, so the test sees the master mid-rebuild for certain.
  const repo = await SqliteRepo.open(path);
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let batches = 0;
  const slowRepo = withMethod<Repo, "cancelQueuedAttempts">(repo, "cancelQueuedAttempts", (cancelQueued) => async (...args) => {
    batches++;
    await gate;
    return cancelQueued(...args);
  });
  const master = masterOn(slowRepo, dir, { bulkBatchRows: 100 });
  const app = masterApp({ master, log: createLogger({ level: "silent" }), readiness: [{ name: "database", check: () => repo.ping() }], rebuildWaitMs: 50 });
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch });
  const url = `http://127.0.0.1:${server.port}`;
  stops.push(async () => {
    release();
    await server.stop(true);
    await master.stop();
    await repo.close();
  });
  const started = master.start();
  expect(master.ready).toBe(false);

  expect((await fetch(`${url}/healthz`)).status).toBe(200);
  const notReady = await fetch(`${url}/readyz`);
  expect(notReady.status).toBe(503);
  const body = (await notReady.json()) as { error: string; checks: Record<string, { ok: boolean }> };
  expect(body.error).toMatch(/^not ready: rebuild: rebuilding the queue from the database: [01] of 2 jobs$/);
  expect(body.checks.database?.ok).toBe(true);
  // Reads come from the database: served now.
  expect(((await (await fetch(`${url}/api/v1/jobs/live`)).json()) as JobSummary).counts.queued).toBe(3);
  // A write waits for the rebuild, then is told to come back.
  const lease = await fetch(`${url}/api/v1/slave/lease`, { method: "POST", body: JSON.stringify({ slave: slave(), free: 1, wait_ms: 0 }) });
  expect(lease.status).toBe(503);
  expect(lease.headers.get("retry-after")).toBe("2");
  expect(((await lease.json()) as { error: string }).error).toContain("rebuilding the queue from the database");
  expect(batches).toBe(1);

  release();
  await started;
  expect(master.ready).toBe(true);
  const ready = await fetch(`${url}/readyz`);
  expect(ready.status).toBe(200);
  expect(await ready.json()).toMatchObject({ ok: true, checks: { rebuild: { ok: true }, database: { ok: true } } });
  // 300 rows in batches of 100: three full batches and the empty one that ends the loop.
  expect(batches).toBe(4);
  const attempts = await repo.getAttempts("killed-mid-cancel");
  expect(attempts.map((a) => a.state)).toEqual(Array(300).fill("CANCELED"));
  const leased = await fetch(`${url}/api/v1/slave/lease`, { method: "POST", body: JSON.stringify({ slave: slave(), free: 3, wait_ms: 0 }) });
  expect(leased.status).toBe(200);
  expect(((await leased.json()) as { leases: { job_id: string }[] }).leases.map((l) => l.job_id)).toEqual(["live", "live", "live"]);
});

test("between a cancel's batches, a result is stored once, no new lease is granted, and a held lease is told to stop: every task ends in exactly one final state", async () => {
  const dir = await temps.make("dt-cancel-race-");
  const repo = await SqliteRepo.open(join(dir, "dt.sqlite"));
  let calls = 0;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let reached!: () => void;
  const midCancel = new Promise<void>((resolve) => (reached = resolve));
  const heldRepo = withMethod<Repo, "cancelQueuedAttempts">(repo, "cancelQueuedAttempts", (cancelQueued) => async (...args) => {
    // The second batch waits: the first is written, the rest still QUEUED.
    if (++calls === 2) {
      reached();
      await gate;
    }
    return cancelQueued(...args);
  });
  const master = masterOn(heldRepo, dir, { bulkBatchRows: 10 });
  stops.push(async () => {
    release();
    await master.stop();
    await repo.close();
  });
  await master.start();
  const created = await master.submitJob({ job_id: "race", tasks: Array.from({ length: 50 }, (_, i) => ({ isolate_hash: "c".repeat(64), description: `t${i}`, max_retries: 2 })) });
  const [passing, failing, running] = await master.dispatcher.lease({ slave: slave("s1"), free: 3, wait_ms: 0 });
  expect(running).toBeDefined();

  const cancel = master.cancelJob(created.job_id);
  await midCancel;
  const now = Date.now();
  const times = { fetch_done_at: now, map_done_at: now, command_start_at: now, command_end_at: now, upload_done_at: now };
  const result = (lease: typeof passing, state: "SUCCEEDED" | "FAILED" | "CANCELED") => ({
    lease_id: lease!.lease_id, job_id: lease!.job_id, task_id: lease!.task_id, attempt: lease!.attempt, state, exit_code: state === "SUCCEEDED" ? 0 : 1,
    message: null, times, cache: null, stdout_key: null, stderr_key: null, artifact_key: null, artifact_missing: false, slave: "s1",
  });
  // Mid-cancel: a pass is stored; a failure with retries left is not retried (the job is canceled).
  expect(await master.dispatcher.report(result(passing, "SUCCEEDED"))).toMatchObject({ ok: true, duplicate: false, stale: false });
  expect(await master.dispatcher.report(result(failing, "FAILED"))).toMatchObject({ ok: true, duplicate: false, stale: false });
  // No new lease for the canceled job, though most of its attempts are still QUEUED in the database.
  expect(await master.dispatcher.lease({ slave: slave("s2"), free: 5, wait_ms: 0 })).toEqual([]);
  // The running one is told to stop.
  expect((await master.dispatcher.heartbeat({ slave: slave("s1"), leases: [{ lease_id: running!.lease_id, phase: "RUNNING" }] })).cancel).toEqual([running!.lease_id]);

  release();
  await cancel;
  expect(await master.dispatcher.report(result(running, "CANCELED"))).toMatchObject({ ok: true, duplicate: false });
  const attempts = await repo.getAttempts("race");
  // One attempt per task (no retry was queued), each in one final state.
  expect(attempts.length).toBe(50);
  const byTask = new Map(attempts.map((a) => [a.taskId, a.state]));
  expect(byTask.get(passing!.task_id)).toBe("SUCCEEDED");
  expect(byTask.get(failing!.task_id)).toBe("FAILED");
  expect(byTask.get(running!.task_id)).toBe("CANCELED");
  expect(attempts.filter((a) => a.state === "CANCELED").length).toBe(48);
  const summary = await master.jobSummary("race");
  expect(summary.status).toBe("finished");
  expect(master.dispatcher.activeLeases).toBe(0);
  expect(master.queueStats()).toMatchObject({ queued: 0, running: 0 });
});

test("a job's task list and its troubles read a 12,000-task job 5,000 tasks at a time, with the event loop turning between reads, and miss nothing", async () => {
  const dir = await temps.make("dt-big-reads-");
  const repo = await SqliteRepo.open(join(dir, "dt.sqlite"));
  const big = makeJobWithTasks("big-reads", 12_000);
  // Every 100th task failed: 120 troubles, spread over every slice (over 50: the troubles read all tasks).
  big.attempts = big.attempts.map((a, i) => (i % 100 === 99 ? { ...a, state: "FAILED" as const, reportedAt: 10 + i } : a));
  await repo.createJob(big.job, big.tasks, big.attempts);
  let turns = 0;
  let ticking = true;
  const tick = () => {
    turns++;
    if (ticking) setImmediate(tick);
  };
  setImmediate(tick);
  const reads: { what: string; tasks: number; turn: number }[] = [];
  const width = (slice?: { from: number; to: number }) => (slice ? slice.to - slice.from : Number.POSITIVE_INFINITY);
  const counting = withMethod<Repo, "getTasks">(
    withMethod<Repo, "getAttempts">(repo, "getAttempts", (getAttempts) => (jobId, slice) => {
      reads.push({ what: "getAttempts", tasks: width(slice), turn: turns });
      return getAttempts(jobId, slice);
    }),
    "getTasks",
    (getTasks) => (jobId, slice) => {
      reads.push({ what: "getTasks", tasks: width(slice), turn: turns });
      return getTasks(jobId, slice);
    },
  );
  const master = masterOn(counting, dir);
  stops.push(async () => {
    ticking = false;
    await repo.close();
  });

  const { tasks } = await master.jobTasks("big-reads");
  expect(tasks.map((t) => t.task_id)).toEqual(big.tasks.map((t) => t.taskId));
  expect(tasks.filter((t) => t.group === "failed").length).toBe(120);
  const troubles = await master.jobTroubles("big-reads", 0);
  expect(troubles.tasks.map((t) => t.task_id)).toEqual(big.tasks.filter((_, i) => i % 100 === 99).map((t) => t.taskId));
  expect(troubles.more).toBe(false);
  // Each read covers at most one slice; the reads of one kind come on different turns of the event loop.
  expect(reads.length).toBeGreaterThan(4);
  expect(Math.max(...reads.map((r) => r.tasks))).toBe(5_000);
  for (const what of ["getAttempts", "getTasks"]) {
    const turnsOf = reads.filter((r) => r.what === what).map((r) => r.turn);
    expect(new Set(turnsOf).size).toBe(turnsOf.length);
  }
});

test("a lost lease, an infrastructure failure and dist_test's retry_task read the attempts of their one task, not the whole job's", async () => {
  const dir = await temps.make("dt-task-reads-");
  const repo = await SqliteRepo.open(join(dir, "dt.sqlite"));
  const widths: number[] = [];
  const countingWidths = <R extends Repo>(r: R): R =>
    withMethod<R, "getAttempts">(r, "getAttempts", (getAttempts) => ((jobId: string, slice?: { from: number; to: number }) => {
      widths.push(slice ? slice.to - slice.from : Number.POSITIVE_INFINITY);
      return getAttempts(jobId, slice);
    }) as R["getAttempts"]);
  const counting = countingWidths(repo);
  // Inside transaction() the callback gets the transaction's repo: that one is counted too.
  const transaction = repo.transaction.bind(repo);
  repo.transaction = (fn) => transaction((tx) => fn(countingWidths(tx)));
  const clock = new ManualClock();
  const master = masterOn(counting, dir, { clock });
  stops.push(async () => {
    master.dispatcher.close();
    await repo.close();
  });
  await master.dispatcher.rebuild();
  await master.submitJob({ job_id: "reads", tasks: Array.from({ length: 20 }, (_, i) => ({ isolate_hash: "d".repeat(64), description: `t${i}` })) });
  const [infra, lost, failed] = await master.dispatcher.lease({ slave: slave("s1"), free: 3, wait_ms: 0 });
  const now = clock.now();
  const times = { fetch_done_at: now, map_done_at: now, command_start_at: now, command_end_at: now, upload_done_at: now };
  const result = (lease: typeof infra, state: "INFRA_FAILED" | "FAILED") => ({
    lease_id: lease!.lease_id, job_id: lease!.job_id, task_id: lease!.task_id, attempt: lease!.attempt, state, exit_code: 1,
    message: null, times, cache: null, stdout_key: null, stderr_key: null, artifact_key: null, artifact_missing: false, slave: "s1",
  });
  widths.length = 0;
  await master.dispatcher.report(result(infra, "INFRA_FAILED"));
  await master.dispatcher.report(result(failed, "FAILED"));
  // s1 goes silent while running the second: its lease lapses.
  clock.advance(DISPATCH.leaseTtlMs + 1);
  await master.dispatcher.sweep();
  expect(await master.retryTask("reads", failed!.task_id)).toBe(false);
  expect(widths.length).toBeGreaterThanOrEqual(3);
  expect(Math.max(...widths)).toBe(1);
  const states = (taskId: string) => repo.getAttempts("reads").then((all) => all.filter((a) => a.taskId === taskId).map((a) => a.state));
  expect(await states(infra!.task_id)).toEqual(["INFRA_FAILED", "QUEUED"]);
  expect(await states(lost!.task_id)).toEqual(["SLAVE_LOST", "QUEUED"]);
  expect(await states(failed!.task_id)).toEqual(["FAILED"]);
});
