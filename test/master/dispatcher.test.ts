import { afterEach, describe, expect, test } from "bun:test";
import { HASH, report, slave, testMaster } from "./helpers.ts";

type Handle = Awaited<ReturnType<typeof testMaster>>;
const handles: Handle[] = [];
afterEach(async () => {
  for (const h of handles.splice(0)) await h.cleanup();
});
async function setup() {
  const h = await testMaster();
  handles.push(h);
  return h;
}
const task = (description: string, extra: Record<string, unknown> = {}) => ({ isolate_hash: HASH, description, ...extra });

describe("Dispatcher", () => {
  test("a job runs to the end: lease, heartbeat phases, results, counts", async () => {
    const { master, clock } = await setup();
    const { job_id } = await master.submitJob({ job_id: "j1", tasks: [task("pass"), task("fail")] });
    const leases = await master.dispatcher.lease({ slave: slave(), free: 4, wait_ms: 0 });
    expect(leases.map((l) => l.description).sort()).toEqual(["fail", "pass"]);
    expect(leases[0]!.isolate_server).toBe("http://dt.test");
    await master.dispatcher.heartbeat({ slave: slave(), leases: leases.map((l) => ({ lease_id: l.lease_id, phase: "RUNNING" })) });
    expect((await master.jobSummary(job_id)).counts).toMatchObject({ running: 2, queued: 0 });
    for (const l of leases) await master.dispatcher.report(report(l, l.description === "pass" ? "SUCCEEDED" : "FAILED", clock.now()));
    const summary = await master.jobSummary(job_id);
    expect(summary.status).toBe("finished");
    expect(summary.counts).toMatchObject({ total_tasks: 2, succeeded: 1, failed: 1, finished: 2 });
    const status = await master.distTestStatus(job_id);
    expect(status).toMatchObject({ total_groups: 2, finished_groups: 2, failed_groups: 1, succeeded_groups: 1, status: "finished" });
  });

  test("a retried report is idempotent: one attempt, duplicate: true", async () => {
    const { master, clock } = await setup();
    await master.submitJob({ job_id: "j", tasks: [task("t", { max_retries: 2 })] });
    const [lease] = await master.dispatcher.lease({ slave: slave(), free: 1, wait_ms: 0 });
    expect(await master.dispatcher.report(report(lease!, "FAILED", clock.now()))).toEqual({ ok: true, duplicate: false, stale: false });
    expect(await master.dispatcher.report(report(lease!, "FAILED", clock.now()))).toEqual({ ok: true, duplicate: true, stale: false });
    const attempts = await master.deps.repo.getAttempts("j");
    expect(attempts.map((a) => [a.attempt, a.state])).toEqual([[0, "FAILED"], [1, "QUEUED"]]);
  });

  test("failed tests are retried while retries remain, and a pass after a failure is flaky", async () => {
    const { master, clock } = await setup();
    await master.submitJob({ job_id: "j", tasks: [task("flaky", { max_retries: 1 })] });
    const [first] = await master.dispatcher.lease({ slave: slave(), free: 1, wait_ms: 0 });
    await master.dispatcher.report(report(first!, "FAILED", clock.now()));
    const [second] = await master.dispatcher.lease({ slave: slave(), free: 1, wait_ms: 0 });
    expect(second!.attempt).toBe(1);
    await master.dispatcher.report(report(second!, "SUCCEEDED", clock.now()));
    const { tasks } = await master.jobTasks("j");
    expect(tasks[0]!.group).toBe("flaky");
    expect((await master.distTestStatus("j"))!).toMatchObject({ flaky_groups: 1, succeeded_groups: 1, failed_groups: 0, status: "finished", retried_tasks: 1 });
  });

  test("a slave that stops heartbeating loses its lease: SLAVE_LOST, requeued at once, no retry spent", async () => {
    const { master, clock } = await setup();
    await master.submitJob({ job_id: "j", tasks: [task("t", { max_retries: 0 })] });
    const [lease] = await master.dispatcher.lease({ slave: slave("dying"), free: 1, wait_ms: 0 });
    clock.advance(31_000);
    await master.dispatcher.sweep();
    const attempts = await master.deps.repo.getAttempts("j");
    expect(attempts.map((a) => [a.state, a.retry])).toEqual([["SLAVE_LOST", 0], ["QUEUED", 0]]);
    const [again] = await master.dispatcher.lease({ slave: slave("healthy"), free: 1, wait_ms: 0 });
    expect(again!.attempt).toBe(1);
    // The lost slave's late report is kept out of the job.
    expect(await master.dispatcher.report(report(lease!, "SUCCEEDED", clock.now()))).toMatchObject({ stale: true });
    await master.dispatcher.report(report(again!, "SUCCEEDED", clock.now()));
    expect((await master.jobSummary("j")).counts).toMatchObject({ succeeded: 1, failed: 0 });
  });

  test("heartbeats keep a lease alive past its TTL", async () => {
    const { master, clock } = await setup();
    await master.submitJob({ job_id: "j", tasks: [task("t")] });
    const [lease] = await master.dispatcher.lease({ slave: slave(), free: 1, wait_ms: 0 });
    for (let i = 0; i < 10; i++) {
      clock.advance(10_000);
      await master.dispatcher.heartbeat({ slave: slave(), leases: [{ lease_id: lease!.lease_id, phase: "RUNNING" }] });
      await master.dispatcher.sweep();
    }
    expect((await master.deps.repo.getAttempts("j"))[0]!.state).toBe("RUNNING");
  });

  test("cancel ends the job at once: queued attempts canceled, running ones told through the heartbeat", async () => {
    const { master, clock } = await setup();
    await master.submitJob({ job_id: "j", tasks: [task("running", { max_retries: 3 }), task("queued", { max_retries: 3 })] });
    const [lease] = await master.dispatcher.lease({ slave: slave(), free: 1, wait_ms: 0 });
    const summary = await master.cancelJob("j");
    expect(summary.status).toBe("finished");
    expect((await master.distTestStatus("j"))!.status).toBe("finished");
    const hb = await master.dispatcher.heartbeat({ slave: slave(), leases: [{ lease_id: lease!.lease_id, phase: "RUNNING" }] });
    expect(hb.cancel).toEqual([lease!.lease_id]);
    await master.dispatcher.report(report(lease!, "CANCELED", clock.now(), null));
    expect((await master.deps.repo.getAttempts("j")).map((a) => a.state).sort()).toEqual(["CANCELED", "CANCELED"]);
    expect(await master.dispatcher.lease({ slave: slave(), free: 4, wait_ms: 0 })).toEqual([]);
  });

  test("dimensions: a task goes only to a slave that has them; NO_RESOURCE when none can for the timeout", async () => {
    const { master, clock } = await setup();
    await master.submitJob({ job_id: "j", tasks: [task("gpu", { dimensions: { gpu: "yes" } })] });
    expect(await master.dispatcher.lease({ slave: slave("cpu-only"), free: 1, wait_ms: 0 })).toEqual([]);
    clock.advance(601_000);
    await master.dispatcher.lease({ slave: slave("cpu-only"), free: 1, wait_ms: 0 }); // still alive, still no match
    await master.dispatcher.sweep();
    clock.advance(601_000);
    await master.dispatcher.lease({ slave: slave("cpu-only"), free: 1, wait_ms: 0 });
    await master.dispatcher.sweep();
    const [attempt] = await master.deps.repo.getAttempts("j");
    expect(attempt!.state).toBe("NO_RESOURCE");
    expect(attempt!.message).toContain("gpu");
    expect((await master.jobSummary("j")).status).toBe("finished");
  });

  test("an idle slave's long-poll is answered as soon as a job is submitted", async () => {
    const { master } = await setup();
    const waiting = master.dispatcher.lease({ slave: slave(), free: 1, wait_ms: 20_000 });
    const started = performance.now();
    await master.submitJob({ job_id: "j", tasks: [task("t")] });
    const leases = await waiting;
    expect(leases.length).toBe(1);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  test("a master restart loses nothing: queue and leases are rebuilt and the job completes", async () => {
    const h = await setup();
    await h.master.submitJob({ job_id: "j", tasks: [task("a"), task("b"), task("c")] });
    const [lease] = await h.master.dispatcher.lease({ slave: slave(), free: 1, wait_ms: 0 });
    const master = await h.restart();
    // The slave keeps reporting to the new master instance, which knows its lease.
    await master.dispatcher.heartbeat({ slave: slave(), leases: [{ lease_id: lease!.lease_id, phase: "RUNNING" }] });
    expect(await master.dispatcher.report(report(lease!, "SUCCEEDED", h.clock.now()))).toMatchObject({ duplicate: false, stale: false });
    const rest = await master.dispatcher.lease({ slave: slave(), free: 4, wait_ms: 0 });
    expect(rest.length).toBe(2);
    for (const l of rest) await master.dispatcher.report(report(l, "SUCCEEDED", h.clock.now()));
    expect((await master.jobSummary("j")).counts).toMatchObject({ succeeded: 3, finished: 3 });
  });

  test("shards expand into tasks with GTEST_SHARD_INDEX and GTEST_TOTAL_SHARDS", async () => {
    const { master } = await setup();
    const created = await master.submitJob({ job_id: "j", tasks: [task("sharded", { shards: 3 })] });
    expect(created.tasks).toBe(3);
    const leases = await master.dispatcher.lease({ slave: slave(), free: 3, wait_ms: 0 });
    expect(leases.map((l) => [l.description, l.env.GTEST_SHARD_INDEX, l.env.GTEST_TOTAL_SHARDS]).sort()).toEqual([
      ["sharded.0", "0", "3"], ["sharded.1", "1", "3"], ["sharded.2", "2", "3"],
    ]);
  });

  test("history: longest expected first on the next run", async () => {
    const { master, clock } = await setup();
    await master.submitJob({ job_id: "first", tasks: [task("short"), task("long")] });
    for (const l of await master.dispatcher.lease({ slave: slave(), free: 2, wait_ms: 0 })) {
      const r = report(l, "SUCCEEDED", clock.now());
      r.times.command_end_at = r.times.command_start_at! + (l.description === "long" ? 60_000 : 1_000);
      await master.dispatcher.report(r);
    }
    await master.submitJob({ job_id: "second", tasks: [task("short"), task("long")] });
    const [first] = await master.dispatcher.lease({ slave: slave(), free: 1, wait_ms: 0 });
    expect(first!.description).toBe("long");
    expect((await master.jobSummary("second")).estimated_remaining_sec).toBeGreaterThan(0);
  });

  test("invalid jobs are refused naming the field, and nothing is stored", async () => {
    const { master } = await setup();
    for (const [job, field] of [
      [{ tasks: [] }, "tasks"],
      [{ tasks: [{ description: "x" }] }, "tasks[0].isolate_hash"],
      [{ tasks: [task("x", { timeout: -1 })] }, "tasks[0].timeout"],
      [{ tasks: [task("x", { env: { A: 1 } })] }, "tasks[0].env.A"],
      [{ job_id: "../etc", tasks: [task("x")] }, "job_id"],
      [{ tasks: [task("x", { shards: 0 })] }, "tasks[0].shards"],
    ] as const) {
      await expect(master.submitJob(job)).rejects.toThrow(field);
    }
    expect(await master.deps.repo.listJobs({})).toEqual([]);
  });
});

test("a long-poll the slave gave up is never handed work", async () => {
  const { master } = await setup();
  const abort = new AbortController();
  const withdrawn = master.dispatcher.lease({ slave: slave("gone"), free: 1, wait_ms: 20_000 }, abort.signal);
  abort.abort();
  expect(await withdrawn).toEqual([]);
  await master.submitJob({ job_id: "j", tasks: [task("t")] });
  const [lease] = await master.dispatcher.lease({ slave: slave("here"), free: 1, wait_ms: 0 });
  expect(lease?.description).toBe("t");
  expect((await master.deps.repo.getAttempts("j"))[0]!.slave).toBe("here");
});

test("a slave whose lease lapsed reads lost at once, and live again when it calls", async () => {
  const { master, clock } = await setup();
  await master.submitJob({ job_id: "j", tasks: [task("t")] });
  await master.dispatcher.lease({ slave: slave("flaky-host"), free: 1, wait_ms: 0 });
  clock.advance(31_000);
  await master.dispatcher.sweep();
  expect(master.slaves().find((s) => s.name === "flaky-host")?.state).toBe("lost");
  await master.dispatcher.lease({ slave: slave("flaky-host"), free: 1, wait_ms: 0 });
  expect(master.slaves().find((s) => s.name === "flaky-host")?.state).toBe("busy");
});

test("a job's summary is served from memory until one of its attempts changes", async () => {
  const { master, clock } = await setup();
  await master.submitJob({ job_id: "j", tasks: [task("a"), task("b")] });
  const reads = { n: 0 };
  const getAttemptHeads = master.deps.repo.getAttemptHeads.bind(master.deps.repo);
  (master.deps.repo as { getAttemptHeads: typeof getAttemptHeads }).getAttemptHeads = async (jobId, slice) => {
    // A summary reads a job's attempts' counted fields in slices of tasks: count each read of a job once, at its first slice.
    if (!slice || slice.from === 0) reads.n++;
    return getAttemptHeads(jobId, slice);
  };
  await master.jobSummary("j");
  await master.jobSummary("j");
  await master.distTestStatus("j");
  expect(reads.n).toBe(1);
  const [lease] = await master.dispatcher.lease({ slave: slave(), free: 1, wait_ms: 0 });
  expect((await master.jobSummary("j")).counts.running).toBe(1);
  expect(reads.n).toBe(2);
  await master.dispatcher.report(report(lease!, "SUCCEEDED", clock.now()));
  expect((await master.jobSummary("j")).counts.succeeded).toBe(1);
});

describe("Dispatcher under concurrent calls", () => {
  test("the same report sent twice at once applies once and counts the slot free once", async () => {
    const { master, clock } = await setup();
    await master.submitJob({ job_id: "j", tasks: [task("a"), task("b")] });
    const [first, second] = await master.dispatcher.lease({ slave: slave(), free: 2, wait_ms: 0 });
    const answers = await Promise.all([master.dispatcher.report(report(first!, "SUCCEEDED", clock.now())), master.dispatcher.report(report(first!, "SUCCEEDED", clock.now()))]);
    expect(answers.map((a) => a.duplicate).sort()).toEqual([false, true]);
    expect(master.dispatcher.queue.stats().running).toBe(1);
    await master.dispatcher.report(report(second!, "SUCCEEDED", clock.now()));
    expect(master.dispatcher.queue.stats().running).toBe(0);
  });

  test("a sweep while a report is being stored does not take the lease back", async () => {
    const { master, clock } = await setup();
    await master.submitJob({ job_id: "j", tasks: [task("a")] });
    const [lease] = await master.dispatcher.lease({ slave: slave(), free: 1, wait_ms: 0 });
    clock.advance(31_000);
    const reporting = master.dispatcher.report(report(lease!, "SUCCEEDED", clock.now()));
    await master.dispatcher.sweep();
    await reporting;
    expect((await master.deps.repo.getAttempts("j")).map((a) => a.state)).toEqual(["SUCCEEDED"]);
    expect(master.dispatcher.queue.stats().running).toBe(0);
  });

  test("a cancel while a failed report is stored leaves no retry queued", async () => {
    const { master, clock } = await setup();
    await master.submitJob({ job_id: "j", tasks: [task("a", { max_retries: 2 })] });
    const [lease] = await master.dispatcher.lease({ slave: slave(), free: 1, wait_ms: 0 });
    const reporting = master.dispatcher.report(report(lease!, "FAILED", clock.now()));
    await master.cancelJob("j");
    await reporting;
    expect((await master.deps.repo.getAttempts("j")).every((a) => a.state !== "QUEUED")).toBe(true);
    expect(master.dispatcher.queue.size).toBe(0);
  });

  test("a long-poll for dimensions nothing queued has ends at its deadline, however often work arrives", async () => {
    const { master } = await setup();
    const started = performance.now();
    const waiting = master.dispatcher.lease({ slave: slave("mac", { os: "mac" }), free: 1, wait_ms: 300 });
    for (let i = 0; i < 5; i++) await master.submitJob({ job_id: `linux-${i}`, tasks: [task("t", { dimensions: { os: "linux" } })] });
    expect(await waiting).toEqual([]);
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});

test("a failed group stays failed when its job is canceled afterwards; a task that passed after an infrastructure failure is not flaky", async () => {
  const { master, clock } = await setup();
  await master.submitJob({ job_id: "j", tasks: [task("fails"), task("infra"), task("waits")] });
  const leases = await master.dispatcher.lease({ slave: slave(), free: 2, wait_ms: 0 });
  const byName = Object.fromEntries(leases.map((l) => [l.description, l]));
  await master.dispatcher.report(report(byName.fails!, "FAILED", clock.now()));
  await master.dispatcher.report(report(byName.infra!, "INFRA_FAILED", clock.now(), null));
  const retried = await master.dispatcher.lease({ slave: slave(), free: 2, wait_ms: 0 });
  const again = retried.find((l) => l.description === "infra")!;
  await master.dispatcher.report(report(again, "SUCCEEDED", clock.now()));
  await master.cancelJob("j");
  const groups = Object.fromEntries((await master.jobTasks("j")).tasks.map((t) => [t.description, t.group]));
  expect(groups).toEqual({ fails: "failed", infra: "succeeded", waits: "canceled" });
});
