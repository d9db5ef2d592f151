import { describe, expect, test } from "bun:test";
import type { RunResults } from "../../src/isolate/run/attempt-results.ts";
import type { CaseReport, ResultReport } from "../../src/master/protocol.ts";
import { fitCases, withCases, withoutCases } from "../../src/slave/case-report.ts";

const wire = (name: string, status: CaseReport["status"] = "passed", message: string | null = null): CaseReport => ({ suite: "S", name, status, duration_ms: 1, message, file: null, line: null });
const results = (cases: CaseReport[], over: Partial<RunResults> = {}): RunResults => ({
  counts: { total: cases.length, passed: 0, failed: 0, skipped: 0, crashed: 0 }, format: "gtest-stdout", sources: [], notes: [], verdict: null, cases, ...over,
});

describe("fitCases bounds a report's cases", () => {
  test("under both bounds: the list as is", () => {
    const cases = [wire("a"), wire("b")];
    expect(fitCases(cases)).toEqual({ kept: cases, note: null });
  });

  test("past the count: failed and crashed cases first, then in order, with a note", () => {
    const cases = [wire("p1"), wire("f1", "failed"), wire("p2"), wire("c1", "crashed")];
    const { kept, note } = fitCases(cases, 3);
    expect(kept.map((c) => c.name)).toEqual(["f1", "c1", "p1"]);
    expect(note).toBe("1 of 4 cases were not reported: a report holds at most 3 cases and 50331648 bytes of them (failed cases were kept first)");
  });

  test("past the bytes, measured as UTF-8 JSON", () => {
    const big = "é".repeat(1_000);
    const cases = Array.from({ length: 10 }, (_, i) => wire(`f${i}`, "failed", big));
    const one = Buffer.byteLength(JSON.stringify(cases[0])) + 1;
    const { kept } = fitCases(cases, 100, 2 + one * 4);
    expect(kept).toHaveLength(4);
  });
});

describe("withCases: the report's fields and the attempt's message", () => {
  test("an infrastructure failure or a cancel carries no cases", () => {
    for (const state of ["INFRA_FAILED", "CANCELED"] as const) expect(withCases(state, "m", results([wire("a")]))).toEqual({ fields: {}, message: "m" });
  });

  test("the verdict replaces the exit's bare words, except a timeout's", () => {
    const r = results([wire("a")], { verdict: "was killed by signal 9, SIGKILL with every one of its 1 cases passed" });
    expect(withCases("FAILED", "killed by SIGKILL", r).message).toBe("was killed by signal 9, SIGKILL with every one of its 1 cases passed");
    expect(withCases("TIMED_OUT", "timed out after 5 s and was killed (SIGTERM)", r).message).toBe("timed out after 5 s and was killed (SIGTERM)");
  });

  test("notes travel bounded (each at most 1,000 characters, at most 100) and the message carries the first, short", () => {
    const notes = Array.from({ length: 120 }, (_, i) => `f${i}.xml: ${"x".repeat(2_000)}`);
    const { fields, message } = withCases("SUCCEEDED", null, results([], { notes, format: null }));
    expect(fields.cases).toBeUndefined();
    expect(fields.result_notes).toHaveLength(100);
    expect(fields.result_notes!.every((n) => n.length <= 1_000)).toBe(true);
    expect(message!.startsWith("results: f0.xml: xxx")).toBe(true);
    expect(message!.endsWith(" (and 119 more notes)")).toBe(true);
    expect(message!.length).toBeLessThan(400);
  });

  test("withoutCases strips the case fields and says why", () => {
    const report = { lease_id: "l", message: "exited 1", cases: [wire("a")], result_format: "gtest-stdout", result_notes: ["n"] } as unknown as ResultReport;
    const stripped = withoutCases(report, "413 too big");
    expect(Object.keys(stripped).sort()).toEqual(["lease_id", "message"]);
    expect(stripped.message).toBe("exited 1; results: the master refused the 1 cases (413 too big); reported without them");
  });
});
