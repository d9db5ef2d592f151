/**
 * Measurement 3: dispatch latency on an idle, long-polling slave: from just
 * before POST /api/v1/jobs to the attempt's command_start_at, over 100
 * single-task jobs submitted one after another, each waited for. The
 * baseline is starting a local process: `Bun.spawn(["true"])` to its exit.
 */
import { join } from "node:path";
import { type RanAttempt, ranAttempts } from "./attempts.ts";
import type { Backend } from "./backends.ts";
import { startCluster } from "./cluster.ts";
import { archiveTrivialTree } from "./manifests.ts";
import { median, percentile, type Samples } from "./samples.ts";

export const LATENCY = {
  jobs: 100,
  /**
   * Two slots on the one slave: while one runs, the other keeps a lease
   * request open, so the slave is long-polling whenever a job is submitted
   * (with one slot there would be a race between the report's answer and
   * the next poll).
   */
  slots: 2,
  /** 10 ms: the job is done ~20 ms after submit; the poll decides only when the next job goes. */
  pollMs: 10,
  deadlineMs: 30_000,
} as const;

/** Spans of one dispatch, ms; submit is the bench's clock, the rest the master's and the slave's (one machine, one clock). */
const LATENCY_PHASES: readonly { name: string; ms: (a: RanAttempt, submitAt: number) => number }[] = [
  { name: "submit→queued", ms: (a, submitAt) => a.queuedAt - submitAt },
  { name: "queued→leased", ms: (a) => a.leasedAt - a.queuedAt },
  { name: "leased→fetch_done", ms: (a) => a.fetchDoneAt - a.leasedAt },
  { name: "fetch_done→map_done", ms: (a) => a.mapDoneAt - a.fetchDoneAt },
  { name: "map_done→command_start", ms: (a) => a.commandStartAt - a.mapDoneAt },
];

export async function measureLatency(dt: string, dir: string, samples: Samples, backend: Backend): Promise<void> {
  const cluster = await startCluster(dt, dir, 1, LATENCY.slots, backend);
  const latencies: number[] = [];
  const posts: number[] = [];
  const phases = new Map<string, number[]>(LATENCY_PHASES.map((p) => [p.name, []]));
  try {
    const { digest } = await archiveTrivialTree(dt, cluster.api.url, join(dir, "archive"));
    const runOne = async (description: string) => {
      const body = JSON.stringify({ name: "bench-latency", tasks: [{ isolate_hash: digest, description }] });
      const submitAt = Date.now();
      const started = performance.now();
      const { job_id } = await cluster.api.submitJson(body);
      const postMs = performance.now() - started;
      await cluster.api.waitFinished(job_id, LATENCY);
      const [attempt] = ranAttempts(await cluster.api.tasks(job_id));
      return { attempt: attempt!, submitAt, postMs };
    };
    // Not counted: the first task fetches the manifest into the slave's empty cache.
    await runOne("latency-warmup");
    for (let i = 0; i < LATENCY.jobs; i++) {
      const { attempt, submitAt, postMs } = await runOne(`latency-${i}`);
      latencies.push(attempt.commandStartAt - submitAt);
      posts.push(postMs);
      for (const p of LATENCY_PHASES) phases.get(p.name)!.push(p.ms(attempt, submitAt));
    }
  } finally {
    await cluster.stop();
  }
  samples.record("latency p50", median(latencies));
  samples.record("latency p99", percentile(latencies, 99));
  samples.record("latency max", Math.max(...latencies));
  samples.record("latency POST p50", median(posts));
  for (const [name, values] of phases) {
    samples.record(`latency phase p50 ${name}`, median(values));
    samples.record(`latency phase p99 ${name}`, percentile(values, 99));
  }

  // The baseline, with the cluster stopped.
  const spawns: number[] = [];
  for (let i = 0; i < LATENCY.jobs; i++) {
    const started = performance.now();
    await Bun.spawn(["true"], { stdin: "ignore", stdout: "ignore", stderr: "ignore" }).exited;
    spawns.push(performance.now() - started);
  }
  samples.record("spawn p50", median(spawns));
  samples.record("spawn p99", percentile(spawns, 99));
}
