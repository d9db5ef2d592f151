/**
 * The cases of a slave's result report, checked strictly: a report is the
 * only way a case gets into the database, so a malformed one is refused
 * whole (400 naming the field) and nothing of it is stored.
 */
import { DtError } from "../../common/errors.ts";
import type { CaseResult, CaseStatus, ResultFormat } from "../../results/model.ts";
import { CASE_LIMITS } from "../../results/wire.ts";
import { type CaseReport, MAX_REPORTED_CASES, MAX_RESULT_NOTE_CHARS, MAX_RESULT_NOTES, type ResultReport } from "../protocol.ts";

export { CASE_LIMITS };

const STATUSES: ReadonlySet<string> = new Set<CaseStatus>(["passed", "failed", "skipped", "crashed"]);
const FORMATS: ReadonlySet<string> = new Set<ResultFormat>(["gtest-xml", "junit-xml", "gtest-stdout"]);
const CASE_KEYS: ReadonlySet<string> = new Set<keyof CaseReport>(["suite", "name", "status", "duration_ms", "message", "file", "line", "flaky_failures"]);

function fail(field: string, problem: string): never {
  throw new DtError("invalid_input", `${field}: ${problem}`);
}

/** A string that the database and a page show as it is: well-formed UTF-16 (UTF-8 cannot hold a lone surrogate) and no NUL. */
function text(value: unknown, field: string, max: number, nullable: boolean): string | null {
  if (value === null || value === undefined) {
    if (nullable) return null;
    fail(field, "is required: a string");
  }
  if (typeof value !== "string") fail(field, `must be a string${nullable ? " or null" : ""}`);
  if (!nullable && value === "") fail(field, "must not be empty");
  if (value.length > max) fail(field, `is ${value.length} characters; at most ${max}`);
  if (value.includes("\0")) fail(field, "must not contain NUL");
  if (!value.isWellFormed()) fail(field, "holds a lone UTF-16 surrogate, which is not text");
  return value;
}

function count(value: unknown, field: string, max: number): number | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > max) fail(field, `must be an integer from 0 to ${max} or null`);
  return value + 0;
}

function oneCase(raw: unknown, field: string): CaseReport {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) fail(field, "must be an object {suite, name, status, ...}");
  const c = raw as Record<string, unknown>;
  for (const key in c) if (!CASE_KEYS.has(key)) fail(`${field}.${key}`, `is not a field of a case (known: ${[...CASE_KEYS].join(", ")})`);
  if (typeof c.status !== "string" || !STATUSES.has(c.status)) fail(`${field}.status`, `must be one of ${[...STATUSES].join(", ")}`);
  return {
    suite: text(c.suite, `${field}.suite`, CASE_LIMITS.maxSuiteChars, false)!,
    name: text(c.name, `${field}.name`, CASE_LIMITS.maxNameChars, false)!,
    status: c.status as CaseStatus,
    duration_ms: count(c.duration_ms, `${field}.duration_ms`, CASE_LIMITS.maxDurationMs),
    message: text(c.message, `${field}.message`, CASE_LIMITS.maxMessageChars, true),
    file: text(c.file, `${field}.file`, CASE_LIMITS.maxFileChars, true),
    line: count(c.line, `${field}.line`, CASE_LIMITS.maxLine),
    flaky_failures: count(c.flaky_failures, `${field}.flaky_failures`, CASE_LIMITS.maxFlakyFailures) ?? 0,
  };
}

/** The optional `cases`, `result_format` and `result_notes` of a result report body, checked. */
export function parseReportCases(body: Record<string, unknown>): Pick<ResultReport, "cases" | "result_format" | "result_notes"> {
  const out: Pick<ResultReport, "cases" | "result_format" | "result_notes"> = {};
  if (body.cases !== undefined && body.cases !== null) {
    if (!Array.isArray(body.cases)) fail("cases", "must be a list of cases");
    if (body.cases.length > MAX_REPORTED_CASES) fail("cases", `has ${body.cases.length} cases; at most ${MAX_REPORTED_CASES} per report`);
    out.cases = body.cases.map((c, i) => oneCase(c, `cases[${i}]`));
  }
  if (body.result_format !== undefined && body.result_format !== null) {
    if (typeof body.result_format !== "string" || !FORMATS.has(body.result_format)) fail("result_format", `must be one of ${[...FORMATS].join(", ")}`);
    out.result_format = body.result_format as ResultFormat;
  }
  if (body.result_notes !== undefined && body.result_notes !== null) {
    if (!Array.isArray(body.result_notes)) fail("result_notes", "must be a list of strings");
    if (body.result_notes.length > MAX_RESULT_NOTES) fail("result_notes", `has ${body.result_notes.length} notes; at most ${MAX_RESULT_NOTES}`);
    out.result_notes = body.result_notes.map((n, i) => text(n, `result_notes[${i}]`, MAX_RESULT_NOTE_CHARS, false)!);
  }
  return out;
}

/** A checked wire case as the shared model has it. */
export function caseFromWire(c: CaseReport): CaseResult {
  return { suite: c.suite, name: c.name, status: c.status, durationMs: c.duration_ms, message: c.message, file: c.file, line: c.line, flakyFailures: c.flaky_failures ?? 0 };
}
