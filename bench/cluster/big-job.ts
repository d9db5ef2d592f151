/**
 * Measurement 4: a 100,000-task job on a master with no slaves (nothing
 * runs, so only storing, queueing and reading it is measured): the POST,
 * the master's RSS after it, and the median latency of GET
 * /api/v1/jobs/:id and of dist_test's /job_status. The baseline is the same
 * against a 100-task job on the same master, measured before the big one
 * is submitted; the 100-task job is read again afterwards, to show what a
 * big queued job costs everyone else's status calls.
 */
import { join } from "node:path";
import { type MasterApi, timed } from "./api.ts";
import type { Backend } from "./backends.ts";
import { startCluster } from "./cluster.ts";
import { archiveTrivialTree } from "./manifests.ts";
import type { Service } from "./procs.ts";
import { median, type Samples } from "./samples.ts";

export const BIG_JOB = {
  tasks: 100_000,
  smallTasks: 100,
  /** Status calls per job and kind; the median is reported. */
  reads: 10,
  /** Master CPU is sampled over this long with the jobs queued and nothing else happening (its 1 s sweep runs meanwhile). */
  idleWindowMs: 3_000,
} as const;

export async function measureBigJob(dt: string, dir: string, samples: Samples, backend: Backend): Promise<void> {
  const cluster = await startCluster(dt, dir, 0, 0, backend);
  try {
    const { digest } = await archiveTrivialTree(dt, cluster.api.url, join(dir, "archive"));
    await measureJobs(cluster.api, cluster.master, digest, samples);
  } finally {
    await cluster.stop();
  }
}

/** The sequence on one master: the 100-task job and its reads, then the big job and its reads. */
async function measureJobs(api: MasterApi, master: Service, digest: string, samples: Samples): Promise<void> {
  const jobBody = (name: string, count: number) =>
    JSON.stringify({ name, tasks: Array.from({ length: count }, (_, i) => ({ isolate_hash: digest, description: `${name}-${String(i).padStart(6, "0")}` })) });
  const recordReads = async (jobId: string, suffix: string) => {
    const get: number[] = [];
    const status: number[] = [];
    for (let i = 0; i < BIG_JOB.reads; i++) {
      get.push((await timed(() => api.job(jobId))).ms);
      status.push((await timed(() => api.distTestJobStatus(jobId))).ms);
    }
    samples.record(`get ${suffix}`, median(get));
    samples.record(`job_status ${suffix}`, median(status));
  };
  const idleCpuMsPerSec = async () => {
    const before = master.cpuMs();
    const started = performance.now();
    await Bun.sleep(BIG_JOB.idleWindowMs);
    return ((master.cpuMs() - before) * 1000) / (performance.now() - started);
  };

  samples.record("rss idle", master.rssBytes());
  const smallBody = jobBody("small", BIG_JOB.smallTasks);
  const small = await timed(() => api.submitJson(smallBody));
  samples.record("submit small", small.ms);
  samples.record("rss small", master.rssBytes());
  await recordReads(small.value.job_id, "small");
  samples.record("idle cpu small", await idleCpuMsPerSec());

  const bigBody = jobBody("big", BIG_JOB.tasks);
  samples.record("big body MB", bigBody.length / 1e6);
  const big = await timed(() => api.submitJson(bigBody));
  samples.check(big.value.tasks === BIG_JOB.tasks, `big job: the master queued ${big.value.tasks} tasks, expected ${BIG_JOB.tasks}`);
  samples.record("submit big", big.ms);
  samples.record("rss big", master.rssBytes());
  await recordReads(big.value.job_id, "big");
  await recordReads(small.value.job_id, "small beside big");
  samples.record("idle cpu big", await idleCpuMsPerSec());
  const job = await api.job(big.value.job_id);
  samples.check(job.counts.queued === BIG_JOB.tasks, `big job: ${job.counts.queued} tasks queued, expected all ${BIG_JOB.tasks}`);
}
