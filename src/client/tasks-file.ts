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
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    if (errnoCode(err) === "ENOENT") throw new DtError("not_found", `task file ${path} does not exist`);
    throw new DtError("invalid_input", `cannot read task file ${path}: ${(err as Error).message}`, { cause: err });
  }
  return parseStrictJson(utf8Text(bytes, path), { what: `task file ${path}`, file: path });
}

/**
 * A tasks file's text, which JSON requires to be UTF-8 (RFC 8259). Read
 * leniently, a file saved as UTF-16 (PowerShell's `>` writes it) was a syntax
 * error about a character the user never typed, and one in Latin-1 had each
 * é replaced by U+FFFD in its descriptions, the keys of the tests' history.
 */
function utf8Text(bytes: Uint8Array, path: string): string {
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    throw new DtError("invalid_input", `task file ${path} is UTF-16 (it starts with a UTF-16 byte order mark); save it as UTF-8`);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    const line = bytes.subarray(0, at).filter((b) => b === 10).length + 1;
    throw new DtError("invalid_input", `task file ${path}:${line}: byte ${at} (0x${(bytes[at] ?? 0).toString(16).padStart(2, "0")}) is not UTF-8; save the file as UTF-8`);
  }
}

/**
 * Offset of the first byte that does not begin or continue a well-formed
 * UTF-8 sequence (Unicode's table 3-7: no overlong forms, no surrogates,
 * nothing past U+10FFFF); `bytes.length` when there is none. Called once
 * the decoder has refused the bytes, to say where.
 *
 * @example firstInvalidUtf8(new Uint8Array([0x63, 0x61, 0x66, 0xe9])) === 3 // "café" in Latin-1
 */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  const inRange = (at: number, low: number, high: number) => at < bytes.length && bytes[at]! >= low && bytes[at]! <= high;
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    // The range of the second byte, which rules out overlong forms and surrogates; the rest are 80..BF.
    const [length, low, high] =
      b >= 0xc2 && b <= 0xdf ? [2, 0x80, 0xbf]
      : b === 0xe0 ? [3, 0xa0, 0xbf]
      : b === 0xed ? [3, 0x80, 0x9f]
      : b >= 0xe1 && b <= 0xef ? [3, 0x80, 0xbf]
      : b === 0xf0 ? [4, 0x90, 0xbf]
      : b === 0xf4 ? [4, 0x80, 0x8f]
      : b >= 0xf1 && b <= 0xf3 ? [4, 0x80, 0xbf]
      : [0, 0, 0];
    if (length === 0 || !inRange(i + 1, low, high)) return i;
    for (let k = 2; k < length; k++) if (!inRange(i + k, 0x80, 0xbf)) return i;
    i += length;
  }
  return bytes.length;
}

/** The `{"tasks": [...]}` list of a tasks file, each task an object whose keys dt knows (`extraKeys` too). */
export function taskObjects(json: unknown, source: string, extraKeys: readonly string[] = []): Record<string, unknown>[] {
  const list = (json as { tasks?: unknown } | null)?.tasks;
  if (typeof json !== "object" || json === null || Array.isArray(json) || !Array.isArray(list)) throw new DtError("invalid_input", `${source}: expected an object {"tasks": [...]}`);
  // A job's own settings come from flags (-n, --priority); one written beside "tasks" would be dropped unseen.
  const other = Object.keys(json).find((k) => k !== "tasks");
  if (other !== undefined) {
    const how = other === "reuse" ? "give a job's reuse with --reuse or --no-reuse, or set \"idempotent\": true on a task" : "give a job's name and priority with -n and --priority";
    throw new DtError("invalid_input", `${source}: ${JSON.stringify(other)} is not read from a tasks file, which holds only {"tasks": [...]}; ${how}`);
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
    if (t.result_globs !== undefined) task.result_globs = stringList(t.result_globs, `${where}.result_globs`);
    if (t.env !== undefined) task.env = stringMap(t.env, `${where}.env`);
    if (t.dimensions !== undefined) task.dimensions = stringMap(t.dimensions, `${where}.dimensions`);
    if (t.priority !== undefined) task.priority = integer(t.priority, `${where}.priority`);
    if (t.shards === "auto") task.shards = "auto";
    else if (t.shards !== undefined) {
      task.shards = nonNegative(t.shards, `${where}.shards`, true);
      if (task.shards < 1) throw new DtError("invalid_input", `${where}.shards must be at least 1 (or "auto")`);
    }
    // Passed as written: checkAsMaster below checks them as the master does.
    if (t.retry !== undefined) task.retry = t.retry as TaskRequest["retry"];
    // Checked by the master's own rules below (checkAsMaster), which name the key.
    if (t.shard_seconds !== undefined) task.shard_seconds = t.shard_seconds as number;
    if (t.max_shards !== undefined) task.max_shards = t.max_shards as number;
    if (t.case_filter !== undefined) task.case_filter = t.case_filter as TaskRequest["case_filter"];
    if (t.idempotent !== undefined) task.idempotent = t.idempotent as boolean;
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
