import { describe, expect, test } from "bun:test";
import { DtError } from "../../src/common/errors.ts";
import { parseIni } from "../../src/common/ini.ts";
import { fuzzInWorker, fuzzSettings, fuzzTestTimeoutMs } from "./harness.ts";

const settings = fuzzSettings("ini", 0x1417);

describe("fuzz: ~/.dist_test.cnf (src/common/ini.ts)", () => {
  test("mutated configs parse or throw DtError, each quickly", async () => {
    const report = await fuzzInWorker(new URL("./ini.target.ts", import.meta.url), "iniTarget", settings);
    // Both outcomes must occur, or the mutations are not reaching the parser.
    expect(report.accepted).toBeGreaterThan(0);
    expect(report.inputs - report.accepted).toBeGreaterThan(0);
  }, fuzzTestTimeoutMs(settings));

  // Found by this fuzzer: the key = value regex backtracked quadratically on a
  // long run of blanks with no separator after it (seconds for 100,000 tabs).
  test("a long run of blanks in a line stays linear", () => {
    const blanks = "\t".repeat(200_000);
    const started = performance.now();
    expect(() => parseIni(`[dist_test]\na${blanks}b\n`, "x.cnf")).toThrow(DtError);
    expect(parseIni(`[dist_test]\nmaster${blanks}x = v\n`, "x.cnf").get("dist_test")?.get(`master${blanks}x`)).toBe("v");
    expect(performance.now() - started).toBeLessThan(250);
  });

  test("a lone CR ends a line, as Python's universal newlines read it", () => {
    expect(parseIni("[dist_test]\rmaster = http://m:8081\ruser: alice", "x.cnf").get("dist_test")).toEqual(
      new Map([["master", "http://m:8081"], ["user", "alice"]]),
    );
  });
});
