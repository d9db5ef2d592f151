/**
 * A parser's CaseResult as it travels: the snake_case CaseReport of
 * wire.ts (a slave's result report, `dt run-isolated --json`), held to what
 * the master stores. The master refuses a
 * report whole when one case breaks its bounds, so the slave keeps to them
 * here: a parser's output is bounded, but not by these exact rules (an
 * empty classname, a fractional millisecond, a cut message's marker past
 * MAX_CASE_MESSAGE_CHARS, a NUL printed to stdout).
 *
 * @example
 *   const wire = toWireCase({ suite: "A", name: "b", status: "passed", durationMs: 1.5, message: null, file: null, line: null });
 *   // { suite: "A", name: "b", status: "passed", duration_ms: 2, message: null, file: null, line: null }
 */
import { type CaseResult, type CaseStatus, MAX_CASE_MESSAGE_CHARS } from "./model.ts";
import type { CaseReport } from "./wire.ts";

/** The master's bounds on one case (master/cases/case-report.ts CASE_LIMITS, which a test holds these equal to): what it stores, more than a real runner writes. */
export const WIRE_CASE_LIMITS = {
  maxSuiteChars: 1_000,
  maxNameChars: 2_000,
  maxMessageChars: MAX_CASE_MESSAGE_CHARS,
  maxFileChars: 1_000,
  /** A MySQL INT. */
  maxInt: 2 ** 31 - 1,
  maxFlakyFailures: 10_000,
} as const;

/** What an empty suite or name is sent as: the master requires both (JUnit's classname is optional, and a testcase may have no name). */
export const NO_SUITE = "(no suite)";
export const NO_NAME = "(no name)";

/** Text the database and a page show as it is: no NUL, no lone surrogate, at most `max` characters (a cut ends with "…"). */
export function wireText(text: string, max: number): string {
  let clean = text.includes("\0") ? text.replaceAll("\0", "\uFFFD") : text;
  if (!clean.isWellFormed()) clean = clean.toWellFormed();
  if (clean.length <= max) return clean;
  // Cut before a surrogate pair's second half, never between its halves.
  let end = max - 1;
  if (/[\uD800-\uDBFF]/.test(clean[end - 1] ?? "")) end--;
  return `${clean.slice(0, end)}…`;
}

function wireInt(value: number | null | undefined, min: number): number | null {
  if (value === null || value === undefined || !Number.isFinite(value)) return null;
  const n = Math.round(value);
  return n < min ? null : Math.min(n, WIRE_CASE_LIMITS.maxInt);
}

/** One case in the wire's shape and bounds. */
export function toWireCase(c: CaseResult): CaseReport {
  const L = WIRE_CASE_LIMITS;
  const wire: CaseReport = {
    suite: wireText(c.suite, L.maxSuiteChars) || NO_SUITE,
    name: wireText(c.name, L.maxNameChars) || NO_NAME,
    status: c.status,
    duration_ms: wireInt(c.durationMs, 0),
    message: c.message === null ? null : wireText(c.message, L.maxMessageChars),
    file: c.file === null ? null : wireText(c.file, L.maxFileChars) || null,
    line: wireInt(c.line, 1),
  };
  if (c.flakyFailures && c.flakyFailures > 0) wire.flaky_failures = Math.min(Math.round(c.flakyFailures), L.maxFlakyFailures);
  return wire;
}

/** A case's outcome counts, as `dt run-isolated` prints them. */
export interface CaseCounts {
  total: number;
  passed: number;
  failed: number;
  skipped: number;
  crashed: number;
}

export function countCases(cases: readonly { status: CaseStatus }[]): CaseCounts {
  const counts: CaseCounts = { total: cases.length, passed: 0, failed: 0, skipped: 0, crashed: 0 };
  for (const c of cases) counts[c.status]++;
  return counts;
}
