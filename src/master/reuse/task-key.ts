import { createHash } from "node:crypto";
import type { Task } from "../model.ts";

/**
 * The version of what a reused result is made of: the attempt's fields, its
 * cases and how they are read. A master whose results mean something else
 * (a new field a view needs, another parser) bumps it, and no key of the
 * old format equals one of the new: results from before are never reused.
 */
export const REUSE_FORMAT = 1;

/** What decides a task's result, and so makes its key. */
export type KeyedTask = Pick<Task, "isolateHash" | "env" | "dimensions" | "timeoutSec" | "shardIndex" | "shardCount" | "caseFilter" | "caseSelection" | "artifactGlobs" | "resultGlobs">;

/**
 * A task's key: the SHA-256 (64 hex digits) of its canonical properties, the
 * inputs its result depends on. The isolated tree (by its hash) holds the
 * command, its files and its relative working directory; the case filter,
 * selection and shard are the arguments and environment the slave adds;
 * the environment, dimensions and timeout are the task's own. The globs are
 * in too: they decide which artifacts and results the run keeps. The
 * description, priority, retries and job are not: they say how to run the
 * task or how to show it, not what it does.
 *
 * Canonical: object keys sorted at every level, so `{a, b}` and `{b, a}`
 * give one key; lists keep their order (a command's arguments do).
 *
 * @example taskKey(task) // "3f0c…" (64 hex digits)
 */
export function taskKey(task: KeyedTask): string {
  const properties = {
    format: REUSE_FORMAT,
    isolate_hash: task.isolateHash,
    env: task.env,
    dimensions: task.dimensions,
    timeout_sec: task.timeoutSec,
    shard: task.shardCount === null ? null : [task.shardIndex, task.shardCount],
    case_filter: task.caseFilter,
    case_selection: task.caseSelection,
    artifact_globs: task.artifactGlobs,
    result_globs: task.resultGlobs,
  };
  return createHash("sha256").update(canonicalJson(properties)).digest("hex");
}

/** JSON with every object's keys sorted; undefined members dropped, as JSON.stringify does. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const entries = Object.keys(value as Record<string, unknown>)
    .sort()
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(",")}}`;
}
