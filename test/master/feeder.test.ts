/**
 * The master feeding beanstalkd and slaves claiming what they reserved, on
 * a real beanstalkd (DT_TEST_BEANSTALKD) and a real SQLite repo, on a
 * manual clock. Each test has tubes of its own, so runs can share a server.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { createLogger } from "../../src/common/log.ts";
import { BeanstalkClient, parseBeanstalkUrl } from "../../src/master/queue/beanstalk-client.ts";
import { openExternalQueue } from "../../src/master/queue/open-queue.ts";
import { anyTube, tubeFor } from "../../src/master/queue/tubes.ts";
import type { Lease } from "../../src/master/protocol.ts";
import { BeanstalkLeaseSource, parseLease } from "../../src/slave/beanstalk-lease-source.ts";
import { MasterClient } from "../../src/slave/master-client.ts";
import { HASH, report, slave, testMaster } from "./helpers.ts";

const SHARED = process.env.DT_TEST_BEANSTALKD;
if (!SHARED) console.warn("SKIP test/master/feeder.test.ts: DT_TEST_BEANSTALKD is not set; e.g. DT_TEST_BEANSTALKD=127.0.0.1:11311 after scripts/services/beanstalkd.sh");
const log = createLogger({ level: "silent" });
const runId = crypto.randomUUID().slice(0, 8);
let prefixes = 0;

type Handle = Awaited<ReturnType<typeof testMaster>>;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const task = (description: string, extra: Record<string, unknown> = {}) => ({ isolate_hash: HASH, description, ...extra });

async function setup(feedAhead = 2): Promise<{ h: Handle; prefix: string; bs: BeanstalkClient; source: (name: string, dims?: Record<string, string>, life?: string) => BeanstalkLeaseSource }> {
  const prefix = `t${runId}x${++prefixes}`;
  const url = `beanstalk://${SHARED}`;
  const h = await testMaster(undefined, () => openExternalQueue(url, { tubePrefix: prefix, feedAhead, leaseTtlMs: 30_000, log }));
  cleanups.push(() => h.cleanup());
  const bs = await BeanstalkClient.connect(parseBeanstalkUrl(url));
  cleanups.push(() => bs.close());
  const source = (name: string, dimensions: Record<string, string> = {}, life?: string) => {
    // The master of the moment: a test may restart it.
    const claim = (leaseId: string) => h.master.dispatcher.claimOffer({ slave: slave(name, dimensions), lease_id: leaseId, life });
    const s = new BeanstalkLeaseSource({ address: parseBeanstalkUrl(url), tubePrefix: prefix, ttrSec: 30, dimensions, waitMs: 2_000, log, claim });
    cleanups.push(() => s.close());
    return s;
  };
  return { h, prefix, bs, source };
}

async function ready(bs: BeanstalkClient, tube: string): Promise<number> {
  return Number((await bs.statsTube(tube))?.["current-jobs-ready"] ?? 0);
}

async function take(source: BeanstalkLeaseSource, free = 1): Promise<Lease[]> {
  return source.next(free, new AbortController().signal);
}

describe.skipIf(!SHARED)(`feeding beanstalkd (DT_TEST_BEANSTALKD=${SHARED})`, () => {
  test("each tube holds feed-ahead ready jobs in the scheduler's order; a claim tops it up", async () => {
    const { h, prefix, bs, source } = await setup(2);
    await h.master.submitJob({ job_id: "j", tasks: [1, 5, 3, 2, 4].map((p) => task(`p${p}`, { priority: p })) });
    await h.master.dispatcher.feeder!.idle();
    expect(await ready(bs, anyTube(prefix))).toBe(2);
    expect(h.master.queueStats()).toMatchObject({ queued: 5, running: 0 });

    const s1 = source("s1");
    const [first] = await take(s1);
    expect(first!.description).toBe("p5");
    // The master granted (and stored) the claim before the source handed the lease out.
    expect((await h.master.deps.repo.getAttempts("j")).find((a) => a.leaseId === first!.lease_id)).toMatchObject({ state: "LEASED", slave: "s1" });
    expect(await h.master.dispatcher.heartbeat({ slave: slave("s1"), leases: [{ lease_id: first!.lease_id, phase: "FETCHING" }] })).toEqual({ cancel: [], unknown: [] });
    const claimed = (await h.master.deps.repo.getAttempts("j")).find((a) => a.leaseId === first!.lease_id)!;
    expect(claimed).toMatchObject({ state: "FETCHING", slave: "s1" });
    await h.master.dispatcher.feeder!.idle();
    expect(await ready(bs, anyTube(prefix))).toBe(2);
    const next = await take(s1, 2);
    expect(next.map((l) => l.description)).toEqual(["p4", "p3"]);
  });

  test("a failed task's retry is in beanstalkd when its report is answered, over the bound and ahead of first attempts", async () => {
    const { h, prefix, bs, source } = await setup(1);
    await h.master.submitJob({ job_id: "j", tasks: [task("flaky", { max_retries: 1, priority: 9 }), task("a"), task("b")] });
    await h.master.dispatcher.feeder!.idle();
    const s1 = source("s1");
    const [first] = await take(s1);
    expect(first!.description).toBe("flaky");
    await h.master.dispatcher.heartbeat({ slave: slave("s1"), leases: [{ lease_id: first!.lease_id, phase: "RUNNING" }] });
    await h.master.dispatcher.feeder!.idle();
    expect(await ready(bs, anyTube(prefix))).toBe(1);
    await h.master.dispatcher.report({ ...report(first!, "FAILED", h.clock.now()), slave: "s1" });
    // "a" was fed when flaky was claimed; the retry joins it at once, though the bound is 1.
    expect(await ready(bs, anyTube(prefix))).toBe(2);
    const [retry] = await take(s1);
    expect([retry!.description, retry!.attempt]).toEqual(["flaky", 1]);
  });

  test("a granted lease's result is stored; the slave then deletes the job", async () => {
    const { h, prefix, bs, source } = await setup();
    await h.master.submitJob({ job_id: "j", tasks: [task("t")] });
    await h.master.dispatcher.feeder!.idle();
    const s1 = source("s1");
    const [lease] = await take(s1);
    expect(await h.master.dispatcher.report({ ...report(lease!, "SUCCEEDED", h.clock.now()), slave: "s1" })).toEqual({ ok: true, duplicate: false, stale: false });
    expect((await h.master.jobSummary("j")).counts).toMatchObject({ succeeded: 1, finished: 1 });
    await s1.done(lease!);
    const stats = await bs.statsTube(anyTube(prefix));
    expect(Number(stats?.["current-jobs-reserved"] ?? 0) + Number(stats?.["current-jobs-ready"] ?? 0)).toBe(0);
  });

  test("a second slave that reserves a job another holds (its reservation lapsed) is refused the claim and deletes the job unrun", async () => {
    const { h, prefix, bs, source } = await setup();
    await h.master.submitJob({ job_id: "j", tasks: [task("t")] });
    await h.master.dispatcher.feeder!.idle();
    const s1 = source("s1");
    const [lease] = await take(s1);
    // As after a beanstalkd restart or a lapsed TTR: the job is ready again while s1 runs it.
    await s1.close();
    expect(await ready(bs, anyTube(prefix))).toBe(1);
    expect(await take(source("s2"))).toEqual([]);
    const stats = await bs.statsTube(anyTube(prefix));
    expect(Number(stats?.["current-jobs-reserved"] ?? 0) + Number(stats?.["current-jobs-ready"] ?? 0)).toBe(0);
    expect(await h.master.dispatcher.claimOffer({ slave: slave("s2"), lease_id: lease!.lease_id })).toEqual({ claimed: false, reason: `slave s1 holds lease ${lease!.lease_id}` });
    expect(await h.master.dispatcher.report({ ...report(lease!, "SUCCEEDED", h.clock.now()), slave: "s1" })).toMatchObject({ stale: false, duplicate: false });
    const attempts = await h.master.deps.repo.getAttempts("j");
    expect(attempts.map((a) => [a.state, a.slave])).toEqual([["SUCCEEDED", "s1"]]);
  });

  test("a claim is granted once per attempt: again to its slave (a lost answer, a restart), never to another", async () => {
    const { h } = await setup();
    await h.master.submitJob({ job_id: "j", tasks: [task("t")] });
    await h.master.dispatcher.feeder!.idle();
    const [offer] = [...h.master.dispatcher.feeder!.waiting()];
    const claim = (name: string) => h.master.dispatcher.claimOffer({ slave: slave(name), lease_id: offer!.leaseId });
    expect(await Promise.all([claim("s1"), claim("s1")])).toEqual([{ claimed: true }, { claimed: true }]);
    expect((await claim("s2")).claimed).toBe(false);
    await h.restart();
    expect(await claim("s1")).toEqual({ claimed: true });
    expect((await claim("s2")).claimed).toBe(false);
    expect((await h.master.deps.repo.getAttempts("j")).map((a) => [a.state, a.slave, a.leaseId])).toEqual([["LEASED", "s1", offer!.leaseId]]);
  });

  test("a slave restarted under its name (a new life) is refused the lease its killed previous life held: the job is deleted unrun, the lease lapses SLAVE_LOST, and the task runs again as a new attempt", async () => {
    const { h, prefix, bs, source } = await setup();
    await h.master.submitJob({ job_id: "j", tasks: [task("t")] });
    await h.master.dispatcher.feeder!.idle();
    const firstLife = source("s1", {}, "life-1");
    const [lease] = await take(firstLife);
    expect(lease).toBeDefined();
    // Its lost answer asked again by the same life: granted again.
    expect(await h.master.dispatcher.claimOffer({ slave: slave("s1"), lease_id: lease!.lease_id, life: "life-1" })).toEqual({ claimed: true });
    // SIGKILLed (its command may have run to its end, unreported): beanstalkd makes the job ready again, and the new life reserves it.
    await firstLife.close();
    expect(await ready(bs, anyTube(prefix))).toBe(1);
    expect(await take(source("s1", {}, "life-2"))).toEqual([]);
    const stats = await bs.statsTube(anyTube(prefix));
    expect(Number(stats?.["current-jobs-reserved"] ?? 0) + Number(stats?.["current-jobs-ready"] ?? 0)).toBe(0);
    expect((await h.master.dispatcher.claimOffer({ slave: slave("s1"), lease_id: lease!.lease_id, life: "life-2" })).reason).toContain("earlier life of slave s1");
    // Nothing heartbeats the dead life's lease: it lapses, and the task is offered again under a new lease, which the new life runs.
    h.clock.advance(30_001);
    await h.master.dispatcher.sweep();
    await h.master.dispatcher.feeder!.idle();
    const [again] = await take(source("s1", {}, "life-2"));
    expect(again?.attempt).toBe(1);
    expect((await h.master.deps.repo.getAttempts("j")).map((a) => [a.attempt, a.state, a.slave])).toEqual([[0, "SLAVE_LOST", "s1"], [1, "LEASED", "s1"]]);
  });

  test("a slave of this version facing an older master (no /claim: 404) stops with an error saying so, and gives the job back unrun", async () => {
    const { h, prefix, bs } = await setup();
    await h.master.submitJob({ job_id: "j", tasks: [task("t")] });
    await h.master.dispatcher.feeder!.idle();
    // What an older master answers to a path it does not have.
    const old = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => Response.json({ error: `no such endpoint: ${req.method} ${new URL(req.url).pathname}`, code: "not_found" }, { status: 404 }) });
    cleanups.push(() => old.stop(true));
    const master = new MasterClient(`http://127.0.0.1:${old.port}`, { log });
    const s = new BeanstalkLeaseSource({
      address: parseBeanstalkUrl(`beanstalk://${SHARED}`), tubePrefix: prefix, ttrSec: 30, dimensions: {}, waitMs: 2_000, log,
      claim: (leaseId, signal) => master.claim({ slave: slave("s1"), lease_id: leaseId, life: "life-1" }, signal),
    });
    cleanups.push(() => s.close());
    const error = await take(s).then(() => null, (err: Error) => err);
    expect(error?.message).toContain("is older than this slave");
    expect(error?.message).toContain("upgrade the master first");
    expect(await ready(bs, anyTube(prefix))).toBe(1);
    expect((await h.master.deps.repo.getAttempts("j")).map((a) => a.state)).toEqual(["QUEUED"]);
  });

  test("an older slave, which claims with its first heartbeat or its result, is served as before", async () => {
    const { h } = await setup();
    await h.master.submitJob({ job_id: "j", tasks: [task("a"), task("b")] });
    await h.master.dispatcher.feeder!.idle();
    const [first, second] = [...h.master.dispatcher.feeder!.waiting()];
    const body = (o: typeof first) => ({ lease_id: o!.leaseId, job_id: "j", task_id: o!.item.taskId, attempt: 0 }) as Lease;
    expect(await h.master.dispatcher.heartbeat({ slave: slave("old-1"), leases: [{ lease_id: first!.leaseId, phase: "RUNNING" }] })).toMatchObject({ unknown: [], cancel: [] });
    expect((await h.master.dispatcher.heartbeat({ slave: slave("old-2"), leases: [{ lease_id: first!.leaseId, phase: "RUNNING" }] })).unknown).toEqual([first!.leaseId]);
    expect(await h.master.dispatcher.report({ ...report(body(first), "SUCCEEDED", h.clock.now()), slave: "old-1" })).toMatchObject({ stale: false, duplicate: false });
    // A short task reports before any heartbeat: the result claims it.
    expect(await h.master.dispatcher.report({ ...report(body(second), "SUCCEEDED", h.clock.now()), slave: "old-2" })).toMatchObject({ stale: false, duplicate: false });
    expect((await h.master.deps.repo.getAttempts("j")).map((a) => [a.state, a.slave])).toEqual([["SUCCEEDED", "old-1"], ["SUCCEEDED", "old-2"]]);
  });

  test("a claim stored by the database though its answer was lost (connection broken after the commit) stands for its slave, not for another", async () => {
    const { h } = await setup();
    await h.master.submitJob({ job_id: "j", tasks: [task("t")] });
    await h.master.dispatcher.feeder!.idle();
    const [offer] = [...h.master.dispatcher.feeder!.waiting()];
    const repo = h.master.deps.repo;
    const updateAttempt = repo.updateAttempt.bind(repo);
    let broken = true;
    repo.updateAttempt = async (...args) => {
      const stored = await updateAttempt(...args);
      if (broken && args[4]?.includes("QUEUED")) {
        broken = false;
        throw new Error("Connection lost: The server closed the connection (the write may or may not have been stored)");
      }
      return stored;
    };
    const claim = (name: string) => h.master.dispatcher.claimOffer({ slave: slave(name), lease_id: offer!.leaseId });
    await expect(claim("s1")).rejects.toThrow("Connection lost");
    // The slave asks again, as it does after a 503: the claim that landed is its own.
    expect(await claim("s1")).toEqual({ claimed: true });
    expect((await claim("s2")).claimed).toBe(false);
    // The master knows the lease now: its heartbeat keeps it, and its result ends the attempt.
    expect((await h.master.dispatcher.heartbeat({ slave: slave("s1"), leases: [{ lease_id: offer!.leaseId, phase: "RUNNING" }] })).unknown).toEqual([]);
    await h.master.dispatcher.report(report({ lease_id: offer!.leaseId, job_id: "j", task_id: offer!.item.taskId, attempt: 0 } as Lease, "SUCCEEDED", h.clock.now()));
    expect((await repo.getAttempts("j")).map((a) => [a.state, a.slave])).toEqual([["SUCCEEDED", "s1"]]);
  });

  test("a heartbeat naming a lease whose result is stored (the master killed before answering the report) is not called unknown; the report sent again is a duplicate", async () => {
    const { h, source } = await setup();
    await h.master.submitJob({ job_id: "j", tasks: [task("done"), task("lost")] });
    await h.master.dispatcher.feeder!.idle();
    const s1 = source("s1");
    const [done, lost] = await take(s1, 2);
    const beat = (name: string, lease: Lease) => h.master.dispatcher.heartbeat({ slave: slave(name), leases: [{ lease_id: lease.lease_id, phase: "UPLOADING" }] });
    // Stored, then the master killed before its answer left: the slave still holds the run and names it in its next beat.
    expect(await h.master.dispatcher.report({ ...report(done!, "SUCCEEDED", h.clock.now()), slave: "s1" })).toEqual({ ok: true, duplicate: false, stale: false });
    // Before the restart too: a beat answered between the report's store and its answer.
    expect(await beat("s1", done!)).toEqual({ cancel: [], unknown: [] });
    await h.restart();
    expect(await beat("s1", done!)).toEqual({ cancel: [], unknown: [] });
    // Not the holder: unknown, as before.
    expect((await beat("s2", done!)).unknown).toEqual([done!.lease_id]);
    expect(await h.master.dispatcher.report({ ...report(done!, "SUCCEEDED", h.clock.now()), slave: "s1" })).toEqual({ ok: true, duplicate: true, stale: false });
    // A lease the master took back (SLAVE_LOST) is still unknown to its slave: that run is killed and its result dropped.
    h.clock.advance(30_001);
    await h.master.dispatcher.sweep();
    expect((await beat("s1", lost!)).unknown).toEqual([lost!.lease_id]);
    expect((await h.master.deps.repo.getAttempts("j")).map((a) => [a.taskId === done!.task_id ? "done" : "lost", a.attempt, a.state])).toEqual([["done", 0, "SUCCEEDED"], ["lost", 0, "SLAVE_LOST"], ["lost", 1, "QUEUED"]]);
  });

  test("a master killed between putting an offer and recording its lease offers the attempt again; only one of the two jobs is run", async () => {
    const { h, prefix, bs, source } = await setup();
    await h.master.submitJob({ job_id: "j", tasks: [task("t")] });
    await h.master.dispatcher.feeder!.idle();
    const [stale] = [...h.master.dispatcher.feeder!.waiting()];
    // The kill landed after beanstalkd took the put and before the database took the lease id.
    expect(await h.master.deps.repo.updateAttempt("j", stale!.item.taskId, 0, { leaseId: null })).toBe(true);
    await h.restart();
    h.master.dispatcher.feeder!.kick();
    await h.master.dispatcher.feeder!.idle();
    expect(await ready(bs, anyTube(prefix))).toBe(2);
    const [fresh] = [...h.master.dispatcher.feeder!.waiting()];
    expect(fresh!.leaseId).not.toBe(stale!.leaseId);
    // Two slaves at once, one job each: the stale offer's claim is refused and its job deleted; the other runs.
    const taken = (await Promise.all([take(source("s1")), take(source("s2"))])).flat();
    expect(taken.map((l) => l.lease_id)).toEqual([fresh!.leaseId]);
    const stats = await bs.statsTube(anyTube(prefix));
    expect(Number(stats?.["current-jobs-ready"] ?? 0)).toBe(0);
    expect(Number(stats?.["current-jobs-reserved"] ?? 0)).toBe(1);
    expect((await h.master.deps.repo.getAttempts("j")).map((a) => [a.state, a.leaseId])).toEqual([["LEASED", fresh!.leaseId]]);
  });

  test("cancel takes the offers back out of beanstalkd and ends them CANCELED", async () => {
    const { h, prefix, bs } = await setup(3);
    await h.master.submitJob({ job_id: "j", tasks: [task("a"), task("b"), task("c"), task("d")] });
    await h.master.dispatcher.feeder!.idle();
    expect(await ready(bs, anyTube(prefix))).toBe(3);
    await h.master.cancelJob("j");
    expect(await ready(bs, anyTube(prefix))).toBe(0);
    expect((await h.master.deps.repo.getAttempts("j")).map((a) => a.state)).toEqual(["CANCELED", "CANCELED", "CANCELED", "CANCELED"]);
    expect(h.master.queueStats()).toMatchObject({ queued: 0, running: 0 });
  });

  test("tasks go to their dimension set's tube and only to slaves that have it", async () => {
    const { h, prefix, bs, source } = await setup(4);
    await h.master.submitJob({ job_id: "j", tasks: [task("gpu", { dimensions: { pool: "gpu" } }), task("any")] });
    await h.master.dispatcher.feeder!.idle();
    expect(await ready(bs, tubeFor(prefix, { pool: "gpu" }))).toBe(1);
    expect(await ready(bs, anyTube(prefix))).toBe(1);
    const cpu = await take(source("cpu", { pool: "cpu" }), 4);
    expect(cpu.map((l) => l.description)).toEqual(["any"]);
    const gpu = await take(source("gpu", { pool: "gpu", os: "linux" }), 4);
    expect(gpu.map((l) => l.description)).toEqual(["gpu"]);
  });

  test("a restarted master adopts the offers it had made; slaves claim them as before", async () => {
    const { h, prefix, bs, source } = await setup(2);
    await h.master.submitJob({ job_id: "j", tasks: [task("a"), task("b"), task("c")] });
    await h.master.dispatcher.feeder!.idle();
    await h.restart();
    await h.master.dispatcher.feeder!.idle();
    // Two offers adopted, one still queued: nothing fed twice.
    expect(await ready(bs, anyTube(prefix))).toBe(2);
    expect(h.master.dispatcher.feeder!.size).toBe(2);
    const s1 = source("s1");
    const leases = await take(s1, 2);
    for (const l of leases) await h.master.dispatcher.report({ ...report(l, "SUCCEEDED", h.clock.now()), slave: "s1" });
    await h.master.dispatcher.feeder!.idle();
    const [last] = await take(s1);
    await h.master.dispatcher.report({ ...report(last!, "SUCCEEDED", h.clock.now()), slave: "s1" });
    expect((await h.master.jobSummary("j")).counts).toMatchObject({ succeeded: 3, finished: 3, total_tasks: 3 });
  });

  test("offers beanstalkd lost (a restart without binlog) are fed again", async () => {
    const { h, prefix, bs } = await setup(2);
    await h.master.submitJob({ job_id: "j", tasks: [task("a"), task("b")] });
    await h.master.dispatcher.feeder!.idle();
    const before = [...h.master.dispatcher.feeder!.waiting()].map((o) => o.leaseId).sort();
    // Empty the tube behind the master's back.
    await bs.watch(anyTube(prefix));
    await bs.ignore("default");
    for (let job = await bs.reserveWithTimeout(0); job; job = await bs.reserveWithTimeout(0)) await bs.delete(job.id);
    h.clock.advance(11_000);
    await h.master.dispatcher.sweep();
    await h.master.dispatcher.feeder!.idle();
    expect(await ready(bs, anyTube(prefix))).toBe(2);
    const after = [...h.master.dispatcher.feeder!.waiting()].map((o) => o.leaseId).sort();
    expect(after).toHaveLength(2);
    expect(after.some((id) => before.includes(id))).toBe(false);
  });
});

describe("lease bodies read from beanstalkd", () => {
  test("a job that is not a dt lease is refused naming what is wrong", () => {
    expect(() => parseLease("[]")).toThrow(/not a JSON object/);
    expect(() => parseLease('{"lease_id": 1}')).toThrow(/lease_id is not a string/);
    expect(() => parseLease("not json")).toThrow();
  });

  test("result_globs: absent (a master before test cases) is taken; present, it must be a list of strings", () => {
    const lease = {
      lease_id: "l", job_id: "j", task_id: "t", isolate_hash: "h", isolate_server: "http://cas", description: "d",
      attempt: 0, timeout: 0, lease_ttl_ms: 1, heartbeat_interval_ms: 1, artifact_archive_globs: [], env: {},
    };
    expect(parseLease(JSON.stringify(lease)).result_globs).toBeUndefined();
    expect(parseLease(JSON.stringify({ ...lease, result_globs: ["r/*.xml"] })).result_globs).toEqual(["r/*.xml"]);
    expect(() => parseLease(JSON.stringify({ ...lease, result_globs: "*.xml" }))).toThrow(/result_globs is not a list of strings/);
    expect(() => parseLease(JSON.stringify({ ...lease, result_globs: [1] }))).toThrow(/result_globs is not a list of strings/);
  });
});

describe("dt master --queue", () => {
  test("a URL that is not beanstalk:// and a too-short lease TTL are refused, naming the flag", async () => {
    await expect(openExternalQueue("redis://127.0.0.1:6379", { leaseTtlMs: 30_000, log })).rejects.toThrow(/--queue "redis:\/\/127.0.0.1:6379": write beanstalk:\/\/host:port/);
    await expect(openExternalQueue("beanstalk://127.0.0.1:11300", { leaseTtlMs: 1_000, log })).rejects.toThrow(/--lease-ttl .* at least 3s/);
    await expect(openExternalQueue("beanstalk://127.0.0.1:11300", { leaseTtlMs: 30_000, feedAhead: 0, log })).rejects.toThrow(/--queue-feed-ahead/);
  });

  test("an unreachable beanstalkd fails the start, naming its address", async () => {
    const err = await openExternalQueue("beanstalk://127.0.0.1:1", { leaseTtlMs: 30_000, log }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "unreachable" });
    expect(String((err as Error).message)).toContain("127.0.0.1:1");
  });
});
