/**
 * Expanding a valid job's `shards: "auto"` tasks into shards planned from
 * their binaries' case history (scheduler/shard-planner.ts). A step of its
 * own after validation, which stays pure: this one reads the database.
 *
 * Shards are tasks `<description>.<i>` with shardIndex / shardCount set as
 * numeric shards have them, so taskBinary() gives the binary and all its
 * shards' cases are one history. An auto shard carries its selection, which
 * the lease renders as the runner's filter; a numeric fallback carries
 * GTEST_SHARD_INDEX / GTEST_TOTAL_SHARDS.
 */
import type { Logger } from "../../common/log.ts";
import { MAX_MATCHED_WILDCARD_CHARS, fitsFilter, gtestFilterMatcher } from "../cases/case-filter.ts";
import type { Task } from "../model.ts";
import type { Repo } from "../repo/repo.ts";
import { DEFAULT_FIRST_RUN_SHARDS, type KnownCase, type PlannedShard, type ShardPlan, planShards } from "../scheduler/shard-planner.ts";
import type { AutoShardSpec, ValidJob } from "./job-request.ts";

type ValidTask = Omit<Task, "jobId">;

/**
 * Bytes of case lists one job's auto shards may store together (JSON in
 * tasks.case_selection): a thousand auto tasks of one 100,000-case binary
 * would otherwise write gigabytes. Half of the job's expanded-text limit;
 * past it, a task's shards are numeric, which store none.
 */
export const MAX_JOB_SELECTION_BYTES = 64 * 2 ** 20;

/** About what a selection takes as JSON: each name with its quotes and keys. */
function selectionBytes(plan: ShardPlan): number {
  if (plan.kind === "numeric") return 0;
  let bytes = 0;
  for (const shard of plan.shards) {
    const list = shard.selection === null ? [] : "include" in shard.selection ? shard.selection.include : shard.selection.exclude;
    for (const c of list) bytes += c.suite.length + c.name.length + 24;
  }
  return bytes;
}

/** The slots that could run a task's shards now: the live slaves' that have its dimensions (SlaveRegistry.liveSlots). */
export type SlotsFor = (dimensions: Record<string, string>) => number;

type HistoryReads = Pick<Repo, "binaryCaseDurations" | "expectedDurations">;

/**
 * `valid` with its auto tasks replaced by their shards and every task
 * numbered again (index, and the task id made from it). Reads each auto
 * binary's history once, and the other tasks' expected durations in one
 * read: a binary's share of the job's work sizes its share of the slots.
 */
export async function expandAutoShards(valid: ValidJob, repo: HistoryReads, log?: Logger, maxSelectionBytes = MAX_JOB_SELECTION_BYTES, slotsFor?: SlotsFor): Promise<ValidJob> {
  if (valid.autoShards.size === 0) return valid;
  const histories = new Map<number, KnownCase[] | null>();
  for (const i of valid.autoShards.keys()) histories.set(i, await caseHistory(valid.tasks[i]!, repo));
  const jobWorkMs = slotsFor ? await expectedJobWork(valid, histories, repo) : 0;
  const out: (ValidTask & { plannedMs: number | null })[] = [];
  let bytes = 0;
  for (const [i, task] of valid.tasks.entries()) {
    const spec = valid.autoShards.get(i);
    if (!spec) {
      out.push({ ...task, plannedMs: null });
      continue;
    }
    const cases = histories.get(i) ?? null;
    const binaryMs = (cases ?? []).reduce((n, c) => n + c.expectedMs, 0);
    // floor: the job's other tasks keep what is left of the slots.
    const poolShards = slotsFor && jobWorkMs > 0 ? Math.floor((slotsFor(task.dimensions) * binaryMs) / jobWorkMs) : 0;
    let plan = await planTask(task, spec, cases, poolShards, repo);
    bytes += selectionBytes(plan);
    if (plan.kind === "cases" && bytes > maxSelectionBytes) {
      bytes -= selectionBytes(plan);
      plan = { kind: "numeric", count: plan.shards.length, reason: `the job's case lists would pass ${maxSelectionBytes} bytes` };
    }
    log?.info(`auto shards of ${task.description}: ${describePlan(plan)}`, { description: task.description });
    out.push(...shardTasks(task, plan));
  }
  const plannedMs = new Map<number, number>();
  // 0 (cases that took no measurable time) says less than the description's history.
  for (const [index, t] of out.entries()) if (t.plannedMs !== null && t.plannedMs > 0) plannedMs.set(index, t.plannedMs);
  return { ...valid, tasks: out.map(({ plannedMs: _, ...t }, index) => ({ ...t, index, taskId: `${t.isolateHash}.${index}` })), autoShards: new Map(), plannedMs };
}

/**
 * The binary's known cases that the task runs (the template is unsharded:
 * its description is its binary). An include list replaces the task's
 * GTEST_FILTER (gtest cannot AND two filters), so it names only the cases
 * the filter runs; the exclusion shard keeps the filter, so the ones it
 * leaves out still run nowhere. null: the filter is too costly to check.
 */
async function caseHistory(task: ValidTask, repo: HistoryReads): Promise<KnownCase[] | null> {
  const cases = await repo.binaryCaseDurations(task.description);
  const userFilter = task.caseFilter === null ? task.env.GTEST_FILTER : undefined;
  if (userFilter === undefined || cases.length === 0) return cases;
  const runs = gtestFilterMatcher(userFilter);
  return runs === null ? null : cases.filter(runs);
}

/** What the job's tasks are expected to take together: the auto binaries' known cases, the others' duration history (unknown: 0). */
async function expectedJobWork(valid: ValidJob, histories: ReadonlyMap<number, KnownCase[] | null>, repo: HistoryReads): Promise<number> {
  const others = valid.tasks.filter((_, i) => !histories.has(i)).map((t) => t.description);
  const expected = others.length > 0 ? await repo.expectedDurations([...new Set(others)]) : new Map<string, number>();
  let ms = 0;
  for (const [i, task] of valid.tasks.entries()) {
    const history = histories.get(i);
    ms += history === undefined ? (expected.get(task.description) ?? 0) : (history ?? []).reduce((n, c) => n + c.expectedMs, 0);
  }
  return ms;
}

async function planTask(task: ValidTask, spec: AutoShardSpec, cases: KnownCase[] | null, poolShards: number, repo: HistoryReads): Promise<ShardPlan> {
  if (cases === null) return { kind: "numeric", count: Math.min(spec.maxShards, DEFAULT_FIRST_RUN_SHARDS), reason: `the task's GTEST_FILTER has more than ${MAX_MATCHED_WILDCARD_CHARS} characters of wildcard patterns to check its cases against` };
  const wholeTaskMs = cases.length > 0 ? null : ((await repo.expectedDurations([task.description])).get(task.description) ?? null);
  return planShards({ cases, targetMs: spec.targetMs, maxShards: spec.maxShards, wholeTaskMs, poolShards, fits: (selection) => fitsFilter(task.caseFilter, selection, task.env) });
}

/** A plan's one-line summary, for the submit's log. */
function describePlan(plan: ShardPlan): string {
  if (plan.kind === "numeric") return `${plan.count} numeric shards (${plan.reason})`;
  const cases = plan.shards.reduce((n, s) => n + s.cases, 0);
  const longest = Math.max(...plan.shards.map((s) => s.expectedMs));
  return `${plan.shards.length} shards over ${cases} known cases, the longest expected to take ${(longest / 1000).toFixed(1)} s`;
}

/**
 * The tasks of a plan. Numeric sharding exists only for googletest (the
 * GTEST_SHARD_INDEX variables); another runner's task without a usable plan
 * runs whole, once, and its cases become the history.
 */
function shardTasks(task: ValidTask, plan: ShardPlan): (ValidTask & { plannedMs: number | null })[] {
  if (plan.kind === "numeric") {
    const count = task.caseFilter === null ? plan.count : 1;
    if (count === 1) return [{ ...task, plannedMs: null }];
    return Array.from({ length: count }, (_, shard) => ({
      ...task,
      description: `${task.description}.${shard}`,
      env: { ...task.env, GTEST_SHARD_INDEX: String(shard), GTEST_TOTAL_SHARDS: String(count) },
      shardIndex: shard,
      shardCount: count,
      plannedMs: null,
    }));
  }
  if (plan.shards.length === 1) return [{ ...task, plannedMs: plan.shards[0]!.expectedMs }];
  return plan.shards.map((shard: PlannedShard, index) => ({
    ...task,
    description: `${task.description}.${index}`,
    shardIndex: index,
    shardCount: plan.shards.length,
    caseSelection: shard.selection,
    plannedMs: shard.expectedMs,
  }));
}
