/**
 * The job's estimate of time left, on virtual time: a master on a manual
 * clock, slaves simulated through the dispatcher, tasks whose durations
 * history knows. From a quarter of the way in, the estimate is within 20%
 * of the time the job really had left.
 */
import { afterEach, expect, test } from "bun:test";
import type { Lease, ResultReport } from "../../src/master/protocol.ts";
import { estimateRemainingMs, NO_OBSERVATION } from "../../src/master/scheduler/eta.ts";
import { HASH, slave, testMaster } from "./helpers.ts";

type Handle = Awaited<ReturnType<typeof testMaster>>;
const handles: Handle[] = [];
afterEach(async () => {
  for (const h of handles.splice(0)) await h.cleanup();
});

/** Deterministic durations, 2 to 30 s: a suite with a few long tests and many short ones. */
function durations(n: number): number[] {
  let x = 7;
  return Array.from({ length: n }, () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return 2_000 + Math.round(((x / 2 ** 31) ** 2) * 28_000);
  });
}

interface Sample {
  atMs: number;
  estimateMs: number | null;
  finished: number;
}

/**
 * Runs a job of tasks t0…tN-1 whose history says `expected[i]` ms and which
 * take `expected[i] * factor(i)`, on `slaves` × `slots`; samples the
 * estimate every virtual second. Returns the samples and the job's length.
 */
async function simulate(expected: number[], factor: (i: number) => number, slaves: number, slots: number) {
  const h = await testMaster();
  handles.push(h);
  const { master, clock } = h;
  for (const [i, ms] of expected.entries()) await master.deps.repo.recordDuration(`t${i}`, ms, clock.now());
  const { job_id } = await master.submitJob({ job_id: "eta", tasks: expected.map((_, i) => ({ isolate_hash: HASH, description: `t${i}` })) });
  const start = clock.now();
  const held: { lease: Lease; on: string; leasedAt: number; endAt: number }[] = [];
  const samples: Sample[] = [];
  for (;;) {
    for (let s = 0; s < slaves; s++) {
      const name = `s${s}`;
      const mine = held.filter((x) => x.on === name);
      await master.dispatcher.heartbeat({ slave: slave(name, {}, slots), leases: mine.map((x) => ({ lease_id: x.lease.lease_id, phase: "RUNNING" as const })) });
      const free = slots - mine.length;
      if (free === 0) continue;
      for (const lease of await master.dispatcher.lease({ slave: slave(name, {}, slots), free, wait_ms: 0 })) {
        const i = Number(lease.description.slice(1));
        held.push({ lease, on: name, leasedAt: clock.now(), endAt: clock.now() + Math.round(expected[i]! * factor(i)) });
      }
    }
    const summary = await master.jobSummary(job_id);
    if (summary.status === "finished") break;
    samples.push({ atMs: clock.now() - start, estimateMs: summary.estimated_remaining_sec === null ? null : summary.estimated_remaining_sec * 1000, finished: summary.counts.finished });
    const next = Math.min(...held.map((x) => x.endAt));
    clock.advance(Math.max(1, Math.min(next - clock.now(), 1_000)));
    for (const x of held.filter((x) => x.endAt <= clock.now())) {
      held.splice(held.indexOf(x), 1);
      await master.dispatcher.report(result(x.lease, x.leasedAt, clock.now()));
    }
  }
  return { samples, totalMs: clock.now() - start };
}

function result(lease: Lease, startedAt: number, endedAt: number): ResultReport {
  return {
    lease_id: lease.lease_id, job_id: lease.job_id, task_id: lease.task_id, attempt: lease.attempt, state: "SUCCEEDED", exit_code: 0, message: null,
    times: { fetch_done_at: startedAt, map_done_at: startedAt, command_start_at: startedAt, command_end_at: endedAt, upload_done_at: endedAt },
    cache: null, stdout_key: null, stderr_key: null, artifact_key: null, artifact_missing: false,
  };
}

/**
 * The worst error, relative to the truth, over the samples from
 * `fromFraction` of the job's length on. In the last seconds the truth
 * tends to 0 and any error is a large part of it: an error of up to a
 * second (the estimate's floor for a running task) counts as none.
 */
function worstError(run: { samples: Sample[]; totalMs: number }, fromFraction: number): { worst: number; at: Sample | undefined } {
  let worst = 0;
  let at: Sample | undefined;
  for (const s of run.samples) {
    if (s.atMs < fromFraction * run.totalMs) continue;
    const truth = run.totalMs - s.atMs;
    const off = s.estimateMs === null ? Infinity : Math.abs(s.estimateMs - truth);
    const error = off <= 1_000 ? 0 : off / truth;
    if (error > worst) [worst, at] = [error, s];
  }
  return { worst, at };
}

test("with durations as history says, the estimate is within 20% of the truth from 25% done to the end", async () => {
  const run = await simulate(durations(40), () => 1, 2, 3);
  expect(run.samples.length).toBeGreaterThan(50);
  const { worst, at } = worstError(run, 0.25);
  expect(worst, JSON.stringify({ at, totalMs: run.totalMs })).toBeLessThanOrEqual(0.2);
  // The estimate counts down with the job: at 80% in, it says about a fifth of the job is left, not ~0.
  const late = run.samples.find((s) => s.atMs >= 0.8 * run.totalMs)!;
  expect(late.estimateMs!).toBeGreaterThan(0.1 * run.totalMs);
});

test("tests each up to 15% off their history still give an estimate within 20% from 25% done", async () => {
  const run = await simulate(durations(40), (i) => 0.85 + ((i * 37) % 31) / 100, 2, 3);
  const { worst, at } = worstError(run, 0.25);
  expect(worst, JSON.stringify({ at, totalMs: run.totalMs })).toBeLessThanOrEqual(0.2);
});

test("on a machine 1.4× slower than history, this run's pace corrects the estimate to within 20% from 30% done (history alone would be 29% short)", async () => {
  const run = await simulate(durations(40), () => 1.4, 2, 3);
  const { worst, at } = worstError(run, 0.3);
  expect(worst, JSON.stringify({ at, totalMs: run.totalMs })).toBeLessThanOrEqual(0.2);
});

test("the estimate: queued work on the first free slot, running work less its elapsed time, never below the floor", () => {
  const base = { now: 10_000, observed: NO_OBSERVATION };
  // Two slots: a running 8 s task started 2 s ago (6 s left), and an idle one that takes both queued 4 s tasks: 8 s.
  expect(estimateRemainingMs({ ...base, queuedMs: [4_000, 4_000], running: [{ expectedMs: 8_000, leasedAt: 8_000 }], slots: 2 })).toBe(8_000);
  // A task past its expected time ends "soon": 10% of it, at least a second.
  expect(estimateRemainingMs({ ...base, queuedMs: [], running: [{ expectedMs: 5_000, leasedAt: 0 }], slots: 1 })).toBe(1_000);
  // A queue too long to replay is summed and spread over the slots.
  expect(estimateRemainingMs({ ...base, queuedMs: Array(6_000).fill(1_000), running: [], slots: 10 })).toBe(600_000);
  // No history, no result yet: unknown.
  expect(estimateRemainingMs({ ...base, queuedMs: [0, 0], running: [], slots: 4 })).toBeNull();
  // No history, but results of this job: its mean duration.
  expect(estimateRemainingMs({ ...base, queuedMs: [0, 0], running: [], slots: 1, observed: { ...NO_OBSERVATION, count: 2, tookMs: 6_000 } })).toBe(6_000);
});
