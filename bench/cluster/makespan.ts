/**
 * Measurement 2: 200 sleep tasks with seeded heavy-tailed durations on 4
 * slaves × 2 slots, submitted twice to one master: first with no duration
 * history (the queue runs in submission order), then again, when every
 * description has a learned duration and the longest go first. Records
 * makespan ÷ lower bound for both.
 */
import { join } from "node:path";
import { commandMs, first, last, ranAttempts } from "./attempts.ts";
import type { Backend } from "./backends.ts";
import { startCluster } from "./cluster.ts";
import { SLEEP_WORKLOAD, archiveTrivialTree, sleepDurations, uploadSleepManifests } from "./manifests.ts";
import type { Samples } from "./samples.ts";

export const MAKESPAN = {
  slaves: 4,
  slotsPerSlave: 2,
  /** 200 ms: a few polls over a job of ~20 s, each reading 200 attempts. */
  pollMs: 200,
  /** The lower bound is ~20 s; five minutes means it is stuck. */
  deadlineMs: 300_000,
} as const;

export async function measureMakespan(dt: string, dir: string, samples: Samples, backend: Backend): Promise<void> {
  const slots = MAKESPAN.slaves * MAKESPAN.slotsPerSlave;
  const durations = sleepDurations();
  const cluster = await startCluster(dt, dir, MAKESPAN.slaves, MAKESPAN.slotsPerSlave, backend);
  try {
    const base = await archiveTrivialTree(dt, cluster.api.url, join(dir, "archive"));
    const digests = await uploadSleepManifests(cluster.api, base, durations);
    // Distinct descriptions, so the master learns each task's own duration.
    const tasks = durations.map((seconds, i) => ({ isolate_hash: digests.get(seconds)!, description: `sleep-${String(i).padStart(3, "0")}` }));
    for (const label of ["no history", "history"] as const) {
      const { job_id } = await cluster.api.submit({ name: `bench-makespan-${label.replace(" ", "-")}`, tasks });
      const job = await cluster.api.waitFinished(job_id, MAKESPAN);
      samples.check(job.counts.succeeded === tasks.length, `makespan (${label}): ${job.counts.succeeded} of ${tasks.length} tasks succeeded`);
      const attempts = ranAttempts(await cluster.api.tasks(job_id));
      const makespanMs = last(attempts.map((a) => a.reportedAt)) - first(attempts.map((a) => a.leasedAt));
      // The bound from what the commands took on the slaves (sleep's own start-up included), not from the nominal seconds.
      const measured = attempts.map(commandMs);
      const sum = measured.reduce((a, b) => a + b, 0);
      const lowerBoundMs = Math.max(Math.max(...measured), sum / slots);
      samples.record(`makespan ${label}`, makespanMs);
      samples.record(`lower bound ${label}`, lowerBoundMs);
      samples.record(`makespan ratio ${label}`, makespanMs / lowerBoundMs);
      // When the last long task started: late starts are what history is for.
      const longest = attempts.filter((a) => commandMs(a) >= SLEEP_WORKLOAD.longMinSec * 1000);
      samples.record(`last long start ${label}`, last(longest.map((a) => a.commandStartAt)) - first(attempts.map((a) => a.leasedAt)));
    }
    const nominalSum = durations.reduce((a, b) => a + b, 0) * 1000;
    samples.record("nominal lower bound", Math.max(Math.max(...durations) * 1000, nominalSum / slots));
  } finally {
    await cluster.stop();
  }
}
