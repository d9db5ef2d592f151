import { describe, expect, test } from "bun:test";
import { DtError } from "../../src/common/errors.ts";
import { validateJobRequest } from "../../src/master/jobs/job-request.ts";
import { fuzzInWorker, fuzzSettings, fuzzTestTimeoutMs } from "./harness.ts";

const settings = fuzzSettings("job request", 0x10b);
const HASH = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";

describe("fuzz: job JSON (src/master/jobs/job-request.ts)", () => {
  test("validateJobRequest on mutated job JSON accepts or throws DtError, each quickly", async () => {
    const report = await fuzzInWorker(new URL("./job-json.target.ts", import.meta.url), "jobRequestTarget", settings);
    expect(report.accepted).toBeGreaterThan(0);
    expect(report.inputs - report.accepted).toBeGreaterThan(0);
  }, fuzzTestTimeoutMs(settings));

  // Found by this fuzzer: the messages for a wrong type quoted the value with
  // JSON.stringify(value)?.slice(0, 40), which stringifies all of it first and
  // overflowed the stack on 100,000 levels (a RangeError, so a 500 for a caller
  // that does not cap nesting as parseStrictJson does). Fixed in 6cb5385.
  test("a deeply nested value where a string or number belongs is a DtError, not a RangeError", () => {
    const deep = () => JSON.parse(`${"[".repeat(100_000)}${"]".repeat(100_000)}`) as unknown;
    const task = { isolate_hash: HASH, description: "t" };
    for (const job of [
      { tasks: [{ ...task, description: deep() }] },
      { tasks: [{ ...task, timeout: deep() }] },
      { tasks: [{ ...task, env: { A: deep() } }] },
      { priority: deep(), tasks: [task] },
    ]) {
      expect(() => validateJobRequest(job)).toThrow(DtError);
    }
  });
});
