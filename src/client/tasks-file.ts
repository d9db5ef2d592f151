import { readFileSync } from "node:fs";
import { DtError, errnoCode, isDtError } from "../common/errors.ts";
import { parseStrictJson } from "../common/strict-json.ts";
import { TASK_KEYS, checkKnownKeys, validateJobRequest } from "../master/jobs/job-request.ts";
import type { TaskRequest } from "../master/protocol.ts";

/** dist_test's description column was varchar(100); the master keeps the limit. */
export const MAX_DESCRIPTION_LENGTH = 100;

/** dist_test's keys that dt accepts and does not use (the master takes them too); left out of the request. */
const UNUSED_KEYS: ReadonlySet<string> = new Set(["docker_image", "attempt"]);

export interface TasksFile {
  tasks: TaskRequest[];
  /** dist_test's keys dt accepts and does not use (docker_image, attempt): left out of the request. */
  ignoredKeys: string[];
}

/**
 * A tasks file's JSON, strictly: a byte order mark dropped, a key given twice
 * refused, a syntax error named `file:line:column` with the line shown.
 */
export function readTasksJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if (errnoCode(err) === "ENOENT") throw new DtError("not_found", `task file ${path} does not exist`);
    throw new DtError("invalid_input", `cannot read task file ${path}: ${(err as Error).message}`, { cause: err });
  }
  return parseStrictJson(text, { what: `task file ${path}`, file: path });
}

/** The `{"tasks": [...]}` list of a tasks file, each task an object whose keys dt knows (`extraKeys` too). */
export function taskObjects(json: unknown, source: string, extraKeys: readonly string[] = []): Record<string, unknown>[] {
  const list = (json as { tasks?: unknown } | null)?.tasks;
  if (typeof json !== "object" || json === null || Array.isArray(json) || !Array.isArray(list)) throw new DtError("invalid_input", `${source}: expected an object {"tasks": [...]}`);
  // A job's own settings come from flags (-n, --priority); one written beside "tasks" would be dropped unseen.
  const other = Object.keys(json).find((k) => k !== "tasks");
  if (other !== undefined) {
    throw new DtError("invalid_input", `${source}: ${JSON.stringify(other)} is not read from a tasks file, which holds only {"tasks": [...]}; give a job's name and priority with -n and --priority`);
  }
  if (list.length === 0) throw new DtError("invalid_input", `${source}: "tasks" is empty; a job needs at least one task`);
  const known = new Set([...TASK_KEYS, ...extraKeys]);
  return list.map((raw, i) => {
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new DtError("invalid_input", `${source}: tasks[${i}] is not an object`);
    checkKnownKeys(raw as Record<string, unknown>, known, `${source}: tasks[${i}]`);
    return raw as Record<string, unknown>;
  });
}

/** Reads a `{"tasks": [...]}` file, dist_test's task JSON with dt's extra keys. */
export function readTasksFile(path: string): TasksFile {
  return parseTasks(readTasksJson(path), path);
}

/**
 * The tasks of a tasks file, checked as the master checks a job (a key it
 * does not know is refused, with a guess), so a mistake is found before
 * anything is archived or sent.
 */
export function parseTasks(json: unknown, source: string): TasksFile {
  const list = taskObjects(json, source);
  const ignored = new Set<string>();
  const tasks = list.map((t, i) => {
    const where = `${source}: tasks[${i}]`;
    for (const key of Object.keys(t)) if (UNUSED_KEYS.has(key)) ignored.add(key);
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
  checkAsMaster(tasks, source);
  return { tasks, ignoredKeys: [...ignored].sort() };
}

/** The warning for dist_test's keys that a tasks file may hold and dt does not use. */
export function ignoredKeysWarning(source: string, keys: readonly string[]): string {
  return `${source}: ignoring dist_test's task keys ${keys.join(", ")} (dt accepts them and does not use them)`;
}

/** The master's own checks (limits, globs, text), so that what it would refuse is refused here, naming the file. */
function checkAsMaster(tasks: TaskRequest[], source: string): void {
  try {
    validateJobRequest({ tasks });
  } catch (err) {
    if (isDtError(err, "invalid_input")) throw new DtError("invalid_input", `${source}: ${err.message}`, { cause: err });
    throw err;
  }
}

function requireString(value: unknown, what: string): string {
  if (typeof value !== "string" || value === "") throw new DtError("invalid_input", `${what} must be a non-empty string, got ${JSON.stringify(value)?.slice(0, 80)}`);
  return value;
}

function integer(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value)) throw new DtError("invalid_input", `${what} must be an integer, got ${JSON.stringify(value)?.slice(0, 40)}`);
  // JSON's -0 is zero.
  return value + 0;
}

function nonNegative(value: unknown, what: string, wholeNumber: boolean): number {
  const ok = typeof value === "number" && Number.isFinite(value) && value >= 0 && (!wholeNumber || Number.isSafeInteger(value));
  if (!ok) throw new DtError("invalid_input", `${what} must be a non-negative ${wholeNumber ? "integer" : "number"}, got ${JSON.stringify(value)?.slice(0, 40)}`);
  return (value as number) + 0;
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
