/**
 * The cases of a slave's result report (src/master/cases/case-report.ts)
 * under mutation: every mutated body is accepted with every field in bounds,
 * or refused with DtError invalid_input naming a field, never anything else
 * (a TypeError would be a 500 to the slave).
 */
import { expect, test } from "bun:test";
import { isDtError } from "../../src/common/errors.ts";
import { CASE_LIMITS, parseReportCases } from "../../src/master/cases/case-report.ts";
import { type Json, mutateJson } from "./mutate-json.ts";
import type { Random } from "./mutate.ts";

/** A small deterministic generator (mulberry32), so a failure reproduces from its seed. */
function seeded(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED: Json = {
  cases: [
    { suite: "ExpectTest", name: "ExpectPrecedence", status: "failed", duration_ms: 12, message: "Expected: 1\n  Actual: 2", file: "gtest_unittest.cc", line: 42 },
    { suite: "Foo/ParamTest", name: "Bar/0", status: "passed", duration_ms: 0, message: null, file: null, line: null, flaky_failures: 1 },
    { suite: "S", name: "skipped", status: "skipped", duration_ms: null, message: "reason", file: null, line: null },
  ],
  result_format: "gtest-xml",
  result_notes: ["truncated at byte 1024"],
};
const KEYS = ["cases", "result_format", "result_notes", "suite", "name", "status", "duration_ms", "message", "file", "line", "flaky_failures", "crashed", "junit-xml", "colour"];

test("mutated case reports are accepted in bounds or refused with invalid_input", () => {
  const seed = Number(process.env.DT_FUZZ_SEED ?? 0xca5e);
  const random = seeded(seed);
  let accepted = 0;
  let refused = 0;
  for (let i = 0; i < 3_000; i++) {
    let body: Json = SEED;
    for (let edits = 1 + Math.floor(random() * 3); edits > 0; edits--) body = mutateJson(random, body, KEYS);
    if (body === null || typeof body !== "object" || Array.isArray(body)) continue;
    try {
      const { cases = [] } = parseReportCases(body);
      accepted++;
      for (const c of cases) {
        expect(["passed", "failed", "skipped", "crashed"]).toContain(c.status);
        expect(typeof c.suite === "string" && c.suite.length > 0 && c.suite.length <= CASE_LIMITS.maxSuiteChars).toBe(true);
        expect(typeof c.name === "string" && c.name.length > 0 && c.name.length <= CASE_LIMITS.maxNameChars).toBe(true);
        expect(c.message === null || (typeof c.message === "string" && c.message.length <= CASE_LIMITS.maxMessageChars)).toBe(true);
        expect(c.duration_ms === null || (Number.isInteger(c.duration_ms) && c.duration_ms >= 0)).toBe(true);
      }
    } catch (err) {
      if (!isDtError(err, "invalid_input")) throw new Error(`seed ${seed}, input ${i}: ${String(err)} for ${JSON.stringify(body).slice(0, 300)}`);
      refused++;
    }
  }
  expect(accepted).toBeGreaterThan(0);
  expect(refused).toBeGreaterThan(0);
});
