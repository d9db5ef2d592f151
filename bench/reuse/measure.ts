/**
 * One run of the reuse bench (issue 15 §4) on a fresh cluster: a real
 * `dt master` on its embedded defaults (SQLite in a fresh data dir) and
 * real `dt slave`s, so nothing is left from an earlier run to reuse.
 *
 * 1. first run: 2,000 idempotent tasks (nothing to reuse): the baseline;
 * 2. the same job again, unchanged: every task reused, 0 attempts run;
 * 3. the same job with every 10th task's BENCH_VARIANT changed: 200 run;
 * 4. two identical 200-task jobs submitted together, idempotent (the
 *    second waits for the first's attempts: 200 run in all) and, as the
 *    baseline, not idempotent (400 run); the order alternates by run.
 *
 * "Attempts run" is counted twice: from the master (attempts that were
 * leased and carry no `reused_from`) and from the slaves (each run of the
 * script appends a line to a file); a check fails when they disagree.
 */
import { join } from "node:path";
import type { JobRequest, JobSummary, TaskView } from "../../src/master/protocol.ts";
import { waitFinished } from "../case-scheduling/jobs.ts";
import type { MasterApi } from "../cluster/api.ts";
import { embeddedBackend } from "../cluster/backends.ts";
import { startCluster } from "../cluster/cluster.ts";
import type { DtCommand } from "../cluster/procs.ts";
import type { Samples } from "../cluster/samples.ts";
import { WORKLOAD, archiveTaskTree, isChanged, slaveRuns, taskList } from "./workload.ts";

export const SETUP = {
  /**
   * 16 slots: the first run's ~250 s of sleep takes 16 s at best (~25 s
   * measured, with the bench long-polling the job), and ~125 tasks/s stays
   * under what a master and slaves sustain on 2 cores (~370 tasks/s of
   * `true`, bench/cluster.ts), so the slots set most of the pace.
   */
  slaves: 4,
  slotsPerSlave: 4,
  /** The first run takes ~25 s; three minutes means it is stuck. */
  bigDeadlineMs: 180_000,
  /** A pair of 200-task jobs takes ~2-5 s. */
  smallDeadlineMs: 60_000,
} as const;

/** A job as the bench saw it: POST round trip, POST → finished, and what ran. */
interface TimedJob {
  jobId: string;
  postMs: number;
  finishedMs: number;
  summary: JobSummary;
  /** Attempts the master says ran: leased, and not standing for another's run. */
  ranByMaster: number;
}

/** One run: a fresh cluster, the four measurements, their samples and checks; the cluster is stopped whatever happens. */
export async function measureRun(dt: DtCommand, dir: string, run: number, samples: Samples): Promise<void> {
  const cluster = await startCluster(dt, dir, SETUP.slaves, SETUP.slotsPerSlave, embeddedBackend());
  try {
    const api = cluster.api;
    const isolateHash = await archiveTaskTree(dt, api.url, join(dir, "archive"));
    const ranLog = join(dir, "ran.log");
    const bigJob = (variant?: (i: number) => string): JobRequest => ({
      name: "bench-reuse-2000",
      tasks: taskList({ isolateHash, ranLog, phase: "big", count: WORKLOAD.bigTasks, idempotent: true, variant }),
    });
    const ran = (job: TimedJob) => ({ master: job.ranByMaster, slaves: slaveRuns(ranLog).get(job.jobId) ?? 0 });

    const first = await timedJob(api, bigJob(), SETUP.bigDeadlineMs);
    const firstRan = ran(first);
    checkAllSucceeded(samples, "first run", first);
    checkRan(samples, "first run", firstRan, WORKLOAD.bigTasks);
    samples.record("first finished", first.finishedMs);
    samples.record("first post", first.postMs);
    samples.record("first ran", firstRan.slaves);

    const again = await timedJob(api, bigJob(), SETUP.bigDeadlineMs);
    const againRan = ran(again);
    checkAllSucceeded(samples, "re-submit", again);
    checkRan(samples, "re-submit", againRan, 0);
    samples.check(again.summary.counts.reused === WORKLOAD.bigTasks, `re-submit: ${again.summary.counts.reused ?? "no"} of ${WORKLOAD.bigTasks} tasks counted reused`);
    samples.record("again finished", again.finishedMs);
    samples.record("again post", again.postMs);
    samples.record("again ran", againRan.slaves);
    samples.record("again reused", again.summary.counts.reused ?? 0);
    samples.record("again saved", again.summary.counts.saved_ms ?? 0);

    const changedCount = Array.from({ length: WORKLOAD.bigTasks }, (_, i) => i).filter(isChanged).length;
    const changed = await timedJob(api, bigJob((i) => (isChanged(i) ? "b" : "a")), SETUP.bigDeadlineMs);
    const changedRan = ran(changed);
    checkAllSucceeded(samples, "10% changed", changed);
    checkRan(samples, "10% changed", changedRan, changedCount);
    samples.check(changed.summary.counts.reused === WORKLOAD.bigTasks - changedCount, `10% changed: ${changed.summary.counts.reused ?? "no"} tasks counted reused, not ${WORKLOAD.bigTasks - changedCount}`);
    samples.record("changed finished", changed.finishedMs);
    samples.record("changed ran", changedRan.slaves);
    samples.record("changed reused", changed.summary.counts.reused ?? 0);
    samples.record("changed ratio", changed.finishedMs / (first.finishedMs * (changedCount / WORKLOAD.bigTasks)));

    // Alternated, so that neither pair always runs on a master warmed (or loaded) by the other.
    const order = run % 2 === 1 ? [false, true] : [true, false];
    for (const idempotent of order) {
      const key = idempotent ? "pair idem" : "pair plain";
      const tasks = taskList({ isolateHash, ranLog, phase: key.replace(" ", "-"), count: WORKLOAD.pairTasks, idempotent });
      const pair = await timedPair(api, { name: `bench-reuse-${key.replace(" ", "-")}`, tasks }, SETUP.smallDeadlineMs);
      const pairRan = pair.jobs.map(ran).reduce((a, b) => ({ master: a.master + b.master, slaves: a.slaves + b.slaves }));
      for (const job of pair.jobs) checkAllSucceeded(samples, key, job);
      checkRan(samples, key, pairRan, idempotent ? WORKLOAD.pairTasks : 2 * WORKLOAD.pairTasks);
      samples.record(`${key} finished`, pair.finishedMs);
      samples.record(`${key} ran`, pairRan.slaves);
      samples.record(`${key} coalesced`, pair.jobs.reduce((n, j) => n + (j.summary.counts.coalesced ?? 0), 0));
    }
  } finally {
    await cluster.stop();
  }
}

/** POSTs the job and waits (through the job long-poll) until it reads finished; times both from just before the POST. */
async function timedJob(api: MasterApi, job: JobRequest, deadlineMs: number): Promise<TimedJob> {
  const body = JSON.stringify(job);
  const started = performance.now();
  const { job_id: jobId } = await api.submitJson(body);
  const postMs = performance.now() - started;
  const summary = await waitFinished(api, jobId, deadlineMs);
  const finishedMs = performance.now() - started;
  return { jobId, postMs, finishedMs, summary, ranByMaster: attemptsRun(await api.tasks(jobId)) };
}

/** The same job POSTed twice at once; finishedMs is until both read finished. */
async function timedPair(api: MasterApi, job: JobRequest, deadlineMs: number): Promise<{ jobs: TimedJob[]; finishedMs: number }> {
  const started = performance.now();
  const jobs = await Promise.all([timedJob(api, job, deadlineMs), timedJob(api, job, deadlineMs)]);
  return { jobs, finishedMs: performance.now() - started };
}

/** Attempts that ran on a slave: leased, with no `reused_from` (a reused or coalesced attempt is never leased). */
export function attemptsRun(tasks: readonly TaskView[]): number {
  return tasks.reduce((n, t) => n + t.attempts.filter((a) => a.reused_from === undefined && a.leased_at !== null).length, 0);
}

function checkAllSucceeded(samples: Samples, what: string, job: TimedJob): void {
  const c = job.summary.counts;
  samples.check(c.succeeded === c.total_tasks, `${what} (job ${job.jobId}): ${c.succeeded} of ${c.total_tasks} tasks succeeded: ${JSON.stringify(c)}`);
}

function checkRan(samples: Samples, what: string, ran: { master: number; slaves: number }, expected: number): void {
  samples.check(ran.master === ran.slaves, `${what}: the master counts ${ran.master} attempts run, the slaves ${ran.slaves}`);
  samples.check(ran.slaves === expected, `${what}: ${ran.slaves} attempts ran on the slaves, not ${expected}`);
}
