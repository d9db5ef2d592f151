/**
 * Measurement 1: 2,000 tasks whose command is `true` on two slaves with
 * two slots each, against `xargs -P4` running the same 2,000 commands
 * locally. Records tasks/s, the per-task overhead and its phases, how busy
 * the slots were, and the CPU each process spent per task.
 */
import { join } from "node:path";
import { timedShell } from "../isolate/procs.ts";
import { OVERHEAD_PHASES, commandMs, first, last, overheadMs, ranAttempts } from "./attempts.ts";
import type { Backend } from "./backends.ts";
import { SERVER_PREFIX, startCluster } from "./cluster.ts";
import { machineCpuMs } from "./procs.ts";
import { archiveTrivialTree } from "./manifests.ts";
import { mean, median, type Samples } from "./samples.ts";

export const THROUGHPUT = {
  tasks: 2_000,
  slaves: 2,
  slotsPerSlave: 2,
  /**
   * 500 ms: each poll reads all 2,000 attempts on the master (~10 ms of its
   * CPU), so polling faster would load what is measured. tasks/s comes from
   * the attempts' timestamps, not from when the poll noticed the end.
   */
  pollMs: 500,
  /** 2,000 tasks at the 200 tasks/s target take 10 s; ten minutes means it is stuck. */
  deadlineMs: 600_000,
} as const;

export async function measureThroughput(dt: string, dir: string, samples: Samples, backend: Backend): Promise<void> {
  const { tasks: n, slaves, slotsPerSlave } = THROUGHPUT;
  const slots = slaves * slotsPerSlave;

  // The baseline first, with no cluster running beside it.
  const xargs = await timedShell(`seq ${n} | xargs -P${slots} -n1 true`, { timeoutMs: 120_000 });
  samples.record("xargs tasks/s", n / (xargs.ms / 1000));

  const cluster = await startCluster(dt, dir, slaves, slotsPerSlave, backend);
  try {
    const { digest } = await archiveTrivialTree(dt, cluster.api.url, join(dir, "archive"));
    const body = JSON.stringify({ name: "bench-throughput", tasks: Array.from({ length: n }, (_, i) => ({ isolate_hash: digest, description: `true-${i}` })) });
    const cpuBefore = cluster.cpuMs();
    const machineBefore = machineCpuMs();
    const submitted = performance.now();
    const { job_id } = await cluster.api.submitJson(body);
    const job = await cluster.api.waitFinished(job_id, { pollMs: THROUGHPUT.pollMs, deadlineMs: THROUGHPUT.deadlineMs });
    const observedMs = performance.now() - submitted;
    const cpuAfter = cluster.cpuMs();
    const machineAfter = machineCpuMs();
    samples.check(job.counts.succeeded === n, `throughput: ${job.counts.succeeded} of ${n} tasks succeeded: ${JSON.stringify(job.counts)}`);

    const attempts = ranAttempts(await cluster.api.tasks(job_id));
    const spanMs = last(attempts.map((a) => a.reportedAt)) - first(attempts.map((a) => a.queuedAt));
    samples.record("dt tasks/s", n / (spanMs / 1000));
    samples.record("dt tasks/s (bench's view)", n / (observedMs / 1000));
    const overheads = attempts.map(overheadMs);
    samples.record("overhead median", median(overheads));
    samples.record("overhead mean", mean(overheads));
    samples.record("overhead p90", overheads.sort((a, b) => a - b)[Math.floor(0.9 * overheads.length)]!);
    samples.record("command median", median(attempts.map(commandMs)));
    for (const phase of OVERHEAD_PHASES) {
      const values = attempts.map(phase.ms);
      samples.record(`phase median ${phase.name}`, median(values));
      samples.record(`phase mean ${phase.name}`, mean(values));
    }
    // Lease to report summed over tasks, over slot-time available: below 1, slots sat idle between a report and the next lease.
    const busyMs = attempts.reduce((s, a) => s + (a.reportedAt - a.leasedAt), 0);
    samples.record("slot busy share", busyMs / (slots * spanMs));
    samples.record("lease→report mean", busyMs / n);

    let slaveCpu = 0;
    for (const [name, after] of cpuAfter) {
      const used = after - (cpuBefore.get(name) ?? 0);
      if (name === cluster.master.name) samples.record("cpu per task master", used / n);
      else if (name.startsWith(SERVER_PREFIX)) {
        if (cpuBefore.has(name)) samples.record(`cpu per task ${name}`, used / n);
      } else slaveCpu += used;
    }
    samples.record("cpu per task slaves", slaveCpu / n);
    const machineBusy = machineAfter.busy - machineBefore.busy;
    samples.record("machine busy share", machineBusy / (machineAfter.total - machineBefore.total));
    samples.record("cpu per task machine", machineBusy / n);
    samples.record("cores used by master+slaves", (slaveCpu + (cpuAfter.get(cluster.master.name)! - cpuBefore.get(cluster.master.name)!)) / observedMs);
  } finally {
    await cluster.stop();
  }
}
