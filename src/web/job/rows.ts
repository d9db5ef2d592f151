/**
 * The job page's rows: one per task, a sharded binary one row with its
 * shards inside. What a row needs to be counted, filtered and sorted is
 * kept small (a 100,000-task job's rows stay a few MB); the attempts and
 * links of the rows a page shows are read apart (page-data.ts).
 */
import type { AttemptHead, AttemptState, Job } from "../../master/model.ts";
import type { TaskHeadRow } from "../../master/repo/repo.ts";
import { taskBinary } from "../../master/model.ts";
import { groupState } from "../../master/jobs/status.ts";
import type { GroupState } from "../../master/protocol.ts";

/** What a task is called and where it sits: read once per job, since a task never changes after submit. */
export interface TaskHead {
  index: number;
  taskId: string;
  /** The description without a shard's suffix: a sharded binary's shards share it. */
  binary: string;
  shardIndex: number | null;
  shardCount: number | null;
}

export function taskHead(t: TaskHeadRow): TaskHead {
  return { index: t.index, taskId: t.taskId, binary: taskBinary(t), shardIndex: t.shardIndex, shardCount: t.shardCount };
}

/**
 * Where a row stands, in the page's words. A sharded row takes the most
 * pressing of its shards' states: one failed shard fails the binary.
 * "passed" is GroupState's succeeded.
 */
export type RowState = "failed" | "canceled" | "flaky" | "retrying" | "running" | "queued" | "quarantined" | "passed";

/** The order of the page's default sort, and of a sharded row's pick among its shards' states: what needs a reader first. */
export const ROW_STATE_ORDER: readonly RowState[] = ["failed", "canceled", "flaky", "retrying", "running", "queued", "quarantined", "passed"];
const RANK = new Map(ROW_STATE_ORDER.map((s, i) => [s, i]));
export const stateRank = (s: RowState) => RANK.get(s)!;

const ROW_STATE: Record<GroupState, RowState> = {
  failed: "failed", canceled: "canceled", flaky: "flaky", retrying: "retrying", running: "running", queued: "queued", quarantined: "quarantined", succeeded: "passed",
};

/** Attempts that ended for a reason other than the test: the infrastructure's losses, shown apart from failures. */
export const LOST_STATES: ReadonlySet<AttemptState> = new Set(["SLAVE_LOST", "INFRA_FAILED", "NO_RESOURCE"]);

export interface JobRow {
  /** The binary for a sharded row, the task id for another: stable across views, so an opened row stays open. */
  key: string;
  name: string;
  /** The row's tasks' indexes: its shards by shard index, or its one task. */
  indexes: number[];
  /** Each shard's state, beside `indexes`; one entry for a task that is not sharded. */
  states: RowState[];
  /** A sharded binary's shard count; null for a task that is not sharded. */
  shards: number | null;
  state: RowState;
  /** Epoch ms the latest attempt of the row's longest task took a slave, when one still runs: the page adds the time since. */
  runningSince: number | null;
  /** The longest of its tasks' latest attempts on a slave, ended ones only; running ones count from runningSince. */
  durationMs: number | null;
  attempts: number;
  /** Its attempts lost to the infrastructure (LOST_STATES). */
  lost: number;
  /** An attempt timed out: dist_test's `timedout` filter. */
  timedOut: boolean;
  /**
   * Every one of its tasks is in a final state. Not the same as `state`
   * being final: a sharded row with a failed shard is failed while its
   * other shards still run, and the job is not finished.
   */
  done: boolean;
}

const UNFINISHED: ReadonlySet<RowState> = new Set(["running", "retrying", "queued"]);

/** The time a task's latest attempt spent on a slave: ended, or running since. */
function latestRun(group: readonly AttemptHead[]): { ms: number | null; since: number | null } {
  const last = group[group.length - 1];
  if (!last || last.leasedAt === null) return { ms: null, since: null };
  return last.reportedAt === null ? { ms: null, since: last.leasedAt } : { ms: last.reportedAt - last.leasedAt, since: null };
}

/**
 * The job's rows, by first task index: tasks grouped by binary when they
 * are shards of one, each row's state, duration and counts from its
 * tasks' attempts (`groups`, by task id, oldest first).
 */
export function buildRows(heads: readonly TaskHead[], groups: ReadonlyMap<string, readonly AttemptHead[]>, job: Pick<Job, "canceledAt">): JobRow[] {
  const rows: JobRow[] = [];
  const sharded = new Map<string, JobRow>();
  for (const head of heads) {
    const group = groups.get(head.taskId) ?? [];
    const state = group.length === 0 ? "queued" : ROW_STATE[groupState(group, job)];
    const run = latestRun(group);
    const part: JobRow = {
      key: head.taskId, name: head.binary, indexes: [head.index], states: [state], shards: null, state, runningSince: run.since, durationMs: run.ms,
      attempts: group.length, lost: group.filter((a) => LOST_STATES.has(a.state)).length, timedOut: group.some((a) => a.state === "TIMED_OUT"),
      done: !UNFINISHED.has(state),
    };
    if (head.shardCount === null) {
      rows.push(part);
      continue;
    }
    const row = sharded.get(head.binary);
    if (!row) {
      const first = { ...part, key: `binary:${head.binary}`, shards: head.shardCount };
      sharded.set(head.binary, first);
      rows.push(first);
      continue;
    }
    mergeShard(row, part);
  }
  return rows;
}

/** Adds one shard to its binary's row: the most pressing state, the longest run, the sums. */
function mergeShard(row: JobRow, shard: JobRow): void {
  row.indexes.push(...shard.indexes);
  row.states.push(...shard.states);
  if (stateRank(shard.state) < stateRank(row.state)) row.state = shard.state;
  if (shard.durationMs !== null && (row.durationMs === null || shard.durationMs > row.durationMs)) row.durationMs = shard.durationMs;
  if (shard.runningSince !== null && (row.runningSince === null || shard.runningSince < row.runningSince)) row.runningSince = shard.runningSince;
  row.attempts += shard.attempts;
  row.lost += shard.lost;
  row.timedOut ||= shard.timedOut;
  row.done &&= shard.done;
}

/** A row's time on slaves as of `now`: its longest ended run, or its oldest running one, whichever is longer. */
export function rowDurationMs(row: JobRow, now: number): number | null {
  const running = row.runningSince === null ? null : Math.max(0, now - row.runningSince);
  if (running === null) return row.durationMs;
  return row.durationMs === null ? running : Math.max(running, row.durationMs);
}

/** Shards a row shows at most: a binary split a thousand ways stays one row of a page under a megabyte. */
export const MAX_SHOWN_SHARDS = 20;

/** The tasks a row shows: its one task, or its first MAX_SHOWN_SHARDS shards by what needs a reader first (failed before passed), in shard order. */
export function shownIndexes(row: JobRow): number[] {
  if (row.indexes.length <= MAX_SHOWN_SHARDS) return row.indexes;
  const order = row.indexes.map((index, i) => ({ index, rank: stateRank(row.states[i]!) }));
  order.sort((a, b) => a.rank - b.rank || a.index - b.index);
  return order.slice(0, MAX_SHOWN_SHARDS).map((o) => o.index).sort((a, b) => a - b);
}

/** How many rows are in each state: the progress bar's parts. */
export function countStates(rows: readonly JobRow[]): Record<RowState, number> {
  const counts = Object.fromEntries(ROW_STATE_ORDER.map((s) => [s, 0])) as Record<RowState, number>;
  for (const row of rows) counts[row.state]++;
  return counts;
}
