/**
 * What the reuse bench runs: one tiny tree archived with `dt archive`, a
 * shell script that notes each run in a file and sleeps a little, and the
 * task lists the measurements submit. Every task has a key of its own (its
 * index is in its environment), so within one job nothing is identical;
 * the environment's `BENCH_PHASE` and `BENCH_VARIANT` decide which earlier
 * task a task is identical to.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TaskRequest } from "../../src/master/protocol.ts";
import { seededRandom } from "../../test/helpers/prng.ts";
import { type DtCommand, dtArgv } from "../cluster/procs.ts";
import { timedRun } from "../isolate/procs.ts";

export const WORKLOAD = {
  seed: 20_261_207,
  /** The job: 2,000 idempotent tasks. */
  bigTasks: 2_000,
  /** The "10% of its tasks changed": every 10th task gets another BENCH_VARIANT. */
  changedEvery: 10,
  /** The pair of identical jobs submitted together. */
  pairTasks: 200,
  /**
   * Each task sleeps 50–200 ms (uniform, seeded): long enough that the first
   * run's time is the tasks' (~250 s of sleep over the slots), not dt's
   * ~5 ms per task, short enough that a run takes well under a minute.
   */
  minSleepMs: 50,
  maxSleepMs: 200,
  /** Per task, s: a sleep of 0.2 s that takes a minute is a stuck machine. */
  timeoutSec: 60,
} as const;

/**
 * The task's command. It appends `job task attempt` to $BENCH_RAN_LOG before
 * sleeping: the slaves' own count of what ran, apart from what the master
 * says (one short `>>` line is one write with O_APPEND, so concurrent
 * tasks do not interleave).
 */
const SCRIPT = `#!/bin/sh
echo "$DT_JOB_ID $DT_TASK_ID $DT_ATTEMPT" >> "$BENCH_RAN_LOG"
exec sleep "$BENCH_SLEEP"
`;

/** `dt archive` of a one-file tree takes well under a second, even from source; a minute means it hung. */
const ARCHIVE_TIMEOUT_MS = 60_000;

/**
 * Writes the script's tree under `dir` and archives it into the master's
 * CAS with `dt archive --root DIR --path . -- ./task.sh`; returns the
 * manifest's digest, as dt archive prints it.
 */
export async function archiveTaskTree(dt: DtCommand, casUrl: string, dir: string): Promise<string> {
  const tree = join(dir, "tree");
  mkdirSync(tree, { recursive: true });
  writeFileSync(join(tree, "task.sh"), SCRIPT, { mode: 0o755 });
  const { stdout } = await timedRun(
    dtArgv(dt, "archive", "--isolate-server", casUrl, "--hash-cache", "none", "--root", tree, "--path", ".", "--log-level", "warn", "--", "./task.sh"),
    { timeoutMs: ARCHIVE_TIMEOUT_MS },
  );
  const digest = /^([0-9a-f]{64}) {2}/m.exec(stdout)?.[1];
  if (!digest) throw new Error(`dt archive printed no digest: ${stdout}`);
  return digest;
}

/** What sets a task list apart from others of the same run, and so its tasks' keys. */
export interface TaskListSpec {
  isolateHash: string;
  /** Where the script notes its runs (one file per run of the bench: the same in every task list, so no key depends on it). */
  ranLog: string;
  /** The measurement's name: task lists of different phases share no key. */
  phase: string;
  count: number;
  idempotent: boolean;
  /** BENCH_VARIANT of task i: a different value is a different key, i.e. a changed task. */
  variant?: (index: number) => string;
}

/** The seeded sleeps, in seconds to the millisecond, the same for every list: task i sleeps as long in every phase. */
export function sleepSeconds(count: number): number[] {
  const random = seededRandom(WORKLOAD.seed);
  return Array.from({ length: count }, () => Math.round(WORKLOAD.minSleepMs + random() * (WORKLOAD.maxSleepMs - WORKLOAD.minSleepMs)) / 1000);
}

export function taskList(spec: TaskListSpec): TaskRequest[] {
  const sleeps = sleepSeconds(spec.count);
  return sleeps.map((seconds, i) => ({
    isolate_hash: spec.isolateHash,
    description: `${spec.phase}-${String(i).padStart(4, "0")}`,
    timeout: WORKLOAD.timeoutSec,
    env: { BENCH_PHASE: spec.phase, BENCH_TASK: String(i), BENCH_SLEEP: seconds.toFixed(3), BENCH_VARIANT: spec.variant?.(i) ?? "a", BENCH_RAN_LOG: spec.ranLog },
    ...(spec.idempotent ? { idempotent: true } : {}),
  }));
}

/** The task indexes the "10% changed" job changes: every 10th. */
export const isChanged = (index: number) => index % WORKLOAD.changedEvery === 0;

/** How many runs the slaves noted, by job id, from the script's log. */
export function slaveRuns(ranLog: string): Map<string, number> {
  let text = "";
  try {
    text = readFileSync(ranLog, "utf8");
  } catch {
    // No task ran yet.
  }
  const runs = new Map<string, number>();
  for (const line of text.split("\n")) {
    const jobId = line.split(" ", 1)[0];
    if (jobId) runs.set(jobId, (runs.get(jobId) ?? 0) + 1);
  }
  return runs;
}
