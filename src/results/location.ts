/**
 * Where a failure is, read from its (already bounded) message as each runner
 * writes it. Every pattern works line by line on at most
 * MAX_CASE_MESSAGE_CHARS, with no nested quantifiers, so a hostile message
 * cannot make it slow.
 */

export interface FailureLocation {
  file: string;
  line: number;
}

/** gtest: `path/to/x_test.cc:12: Failure` on stdout; `path/to/x_test.cc:12` as the first line of the XML message. */
const GTEST_LINE = /^([^\s:][^:]*):(\d{1,9})(?:: (?:Failure|Skipped|error|EXPECT_\w+|ASSERT_\w+)\b.*)?$/;
/** pytest's traceback ends with `test_x.py:10: AssertionError`. */
const PYTEST_LINE = /^([^\s:][^:]*\.py):(\d{1,9}): \w/;
/** go test: `    x_test.go:12: got 4, want 5`. */
const GO_LINE = /^\s*([^\s:]+\.go):(\d{1,9}): /;
/** A stack frame: Java's `at a.B.c(B.java:12)`, node's `at f (/x/y.js:4:50)`. */
const FRAME = /^\s*at .*?\(([^()\s]+?):(\d{1,9})(?::\d{1,9})?\)\s*$/;
/** Frames inside the test framework or the runtime, skipped to reach the test's own line. */
const LIBRARY_FRAME = /node_modules|^(?:java|javax|jdk|sun)\.|org\.junit|junit\.framework|org\.opentest4j|org\.assertj|org\.hamcrest|node:internal/;

const location = (match: RegExpExecArray | null): FailureLocation | null => {
  if (!match) return null;
  const line = Number(match[2]);
  return line > 0 ? { file: match[1]!, line } : null;
};

/** The failure's file:line, or null when the message names none. */
export function failureLocation(message: string | null): FailureLocation | null {
  if (!message) return null;
  const lines = message.split("\n", 200);
  for (const line of lines) {
    const gtest = location(GTEST_LINE.exec(line.trimEnd()));
    if (gtest) return gtest;
  }
  let pytest: FailureLocation | null = null;
  for (const line of lines) pytest = location(PYTEST_LINE.exec(line)) ?? pytest;
  if (pytest) return pytest;
  for (const line of lines) {
    const go = location(GO_LINE.exec(line));
    if (go) return go;
  }
  for (const line of lines) {
    const frame = FRAME.exec(line);
    if (frame && !LIBRARY_FRAME.test(line.trim().slice(3))) return location(frame);
  }
  return null;
}
