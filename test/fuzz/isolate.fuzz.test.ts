import { describe, expect, test } from "bun:test";
import { DtError } from "../../src/common/errors.ts";
import { conditionMatches } from "../../src/isolate/isolate-file/conditions.ts";
import { parsePythonLiteral } from "../../src/isolate/isolate-file/python-literal.ts";
import { type FuzzReport, fuzzInWorker, fuzzSettings, fuzzTestTimeoutMs } from "./harness.ts";

/** Three tests share the .isolate parser's budget: the literal parser, conditions, and whole files with includes. */
const literal = fuzzSettings("isolate literal", 0x15014e, 0.4);
const conditions = fuzzSettings("isolate conditions", 0xc0ffee, 0.2);
const files = fuzzSettings("isolate files", 0x1507a7e, 0.4);
const targets = new URL("./isolate.target.ts", import.meta.url);

/** Both outcomes must occur, or the mutations are not exercising the parser. */
function expectBothOutcomes(report: FuzzReport): void {
  expect(report.accepted).toBeGreaterThan(0);
  expect(report.inputs - report.accepted).toBeGreaterThan(0);
}

describe("fuzz: .isolate files (src/isolate/isolate-file/)", () => {
  test("parsePythonLiteral on mutated .isolate texts returns or throws DtError, each quickly", async () => {
    expectBothOutcomes(await fuzzInWorker(targets, "pythonLiteralTarget", literal));
  }, fuzzTestTimeoutMs(literal));

  test("the condition evaluator on mutated expressions returns or throws DtError, each quickly", async () => {
    expectBothOutcomes(await fuzzInWorker(targets, "conditionTarget", conditions));
  }, fuzzTestTimeoutMs(conditions));

  test("loadIsolate on mutated files with includes loads or throws DtError, each quickly", async () => {
    expectBothOutcomes(await fuzzInWorker(targets, "loadIsolateTarget", files));
  }, fuzzTestTimeoutMs(files));

  /** Shapes a random mutation rarely builds whole; each must end in a value or a DtError within MAX_CALL_MS. */
  test("adversarial shapes stay fast and end in DtError or a value", () => {
    const MAX_CALL_MS = 250;
    const check = (fn: (input: string) => unknown, input: string): "ok" | "error" => {
      const started = performance.now();
      let outcome: "ok" | "error" = "ok";
      try {
        fn(input);
      } catch (err) {
        if (!(err instanceof DtError)) throw new Error(`threw ${String(err)} on input ${JSON.stringify(input.slice(0, 200))}`);
        outcome = "error";
      }
      expect(performance.now() - started).toBeLessThan(MAX_CALL_MS);
      return outcome;
    };
    const parseLiteral = (input: string) => parsePythonLiteral(input, "fuzz.isolate");
    const matchCondition = (input: string) => conditionMatches(input, new Map([["OS", "linux"]]), "fuzz.isolate conditions[0][0]");
    const literalInputs = [
      "[".repeat(100_000),
      "{'a':".repeat(50_000),
      "'" + "\\".repeat(100_001),
      "['a' " + "'b' ".repeat(100_000) + "]",
      "[" + "1,".repeat(100_000) + "]",
      "#".repeat(200_000),
      "-".repeat(100_000) + "1",
      "'" + "x".repeat(500_000),
    ];
    for (const input of literalInputs) check(parseLiteral, input);
    const conditionInputs = ["(".repeat(100_000), 'OS=="a" or '.repeat(20_000) + 'OS=="linux"', "A".repeat(200_000), "'" + "\\".repeat(100_001)];
    for (const input of conditionInputs) check(matchCondition, input);
    expect(check(matchCondition, conditionInputs[1]!)).toBe("ok");
  });
});
