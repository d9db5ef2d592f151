import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { DtError, errnoCode } from "../common/errors.ts";

/** What the master accepts in a job id (model.ts: Job.id); dist_test's column was varchar(100). */
const JOB_ID_RE = /^[A-Za-z0-9._-]+$/;
export const MAX_JOB_ID_LENGTH = 100;

export interface JobIdParts {
  /** `-n NAME`; optional. */
  name?: string;
  user: string;
  nowMs: number;
  pid: number;
}

/**
 * dist_test's job id: `[NAME.]<user>.<unix_ts>.<pid>`.
 *
 * @example makeJobId({ name: "kudu", user: "alice", nowMs: 1700000000123, pid: 42 }) // "kudu.alice.1700000000.42"
 */
export function makeJobId(parts: JobIdParts): string {
  const id = [parts.name, parts.user, String(Math.floor(parts.nowMs / 1000)), String(parts.pid)].filter((p) => p !== undefined && p !== "").join(".");
  if (parts.name !== undefined && !JOB_ID_RE.test(parts.name)) {
    throw new DtError("invalid_input", `job name ${JSON.stringify(parts.name)} may hold only letters, digits, '.', '_' and '-'`);
  }
  if (!JOB_ID_RE.test(parts.user)) {
    throw new DtError("invalid_input", `user ${JSON.stringify(parts.user)} cannot be part of a job id (only letters, digits, '.', '_' and '-'); set DIST_TEST_USER or user under [dist_test] in the config`);
  }
  if (id.length > MAX_JOB_ID_LENGTH) throw new DtError("invalid_input", `job id ${id} is ${id.length} characters, more than ${MAX_JOB_ID_LENGTH}; use a shorter -n name`);
  return id;
}

/** Throws `invalid_input` unless `id` could be a job id; keeps typos from turning into odd URLs. */
export function checkJobId(id: string): string {
  if (!JOB_ID_RE.test(id) || id.length > MAX_JOB_ID_LENGTH) {
    throw new DtError("invalid_input", `${JSON.stringify(id)} is not a job id (up to ${MAX_JOB_ID_LENGTH} letters, digits, '.', '_' and '-')`);
  }
  return id;
}

/** Writes the id with no newline, as dist_test did: Kudu's CI reads the file with $(cat …). */
export function writeLastJobId(path: string, jobId: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, jobId);
  } catch (err) {
    throw new DtError("invalid_input", `cannot write the job id to ${path} (${(err as Error).message}); set DIST_TEST_JOB_PATH or job_path under [dist_test] to a writable file`, { cause: err });
  }
}

export function readLastJobId(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if (errnoCode(err) === "ENOENT") throw new DtError("not_found", `no job id given, and no job was submitted from here: ${path} does not exist; pass a job id`);
    throw new DtError("invalid_input", `cannot read the last job id from ${path}: ${(err as Error).message}`, { cause: err });
  }
  const id = text.trim();
  if (id === "") throw new DtError("not_found", `no job id given, and ${path} is empty; pass a job id`);
  return checkJobId(id);
}

/**
 * The job a command is about: the argument, or the last submitted one,
 * announced as dist_test's client announced it.
 */
export function resolveJobId(arg: string | undefined, jobPath: string, log: { info: (message: string) => void }): string {
  if (arg !== undefined && arg !== "") return checkJobId(arg);
  const id = readLastJobId(jobPath);
  log.info(`Using most recently submitted job id: ${id}`);
  return id;
}
