/**
 * Runs one scenario on one backend from start to verdict: a fresh cluster,
 * the scenario (which submits and strikes), a wait for its jobs up to its
 * deadline, a grace period for the task processes to go, the count, and a
 * clean-up that runs whatever happened (SIGKILL of every process group the
 * run started, the run's task processes, the scenario's own hooks, the
 * database and bucket).
 */
import { join } from "node:path";
import type { TaskView } from "../../src/master/protocol.ts";
import type { DtCommand } from "../cluster/procs.ts";
import type { ChaosBackend } from "./backends.ts";
import { ChaosCluster, POLL_MS } from "./harness.ts";
import type { Scenario, ScenarioOptions, ScenarioRecord } from "./scenario.ts";
import { type Verdict, failuresOf, judge } from "./verdict.ts";

/** After the jobs ended, how long their task processes may take to go: a cancel reaches the slave on its next heartbeat (1 s), and killing is quick. */
const LEFTOVER_GRACE_MS = 15_000;

/** Reading every attempt of a 3,334-task job takes a second or two; a master that does not answer in a minute has lost them. */
const READ_TASKS_TIMEOUT_MS = 60_000;

export interface Row {
  scenario: string;
  backend: string;
  /** undefined: the scenario does not apply to the backend (n/a). */
  verdict?: Verdict;
  /** Seconds from the fault until the last task process was gone (cancel). */
  processesGoneSec?: number;
  failures: string[];
  notes: string[];
  wallSec: number;
}

/** Where the run in progress is, for a Ctrl-C's clean-up. */
export interface RunTracker {
  cluster?: ChaosCluster;
  /** Set by a Ctrl-C's clean-up: start nothing more. */
  stopping?: boolean;
}

/** Where a run happens and where its evidence goes. */
export interface RunDirs {
  /** Scratch: the run's directory is made here and removed after it. */
  runs: string;
  /** Kept: a failed run's master and slave logs go to `<failures>/<scenario>-<backend>/`. */
  failures: string;
}

export async function runScenario(scenario: Scenario, backend: ChaosBackend, dt: DtCommand, dirs: RunDirs, options: ScenarioOptions, tracker: RunTracker): Promise<Row> {
  const row: Row = { scenario: scenario.name, backend: backend.name, failures: [], notes: [], wallSec: 0 };
  if (scenario.outage && !backend.outages.has(scenario.outage)) {
    row.notes.push(`n/a: ${backend.name} has no ${scenario.outage} server outside the master`);
    return row;
  }
  const started = performance.now();
  const deadline = started + scenario.deadlineMs(options);
  const record: ScenarioRecord = { jobIds: [], submitted: 0, notes: [] };
  let cluster: ChaosCluster | undefined;
  try {
    cluster = await ChaosCluster.start(dt, join(dirs.runs, `${scenario.name}-${backend.name}`), backend, scenario.slaves, scenario.lease);
    tracker.cluster = cluster;
    const c = cluster;
    try {
      await scenario.run({ cluster: c, backend, options, record, remainingMs: () => Math.max(0, deadline - performance.now()) });
    } catch (err) {
      row.failures.push(`the scenario stopped: ${firstLine(err)}`);
    }
    const finished = record.jobIds.length > 0 && (await c.waitFinished(record.jobIds, deadline));
    // Processes of a job that never ended are still its work, not leftovers: counted only once the jobs are over.
    const { leftovers, goneAt } = finished ? await waitProcessesGone(c, LEFTOVER_GRACE_MS) : { leftovers: 0, goneAt: undefined };
    const tasks = await readTasks(c, record.jobIds);
    const verdict = judge({ tasks, submitted: record.submitted, finished, marks: c.marks(), expectedGroup: record.expectedGroup, faultAt: record.faultAt, leftovers });
    row.verdict = verdict;
    if (record.recoveryIsProcessesGone && record.faultAt !== undefined && goneAt !== undefined) row.processesGoneSec = Math.max(0, goneAt - record.faultAt) / 1000;
    row.failures.push(...failuresOf(verdict));
    const own = record.check?.(tasks);
    row.failures.push(...(own?.failures ?? []));
    row.notes.push(...record.notes, ...verdict.notes, ...(own?.notes ?? []));
  } catch (err) {
    row.failures.push(`could not run: ${firstLine(err)}`);
  } finally {
    tracker.cluster = undefined;
    if (cluster && row.failures.length > 0) row.notes.push(`logs in ${cluster.saveLogs(join(dirs.failures, `${scenario.name}-${backend.name}`))}`);
    await cluster?.stop();
    row.wallSec = (performance.now() - started) / 1000;
  }
  return row;
}

/** Waits up to `graceMs` for the run's task processes to end; returns how many are left and when the last went (epoch ms). */
async function waitProcessesGone(c: ChaosCluster, graceMs: number): Promise<{ leftovers: number; goneAt?: number }> {
  const until = performance.now() + graceMs;
  for (;;) {
    const pids = c.taskProcesses();
    if (pids.length === 0) return { leftovers: 0, goneAt: Date.now() };
    if (performance.now() > until) return { leftovers: pids.length };
    await Bun.sleep(POLL_MS);
  }
}

/** Every task of the jobs, tagged with its job; a job the master cannot answer for counts as no tasks. */
async function readTasks(c: ChaosCluster, jobIds: readonly string[]): Promise<(TaskView & { jobId: string })[]> {
  const all: (TaskView & { jobId: string })[] = [];
  for (const jobId of jobIds) {
    const tasks = (await c.ask((api) => api.tasks(jobId), READ_TASKS_TIMEOUT_MS)) ?? [];
    all.push(...tasks.map((t) => ({ ...t, jobId })));
  }
  return all;
}

function firstLine(err: unknown): string {
  return ((err as Error).message ?? String(err)).split("\n", 1)[0]!;
}
