import { DtError } from "../../common/errors.ts";
import { isHash } from "../../isolate/digest.ts";
import type { Task } from "../model.ts";
import type { JobRequest, TaskRequest } from "../protocol.ts";

/** Bounds on what one job may ask for; each with why. */
export const JOB_LIMITS = {
  /** Kudu caps its jobs at 10,000; a 100,000-task job is benchmarked. */
  maxTasks: 200_000,
  /** dist_test stored 100 characters; 255 is what both databases key duration history by. */
  maxDescription: 255,
  maxGlobs: 100,
  maxGlobLength: 1_000,
  /** Environment of one task, keys and values together. */
  maxEnvBytes: 64 * 1024,
  maxDimensions: 32,
  maxShards: 10_000,
  maxRetries: 100,
  /** A week: longer is a mistake, not a test. */
  maxTimeoutSec: 7 * 86_400,
} as const;

/** dist_test's job ids: `[NAME.]<user>.<unix_ts>.<pid>`; safe in file names, URLs and keys. */
const JOB_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
const NAME_RE = /^[A-Za-z0-9._-]{1,100}$/;
/** A user name fits the database's 64 characters. */
const USER_RE = /^[A-Za-z0-9._-]{1,64}$/;

/** A job request checked and normalized; nothing about it is trusted before this. */
export interface ValidJob {
  jobId: string | undefined;
  name: string | null;
  user: string | undefined;
  priority: number;
  /** Tasks after shard expansion, without job id. */
  tasks: Omit<Task, "jobId">[];
}

function fail(field: string, problem: string): never {
  throw new DtError("invalid_input", `${field}: ${problem}`);
}

function integer(value: unknown, field: string, min: number, max: number, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) fail(field, `must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  return value;
}

function stringMap(value: unknown, field: string, maxEntries: number): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) fail(field, "must be an object of string values");
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > maxEntries) fail(field, `has ${entries.length} entries; at most ${maxEntries}`);
  // No prototype: a key such as __proto__ is kept as the key it is, not dropped.
  const out: Record<string, string> = Object.create(null);
  for (const [k, v] of entries) {
    if (typeof v !== "string") fail(`${field}.${k}`, "must be a string");
    if (k === "" || k.includes("\0") || v.includes("\0")) fail(`${field}.${k}`, "keys must be non-empty and neither may contain NUL");
    out[k] = v;
  }
  return out;
}

function taskFields(raw: unknown, field: string) {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) fail(field, "must be an object");
  const t = raw as Record<keyof TaskRequest, unknown>;
  if (!isHash(t.isolate_hash)) fail(`${field}.isolate_hash`, "must be the 64-hex-digit SHA-256 digest that dt archive printed");
  if (typeof t.description !== "string" || t.description === "") fail(`${field}.description`, "must be a non-empty string");
  if (t.description.length > JOB_LIMITS.maxDescription) fail(`${field}.description`, `is longer than ${JOB_LIMITS.maxDescription} characters`);
  const globs = t.artifact_archive_globs ?? [];
  if (!Array.isArray(globs) || !globs.every((g) => typeof g === "string" && g.length > 0 && g.length <= JOB_LIMITS.maxGlobLength)) {
    fail(`${field}.artifact_archive_globs`, `must be a list of non-empty strings of at most ${JOB_LIMITS.maxGlobLength} characters`);
  }
  if (globs.length > JOB_LIMITS.maxGlobs) fail(`${field}.artifact_archive_globs`, `has ${globs.length} globs; at most ${JOB_LIMITS.maxGlobs}`);
  const env = stringMap(t.env, `${field}.env`, 10_000);
  const envBytes = Object.entries(env).reduce((n, [k, v]) => n + k.length + v.length, 0);
  if (envBytes > JOB_LIMITS.maxEnvBytes) fail(`${field}.env`, `is ${envBytes} bytes; at most ${JOB_LIMITS.maxEnvBytes}`);
  const timeout = t.timeout ?? 0;
  if (typeof timeout !== "number" || !Number.isInteger(timeout) || timeout < 0 || timeout > JOB_LIMITS.maxTimeoutSec) {
    fail(`${field}.timeout`, `must be a whole number of seconds from 0 (none) to ${JOB_LIMITS.maxTimeoutSec}`);
  }
  return {
    isolateHash: t.isolate_hash,
    description: t.description,
    timeoutSec: timeout,
    maxRetries: integer(t.max_retries, `${field}.max_retries`, 0, JOB_LIMITS.maxRetries, 0),
    artifactGlobs: globs as string[],
    env,
    dimensions: stringMap(t.dimensions, `${field}.dimensions`, JOB_LIMITS.maxDimensions),
    priority: integer(t.priority, `${field}.priority`, -1000, 1000, 0),
    shards: integer(t.shards, `${field}.shards`, 1, JOB_LIMITS.maxShards, 1),
  };
}

/**
 * Checks an untrusted job request: a 400 naming the field for anything
 * wrong, before anything is stored. Expands `shards: N` into N tasks with
 * GTEST_SHARD_INDEX / GTEST_TOTAL_SHARDS and descriptions `<description>.<i>`
 * (Swarming's test sharding; Kudu names its shards the same way).
 */
export function validateJobRequest(raw: unknown): ValidJob {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) fail("job", 'must be an object {"tasks": [...]}');
  const r = raw as Record<keyof JobRequest, unknown>;
  if (r.job_id !== undefined && (typeof r.job_id !== "string" || !JOB_ID_RE.test(r.job_id))) {
    fail("job_id", "must be 1-100 characters of letters, digits, '.', '_' or '-', starting with a letter or digit");
  }
  if (r.name !== undefined && r.name !== null && (typeof r.name !== "string" || !NAME_RE.test(r.name))) fail("name", "must be 1-100 characters of letters, digits, '.', '_' or '-'");
  if (r.user !== undefined && (typeof r.user !== "string" || !USER_RE.test(r.user))) fail("user", "must be 1-64 characters of letters, digits, '.', '_' or '-'");
  if (!Array.isArray(r.tasks) || r.tasks.length === 0) fail("tasks", "must be a non-empty list");
  if (r.tasks.length > JOB_LIMITS.maxTasks) fail("tasks", `has ${r.tasks.length} tasks; at most ${JOB_LIMITS.maxTasks} per job`);
  const tasks: Omit<Task, "jobId">[] = [];
  for (const [i, rawTask] of r.tasks.entries()) {
    const { shards, ...t } = taskFields(rawTask, `tasks[${i}]`);
    for (let shard = 0; shard < shards; shard++) {
      const index = tasks.length;
      if (index >= JOB_LIMITS.maxTasks) fail("tasks", `expand to more than ${JOB_LIMITS.maxTasks} tasks with their shards`);
      const sharded = shards > 1;
      tasks.push({
        ...t,
        taskId: `${t.isolateHash}.${index}`,
        index,
        description: sharded ? `${t.description}.${shard}` : t.description,
        env: sharded ? { ...t.env, GTEST_SHARD_INDEX: String(shard), GTEST_TOTAL_SHARDS: String(shards) } : t.env,
      });
    }
  }
  return {
    jobId: r.job_id as string | undefined,
    name: (r.name as string | null | undefined) ?? null,
    user: r.user as string | undefined,
    priority: integer(r.priority, "priority", -1000, 1000, 0),
    tasks,
  };
}
