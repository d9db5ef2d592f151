import { describe, expect, test } from "bun:test";
import { MAX_CASE_MESSAGE_CHARS } from "../../src/results/model.ts";
import { boundMessage } from "../../src/results/parser.ts";
import { NO_NAME, NO_SUITE, countCases, toWireCase } from "../../src/results/to-wire.ts";
import { CASE_LIMITS } from "../../src/results/wire.ts";

const base = { suite: "S", name: "n", status: "failed" as const, durationMs: null, message: null, file: null, line: null };

describe("toWireCase holds a parser's case to the master's bounds", () => {
  test("an empty suite or name, a fractional or negative duration, a line that is no line", () => {
    expect(toWireCase({ ...base, suite: "", name: "", durationMs: 1.4996, line: 0 })).toEqual({ suite: NO_SUITE, name: NO_NAME, status: "failed", duration_ms: 1, message: null, file: null, line: null });
    expect(toWireCase({ ...base, durationMs: -3, line: 12.0 }).duration_ms).toBeNull();
    expect(toWireCase({ ...base, durationMs: 1e15 }).duration_ms).toBe(CASE_LIMITS.maxDurationMs);
    expect(toWireCase({ ...base, durationMs: Number.NaN }).duration_ms).toBeNull();
  });

  test("a message the parser cut (its marker takes it past MAX_CASE_MESSAGE_CHARS) is cut again within it", () => {
    const cut = boundMessage("x".repeat(10_000));
    expect(cut.length).toBeGreaterThan(MAX_CASE_MESSAGE_CHARS);
    const wire = toWireCase({ ...base, message: cut });
    expect(wire.message!.length).toBe(MAX_CASE_MESSAGE_CHARS);
    expect(wire.message!.endsWith("…")).toBe(true);
  });

  test("NUL and lone surrogates become U+FFFD; a cut never splits a surrogate pair", () => {
    expect(toWireCase({ ...base, suite: "a\0b", name: "c\ud800d", message: "m\udc00" })).toMatchObject({ suite: "a\uFFFDb", name: "c\uFFFDd", message: "m\uFFFD" });
    const emoji = "😀".repeat(CASE_LIMITS.maxSuiteChars);
    const suite = toWireCase({ ...base, suite: emoji }).suite;
    expect(suite.length).toBeLessThanOrEqual(CASE_LIMITS.maxSuiteChars);
    expect(suite.isWellFormed()).toBe(true);
  });

  test("flaky failures only when there were some, bounded", () => {
    expect("flaky_failures" in toWireCase({ ...base, flakyFailures: 0 })).toBe(false);
    expect(toWireCase({ ...base, status: "passed", flakyFailures: 2 }).flaky_failures).toBe(2);
    expect(toWireCase({ ...base, flakyFailures: 1e9 }).flaky_failures).toBe(CASE_LIMITS.maxFlakyFailures);
  });

  test("countCases", () => {
    expect(countCases([{ status: "passed" }, { status: "crashed" }, { status: "passed" }])).toEqual({ total: 3, passed: 2, failed: 0, skipped: 0, crashed: 1 });
  });
});

test("a case toWireCase makes from hostile parser output is one the master stores", async () => {
  const { parseReportCases } = await import("../../src/master/cases/case-report.ts");
  const hostile = toWireCase({ suite: "", name: "\0".repeat(5_000), status: "crashed", durationMs: 1e20, message: `${"\ud800".repeat(10)}${"m".repeat(9_000)}`, file: "f".repeat(5_000), line: -1, flakyFailures: 1e9 });
  expect(() => parseReportCases({ cases: [hostile] })).not.toThrow();
});
