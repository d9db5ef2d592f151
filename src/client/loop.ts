import { existsSync } from "node:fs";
import { DtError } from "../common/errors.ts";
import { isHash } from "../isolate/digest.ts";
import type { JobSummary, TaskRequest } from "../master/protocol.ts";
import { MAX_DESCRIPTION_LENGTH, readTasksFile } from "./tasks-file.ts";

/** Kudu's dist_test.py refused jobs of more than 10,000 tasks; a loop is one job. */
export const MAX_LOOP_COUNT = 10_000;

export interface LoopOverrides {
  maxRetries?: number;
  timeout?: number;
  description?: string;
}

/**
 * The task a loop repeats: the one task of a tasks.json file, or a bare
 * manifest digest (as `dt archive` printed it), with the overrides applied.
 */
export function loopBaseTask(target: string, overrides: LoopOverrides): { task: TaskRequest; ignoredKeys: string[] } {
  let task: TaskRequest;
  let ignoredKeys: string[] = [];
  if (isHash(target) && !existsSync(target)) {
    task = { isolate_hash: target, description: overrides.description ?? target.slice(0, 12) };
  } else {
    const file = readTasksFile(target);
    if (file.tasks.length !== 1) throw new DtError("invalid_input", `${target} holds ${file.tasks.length} tasks; dt loop repeats exactly one`);
    task = { ...file.tasks[0]! };
    ignoredKeys = file.ignoredKeys;
  }
  // A loop measures how often the task fails: every copy must run, not take the first one's (or an earlier job's) result.
  delete task.idempotent;
  if (overrides.description !== undefined) task.description = overrides.description;
  if (overrides.maxRetries !== undefined) task.max_retries = overrides.maxRetries;
  if (overrides.timeout !== undefined) task.timeout = overrides.timeout;
  return { task, ignoredKeys };
}

/** `count` copies of `task`, described `<description>.<i>` from 0, so each run has its own row and logs. */
export function loopTasks(task: TaskRequest, count: number): TaskRequest[] {
  if (!Number.isSafeInteger(count) || count < 1 || count > MAX_LOOP_COUNT) throw new DtError("invalid_input", `-n must be a whole number from 1 to ${MAX_LOOP_COUNT}, got ${count}`);
  const longest = `${task.description}.${count - 1}`;
  if (longest.length > MAX_DESCRIPTION_LENGTH) {
    throw new DtError("invalid_input", `description ${JSON.stringify(longest)} would be longer than ${MAX_DESCRIPTION_LENGTH} characters; pass a shorter --description`);
  }
  return Array.from({ length: count }, (_, i) => ({ ...task, description: `${task.description}.${i}` }));
}

/** `3 of 100 failed`, with flaky and canceled runs when there were any. */
export function loopResultLine(summary: JobSummary): string {
  const c = summary.counts;
  let line = `${c.failed} of ${c.total_tasks} failed`;
  if (c.flaky > 0) line += ` (${c.flaky} flaky: failed, then passed on retry)`;
  if (c.canceled > 0) line += ` (${c.canceled} canceled)`;
  return line;
}
