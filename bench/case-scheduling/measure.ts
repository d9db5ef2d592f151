/**
 * One run of the case-scheduling bench: two fresh clusters side by side.
 *
 * - Makespan: a master with 4 slaves × 2 slots runs the same job — the
 *   dominant longtail binary beside the short ones — in each mode, one
 *   after the other: unsharded, `"shards": 8`, then `"shards": "auto"`
 *   twice (the first with no history, the second with the first's). Each
 *   mode's tasks carry a description of their own (`longtail_test-s8`…),
 *   so no mode learns from another's cases; auto's two runs share theirs.
 * - Retry: a second master with 1 slave × 2 slots runs the 60 s flaky
 *   binary (max_retries 1) twice at once, with the default retry (only the
 *   failed cases) and with `"retry": "task"`: one slot each, so neither
 *   waits for the other. It shares no slot with the makespan jobs (whose
 *   bound counts all 8), and sleeping tests leave the CPU to both.
 *
 * A mode the master refuses at submit (a key it does not know yet) is
 * noted and not tried again in later runs: the same binary refuses again.
 */
import { join } from "node:path";
import { embeddedBackend } from "../cluster/backends.ts";
import { type Cluster, startCluster } from "../cluster/cluster.ts";
import type { Samples } from "../cluster/samples.ts";
import { type RetryFigures, caseCoverageProblems, clockProblem, makespanFigures, overheadsMs, retryFigures } from "./analysis.ts";
import { JobRefused, type TaskJson, archiveBinaries, runJob } from "./jobs.ts";
import { type BinarySpec, benchBinaries } from "./workload.ts";

export const SETUP = {
  slaves: 4,
  slotsPerSlave: 2,
  retrySlaves: 1,
  retrySlotsPerSlave: 2,
  maxRetries: 1,
  /** Each task's timeout, s: the longest task (the whole flaky binary) takes ~60 s. */
  taskTimeoutSec: 300,
  /** An unsharded job takes ~60 s; four minutes means it is stuck. */
  makespanDeadlineMs: 240_000,
  /** A whole-task retry of the flaky binary takes ~120 s. */
  retryDeadlineMs: 420_000,
} as const;

export type ModeKey = "none" | "shards8" | "auto1" | "auto2";

export const MODES: readonly { key: ModeKey; label: string; suffix: string; keys: (o: AutoOptions) => Record<string, unknown> }[] = [
  { key: "none", label: "no sharding", suffix: "none", keys: () => ({}) },
  { key: "shards8", label: '`"shards": 8`', suffix: "s8", keys: () => ({ shards: 8 }) },
  { key: "auto1", label: '`"shards": "auto"`, 1st (no history)', suffix: "auto", keys: autoKeys },
  { key: "auto2", label: '`"shards": "auto"`, 2nd (history)', suffix: "auto", keys: autoKeys },
];

export type RetryKey = "cases" | "task";
export const RETRY_MODES: readonly { key: RetryKey; label: string; keys: Record<string, unknown> }[] = [
  { key: "cases", label: "default (only the failed cases)", keys: {} },
  { key: "task", label: '`"retry": "task"` (whole task)', keys: { retry: "task" } },
];

/** The auto shards' knobs as the bench passes them (see case-scheduling.ts for the defaults' reasons). */
export interface AutoOptions {
  /** Unset: the master's default. */
  shardSeconds: number | undefined;
  maxShards: number | undefined;
}

function autoKeys(o: AutoOptions): Record<string, unknown> {
  return { shards: "auto", ...(o.shardSeconds === undefined ? {} : { shard_seconds: o.shardSeconds }), ...(o.maxShards === undefined ? {} : { max_shards: o.maxShards }) };
}

/**
 * Modes not measured (any more), by key (`auto1`, `retry cases`…): one the
 * master refused at submit (a key this build does not know: it refuses
 * again), or one that failed (a stuck job, a figure that could not be
 * taken: a bug is not noise, and a stuck job costs minutes). Either is
 * not tried again in later runs.
 */
export type Skipped = Map<string, { refused: boolean; why: string }>;

export async function measureRun(dt: string, dir: string, binaries: Map<string, string>, samples: Samples, skipped: Skipped, auto: AutoOptions): Promise<void> {
  const specs = benchBinaries();
  const paths = [specs.longtail, ...specs.short, specs.flaky].map((s) => binaries.get(s.file)!);
  const [main, retry] = await Promise.all([
    startCluster(dt, join(dir, "makespan"), SETUP.slaves, SETUP.slotsPerSlave, embeddedBackend()),
    startCluster(dt, join(dir, "retry"), SETUP.retrySlaves, SETUP.retrySlotsPerSlave, embeddedBackend()),
  ]);
  try {
    const [mainDigests, retryDigests] = await Promise.all([
      archiveBinaries(dt, main.api, paths, join(dir, "archive-makespan")),
      archiveBinaries(dt, retry.api, paths, join(dir, "archive-retry")),
    ]);
    const overheads: number[] = [];
    const [, retries] = await Promise.all([
      measureModes(main, mainDigests, specs, samples, skipped, auto, overheads),
      measureRetries(retry, retryDigests, specs.flaky, samples, skipped, overheads),
    ]);
    // dt's per-task overhead in this run, from every attempt that ran once: what a retry costs beyond its command.
    // No attempt ran once only when every job failed; each failure is already reported.
    if (overheads.length === 0) return;
    const overhead = median(overheads);
    samples.record("overhead", overhead);
    for (const [key, f] of retries) {
      // What an ideal case retry costs the job: the failed case again, plus what dt adds to any task.
      const target = f.flakyCaseMs + overhead;
      samples.record(`retry target ${key}`, target);
      samples.record(`retry ratio ${key}`, f.retryAddedMs / target);
    }
  } finally {
    await Promise.all([main.stop(), retry.stop()]);
  }
}

const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[values.length >> 1] ?? Number.NaN;
const caseIds = (spec: BinarySpec) => spec.cases.map((c) => `${c.suite}.${c.name}`);

async function measureModes(cluster: Cluster, digests: Map<string, string>, specs: ReturnType<typeof benchBinaries>, samples: Samples, skipped: Skipped, auto: AutoOptions, overheads: number[]): Promise<void> {
  for (const mode of MODES) {
    if (skipped.has(mode.key)) continue;
    if (mode.key === "auto2" && skipped.has("auto1")) {
      skipped.set("auto2", { refused: skipped.get("auto1")!.refused, why: "not run: the 1st auto submit was not measured" });
      continue;
    }
    try {
      await measureMode(cluster, digests, specs, mode, samples, auto, overheads);
    } catch (err) {
      skip(skipped, samples, mode.key, err);
    }
  }
}

/** Notes a mode that was not measured, and why; a failure (not a refusal) also fails the bench's checks. */
function skip(skipped: Skipped, samples: Samples, key: string, err: unknown): void {
  const refused = err instanceof JobRefused;
  const why = refused ? `the master refused the job: ${(err as Error).message}` : `failed: ${(err as Error).message.split("\n", 1)[0]}`;
  skipped.set(key, { refused, why });
  if (refused) console.log(`bench: ${key}: ${why}`);
  else samples.check(false, `${key}: ${why} (not tried again)`);
}

async function measureMode(cluster: Cluster, digests: Map<string, string>, specs: ReturnType<typeof benchBinaries>, mode: (typeof MODES)[number], samples: Samples, auto: AutoOptions, overheads: number[]): Promise<void> {
  const slots = SETUP.slaves * SETUP.slotsPerSlave;
  const description = (spec: BinarySpec) => `${spec.file}-${mode.suffix}`;
  // The dominant binary first: without history the queue runs in submission order.
  const tasks: TaskJson[] = [specs.longtail, ...specs.short].map((spec) => ({
    isolate_hash: digests.get(spec.file)!,
    description: description(spec),
    timeout: SETUP.taskTimeoutSec,
    ...(spec === specs.longtail ? mode.keys(auto) : {}),
  }));
  const job = await runJob(cluster.api, `bench-cases-${mode.key}`, tasks, SETUP.makespanDeadlineMs);
  samples.check(job.summary.counts.succeeded === job.summary.counts.total_tasks, `${mode.key}: ${job.summary.counts.succeeded} of ${job.summary.counts.total_tasks} tasks succeeded`);
  for (const spec of [specs.longtail, ...specs.short]) {
    for (const problem of caseCoverageProblems(job.cases, description(spec), caseIds(spec))) samples.check(false, `${mode.key}: ${problem}`);
  }
  const f = makespanFigures(job, description(specs.longtail), slots);
  const clock = clockProblem(f);
  if (clock) samples.check(false, `${mode.key}: ${clock}`);
  samples.record(`makespan ${mode.key}`, f.makespanMs);
  samples.record(`bound ${mode.key}`, f.lowerBoundMs);
  samples.record(`ratio ${mode.key}`, f.ratio);
  samples.record(`shards ${mode.key}`, f.shards);
  samples.record(`longest shard ${mode.key}`, f.longestShardMs);
  samples.record(`case sum ${mode.key}`, f.caseSumMs);
  samples.record(`longest case ${mode.key}`, f.longestCaseMs);
  overheads.push(...overheadsMs(job.tasks));
}

async function measureRetries(cluster: Cluster, digests: Map<string, string>, flaky: BinarySpec, samples: Samples, skipped: Skipped, overheads: number[]): Promise<Map<RetryKey, RetryFigures>> {
  const flakyCase = flaky.cases.find((c) => c.flaky)!;
  const figures = new Map<RetryKey, RetryFigures>();
  await Promise.all(RETRY_MODES.map(async (mode) => {
    const key = `retry ${mode.key}`;
    if (skipped.has(key)) return;
    const task: TaskJson = { isolate_hash: digests.get(flaky.file)!, description: `${flaky.file}-${mode.key}`, timeout: SETUP.taskTimeoutSec, max_retries: SETUP.maxRetries, ...mode.keys };
    try {
      figures.set(mode.key, await measureRetry(cluster, task, mode.key, `${flakyCase.suite}.${flakyCase.name}`, samples, overheads));
    } catch (err) {
      skip(skipped, samples, key, err);
    }
  }));
  return figures;
}

async function measureRetry(cluster: Cluster, task: TaskJson, key: RetryKey, flakyCase: string, samples: Samples, overheads: number[]): Promise<RetryFigures> {
  const job = await runJob(cluster.api, `bench-retry-${key}`, [task], SETUP.retryDeadlineMs);
  samples.check(job.summary.counts.flaky === 1, `retry ${key}: the flaky task's group is not flaky: ${JSON.stringify(job.summary.counts)}`);
  const f = retryFigures(job, flakyCase);
  const clock = clockProblem(f);
  if (clock) samples.check(false, `retry ${key}: ${clock}`);
  samples.record(`retry command ${key}`, f.retryCommandMs);
  samples.record(`retry lease→report ${key}`, f.retryLeaseToReportMs);
  samples.record(`retry overhead ${key}`, f.retryOverheadMs);
  samples.record(`retry added ${key}`, f.retryAddedMs);
  samples.record(`retry case runs ${key}`, f.retryCaseRuns);
  samples.record(`retry makespan ${key}`, f.makespanMs);
  samples.record("flaky case", f.flakyCaseMs);
  overheads.push(...overheadsMs(job.tasks));
  return f;
}
