/** What a chaos scenario is, and what it hands back to the runner that judges it. */
import type { GroupState, TaskRequest, TaskView } from "../../src/master/protocol.ts";
import type { ChaosBackend, OutageName } from "./backends.ts";
import type { ChaosCluster, LeaseTiming, SlaveSpec } from "./harness.ts";

export interface ScenarioOptions {
  /** Tasks of the `big` scenario (`--tasks`). */
  tasks: number;
}

/**
 * Filled in by a scenario as it goes, so that the runner can judge what
 * happened even when the scenario threw half-way (a master that did not
 * come back, a task that never started).
 */
export interface ScenarioRecord {
  jobIds: string[];
  submitted: number;
  /** Epoch ms of the fault: recovery is measured from here. */
  faultAt?: number;
  /** The group each task should end in; default succeeded. */
  expectedGroup?: (task: TaskView) => GroupState;
  /** Checks of the scenario's own (the chatty task kept its lease…): failures and notes. */
  check?: (tasks: readonly TaskView[]) => { failures: string[]; notes: string[] };
  /** Recovery is the time until the last task process is gone (cancel), not until a result. */
  recoveryIsProcessesGone?: boolean;
  notes: string[];
}

export interface ScenarioContext {
  cluster: ChaosCluster;
  backend: ChaosBackend;
  options: ScenarioOptions;
  record: ScenarioRecord;
  /** ms left before the scenario's deadline: what a wait inside the scenario may take at most. */
  remainingMs(): number;
}

export interface Scenario {
  name: string;
  /** One line for the table's notes and the README. */
  summary: string;
  /** The server this scenario kills; the scenario is n/a on a backend without it. */
  outage?: OutageName;
  slaves: readonly SlaveSpec[];
  /** The master's lease timing, when not harness.ts's SHORT_LEASE. */
  lease?: LeaseTiming;
  deadlineMs(options: ScenarioOptions): number;
  run(ctx: ScenarioContext): Promise<void>;
}

/** Two slaves of two slots each: the shape of most scenarios (a slave can die while another carries on). */
export const TWO_SLAVES: readonly SlaveSpec[] = [
  { name: "slave-1", slots: 2 },
  { name: "slave-2", slots: 2 },
];

/** Submits `tasks` as one job through the API and records it. */
export async function submitJob(ctx: ScenarioContext, name: string, tasks: TaskRequest[]): Promise<string> {
  const jobId = await ctx.cluster.submit(name, tasks);
  ctx.record.jobIds.push(jobId);
  ctx.record.submitted += tasks.length;
  return jobId;
}

/** Uploads a manifest running `script` and submits `count` tasks of it, `<name>-<i>`, as one job `chaos-<name>`. */
export async function submitUniformJob(ctx: ScenarioContext, name: string, script: string, count: number, extra: Partial<TaskRequest> = {}): Promise<string> {
  const digest = await ctx.cluster.manifest(script);
  return submitJob(ctx, `chaos-${name}`, Array.from({ length: count }, (_, i) => ctx.cluster.task(digest, `${name}-${i}`, extra)));
}

/** Polls the job's counts until at least `count` tasks succeeded (the moment to strike mid-job). */
export async function waitSucceeded(ctx: ScenarioContext, jobId: string, count: number): Promise<void> {
  const deadline = performance.now() + ctx.remainingMs();
  for (;;) {
    const job = await ctx.cluster.ask((api) => api.job(jobId));
    if (job && job.counts.succeeded >= count) return;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${count} tasks of job ${jobId} to succeed (last seen: ${JSON.stringify(job?.counts)})`);
    await Bun.sleep(100);
  }
}
