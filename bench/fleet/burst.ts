/**
 * The burst of bench/fleet.ts (`--burst N`): one job of N tasks submitted
 * at once to an idle fleet, attempts of a short fixed-seed duration, so the
 * master's dispatch and result paths are what bound how fast it drains.
 * Measured: the submit's answer time, the first lease, the drain (submit →
 * every task finished), completions a second over the drain, the master's
 * CPU per task, its RSS at the end and its peak (VmHWM).
 */
import { putManifest } from "../../test/master/helpers.ts";
import { type FleetMaster, allKnown, procStats } from "./proc.ts";
import { Fleet, durationDraw, seeded } from "./sim-slaves.ts";

export interface BurstRow {
  slaves: number;
  tasks: number;
  submitMs: number;
  firstLeaseMs: number;
  drainS: number;
  completionsPerS: number;
  cpuPerTaskMs: number;
  rssEndMiB: number;
  hwmMiB: number;
  errors: number;
}

export async function measureBurst(o: { master: FleetMaster; slaves: number; slots: number; tasks: number; taskMs: number; timeoutS: number }): Promise<BurstRow> {
  const { base, post } = o.master;
  const fleet = new Fleet({ base, slaves: o.slaves, slots: o.slots, leaseWaitMs: 20_000, heartbeatMs: 5_000, duration: durationDraw(o.taskMs, seeded(o.slaves)) });
  try {
    const manifest = await putManifest(base, "burst");
    await fleet.start();
    await allKnown(base, o.slaves);
    fleet.resetStats();
    const cpu0 = procStats(o.master.pid).cpuS;
    const t0 = performance.now();
    const jobId = `burst.${o.slaves}.${o.tasks}`;
    await post("/api/v1/jobs", { job_id: jobId, tasks: Array.from({ length: o.tasks }, (_, i) => ({ isolate_hash: manifest, description: `b${i}`, dimensions: { pool: "sim" } })) });
    const submitMs = performance.now() - t0;
    for (;;) {
      const job = (await (await fetch(`${base}/api/v1/jobs/${jobId}`)).json()) as { counts: { finished: number; total_tasks: number } };
      if (job.counts.finished >= job.counts.total_tasks) break;
      if (performance.now() - t0 > o.timeoutS * 1000) throw new Error(`the burst did not drain in ${o.timeoutS} s: ${job.counts.finished} of ${job.counts.total_tasks} finished`);
      await Bun.sleep(250);
    }
    const drainS = (performance.now() - t0) / 1000;
    const end = procStats(o.master.pid);
    const stats = fleet.resetStats();
    const firstLeaseMs = stats.firstLeaseAt === null ? NaN : stats.firstLeaseAt - t0;
    return {
      slaves: o.slaves, tasks: o.tasks, submitMs, firstLeaseMs, drainS, completionsPerS: o.tasks / drainS,
      cpuPerTaskMs: ((end.cpuS - cpu0) * 1000) / o.tasks, rssEndMiB: end.rssMiB, hwmMiB: end.hwmMiB, errors: stats.errors,
    };
  } finally {
    await fleet.stop();
  }
}
