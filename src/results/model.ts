/**
 * The test-case layer's model: what a results parser reads out of a
 * runner's report (gtest XML, JUnit XML, gtest's stdout), what a slave
 * reports with an attempt, and what the master stores per attempt and keeps
 * as each test's history. A task is how work is shipped; a case is what
 * users ask about (see ARCHITECTURE.md, "Test cases").
 */

/** A case's outcome. `crashed`: it was running when its binary died (a `[ RUN ]` with no end). */
export type CaseStatus = "passed" | "failed" | "skipped" | "crashed";

/** Where a case's result came from. */
export type ResultFormat = "gtest-xml" | "junit-xml" | "gtest-stdout";

/**
 * One case of one attempt. Its identity is (binary, suite, name): the
 * binary is the task's description without the shard suffix, so a sharded
 * binary's cases are one set, and `suite` is gtest's test suite or JUnit's
 * classname, stable across runs.
 */
export interface CaseResult {
  suite: string;
  name: string;
  status: CaseStatus;
  /** As the runner measured it; null when the format gives none. */
  durationMs: number | null;
  /** The failure's text, bounded by MAX_CASE_MESSAGE_CHARS; null for a passed or skipped case without one. */
  message: string | null;
  /** Where the failure is, when the format says (gtest's `file:line`, a stack's first frame). */
  file: string | null;
  line: number | null;
  /** Surefire's reruns: failures before the pass that the runner itself retried (`flakyFailure`/`rerunFailure`). */
  flakyFailures?: number;
}

/** What one parse gives: the cases read (so far, for a truncated file) and what went wrong on the way. */
export interface ParseOutcome {
  format: ResultFormat;
  cases: CaseResult[];
  /** Human-readable notes: a truncated file, a refused entity, a case cut short. Never an error that fails the attempt. */
  notes: string[];
}

/** A failure message is cut here (with a marker): enough for the first lines of an assertion, bounded per case in the database. */
export const MAX_CASE_MESSAGE_CHARS = 4_096;
