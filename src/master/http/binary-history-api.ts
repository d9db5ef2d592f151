/**
 * GET tests/binary_history: a test binary's latest runs over jobs, each one
 * job's task of the binary (or its shards) with their attempts, states and
 * times (BinaryHistory). The `/tests/binary_history` page shows the same.
 * Checked as the other test reads are: an unknown or malformed parameter is
 * a 400 naming it.
 */
import { Hono } from "hono";
import type { BinaryRunRows } from "../jobs/binary-history.ts";
import { groupState } from "../jobs/status.ts";
import type { Master } from "../master.ts";
import type { Attempt } from "../model.ts";
import type { BinaryHistory, BinaryRun, BinaryRunState, GroupState } from "../protocol.ts";
import type { Repo } from "../repo/repo.ts";
import { checkKnown, limitOf, required } from "./case-api.ts";

/** Runs of one answer: the last 20 by default (a month of nightly jobs at a glance), 200 at most. */
export const BINARY_HISTORY_PAGE = { default: 20, max: 200 } as const;
/**
 * Tasks one answer reads at most over its runs (each with its attempts):
 * 20 runs of a binary of 500 shards. A binary of 10,000 shards (the most a
 * task may have) shows its latest run alone, and one bigger than that (the
 * same description given to more tasks) the first 10,000 of its tasks.
 */
export const BINARY_HISTORY_MAX_TASKS = 10_000;
/** A task's description, which names a binary, is at most 255 characters. */
const MAX_BINARY_CHARS = 255;

/** Time on a slave, lease to report (to `now` while it runs); null before a slave took it. */
function attemptMs(a: Attempt, now: number): number | null {
  return a.leasedAt === null ? null : Math.max(0, (a.reportedAt ?? now) - a.leasedAt);
}

/** The run's state from its tasks' (see BinaryRunState). */
export function runState(groups: readonly GroupState[]): BinaryRunState {
  if (groups.includes("failed")) return "failed";
  if (groups.some((g) => g === "queued" || g === "running" || g === "retrying")) return groups.every((g) => g === "queued") ? "queued" : "running";
  if (groups.includes("canceled")) return "canceled";
  if (groups.includes("flaky")) return "flaky";
  if (groups.includes("quarantined")) return "quarantined";
  return "succeeded";
}

/** One run as the API shows it, its times as of `now`. */
export function binaryRunView({ job, tasks, complete }: BinaryRunRows, now: number): BinaryRun {
  let firstLease = Number.POSITIVE_INFINITY;
  let lastEnd = Number.NEGATIVE_INFINITY;
  let attempts = 0;
  const views = tasks.map(({ task, attempts: group }) => {
    for (const a of group) {
      attempts++;
      if (a.leasedAt === null) continue;
      firstLease = Math.min(firstLease, a.leasedAt);
      lastEnd = Math.max(lastEnd, a.reportedAt ?? now);
    }
    return {
      task_id: task.taskId, description: task.description, shard_index: task.shardIndex, shard_count: task.shardCount,
      // Every task is stored with its first attempt; a task without one (never seen) reads as queued.
      group: group.length === 0 ? ("queued" as const) : groupState(group, job),
      attempts: group.map((a) => ({ attempt: a.attempt, state: a.state, slave: a.slave, exit_code: a.exitCode, duration_ms: attemptMs(a, now), reported_at: a.reportedAt })),
    };
  });
  return {
    job_id: job.id, user: job.user, job_name: job.name, created_at: job.createdAt, state: runState(views.map((t) => t.group)),
    duration_ms: firstLease === Number.POSITIVE_INFINITY ? null : Math.max(0, lastEnd - firstLease), attempts, tasks: views, complete,
  };
}

/** GET tests/binary_history's answer to `query` (binary, limit), checked as the API checks it; the page shows the same. */
export async function binaryHistory(repo: Repo, query: Record<string, string>, now: number): Promise<BinaryHistory> {
  checkKnown(query, ["binary", "limit"]);
  const binary = required(query.binary, "binary", MAX_BINARY_CHARS);
  const rows = await repo.binaryHistory(binary, { limit: limitOf(query.limit, BINARY_HISTORY_PAGE), maxTasks: BINARY_HISTORY_MAX_TASKS });
  return { binary, runs: rows.runs.map((r) => binaryRunView(r, now)), truncated: rows.truncated };
}

/** GET tests/binary_history, to mount under /api/v1. */
export function binaryHistoryRoutes(master: Master): Hono {
  const app = new Hono();
  app.get("/tests/binary_history", async (c) => c.json(await binaryHistory(master.deps.repo, c.req.query(), master.deps.clock.now())));
  return app;
}
