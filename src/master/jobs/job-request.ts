import { DtError } from "../../common/errors.ts";
import { fieldPath } from "../../common/strict-json.ts";
import { closestMatch } from "../../common/suggest.ts";
import { isHash } from "../../isolate/digest.ts";
import { canExclude, parseCaseFilter } from "../cases/case-filter.ts";
import { RETRY_MODES, type RetryMode, type Task } from "../model.ts";
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
  /** A dimension is matched against a slave's; os=linux, pool=… are a few characters. */
  maxDimensionLength: 256,
  maxShards: 10_000,
  /**
   * Largest `max_shards` of a `shards: "auto"` task: each auto shard carries
   * a case list of up to MAX_FILTER_BYTES, so 1,000 of them are at most
   * ~100 MB stored for the task, and far more slots than one binary's cases
   * keep busy.
   */
  maxAutoShards: 1_000,
  maxRetries: 100,
  /** A week: longer is a mistake, not a test. */
  maxTimeoutSec: 7 * 86_400,
  /**
   * Characters of descriptions, globs, env and dimensions over the whole job
   * after shard expansion, which copies them per shard: a 64 KiB env on a
   * 10,000-shard task would be 640 MB in the database from a 70 KB request.
   * Twice the largest request body (64 MiB), so only such copies reach it.
   */
  maxExpandedChars: 128 * 2 ** 20,
} as const;

/** dist_test's job ids: `[NAME.]<user>.<unix_ts>.<pid>`; safe in file names, URLs and keys. */
const JOB_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
const NAME_RE = /^[A-Za-z0-9._-]{1,100}$/;
/** A user name fits the database's 64 characters. */
const USER_RE = /^[A-Za-z0-9._-]{1,64}$/;
/** NUL ends a C string early; the other control characters have no place in a name shown on a page or in a log line. */
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

/** The keys of a job request (protocol.ts JobRequest); any other is refused, so a typo is a 400 rather than a default. */
const JOB_KEYS: ReadonlySet<string> = new Set<keyof JobRequest>(["job_id", "name", "user", "priority", "tasks", "reuse"]);

/**
 * The keys of a task: dt's (protocol.ts TaskRequest) and two more that
 * dist_test's client sends verbatim from a tasks.json, which dt accepts and
 * does not use: `docker_image` (dt runs no containers; dist_test's task
 * table lists it) and `attempt` (dt numbers attempts itself).
 */
export const TASK_KEYS: ReadonlySet<string> = new Set<keyof TaskRequest | "docker_image" | "attempt">([
  "isolate_hash", "description", "timeout", "max_retries", "artifact_archive_globs", "result_globs", "env", "dimensions", "priority", "shards", "shard_seconds", "max_shards", "case_filter", "retry", "idempotent", "docker_image", "attempt",
]);

/**
 * A `shards: "auto"` task's settings: the master splits its binary's known
 * cases into shards of about `targetMs` each, at most `maxShards`
 * (scheduler/shard-planner.ts), once the request is valid.
 */
export interface AutoShardSpec {
  targetMs: number;
  maxShards: number;
}

/** `shard_seconds`' default: a minute per shard is long enough that a shard's fixed cost (fetch, start) is small beside it. */
export const DEFAULT_SHARD_SECONDS = 60;
/** `max_shards`' default: enough for a long binary on a mid-sized pool, few enough that one binary does not take all of a large one. */
export const DEFAULT_MAX_SHARDS = 32;

/** A job request checked and normalized; nothing about it is trusted before this. */
export interface ValidJob {
  jobId: string | undefined;
  name: string | null;
  user: string | undefined;
  priority: number;
  /**
   * Tasks after numeric shard expansion, without job id. A `shards: "auto"`
   * task is here once, unexpanded, with its entry in `autoShards`.
   */
  tasks: Omit<Task, "jobId">[];
  /** The auto-sharded tasks, by their index in `tasks`; jobs/auto-shards.ts expands them. */
  autoShards: Map<number, AutoShardSpec>;
  /** After expansion: what each planned auto shard's cases are expected to take, by its index in `tasks`. */
  plannedMs?: Map<number, number>;
  /**
   * The job's `reuse` (docs/reuse.md): true makes every task idempotent
   * (done here, in `tasks`); false runs every task, reusing nothing (its
   * idempotent tasks' results are still kept for later jobs); null: each
   * task's `idempotent` decides.
   */
  reuse: boolean | null;
}

/**
 * A wrong value as an error message quotes it: a scalar as JSON, cut to 40
 * characters; a list or an object by its kind only, since stringifying a
 * value nested 100,000 deep overflows the stack (found by test/fuzz).
 */
function shown(value: unknown): string {
  if (Array.isArray(value)) return "a list";
  if (value !== null && typeof value === "object") return "an object";
  return String(JSON.stringify(value)).slice(0, 40);
}

function fail(field: string, problem: string): never {
  throw new DtError("invalid_input", `${field}: ${problem}`);
}

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === "object" && !Array.isArray(value);

/**
 * Refuses a key not in `known`, naming it with a guess: `tasks[0].timout: is
 * not a field dt knows; did you mean timeout?`. The client checks a tasks
 * file with it too, so `dt submit` and `dt local` refuse what the master would.
 */
export function checkKnownKeys(value: Record<string, unknown>, known: ReadonlySet<string>, base: string): void {
  for (const key of Object.keys(value)) {
    if (known.has(key)) continue;
    const guess = closestMatch(key, known);
    fail(fieldPath(base, key), `is not a field dt knows${guess ? `; did you mean ${guess}?` : ""} (known: ${[...known].join(", ")})`);
  }
}

/**
 * A string with half of a UTF-16 surrogate pair (`"\ud800"` in JSON) is not
 * text: UTF-8 cannot hold it, so the database, a log line or a page would
 * each show something else. Refused rather than replaced, since a
 * description is the key of the test's duration history.
 */
function checkWellFormed(value: string, field: string): void {
  if (!value.isWellFormed()) fail(field, "holds a lone UTF-16 surrogate (a \\uD800-\\uDFFF escape without its pair), which is not text; send valid Unicode");
}

function integer(value: unknown, field: string, min: number, max: number, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) fail(field, `must be an integer from ${min} to ${max}, got ${shown(value)}`);
  // JSON's -0 is zero; + 0 makes it the zero every other reader sees (Object.is(-0, 0) is false).
  return value + 0;
}

function stringMap(value: unknown, field: string, maxEntries: number, check: (key: string, value: string, where: string) => void): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!isObject(value)) fail(field, "must be an object of string values");
  const entries = Object.entries(value);
  if (entries.length > maxEntries) fail(field, `has ${entries.length} entries; at most ${maxEntries}`);
  // No prototype: a key such as __proto__ is kept as the key it is, not dropped.
  const out: Record<string, string> = Object.create(null);
  for (const [k, v] of entries) {
    const where = fieldPath(field, k);
    if (typeof v !== "string") fail(where, `must be a string, got ${shown(v)}`);
    if (k === "" || k.includes("\0") || v.includes("\0")) fail(where, "keys must be non-empty and neither key nor value may contain NUL");
    checkWellFormed(k, where);
    checkWellFormed(v, where);
    check(k, v, where);
    out[k] = v;
  }
  return out;
}

function envEntry(key: string, _value: string, where: string): void {
  // execve takes `KEY=VALUE` strings: a key with '=' would set another variable than it names.
  if (key.includes("=")) fail(where, "an environment variable's name cannot contain '='");
}

function dimensionEntry(key: string, value: string, where: string): void {
  if (key.length > JOB_LIMITS.maxDimensionLength || value.length > JOB_LIMITS.maxDimensionLength) fail(where, `keys and values are at most ${JOB_LIMITS.maxDimensionLength} characters`);
}

/**
 * Artifact globs are relative to the task's directory, result globs to its
 * outputs (ISOLATED_OUTDIR); one that is absolute or climbs out with `..`
 * can only name files that the slave must not read (it checks each match's
 * real path too). `within` names the directory in the messages.
 */
function globList(value: unknown, field: string, within: string): string[] {
  if (!Array.isArray(value)) fail(field, "must be a list of glob strings");
  if (value.length > JOB_LIMITS.maxGlobs) fail(field, `has ${value.length} globs; at most ${JOB_LIMITS.maxGlobs}`);
  for (const [i, glob] of value.entries()) {
    const where = `${field}[${i}]`;
    if (typeof glob !== "string" || glob.length === 0 || glob.length > JOB_LIMITS.maxGlobLength) fail(where, `must be a non-empty string of at most ${JOB_LIMITS.maxGlobLength} characters`);
    if (glob.includes("\0")) fail(where, "must not contain NUL");
    if (glob.startsWith("/")) fail(where, `${JSON.stringify(glob)} is absolute; globs are relative to ${within}`);
    if (glob.split("/").includes("..")) fail(where, `${JSON.stringify(glob)} climbs out with '..'; globs match only inside ${within}`);
    // `..\x`: on the slaves '\' is no separator, and Bun.Glob reads it as an escape in one place and a
    // character in another; Windows-style paths would only ever match by accident.
    if (glob.includes("\\")) fail(where, `${JSON.stringify(glob)} holds '\\'; separate directories with '/' (to match *, ? or [ literally, write [*], [?], [[])`);
    checkWellFormed(glob, where);
  }
  return value as string[];
}

/**
 * A job's equal values, kept once: the tasks of a big job mostly share
 * their env, dimensions, globs and isolate hash, and the dispatcher holds
 * every task of a queued job (100,000 copies of `{}`, `[]` and a 64-digit
 * hash were ~25 MB). Values are never changed once validated, so sharing
 * them is safe. Keyed by the JSON fitsColumn makes anyway.
 */
class SharedValues {
  private readonly byJson = new Map<string, unknown>();
  private readonly strings = new Map<string, string>();
  private readonly jsonOf = new WeakMap<object, string>();

  /** The value's JSON, remembered for `value`. */
  json(value: unknown): string {
    const json = JSON.stringify(value);
    if (typeof value === "object" && value !== null) this.jsonOf.set(value, json);
    return json;
  }

  /** The first value of the job equal to `value` (by its JSON, as `json` made it). */
  value<T>(value: T): T {
    if (typeof value !== "object" || value === null) return value;
    const json = this.jsonOf.get(value) ?? JSON.stringify(value);
    const seen = this.byJson.get(json);
    if (seen !== undefined) return seen as T;
    this.byJson.set(json, value);
    return value;
  }

  string(s: string): string {
    const seen = this.strings.get(s);
    if (seen !== undefined) return seen;
    this.strings.set(s, s);
    return s;
  }
}

function taskFields(raw: unknown, field: string, shared: SharedValues) {
  if (!isObject(raw)) fail(field, "must be an object");
  checkKnownKeys(raw, TASK_KEYS, field);
  const t = raw as Record<keyof TaskRequest | "docker_image" | "attempt", unknown>;
  if (!isHash(t.isolate_hash)) fail(`${field}.isolate_hash`, "must be the 64-hex-digit SHA-256 digest that dt archive printed");
  if (typeof t.description !== "string" || t.description === "") fail(`${field}.description`, `must be a non-empty string, got ${shown(t.description)}`);
  if (t.description.length > JOB_LIMITS.maxDescription) fail(`${field}.description`, `is longer than ${JOB_LIMITS.maxDescription} characters`);
  if (CONTROL_RE.test(t.description)) fail(`${field}.description`, "must not contain NUL, newlines or other control characters");
  checkWellFormed(t.description, `${field}.description`);
  const timeout = t.timeout ?? 0;
  if (typeof timeout !== "number" || !Number.isInteger(timeout) || timeout < 0 || timeout > JOB_LIMITS.maxTimeoutSec) {
    fail(`${field}.timeout`, `must be a whole number of seconds from 0 (none) to ${JOB_LIMITS.maxTimeoutSec}, got ${shown(timeout)}`);
  }
  // JSON's -0 (which passes the checks above) is stored and shown as 0.
  const timeoutSec = timeout + 0;
  const env = stringMap(t.env, `${field}.env`, 10_000, envEntry);
  const envBytes = Object.entries(env).reduce((n, [k, v]) => n + k.length + v.length, 0);
  if (envBytes > JOB_LIMITS.maxEnvBytes) fail(`${field}.env`, `is ${envBytes} bytes; at most ${JOB_LIMITS.maxEnvBytes}`);
  if (t.docker_image !== undefined && t.docker_image !== null && (typeof t.docker_image !== "string" || t.docker_image.length > 1_000)) {
    fail(`${field}.docker_image`, "must be a string (dt accepts dist_test's key and runs the task without a container)");
  }
  if (typeof t.docker_image === "string") checkWellFormed(t.docker_image, `${field}.docker_image`);
  integer(t.attempt, `${field}.attempt`, 0, JOB_LIMITS.maxRetries, 0);
  const artifactGlobs = t.artifact_archive_globs === undefined || t.artifact_archive_globs === null ? [] : globList(t.artifact_archive_globs, `${field}.artifact_archive_globs`, "the task's directory");
  // Absent: the default, decided when leased (null keeps it out of every task row of a 100,000-task job).
  const resultGlobs = t.result_globs === undefined || t.result_globs === null ? null : globList(t.result_globs, `${field}.result_globs`, "the task's outputs (ISOLATED_OUTDIR)");
  const dimensions = stringMap(t.dimensions, `${field}.dimensions`, JOB_LIMITS.maxDimensions, dimensionEntry);
  const caseFilter = parseCaseFilter(t.case_filter, `${field}.case_filter`);
  if (t.retry !== undefined && t.retry !== null && !RETRY_MODES.includes(t.retry as RetryMode)) {
    fail(`${field}.retry`, `must be "cases" (a retry runs only the failed cases, the default) or "task" (the whole task again), got ${shown(t.retry)}`);
  }
  const retryMode = (t.retry ?? "cases") as RetryMode;
  if (t.idempotent !== undefined && t.idempotent !== null && typeof t.idempotent !== "boolean") {
    fail(`${field}.idempotent`, `must be true (the task's result may be reused by a later identical task) or false, got ${shown(t.idempotent)}`);
  }
  const columns = { env, dimensions, artifact_archive_globs: artifactGlobs, result_globs: resultGlobs };
  for (const [key, value] of Object.entries(columns)) fitsColumn(value, `${field}.${key}`, shared);
  return {
    isolateHash: shared.string(t.isolate_hash),
    description: t.description,
    timeoutSec,
    maxRetries: integer(t.max_retries, `${field}.max_retries`, 0, JOB_LIMITS.maxRetries, 0),
    artifactGlobs: shared.value(artifactGlobs),
    resultGlobs: shared.value(resultGlobs),
    env: shared.value(env),
    dimensions: shared.value(dimensions),
    priority: integer(t.priority, `${field}.priority`, -1000, 1000, 0),
    ...shardFields(t, field, caseFilter),
    caseFilter,
    caseSelection: null,
    retryMode,
    idempotent: t.idempotent === true,
    // Computed once the task is final (auto shards planned): Master.submitValidJob.
    taskKey: null,
  };
}

/**
 * `shards`: a count (numeric sharding), or "auto" with optional
 * `shard_seconds` and `max_shards`, which mean nothing without it. For the
 * job's limits an auto task counts as its cap of shards.
 */
function shardFields(t: Record<string, unknown>, field: string, caseFilter: ReturnType<typeof parseCaseFilter>): { shards: number; auto: AutoShardSpec | null } {
  if (t.shards !== "auto") {
    for (const key of ["shard_seconds", "max_shards"] as const) {
      if (t[key] !== undefined && t[key] !== null) fail(`${field}.${key}`, `only applies to "shards": "auto" (this task has ${t.shards === undefined ? "no shards" : `shards ${shown(t.shards)}`}); remove it or set "shards": "auto"`);
    }
    if (typeof t.shards === "string") fail(`${field}.shards`, `must be an integer from 1 to ${JOB_LIMITS.maxShards} or "auto", got ${shown(t.shards)}`);
    return { shards: integer(t.shards, `${field}.shards`, 1, JOB_LIMITS.maxShards, 1), auto: null };
  }
  if (!canExclude(caseFilter)) {
    fail(`${field}.case_filter`, 'has no "exclude" form, which "shards": "auto" needs: one shard runs every case the others do not name, so a new case is never skipped; add one (e.g. "exclude": "--exclude={cases}") or use "shards": N');
  }
  const seconds = integer(t.shard_seconds, `${field}.shard_seconds`, 1, JOB_LIMITS.maxTimeoutSec, DEFAULT_SHARD_SECONDS);
  const maxShards = integer(t.max_shards, `${field}.max_shards`, 1, JOB_LIMITS.maxAutoShards, Math.min(DEFAULT_MAX_SHARDS, JOB_LIMITS.maxAutoShards));
  return { shards: maxShards, auto: { targetMs: seconds * 1000, maxShards } };
}

/**
 * Bytes of a task's env, dimensions or globs as the database keeps them
 * (JSON in a TEXT column, 65,535 bytes on MySQL). The limits above count
 * characters; escapes (six bytes for a control character) and UTF-8 can
 * take a value within them past the column, which MySQL refused with a 500
 * while SQLite stored it.
 */
const COLUMN_BYTES = 65_535;

function fitsColumn(value: unknown, field: string, shared: SharedValues): void {
  const bytes = Buffer.byteLength(shared.json(value), "utf8");
  if (bytes > COLUMN_BYTES) fail(field, `written as JSON takes ${bytes} bytes, more than the ${COLUMN_BYTES} the database keeps for it; use fewer or shorter entries`);
}

/** Characters a task puts in the database beyond its fixed-size fields. */
function taskChars(t: { description: string; artifactGlobs: string[]; resultGlobs: string[] | null; env: Record<string, string>; dimensions: Record<string, string> }): number {
  let n = t.description.length;
  for (const g of [...t.artifactGlobs, ...(t.resultGlobs ?? [])]) n += g.length;
  for (const map of [t.env, t.dimensions]) for (const k in map) n += k.length + map[k]!.length;
  return n;
}

/**
 * Checks an untrusted job request: a 400 naming the field for anything
 * wrong (an unknown key too), before anything is stored. Expands
 * `shards: N` into N tasks with GTEST_SHARD_INDEX / GTEST_TOTAL_SHARDS and
 * descriptions `<description>.<i>` (Swarming's test sharding; Kudu names
 * its shards the same way).
 */
export function validateJobRequest(raw: unknown): ValidJob {
  if (!isObject(raw)) fail("job", 'must be an object {"tasks": [...]}');
  checkKnownKeys(raw, JOB_KEYS, "");
  const r = raw as Record<keyof JobRequest, unknown>;
  if (r.job_id !== undefined && (typeof r.job_id !== "string" || !JOB_ID_RE.test(r.job_id))) {
    fail("job_id", "must be 1-100 characters of letters, digits, '.', '_' or '-', starting with a letter or digit");
  }
  if (r.name !== undefined && r.name !== null && (typeof r.name !== "string" || !NAME_RE.test(r.name))) fail("name", "must be 1-100 characters of letters, digits, '.', '_' or '-'");
  if (r.user !== undefined && (typeof r.user !== "string" || !USER_RE.test(r.user))) fail("user", "must be 1-64 characters of letters, digits, '.', '_' or '-'");
  if (!Array.isArray(r.tasks) || r.tasks.length === 0) fail("tasks", "must be a non-empty list");
  if (r.tasks.length > JOB_LIMITS.maxTasks) fail("tasks", `has ${r.tasks.length} tasks; at most ${JOB_LIMITS.maxTasks} per job`);
  const priority = integer(r.priority, "priority", -1000, 1000, 0);
  if (r.reuse !== undefined && r.reuse !== null && typeof r.reuse !== "boolean") {
    fail("reuse", `must be true (reuse identical tasks' results: every task idempotent), false (run every task) or absent (each task's "idempotent" decides), got ${shown(r.reuse)}`);
  }
  const reuse = (r.reuse as boolean | null | undefined) ?? null;
  const tasks: Omit<Task, "jobId">[] = [];
  const autoShards = new Map<number, AutoShardSpec>();
  let chars = 0;
  let expanded = 0;
  const shared = new SharedValues();
  for (const [i, rawTask] of r.tasks.entries()) {
    const { shards, auto, ...fields } = taskFields(rawTask, `tasks[${i}]`, shared);
    const t = reuse === true ? { ...fields, idempotent: true } : fields;
    if (shards > 1 && `${t.description}.${shards - 1}`.length > JOB_LIMITS.maxDescription) {
      fail(`tasks[${i}].description`, `with the shard suffix (.${shards - 1}) is longer than ${JOB_LIMITS.maxDescription} characters`);
    }
    // An auto task is one entry here until planned, but may become max_shards tasks.
    if (expanded + shards > JOB_LIMITS.maxTasks) fail(`tasks[${i}].shards`, `expands the job to more than ${JOB_LIMITS.maxTasks} tasks`);
    expanded += shards;
    chars += taskChars(t) * shards;
    if (chars > JOB_LIMITS.maxExpandedChars) fail(`tasks[${i}]`, `with its shards, the job's descriptions, globs, env and dimensions exceed ${JOB_LIMITS.maxExpandedChars} characters; use fewer shards or a smaller env`);
    if (auto) {
      // Planned once the job is valid (jobs/auto-shards.ts): it needs the binary's case history.
      autoShards.set(tasks.length, auto);
      tasks.push({ ...t, taskId: `${t.isolateHash}.${tasks.length}`, index: tasks.length, shardIndex: null, shardCount: null });
      continue;
    }
    for (let shard = 0; shard < shards; shard++) {
      const index = tasks.length;
      const sharded = shards > 1;
      tasks.push({
        ...t,
        taskId: `${t.isolateHash}.${index}`,
        index,
        description: sharded ? `${t.description}.${shard}` : t.description,
        env: sharded ? { ...t.env, GTEST_SHARD_INDEX: String(shard), GTEST_TOTAL_SHARDS: String(shards) } : t.env,
        shardIndex: sharded ? shard : null,
        shardCount: sharded ? shards : null,
      });
    }
  }
  return {
    jobId: r.job_id as string | undefined,
    name: (r.name as string | null | undefined) ?? null,
    user: r.user as string | undefined,
    priority,
    tasks,
    autoShards,
    reuse,
  };
}
