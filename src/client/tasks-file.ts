import { readFileSync } from "node:fs";
import { DtError, errnoCode } from "../common/errors.ts";
import type { TaskRequest } from "../master/protocol.ts";

/** dist_test's description column was varchar(100); the master keeps the limit. */
export const MAX_DESCRIPTION_LENGTH = 100;

const KNOWN_KEYS = new Set(["isolate_hash", "description", "timeout", "max_retries", "artifact_archive_globs", "env", "dimensions", "priority", "shards"]);

export interface TasksFile {
  tasks: TaskRequest[];
  /** Keys dt does not know (dist_test's docker_image, …): left out of the request, as dist_test ignored them. */
  ignoredKeys: string[];
}

/** Reads a `{"tasks": [...]}` file, dist_test's task JSON with dt's extra keys. */
export function readTasksFile(path: string): TasksFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if (errnoCode(err) === "ENOENT") throw new DtError("not_found", `task file ${path} does not exist`);
    throw new DtError("invalid_input", `cannot read task file ${path}: ${(err as Error).message}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new DtError("invalid_input", `task file ${path} is not valid JSON (${(err as Error).message})`);
  }
  return parseTasks(json, path);
}

export function parseTasks(json: unknown, source: string): TasksFile {
  const list = (json as { tasks?: unknown } | null)?.tasks;
  if (typeof json !== "object" || json === null || !Array.isArray(list)) throw new DtError("invalid_input", `${source}: expected an object {"tasks": [...]}`);
  if (list.length === 0) throw new DtError("invalid_input", `${source}: "tasks" is empty; a job needs at least one task`);
  const ignored = new Set<string>();
  const tasks = list.map((raw, i) => {
    const where = `${source}: tasks[${i}]`;
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new DtError("invalid_input", `${where} is not an object`);
    const t = raw as Record<string, unknown>;
    for (const key of Object.keys(t)) if (!KNOWN_KEYS.has(key)) ignored.add(key);
    const task: TaskRequest = {
      isolate_hash: requireString(t.isolate_hash, `${where}.isolate_hash`),
      description: requireString(t.description, `${where}.description`),
    };
    if (task.description.length > MAX_DESCRIPTION_LENGTH) throw new DtError("invalid_input", `${where}.description is ${task.description.length} characters, more than ${MAX_DESCRIPTION_LENGTH}`);
    if (t.timeout !== undefined) task.timeout = nonNegative(t.timeout, `${where}.timeout`, false);
    if (t.max_retries !== undefined) task.max_retries = nonNegative(t.max_retries, `${where}.max_retries`, true);
    if (t.artifact_archive_globs !== undefined) task.artifact_archive_globs = stringList(t.artifact_archive_globs, `${where}.artifact_archive_globs`);
    if (t.env !== undefined) task.env = stringMap(t.env, `${where}.env`);
    if (t.dimensions !== undefined) task.dimensions = stringMap(t.dimensions, `${where}.dimensions`);
    if (t.priority !== undefined) task.priority = integer(t.priority, `${where}.priority`);
    if (t.shards !== undefined) {
      task.shards = nonNegative(t.shards, `${where}.shards`, true);
      if (task.shards < 1) throw new DtError("invalid_input", `${where}.shards must be at least 1`);
    }
    return task;
  });
  return { tasks, ignoredKeys: [...ignored].sort() };
}

function requireString(value: unknown, what: string): string {
  if (typeof value !== "string" || value === "") throw new DtError("invalid_input", `${what} must be a non-empty string, got ${JSON.stringify(value)?.slice(0, 80)}`);
  return value;
}

function integer(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value)) throw new DtError("invalid_input", `${what} must be an integer, got ${JSON.stringify(value)?.slice(0, 40)}`);
  return value;
}

function nonNegative(value: unknown, what: string, wholeNumber: boolean): number {
  const ok = typeof value === "number" && Number.isFinite(value) && value >= 0 && (!wholeNumber || Number.isSafeInteger(value));
  if (!ok) throw new DtError("invalid_input", `${what} must be a non-negative ${wholeNumber ? "integer" : "number"}, got ${JSON.stringify(value)?.slice(0, 40)}`);
  return value as number;
}

function stringList(value: unknown, what: string): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) throw new DtError("invalid_input", `${what} must be a list of strings`);
  return value as string[];
}

function stringMap(value: unknown, what: string): Record<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value) || Object.values(value).some((v) => typeof v !== "string")) {
    throw new DtError("invalid_input", `${what} must be an object of string values`);
  }
  return value as Record<string, string>;
}
