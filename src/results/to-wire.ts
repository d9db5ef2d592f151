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
import type { CaseResult, CaseStatus } from "./model.ts";
import { CASE_LIMITS, type CaseReport } from "./wire.ts";

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

function wireInt(value: number | null | undefined, min: number, max: number): number | null {
  if (value === null || value === undefined || !Number.isFinite(value)) return null;
  const n = Math.round(value);
  return n < min ? null : Math.min(n, max);
}

/** One case in the wire's shape and bounds. */
export function toWireCase(c: CaseResult): CaseReport {
  const L = CASE_LIMITS;
  const wire: CaseReport = {
    suite: wireText(c.suite, L.maxSuiteChars) || NO_SUITE,
    name: wireText(c.name, L.maxNameChars) || NO_NAME,
    status: c.status,
    duration_ms: wireInt(c.durationMs, 0, L.maxDurationMs),
    message: c.message === null ? null : wireText(c.message, L.maxMessageChars),
    file: c.file === null ? null : wireText(c.file, L.maxFileChars) || null,
    line: wireInt(c.line, 1, L.maxLine),
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
