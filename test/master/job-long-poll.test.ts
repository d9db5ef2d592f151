/**
 * GET /api/v1/jobs/:job?wait_version=V&wait_ms=M: held until the job
 * changes, bounded in time and in number, freed when the client hangs up.
 */
import { afterEach, expect, test } from "bun:test";
import { systemClock } from "../../src/common/clock.ts";
import { createLogger } from "../../src/common/log.ts";
import { ChangeWaiters, DEFAULT_CHANGE_WAIT_LIMITS } from "../../src/master/jobs/change-waiters.ts";
import { IDLE_TIMEOUT_SEC, startMasterServer } from "../../src/master/server.ts";
import type { JobSummary } from "../../src/master/protocol.ts";
import { ChangeTracker } from "../../src/master/repo/change-tracking.ts";
import { HASH, report, serveTestMasterApp, slave } from "./helpers.ts";

type Served = Awaited<ReturnType<typeof serveTestMasterApp>>;
const served: Served[] = [];
afterEach(async () => {
  for (const s of served.splice(0)) await s.stop();
});

async function setup(tasks = 2) {
  const s = await serveTestMasterApp();
  served.push(s);
  const { master } = s.h;
  await master.submitJob({ job_id: "j", tasks: Array.from({ length: tasks }, (_, i) => ({ isolate_hash: HASH, description: `t${i}` })) });
  const leases = await master.dispatcher.lease({ slave: slave(), free: tasks, wait_ms: 0 });
  const get = async (query = "", init: RequestInit = {}) => {
    const res = await fetch(`${s.url}/api/v1/jobs/j${query}`, init);
    return { status: res.status, body: (await res.json()) as JobSummary & { error?: string } };
  };
  return { s, master, leases, get };
}

/** Resolves when `cond` holds, polling every 5 ms; fails after `ms`. */
async function until(cond: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await Bun.sleep(5);
  }
}

test("a held request is answered as soon as a result changes the job, with the new version and counts", async () => {
  const { s, master, leases, get } = await setup();
  const first = await get();
  expect(first.body.change_version).toMatch(/^\w+\.\d+$/);
  const held = get(`?wait_version=${first.body.change_version}&wait_ms=20000`);
  await until(() => master.changeWaiters.size === 1);
  const reportedAt = performance.now();
  await master.dispatcher.report(report(leases[0]!, "SUCCEEDED", s.h.clock.now()));
  const answer = await held;
  // Well under the 20 s hold: the report woke it. (50 ms is the aim; a loaded machine gets slack.)
  expect(performance.now() - reportedAt).toBeLessThan(2_000);
  expect(answer.body.change_version).not.toBe(first.body.change_version);
  expect(answer.body.counts).toMatchObject({ succeeded: 1, finished: 1 });
  expect(master.changeWaiters.size).toBe(0);
});

test("twenty watchers woken by one change share one read of the job and one estimate", async () => {
  const { s, master, leases, get } = await setup();
  const first = await get();
  const held = Array.from({ length: 20 }, () => get(`?wait_version=${first.body.change_version}&wait_ms=20000`));
  await until(() => master.changeWaiters.size === 20);
  const repo = master.deps.repo;
  const getAttemptHeads = repo.getAttemptHeads.bind(repo);
  let reads = 0;
  // A read of the job's status takes its attempts' counted fields in slices of tasks: count the reads, not the slices.
  repo.getAttemptHeads = (jobId, range) => {
    if (!range || range.from === 0) reads++;
    return getAttemptHeads(jobId, range);
  };
  // The ETA walks the whole queue (~10 ms at 100,000 queued attempts): computed per answer, a crowd of watchers multiplied it.
  const estimate = master.dispatcher.estimateRemainingSec.bind(master.dispatcher);
  let estimates = 0;
  master.dispatcher.estimateRemainingSec = (jobId) => {
    estimates++;
    return estimate(jobId);
  };
  await master.dispatcher.report(report(leases[0]!, "SUCCEEDED", s.h.clock.now()));
  const answers = await Promise.all(held);
  expect(new Set(answers.map((a) => a.body.change_version)).size).toBe(1);
  expect(reads).toBe(1);
  expect(estimates).toBe(1);
});

test("with nothing changing, the hold ends after wait_ms with the same version", async () => {
  const { get } = await setup();
  const first = await get();
  const started = performance.now();
  const answer = await get(`?wait_version=${first.body.change_version}&wait_ms=300`);
  expect(performance.now() - started).toBeGreaterThanOrEqual(250);
  expect(answer.status).toBe(200);
  expect(answer.body.change_version).toBe(first.body.change_version);
});

test("a version that is not the current one (older, or from before a restart), and a finished job, are answered at once", async () => {
  const { s, master, leases, get } = await setup(1);
  const started = performance.now();
  expect((await get("?wait_version=other.0&wait_ms=20000")).status).toBe(200);
  const before = await get();
  await master.dispatcher.report(report(leases[0]!, "SUCCEEDED", s.h.clock.now()));
  const finished = await get(`?wait_version=${before.body.change_version}&wait_ms=20000`);
  expect(finished.body.status).toBe("finished");
  const again = await get(`?wait_version=${finished.body.change_version}&wait_ms=20000`);
  expect(again.body.status).toBe("finished");
  expect(performance.now() - started).toBeLessThan(5_000);
  expect(master.changeWaiters.size).toBe(0);
});

test("a client that hangs up frees its held request", async () => {
  const { master, get } = await setup();
  const first = await get();
  const controller = new AbortController();
  const held = fetch(`${served[0]!.url}/api/v1/jobs/j?wait_version=${first.body.change_version}&wait_ms=20000`, { signal: controller.signal }).catch((err) => err);
  await until(() => master.changeWaiters.size === 1);
  controller.abort();
  await held;
  await until(() => master.changeWaiters.size === 0);
});

test("bad long-poll queries are refused with what to send; an unknown job is a 404 at once", async () => {
  const { get } = await setup();
  const cases: [string, string][] = [
    ["?wait_ms=1000", "wait_ms needs wait_version"],
    ["?wait_version=x&wait_ms=-1", "wait_ms must be a non-negative integer"],
    ["?wait_version=x&wait_ms=soon", "wait_ms must be a non-negative integer"],
    ["?wait_version=x&wait_ms=1e400", "wait_ms must be a non-negative integer"],
    ["?wait_version=x&wait_ms=", "wait_ms must be a non-negative integer"],
    [`?wait_version=${"v".repeat(65)}&wait_ms=10`, "wait_version must be the change_version"],
    ["?wait_version=&wait_ms=10", "wait_version must be the change_version"],
  ];
  for (const [query, message] of cases) {
    const r = await get(query);
    expect([query, r.status]).toEqual([query, 400]);
    expect(r.body.error).toContain(message);
  }
  const missing = await fetch(`${served[0]!.url}/api/v1/jobs/nope?wait_version=x.1&wait_ms=20000`);
  expect(missing.status).toBe(404);
});

test("ChangeWaiters: past the cap a wait is answered at once; holds are clamped to the limit; close answers every hold", async () => {
  const tracker = new ChangeTracker();
  const waiters = new ChangeWaiters(tracker, { maxWaitMs: 50, maxWaiters: 2 });
  const started = performance.now();
  const a = waiters.wait("j", 60_000);
  const b = waiters.wait("k", 60_000);
  expect(waiters.size).toBe(2);
  expect(await waiters.wait("j", 60_000)).toBe(false);
  tracker.bump("j");
  expect(await a).toBe(true);
  // Clamped from 60 s to 50 ms.
  expect(await b).toBe(false);
  expect(performance.now() - started).toBeLessThan(5_000);
  const c = waiters.wait("j", 60_000);
  waiters.close();
  expect(await c).toBe(false);
  expect(waiters.size).toBe(0);
});

test("ChangeWaiters: after close (the master stopping) a new wait is answered at once, not held", async () => {
  const waiters = new ChangeWaiters(new ChangeTracker(), { maxWaitMs: 60_000, maxWaiters: 10 });
  waiters.close();
  const started = performance.now();
  expect(await waiters.wait("j", 60_000)).toBe(false);
  expect(performance.now() - started).toBeLessThan(1_000);
  expect(waiters.size).toBe(0);
});

test("a master asked to hold requests longer than its idle timeout allows is refused at start, naming the setting", async () => {
  const dispatch = { leaseTtlMs: 30_000, heartbeatIntervalMs: 5_000, noResourceTimeoutMs: 60_000, maxWaitMs: 1_000, maxInfraRequeues: 3 };
  const base = { port: 0, host: "127.0.0.1", db: "sqlite", dataDir: "/nonexistent/never-opened", clock: systemClock, log: createLogger({ level: "silent" }) };
  // Bun resets a connection silent for its idle timeout (60 s): a 55 s hold would be cut before its answer.
  await expect(startMasterServer({ ...base, dispatch, changeWaits: { maxWaitMs: 55_000, maxWaiters: 10 } })).rejects.toThrow(/changeWaits\.maxWaitMs 55000 ms: a held request must end by 50000 ms, or the server's 60 s idle timeout resets it/);
  await expect(startMasterServer({ ...base, dispatch: { ...dispatch, maxWaitMs: 55_000 } })).rejects.toThrow(/dispatch\.maxWaitMs 55000 ms/);
  expect(IDLE_TIMEOUT_SEC * 1000 - DEFAULT_CHANGE_WAIT_LIMITS.maxWaitMs).toBeGreaterThanOrEqual(10_000);
});
