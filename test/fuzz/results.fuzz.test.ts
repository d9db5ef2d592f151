import { describe, expect, test } from "bun:test";
import { fuzzInWorker, fuzzSettings, fuzzTestTimeoutMs } from "./harness.ts";

const settings = fuzzSettings("results parsers", 0x7e57ca5e);

describe("fuzz: test-result parsers (src/results/)", () => {
  test("mutated real reports never make a parser throw, hang or break its bounds", async () => {
    const report = await fuzzInWorker(new URL("./results.target.ts", import.meta.url), "resultsTarget", settings);
    // Both clean parses and parses with notes must occur, or the mutations are not reaching the parsers.
    expect(report.accepted).toBeGreaterThan(0);
    expect(report.inputs - report.accepted).toBeGreaterThan(0);
  }, fuzzTestTimeoutMs(settings));
});
